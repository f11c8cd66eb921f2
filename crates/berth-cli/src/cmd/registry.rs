//! `berth registry`: the OCI Distribution server, and `berth registry gc`.

use crate::cli::{RegistryArgs, RegistryCmd};
use berth_registry::{AuthConfig, GcOptions, RegistryConfig};
use std::process::ExitCode;
use std::time::Duration;

/// Runs the registry until SIGTERM or SIGINT, or runs a maintenance command.
pub async fn run(a: RegistryArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_new(&a.log_level)
        .map_err(|_| anyhow::anyhow!("invalid --log-level {:?}: use error, warn, info, debug or trace", a.log_level))?;
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    if let Some(RegistryCmd::Gc { root, dry_run, grace }) = a.command {
        let opts = GcOptions { dry_run, grace: Duration::from_secs(grace), ..GcOptions::default() };
        let r = berth_registry::gc_with(&root, &opts).map_err(|e| anyhow::anyhow!("{}", crate::cmd::error_chain(&e)))?;
        let verb = if r.dry_run { "would remove" } else { "removed" };
        for d in &r.blobs_removed {
            println!("{verb} blob {d}");
        }
        println!(
            "{} blobs referenced, {} blobs {verb} ({} bytes), {} stale links and {} stale uploads {verb}",
            r.blobs_marked,
            r.blobs_removed.len(),
            r.bytes_freed,
            r.links_removed,
            r.uploads_removed
        );
        return Ok(ExitCode::SUCCESS);
    }
    let listen = a.listen.parse().map_err(|_| anyhow::anyhow!("invalid --listen {:?}: expected IP:PORT", a.listen))?;
    let mut cfg = RegistryConfig::new(listen, a.root);
    cfg.tls_cert = a.tls_cert;
    cfg.tls_key = a.tls_key;
    cfg.auth = a.auth.parse::<AuthConfig>().map_err(|e| anyhow::anyhow!("invalid --auth: {e}"))?;
    cfg.anonymous_pull = a.anonymous_pull;
    cfg.read_only = a.read_only;
    cfg.gc_interval = (a.gc_interval > 0).then(|| Duration::from_secs(a.gc_interval));
    berth_registry::serve(cfg, super::daemon::shutdown_signal())
        .await
        .map_err(|e| anyhow::anyhow!("{}", crate::cmd::error_chain(&e)))?;
    Ok(ExitCode::SUCCESS)
}
