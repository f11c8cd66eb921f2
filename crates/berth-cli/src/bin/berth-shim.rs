//! `berth-shim`: the per-container shim on its own, without the client, daemon and registry code
//! `berth` carries, so each running container costs as little memory as possible. The daemon uses
//! it when it is installed beside `berth`, and falls back to `berth shim` otherwise.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match berth_shim::ShimArgs::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            return ExitCode::from(2);
        }
    };
    let _ = tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_writer(std::io::stderr).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init();
    ExitCode::from(berth_shim::run(args) as u8)
}
