//! Reading image filesystems while building: a mounted read-only view of a stage (for `COPY --from`),
//! lookups through a committed snapshot's layer directories without mounting, and mtime clamping.

use super::Builder;
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

/// A writable overlay over a directory whose writes are thrown away when dropped: what a
/// `RUN --mount=type=bind,rw` shows, so the step can write without changing its source.
pub(crate) struct ScratchOverlay {
    mounted: MountedView,
    /// Upper and work directories; removed after the overlay is unmounted (fields drop in order).
    _dirs: RemovedDir,
}

/// A directory removed, with what it holds, when dropped.
struct RemovedDir(PathBuf);

impl Drop for RemovedDir {
    fn drop(&mut self) {
        let _ = berth_types::teardown::remove_tree(&self.0);
    }
}

impl ScratchOverlay {
    pub fn mount(lower: &Path, tmp: &Path) -> Result<ScratchOverlay, BuildError> {
        let dirs = RemovedDir(tmp.join(format!("rw-{}", &berth_types::random_id()[..16])));
        let (upper, work) = (dirs.0.join("upper"), dirs.0.join("work"));
        for d in [&upper, &work] {
            std::fs::create_dir_all(d).map_err(BuildError::io("create", d))?;
        }
        let m = Mount::overlay(&[lower.to_path_buf()], Some((&upper, &work)));
        let mounted = MountedView::mount(&[m], dirs.0.join("merged"))?;
        Ok(ScratchOverlay { mounted, _dirs: dirs })
    }

    pub fn dir(&self) -> &Path {
        &self.mounted.dir
    }
}

/// A read-only mounted view of an earlier stage or an image (`COPY --from`, `RUN --mount=from=`):
/// unmounted, then its view snapshot removed, when dropped.
pub(crate) struct SourceView<'a> {
    /// The chain id of the viewed layers (`scratch` for none): what the view's content is.
    pub chain: String,
    mounted: MountedView,
    _snapshot: ViewSnapshot<'a>,
}

impl SourceView<'_> {
    /// Where the view is mounted.
    pub fn dir(&self) -> &Path {
        &self.mounted.dir
    }
}

/// Removes a view snapshot (declared after the mount in [`SourceView`], so dropped after it).
struct ViewSnapshot<'a> {
    snapshots: &'a dyn berth_snapshot::Snapshotter,
    key: String,
}

impl Drop for ViewSnapshot<'_> {
    fn drop(&mut self) {
        let _ = self.snapshots.remove(&self.key);
    }
}

impl<'a> Builder<'a> {
    /// Mounts a read-only view of `name`: an earlier stage of stage `idx`, else an image of the store.
    pub(crate) fn source_view(&self, idx: usize, line: usize, name: &str) -> Result<SourceView<'a>, BuildError> {
        let layers = match self.stage_ref(name, idx) {
            Some(dep) => self
                .results
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&dep)
                .map(|r| r.layers.clone())
                .ok_or_else(|| self.instruction_error(line, format!("stage {name} was not built")))?,
            None => match self.store.get(name) {
                Ok(img) => img.layers.clone(),
                Err(berth_image::ImageError::NotFound(_)) => return Err(BuildError::BaseImageMissing { reference: name.to_string(), platform: None }),
                Err(err) => return Err(err.into()),
            },
        };
        let chain = self.ensure_chain(&layers)?;
        let key = format!("build-view-{}", &berth_types::random_id()[..16]);
        let mounts = self.snapshots.view(&key, chain.as_deref())?;
        let snapshot = ViewSnapshot { snapshots: self.snapshots, key };
        let mounted = MountedView::mount(&mounts, self.tmp.join(format!("view-{}", &snapshot.key[11..])))?;
        Ok(SourceView { chain: chain.unwrap_or_else(|| "scratch".into()), mounted, _snapshot: snapshot })
    }
}

/// A digest of a directory tree's names, types, modes, owners and contents (not its times): the
/// cache identity of a `RUN --mount=type=bind` of the build context.
pub(crate) fn tree_digest(root: &Path) -> Result<berth_types::Digest, BuildError> {
    use std::io::Write;
    let mut h = berth_types::Sha256Writer::new(std::io::sink());
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let path = if rel.as_os_str().is_empty() { root.to_path_buf() } else { root.join(&rel) };
        let md = std::fs::symlink_metadata(&path).map_err(BuildError::io("stat", &path))?;
        let io = |e| BuildError::io("hash", &path)(e);
        write!(h, "{}\0{:o}\0{}:{}\0", rel.display(), md.mode(), md.uid(), md.gid()).map_err(io)?;
        if md.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(BuildError::io("readlink", &path))?;
            write!(h, "-> {}\0", target.display()).map_err(io)?;
        } else if md.is_file() {
            let mut f = std::fs::File::open(&path).map_err(BuildError::io("open", &path))?;
            std::io::copy(&mut f, &mut h).map_err(io)?;
        } else if md.is_dir() {
            let mut names: Vec<_> = std::fs::read_dir(&path)
                .map_err(BuildError::io("read directory", &path))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(BuildError::io("read directory", &path))?;
            names.sort();
            todo.extend(names.into_iter().rev().map(|n| rel.join(n)));
        } else {
            write!(h, "dev {}\0", md.rdev()).map_err(io)?;
        }
    }
    Ok(h.finish().1)
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
