//! The pull-through cache's scheduler (distribution's `proxy/scheduler`): content cached more than
//! `ttl` ago is unlinked — manifest revisions, the tags pointing at them or not confirmed since, and
//! blob links, judged by their link's mtime (written when the content was cached or a tag last
//! confirmed) — and a GC collection then removes the blobs nothing references any more. Expired
//! content that is pulled again is fetched again from the upstream.
//!
//! Ages come from the store's mtimes rather than a schedule held in memory, so a restart loses
//! nothing and every replica sharing a store judges alike.

use crate::errors::StorageError;
use crate::gc::{self, GcOptions};
use crate::service::{walk_repositories, Registry, WITH_CONTENT_OR_UPLOADS};
use crate::storage::{list_digests, paths, StorageDriver};
use std::time::{Duration, SystemTime};

/// What one expiry pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    /// Manifest revisions unlinked.
    pub manifests: usize,
    /// Tags removed.
    pub tags: usize,
    /// Blob links removed.
    pub blobs: usize,
}

/// Unlinks everything cached more than `ttl` ago.
pub(crate) async fn expire(reg: &Registry, ttl: Duration) -> Result<Expired, StorageError> {
    let d = &reg.driver;
    let now = SystemTime::now();
    let old = |t: SystemTime| now.duration_since(t).is_ok_and(|age| age >= ttl);
    let mut out = Expired::default();
    for repo in walk_repositories(d, WITH_CONTENT_OR_UPLOADS).await? {
        let mut gone = Vec::new();
        for m in list_digests(d, |alg| paths::revisions(&repo, alg)).await? {
            let link = paths::revision_link(&repo, &m);
            // The whole revision directory: GC marks what a revision directory names.
            if d.stat(&link).await.is_ok_and(|i| old(i.modified)) && remove(d, parent(&link)).await? {
                out.manifests += 1;
                gone.push(m.to_string());
            }
        }
        let tags = match d.list(&paths::tags(&repo)).await {
            Ok(t) => t,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        for t in tags {
            let path = paths::tag(&repo, &t);
            let Ok(info) = d.stat(&path).await else { continue };
            let target = d.get_content(&path).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
            if (old(info.modified) || gone.contains(&target)) && remove(d, &path).await? {
                out.tags += 1;
            }
        }
        for b in list_digests(d, |alg| paths::layers(&repo, alg)).await? {
            let link = paths::layer_link(&repo, &b);
            if d.stat(&link).await.is_ok_and(|i| old(i.modified)) && remove(d, parent(&link)).await? {
                out.blobs += 1;
            }
        }
    }
    Ok(out)
}

/// The directory of a `…/<hex>/link` file.
fn parent(link: &str) -> &str {
    link.rsplit_once('/').map_or(link, |(dir, _)| dir)
}

async fn remove<D: StorageDriver>(d: &D, path: &str) -> Result<bool, StorageError> {
    match d.delete(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// How often the scheduler looks for expired content: a quarter of the TTL, between 1 s and 1 h.
pub(crate) fn period(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// One scheduler pass: expire, then collect what became unreferenced (with the registry's grace).
pub(crate) async fn pass(reg: &Registry, ttl: Duration) {
    match expire(reg, ttl).await {
        Ok(e) if e == Expired::default() => {}
        Ok(e) => {
            tracing::info!(manifests = e.manifests, tags = e.tags, blobs = e.blobs, "expired cached content");
            let opts = GcOptions { grace: reg.limits.gc_grace, upload_ttl: reg.limits.upload_ttl, ..GcOptions::default() };
            match gc::collect(reg, &opts).await {
                Ok(r) => tracing::info!(blobs_removed = r.blobs_removed.len(), bytes_freed = r.bytes_freed, "expired blobs collected"),
                Err(e) => tracing::warn!(error = %e, "collecting expired blobs failed"),
            }
        }
        Err(e) => tracing::warn!(error = %e, "expiring cached content failed"),
    }
}
