//! The network configuration: the first file of the configuration directory, in lexical order,
//! whose name ends in `.conf`, `.conflist` or `.json` (libcni's `ConfFiles`, as containerd picks
//! it). A `.conflist` is a list of plugins (spec section 1); a `.conf` or `.json` holding a single
//! plugin's configuration becomes a list of one, named after it. Read afresh on each use, so a
//! configuration a CNI installer drops in later is picked up without a restart, as with containerd.

use super::CniError;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// A network configuration list, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkList {
    /// The file it came from.
    pub source: PathBuf,
    /// The list as JSON (`cniVersion`, `name`, `disableCheck`, `plugins`): what is persisted with a
    /// pod so its `DEL` uses exactly what its `ADD` did.
    pub raw: Value,
}

impl NetworkList {
    /// Builds and validates a list from its JSON (`source` names it in errors).
    pub fn from_value(source: &Path, raw: Value) -> Result<NetworkList, CniError> {
        let bad = |reason: String| CniError::BadConfig { path: source.to_path_buf(), reason };
        let obj = raw.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
        match obj.get("cniVersion") {
            Some(Value::String(v)) if !v.is_empty() => {}
            _ => return Err(bad("cniVersion is missing".into())),
        }
        match obj.get("name") {
            Some(Value::String(n)) if !n.is_empty() => {}
            _ => return Err(bad("name is missing".into())),
        }
        let plugins = obj.get("plugins").and_then(Value::as_array).ok_or_else(|| bad("plugins is missing".into()))?;
        if plugins.is_empty() {
            return Err(bad("plugins is empty".into()));
        }
        for p in plugins {
            let t = p.get("type").and_then(Value::as_str).unwrap_or("");
            if t.is_empty() || t.contains('/') || t == "." || t == ".." {
                return Err(bad(format!("plugin type {t:?} is not a plugin name")));
            }
        }
        Ok(NetworkList { source: source.to_path_buf(), raw })
    }

    /// The network's name.
    pub fn name(&self) -> &str {
        self.raw.get("name").and_then(Value::as_str).unwrap_or("")
    }

    /// The list's `cniVersion`.
    pub fn version(&self) -> &str {
        self.raw.get("cniVersion").and_then(Value::as_str).unwrap_or("")
    }

    /// The plugins' configurations, in order.
    pub fn plugins(&self) -> Vec<Map<String, Value>> {
        self.raw.get("plugins").and_then(Value::as_array).into_iter().flatten().filter_map(|p| p.as_object().cloned()).collect()
    }

    /// The plugin types, in order.
    pub fn types(&self) -> Vec<String> {
        self.plugins().iter().map(|p| p.get("type").and_then(Value::as_str).unwrap_or("").to_string()).collect()
    }

    /// Whether `CHECK` is to be run: the list says no (`disableCheck`), or its version predates it
    /// (spec: CHECK exists from 0.4.0).
    pub fn check_enabled(&self) -> bool {
        let disabled = self.raw.get("disableCheck").is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        !disabled && version_at_least(self.version(), (0, 4, 0))
    }
}

/// Whether a CNI version string is at least `min`.
pub fn version_at_least(v: &str, min: (u64, u64, u64)) -> bool {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let got = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    got >= min
}

/// The configuration files of `dir` in lexical order.
fn files(dir: &Path) -> Result<Vec<PathBuf>, CniError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(source) => return Err(CniError::State { op: "reading the CNI config directory", path: dir.to_path_buf(), source }),
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("conf" | "conflist" | "json")))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

/// Loads the network configuration of `dir`: the first configuration file in lexical order.
/// An invalid first file is an error (as containerd reports it), not a reason to take the next.
pub fn load(dir: &Path) -> Result<NetworkList, CniError> {
    let Some(path) = files(dir)?.into_iter().next() else {
        return Err(CniError::NoConfig { dir: dir.to_path_buf() });
    };
    let bad = |reason: String| CniError::BadConfig { path: path.clone(), reason };
    let bytes = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let list = if path.extension().is_some_and(|e| e == "conflist") {
        value
    } else {
        // A single plugin's configuration (libcni's ConfListFromConf).
        let obj = value.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
        if obj.get("plugins").is_some() {
            return Err(bad("a network configuration list must be in a .conflist file".into()));
        }
        let mut plugin = obj.clone();
        let name = plugin.remove("name").unwrap_or(Value::Null);
        let version = plugin.remove("cniVersion").unwrap_or(Value::Null);
        serde_json::json!({"cniVersion": version, "name": name, "plugins": [plugin]})
    };
    NetworkList::from_value(&path, list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_file_in_lexical_order_wins_and_single_confs_become_lists() {
        let d = tempfile::tempdir().unwrap();
        assert!(matches!(load(d.path()), Err(CniError::NoConfig { .. })));
        std::fs::write(d.path().join("README"), "not a config").unwrap();
        std::fs::write(d.path().join("20-b.conflist"), r#"{"cniVersion":"1.0.0","name":"b","plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]}"#).unwrap();
        let l = load(d.path()).unwrap();
        assert_eq!((l.name(), l.version()), ("b", "1.0.0"));
        assert_eq!(l.types(), ["bridge", "portmap"]);
        assert!(l.check_enabled());
        std::fs::write(d.path().join("10-a.conf"), r#"{"cniVersion":"0.3.1","name":"a","type":"ptp","ipam":{"type":"host-local"}}"#).unwrap();
        let l = load(d.path()).unwrap();
        assert_eq!(l.name(), "a");
        assert_eq!(l.types(), ["ptp"]);
        assert_eq!(l.plugins()[0].get("ipam").unwrap()["type"], "host-local");
        assert!(!l.check_enabled(), "CHECK is from 0.4.0");
        std::fs::write(d.path().join("05-bad.conflist"), r#"{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"../evil"}]}"#).unwrap();
        let e = load(d.path()).unwrap_err().to_string();
        assert!(e.contains("05-bad.conflist") && e.contains("not a plugin name"), "{e}");
        std::fs::write(d.path().join("05-bad.conflist"), "{").unwrap();
        assert!(matches!(load(d.path()), Err(CniError::BadConfig { .. })));
    }
}
