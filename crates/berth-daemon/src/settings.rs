//! The settings a running daemon takes on again when its configuration is reloaded (`SIGHUP`),
//! the ones dockerd reloads (`daemon/reload.go`) that Berth has: debug, engine labels, insecure
//! registries and registry mirrors. (The log level is the executable's: it owns the subscriber.)

use crate::service::Services;
use std::collections::BTreeMap;

/// Reloadable settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveSettings {
    /// `debug`: `docker info` shows `Debug: true` (the executable also logs at debug level).
    pub debug: bool,
    /// `labels`: engine labels (`KEY=VALUE`), shown by `docker info`.
    pub labels: Vec<String>,
    /// `insecure-registries`: `HOST[:PORT]` or CIDRs reached over plain HTTP or unverified TLS.
    pub insecure_registries: Vec<String>,
    /// `registry-mirrors`: mirrors of docker.io, tried in order before it.
    pub registry_mirrors: Vec<String>,
}

impl LiveSettings {
    /// The attributes of the `daemon reload` event, as dockerd names them.
    fn event_attributes(&self, log_level: &str) -> BTreeMap<String, String> {
        let list = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        BTreeMap::from([
            ("debug".to_string(), self.debug.to_string()),
            ("labels".to_string(), list(&self.labels)),
            ("insecure-registries".to_string(), list(&self.insecure_registries)),
            ("registry-mirrors".to_string(), list(&self.registry_mirrors)),
            ("live-restore".to_string(), "true".to_string()),
            ("log-level".to_string(), log_level.to_string()),
        ])
    }
}

/// What a reload hands the running daemon.
#[derive(Debug, Clone)]
pub struct Reload {
    /// The new settings.
    pub settings: LiveSettings,
    /// The log level now in force (reported in the event; the caller has applied it).
    pub log_level: String,
}

/// Applies `r` to the running services and publishes dockerd's `daemon reload` event (actor: the
/// engine id, `name`: the host name, plus the reloaded values).
pub fn apply(services: &Services, r: Reload) {
    services.distribution.set_registries(&r.settings);
    let mut attributes = r.settings.event_attributes(&r.log_level);
    if let Ok(name) = nix::unistd::gethostname() {
        attributes.insert("name".into(), name.to_string_lossy().into_owned());
    }
    services.system.set_settings(r.settings);
    services.events.publish("daemon", "reload", services.system.id(), attributes);
    tracing::info!("configuration reloaded");
}
