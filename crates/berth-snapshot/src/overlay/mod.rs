//! The overlayfs snapshotter: each snapshot is one directory, stacked by overlay mounts the runtime makes.
//!
//! On-disk layout under the injected root:
//!
//! ```text
//! <root>/
//! ├── lock                 flock()ed exclusively while an OverlaySnapshotter has the root open
//! ├── metadata.json        checkpoint: {"version":2,"next_id":N,"journal_seq":S,"snapshots":{<key>:{id,kind,parent,created,labels}}}
//! ├── metadata.journal     changes since the checkpoint, one JSON line each (see `journal`)
//! ├── snapshots/
//! │   └── <id>/            id: a decimal counter (short, so deep lowerdir lists stay under a page)
//! │       ├── fs/          the layer: upperdir while active, a lowerdir once committed,
//! │       │                bind-mounted when the snapshot has no parent
//! │       └── work/        overlay workdir of an active snapshot
//! └── tmp/                 staging: a new snapshot directory is built here and renamed into
//!                          snapshots/; a removed one is renamed here before deletion
//! ```
//!
//! Crash safety: the metadata (checkpoint plus journal) is the only source of truth; a change is on
//! disk (an fsynced journal line) before it takes effect or its operation returns, and the
//! checkpoint is replaced atomically. Concurrent operations share lines and fsyncs (group commit,
//! see `group`): the metadata lock is held only to check and queue a change, never across an fsync.
//! A new snapshot's directory is complete (renamed from `tmp/`, and `snapshots/` fsynced) before the
//! metadata naming it is written, and a removed snapshot leaves the metadata before its directory is
//! deleted. So a crash leaves at worst an unreferenced directory (or a metadata temp file), which
//! [`OverlaySnapshotter::open`] deletes along with `tmp/`.
//!
//! Garbage collection: what references a snapshot is the daemon's business; the snapshotter keeps
//! when each snapshot was last used by this process (created, committed, looked up, mounted) and
//! [`OverlaySnapshotter::remove_unused`] removes one only if it has no children and was not used
//! since the collector's horizon, checked under the metadata lock, so an operation that just found
//! a parent can prepare on it without a sweep taking it away in between.
//!
//! Mount data size: each lower layer costs `len(root) + 19` bytes of the one-page (4095-byte) limit
//! (`<root>/snapshots/<n>/fs:`), so a root such as `/var/lib/berth/snapshots` (24 bytes) allows about
//! 90 layers and a 60-byte root about 48. A chain past the limit is refused with `ChainTooDeep` when it
//! is prepared; a runtime using the new mount API (`fsconfig` with `lowerdir+`) could lift it.

mod group;
mod journal;
mod metadata;

use crate::snapshotter::{Info, Kind, Labels, Snapshotter, Usage};
use crate::{Mount, SnapshotError, MAX_MOUNT_DATA};
use group::{Group, Shared, View};
use journal::Change;
use metadata::Record;
use rustix::fs::FlockOperation;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

/// Longest accepted key or name, in bytes.
const MAX_KEY_LEN: usize = 4096;

/// A [`Snapshotter`] storing layers as plain directories stacked with overlayfs.
///
/// One instance owns its root (enforced with a lock file); share it between threads with `Arc`.
#[derive(Debug)]
pub struct OverlaySnapshotter {
    root: PathBuf,
    /// The metadata: what is on disk, what is queued for it, and the group commit of the journal.
    state: Group,
    /// When each snapshot was last used; always locked after `state`, never before.
    used: Mutex<HashMap<String, Instant>>,
    _lock: File,
}

/// What [`OverlaySnapshotter::remove_unused`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Removed; the disk space its directory took.
    Removed(Usage),
    /// Kept: it has children, or it was used since the horizon.
    InUse,
    /// No such snapshot.
    Absent,
}

impl OverlaySnapshotter {
    /// Opens (creating if needed) the snapshotter rooted at `root`, deleting leftovers of interrupted
    /// operations. Fails with `Locked` if another process has the root open, and with `InvalidRoot` if
    /// the path contains `,` or `:`, which cannot be written in overlay options.
    pub fn open(root: PathBuf) -> Result<OverlaySnapshotter, SnapshotError> {
        match root.to_str() {
            Some(s) if !s.contains([',', ':']) => {}
            _ => return Err(SnapshotError::InvalidRoot { path: root }),
        }
        for dir in [root.clone(), root.join("snapshots"), root.join("tmp")] {
            fs::create_dir_all(&dir).map_err(SnapshotError::io("create", &dir))?;
        }
        let lock_path = root.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(SnapshotError::io("open", &lock_path))?;
        match rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(SnapshotError::Locked { path: lock_path })
            }
            Err(e) => return Err(SnapshotError::io("lock", &lock_path)(e.into())),
        }
        let state = Group::open(&root)?;
        let snap = OverlaySnapshotter {
            root,
            state,
            used: Mutex::new(HashMap::new()),
            _lock: lock,
        };
        snap.clean_leftovers()?;
        Ok(snap)
    }

    /// The root this snapshotter was opened on.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock()
    }

    /// Records a use of `key`; the caller holds the metadata lock.
    fn touch(&self, key: &str) {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), Instant::now());
    }

    /// Removes `key` unless it has children or was used at or after `horizon` (checked under the
    /// metadata lock every use takes). Returns what its directory took.
    pub fn remove_unused(&self, key: &str, horizon: Instant) -> Result<Removal, SnapshotError> {
        let doomed = {
            let mut g = self.lock();
            let view = g.view();
            let Some(rec) = view.get(key).cloned() else {
                return Ok(Removal::Absent);
            };
            let has_children = view.children(key) > 0;
            let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
            if has_children || used.get(key).is_some_and(|t| *t >= horizon) {
                return Ok(Removal::InUse);
            }
            let ticket = g.submit(vec![Change::Delete { key: key.to_string() }], false);
            used.remove(key);
            drop(used);
            self.state.wait(g, ticket)?;
            self.doom(rec.id)
        };
        let mut usage = Usage::default();
        match doomed {
            Ok(path) => {
                let _ = disk_usage(&path, &mut usage, &mut BTreeSet::new());
                if let Err(error) = berth_types::teardown::remove_tree(&path) {
                    tracing::warn!(path = %path.display(), %error, "snapshot directory left for cleanup at next open");
                }
            }
            Err(error) => {
                tracing::warn!(snapshot = key, %error, "snapshot directory left for cleanup at next open")
            }
        }
        Ok(Removal::Removed(usage))
    }

    /// Forgets uses older than `horizon`: they can no longer keep anything.
    pub fn forget_uses_before(&self, horizon: Instant) {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, t| *t >= horizon);
    }

    /// The directory of a snapshot's own layer (for inspection: usage, mount checks).
    pub fn fs_path(&self, key: &str) -> Result<PathBuf, SnapshotError> {
        let g = self.lock();
        Ok(self.fs_dir(Self::record(&g.durable(), key)?.id))
    }

    /// Snapshot directories under `snapshots/` that no record names, and staging leftovers in
    /// `tmp/` (both normally removed at open).
    pub fn stray_dirs(&self) -> Result<Vec<PathBuf>, SnapshotError> {
        // Pending creates count as live: their directories are in place before their records.
        let live: HashSet<String> = self.lock().view().ids().map(|id| id.to_string()).collect();
        let mut out = Vec::new();
        for sub in ["snapshots", "tmp"] {
            let dir = self.root.join(sub);
            for entry in fs::read_dir(&dir).map_err(SnapshotError::io("read", &dir))? {
                let entry = entry.map_err(SnapshotError::io("read", &dir))?;
                if sub == "tmp" || !live.contains(entry.file_name().to_string_lossy().as_ref()) {
                    out.push(entry.path());
                }
            }
        }
        Ok(out)
    }

    /// Renames a removed snapshot's directory into `tmp/` (so no later lookup finds it) and returns
    /// where it went, for deletion.
    fn doom(&self, id: u64) -> io::Result<PathBuf> {
        let doomed = self.root.join("tmp").join(format!("rm-{id}-{}", &berth_types::random_id()[..8]));
        fs::rename(self.dir(id), &doomed).map(|()| doomed)
    }

    fn dir(&self, id: u64) -> PathBuf {
        self.root.join("snapshots").join(id.to_string())
    }

    fn fs_dir(&self, id: u64) -> PathBuf {
        self.dir(id).join("fs")
    }

    fn clean_leftovers(&self) -> Result<(), SnapshotError> {
        let live: HashSet<String> = self
            .lock()
            .snapshots
            .values()
            .map(|r| r.id.to_string())
            .collect();
        // A crash inside persist::atomic_write leaves its temp file beside metadata.json (or the journal).
        for entry in fs::read_dir(&self.root).map_err(SnapshotError::io("read", &self.root))? {
            let entry = entry.map_err(SnapshotError::io("read", &self.root))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(".metadata.json.tmp-") || name.starts_with(".metadata.journal.tmp-") {
                tracing::info!(path = %entry.path().display(), "removing interrupted metadata write");
                remove_any(&entry.path())?;
            }
        }
        let tmp = self.root.join("tmp");
        for entry in fs::read_dir(&tmp).map_err(SnapshotError::io("read", &tmp))? {
            let path = entry.map_err(SnapshotError::io("read", &tmp))?.path();
            tracing::info!(path = %path.display(), "removing interrupted snapshot staging directory");
            remove_any(&path)?;
        }
        let snapshots = self.root.join("snapshots");
        for entry in fs::read_dir(&snapshots).map_err(SnapshotError::io("read", &snapshots))? {
            let entry = entry.map_err(SnapshotError::io("read", &snapshots))?;
            if !live.contains(entry.file_name().to_string_lossy().as_ref()) {
                tracing::info!(path = %entry.path().display(), "removing unreferenced snapshot directory");
                remove_any(&entry.path())?;
            }
        }
        Ok(())
    }

    /// The fs directories of `parent` and its ancestors, nearest first.
    fn parent_dirs(
        &self,
        md: &View<'_>,
        parent: Option<&str>,
    ) -> Result<Vec<PathBuf>, SnapshotError> {
        let mut dirs = Vec::new();
        let mut next = parent;
        let limit = md.ids().count();
        while let Some(name) = next {
            let rec = md
                .get(name)
                .ok_or_else(|| SnapshotError::NotFound { key: name.into() })?;
            if rec.kind != Kind::Committed {
                return Err(wrong_kind(name, rec.kind, Kind::Committed));
            }
            if dirs.len() > limit {
                // A cycle can only come from a hand-edited file; refuse rather than loop.
                return Err(SnapshotError::WrongKind {
                    key: name.into(),
                    actual: "cyclic",
                    expected: "committed",
                });
            }
            dirs.push(self.fs_dir(rec.id));
            next = rec.parent.as_deref();
        }
        Ok(dirs)
    }

    fn mounts_of(&self, md: &View<'_>, rec: &Record) -> Result<Vec<Mount>, SnapshotError> {
        let parents = self.parent_dirs(md, rec.parent.as_deref())?;
        let fs_dir = self.fs_dir(rec.id);
        let mount = match rec.kind {
            Kind::Active if parents.is_empty() => Mount::bind(&fs_dir, false),
            Kind::Active => {
                let work = self.dir(rec.id).join("work");
                Mount::overlay(&parents, Some((&fs_dir, &work)))
            }
            // Overlay refuses a single lowerdir without an upperdir, so one layer is a read-only bind.
            Kind::View => match parents.as_slice() {
                [] => Mount::bind(&fs_dir, true),
                [only] => Mount::bind(only, true),
                _ => Mount::overlay(&parents, None),
            },
            Kind::Committed if parents.is_empty() => Mount::bind(&fs_dir, true),
            Kind::Committed => {
                let lowers: Vec<PathBuf> = std::iter::once(fs_dir).chain(parents).collect();
                Mount::overlay(&lowers, None)
            }
        };
        Ok(vec![mount])
    }

    fn create(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: Labels,
        kind: Kind,
    ) -> Result<Vec<Mount>, SnapshotError> {
        validate_key(key)?;
        let mut g = self.lock();
        if g.view().get(key).is_some() {
            return Err(SnapshotError::AlreadyExists { key: key.into() });
        }
        let rec = Record {
            id: g.peek_id(),
            kind,
            parent: parent.map(String::from),
            created: SystemTime::now(),
            labels,
        };
        let mounts = self.mounts_of(&g.view(), &rec)?;
        if let Some(len) = mounts
            .iter()
            .map(Mount::data_len)
            .find(|&l| l > MAX_MOUNT_DATA)
        {
            return Err(SnapshotError::ChainTooDeep {
                key: key.into(),
                len,
                max: MAX_MOUNT_DATA,
            });
        }
        let id = g.reserve_id();
        let dir = self.dir(id);
        self.stage_dir(id, &dir)?;
        let ticket = g.submit(vec![Change::Put { key: key.to_string(), record: rec }], true);
        self.touch(key);
        if let Err(e) = self.state.wait(g, ticket) {
            let _ = berth_types::teardown::remove_tree(&dir);
            return Err(e);
        }
        Ok(mounts)
    }

    /// Builds `fs/` and `work/` in `tmp/` and renames the whole directory to `dir` in one step. The
    /// rename reaches the disk with the group that records the snapshot (`group`: `snapshots/` is
    /// fsynced before the journal line).
    fn stage_dir(&self, id: u64, dir: &Path) -> Result<(), SnapshotError> {
        let stage = self
            .root
            .join("tmp")
            .join(format!("new-{id}-{}", &berth_types::random_id()[..8]));
        let result = (|| {
            let mut builder = fs::DirBuilder::new();
            builder.mode(0o755);
            builder
                .create(&stage)
                .map_err(SnapshotError::io("create", &stage))?;
            builder
                .create(stage.join("fs"))
                .map_err(SnapshotError::io("create", stage.join("fs")))?;
            builder.mode(0o700);
            builder
                .create(stage.join("work"))
                .map_err(SnapshotError::io("create", stage.join("work")))?;
            fs::rename(&stage, dir).map_err(SnapshotError::io("rename", dir))
        })();
        if result.is_err() {
            let _ = berth_types::teardown::remove_tree(&stage);
        }
        result
    }

    fn record(md: &View<'_>, key: &str) -> Result<Record, SnapshotError> {
        md.get(key)
            .cloned()
            .ok_or_else(|| SnapshotError::NotFound { key: key.into() })
    }
}

impl Snapshotter for OverlaySnapshotter {
    fn prepare(
        &self,
        key: &str,
        parent: Option<&str>,
        labels: Labels,
    ) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, parent, labels, Kind::Active)
    }

    fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.create(key, parent, Labels::new(), Kind::View)
    }

    fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let g = self.lock();
        let rec = Self::record(&g.durable(), key)?;
        self.touch(key);
        self.mounts_of(&g.durable(), &rec)
    }

    fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError> {
        validate_key(name)?;
        let mut g = self.lock();
        let mut rec = Self::record(&g.view(), key)?;
        if rec.kind != Kind::Active {
            return Err(wrong_kind(key, rec.kind, Kind::Active));
        }
        if g.view().get(name).is_some() {
            return Err(SnapshotError::AlreadyExists { key: name.into() });
        }
        rec.kind = Kind::Committed;
        let ticket = g.submit(vec![Change::Delete { key: key.to_string() }, Change::Put { key: name.to_string(), record: rec }], false);
        self.touch(name);
        self.state.wait(g, ticket)
    }

    fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        let doomed = {
            let mut g = self.lock();
            let rec = Self::record(&g.view(), key)?;
            let children = g.view().children(key);
            if children > 0 {
                return Err(SnapshotError::HasChildren {
                    key: key.into(),
                    children,
                });
            }
            let ticket = g.submit(vec![Change::Delete { key: key.to_string() }], false);
            // Once on disk the record is gone from every view, so nothing can look for the
            // directory any more when it is renamed away.
            self.state.wait(g, ticket)?;
            self.doom(rec.id)
        };
        // The snapshot is gone from the metadata, which is what callers observe; a directory that could
        // not be deleted is an unreferenced leftover that the next open() removes.
        match doomed {
            Ok(path) => {
                if let Err(error) = berth_types::teardown::remove_tree(&path) {
                    tracing::warn!(path = %path.display(), %error, "snapshot directory left for cleanup at next open");
                }
            }
            Err(error) => {
                tracing::warn!(snapshot = key, %error, "snapshot directory left for cleanup at next open")
            }
        }
        Ok(())
    }

    fn stat(&self, key: &str) -> Result<Info, SnapshotError> {
        let g = self.lock();
        let rec = Self::record(&g.durable(), key)?;
        // A lookup is how callers find a parent to build on: it counts as a use.
        self.touch(key);
        Ok(info(key, rec))
    }

    fn list(&self) -> Result<Vec<Info>, SnapshotError> {
        let md = self.lock();
        Ok(md
            .snapshots
            .iter()
            .map(|(k, r)| info(k, r.clone()))
            .collect())
    }

    fn usage(&self, key: &str) -> Result<Usage, SnapshotError> {
        let dir = {
            let g = self.lock();
            self.fs_dir(Self::record(&g.durable(), key)?.id)
        };
        let mut usage = Usage::default();
        let mut seen = BTreeSet::new();
        disk_usage(&dir, &mut usage, &mut seen)?;
        Ok(usage)
    }

    fn upper_dir(&self, key: &str) -> Result<PathBuf, SnapshotError> {
        let g = self.lock();
        let rec = Self::record(&g.durable(), key)?;
        if rec.kind != Kind::Active {
            return Err(wrong_kind(key, rec.kind, Kind::Active));
        }
        self.touch(key);
        Ok(self.fs_dir(rec.id))
    }
}

fn info(name: &str, rec: Record) -> Info {
    Info {
        name: name.to_string(),
        parent: rec.parent,
        kind: rec.kind,
        created: rec.created,
        labels: rec.labels,
    }
}

fn wrong_kind(key: &str, actual: Kind, expected: Kind) -> SnapshotError {
    SnapshotError::WrongKind {
        key: key.into(),
        actual: actual.as_str(),
        expected: expected.as_str(),
    }
}

fn validate_key(key: &str) -> Result<(), SnapshotError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.contains('\0') {
        return Err(SnapshotError::InvalidKey { key: key.into() });
    }
    Ok(())
}

fn remove_any(path: &Path) -> Result<(), SnapshotError> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => berth_types::teardown::remove_tree(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(SnapshotError::io("remove", path))
}

/// Adds the allocated size and inode count under `path` (not following symlinks), each inode once.
fn disk_usage(
    path: &Path,
    usage: &mut Usage,
    seen: &mut BTreeSet<(u64, u64)>,
) -> Result<(), SnapshotError> {
    let meta = fs::symlink_metadata(path).map_err(SnapshotError::io("stat", path))?;
    if seen.insert((meta.dev(), meta.ino())) {
        usage.inodes += 1;
        usage.size += meta.blocks() * 512;
    }
    if meta.is_dir() {
        for entry in fs::read_dir(path).map_err(SnapshotError::io("read", path))? {
            let entry = entry.map_err(SnapshotError::io("read", path))?;
            disk_usage(&entry.path(), usage, seen)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
