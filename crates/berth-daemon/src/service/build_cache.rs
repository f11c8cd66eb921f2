//! The build cache as `system df` and `builder prune` see it: one record per cached step (its
//! layer blob and unpacked snapshot) and per `RUN --mount=type=cache` directory, with the disk
//! space each really takes, shaped like BuildKit's records in dockerd's API.

use super::gc::lease::Leases;
use super::gc::Collector;
use super::ServiceError;
use crate::filters::Filters;
use berth_image::ImageStore;
use berth_snapshot::{OverlaySnapshotter, Snapshotter};
use berth_types::Digest;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// One build cache record (`BuildCache` in `GET /system/df`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CacheRecord {
    /// The step's cache key (hex), or the cache mount's directory name.
    #[serde(rename = "ID")]
    pub id: String,
    /// The record of the step before.
    pub parents: Vec<String>,
    /// `regular` for a step's layer, `exec.cachemount` for a cache mount (BuildKit's types).
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// The instruction, or `cached mount <id>`.
    pub description: String,
    /// A build in flight has used it.
    pub in_use: bool,
    /// An image uses its layer too (its space is counted with the images).
    pub shared: bool,
    /// Disk space it takes: the layer blob and the unpacked snapshot, or the mount's files.
    pub size: i64,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// When a build last used it.
    pub last_used_at: Option<String>,
    /// How many builds used it.
    pub usage_count: i64,
    #[serde(skip)]
    labels: BTreeMap<String, String>,
    #[serde(skip)]
    last_used: i64,
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Every record of the cache under `cache_dir`. Blocking (walks snapshots).
pub fn records(cache_dir: &Path, images: &ImageStore, snapshots: &OverlaySnapshotter, leases: &Leases) -> Result<Vec<CacheRecord>, ServiceError> {
    let listing = berth_build::cache::list(cache_dir).map_err(|e| ServiceError::Internal(format!("reading the build cache: {e}")))?;
    let in_images: HashSet<Digest> = images.list().iter().flat_map(|i| i.layers.iter().map(|l| l.diff_id.clone())).collect();
    // In use: touched since a build in flight began.
    let build_since: Option<i64> = leases
        .list()
        .iter()
        .filter(|l| l.kind == "build")
        .filter_map(|l| l.since.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .min();
    let in_use = |last_used: i64| build_since.is_some_and(|s| last_used >= s);
    let content = images.content();
    let mut out = Vec::new();
    for (key, e) in &listing.entries {
        let blob = content.disk_usage(&e.diff_id).unwrap_or(0);
        let snap = e
            .chain
            .as_deref()
            .filter(|c| snapshots.stat(c).is_ok())
            .and_then(|c| snapshots.usage(c).ok())
            .map(|u| u.size)
            .unwrap_or(0);
        out.push(CacheRecord {
            id: key.clone(),
            parents: e.parent.iter().cloned().collect(),
            kind: "regular",
            description: e.description.clone(),
            in_use: in_use(e.last_used),
            shared: in_images.contains(&e.diff_id),
            size: (blob + snap) as i64,
            created_at: rfc3339(e.created),
            last_used_at: Some(rfc3339(e.last_used)),
            usage_count: e.usage_count as i64,
            labels: e.labels.clone(),
            last_used: e.last_used,
        });
    }
    for (dir, (m, bytes)) in &listing.mounts {
        out.push(CacheRecord {
            id: dir.clone(),
            parents: Vec::new(),
            kind: "exec.cachemount",
            description: format!("cached mount {}", m.id),
            in_use: in_use(m.last_used),
            shared: false,
            size: *bytes as i64,
            created_at: rfc3339(m.created),
            last_used_at: Some(rfc3339(m.last_used)),
            usage_count: m.usage_count as i64,
            labels: BTreeMap::new(),
            last_used: m.last_used,
        });
    }
    out.sort_by(|a, b| a.last_used.cmp(&b.last_used).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}

/// `POST /build/prune` options.
#[derive(Debug, Default, Clone)]
pub struct PruneOptions {
    /// `-a`: every record, not only dangling ones.
    pub all: bool,
    /// `--keep-storage`: stop once the cache takes at most this many bytes (0: remove all chosen).
    pub keep_storage: u64,
    /// `until`, `unused-for`, `id`, `type`, `description`, `inuse`, `shared`, `private`, `label`, `label!`.
    pub filters: Filters,
}

/// What a prune removed (`{"CachesDeleted", "SpaceReclaimed"}`).
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PruneReport {
    /// IDs of the records removed.
    pub caches_deleted: Vec<String>,
    /// Disk space freed: cache mounts deleted, and the blobs and snapshots the removed records alone held.
    pub space_reclaimed: u64,
}

fn matches(r: &CacheRecord, f: &Filters) -> Result<bool, ServiceError> {
    let invalid = ServiceError::Invalid;
    for key in ["until", "unused-for"] {
        for v in f.get(key) {
            let cutoff = if key == "unused-for" {
                let ns = berth_api::units::parse_duration_ns(v).ok_or_else(|| invalid(format!("invalid duration {v:?} for unused-for")))?;
                chrono::Utc::now().timestamp() as f64 - ns as f64 / 1e9
            } else {
                super::images::parse_time(v)?
            };
            if r.last_used as f64 >= cutoff {
                return Ok(false);
            }
        }
    }
    let bool_filter = |key: &str, value: bool| -> Result<bool, ServiceError> { Ok(f.bool(key).map_err(invalid)?.is_none_or(|want| want == value)) };
    Ok(f.get("id").iter().all(|p| r.id.starts_with(p.as_str()))
        && f.get("type").iter().all(|t| t == r.kind)
        && f.get("description").iter().all(|d| r.description.contains(d.as_str()))
        && bool_filter("inuse", r.in_use)?
        && bool_filter("shared", r.shared)?
        && bool_filter("private", !r.shared)?
        && f.labels_match("label", Some(&r.labels))
        && !f.get("label!").iter().any(|l| Filters::label_present(l, &r.labels)))
}

/// Removes the chosen records, then collects what they alone held. Blocking.
pub fn prune(cache_dir: &Path, images: &ImageStore, gc: &Collector, opts: &PruneOptions) -> Result<PruneReport, ServiceError> {
    opts.filters
        .validate(&["until", "unused-for", "id", "type", "description", "inuse", "shared", "private", "label", "label!"])
        .map_err(ServiceError::Invalid)?;
    let snapshots = gc.snapshots();
    let all = records(cache_dir, images, &snapshots, gc.leases())?;
    let mut total: u64 = all.iter().filter(|r| !r.shared).map(|r| r.size as u64).sum();
    let mut keys = Vec::new();
    let mut mounts = Vec::new();
    // Oldest first (records() sorts by last use), so --keep-storage keeps the most recent.
    for r in &all {
        if opts.keep_storage > 0 && total <= opts.keep_storage {
            break;
        }
        // Without -a only dangling records go: step results no image uses. Records in use by a
        // build in flight are never removed.
        if r.in_use || (!opts.all && (r.shared || r.kind != "regular")) || !matches(r, &opts.filters)? {
            continue;
        }
        if !r.shared {
            total = total.saturating_sub(r.size as u64);
        }
        match r.kind {
            "regular" => keys.push(r.id.clone()),
            _ => mounts.push(r.id.clone()),
        }
    }
    let mount_bytes = berth_build::cache::remove(cache_dir, &keys, &mounts).map_err(|e| ServiceError::Internal(format!("pruning the build cache: {e}")))?;
    let collected = gc.collect()?;
    let mut caches_deleted = keys;
    caches_deleted.extend(mounts);
    Ok(PruneReport { caches_deleted, space_reclaimed: mount_bytes + collected.bytes })
}
