//! `berth daemon`: configuration (flags and daemon.json, see `daemon_config`), logging, signals
//! (SIGTERM/SIGINT stop, SIGHUP reloads the configuration) and the daemon's run loop.

use super::daemon_config::{self, Resolved};
use crate::cli::{DaemonArgs, LogFormat};
use berth_daemon::settings::Reload;
use std::process::ExitCode;
use tokio::sync::mpsc;
use tracing_subscriber::prelude::*;

/// Swaps the log filter of the running subscriber.
type FilterHandle = tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// Runs the daemon until SIGTERM or SIGINT; with `--validate`, only checks the configuration.
pub async fn run(a: DaemonArgs) -> anyhow::Result<ExitCode> {
    let resolved = daemon_config::resolve(&a)?;
    if a.validate {
        // dockerd --validate prints this on stderr.
        eprintln!("configuration OK");
        return Ok(ExitCode::SUCCESS);
    }
    let filter = init_logging(&resolved.log_filter, resolved.log_format)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let reloader = tokio::spawn(reload_on_sighup(a, resolved.clone(), filter, tx));
    let frontends: Vec<Box<dyn berth_daemon::Frontend>> = match resolved.cri.clone() {
        Some(c) => vec![Box::new(berth_cri::Frontend(c))],
        None => vec![],
    };
    let result = berth_daemon::run_with(resolved.config, frontends, shutdown_signal(), rx).await;
    reloader.abort();
    result.map_err(|e| anyhow::anyhow!("{}", super::error_chain(&e)))?;
    Ok(ExitCode::SUCCESS)
}

/// The daemon's log on stderr, through a filter a reload can replace: text (coloured only when
/// stderr is a terminal, so a log file or the journal gets no escape codes, as dockerd's logrus
/// does) or one JSON object per line.
fn init_logging(directives: &str, format: LogFormat) -> anyhow::Result<FilterHandle> {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(directives).map_err(|e| anyhow::anyhow!("invalid log level {directives:?}: {e}"))?;
    let (layer, handle) = tracing_subscriber::reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(layer);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => registry.with(fmt.with_ansi(std::io::stderr().is_terminal())).try_init(),
        LogFormat::Json => registry.with(fmt.json().flatten_event(true).with_current_span(false)).try_init(),
    };
    Ok(handle)
}

/// On each SIGHUP, reads the configuration file again (with the same flags) and applies what
/// dockerd reloads; a bad file is logged and changes nothing, as with dockerd.
async fn reload_on_sighup(args: DaemonArgs, mut current: Resolved, filter: FilterHandle, tx: mpsc::UnboundedSender<Reload>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot handle SIGHUP: configuration reload disabled");
        return;
    };
    while hup.recv().await.is_some() {
        let next = match daemon_config::resolve(&args) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "configuration reload failed; the running configuration is kept");
                continue;
            }
        };
        let pending: Vec<String> =
            daemon_config::changed_keys(&current.file, &next.file).into_iter().filter(|k| !daemon_config::RELOADABLE.contains(&k.as_str())).collect();
        if !pending.is_empty() {
            tracing::warn!(keys = %pending.join(", "), file = %next.path.display(), "these settings change only when the daemon restarts");
        }
        match tracing_subscriber::EnvFilter::try_new(&next.log_filter) {
            Ok(f) => {
                if let Err(e) = filter.reload(f) {
                    tracing::warn!(error = %e, "cannot change the log level");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot change the log level"),
        }
        let level = next.log_filter.split(',').next().unwrap_or_default().to_string();
        if tx.send(Reload { settings: next.config.settings.clone(), log_level: level }).is_err() {
            return;
        }
        // What is not reloadable stays as the daemon started with it.
        current.file = next.file;
    }
}

pub use super::signals::shutdown_signal;
