//! Container directories that no record owns: a `create` that died before it wrote the record.
//! Reaped at start-up, before the API serves anything, unless a mount still uses them (then they are
//! reported by `system check` instead). (Build step directories, `builds/<id>`, are emptied by
//! `service::recovery` at start-up.)

use super::mountinfo::{self, MountEntry};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Container directories under `<root>/containers` that hold no `container.json` and whose id is
/// not in `known`.
pub fn orphan_container_dirs(root: &Path, known: &HashSet<String>) -> Vec<PathBuf> {
    let dir = root.join("containers");
    let Ok(rd) = std::fs::read_dir(&dir) else { return Vec::new() };
    rd.flatten()
        .filter(|e| !known.contains(e.file_name().to_string_lossy().as_ref()))
        .map(|e| e.path())
        .filter(|p| !p.join("container.json").exists())
        .collect()
}

/// Removes `dir` unless something is mounted in it; returns the bytes it took, or None if kept.
pub fn reap(dir: &Path, mounts: &[MountEntry]) -> Option<u64> {
    if mountinfo::in_use(mounts, dir) {
        tracing::warn!(path = %dir.display(), "orphaned directory is still mounted; kept");
        return None;
    }
    let bytes = berth_types::teardown::allocated_bytes(dir);
    // Never crosses into a mount (one could appear after the check above).
    match berth_types::teardown::remove_tree(dir) {
        Ok(()) => {
            tracing::info!(path = %dir.display(), bytes, "orphaned directory removed");
            Some(bytes)
        }
        Err(error) => {
            tracing::warn!(path = %dir.display(), %error, "could not remove orphaned directory");
            None
        }
    }
}

/// Reaps every orphaned container directory; returns the bytes freed.
pub fn reap_all(root: &Path, known: &HashSet<String>) -> u64 {
    let mounts = mountinfo::mounts();
    orphan_container_dirs(root, known).iter().filter_map(|d| reap(d, &mounts)).sum()
}

