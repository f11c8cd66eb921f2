//! The overlay snapshotter's metadata: every snapshot's record, versioned; persisted as a checkpoint
//! (`metadata.json`, written atomically) and a journal of later changes ([`super::journal`]).

use crate::snapshotter::{Kind, Labels};
use crate::SnapshotError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// The format version this build writes: 2 has a journal beside the checkpoint, which a build that
/// knows only version 1 would not replay (it refuses the file instead of losing changes).
pub(crate) const VERSION: u32 = 2;
/// The versions this build reads (1: a checkpoint without journal).
const READABLE: [u32; 2] = [1, 2];

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
    /// The sequence number of the last journal entry this checkpoint includes.
    #[serde(default)]
    pub journal_seq: u64,
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
            journal_seq: 0,
        }
    }
}

impl Metadata {
    /// Reads `path` (and returns its size), or returns empty metadata if it does not exist yet.
    pub fn load(path: &Path) -> Result<(Metadata, u64), SnapshotError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Metadata::default(), 0)),
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
        if !READABLE.contains(&v.version) {
            return Err(SnapshotError::UnsupportedVersion {
                path: path.to_path_buf(),
                version: v.version,
            });
        }
        Ok((serde_json::from_slice(&bytes).map_err(corrupt)?, bytes.len() as u64))
    }
}
