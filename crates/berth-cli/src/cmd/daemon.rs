//! `berth daemon`: logging, signals, and the daemon's run loop.

use crate::cli::{DaemonArgs, LogFormat};
use berth_daemon::{DaemonConfig, ListenAddr};
use std::process::ExitCode;

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(a: DaemonArgs) -> anyhow::Result<ExitCode> {
    // rtnetlink's connection warns when a request's answer arrives after its caller stopped
    // listening (a lookup that took the first match): not something an operator can act on.
    let directives = if a.log_level.contains('=') { a.log_level.clone() } else { format!("{},netlink_proto=error", a.log_level) };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .map_err(|_| anyhow::anyhow!("invalid --log-level {:?}: use error, warn, info, debug or trace", a.log_level))?;
    init_logging(filter, a.log_format);
    let hosts = if a.hosts.is_empty() { vec![berth_client::DEFAULT_HOST.to_string()] } else { a.hosts };
    let hosts = hosts.iter().map(|h| h.parse::<ListenAddr>().map_err(|e| anyhow::anyhow!(e))).collect::<anyhow::Result<Vec<_>>>()?;
    let registries = berth_daemon::service::distribution::RegistryOptions { insecure: a.insecure_registry, mirrors: a.registry_mirror, certs_dir: Some(a.certs_dir.clone()) };
    let bip: ipnet::Ipv4Net = a.bip.parse().map_err(|_| anyhow::anyhow!("invalid --bip {:?}: expected an IPv4 address with a prefix, e.g. 10.88.0.1/16", a.bip))?;
    let mut pools = vec![];
    for p in &a.default_address_pool {
        pools.push(parse_pool(p)?);
    }
    let mut network = berth_daemon::service::networks::NetworkOptions { bridge: a.bridge, bip, mtu: a.mtu, ..Default::default() };
    if !pools.is_empty() {
        network.pools = pools;
    }
    let config = DaemonConfig { data_root: a.data_root, hosts, registries, network, init_path: a.init_path };
    berth_daemon::run(config, shutdown_signal()).await.map_err(|e| anyhow::anyhow!("{}", super::error_chain(&e)))?;
    Ok(ExitCode::SUCCESS)
}

/// The daemon's log on stderr: text (coloured only when stderr is a terminal, so a log file or the
/// journal gets no escape codes, as dockerd's logrus does) or one JSON object per line.
fn init_logging(filter: tracing_subscriber::EnvFilter, format: LogFormat) {
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
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

/// `base=10.89.0.0/16,size=24`.
fn parse_pool(s: &str) -> anyhow::Result<(ipnet::Ipv4Net, u8)> {
    let mut base = None;
    let mut size = None;
    for f in s.split(',') {
        match f.split_once('=') {
            Some(("base", v)) => base = Some(v.parse::<ipnet::Ipv4Net>().map_err(|_| anyhow::anyhow!("invalid --default-address-pool base {v:?}"))?),
            Some(("size", v)) => size = Some(v.parse::<u8>().map_err(|_| anyhow::anyhow!("invalid --default-address-pool size {v:?}"))?),
            _ => anyhow::bail!("invalid --default-address-pool {s:?}: expected base=CIDR,size=N"),
        }
    }
    let base = base.ok_or_else(|| anyhow::anyhow!("--default-address-pool {s:?} needs base=CIDR"))?;
    let size = size.unwrap_or(24);
    if size < base.prefix_len() || size > 30 {
        anyhow::bail!("invalid --default-address-pool {s:?}: size must be between the base's prefix and 30");
    }
    Ok((base.trunc(), size))
}
