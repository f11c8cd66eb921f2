//! `berth daemon`: logging, signals, and the daemon's run loop.

use crate::cli::DaemonArgs;
use berth_daemon::{DaemonConfig, ListenAddr};
use std::process::ExitCode;

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(a: DaemonArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_new(&a.log_level)
        .map_err(|_| anyhow::anyhow!("invalid --log-level {:?}: use error, warn, info, debug or trace", a.log_level))?;
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let hosts = if a.hosts.is_empty() { vec![berth_client::DEFAULT_HOST.to_string()] } else { a.hosts };
    let hosts = hosts.iter().map(|h| h.parse::<ListenAddr>().map_err(|e| anyhow::anyhow!(e))).collect::<anyhow::Result<Vec<_>>>()?;
    let registries = berth_daemon::service::distribution::RegistryOptions { insecure: a.insecure_registry, mirrors: a.registry_mirror };
    let config = DaemonConfig { data_root: a.data_root, hosts, registries };
    berth_daemon::run(config, shutdown_signal()).await.map_err(|e| anyhow::anyhow!("{}", super::error_chain(&e)))?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on the first SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        // Without signal handlers the daemon can still be stopped by SIGKILL; never stop on our own.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
