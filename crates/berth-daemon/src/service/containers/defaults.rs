//! The daemon-wide defaults a new container takes (`berth daemon --log-driver/--log-opt/
//! --default-ulimit`, or `log-driver`, `log-opts` and `default-ulimits` in daemon.json), merged
//! as dockerd merges them: `mergeAndVerifyLogConfig` at create and `mergeUlimits`.

use berth_api::container::{HostConfig, Ulimit};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Defaults for new containers.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerDefaults {
    /// Log driver of containers that name none.
    pub log_driver: String,
    /// Log options of containers using `log_driver`, for the keys they do not set.
    pub log_opts: BTreeMap<String, String>,
    /// Resource limits of every container, for the names it does not set itself.
    pub ulimits: Vec<Ulimit>,
    /// `--userns-remap`: the ID maps of the user namespace every container gets unless it asks
    /// for the host's (`--userns host`).
    pub userns_remap: Option<berth_runtime::idmap::IdMappings>,
    /// The journal's native-protocol socket the journald log driver writes to (systemd's
    /// `/run/systemd/journal/socket`; tests give their own).
    pub journald_socket: std::path::PathBuf,
}

impl Default for ContainerDefaults {
    fn default() -> Self {
        ContainerDefaults {
            log_driver: "json-file".into(),
            log_opts: BTreeMap::new(),
            ulimits: Vec::new(),
            userns_remap: None,
            journald_socket: super::logdriver::JOURNALD_SOCKET.into(),
        }
    }
}

impl ContainerDefaults {
    /// Fills `h`'s `LogConfig` and `Ulimits` from the defaults: a container without a log driver
    /// gets the default one, a container on the default driver gets each default option it does
    /// not set, and each default ulimit it does not set.
    pub fn apply(&self, h: &mut HostConfig) {
        let log = h.extra.entry("LogConfig").or_insert_with(|| Value::Object(Map::new()));
        if !log.is_object() {
            *log = Value::Object(Map::new());
        }
        if let Some(log) = log.as_object_mut() {
            if log.get("Type").and_then(Value::as_str).is_none_or(str::is_empty) {
                log.insert("Type".into(), Value::String(self.log_driver.clone()));
            }
            let on_default = log.get("Type").and_then(Value::as_str) == Some(self.log_driver.as_str());
            let config = log.entry("Config").or_insert_with(|| Value::Object(Map::new()));
            if !config.is_object() {
                *config = Value::Object(Map::new());
            }
            if let (true, Some(config)) = (on_default, config.as_object_mut()) {
                for (k, v) in &self.log_opts {
                    config.entry(k.clone()).or_insert_with(|| Value::String(v.clone()));
                }
            }
        }
        if !self.ulimits.is_empty() {
            let mut ulimits = h.ulimits.take().unwrap_or_default();
            for u in &self.ulimits {
                if !ulimits.iter().any(|x| x.name == u.name) {
                    ulimits.push(u.clone());
                }
            }
            h.ulimits = Some(ulimits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> ContainerDefaults {
        ContainerDefaults {
            log_driver: "json-file".into(),
            log_opts: BTreeMap::from([("max-size".into(), "1m".into()), ("max-file".into(), "2".into())]),
            ulimits: vec![Ulimit { name: "nofile".into(), soft: 1000, hard: 2000 }, Ulimit { name: "nproc".into(), soft: 50, hard: 60 }],
            ..Default::default()
        }
    }

    #[test]
    fn container_without_log_config_or_ulimits_gets_the_defaults() {
        let mut h = HostConfig::default();
        defaults().apply(&mut h);
        assert_eq!(h.extra["LogConfig"], json!({"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}));
        assert_eq!(h.ulimits.unwrap().len(), 2);
    }

    #[test]
    fn container_settings_win_key_by_key() {
        let mut h = HostConfig::default();
        h.extra.insert("LogConfig".into(), json!({"Type": "", "Config": {"max-size": "5m"}}));
        h.ulimits = Some(vec![Ulimit { name: "nofile".into(), soft: 10, hard: 20 }]);
        defaults().apply(&mut h);
        assert_eq!(h.extra["LogConfig"], json!({"Type": "json-file", "Config": {"max-size": "5m", "max-file": "2"}}));
        let u = h.ulimits.unwrap();
        assert_eq!(u[0], Ulimit { name: "nofile".into(), soft: 10, hard: 20 });
        assert_eq!(u[1].name, "nproc");
    }

    #[test]
    fn another_driver_gets_no_default_options() {
        let mut h = HostConfig::default();
        h.extra.insert("LogConfig".into(), json!({"Type": "none"}));
        defaults().apply(&mut h);
        assert_eq!(h.extra["LogConfig"], json!({"Type": "none", "Config": {}}));
    }
}
