//! Lookups inside a container's root: every path is resolved by the kernel with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from a descriptor of the root, so `..` stops at
//! the root and an absolute symlink target means the root's own `/`, exactly as inside a `chroot`.

use super::CopyError;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// Flags of a lookup that only needs to name a node (stat it, or use it as a directory for `*at`).
pub(super) const LOOKUP: OFlags = OFlags::PATH.union(OFlags::CLOEXEC);
const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);
/// Symlinks followed in one resolution before giving up, as Go's `FollowSymlinkInScope` does.
const MAX_LINKS: usize = 255;
/// `openat2` answers `EAGAIN` when a concurrent rename could have let `..` escape; it is retried.
const MAX_RETRIES: usize = 64;

/// A path as given by the API caller, cleaned the way Docker cleans it (`filepath.Join("/", p)`):
/// lexically, `..` stopping at `/`. Docker then resolves it in the container's scope.
pub(super) struct ContainerPath {
    /// Normal components, after lexical cleaning.
    pub(super) comps: Vec<OsString>,
    /// The path ended with `/` or `/.`: the final component is followed and must be a directory.
    pub(super) trailing: bool,
    /// The path ended with `/.` (or is the root): a directory's contents are meant, not itself.
    pub(super) contents: bool,
}

impl ContainerPath {
    pub(super) fn parse(path: &str) -> ContainerPath {
        let mut comps: Vec<OsString> = Vec::new();
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    comps.pop();
                }
                name => comps.push(name.into()),
            }
        }
        let dot = path == "." || path.ends_with("/.");
        ContainerPath {
            trailing: dot || path.ends_with('/'),
            contents: dot || comps.is_empty(),
            comps,
        }
    }

    /// The path to hand to [`Root::open`].
    pub(super) fn in_root(&self) -> OsString {
        join(&self.comps)
    }

    /// `O_NOFOLLOW` unless the final symlink is to be followed (asked for, or implied by a trailing
    /// `/`).
    pub(super) fn nofollow(&self, follow: bool) -> OFlags {
        if follow || self.trailing {
            OFlags::empty()
        } else {
            OFlags::NOFOLLOW
        }
    }

    /// Docker's `filepath.Base` of the path: its last component, or `/`.
    pub(super) fn base_name(&self) -> String {
        self.comps
            .last()
            .map_or_else(|| "/".to_string(), |c| c.to_string_lossy().into_owned())
    }
}

/// The container's root directory, held open.
pub(super) struct Root {
    fd: OwnedFd,
}

impl Root {
    /// Opens the root itself. It is trusted (the daemon names it), so a magic link such as
    /// `/proc/<pid>/root` is followed here; nothing below it ever is.
    pub(super) fn new(root: &Path) -> Result<Root, CopyError> {
        let fd =
            rustix::fs::open(root, LOOKUP | OFlags::DIRECTORY, Mode::empty()).map_err(|e| {
                CopyError::Io {
                    op: "open container root",
                    path: root.display().to_string(),
                    source: e.into(),
                }
            })?;
        Ok(Root { fd })
    }

    /// Opens `path` (absolute or relative, both meaning from the root) resolved inside the root.
    pub(super) fn open(&self, path: &OsStr, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        let mut tries = 0;
        loop {
            match rustix::fs::openat2(&self.fd, path, flags, Mode::empty(), IN_ROOT) {
                Err(Errno::AGAIN) if tries < MAX_RETRIES => tries += 1,
                other => return other,
            }
        }
    }

    /// Opens the directory at `comps` for use as the parent of `*at` calls.
    pub(super) fn dir(&self, comps: &[OsString]) -> rustix::io::Result<OwnedFd> {
        self.open(&join(comps), LOOKUP | OFlags::DIRECTORY)
    }

    /// Resolves every symlink in `comps` inside the root, the final one included, and returns the
    /// resulting absolute path's components (Docker's `FollowSymlinkInScope`). Components that do
    /// not exist are kept as they are. The answer describes the tree at one instant only: it is for
    /// reporting and for naming, never a licence to open the path without [`Root::open`].
    pub(super) fn resolve(&self, comps: &[OsString]) -> Vec<OsString> {
        let mut done: Vec<OsString> = Vec::new();
        let mut todo: Vec<OsString> = comps.iter().rev().cloned().collect();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            if c.is_empty() || c == "." {
                continue;
            }
            if c == ".." {
                done.pop();
                continue;
            }
            let target = match self.readlink(&done, &c) {
                Some(t) if links < MAX_LINKS => t,
                _ => {
                    done.push(c);
                    continue;
                }
            };
            links += 1;
            if target.as_bytes().starts_with(b"/") {
                done.clear();
            }
            todo.extend(
                target
                    .as_bytes()
                    .split(|&b| b == b'/')
                    .rev()
                    .map(|p| OsString::from_vec(p.to_vec())),
            );
        }
        done
    }

    /// The target of `name` in the directory `parent`, if it is a symlink.
    fn readlink(&self, parent: &[OsString], name: &OsStr) -> Option<OsString> {
        let dir = self.dir(parent).ok()?;
        let target = rustix::fs::readlinkat(&dir, name, Vec::new()).ok()?;
        Some(OsString::from_vec(target.into_bytes()))
    }
}

/// `/a/b` from `[a, b]`; `/` for none.
pub(super) fn join(comps: &[OsString]) -> OsString {
    if comps.is_empty() {
        return "/".into();
    }
    let mut s = OsString::new();
    for c in comps {
        s.push("/");
        s.push(c);
    }
    s
}

/// The absolute in-container path of `comps`, for messages and [`super::PathStat::link_target`].
pub(super) fn display(comps: &[OsString]) -> String {
    join(comps).to_string_lossy().into_owned()
}
