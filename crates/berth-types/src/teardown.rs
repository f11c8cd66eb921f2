//! Removing directory trees under a data root without ever reaching outside it.
//!
//! A tree Berth removes (a container's directory, `tmp/`, build scratch, a snapshot, a volume) may
//! still have something mounted below it: a bind of a host directory left by a daemon killed
//! mid-`docker cp`, a volume's `device=` bind, an overlay. `std::fs::remove_dir_all` walks into
//! such a mount and deletes the *host's* files. [`remove_tree`] therefore
//!
//! 1. walks the tree with `openat2(RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS)` per directory, so a
//!    mount is never entered — this also catches bind mounts of the same filesystem, which an
//!    `st_dev` comparison would miss — and unlinks with `unlinkat`, which never follows a symlink;
//! 2. only if that walk met a mount point (`EXDEV` opening a directory, `EBUSY` unlinking one):
//!    detaches every mount at or below the tree (from `/proc/self/mountinfo`, deepest first,
//!    `MNT_DETACH`) and walks again.
//!
//! Reading `/proc/self/mountinfo` costs the kernel a line per mount on the host (thousands with
//! many running containers), so a tree without mounts — nearly every removal — is removed without
//! it. What cannot be removed that way stays, and the error names it.

use rustix::fs::{openat2, unlinkat, AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Removes `path` and everything below it, never crossing into another mount (see the module
/// doc). A missing `path` is not an error; a symlink or file at `path` is unlinked, never followed.
pub fn remove_tree(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(with_path(e, path)),
    };
    if !meta.is_dir() {
        return match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(e, path)),
            _ => Ok(()),
        };
    }
    let (parent, name) = split(path)?;
    let parent_fd = rustix::fs::open(&parent, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| with_path(e.into(), &parent))?;
    match remove_walk(parent_fd.as_fd(), &name, path) {
        Walk::Done(result) => result,
        Walk::MetMount => {
            detach_mounts_under(path)?;
            match remove_walk(parent_fd.as_fd(), &name, path) {
                Walk::Done(result) => result,
                Walk::MetMount => Err(mount_point(path)),
            }
        }
    }
}

/// How one walk of [`remove_tree`] ended.
enum Walk {
    /// Removed, or failed for a reason other than a mount.
    Done(io::Result<()>),
    /// Stopped at a mount point (the rest was removed).
    MetMount,
}

/// Removes directory `name` in `parent` (named `path` in errors) and everything below it that is
/// not behind a mount point.
fn remove_walk(parent: rustix::fd::BorrowedFd<'_>, name: &CString, path: &Path) -> Walk {
    let root = match open_dir_beneath(parent, name) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Walk::Done(Ok(())),
        Err(Errno::XDEV) => return Walk::MetMount,
        Err(e) => return Walk::Done(Err(with_path(e.into(), path))),
    };
    let mut first_error = None;
    let mut met_mount = false;
    empty_dir(root, path, &mut first_error, &mut met_mount);
    match unlinkat(parent, name.as_c_str(), AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(Errno::BUSY) => met_mount = true,
        Err(e) => {
            first_error.get_or_insert_with(|| with_path(e.into(), path));
        }
    }
    if met_mount {
        return Walk::MetMount;
    }
    Walk::Done(first_error.map_or(Ok(()), Err))
}

/// Allocated bytes under `p` (as `du` counts them), not following symlinks or crossing into other
/// filesystems: what removing the tree gives back.
pub fn allocated_bytes(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fn walk(p: &Path, dev: u64) -> u64 {
        let Ok(md) = std::fs::symlink_metadata(p) else { return 0 };
        if md.dev() != dev {
            return 0;
        }
        let own = md.blocks() * 512;
        if !md.is_dir() {
            return own;
        }
        own + std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| walk(&e.path(), dev)).sum()).unwrap_or(0)
    }
    std::fs::symlink_metadata(p).map(|m| walk(p, m.dev())).unwrap_or(0)
}

/// Detaches (`MNT_DETACH`) every mount whose mount point is `path` or below it, deepest first, as
/// `/proc/self/mountinfo` lists them. Returns the mount points it detached.
pub fn detach_mounts_under(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut points = mounts_under(path)?;
    // Deepest first: a parent detached first would take its children along out of our sight, and
    // they would stay mounted (and alive) wherever else they are referenced.
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    let mut detached = Vec::new();
    for p in points {
        match rustix::mount::unmount(&p, rustix::mount::UnmountFlags::DETACH) {
            Ok(()) => detached.push(p),
            // Gone already (a parent's detach, a concurrent unmount).
            Err(Errno::INVAL) | Err(Errno::NOENT) => {}
            Err(e) => return Err(io::Error::new(io::Error::from(e).kind(), format!("detaching the mount at {}: {e}", p.display()))),
        }
    }
    Ok(detached)
}

/// The mount points at or below `path` (as the kernel spells them; `path` is canonicalised first).
pub fn mounts_under(path: &Path) -> io::Result<Vec<PathBuf>> {
    let base = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(with_path(e, path)),
    };
    let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| with_path(e, Path::new("/proc/self/mountinfo")))?;
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(&base))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Decodes a `/proc/self/mountinfo` field: the kernel escapes space, tab, newline and backslash as `\ooo`.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn split(path: &Path) -> io::Result<(PathBuf, CString)> {
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{}: no file name to remove", path.display())))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(name)).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    Ok((parent, name))
}

/// Opens directory `name` in `dir` for reading, refusing symlinks and mount points (`EXDEV`).
fn open_dir_beneath(dir: impl AsFd, name: &CString) -> Result<OwnedFd, Errno> {
    openat2(
        dir,
        name.as_c_str(),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_XDEV | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::BENEATH,
    )
}

fn mount_point(path: &Path) -> io::Error {
    io::Error::other(format!("{} is a mount point: not removed", path.display()))
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("removing {}: {e}", path.display()))
}

/// Removes everything in the open directory `root` (named `path` in errors) without recursion on
/// the call stack (a hostile tree may be deep), keeping the first error and going on with the rest.
/// A mount point met (a directory it cannot enter, an entry `EBUSY` to unlink) sets `met_mount`.
fn empty_dir(root: OwnedFd, path: &Path, first_error: &mut Option<io::Error>, met_mount: &mut bool) {
    let Ok(dir) = Dir::new(root) else {
        first_error.get_or_insert_with(|| io::Error::other(format!("reading {}", path.display())));
        return;
    };
    // (directory being emptied, its name in the directory below it on the stack, its path for errors)
    let mut stack: Vec<(Dir, Option<CString>, PathBuf)> = vec![(dir, None, path.to_path_buf())];
    while !stack.is_empty() {
        let top = stack.len() - 1;
        let next = stack[top].0.read();
        let entry = match next {
            None => {
                let (_, name, at) = stack.pop().expect("the stack is not empty");
                if let (Some(name), Some((parent, _, _))) = (name, stack.last()) {
                    let removed = parent.fd().map_err(io::Error::from).and_then(|fd| match unlinkat(fd, name.as_c_str(), AtFlags::REMOVEDIR) {
                        Ok(()) | Err(Errno::NOENT) => Ok(()),
                        Err(Errno::BUSY) => {
                            *met_mount = true;
                            Ok(())
                        }
                        Err(e) => Err(e.into()),
                    });
                    if let Err(e) = removed {
                        first_error.get_or_insert_with(|| with_path(e, &at));
                    }
                }
                continue;
            }
            Some(Err(e)) => {
                let (_, _, at) = stack.pop().expect("the stack is not empty");
                first_error.get_or_insert_with(|| with_path(e.into(), &at));
                continue;
            }
            Some(Ok(entry)) => entry,
        };
        let name = entry.file_name().to_owned();
        if name.as_bytes() == b"." || name.as_bytes() == b".." {
            continue;
        }
        let (dir, _, at) = &stack[top];
        let child = at.join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.as_bytes()));
        let Ok(fd) = dir.fd() else { continue };
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            FileType::Unknown => rustix::fs::statat(fd, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory),
            _ => false,
        };
        if !is_dir {
            match unlinkat(fd, name.as_c_str(), AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => {}
                // A file bind-mounted over this one.
                Err(Errno::BUSY) => *met_mount = true,
                Err(e) => {
                    first_error.get_or_insert_with(|| with_path(e.into(), &child));
                }
            }
            continue;
        }
        match open_dir_beneath(fd, &name).map(Dir::new) {
            Ok(Ok(d)) => stack.push((d, Some(name), child)),
            Ok(Err(e)) => {
                first_error.get_or_insert_with(|| with_path(e.into(), &child));
            }
            Err(Errno::NOENT) => {}
            Err(Errno::XDEV) => {
                *met_mount = true;
                first_error.get_or_insert_with(|| mount_point(&child));
            }
            Err(e) => {
                first_error.get_or_insert_with(|| with_path(e.into(), &child));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_decodes_mountinfo_octal() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn remove_tree_removes_deep_trees_and_does_not_follow_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("tree");
        let mut deep = root.clone();
        for i in 0..300 {
            deep = deep.join(format!("d{i}"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("f"), b"y").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), deep.join("link")).unwrap();
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert!(outside.path().join("keep").exists());
        remove_tree(&root).unwrap();
    }

    #[test]
    fn remove_tree_unlinks_a_symlink_at_the_top_without_following_it() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), b"x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        remove_tree(&link).unwrap();
        assert!(link.symlink_metadata().is_err());
        assert!(outside.path().join("keep").exists());
    }

    /// A bind of a host directory inside the tree (what a daemon killed mid-`docker cp` leaves).
    fn tree_with_bind(outside: &Path, dir: &Path) -> PathBuf {
        std::fs::write(outside.join("canary"), b"host data").unwrap();
        let root = dir.join("tmp");
        let target = root.join("rootfs-1").join("data");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(root.join("rootfs-1").join("file"), b"scratch").unwrap();
        rustix::mount::mount_bind(outside, &target).unwrap();
        target
    }

    #[test]
    fn remove_tree_detaches_bind_mounts_and_keeps_their_files() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = tree_with_bind(outside.path(), dir.path());
        let result = remove_tree(dir.path().join("tmp"));
        let _ = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH);
        result.unwrap();
        assert!(!dir.path().join("tmp").exists());
        assert_eq!(std::fs::read(outside.path().join("canary")).unwrap(), b"host data");
    }

    #[test]
    fn remove_tree_detaches_a_file_bind_and_a_mount_at_the_top() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("hosts"), b"host file").unwrap();
        let dir = tempfile::tempdir().unwrap();
        // A file bound over one in the tree (unlink: EBUSY), and the tree's root a mount itself (EXDEV).
        let root = dir.path().join("tree");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        rustix::mount::mount_bind(&root, &root).unwrap();
        std::fs::write(root.join("etc/hosts"), b"scratch").unwrap();
        rustix::mount::mount_bind(outside.path().join("hosts"), root.join("etc/hosts")).unwrap();
        let result = remove_tree(&root);
        let _ = rustix::mount::unmount(root.join("etc/hosts"), rustix::mount::UnmountFlags::DETACH);
        let _ = rustix::mount::unmount(&root, rustix::mount::UnmountFlags::DETACH);
        result.unwrap();
        assert!(!root.exists());
        assert_eq!(std::fs::read(outside.path().join("hosts")).unwrap(), b"host file");
        assert!(mounts_under(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn the_walk_never_enters_a_mount_it_meets() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = tree_with_bind(outside.path(), dir.path());
        // Without the detach step: the walk alone must refuse to cross.
        let root = rustix::fs::open(dir.path().join("tmp"), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        let (mut err, mut met_mount) = (None, false);
        empty_dir(root, &dir.path().join("tmp"), &mut err, &mut met_mount);
        assert!(met_mount);
        let _ = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH);
        let err = err.expect("the walk reports the mount point").to_string();
        assert!(err.contains("is a mount point"), "{err}");
        assert_eq!(std::fs::read(outside.path().join("canary")).unwrap(), b"host data");
        assert!(!dir.path().join("tmp/rootfs-1/file").exists());
    }
}
