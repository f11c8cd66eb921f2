//! Garbage collection, online: mark every blob a manifest revision of any repository references, then
//! sweep unreferenced blobs, their dangling links and expired uploads while the registry keeps serving,
//! also while other replicas on the same store accept pushes.
//!
//! One collector at a time: a collection first takes the lease `_gc/lease` (holder id + expiry, written
//! then read back after a settle delay, so of two racing collectors the later writer wins and the other
//! backs off), renews it while it runs and releases it at the end; a crashed collector's lease expires.
//! Ages are measured against the store's clock (the mtime of an object the collector just wrote), not
//! the collector's, so a replica with a skewed clock judges them right.
//!
//! Safety against writers in flight, in this process and in any other sharing the store:
//! - a blob younger than the grace period (by data, link or reference-marker mtime, or by when this
//!   process last served it by HEAD/GET, mounted or linked it) is never swept: uploads finished but not
//!   yet referenced by a manifest, blobs mounted or re-uploaded recently;
//! - every writer that references a blob (manifest put, mount, upload commit) first rewrites the blob's
//!   marker `blobs/…/<hex>/used`, then checks the blob exists. The collector notes the marker's mtime,
//!   moves the blob to `_gc/trash/`, then reads the marker again: if it changed, a writer may have seen
//!   the blob before it left, and the collector moves it back (blobs are content-addressed, so the
//!   trashed bytes are the right ones); only otherwise is it deleted. A writer that checks after the
//!   move finds no blob and fails cleanly (`MANIFEST_BLOB_UNKNOWN`; the client uploads it again);
//! - in-process writers also hold the GC lock shared from validation to their last link and record
//!   the digests they reference while a collection is marking; the sweep holds it exclusively and
//!   spares everything recorded.

use crate::manifest;
use crate::service::{walk_repositories, Registry, WITH_CONTENT_OR_UPLOADS};
use crate::storage::{blob_digests, list_digests, paths, Driver, StorageDriver};
use crate::errors::StorageError;
use berth_types::Digest;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

mod lease;

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
    /// Blobs put back because a writer referenced them while they were being removed.
    pub blobs_restored: usize,
    /// Another collector held the lease, so this one did nothing.
    pub lease_busy: bool,
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
    /// How long the GC lease lasts unless renewed (a crashed collector blocks others this long).
    pub lease_ttl: Duration,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            dry_run: false,
            grace: Duration::from_secs(3600),
            upload_ttl: Duration::from_secs(24 * 3600),
            lease_ttl: Duration::from_secs(300),
        }
    }
}

async fn list_or_empty<D: StorageDriver>(d: &D, path: &str) -> Result<Vec<String>, StorageError> {
    match d.list(path).await {
        Ok(v) => Ok(v),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Runs one collection over `reg`'s storage, if no other collector holds the lease.
pub async fn collect(reg: &Registry, opts: &GcOptions) -> Result<GcReport, StorageError> {
    let mut report = GcReport { dry_run: opts.dry_run, ..GcReport::default() };
    let Some(mut lease) = lease::Lease::acquire(&reg.driver, opts.lease_ttl).await? else {
        report.lease_busy = true;
        return Ok(report);
    };
    let result = collect_holding(reg, opts, &mut lease, &mut report).await;
    lease.release(&reg.driver).await;
    result.map(|()| report)
}

async fn collect_holding(
    reg: &Registry,
    opts: &GcOptions,
    lease: &mut lease::Lease,
    report: &mut GcReport,
) -> Result<(), StorageError> {
    let d = &reg.driver;
    let clock = lease::StoreClock::read(d).await?;
    let older_than = |t: SystemTime, age: Duration| clock.older_than(t, age);
    reg.gc.begin();
    let result = async {
        let repos = walk_repositories(d, WITH_CONTENT_OR_UPLOADS).await?;
        let mut marked: HashSet<Digest> = HashSet::new();
        // Newest link time per blob, so a blob linked recently (mount) counts as young.
        let mut linked_at: HashMap<Digest, SystemTime> = HashMap::new();
        let mut links: Vec<(String, Digest)> = Vec::new();
        for repo in &repos {
            for m in list_digests(d, |alg| paths::revisions(repo, alg)).await? {
                match d.get_content(&paths::blob_data(&m)).await {
                    Ok(body) => marked.extend(manifest::references(&body)),
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e),
                }
                marked.insert(m);
            }
            for b in list_digests(d, |alg| paths::layers(repo, alg)).await? {
                if let Ok(info) = d.stat(&paths::layer_link(repo, &b)).await {
                    let e = linked_at.entry(b.clone()).or_insert(info.modified);
                    *e = (*e).max(info.modified);
                }
                links.push((repo.clone(), b));
            }
            report.uploads_removed += expire_uploads(reg, repo, opts, &clock).await?;
        }
        report.blobs_marked = marked.len();
        lease.renew(d).await?;

        let _exclusive = reg.gc.lock.write().await;
        let touched = reg.gc.end();
        // Read under the exclusive lock: every HEAD that reported a blob present has recorded it.
        let used = reg.gc.used_within(opts.grace);
        let mut removed: HashSet<Digest> = HashSet::new();
        let mut seen = 0usize;
        for b in blob_digests(d).await? {
            if marked.contains(&b) || touched.contains(&b) {
                continue;
            }
            seen += 1;
            if seen & 255 == 0 {
                lease.renew(d).await?;
            }
            let marker = stat_opt(d, &paths::blob_used(&b)).await?;
            let Some(info) = stat_opt(d, &paths::blob_data(&b)).await? else {
                // A marker without data (a writer marked a blob that was never uploaded).
                if marker.is_some_and(|m| older_than(m.modified, opts.grace)) && !opts.dry_run {
                    ignore_missing(d.delete(&paths::blob_used(&b)).await)?;
                }
                continue;
            };
            let young = used.contains(&b)
                || !older_than(info.modified, opts.grace)
                || marker.is_some_and(|m| !older_than(m.modified, opts.grace))
                || linked_at.get(&b).is_some_and(|t| !older_than(*t, opts.grace));
            if young {
                continue;
            }
            if !opts.dry_run && !remove_blob(d, &b, marker.map(|m| m.modified)).await? {
                tracing::info!(blob = %b, "gc kept a blob a writer referenced while it was being removed");
                report.blobs_restored += 1;
                continue;
            }
            tracing::info!(blob = %b, size = info.size, dry_run = opts.dry_run, "gc removed blob");
            report.bytes_freed += info.size;
            report.blobs_removed.push(b.clone());
            removed.insert(b);
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
    result
}

async fn stat_opt<D: StorageDriver>(d: &D, path: &str) -> Result<Option<crate::storage::FileInfo>, StorageError> {
    match d.stat(path).await {
        Ok(i) => Ok(Some(i)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

fn ignore_missing(r: Result<(), StorageError>) -> Result<(), StorageError> {
    match r {
        Err(e) if !e.is_not_found() => Err(e),
        _ => Ok(()),
    }
}

/// Removes blob `b` unless a writer rewrote its marker (last seen with mtime `marker`) meanwhile:
/// moves the data to the trash, re-reads the marker, then deletes the trash or moves it back.
/// Returns whether the blob is gone.
async fn remove_blob(d: &Driver, b: &Digest, marker: Option<SystemTime>) -> Result<bool, StorageError> {
    let (data, trash) = (paths::blob_data(b), paths::gc_trash(b));
    match d.move_to(&data, &trash).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => return Ok(true),
        Err(e) => return Err(e),
    }
    let now = stat_opt(d, &paths::blob_used(b)).await?.map(|m| m.modified);
    if now != marker {
        d.move_to(&trash, &data).await?;
        return Ok(false);
    }
    ignore_missing(d.delete(&trash).await)?;
    // Only the marker, never the directory: a writer may have put fresh data there since the move.
    ignore_missing(d.delete(&paths::blob_used(b)).await)?;
    // Then the blob's directory and its `<hh>` parent if that left them empty (object stores have no
    // directories to leave behind).
    if let Driver::Fs(fs) = d {
        fs.prune_empty_dirs(&paths::blob_dir(b), 2).await?;
    }
    Ok(true)
}

async fn expire_uploads(
    reg: &Registry,
    repo: &str,
    opts: &GcOptions,
    clock: &lease::StoreClock,
) -> Result<usize, StorageError> {
    let d = &reg.driver;
    let mut expired = Vec::new();
    for id in list_or_empty(d, &paths::uploads(repo)).await? {
        // The last write: the newest part, else the start (or the directory, for a torn upload).
        let mut last_write = None;
        for p in list_or_empty(d, &paths::upload_parts(repo, &id)).await? {
            if let Some(i) = stat_opt(d, &format!("{}/{p}", paths::upload_parts(repo, &id))).await? {
                last_write = last_write.max(Some(i.modified));
            }
        }
        let last_write = match last_write {
            Some(t) => t,
            None => match stat_opt(d, &paths::upload_started(repo, &id)).await? {
                Some(i) => i.modified,
                None => match stat_opt(d, &paths::upload(repo, &id)).await? {
                    Some(i) => i.modified,
                    None => continue,
                },
            },
        };
        if !clock.older_than(last_write, opts.upload_ttl) || reg.upload_busy(repo, &id) {
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
