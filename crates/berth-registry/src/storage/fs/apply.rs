//! The filesystem driver's batched writes ([`StorageDriver::apply`](super::StorageDriver::apply)):
//! what is fsynced when, and why a blob commit costs two rounds of fsync rather than ten.
//!
//! A group of writes runs in three steps:
//! 1. contents: each `Put` (and `Concat`) is written to a temp file beside its destination, and every such temp
//!    file and every `Move` source is fsynced — in parallel, so on a journaling filesystem they share
//!    one journal commit. Nothing is visible yet;
//! 2. names, in order: renames into place (creating missing directories), and `Mark`s rewritten
//!    without fsync;
//! 3. directories: every directory that got a new name in step 2 (the destinations' parents, and the
//!    parent of every directory created) is fsynced once, again in parallel.
//!
//! So no name ever points at bytes that are not durable (a host crash leaves the old name or the new
//! one with all its bytes), and when `apply` returns every write of the group is durable. Across
//! groups, step 3 of one ends before step 2 of the next begins.

use bytes::Bytes;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// A write with its paths resolved under the root.
pub(super) enum Op {
    Put(PathBuf, Bytes),
    Move(PathBuf, PathBuf),
    Mark(PathBuf),
    Concat(Vec<PathBuf>, PathBuf),
}

/// The path an error happened at, and the error.
pub(super) type Failed = (PathBuf, io::Error);

/// How many fsyncs run at once: enough for a manifest's links and tag, few enough not to flood the
/// disk queue with a large batch.
const PARALLEL_SYNCS: usize = 16;

pub(super) fn apply(groups: Vec<Vec<Op>>) -> Result<(), Failed> {
    for ops in groups {
        apply_group(ops)?;
    }
    Ok(())
}

fn apply_group(ops: Vec<Op>) -> Result<(), Failed> {
    let mut new_dirs = Vec::new();
    let mut temps = TempFiles(vec![None; ops.len()]);
    // 1. Contents.
    let mut files = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Put(dest, content) => {
                let (tmp, mut f) = in_dir(dest, &mut new_dirs, |dir| temp_file(dir, dest))?;
                temps.0[i] = Some(tmp.clone());
                f.write_all(content).map_err(|e| (tmp.clone(), e))?;
                files.push((tmp, f));
            }
            Op::Concat(parts, dest) => {
                let (tmp, mut f) = in_dir(dest, &mut new_dirs, |dir| temp_file(dir, dest))?;
                temps.0[i] = Some(tmp.clone());
                for p in parts {
                    // File to file: the kernel copies (copy_file_range), no pass through this process.
                    let mut r = File::open(p).map_err(|e| (p.clone(), e))?;
                    io::copy(&mut r, &mut f).map_err(|e| (tmp.clone(), e))?;
                }
                files.push((tmp, f));
            }
            Op::Move(src, _) => files.push((src.clone(), File::open(src).map_err(|e| (src.clone(), e))?)),
            Op::Mark(_) => {}
        }
    }
    sync_parallel(files)?;
    // 2. Names.
    let mut dirs = BTreeSet::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Put(dest, _) | Op::Concat(_, dest) => {
                let tmp = temps.0[i].clone().expect("written in step 1");
                // The temp file's directory is the destination's, so only GC's pruning of an empty
                // directory can make it vanish, and not with the temp file in it.
                fs::rename(&tmp, dest).map_err(|e| (dest.clone(), e))?;
                temps.0[i] = None;
                dirs.insert(parent(dest).to_path_buf());
            }
            Op::Move(src, dest) => {
                in_dir(dest, &mut new_dirs, |_| fs::rename(src, dest)).map_err(|(_, e)| {
                    // `src` was opened in step 1, so a NotFound is about `src` only if it went since.
                    if e.kind() == io::ErrorKind::NotFound && !src.exists() { (src.clone(), e) } else { (dest.clone(), e) }
                })?;
                dirs.insert(parent(dest).to_path_buf());
            }
            Op::Mark(dest) => {
                let (tmp, f) = in_dir(dest, &mut new_dirs, |dir| temp_file(dir, dest))?;
                drop(f);
                let r = fs::rename(&tmp, dest);
                if r.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                r.map_err(|e| (dest.clone(), e))?;
            }
        }
    }
    // 3. Directories: each new name's, and each new directory's entry in its parent.
    dirs.extend(new_dirs.iter().map(|d| parent(d).to_path_buf()));
    let mut opened = Vec::with_capacity(dirs.len());
    for d in dirs {
        let f = File::open(&d).map_err(|e| (d.clone(), e))?;
        opened.push((d, f));
    }
    sync_parallel(opened)
}

/// Runs `op` in `dest`'s directory after creating it and its missing parents (recorded in
/// `new_dirs`), again if GC pruned the directory in between (it removes only empty ones).
fn in_dir<T>(dest: &Path, new_dirs: &mut Vec<PathBuf>, mut op: impl FnMut(&Path) -> io::Result<T>) -> Result<T, Failed> {
    let dir = parent(dest);
    let mut tries = 0;
    loop {
        create_dirs(dir, new_dirs).map_err(|e| (dir.to_path_buf(), e))?;
        match op(dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 && !dir.is_dir() => tries += 1,
            r => return r.map_err(|e| (dest.to_path_buf(), e)),
        }
    }
}

fn parent(p: &Path) -> &Path {
    p.parent().unwrap_or_else(|| Path::new("."))
}

/// Creates `dir` and its missing parents, recording each one created.
fn create_dirs(dir: &Path, new_dirs: &mut Vec<PathBuf>) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.exists() {
        missing.push(cur.to_path_buf());
        match cur.parent() {
            Some(p) if !p.as_os_str().is_empty() => cur = p,
            _ => break,
        }
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(&d) {
            Ok(()) => new_dirs.push(d),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A new temp file in `dir` named after `dest` (dot-prefixed, so `list` never shows it).
pub(super) fn temp_file(dir: &Path, dest: &Path) -> io::Result<(PathBuf, File)> {
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    loop {
        let tmp = dir.join(format!(".{name}.{}.tmp", &berth_types::random_id()[..12]));
        match fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Fsyncs every file, up to [`PARALLEL_SYNCS`] at once.
fn sync_parallel(files: Vec<(PathBuf, File)>) -> Result<(), Failed> {
    for chunk in files.chunks(PARALLEL_SYNCS) {
        match chunk {
            [] => {}
            [(p, f)] => f.sync_all().map_err(|e| (p.clone(), e))?,
            [(p, f), rest @ ..] => std::thread::scope(|s| {
                let others: Vec<_> = rest.iter().map(|(p, f)| s.spawn(move || f.sync_all().map_err(|e| (p.clone(), e)))).collect();
                let mut r = f.sync_all().map_err(|e| (p.clone(), e));
                for h in others {
                    let joined = h.join().unwrap_or_else(|_| Err((p.clone(), io::Error::other("fsync thread panicked"))));
                    r = r.and(joined);
                }
                r
            })?,
        }
    }
    Ok(())
}

/// Temp files of a group not yet renamed into place, removed when the group fails.
struct TempFiles(Vec<Option<PathBuf>>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in self.0.iter().flatten() {
            let _ = fs::remove_file(p);
        }
    }
}
