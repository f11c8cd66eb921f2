//! A tiny stand-alone registry for benchmarks and manual testing until `berth registry` exists:
//! `serve ADDR ROOT [AUTH]`, e.g. `serve 127.0.0.1:5000 /tmp/reg none`. Stops on Ctrl-C or SIGTERM.

use berth_registry::{serve, AuthConfig, RegistryConfig};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:5000".into()).parse()?;
    let root = args.next().unwrap_or_else(|| "/tmp/berth-registry".into());
    let mut cfg = RegistryConfig::new(listen, root);
    if let Some(auth) = args.next() {
        cfg.auth = auth.parse::<AuthConfig>()?;
    }
    let shutdown = async {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    serve(cfg, shutdown).await?;
    Ok(())
}
