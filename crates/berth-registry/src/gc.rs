//! Garbage collection, online: mark every blob a manifest revision of any repository references, then
//! sweep unreferenced blobs, their dangling links and expired uploads while the registry keeps serving.
//!
//! Safety against writers in flight (distribution needs the registry stopped or read-only instead):
//! - a blob younger than the grace period (by data or link mtime, or by when this process last served
//!   it by HEAD/GET, mounted or linked it) is never swept, which covers uploads finished but not yet
//!   referenced by a manifest, blobs mounted or re-uploaded recently, and existing blobs a client
//!   HEADed and so will reference without uploading (Docker's push). The served time lives in memory:
//!   an out-of-process `gc` over a serving root does not see it;
//! - in-process writers hold the GC lock shared from validation to their last link and record the
//!   digests they reference while a collection is marking; the sweep holds the lock exclusively and
//!   spares everything recorded. A manifest put thus either completes before the sweep (its blobs are
//!   spared) or validates after it (and reports `MANIFEST_BLOB_UNKNOWN` rather than dangling).

use crate::manifest;
use crate::service::{walk_repositories, Registry, WITH_CONTENT_OR_UPLOADS};
use crate::storage::{paths, StorageDriver};
use crate::errors::StorageError;
use berth_types::Digest;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

/// What a collection did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Whether nothing was actually removed.
    pub dry_run: bool,
    /// Distinct blobs referenced by some manifest (kept).
    pub blobs_marked: usize,
    /// Blobs removed (or that would be).
    pub blobs_removed: Vec<Digest>,
    /// Bytes those blobs held.
    pub bytes_freed: u64,
    /// Repository blob links removed with their blobs.
    pub links_removed: usize,
    /// Expired uploads removed.
    pub uploads_removed: usize,
}

/// How a collection runs.
#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Report without removing anything.
    pub dry_run: bool,
    /// Unreferenced blobs modified, linked or served more recently than this are kept.
    pub grace: Duration,
    /// Uploads idle for longer than this are removed.
    pub upload_ttl: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions { dry_run: false, grace: Duration::from_secs(3600), upload_ttl: Duration::from_secs(24 * 3600) }
    }
}

fn older_than(t: SystemTime, age: Duration) -> bool {
    SystemTime::now().duration_since(t).is_ok_and(|d| d >= age)
}

async fn list_or_empty<D: StorageDriver>(d: &D, path: &str) -> Result<Vec<String>, StorageError> {
    match d.list(path).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Runs one collection over `reg`'s storage.
pub async fn collect(reg: &Registry, opts: &GcOptions) -> Result<GcReport, StorageError> {
    let d = &reg.driver;
    let mut report = GcReport { dry_run: opts.dry_run, ..GcReport::default() };
    reg.gc.begin();
    let result = async {
        let repos = walk_repositories(d, WITH_CONTENT_OR_UPLOADS).await?;
        let mut marked: HashSet<Digest> = HashSet::new();
        // Newest link time per blob, so a blob linked recently (mount) counts as young.
        let mut linked_at: HashMap<Digest, SystemTime> = HashMap::new();
        let mut links: Vec<(String, Digest)> = Vec::new();
        for repo in &repos {
            for hex in list_or_empty(d, &paths::revisions(repo)).await? {
                let Ok(m) = Digest::from_hex(&hex) else { continue };
                match d.get_content(&paths::blob_data(&m)).await {
                    Ok(body) => marked.extend(manifest::references(&body)),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
                marked.insert(m);
            }
            for hex in list_or_empty(d, &paths::layers(repo)).await? {
                let Ok(b) = Digest::from_hex(&hex) else { continue };
                if let Ok(info) = d.stat(&paths::layer_link(repo, &b)).await {
                    let e = linked_at.entry(b.clone()).or_insert(info.modified);
                    *e = (*e).max(info.modified);
                }
                links.push((repo.clone(), b));
            }
            report.uploads_removed += expire_uploads(reg, repo, opts).await?;
        }
        report.blobs_marked = marked.len();

        let _exclusive = reg.gc.lock.write().await;
        let touched = reg.gc.end();
        // Read under the exclusive lock: every HEAD that reported a blob present has recorded it.
        let used = reg.gc.used_within(opts.grace);
        let mut removed: HashSet<Digest> = HashSet::new();
        for hh in list_or_empty(d, paths::BLOBS).await? {
            for hex in list_or_empty(d, &format!("{}/{hh}", paths::BLOBS)).await? {
                let Ok(b) = Digest::from_hex(&hex) else { continue };
                if marked.contains(&b) || touched.contains(&b) {
                    continue;
                }
                let info = match d.stat(&paths::blob_data(&b)).await {
                    Ok(i) => i,
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e),
                };
                let young = used.contains(&b)
                    || !older_than(info.modified, opts.grace)
                    || linked_at.get(&b).is_some_and(|t| !older_than(*t, opts.grace));
                if young {
                    continue;
                }
                if !opts.dry_run {
                    d.delete(&format!("{}/{hh}/{hex}", paths::BLOBS)).await?;
                }
                tracing::info!(blob = %b, size = info.size, dry_run = opts.dry_run, "gc removed blob");
                report.bytes_freed += info.size;
                report.blobs_removed.push(b.clone());
                removed.insert(b);
            }
        }
        for (repo, b) in links.iter().filter(|(_, b)| removed.contains(b)) {
            if !opts.dry_run {
                match d.delete(&paths::layer_link(repo, b)).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
            report.links_removed += 1;
        }
        Ok(())
    }
    .await;
    // A failed run must not leave touch recording on forever.
    reg.gc.end();
    result.map(|()| report)
}

async fn expire_uploads(reg: &Registry, repo: &str, opts: &GcOptions) -> Result<usize, StorageError> {
    let d = &reg.driver;
    let mut expired = Vec::new();
    for id in list_or_empty(d, &paths::uploads(repo)).await? {
        let last_write = match d.stat(&paths::upload_data(repo, &id)).await {
            Ok(i) => i.modified,
            Err(e) if e.is_not_found() => match d.stat(&paths::upload(repo, &id)).await {
                Ok(i) => i.modified,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        if !older_than(last_write, opts.upload_ttl) || reg.upload_busy(repo, &id) {
            continue;
        }
        if !opts.dry_run {
            match d.delete(&paths::upload(repo, &id)).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        tracing::info!(repository = repo, upload = %id, dry_run = opts.dry_run, "gc removed expired upload");
        expired.push((repo.to_string(), id));
    }
    if !opts.dry_run {
        reg.forget_sessions(&expired);
    }
    Ok(expired.len())
}
