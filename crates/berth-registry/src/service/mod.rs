//! The registry service: blobs, uploads, manifests, tags, catalog and referrers on top of a
//! [`StorageDriver`]. HTTP-free: the routes parse requests into these calls, and errors come back as the
//! spec's error codes.

mod blobs;
mod listing;
pub(crate) use listing::walk_repositories;
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
use std::time::Duration;

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
/// record what they touched while a collection is marking; the sweep holds it exclusively.
#[derive(Debug, Default)]
pub(crate) struct GcGuard {
    pub(crate) lock: tokio::sync::RwLock<()>,
    touched: Mutex<Option<HashSet<Digest>>>,
}

impl GcGuard {
    fn touched(&self) -> MutexGuard<'_, Option<HashSet<Digest>>> {
        self.touched.lock().unwrap_or_else(|e| e.into_inner())
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
    pub(crate) gc: GcGuard,
}

impl Registry {
    /// A registry over `driver`.
    pub fn new(driver: Driver, limits: ServiceLimits) -> Registry {
        Registry { driver, limits, uploads: Mutex::new(HashMap::new()), gc: GcGuard::default() }
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
