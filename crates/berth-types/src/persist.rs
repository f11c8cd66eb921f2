//! Crash-safe persistence: the only way Berth writes a state file.
//!
//! A file is written to a temporary sibling, fsynced, renamed over the target and the directory is
//! fsynced, so a crash at any instant leaves either the old or the new content, never a torn file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Atomically replaces `path` with `contents` (temp file in the same directory, fsync, rename, fsync dir).
pub fn atomic_write(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_and_rename(path, contents, true)
}

/// Serializes `value` as pretty JSON and writes it with [`atomic_write`].
pub fn atomic_write_json<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    atomic_write(path, &bytes)
}

/// Replaces `path` with `contents` through a temporary file and a rename, without fsync: readers see
/// the old or the new file, never part of one, but a host crash may lose the change. For runtime
/// files that are written again at every container start and mean nothing after a reboot (a
/// container's hosts file, its OCI spec, the shim's state): their fsyncs cost a container start
/// several milliseconds of disk flushes for nothing. A daemon crash loses nothing (the page cache
/// survives it).
pub fn replace_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    write_and_rename(path, contents, false)
}

/// Writes a temporary file beside `path` and renames it over `path`; with `durable`, fsyncs the
/// file before and its directory after the rename.
fn write_and_rename(path: &Path, contents: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    if durable {
        create_dir_all_synced(dir)?;
    } else {
        fs::create_dir_all(dir)?;
    }
    let mut tmp = tempfile_in(dir, path)?;
    let result = (|| {
        tmp.1.write_all(contents)?;
        if durable {
            tmp.1.sync_all()?;
        }
        fs::rename(&tmp.0, path)?;
        if durable {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp.0);
    }
    result
}

/// Serializes `value` as pretty JSON and writes it with [`replace_file`].
pub fn replace_file_json<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    replace_file(path, &bytes)
}

/// Creates `dir` and its missing parents durably: each directory made is fsynced into its parent,
/// so a rename into `dir` that is itself fsynced cannot vanish with a directory entry a host crash
/// lost (`create_dir_all` alone leaves the new entries in the page cache).
pub fn create_dir_all_synced(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.exists() {
        missing.push(cur);
        match cur.parent() {
            Some(p) if !p.as_os_str().is_empty() => cur = p,
            _ => break,
        }
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
    }
    Ok(())
}

/// Fsyncs a directory so a rename inside it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn tempfile_in(dir: &Path, target: &Path) -> io::Result<(std::path::PathBuf, File)> {
    let stem = target.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    for _ in 0..16 {
        let name = format!(".{stem}.tmp-{}", &crate::random_id()[..12]);
        let p = dir.join(name);
        match fs::OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "could not create a temporary file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        atomic_write(&p, b"first version, long").unwrap();
        atomic_write(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "temp files left: {names:?}");
    }

    #[test]
    fn create_dir_all_synced_makes_every_missing_parent() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all_synced(&deep).unwrap();
        assert!(deep.is_dir());
        create_dir_all_synced(&deep).unwrap();
    }
}
