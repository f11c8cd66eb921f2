//! `PUT /containers/{id}/archive`: a tar extracted into a directory of the container (and, with the
//! destination itself as the root, the host side of `berth cp`).

use super::resolve::{self, ContainerPath, Root, LOOKUP};
use super::CopyError;
use crate::apply::beneath::{components, remove_existing};
use crate::apply::{
    create_node, entry_kind, is_gone, link_node, link_target, op_error, read_attrs, times,
    ApplyError,
};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use std::ffi::OsString;
use std::io::Read;
use berth_types::idmap::IdMappings;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// How [`extract`] writes what it unpacks.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Docker's `noOverwriteDirNonDir`: refuse to replace a directory by a non-directory, or a
    /// non-directory by a directory, instead of replacing it.
    pub no_overwrite_dir_non_dir: bool,
    /// Keep the archive's numeric uid/gid (`docker cp -a`, the API's `copyUIDGID`); otherwise every
    /// node is owned by [`ExtractOptions::owner`].
    pub preserve_owner: bool,
    /// The container's root user and group (uid, gid): the owner of every node unless
    /// `preserve_owner`, and always of parent directories the archive implies but does not contain.
    pub owner: (u32, u32),
    /// `(from, to)`: entries whose path starts with the components of `from` get `to` instead, as
    /// Docker's `RebaseArchiveEntries` does when `docker cp a ctr:/dst/b` names a new `b`.
    pub rebase: Option<(String, String)>,
    /// The maps of a remapped container: kept owners (`preserve_owner`) are the container's ids,
    /// written as the host ids they map to; an id outside the maps is refused (dockerd's
    /// "Container ID … cannot be mapped to a host ID"). `owner` is already a host pair.
    pub ids: Option<IdMappings>,
}

/// Extracts the uncompressed tar read from `r` into the directory `dir` of the container root
/// `root`.
///
/// `dir` is resolved inside the root, symlinks (the final one included) followed; it must exist and
/// be a directory ([`CopyError::NotFound`], [`CopyError::NotADirectory`]). Entry names are relative
/// to it: absolute names and `..` are [`CopyError::Refused`] before anything is written for them.
/// A symlink among an entry's parents is followed inside the root (a container's `a -> /etc` makes
/// `a/x` land in the container's `/etc`, as with Docker's chrooted untar), never out of it. Missing
/// parents are created (0755). An existing node is unlinked and replaced, never written through;
/// a directory over a directory merges (its metadata applied). Hard links may only name nodes
/// inside the root. A `./` entry (the destination itself) is skipped, as Docker does. After an
/// error the destination holds the entries extracted so far.
pub fn extract(
    root: &Path,
    dir: &str,
    r: impl Read,
    opts: &ExtractOptions,
) -> Result<(), CopyError> {
    let root = Root::new(root)?;
    let p = ContainerPath::parse(dir);
    let base = root.resolve(&p.comps);
    let fd = root
        .open(&resolve::join(&base), LOOKUP)
        .map_err(|e| CopyError::lookup(dir, e))?;
    let st = rustix::fs::fstat(&fd).map_err(|e| CopyError::io("stat", dir)(e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(CopyError::NotADirectory(dir.to_string()));
    }
    let rebase = match &opts.rebase {
        Some((from, to)) => Some((rebase_part(from)?, rebase_part(to)?)),
        None => None,
    };
    let mut ex = Extractor {
        root,
        base,
        opts,
        rebase,
        dir_times: Vec::new(),
    };
    let mut archive = tar::Archive::new(r);
    let entries = archive
        .entries()
        .map_err(|source| ApplyError::Read { source })?;
    for entry in entries {
        let mut entry = entry.map_err(|source| ApplyError::Read { source })?;
        ex.entry(&mut entry)?;
    }
    ex.set_dir_times()
}

/// One side of [`ExtractOptions::rebase`]: a relative path of at least one component.
fn rebase_part(s: &str) -> Result<Vec<OsString>, CopyError> {
    match components(Path::new(s)) {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(CopyError::Refused(format!(
            "invalid rebase name {s:?}: empty"
        ))),
        Err(r) => Err(CopyError::Refused(format!(
            "invalid rebase name {s:?}: {}",
            r.reason()
        ))),
    }
}

struct Extractor<'a> {
    root: Root,
    /// The destination directory, resolved once: components from the root.
    base: Vec<OsString>,
    opts: &'a ExtractOptions,
    rebase: Option<(Vec<OsString>, Vec<OsString>)>,
    /// Directories extracted, with their archive path and mtime: set last, since creating entries
    /// inside a directory bumps its mtime.
    dir_times: Vec<(Vec<OsString>, PathBuf, u64)>,
}

impl Extractor<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), CopyError> {
        let path = entry
            .path()
            .map_err(|source| ApplyError::Read { source })?
            .into_owned();
        let kind = entry_kind(entry);
        // Global PAX headers carry nothing kept.
        if kind == tar::EntryType::XGlobalHeader {
            return Ok(());
        }
        let comps = self.archive_path(&path, &path)?;
        // `./` names the destination itself, which stays as it is (Docker skips it).
        let Some((name, parent_comps)) = comps.split_last() else {
            return Ok(());
        };
        let mut attrs = read_attrs(entry, &path)?;
        if !self.opts.preserve_owner {
            (attrs.uid, attrs.gid) = self.opts.owner;
        } else if let Some(m) = &self.opts.ids {
            let unmapped = |id| CopyError::Refused(format!("Container ID {id} cannot be mapped to a host ID"));
            attrs.uid = m.uid_to_host(attrs.uid).ok_or_else(|| unmapped(attrs.uid))?;
            attrs.gid = m.gid_to_host(attrs.gid).ok_or_else(|| unmapped(attrs.gid))?;
        }
        let parent_in_root: Vec<OsString> = self.base.iter().chain(parent_comps).cloned().collect();
        let parent = self.parent(&parent_in_root, &path)?;
        if self.opts.no_overwrite_dir_non_dir {
            self.check_overwrite(&parent, name, kind, &parent_in_root, &path)?;
        }
        if kind == tar::EntryType::Link {
            let target = link_target(entry, &path)?;
            let tcomps = self.archive_path(&target, &path)?;
            let Some((tname, tparent_comps)) = tcomps.split_last() else {
                return Err(CopyError::Refused(format!(
                    "refusing archive entry {path:?}: hard link to the destination directory"
                )));
            };
            let tparent_in_root: Vec<OsString> =
                self.base.iter().chain(tparent_comps).cloned().collect();
            let tparent = self
                .root
                .dir(&tparent_in_root)
                .map_err(|e| op_error("open hard link target of", &path)(e.into()))?;
            link_node(&tparent, tname, &parent, name, &path)?;
            return Ok(());
        }
        let existing = remove_existing(&parent, name, kind.is_dir())
            .map_err(|e| op_error("replace", &path)(e))?;
        create_node(&parent, name, kind, entry, &attrs, existing, &path)?;
        if kind.is_dir() {
            let mut comps = parent_in_root;
            comps.push(name.clone());
            self.dir_times.push((comps, path, attrs.mtime));
        }
        Ok(())
    }

    /// The components of an archive path (an entry's or a hard link's target), refused when
    /// absolute or holding `..`, and rebased.
    fn archive_path(&self, p: &Path, entry: &Path) -> Result<Vec<OsString>, CopyError> {
        let comps = components(p).map_err(|r| {
            CopyError::Refused(format!("refusing archive entry {entry:?}: {}", r.reason()))
        })?;
        Ok(match &self.rebase {
            Some((from, to)) if comps.starts_with(from) => {
                to.iter().chain(&comps[from.len()..]).cloned().collect()
            }
            _ => comps,
        })
    }

    /// Opens the directory at `comps` (from the root, resolved inside it), creating missing
    /// directories one at a time (mode 0755, owned by [`ExtractOptions::owner`]).
    fn parent(&self, comps: &[OsString], path: &Path) -> Result<OwnedFd, CopyError> {
        let open_err = |e: Errno| CopyError::from(op_error("open parent of", path)(e.into()));
        match self.root.dir(comps) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(open_err(e)),
        }
        let mut cur = self.root.dir(&[]).map_err(open_err)?;
        for (i, name) in comps.iter().enumerate() {
            cur = match self.root.dir(&comps[..=i]) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) => {
                            let (uid, gid) = self.opts.owner;
                            rustix::fs::chownat(
                                &cur,
                                name,
                                Some(rustix::fs::Uid::from_raw_unchecked(uid)),
                                Some(rustix::fs::Gid::from_raw_unchecked(gid)),
                                AtFlags::SYMLINK_NOFOLLOW,
                            )
                            .map_err(|e| op_error("chown parent of", path)(e.into()))?;
                        }
                        Err(Errno::EXIST) => {}
                        Err(e) => return Err(open_err(e)),
                    }
                    // The name just made (or raced in) is opened without following it.
                    rustix::fs::openat(
                        &cur,
                        name,
                        LOOKUP | OFlags::DIRECTORY | OFlags::NOFOLLOW,
                        Mode::empty(),
                    )
                    .map_err(open_err)?
                }
                Err(e) => return Err(open_err(e)),
            };
        }
        Ok(cur)
    }

    /// Docker's `noOverwriteDirNonDir` check against what is at `name` now.
    fn check_overwrite(
        &self,
        parent: &OwnedFd,
        name: &std::ffi::OsStr,
        kind: tar::EntryType,
        parent_in_root: &[OsString],
        path: &Path,
    ) -> Result<(), CopyError> {
        let st = match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(op_error("stat", path)(e.into()).into()),
        };
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        let mut target = parent_in_root.to_vec();
        target.push(name.to_os_string());
        let target = resolve::display(&target);
        match (is_dir, kind.is_dir()) {
            (true, false) => Err(CopyError::Refused(format!(
                "cannot overwrite directory {target:?} with non-directory {path:?}"
            ))),
            (false, true) => Err(CopyError::Refused(format!(
                "cannot overwrite non-directory {target:?} with directory {path:?}"
            ))),
            _ => Ok(()),
        }
    }

    /// Applies directory mtimes, deepest last-extracted first.
    fn set_dir_times(&self) -> Result<(), CopyError> {
        for (comps, path, mtime) in self.dir_times.iter().rev() {
            let Some((name, parent_comps)) = comps.split_last() else {
                continue;
            };
            let result = self.root.dir(parent_comps).and_then(|parent| {
                rustix::fs::utimensat(&parent, name, &times(*mtime), AtFlags::SYMLINK_NOFOLLOW)
            });
            match result {
                Ok(()) => {}
                // Removed or replaced by a later entry.
                Err(e) if is_gone(&e.into()) => {}
                Err(e) => return Err(op_error("set times of", path)(e.into()).into()),
            }
        }
        Ok(())
    }
}
