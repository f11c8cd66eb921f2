//! The `Snapshotter` role: copy-on-write filesystem trees identified by keys, returned as mounts.
//!
//! The model is containerd's: `prepare` creates an *active* (writable) snapshot on a committed parent,
//! `view` a read-only one, `commit` turns an active snapshot into an immutable *committed* one under a
//! new name, and committed snapshots are the parents of further snapshots. A snapshotter never mounts:
//! it returns [`Mount`]s for the runtime.

use crate::{Mount, SnapshotError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

/// Labels attached to a snapshot (free-form key/value metadata).
pub type Labels = BTreeMap<String, String>;

/// The state of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Writable; can be committed.
    Active,
    /// Read-only view of a parent; cannot be committed.
    View,
    /// Immutable; can be a parent.
    Committed,
}

impl Kind {
    /// The lowercase name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Active => "active",
            Kind::View => "view",
            Kind::Committed => "committed",
        }
    }
}

/// What is known about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// Its key (active, view) or name (committed).
    pub name: String,
    /// The committed snapshot it is based on.
    pub parent: Option<String>,
    /// Its state.
    pub kind: Kind,
    /// When it was created (for committed snapshots: when the active one was prepared).
    pub created: SystemTime,
    /// Its labels.
    pub labels: Labels,
}

/// Disk usage of a snapshot's own layer (not its parents').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Bytes of allocated blocks, each inode counted once.
    pub size: u64,
    /// Number of distinct inodes, including directories.
    pub inodes: u64,
}

/// A store of copy-on-write snapshots. Implementations are safe to call from several threads.
pub trait Snapshotter: Send + Sync {
    /// Creates an active snapshot `key` on top of the committed snapshot `parent` (or empty) and returns
    /// the mounts that present it writable. Fails with `AlreadyExists` if `key` is taken and `NotFound`
    /// if `parent` is not a committed snapshot.
    fn prepare(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: Labels,
    ) -> Result<Vec<Mount>, SnapshotError>;

    /// Creates a read-only view `key` of the committed snapshot `parent` (or an empty tree).
    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError>;

    /// The mounts of an existing snapshot: writable for an active one, read-only otherwise.
    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError>;

    /// Commits the active snapshot `key` as the immutable snapshot `name`; `key` no longer exists
    /// afterwards. Fails with `AlreadyExists` if `name` is taken (and then leaves `key` untouched).
    fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError>;

    /// Removes a snapshot and its data. Fails with `HasChildren` (a Conflict) while other snapshots name
    /// it as parent.
    fn remove(&self, key: &str) -> Result<(), SnapshotError>;

    /// What is known about one snapshot.
    fn stat(&self, key: &str) -> Result<Info, SnapshotError>;

    /// Every snapshot, sorted by name.
    fn list(&self) -> Result<Vec<Info>, SnapshotError>;

    /// The disk usage of the snapshot's own layer.
    fn usage(&self, key: &str) -> Result<Usage, SnapshotError>;

    /// The directory holding the writable layer of the active snapshot `key`, where a layer applier
    /// writes (overlay whiteouts and all). Fails with `WrongKind` for other kinds.
    fn upper_dir(&self, key: &str) -> Result<PathBuf, SnapshotError>;
}
