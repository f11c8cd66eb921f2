//! Applying OCI/Docker layer tars to an overlay upper directory, and the reverse ([`write_diff`]).
//!
//! Whiteouts are converted on the way in as containerd's `OverlayConvertWhiteout` does (OCI image spec,
//! "Representing Changes"): `.wh.NAME` becomes an overlay whiteout (a 0:0 character device named
//! NAME) and `.wh..wh..opq` becomes `trusted.overlay.opaque=y` on its directory. The input is hostile:
//! paths are resolved beneath the upper directory's descriptor without following symlinks, so no entry can write outside the upper directory.

pub(crate) mod beneath;
pub(crate) mod diff;
pub(crate) mod shift;

pub use diff::{write_diff, write_diff_except, DiffError};
pub use shift::{chown_to_container, chown_to_host};

use beneath::{components, open_child_dir, remove_existing, Beneath, Existing};
use berth_types::error::{ErrorKind, HasKind};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Prefix of an OCI whiteout entry.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the OCI opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Prefix of AUFS metadata entries, which carry no image content.
const AUFS_META_PREFIX: &str = ".wh..wh.";
/// The xattr overlayfs reads to treat a directory as opaque (mounted in the host's user namespace).
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// The same under the `userxattr` mount option, which overlay needs when it is mounted in a user
/// namespace (rootless Berth: `trusted.*` xattrs need `CAP_SYS_ADMIN` in the host's namespace).
pub const USER_OPAQUE_XATTR: &str = "user.overlay.opaque";

/// The opaque xattr this process's overlay mounts read: `user.overlay.opaque` in a user
/// namespace (where Berth mounts overlay with `userxattr`), `trusted.overlay.opaque` otherwise.
pub fn opaque_xattr() -> &'static str {
    if berth_types::idmap::in_user_namespace() {
        USER_OPAQUE_XATTR
    } else {
        OPAQUE_XATTR
    }
}

/// Whether `name` is one of overlay's own xattrs (`trusted.overlay.*` or, for overlays mounted with
/// `userxattr`, `user.overlay.*`): never taken from a layer (it could forge whiteouts, redirects or
/// metacopy) and never written into one.
pub fn is_overlay_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}
/// PAX record prefix carrying extended attributes (GNU tar / star convention).
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// What [`apply_layer`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Archive entries processed, whiteouts included.
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
    /// Whiteouts and opaque markers converted.
    pub whiteouts: u64,
}

/// Why a layer could not be applied. After any error the upper directory is partly written and the
/// caller should discard the snapshot.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The upper directory itself could not be opened.
    #[error("open upper directory {path:?}")]
    OpenUpper {
        /// The upper directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The archive could not be read or is malformed.
    #[error("read layer archive")]
    Read {
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An entry's header has a malformed field.
    #[error("layer entry {path:?} has a malformed header")]
    Header {
        /// The entry's path.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: io::Error,
    },
    /// An entry would write outside the upper directory or through a symlink.
    #[error("refusing layer entry {path:?}: {reason}")]
    Unsafe {
        /// The entry's path as written in the archive.
        path: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// An entry type this applier does not handle (e.g. GNU sparse files).
    #[error("layer entry {path:?} has unsupported type {kind:?}")]
    Unsupported {
        /// The entry's path.
        path: PathBuf,
        /// The tar type flag byte.
        kind: u8,
    },
    /// A filesystem operation on an entry failed.
    #[error("{op} layer entry {path:?}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The entry's path as written in the archive.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl HasKind for ApplyError {
    fn kind(&self) -> ErrorKind {
        match self {
            ApplyError::Unsafe { .. }
            | ApplyError::Unsupported { .. }
            | ApplyError::Header { .. } => ErrorKind::InvalidArgument,
            ApplyError::Read { source } if source.kind() == io::ErrorKind::InvalidData => {
                ErrorKind::InvalidArgument
            }
            ApplyError::Read { .. } | ApplyError::OpenUpper { .. } | ApplyError::Io { .. } => {
                ErrorKind::Internal
            }
        }
    }
}

/// Maps an error from a confined operation: escapes become `Unsafe`, the rest `Io`.
pub(crate) fn op_error<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ApplyError + 'a {
    move |source| {
        let errno = source
            .raw_os_error()
            .map(rustix::io::Errno::from_raw_os_error);
        let reason = match errno {
            Some(rustix::io::Errno::LOOP) => "a path component is a symlink",
            Some(rustix::io::Errno::XDEV) => "path escapes the layer root",
            Some(rustix::io::Errno::NOTDIR) => "a path component is not a directory",
            _ => {
                return ApplyError::Io {
                    op,
                    path: path.to_path_buf(),
                    source,
                }
            }
        };
        ApplyError::Unsafe {
            path: path.to_path_buf(),
            reason,
        }
    }
}

/// Unpacks the uncompressed layer tar read from `reader` into the overlay upper directory `upper`.
///
/// Keeps numeric owners, modes (setuid/setgid/sticky included), mtimes, `SCHILY.xattr.*` PAX xattrs
/// (except `trusted.overlay.*`, which only the whiteout conversion may set), hard links within the layer,
/// symlinks, device nodes and FIFOs. An entry replaces whatever exists at its path, except that a
/// directory over a directory merges. Entries with absolute paths, `..`, a symlink or non-directory
/// among their parents, or hard links leaving the layer are refused with [`ApplyError::Unsafe`].
pub fn apply_layer(upper: &Path, reader: impl Read) -> Result<ApplyStats, ApplyError> {
    let root = Beneath::open(upper).map_err(|source| ApplyError::OpenUpper {
        path: upper.to_path_buf(),
        source,
    })?;
    let mut archive = tar::Archive::new(reader);
    let mut stats = ApplyStats::default();
    // Directory mtimes are set last: creating entries inside a directory bumps its mtime.
    let mut dir_times: Vec<(Vec<OsString>, PathBuf, u64)> = Vec::new();
    for entry in archive
        .entries()
        .map_err(|source| ApplyError::Read { source })?
    {
        let mut entry = entry.map_err(|source| ApplyError::Read { source })?;
        let path = entry
            .path()
            .map_err(|source| ApplyError::Read { source })?
            .into_owned();
        let comps = components(&path).map_err(|r| ApplyError::Unsafe {
            path: path.clone(),
            reason: r.reason(),
        })?;
        stats.entries += 1;
        if let Some(dir) = apply_entry(&root, &mut entry, &path, comps, &mut stats)? {
            dir_times.push((dir, path, entry.header().mtime().unwrap_or(0)));
        }
    }
    for (comps, path, mtime) in dir_times.iter().rev() {
        match root.dir(comps, false) {
            Ok(fd) => rustix::fs::futimens(&fd, &times(*mtime))
                .map_err(|e| op_error("set times of", path)(e.into()))?,
            // Removed, or replaced by a non-directory, by a later entry.
            Err(e) if is_gone(&e) => {}
            Err(e) => return Err(op_error("open", path)(e)),
        }
    }
    Ok(stats)
}

pub(crate) fn is_gone(e: &io::Error) -> bool {
    use rustix::io::Errno;
    let gone = [Errno::NOENT, Errno::LOOP, Errno::NOTDIR].map(Errno::raw_os_error);
    e.raw_os_error().is_some_and(|c| gone.contains(&c))
}

/// Owner, mode, time and xattrs of an entry, read from its header before its data is consumed.
pub(crate) struct Attrs {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
    pub(crate) mtime: u64,
    pub(crate) xattrs: Vec<(String, Vec<u8>)>,
}

/// Applies one entry; returns the directory's components when the entry was a directory.
fn apply_entry<R: Read>(
    root: &Beneath,
    entry: &mut tar::Entry<'_, R>,
    path: &Path,
    comps: Vec<OsString>,
    stats: &mut ApplyStats,
) -> Result<Option<Vec<OsString>>, ApplyError> {
    // `.wh..wh.*` other than the opaque marker is AUFS bookkeeping (e.g. `.wh..wh.plnk`); Docker skips it.
    let aufs_meta =
        |c: &OsString| c.as_bytes().starts_with(AUFS_META_PREFIX.as_bytes()) && c != OPAQUE_MARKER;
    if comps.iter().any(aufs_meta) {
        tracing::debug!(entry = %path.display(), "skipping aufs metadata entry");
        return Ok(None);
    }
    let attrs = read_attrs(entry, path)?;
    let kind = entry_kind(entry);
    let Some((name, parent_comps)) = comps.split_last() else {
        // `./`: the layer's root directory; its attributes become the upper directory's.
        if !kind.is_dir() {
            return Err(ApplyError::Unsafe {
                path: path.into(),
                reason: "non-directory entry names the layer root",
            });
        }
        set_attrs_fd(root.root(), &attrs, path)?;
        return Ok(Some(comps));
    };
    let name = name.as_os_str();
    let parent = root
        .dir(parent_comps, true)
        .map_err(op_error("open parent of", path))?;

    if let Some(target) = name.as_bytes().strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        stats.whiteouts += 1;
        return convert_whiteout(&parent, OsStr::from_bytes(target), &attrs, path).map(|()| None);
    }
    if kind == tar::EntryType::Link {
        let target = link_target(entry, path)?;
        hard_link(root, &parent, name, &target, path)?;
        return Ok(None);
    }
    let existing =
        remove_existing(&parent, name, kind.is_dir()).map_err(op_error("replace", path))?;
    stats.bytes += create_node(&parent, name, kind, entry, &attrs, existing, path)?;
    Ok(kind.is_dir().then_some(comps))
}

/// The entry's type; pre-POSIX archives mark directories only by a trailing slash.
pub(crate) fn entry_kind<R: Read>(entry: &tar::Entry<'_, R>) -> tar::EntryType {
    let kind = entry.header().entry_type();
    if kind == tar::EntryType::Regular && entry.path_bytes().ends_with(b"/") {
        return tar::EntryType::Directory;
    }
    kind
}

/// The target path of a hard link entry, as written in the archive.
pub(crate) fn link_target<R: Read>(
    entry: &tar::Entry<'_, R>,
    path: &Path,
) -> Result<PathBuf, ApplyError> {
    entry
        .link_name()
        .map_err(|source| ApplyError::Read { source })?
        .map(std::borrow::Cow::into_owned)
        .ok_or(ApplyError::Unsafe {
            path: path.into(),
            reason: "hard link without target",
        })
}

/// Creates the node of a non-hard-link entry as `name` in `parent`, where [`remove_existing`] has
/// already cleared the name (or kept a directory a directory entry merges into, `existing`), and
/// applies `attrs` to it. Returns the bytes of file content written.
pub(crate) fn create_node<R: Read>(
    parent: &OwnedFd,
    name: &OsStr,
    kind: tar::EntryType,
    entry: &mut tar::Entry<'_, R>,
    attrs: &Attrs,
    existing: Existing,
    path: &Path,
) -> Result<u64, ApplyError> {
    let mut bytes = 0;
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let flags =
                OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o600))
                .map_err(|e| op_error("create", path)(e.into()))?;
            let mut file = File::from(fd);
            let written = io::copy(entry, &mut file).map_err(|source| ApplyError::Read { source }).and_then(|n| {
                let fd = OwnedFd::from(file);
                set_attrs_fd(&fd, attrs, path)?;
                rustix::fs::futimens(&fd, &times(attrs.mtime)).map_err(|e| op_error("set times of", path)(e.into()))?;
                Ok(n)
            });
            // A file cut short (a full disk, a broken stream) does not stay behind looking whole.
            bytes = written.inspect_err(|_| {
                let _ = rustix::fs::unlinkat(parent, name, rustix::fs::AtFlags::empty());
            })?;
        }
        tar::EntryType::Directory => {
            if existing != Existing::KeptDir {
                rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                    .map_err(|e| op_error("create", path)(e.into()))?;
            }
            let fd = open_child_dir(parent, name).map_err(|e| op_error("open", path)(e.into()))?;
            set_attrs_fd(&fd, attrs, path)?;
        }
        tar::EntryType::Symlink => {
            let target = entry.link_name_bytes().ok_or(ApplyError::Unsafe {
                path: path.into(),
                reason: "symlink without target",
            })?;
            // The target is stored verbatim: it is only ever followed inside the container's root, and
            // this applier never follows symlinks itself.
            rustix::fs::symlinkat(OsStr::from_bytes(&target), parent, name)
                .map_err(|e| op_error("create", path)(e.into()))?;
            set_attrs_at(parent, name, attrs, false, path)?;
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let (ft, dev) = match kind {
                tar::EntryType::Char => (FileType::CharacterDevice, device(entry, path)?),
                tar::EntryType::Block => (FileType::BlockDevice, device(entry, path)?),
                _ => (FileType::Fifo, 0),
            };
            rustix::fs::mknodat(parent, name, ft, Mode::from_raw_mode(0o600), dev)
                .map_err(|e| op_error("create", path)(e.into()))?;
            set_attrs_at(parent, name, attrs, true, path)?;
        }
        // Global PAX headers carry nothing Berth keeps.
        tar::EntryType::XGlobalHeader => {}
        other => {
            return Err(ApplyError::Unsupported {
                path: path.into(),
                kind: other.as_byte(),
            })
        }
    }
    Ok(bytes)
}

/// A numeric header field as Go's archive/tar (so dockerd) reads it: a field left empty (all NULs
/// or spaces, as tar-rs's `Header::new_gnu` leaves the ones a writer does not set) is 0; anything
/// else is parsed as tar-rs parses it.
fn numeric<T: Default>(field: &[u8], parsed: io::Result<T>) -> io::Result<T> {
    if field.iter().all(|b| *b == 0 || *b == b' ') {
        return Ok(T::default());
    }
    parsed
}

pub(crate) fn read_attrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    path: &Path,
) -> Result<Attrs, ApplyError> {
    let read = |source| ApplyError::Read { source };
    let h = entry.header();
    let attrs_err = |source| ApplyError::Header {
        path: path.into(),
        source,
    };
    let raw = h.as_old();
    let (uid, gid) = (
        numeric(&raw.uid, h.uid()).map_err(attrs_err)?,
        numeric(&raw.gid, h.gid()).map_err(attrs_err)?,
    );
    let (mode, mtime) = (
        numeric(&raw.mode, h.mode()).map_err(attrs_err)?,
        numeric(&raw.mtime, h.mtime()).map_err(attrs_err)?,
    );
    let uid = u32::try_from(uid).map_err(|_| ApplyError::Unsafe {
        path: path.into(),
        reason: "uid out of range",
    })?;
    let gid = u32::try_from(gid).map_err(|_| ApplyError::Unsafe {
        path: path.into(),
        reason: "gid out of range",
    })?;
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(read)? {
        for ext in exts {
            let ext = ext.map_err(read)?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX) {
                if is_overlay_xattr(name.as_bytes()) {
                    // Would let a layer forge whiteouts, redirects or metacopy on the host's overlay.
                    tracing::debug!(entry = %path.display(), xattr = name, "dropping overlay xattr from layer");
                    continue;
                }
                xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(Attrs {
        uid,
        gid,
        mode: mode & 0o7777,
        mtime,
        xattrs,
    })
}

fn device<R: Read>(entry: &tar::Entry<'_, R>, path: &Path) -> Result<rustix::fs::Dev, ApplyError> {
    let h = entry.header();
    let bad = || ApplyError::Unsafe {
        path: path.into(),
        reason: "invalid device numbers",
    };
    let major = h.device_major().ok().flatten().ok_or_else(bad)?;
    let minor = h.device_minor().ok().flatten().ok_or_else(bad)?;
    Ok(rustix::fs::makedev(major, minor))
}

pub(crate) fn times(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn ids(attrs: &Attrs) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    (
        Some(rustix::fs::Uid::from_raw_unchecked(attrs.uid)),
        Some(rustix::fs::Gid::from_raw_unchecked(attrs.gid)),
    )
}

/// Owner, then mode (chown clears setuid/setgid, so the mode goes second), then xattrs.
fn set_attrs_fd(fd: &OwnedFd, attrs: &Attrs, path: &Path) -> Result<(), ApplyError> {
    let (uid, gid) = ids(attrs);
    rustix::fs::fchown(fd, uid, gid).map_err(|e| op_error("chown", path)(e.into()))?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(attrs.mode))
        .map_err(|e| op_error("chmod", path)(e.into()))?;
    for (name, value) in &attrs.xattrs {
        let result =
            rustix::fs::fsetxattr(fd, name.as_str(), value, rustix::fs::XattrFlags::empty());
        skip_unsupported_xattr(result, name, path)?;
    }
    Ok(())
}

/// Like [`set_attrs_fd`] for nodes that cannot be opened safely (symlinks, devices, FIFOs): addressed
/// by name relative to their parent, never followed. Symlinks have no mode of their own.
fn set_attrs_at(
    parent: &OwnedFd,
    name: &OsStr,
    attrs: &Attrs,
    chmod: bool,
    path: &Path,
) -> Result<(), ApplyError> {
    let (uid, gid) = ids(attrs);
    rustix::fs::chownat(parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| op_error("chown", path)(e.into()))?;
    if chmod {
        // Not a symlink (just created by mknodat), so following is moot.
        rustix::fs::chmodat(
            parent,
            name,
            Mode::from_raw_mode(attrs.mode),
            AtFlags::empty(),
        )
        .map_err(|e| op_error("chmod", path)(e.into()))?;
    }
    if !attrs.xattrs.is_empty() {
        let node = beneath::proc_path(parent, name);
        for (xname, value) in &attrs.xattrs {
            let result = rustix::fs::lsetxattr(
                &node,
                xname.as_str(),
                value,
                rustix::fs::XattrFlags::empty(),
            );
            skip_unsupported_xattr(result, xname, path)?;
        }
    }
    rustix::fs::utimensat(parent, name, &times(attrs.mtime), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| op_error("set times of", path)(e.into()))?;
    Ok(())
}

/// An xattr the filesystem cannot hold (`ENOTSUP`) or refuses on this node type (`EPERM`, e.g. `user.*`
/// on a symlink or device) is skipped, as containerd and Docker do; any other failure is an error.
fn skip_unsupported_xattr(
    result: rustix::io::Result<()>,
    name: &str,
    path: &Path,
) -> Result<(), ApplyError> {
    match result {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::NOTSUP | rustix::io::Errno::PERM) => {
            tracing::debug!(entry = %path.display(), xattr = name, "ignoring xattr the filesystem refuses");
            Ok(())
        }
        Err(e) => Err(op_error("set xattr of", path)(e.into())),
    }
}

/// `.wh..wh..opq` marks the parent opaque; `.wh.NAME` replaces NAME with an overlay whiteout.
fn convert_whiteout(
    parent: &OwnedFd,
    target: &OsStr,
    attrs: &Attrs,
    path: &Path,
) -> Result<(), ApplyError> {
    if target.as_bytes() == &OPAQUE_MARKER.as_bytes()[WHITEOUT_PREFIX.len()..] {
        // The opaque marker hides lower layers only; siblings from this layer stay (OCI image spec).
        return rustix::fs::fsetxattr(parent, opaque_xattr(), b"y", rustix::fs::XattrFlags::empty())
            .map_err(|e| op_error("set opaque xattr for", path)(e.into()));
    }
    if target.is_empty()
        || target == "."
        || target == ".."
        || target.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes())
    {
        return Err(ApplyError::Unsafe {
            path: path.into(),
            reason: "invalid whiteout name",
        });
    }
    remove_existing(parent, target, false).map_err(op_error("replace", path))?;
    rustix::fs::mknodat(
        parent,
        target,
        FileType::CharacterDevice,
        Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
    .map_err(|e| op_error("create whiteout", path)(e.into()))?;
    let (uid, gid) = ids(attrs);
    rustix::fs::chownat(parent, target, uid, gid, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| op_error("chown whiteout", path)(e.into()))
}

/// Links `name` in `parent` to the layer path `target`, which must already exist inside the layer.
fn hard_link(
    root: &Beneath,
    parent: &OwnedFd,
    name: &OsStr,
    target: &Path,
    path: &Path,
) -> Result<(), ApplyError> {
    let unsafe_link = |reason| ApplyError::Unsafe {
        path: path.into(),
        reason,
    };
    let tcomps = components(target).map_err(|r| match r {
        beneath::PathRefusal::Absolute => unsafe_link("hard link to an absolute path"),
        beneath::PathRefusal::ParentComponent => unsafe_link("hard link target contains '..'"),
    })?;
    let Some((tname, tparent_comps)) = tcomps.split_last() else {
        return Err(unsafe_link("hard link to the layer root"));
    };
    let tparent = root
        .dir(tparent_comps, false)
        .map_err(op_error("open hard link target of", path))?;
    link_node(&tparent, tname.as_os_str(), parent, name, path)
}

/// Makes `name` in `parent` a hard link to `tname` in `tparent` (both parents already confined by the
/// caller), replacing what was at `name`. Directories are refused; a symlink is linked, not followed.
pub(crate) fn link_node(
    tparent: &OwnedFd,
    tname: &OsStr,
    parent: &OwnedFd,
    name: &OsStr,
    path: &Path,
) -> Result<(), ApplyError> {
    let st = rustix::fs::statat(tparent, tname, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| op_error("stat hard link target of", path)(e.into()))?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        return Err(ApplyError::Unsafe {
            path: path.into(),
            reason: "hard link to a directory",
        });
    }
    // A link to itself would otherwise delete its own target first.
    let here = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW).ok();
    if here.is_some_and(|h| h.st_dev == st.st_dev && h.st_ino == st.st_ino) {
        return Ok(());
    }
    remove_existing(parent, name, false).map_err(op_error("replace", path))?;
    // Flags empty: a symlink target is linked itself, not followed.
    rustix::fs::linkat(tparent, tname, parent, name, AtFlags::empty())
        .map_err(|e| op_error("hard link", path)(e.into()))
}

#[cfg(test)]
mod tests;
