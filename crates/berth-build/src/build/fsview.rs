//! Reading image filesystems while building: a mounted read-only view of a stage (for `COPY --from`),
//! lookups through a committed snapshot's layer directories without mounting, and mtime clamping.

use crate::error::BuildError;
use berth_snapshot::Mount;
use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};
use rustix::mount::{MountFlags, UnmountFlags};
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// A snapshot's mounts mounted on a directory; unmounted (and the directory removed) on drop.
pub(crate) struct MountedView {
    pub dir: PathBuf,
    mounted: usize,
}

impl MountedView {
    pub fn mount(mounts: &[Mount], dir: PathBuf) -> Result<MountedView, BuildError> {
        std::fs::create_dir_all(&dir).map_err(BuildError::io("create", &dir))?;
        let mut view = MountedView { dir, mounted: 0 };
        for m in mounts {
            let (flags, data) = m.flags_and_data();
            let bind = flags.contains(MountFlags::BIND);
            let fstype = if bind { "" } else { m.kind.as_str() };
            let first = if bind { flags - MountFlags::RDONLY } else { flags };
            let data = std::ffi::CString::new(data).map_err(|e| BuildError::io("mount", &view.dir)(std::io::Error::other(e)))?;
            rustix::mount::mount(m.source.as_path(), &view.dir, fstype, first, data.as_c_str())
                .map_err(|e| BuildError::io("mount", &view.dir)(e.into()))?;
            view.mounted += 1;
            if bind && flags.contains(MountFlags::RDONLY) {
                rustix::mount::mount_remount(&view.dir, MountFlags::BIND | MountFlags::RDONLY, "")
                    .map_err(|e| BuildError::io("remount read-only", &view.dir)(e.into()))?;
            }
        }
        Ok(view)
    }
}

impl Drop for MountedView {
    fn drop(&mut self) {
        for _ in 0..self.mounted {
            if rustix::mount::unmount(&self.dir, UnmountFlags::empty()).is_err() {
                let _ = rustix::mount::unmount(&self.dir, UnmountFlags::DETACH);
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The layer directories of a committed snapshot, top first, read without mounting.
pub(crate) struct LayerDirs(pub Vec<PathBuf>);

impl LayerDirs {
    pub fn from_mounts(mounts: &[Mount]) -> LayerDirs {
        let mut dirs = Vec::new();
        for m in mounts {
            if m.kind == "bind" {
                dirs.push(m.source.clone());
                continue;
            }
            for o in &m.options {
                if let Some(u) = o.strip_prefix("upperdir=") {
                    dirs.insert(0, PathBuf::from(u));
                } else if let Some(l) = o.strip_prefix("lowerdir=") {
                    dirs.extend(l.split(':').map(PathBuf::from));
                }
            }
        }
        LayerDirs(dirs)
    }

    /// Metadata of `rel` (no leading `/`) as the merged tree shows it, without following symlinks
    /// (a symlink on the way, or a whiteout, ends the search with None).
    pub fn lookup(&self, rel: &str) -> Option<(PathBuf, Metadata)> {
        let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        'layers: for dir in &self.0 {
            let mut p = dir.clone();
            for (i, c) in comps.iter().enumerate() {
                p.push(c);
                let Ok(md) = std::fs::symlink_metadata(&p) else { continue 'layers };
                if md.file_type().is_char_device() && md.rdev() == 0 {
                    return None; // whiteout
                }
                if i + 1 < comps.len() && !md.is_dir() {
                    return None;
                }
            }
            return std::fs::symlink_metadata(&p).ok().map(|m| (p, m));
        }
        None
    }

    /// A regular file's contents through the layers (for `/etc/passwd` and `/etc/group`).
    pub fn read(&self, rel: &str) -> Option<String> {
        let (p, md) = self.lookup(rel)?;
        md.is_file().then(|| std::fs::read_to_string(p).ok()).flatten()
    }
}

/// Sets every mtime under `root` later than `epoch` to `epoch` (SOURCE_DATE_EPOCH), never following
/// symlinks, so layers written from it are reproducible.
pub(crate) fn clamp_mtimes(root: &Path, epoch: i64) -> Result<(), BuildError> {
    let rd = std::fs::read_dir(root).map_err(BuildError::io("read", root))?;
    for entry in rd {
        let entry = entry.map_err(BuildError::io("read", root))?;
        let path = entry.path();
        let md = std::fs::symlink_metadata(&path).map_err(BuildError::io("stat", &path))?;
        if md.is_dir() {
            clamp_mtimes(&path, epoch)?;
        }
        if md.mtime() > epoch || md.atime() > epoch {
            let t = Timespec { tv_sec: epoch, tv_nsec: 0 };
            let times = Timestamps { last_access: t, last_modification: t };
            rustix::fs::utimensat(CWD, &path, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| BuildError::io("set mtime", &path)(e.into()))?;
        }
    }
    Ok(())
}
