//! One bridge, one owner. Two daemons on different data roots would otherwise share a bridge (both
//! default to `berth0`), and the first to stop would delete it under the other's containers.
//!
//! A daemon claims every bridge it uses with an exclusive `flock` on `/run/berth/bridges/<name>`,
//! which holds the claimer's data root; the kernel drops the lock when the daemon exits, SIGKILL
//! included. A bridge another daemon holds stops this one from starting (or a network create),
//! with a message naming the other data root; a daemon deletes only bridges it holds.

use super::ServiceError;
use nix::fcntl::{Flock, FlockArg};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where the claims live (shared by every daemon on the host, like the shims' sockets): `bridges/`
/// in the run directory (`/run/berth`; a rootless daemon's bridges live in its own network
/// namespace and its claims in its own run directory).
fn claims() -> PathBuf {
    berth_shim::run_dir().join("bridges")
}

/// The bridges this daemon holds.
pub(super) struct BridgeOwners {
    root: PathBuf,
    held: Mutex<HashMap<String, Flock<File>>>,
}

impl BridgeOwners {
    pub(super) fn new(root: &Path) -> BridgeOwners {
        BridgeOwners { root: root.to_path_buf(), held: Mutex::new(HashMap::new()) }
    }

    /// Claims `bridge` for this daemon (a no-op if it already holds it). Fails with a conflict that
    /// names the data root of the daemon holding it.
    pub(super) fn claim(&self, bridge: &str) -> Result<(), ServiceError> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.contains_key(bridge) {
            return Ok(());
        }
        let dir = claims();
        let io = |e: std::io::Error| ServiceError::Internal(format!("claiming bridge {bridge} in {}: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let path = dir.join(bridge);
        let f = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(io)?;
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                lock.set_len(0).map_err(io)?;
                lock.rewind().map_err(io)?;
                lock.write_all(self.root.as_os_str().as_encoded_bytes()).map_err(io)?;
                held.insert(bridge.to_string(), lock);
                Ok(())
            }
            Err((mut f, _)) => {
                let mut other = String::new();
                let _ = f.read_to_string(&mut other);
                Err(ServiceError::Conflict(format!(
                    "bridge {bridge} is in use by the berth daemon with data root {}: give each daemon its own bridge and subnet (--bridge, --bip)",
                    if other.is_empty() { "(unknown)" } else { other.trim() }
                )))
            }
        }
    }

    /// Whether this daemon holds `bridge`.
    pub(super) fn holds(&self, bridge: &str) -> bool {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).contains_key(bridge)
    }

    /// Gives `bridge` up (after deleting it). The file stays: removing it could split a later
    /// claimer's lock from a concurrent one's.
    pub(super) fn release(&self, bridge: &str) {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(bridge);
    }
}
