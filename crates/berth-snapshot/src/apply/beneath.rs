//! File operations confined beneath one directory, immune to `..` and symlinks.
//!
//! A hostile layer can plant `a -> /etc` and then write `a/passwd` (CVE-2018-15664-style escapes,
//! CVE-2019-14271). So no path is ever joined into a string and opened: every directory is reached
//! from the root's file descriptor with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, and the final
//! name is then created, replaced or linked relative to its parent's descriptor, never following it.

use rustix::fs::{AtFlags, Mode, OFlags, ResolveFlags};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::RDONLY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);

/// Why a path from an archive was refused before touching the filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathRefusal {
    Absolute,
    ParentComponent,
}

impl PathRefusal {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            PathRefusal::Absolute => "absolute path",
            PathRefusal::ParentComponent => "path contains '..'",
        }
    }
}

/// Splits an archive path into its normal components, refusing absolute paths and `..`.
/// `.` components are dropped, so `./` names the root (an empty list).
pub(crate) fn components(path: &Path) -> Result<Vec<OsString>, PathRefusal> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(PathRefusal::Absolute),
            Component::ParentDir => return Err(PathRefusal::ParentComponent),
        }
    }
    Ok(out)
}

/// A directory that every operation stays beneath.
pub(crate) struct Beneath {
    root: OwnedFd,
}

impl Beneath {
    /// Opens `dir` (trusted: the caller's own directory, symlinks in it are followed).
    pub(crate) fn open(dir: &Path) -> io::Result<Beneath> {
        let root = rustix::fs::open(
            dir,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Beneath { root })
    }

    /// The root's descriptor.
    pub(crate) fn root(&self) -> &OwnedFd {
        &self.root
    }

    /// Opens the directory at `comps` below the root without following any symlink, creating missing
    /// directories (mode 0755, as tar extractors do for implied parents) when `create` is set.
    /// A symlink on the way fails with `ELOOP`, a non-directory with `ENOTDIR`.
    pub(crate) fn dir(&self, comps: &[OsString], create: bool) -> io::Result<OwnedFd> {
        if comps.is_empty() {
            return Ok(rustix::fs::openat(
                &self.root,
                ".",
                DIR_FLAGS,
                Mode::empty(),
            )?);
        }
        let joined = join(comps);
        match rustix::fs::openat2(
            &self.root,
            joined.as_os_str(),
            DIR_FLAGS,
            Mode::empty(),
            RESOLVE,
        ) {
            Ok(fd) => return Ok(fd),
            Err(rustix::io::Errno::NOENT) if create => {}
            Err(e) => return Err(e.into()),
        }
        // Slow path: walk one component at a time, creating what is missing.
        let mut cur = rustix::fs::openat(&self.root, ".", DIR_FLAGS, Mode::empty())?;
        for name in comps {
            cur = match open_child_dir(&cur, name) {
                Err(rustix::io::Errno::NOENT) => {
                    match rustix::fs::mkdirat(&cur, name.as_os_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(e.into()),
                    }
                    open_child_dir(&cur, name)?
                }
                other => other?,
            };
        }
        Ok(cur)
    }
}

/// Opens the directory `name` in `parent`, refusing a symlink (`ELOOP`) or a non-directory.
pub(crate) fn open_child_dir(parent: &OwnedFd, name: &OsStr) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat2(parent, name, DIR_FLAGS, Mode::empty(), RESOLVE)
}

fn join(comps: &[OsString]) -> OsString {
    let mut s = OsString::new();
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            s.push("/");
        }
        s.push(c);
    }
    s
}

/// What [`remove_existing`] found at a name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Existing {
    Nothing,
    /// A directory that was kept because the caller merges into it.
    KeptDir,
    Removed,
}

/// Removes whatever is at `name` in `parent` (a whole tree for a directory), unless it is a directory
/// and `keep_dir` is set. Never follows a symlink.
pub(crate) fn remove_existing(
    parent: &OwnedFd,
    name: &OsStr,
    keep_dir: bool,
) -> io::Result<Existing> {
    let st = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(Existing::Nothing),
        Err(e) => return Err(e.into()),
    };
    if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
        if keep_dir {
            return Ok(Existing::KeptDir);
        }
        remove_tree(parent, name)?;
    } else {
        rustix::fs::unlinkat(parent, name, AtFlags::empty())?;
    }
    Ok(Existing::Removed)
}

/// Deletes the directory `name` in `parent` and everything below it, descending by descriptor.
fn remove_tree(parent: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let dir = open_child_dir(parent, name)?;
    let mut children = Vec::new();
    for entry in rustix::fs::Dir::read_from(&dir)? {
        let entry = entry?;
        let child = OsStr::from_bytes(entry.file_name().to_bytes());
        if child != "." && child != ".." {
            children.push(child.to_os_string());
        }
    }
    for child in children {
        remove_existing(&dir, &child, false)?;
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// The `/proc/self/fd/<parent>/<name>` path of a node, for the calls (`lsetxattr`) that have no `*at`
/// form. The kernel resolves the descriptor link to the directory itself, and the final name is not
/// followed by `l*` calls, so the path cannot escape.
pub(crate) fn proc_path(parent: &impl AsFd, name: &OsStr) -> std::path::PathBuf {
    use std::os::fd::AsRawFd;
    Path::new("/proc/self/fd")
        .join(parent.as_fd().as_raw_fd().to_string())
        .join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_refuse_absolute_and_parent_paths() {
        assert_eq!(
            components(Path::new("/etc/passwd")),
            Err(PathRefusal::Absolute)
        );
        assert_eq!(
            components(Path::new("a/../../evil")),
            Err(PathRefusal::ParentComponent)
        );
        assert_eq!(
            components(Path::new("./a//b/")).unwrap(),
            vec![OsString::from("a"), OsString::from("b")]
        );
        assert!(components(Path::new("./")).unwrap().is_empty());
    }

    #[test]
    fn dir_refuses_symlink_components() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink("real", tmp.path().join("link")).unwrap();
        let b = Beneath::open(tmp.path()).unwrap();
        let err = b
            .dir(&[OsString::from("link"), OsString::from("x")], true)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc_eloop()));
        assert!(!tmp.path().join("real/x").exists());
    }

    fn libc_eloop() -> i32 {
        rustix::io::Errno::LOOP.raw_os_error()
    }
}
