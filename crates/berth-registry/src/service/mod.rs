//! The registry service: blobs, uploads, manifests, tags, catalog and referrers on top of a
//! [`StorageDriver`]. HTTP-free: the routes parse requests into these calls, and errors come back as the
//! spec's error codes.

mod blobs;
mod listing;
pub(crate) use listing::{walk_repositories, WITH_CONTENT_OR_UPLOADS};
mod manifests;
mod uploads;

pub use blobs::ByteRange;
pub use manifests::{ManifestRef, StoredManifest};
pub use uploads::{range_header, BodyStream};

use crate::storage::{paths, Driver, StorageDriver};
use berth_types::Digest;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tunables of the service.
#[derive(Debug, Clone)]
pub struct ServiceLimits {
    /// Uploads idle for longer than this are removed by the sweep.
    pub upload_ttl: Duration,
    /// Unreferenced blobs younger than this survive GC (they may be about to be referenced).
    pub gc_grace: Duration,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        ServiceLimits { upload_ttl: Duration::from_secs(24 * 3600), gc_grace: Duration::from_secs(3600) }
    }
}

/// Coordinates online GC with writers: writers that link or reference blobs hold `lock` shared and
/// record what they touched while a collection is marking; the sweep holds it exclusively. Blob
/// HEAD/GET, mounts and links also record when they used a blob, which the sweep counts as youth.
#[derive(Debug, Default)]
pub(crate) struct GcGuard {
    pub(crate) lock: tokio::sync::RwLock<()>,
    touched: Mutex<Option<HashSet<Digest>>>,
    used: Mutex<UsedBlobs>,
}

/// When each blob was last served, mounted or linked. Entries older than the grace period are pruned
/// at each sweep, and on insert once the map outgrows `prune_at` (doubled after each prune, so
/// pruning stays amortised O(1) while the map is bounded by the blobs used within one grace period).
#[derive(Debug, Default)]
struct UsedBlobs {
    at: HashMap<Digest, Instant>,
    prune_at: usize,
}

/// Below this many entries the used-blob map is pruned only by the sweep.
const USED_PRUNE_MIN: usize = 10_000;

impl GcGuard {
    fn touched(&self) -> MutexGuard<'_, Option<HashSet<Digest>>> {
        self.touched.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn used_blobs(&self) -> MutexGuard<'_, UsedBlobs> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that blob `d` was just served to a client, mounted or linked, so a sweep within `grace`
    /// spares it: Docker HEADs a layer, skips uploading it when it exists, then puts a manifest naming it.
    pub(crate) fn used(&self, d: &Digest, grace: Duration) {
        let mut u = self.used_blobs();
        u.at.insert(d.clone(), Instant::now());
        if u.at.len() > u.prune_at.max(USED_PRUNE_MIN) {
            u.at.retain(|_, t| t.elapsed() < grace);
            u.prune_at = 2 * u.at.len();
        }
    }

    /// Forgets blobs not used within `grace` and returns the rest.
    pub(crate) fn used_within(&self, grace: Duration) -> HashSet<Digest> {
        let mut u = self.used_blobs();
        u.at.retain(|_, t| t.elapsed() < grace);
        u.at.keys().cloned().collect()
    }

    /// Records that `digests` were just referenced, if a collection is marking.
    pub(crate) fn touch(&self, digests: impl IntoIterator<Item = Digest>) {
        if let Some(set) = self.touched().as_mut() {
            set.extend(digests);
        }
    }

    /// Starts recording touches (call before marking).
    pub(crate) fn begin(&self) {
        *self.touched() = Some(HashSet::new());
    }

    /// Stops recording and returns what was touched since [`GcGuard::begin`].
    pub(crate) fn end(&self) -> HashSet<Digest> {
        self.touched().take().unwrap_or_default()
    }
}

/// Upload sessions by (repository, upload id); each locked while a request writes to it.
pub(crate) type Sessions = HashMap<(String, String), Arc<tokio::sync::Mutex<uploads::UploadState>>>;

/// The registry's state: a driver plus the in-memory upload sessions and GC coordination.
#[derive(Debug)]
pub struct Registry {
    pub(crate) driver: Driver,
    pub(crate) limits: ServiceLimits,
    uploads: Mutex<Sessions>,
    /// Uploads committed whose leftovers are still being removed (see `uploads::forget`): unknown to
    /// clients already.
    finishing: Arc<Mutex<HashSet<(String, String)>>>,
    pub(crate) gc: GcGuard,
    /// The upstream, when this registry is a pull-through cache.
    pub(crate) proxy: Option<crate::proxy::Proxy>,
}

impl Registry {
    /// A registry over `driver`.
    pub fn new(driver: Driver, limits: ServiceLimits) -> Registry {
        Registry {
            driver,
            limits,
            uploads: Mutex::new(HashMap::new()),
            finishing: Arc::default(),
            gc: GcGuard::default(),
            proxy: None,
        }
    }

    /// This registry as a pull-through cache of `proxy`'s upstream.
    pub(crate) fn with_proxy(mut self, proxy: crate::proxy::Proxy) -> Registry {
        self.proxy = Some(proxy);
        self
    }

    /// Writes the layout version file if the store is new.
    pub async fn init(&self) -> Result<(), crate::errors::StorageError> {
        match self.driver.get_content(paths::FORMAT).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => self.driver.put_content(paths::FORMAT, Bytes::from_static(b"1\n")).await,
            Err(e) => Err(e),
        }
    }

    /// Whether the repository `name` exists (has blobs, manifests or uploads).
    pub async fn repo_exists(&self, name: &str) -> bool {
        self.driver.stat(&paths::repo(name)).await.map(|i| i.is_dir).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests;
