//! Garbage collection of the content store and the snapshots, containerd-style: mark what the
//! roots reach, sweep the rest, online.
//!
//! Roots: image records (config blob, layer blobs, the snapshots of their chain ids, and the
//! compressed forms of their layers that `push` made), containers (their snapshot), build cache
//! entries (their layer blob and snapshot), and the [`lease`]s of operations in flight (by time:
//! whatever a store saw used since the oldest lease began). A kept snapshot keeps its parents.
//!
//! A collection runs after `rmi`, `image prune`, `builder prune` (and so `system prune`), after
//! an operation that failed part-way, and at start-up, where it also reaps container directories
//! that have no record (see [`orphans`]). Collections are serialised; each runs on a blocking
//! thread. A snapshot or directory that a mount still uses is never swept.

pub mod lease;
pub mod mountinfo;
pub mod orphans;

use super::containers::ContainerService;
use super::ServiceError;
use berth_content::Collected;
use berth_image::ImageStore;
use berth_snapshot::{chain_id, OverlaySnapshotter, Removal, Snapshotter};
use berth_types::Digest;
use lease::Leases;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The compressed forms of a layer that the registry client keeps (gzip blobs made by `push`).
pub type CompressedForms = Arc<dyn Fn(&Digest) -> Vec<Digest> + Send + Sync>;

/// What one collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: Vec<Digest>,
    /// Snapshots removed.
    pub snapshots: Vec<String>,
    /// Disk space freed (allocated blocks), blobs and snapshots together.
    pub bytes: u64,
}

/// What the roots reach.
#[derive(Debug, Default)]
pub struct Marked {
    /// Blobs to keep.
    pub blobs: HashSet<Digest>,
    /// Snapshots to keep (parents included).
    pub snapshots: HashSet<String>,
}

/// The collector.
pub struct Collector {
    images: Arc<ImageStore>,
    snapshots: Arc<OverlaySnapshotter>,
    containers: Arc<ContainerService>,
    cache_dir: PathBuf,
    compressed: CompressedForms,
    leases: Arc<Leases>,
    running: Mutex<()>,
}

impl Collector {
    /// A collector over the daemon's stores.
    pub fn new(
        images: Arc<ImageStore>,
        containers: Arc<ContainerService>,
        cache_dir: PathBuf,
        compressed: CompressedForms,
        leases: Arc<Leases>,
    ) -> Collector {
        let snapshots = containers.snapshots();
        Collector { images, snapshots, containers, cache_dir, compressed, leases, running: Mutex::new(()) }
    }

    /// The snapshotter it sweeps.
    pub fn snapshots(&self) -> Arc<OverlaySnapshotter> {
        self.snapshots.clone()
    }

    /// The daemon's leases.
    pub fn leases(&self) -> &Arc<Leases> {
        &self.leases
    }

    /// Marks what the roots reach (images, containers, build cache; not leases, which protect by
    /// time in the stores).
    pub fn mark(&self) -> Result<Marked, ServiceError> {
        let mut m = Marked::default();
        let keep_layer = |m: &mut Marked, d: &Digest| {
            if m.blobs.insert(d.clone()) {
                m.blobs.extend((self.compressed)(d));
            }
        };
        for img in self.images.list() {
            m.blobs.insert(img.id.clone());
            let diff_ids: Vec<Digest> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
            for (n, d) in diff_ids.iter().enumerate() {
                keep_layer(&mut m, d);
                m.snapshots.insert(chain_id(&diff_ids[..=n]).to_string());
            }
        }
        let cache = berth_build::cache::list(&self.cache_dir).map_err(|e| ServiceError::Internal(format!("reading the build cache: {e}")))?;
        for e in cache.entries.values() {
            keep_layer(&mut m, &e.diff_id);
            if let Some(c) = &e.chain {
                m.snapshots.insert(c.clone());
            }
        }
        for h in self.containers.all() {
            m.snapshots.insert(h.snapshot().snapshot);
        }
        // A kept snapshot keeps its parents.
        let all = self.snapshots.list().map_err(snap_err)?;
        let parent_of: std::collections::HashMap<&str, Option<&str>> = all.iter().map(|i| (i.name.as_str(), i.parent.as_deref())).collect();
        let roots: Vec<String> = m.snapshots.iter().cloned().collect();
        for r in roots {
            let mut next = parent_of.get(r.as_str()).copied().flatten();
            while let Some(p) = next {
                if !m.snapshots.insert(p.to_string()) {
                    break;
                }
                next = parent_of.get(p).copied().flatten();
            }
        }
        Ok(m)
    }

    /// One mark-and-sweep pass. Blocking: call from `spawn_blocking`.
    pub fn collect(&self) -> Result<GcReport, ServiceError> {
        let _one_at_a_time = self.running.lock().unwrap_or_else(|e| e.into_inner());
        // The horizon is taken before marking: anything used after it, by an operation that began
        // before or during this pass, is kept whether or not the marking saw its root.
        let horizon = self.leases.horizon();
        let marked = self.mark()?;
        let mut report = GcReport::default();
        let content = self.images.content();
        for d in content.list().map_err(|e| ServiceError::Internal(format!("listing blobs: {e}")))? {
            if marked.blobs.contains(&d) {
                continue;
            }
            match content.collect(&d, horizon) {
                Ok(Collected::Deleted(bytes)) => {
                    report.bytes += bytes;
                    report.blobs.push(d);
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(blob = %d, %error, "could not collect blob"),
            }
        }
        let mounts = mountinfo::mounts();
        // Leaves first: a pass removes what has no children left, the next pass their parents.
        loop {
            let mut removed_any = false;
            for info in self.snapshots.list().map_err(snap_err)? {
                if marked.snapshots.contains(&info.name) {
                    continue;
                }
                if let Ok(dir) = self.snapshots.fs_path(&info.name) {
                    if dir.parent().is_some_and(|d| mountinfo::in_use(&mounts, d)) {
                        tracing::warn!(snapshot = %info.name, "unreferenced snapshot is still mounted; kept");
                        continue;
                    }
                }
                match self.snapshots.remove_unused(&info.name, horizon) {
                    Ok(Removal::Removed(u)) => {
                        report.bytes += u.size;
                        report.snapshots.push(info.name);
                        removed_any = true;
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(snapshot = %info.name, %error, "could not collect snapshot"),
                }
            }
            if !removed_any {
                break;
            }
        }
        content.forget_uses_before(horizon);
        self.snapshots.forget_uses_before(horizon);
        if !report.blobs.is_empty() || !report.snapshots.is_empty() {
            tracing::info!(blobs = report.blobs.len(), snapshots = report.snapshots.len(), bytes = report.bytes, "garbage collected");
        }
        crate::metrics::get().gc_run("collector", report.bytes);
        Ok(report)
    }

    /// Runs a collection on a blocking thread.
    pub async fn collect_async(self: &Arc<Self>) -> Result<GcReport, ServiceError> {
        let me = self.clone();
        berth_types::sched::spawn_blocking(move || me.collect()).await?
    }

    /// Starts a collection in the background (after an operation failed part-way); its result is
    /// only logged.
    pub fn collect_soon(self: &Arc<Self>) {
        let me = self.clone();
        if tokio::runtime::Handle::try_current().is_ok() {
            berth_types::sched::spawn_blocking(move || {
                if let Err(error) = me.collect() {
                    tracing::warn!(%error, "background garbage collection failed");
                }
            });
        }
    }
}

fn snap_err(e: berth_snapshot::SnapshotError) -> ServiceError {
    ServiceError::Internal(format!("snapshots: {e}"))
}
