//! The overlay snapshotter's metadata file: every snapshot's record, versioned, written atomically.

use crate::snapshotter::{Kind, Labels};
use crate::SnapshotError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// The format version this build reads and writes.
pub(crate) const VERSION: u32 = 1;

/// The whole metadata file (`metadata.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Metadata {
    /// Format version; a file with another version is refused rather than misread.
    pub version: u32,
    /// The next snapshot directory number. Never reused, so a leftover directory from a crash can
    /// never be mistaken for a live snapshot's.
    pub next_id: u64,
    /// Snapshots by key (active, view) or name (committed).
    pub snapshots: BTreeMap<String, Record>,
}

/// One snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Its directory under `snapshots/`.
    pub id: u64,
    pub kind: Kind,
    pub parent: Option<String>,
    pub created: SystemTime,
    #[serde(default)]
    pub labels: Labels,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            version: VERSION,
            next_id: 1,
            snapshots: BTreeMap::new(),
        }
    }
}

impl Metadata {
    /// Reads `path`, or returns empty metadata if it does not exist yet.
    pub fn load(path: &Path) -> Result<Metadata, SnapshotError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Metadata::default()),
            Err(e) => return Err(SnapshotError::io("read", path)(e)),
        };
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        let corrupt = |source| SnapshotError::CorruptMetadata {
            path: path.to_path_buf(),
            source,
        };
        let v: Versioned = serde_json::from_slice(&bytes).map_err(corrupt)?;
        if v.version != VERSION {
            return Err(SnapshotError::UnsupportedVersion {
                path: path.to_path_buf(),
                version: v.version,
            });
        }
        serde_json::from_slice(&bytes).map_err(corrupt)
    }

    /// Writes the metadata atomically (temp file, fsync, rename, fsync dir).
    pub fn store(&self, path: &Path) -> Result<(), SnapshotError> {
        berth_types::persist::atomic_write_json(path, self)
            .map_err(SnapshotError::io("write", path))
    }

    /// How many snapshots name `key` as parent.
    pub fn children(&self, key: &str) -> usize {
        self.snapshots
            .values()
            .filter(|r| r.parent.as_deref() == Some(key))
            .count()
    }
}
