//! Docker's client `config.json`: `auths` (base64 `user:password`), `credsStore` and `credHelpers`.
//!
//! Credential helpers follow docker-credential-helpers' protocol: `docker-credential-<name> get`
//! reads the server URL on stdin and prints `{"ServerURL","Username","Secret"}`; `store` reads that
//! JSON on stdin; `erase` reads the server URL. A `Username` of `<token>` marks an identity token.
//!
//! The file keeps every field it does not know, is written atomically and is created `0600`, like
//! Docker's (it holds secrets).

use crate::Credentials;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The key Docker files Docker Hub credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Failures reading, writing or consulting credentials.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("invalid config file {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        reason: String,
    },
    /// A credential helper failed or could not be run.
    #[error("error getting credentials - err: {message}, out: `{helper}`")]
    Helper {
        /// The helper program.
        helper: String,
        /// What went wrong.
        message: String,
    },
}

impl berth_types::error::HasKind for ConfigError {
    fn kind(&self) -> berth_types::ErrorKind {
        match self {
            ConfigError::Parse { .. } => berth_types::ErrorKind::InvalidArgument,
            ConfigError::Io { .. } | ConfigError::Helper { .. } => berth_types::ErrorKind::Internal,
        }
    }
}

/// The key credentials for `registry` are filed under: Docker Hub's v1 URL for `docker.io`,
/// otherwise `HOST[:PORT]`.
pub fn server_key(registry: &str) -> String {
    match crate::normalize_registry(registry).as_str() {
        "docker.io" => DOCKER_HUB_KEY.to_string(),
        h => h.to_string(),
    }
}

/// A loaded `config.json`.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
    doc: Map<String, Value>,
    helper_path: Option<OsString>,
}

impl ConfigFile {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: impl Into<PathBuf>) -> Result<ConfigFile, ConfigError> {
        let path = path.into();
        let doc = match std::fs::read(&path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    return Err(ConfigError::Parse {
                        path,
                        reason: "not a JSON object".into(),
                    })
                }
                Err(e) => {
                    return Err(ConfigError::Parse {
                        path,
                        reason: e.to_string(),
                    })
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Map::new(),
            Err(source) => {
                return Err(ConfigError::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        Ok(ConfigFile {
            path,
            doc,
            helper_path: None,
        })
    }

    /// Where this config is saved.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Uses `path` (a `PATH`-style list) instead of the process's `PATH` to find credential helpers.
    pub fn set_helper_path(&mut self, path: impl Into<OsString>) {
        self.helper_path = Some(path.into());
    }

    /// The `credsStore` helper name, if set.
    pub fn creds_store(&self) -> Option<&str> {
        self.doc
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Sets (or clears) `credsStore`.
    pub fn set_creds_store(&mut self, helper: Option<&str>) {
        match helper {
            Some(h) => self
                .doc
                .insert("credsStore".into(), Value::String(h.into())),
            None => self.doc.remove("credsStore"),
        };
    }

    /// Sets the `credHelpers` entry for `registry`.
    pub fn set_cred_helper(&mut self, registry: &str, helper: &str) {
        let helpers = self.doc.entry("credHelpers").or_insert_with(|| json!({}));
        if !helpers.is_object() {
            *helpers = json!({});
        }
        if let Some(m) = helpers.as_object_mut() {
            m.insert(server_key(registry), Value::String(helper.into()));
        }
    }

    /// The helper that handles `registry`: `credHelpers[key]`, else `credsStore`.
    pub fn helper_for(&self, registry: &str) -> Option<String> {
        let key = server_key(registry);
        self.doc
            .get("credHelpers")
            .and_then(|h| h.get(&key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| self.creds_store().map(str::to_string))
    }

    /// Credentials for `registry`, from its helper or from `auths`.
    pub fn get(&self, registry: &str) -> Result<Option<Credentials>, ConfigError> {
        let key = server_key(registry);
        if let Some(helper) = self.helper_for(registry) {
            return self.helper_get(&helper, &key);
        }
        let Some(entry) = self.doc.get("auths").and_then(|a| a.get(&key)) else {
            return Ok(None);
        };
        if let Some(tok) = entry
            .get("identitytoken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            return Ok(Some(Credentials::new("<token>", tok)));
        }
        let Some(auth) = entry
            .get("auth")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        else {
            return Ok(None);
        };
        let bad = |reason: &str| ConfigError::Parse {
            path: self.path.clone(),
            reason: format!("auths[{key:?}]: {reason}"),
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .map_err(|_| bad("auth is not base64"))?;
        let raw = String::from_utf8(raw).map_err(|_| bad("auth is not UTF-8"))?;
        let (u, p) = raw
            .split_once(':')
            .ok_or_else(|| bad("auth is not user:password"))?;
        Ok(Some(Credentials::new(u, p)))
    }

    /// Stores credentials for `registry` in its helper, or in `auths` (call [`save`](Self::save) after).
    pub fn store(&mut self, registry: &str, creds: &Credentials) -> Result<(), ConfigError> {
        let key = server_key(registry);
        if let Some(helper) = self.helper_for(registry) {
            let input =
                json!({ "ServerURL": key, "Username": creds.username, "Secret": creds.password })
                    .to_string();
            self.run_helper(&helper, "store", &input)?;
            // Docker leaves an empty entry so `docker login` lists the registry.
            self.auths_mut().insert(key, json!({}));
            return Ok(());
        }
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", creds.username, creds.password));
        self.auths_mut().insert(key, json!({ "auth": auth }));
        Ok(())
    }

    /// Forgets credentials for `registry` (helper and `auths`); returns whether any were known.
    pub fn erase(&mut self, registry: &str) -> Result<bool, ConfigError> {
        let key = server_key(registry);
        let mut had = false;
        if let Some(helper) = self.helper_for(registry) {
            had = self.helper_get(&helper, &key)?.is_some();
            if had {
                self.run_helper(&helper, "erase", &key)?;
            }
        }
        had |= self.auths_mut().remove(&key).is_some();
        Ok(had)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let auths = self.doc.entry("auths").or_insert_with(|| json!({}));
        if !auths.is_object() {
            *auths = json!({});
        }
        match auths {
            Value::Object(m) => m,
            _ => unreachable!("auths was just made an object"),
        }
    }

    /// Writes the file atomically with mode 0600 (temp file created 0600, fsync, rename, fsync dir).
    pub fn save(&self) -> Result<(), ConfigError> {
        let io_err = |op| {
            move |source| ConfigError::Io {
                op,
                path: self.path.clone(),
                source,
            }
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io_err("create directory for"))?;
        let mut bytes = serde_json::to_vec_pretty(&Value::Object(self.doc.clone()))
            .map_err(|e| io_err("encode")(io::Error::other(e)))?;
        bytes.push(b'\n');
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("config.json");
        let tmp = dir.join(format!(".{name}.tmp-{}", &berth_types::random_id()[..12]));
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            berth_types::persist::sync_dir(dir)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io_err("write"))
    }

    fn helper_get(&self, helper: &str, key: &str) -> Result<Option<Credentials>, ConfigError> {
        let out = match self.run_helper(helper, "get", key) {
            Ok(out) => out,
            Err(ConfigError::Helper { message, .. })
                if message.contains("credentials not found") =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        #[derive(serde::Deserialize)]
        struct Reply {
            #[serde(rename = "Username", default)]
            username: String,
            #[serde(rename = "Secret", default)]
            secret: String,
        }
        let r: Reply = serde_json::from_slice(&out).map_err(|e| ConfigError::Helper {
            helper: helper_program(helper),
            message: format!("invalid reply: {e}"),
        })?;
        if r.username.is_empty() && r.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credentials::new(r.username, r.secret)))
    }

    fn run_helper(&self, helper: &str, verb: &str, input: &str) -> Result<Vec<u8>, ConfigError> {
        let program = helper_program(helper);
        let fail = |message: String| ConfigError::Helper {
            helper: program.clone(),
            message,
        };
        let mut cmd = Command::new(&program);
        cmd.arg(verb)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(p) = &self.helper_path {
            // Rust resolves the program through the child's PATH when it is set explicitly.
            cmd.env("PATH", p);
        }
        let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .map_err(|e| fail(e.to_string()))?;
        }
        let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(if out.stdout.is_empty() {
                &out.stderr
            } else {
                &out.stdout
            })
            .trim()
            .to_string();
            return Err(fail(if msg.is_empty() {
                out.status.to_string()
            } else {
                msg
            }));
        }
        Ok(out.stdout)
    }
}

fn helper_program(name: &str) -> String {
    format!("docker-credential-{name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn save_and_load_round_trip_with_mode_0600_and_unknown_fields_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/config.json");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, r#"{"psFormat":"table {{.ID}}","auths":{}}"#).unwrap();
        let mut c = ConfigFile::load(&p).unwrap();
        c.store("127.0.0.1:5000", &Credentials::new("alice", "s:e:cret"))
            .unwrap();
        c.store("docker.io", &Credentials::new("bob", "pw"))
            .unwrap();
        c.save().unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "table {{.ID}}");
        assert_eq!(v["auths"]["127.0.0.1:5000"]["auth"], "YWxpY2U6czplOmNyZXQ=");
        assert!(v["auths"][DOCKER_HUB_KEY]["auth"].is_string());

        let mut c = ConfigFile::load(&p).unwrap();
        assert_eq!(
            c.get("http://127.0.0.1:5000/").unwrap(),
            Some(Credentials::new("alice", "s:e:cret"))
        );
        assert_eq!(
            c.get("index.docker.io").unwrap(),
            Some(Credentials::new("bob", "pw"))
        );
        assert_eq!(c.get("other:1").unwrap(), None);
        assert!(c.erase("127.0.0.1:5000").unwrap());
        c.save().unwrap();
        assert_eq!(
            ConfigFile::load(&p).unwrap().get("127.0.0.1:5000").unwrap(),
            None
        );
        let leftovers: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn credential_helper_is_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let store = dir.path().join("store");
        // A helper keeping one credential in a file, speaking the docker-credential-helpers protocol.
        let script = format!(
            r#"#!/bin/sh
case "$1" in
  get) read url; if [ -f {s} ]; then cat {s}; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) cat > {s} ;;
  erase) read url; rm -f {s} ;;
esac
"#,
            s = store.display()
        );
        let helper = bin.join("docker-credential-test");
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();

        let mut c = ConfigFile::load(dir.path().join("config.json")).unwrap();
        let mut path = bin.as_os_str().to_owned();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        c.set_helper_path(path);
        c.set_creds_store(Some("test"));
        assert_eq!(c.get("reg.example:5000").unwrap(), None);
        c.store("reg.example:5000", &Credentials::new("carol", "pw1"))
            .unwrap();
        let stored: Value = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
        assert_eq!(stored["ServerURL"], "reg.example:5000");
        assert_eq!(stored["Secret"], "pw1");
        assert_eq!(
            c.get("reg.example:5000").unwrap(),
            Some(Credentials::new("carol", "pw1"))
        );
        c.save().unwrap();
        let raw = std::fs::read_to_string(c.path()).unwrap();
        assert!(
            !raw.contains("pw1"),
            "secret leaked into config.json: {raw}"
        );
        assert!(c.erase("reg.example:5000").unwrap());
        assert_eq!(c.get("reg.example:5000").unwrap(), None);

        // credHelpers wins over credsStore; a missing helper is a clear error.
        c.set_cred_helper("other:1", "missing");
        let err = c.get("other:1").unwrap_err();
        assert!(
            err.to_string().contains("docker-credential-missing"),
            "{err}"
        );
    }
}
