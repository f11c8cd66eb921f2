//! `berth-registry`: the registry server on its own, without the client and daemon code `berth`
//! carries, so an idle registry keeps as few pages of its executable resident as possible.
//! `berth registry …` runs it when it is installed beside `berth` (same process: `exec`), and runs
//! the registry in process otherwise. Flags and behaviour are `berth registry`'s exactly: the flag
//! definitions and the command are the same source files.

use clap::{Args as _, FromArgMatches as _};
use std::process::ExitCode;

#[path = "../cli/registry_args.rs"]
mod registry_args;
#[path = "../sys.rs"]
#[allow(dead_code)]
mod sys;

/// What `cmd/registry.rs` calls `crate::cli`.
mod cli {
    pub use super::registry_args::*;
}

/// `berth registry` itself; its `super::signals` is the module below.
#[path = "../cmd/registry.rs"]
mod registry;
#[path = "../cmd/signals.rs"]
mod signals;

/// What `cmd/registry.rs` calls `crate::cmd`.
mod cmd {
    pub use berth_client::error_chain;
}

fn main() -> ExitCode {
    let command = cli::RegistryArgs::augment_args(clap::Command::new("berth registry").version(env!("CARGO_PKG_VERSION")));
    let args = match command.try_get_matches().and_then(|m| cli::RegistryArgs::from_arg_matches(&m)) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    sys::single_malloc_arena();
    sys::return_freed_memory();
    let rt = match registry_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth registry: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match rt.block_on(registry::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::FAILURE
        }
    };
    rt.shutdown_timeout(std::time::Duration::from_millis(50));
    code
}

/// The registry's runtime, as `berth registry` in process builds it (see `main.rs`).
fn registry_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .thread_keep_alive(std::time::Duration::from_secs(2))
        .build()
}
