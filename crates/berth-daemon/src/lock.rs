//! One daemon per data root: an exclusive, non-blocking `flock` on `<data-root>/berth.lock`, held for
//! the daemon's life and released by the kernel even if the daemon is killed.

use crate::DaemonError;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::Path;

/// Holds the lock until dropped.
pub struct DataRootLock {
    _lock: Flock<File>,
}

impl DataRootLock {
    /// Takes the lock or fails at once with [`DaemonError::Locked`].
    pub fn acquire(root: &Path) -> Result<DataRootLock, DaemonError> {
        let path = root.join("berth.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| DaemonError::Io { op: "open", path: path.clone(), source })?;
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(DataRootLock { _lock: l }),
            Err((_, _)) => Err(DaemonError::Locked(root.to_path_buf())),
        }
    }
}
