//! Contexts, in the docker CLI's own store so both CLIs share them: each context is
//! `contexts/meta/<sha256 of its name>/meta.json` under the docker configuration directory
//! (`$DOCKER_CONFIG`, else `~/.docker`), and the current one is `currentContext` in that directory's
//! `config.json`. [`resolve`] picks the daemon a command talks to with the docker CLI's precedence.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Path, PathBuf};

/// The context that is no stored context: `-H`, `BERTH_HOST` or the default socket.
pub const DEFAULT: &str = "default";

/// What the default context's description says, as the docker CLI's does.
pub const DEFAULT_DESCRIPTION: &str = "Current BERTH_HOST based configuration";

/// Context failures, worded as the docker CLI words them.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("context {name:?}: context not found: open {}: no such file or directory", path.display())]
    NotFound { name: String, path: PathBuf },
    #[error("context {0:?} does not exist")]
    NoSuchToRemove(String),
    #[error("context {0:?} already exists")]
    Exists(String),
    #[error("\"default\" is a reserved context name")]
    Reserved,
    #[error("context name {0:?} is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\"")]
    InvalidName(String),
    #[error("context {0:?} is in use, set -f flag to force remove")]
    InUse(String),
    #[error("conflicting options: cannot specify both --host and --context")]
    Conflict,
    #[error("context {name:?}: {path}: {source}")]
    Io { name: String, path: String, source: io::Error },
    #[error("context {name:?}: invalid meta.json: {source}")]
    Corrupt { name: String, source: serde_json::Error },
}

/// A context's `meta.json`: the docker CLI's layout. Fields this client does not know (other
/// endpoints, extra metadata) are kept as they are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Metadata", default)]
    pub metadata: Metadata,
    #[serde(rename = "Endpoints", default)]
    pub endpoints: Endpoints,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    #[serde(rename = "Description", default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Endpoints {
    #[serde(rename = "docker", default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<Endpoint>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `docker` endpoint: where the daemon is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Endpoint {
    #[serde(rename = "Host", default, skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(rename = "SkipTLSVerify", default)]
    pub skip_tls_verify: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Meta {
    /// The endpoint's host, or "" when the context has none.
    pub fn host(&self) -> &str {
        self.endpoints.docker.as_ref().map(|e| e.host.as_str()).unwrap_or("")
    }
}

/// The store: the docker configuration directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// `$DOCKER_CONFIG`, else `$HOME/.docker`, as the docker CLI.
    pub fn from_env() -> Store {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".docker"));
        Store { dir }
    }

    pub fn at(dir: &Path) -> Store {
        Store { dir: dir.to_path_buf() }
    }

    fn id(name: &str) -> String {
        hex::encode(Sha256::digest(name.as_bytes()))
    }

    /// `contexts/meta/<id>`.
    pub fn meta_dir(&self, name: &str) -> PathBuf {
        self.dir.join("contexts/meta").join(Store::id(name))
    }

    /// `contexts/tls/<id>`.
    pub fn tls_dir(&self, name: &str) -> PathBuf {
        self.dir.join("contexts/tls").join(Store::id(name))
    }

    fn io_err(name: &str, path: &Path) -> impl FnOnce(io::Error) -> ContextError {
        let (name, path) = (name.to_string(), path.display().to_string());
        move |source| ContextError::Io { name, path, source }
    }

    /// One stored context.
    pub fn get(&self, name: &str) -> Result<Meta, ContextError> {
        let path = self.meta_dir(name).join("meta.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ContextError::NotFound { name: name.to_string(), path }),
            Err(e) => return Err(Store::io_err(name, &path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|source| ContextError::Corrupt { name: name.to_string(), source })
    }

    pub fn exists(&self, name: &str) -> bool {
        self.meta_dir(name).join("meta.json").exists()
    }

    /// Every stored context, by name.
    pub fn list(&self) -> Result<Vec<Meta>, ContextError> {
        let dir = self.dir.join("contexts/meta");
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Store::io_err("", &dir)(e)),
        };
        for e in entries.flatten() {
            let Ok(bytes) = std::fs::read(e.path().join("meta.json")) else { continue };
            match serde_json::from_slice::<Meta>(&bytes) {
                Ok(m) => out.push(m),
                Err(source) => return Err(ContextError::Corrupt { name: e.file_name().to_string_lossy().into_owned(), source }),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Writes `meta` (a new context, or over an existing one).
    pub fn save(&self, meta: &Meta) -> Result<(), ContextError> {
        let dir = self.meta_dir(&meta.name);
        std::fs::create_dir_all(&dir).map_err(Store::io_err(&meta.name, &dir))?;
        let bytes = serde_json::to_vec(meta).map_err(|source| ContextError::Corrupt { name: meta.name.clone(), source })?;
        let path = dir.join("meta.json");
        write_file(&path, &bytes, 0o644).map_err(Store::io_err(&meta.name, &path))
    }

    /// Removes a stored context (its metadata and TLS material).
    pub fn remove(&self, name: &str) -> Result<(), ContextError> {
        if !self.exists(name) {
            return Err(ContextError::NoSuchToRemove(name.to_string()));
        }
        for dir in [self.meta_dir(name), self.tls_dir(name)] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Store::io_err(name, &dir)(e)),
            }
        }
        Ok(())
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    fn config(&self) -> Result<Map<String, Value>, ContextError> {
        let path = self.config_path();
        match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(Map::new()),
            Ok(b) => serde_json::from_slice(&b).map_err(|source| ContextError::Corrupt { name: path.display().to_string(), source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Map::new()),
            Err(e) => Err(Store::io_err("", &path)(e)),
        }
    }

    /// `currentContext` of config.json, if set.
    pub fn current(&self) -> Result<Option<String>, ContextError> {
        Ok(self.config()?.get("currentContext").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string))
    }

    /// Sets `currentContext` (removes it for `default`), keeping the rest of config.json.
    pub fn set_current(&self, name: &str) -> Result<(), ContextError> {
        let mut cfg = self.config()?;
        if name == DEFAULT {
            cfg.remove("currentContext");
        } else {
            cfg.insert("currentContext".into(), Value::String(name.to_string()));
        }
        let path = self.config_path();
        std::fs::create_dir_all(&self.dir).map_err(Store::io_err(name, &self.dir))?;
        let mut bytes = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(&mut bytes, serde_json::ser::PrettyFormatter::with_indent(b"\t"));
        Serialize::serialize(&cfg, &mut ser).map_err(|source| ContextError::Corrupt { name: name.to_string(), source })?;
        write_file(&path, &bytes, 0o600).map_err(Store::io_err(name, &path))
    }
}

/// A name `create` accepts: docker's rule, and not `default`.
pub fn check_name(name: &str) -> Result<(), ContextError> {
    if name == DEFAULT {
        return Err(ContextError::Reserved);
    }
    let ok = |c: char| c.is_ascii_alphanumeric() || "_.+-".contains(c);
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() && name.len() >= 2 && chars.all(ok) => Ok(()),
        _ => Err(ContextError::InvalidName(name.to_string())),
    }
}

/// Replaces `path` through a temporary sibling with `mode`, fsynced, renamed.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// What the command line and environment say about the daemon to use.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// `-H`/`--host`.
    pub host_flag: Option<String>,
    /// `-c`/`--context`.
    pub context_flag: Option<String>,
    /// `BERTH_HOST`, else `DOCKER_HOST`.
    pub host_env: Option<String>,
    /// `BERTH_CONTEXT`, else `DOCKER_CONTEXT`.
    pub context_env: Option<String>,
}

impl Selection {
    /// The flags, and the environment of this process.
    pub fn new(host_flag: Option<String>, context_flag: Option<String>) -> Selection {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Selection { host_flag, context_flag, host_env: env("BERTH_HOST").or_else(|| env("DOCKER_HOST")), context_env: env("BERTH_CONTEXT").or_else(|| env("DOCKER_CONTEXT")) }
    }

    /// The context in effect, with the docker CLI's precedence: `--context` (refused together with
    /// `-H`), then `-H` or `BERTH_HOST` (the default context), then `BERTH_CONTEXT`/`DOCKER_CONTEXT`,
    /// then `currentContext` of config.json, then `default`.
    pub fn context_name(&self, store: &Store) -> Result<String, ContextError> {
        if self.context_flag.is_some() && self.host_flag.is_some() {
            return Err(ContextError::Conflict);
        }
        if let Some(c) = &self.context_flag {
            return Ok(c.clone());
        }
        if self.host_flag.is_some() || self.host_env.is_some() {
            return Ok(DEFAULT.into());
        }
        if let Some(c) = &self.context_env {
            return Ok(c.clone());
        }
        Ok(store.current()?.unwrap_or_else(|| DEFAULT.into()))
    }

    /// The default context's host: `-H`, else `BERTH_HOST`, else the default socket.
    pub fn default_host(&self) -> String {
        self.host_flag.clone().or_else(|| self.host_env.clone()).unwrap_or_else(|| crate::DEFAULT_HOST.to_string())
    }

    /// The host the command talks to, and the context it came from.
    pub fn resolve(&self, store: &Store) -> Result<(String, String), ContextError> {
        let name = self.context_name(store)?;
        if name == DEFAULT {
            return Ok((name, self.default_host()));
        }
        let meta = store.get(&name)?;
        Ok((name, meta.host().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_is_the_docker_clis() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::at(tmp.path());
        let sel = |h: Option<&str>, c: Option<&str>, he: Option<&str>, ce: Option<&str>| Selection {
            host_flag: h.map(Into::into),
            context_flag: c.map(Into::into),
            host_env: he.map(Into::into),
            context_env: ce.map(Into::into),
        };
        assert_eq!(sel(None, None, None, None).context_name(&store).unwrap(), "default");
        store.set_current("cur").unwrap();
        assert_eq!(sel(None, None, None, None).context_name(&store).unwrap(), "cur");
        assert_eq!(sel(None, None, None, Some("env")).context_name(&store).unwrap(), "env");
        assert_eq!(sel(None, None, Some("unix:///h"), Some("env")).context_name(&store).unwrap(), "default");
        assert_eq!(sel(Some("unix:///h"), None, None, Some("env")).context_name(&store).unwrap(), "default");
        assert_eq!(sel(None, Some("flag"), Some("unix:///h"), Some("env")).context_name(&store).unwrap(), "flag");
        assert!(matches!(sel(Some("unix:///h"), Some("flag"), None, None).context_name(&store), Err(ContextError::Conflict)));
        assert_eq!(sel(Some("unix:///f"), None, Some("unix:///e"), None).default_host(), "unix:///f");
        store.set_current("default").unwrap();
        assert_eq!(store.current().unwrap(), None);
    }

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["ab", "a1", "remote.host+1_x-y"] {
            check_name(ok).unwrap();
        }
        for bad in ["a", "-ab", ".ab", "a b", "a/b", ""] {
            assert!(matches!(check_name(bad), Err(ContextError::InvalidName(_))), "{bad}");
        }
        assert!(matches!(check_name("default"), Err(ContextError::Reserved)));
    }

    #[test]
    fn meta_round_trips_docker_layout_and_keeps_unknown_fields() {
        let text = r#"{"Name":"foo","Metadata":{"Description":"my desc","x":1},"Endpoints":{"docker":{"Host":"ssh://root@h:22","SkipTLSVerify":false},"kubernetes":{"a":"b"}}}"#;
        let m: Meta = serde_json::from_str(text).unwrap();
        assert_eq!(m.host(), "ssh://root@h:22");
        let back: Value = serde_json::to_value(&m).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
        let empty = Meta { name: "bar".into(), metadata: Metadata::default(), endpoints: Endpoints { docker: Some(Endpoint { host: "unix:///s".into(), ..Default::default() }), extra: Map::new() } };
        assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"Name":"bar","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///s","SkipTLSVerify":false}}}"#);
    }
}
