//! Errors of the snapshotters.

use berth_types::error::{ErrorKind, HasKind};
use std::io;
use std::path::PathBuf;

/// Why a snapshotter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// No snapshot has this key or name.
    #[error("snapshot {key:?} not found")]
    NotFound {
        /// The key that was looked up.
        key: String,
    },
    /// A snapshot with this key or name exists already.
    #[error("snapshot {key:?} already exists")]
    AlreadyExists {
        /// The key that is taken.
        key: String,
    },
    /// The snapshot has children, so it cannot be removed.
    #[error("snapshot {key:?} has {children} child snapshot(s)")]
    HasChildren {
        /// The snapshot that was to be removed.
        key: String,
        /// How many snapshots name it as parent.
        children: usize,
    },
    /// The snapshot is not of the kind the operation needs (e.g. committing a view).
    #[error("snapshot {key:?} is {actual}, expected {expected}")]
    WrongKind {
        /// The snapshot.
        key: String,
        /// Its kind.
        actual: &'static str,
        /// The kind the operation needs.
        expected: &'static str,
    },
    /// A key or name is empty or too long.
    #[error("invalid snapshot key {key:?}")]
    InvalidKey {
        /// The rejected key.
        key: String,
    },
    /// The root path contains a character that cannot appear in overlay options.
    #[error("snapshotter root {path:?} contains ',' or ':' or is not valid UTF-8")]
    InvalidRoot {
        /// The rejected root.
        path: PathBuf,
    },
    /// The parent chain is so deep that the overlay mount data would exceed one page.
    #[error("snapshot {key:?} needs {len} bytes of mount data, more than the kernel's {max}")]
    ChainTooDeep {
        /// The snapshot being created.
        key: String,
        /// The data length it would need.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Another process holds the root's lock.
    #[error("snapshotter root {path:?} is locked by another process")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The metadata file has a format version this build does not know.
    #[error("metadata {path:?} has unsupported version {version}")]
    UnsupportedVersion {
        /// The metadata file.
        path: PathBuf,
        /// Its version.
        version: u32,
    },
    /// The metadata file is not valid JSON of the expected shape.
    #[error("metadata {path:?} is corrupt")]
    CorruptMetadata {
        /// The metadata file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The metadata journal is damaged other than by an interrupted last append.
    #[error("metadata journal {path:?} is corrupt at line {line}: {reason}")]
    CorruptJournal {
        /// The journal file.
        path: PathBuf,
        /// The first bad line (1-based).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{op} {path:?}")]
    Io {
        /// What was being done (`create`, `rename`, `remove`, …).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl SnapshotError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> SnapshotError {
        let path = path.into();
        move |source| SnapshotError::Io { op, path, source }
    }
}

impl HasKind for SnapshotError {
    fn kind(&self) -> ErrorKind {
        match self {
            SnapshotError::NotFound { .. } => ErrorKind::NotFound,
            SnapshotError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            SnapshotError::HasChildren { .. } | SnapshotError::WrongKind { .. } => {
                ErrorKind::Conflict
            }
            SnapshotError::InvalidKey { .. }
            | SnapshotError::InvalidRoot { .. }
            | SnapshotError::ChainTooDeep { .. } => ErrorKind::InvalidArgument,
            SnapshotError::Locked { .. } => ErrorKind::Unavailable,
            SnapshotError::UnsupportedVersion { .. }
            | SnapshotError::CorruptMetadata { .. }
            | SnapshotError::CorruptJournal { .. }
            | SnapshotError::Io { .. } => ErrorKind::Internal,
        }
    }
}
