//! A pod's attachment to the CNI network, persisted at `<data-root>/cri/cni/<sandbox-id>.json`
//! (atomically, temp file and rename) before its `ADD` runs and removed after its `DEL` did: while
//! it exists the pod may hold addresses, interfaces and firewall rules, and it holds everything a
//! `DEL` needs, so whoever finds it (Stop, Remove, the next daemon start) can finish a teardown.

use super::conf::NetworkList;
use super::CniError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The format of the attachment files.
pub const FORMAT: u32 = 1;

/// One pod's attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// [`FORMAT`].
    pub format: u32,
    /// The sandbox (`CNI_CONTAINERID`).
    pub sandbox_id: String,
    /// The pinned network namespace (`CNI_NETNS`).
    pub netns: PathBuf,
    /// `CNI_IFNAME`.
    pub ifname: String,
    /// `CNI_ARGS`.
    pub args: Vec<(String, String)>,
    /// The capability arguments (`portMappings`, `dns`, `bandwidth`).
    pub capability_args: Map<String, Value>,
    /// The configuration file the list came from.
    pub source: PathBuf,
    /// The network configuration list as the `ADD` used it.
    pub network: Value,
    /// The `ADD`'s result, once it succeeded.
    #[serde(default)]
    pub result: Option<Value>,
}

impl Attachment {
    /// The list this attachment was made with.
    pub fn list(&self) -> Result<NetworkList, CniError> {
        NetworkList::from_value(&self.source, self.network.clone())
    }
}

/// The attachment files of a data root.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store under `<root>/cri/cni`.
    pub fn new(root: &Path) -> Store {
        Store { dir: root.join("cri/cni") }
    }

    fn path(&self, sandbox_id: &str) -> PathBuf {
        self.dir.join(format!("{sandbox_id}.json"))
    }

    /// Writes (replaces) `a` atomically.
    pub fn save(&self, a: &Attachment) -> Result<(), CniError> {
        let path = self.path(&a.sandbox_id);
        berth_types::persist::replace_file_json(&path, a).map_err(|source| CniError::State { op: "writing the pod's network state", path, source })
    }

    /// The attachment of `sandbox_id`, if there is one.
    pub fn get(&self, sandbox_id: &str) -> Result<Option<Attachment>, CniError> {
        let path = self.path(sandbox_id);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| CniError::State { op: "reading the pod's network state", path, source: std::io::Error::other(e) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CniError::State { op: "reading the pod's network state", path, source }),
        }
    }

    /// Forgets `sandbox_id`'s attachment (its teardown is done).
    pub fn remove(&self, sandbox_id: &str) -> Result<(), CniError> {
        let path = self.path(sandbox_id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CniError::State { op: "removing the pod's network state", path, source }),
        }
    }

    /// Every attachment; unreadable files are logged and skipped (a torn file cannot exist:
    /// writes are renames; leftovers of an interrupted write are temp files, not `.json`).
    pub fn all(&self) -> Vec<Attachment> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return vec![] };
        let mut out = vec![];
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else { continue };
            match self.get(id) {
                Ok(Some(a)) if a.format == FORMAT => out.push(a),
                Ok(Some(a)) => tracing::warn!(sandbox.id = %id, format = a.format, "skipping a pod network state of an unknown format"),
                Ok(None) => {}
                Err(error) => tracing::warn!(sandbox.id = %id, %error, "skipping an unreadable pod network state"),
            }
        }
        out
    }
}
