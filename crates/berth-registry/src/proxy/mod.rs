//! Pull-through cache (distribution's `proxy:` mode): a registry configured with an upstream serves
//! pulls of any repository from it and keeps what passes through.
//!
//! - **Manifests by digest** never change: fetched once, verified against the digest, stored as a
//!   pushed manifest is (blob + revision link).
//! - **Tags** are cached with the time they were last confirmed (the tag file's mtime). A pull of a tag
//!   confirmed within `tag_ttl` is answered from the cache; otherwise the upstream is asked (`HEAD`,
//!   then `GET` only if the digest moved). If the upstream cannot answer — down, refusing, or no
//!   longer having the tag — the cached tag is served, as distribution does.
//! - **Blobs** stream to the client while they are fetched and stored (see `fetch`); concurrent pulls
//!   of one blob share one upstream fetch; a blob whose bytes do not match its digest is not stored.
//! - **Expiry**: content cached longer than `ttl` ago (by its link's mtime) is unlinked by the
//!   scheduler (see `expiry`), and the next GC sweep removes the blobs nothing references any more.
//! - **Tag lists** are the upstream's (see `tags`), the cache's own only while the upstream fails.
//! - Pushes and deletes are refused with 405 `UNSUPPORTED`, as distribution refuses them.
//!
//! Upstream auth: Basic, or the bearer-token flow, with `username`/`password` (see `upstream`).

pub(crate) mod expiry;
mod fetch;
mod tags;
mod upstream;

pub use upstream::UpstreamError;

use crate::errors::{ApiError, ErrorCode};
use crate::manifest::{self, MAX_MANIFEST_SIZE};
use crate::service::{ManifestRef, Registry};
use crate::storage::{paths, StorageDriver};
use berth_types::Digest;
use bytes::{Bytes, BytesMut};
use fetch::Fetch;
use futures_util::StreamExt;
use reqwest::Method;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use upstream::Upstream;

/// What `berth registry --proxy-remote-url` and the config file's `proxy:` section set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The upstream registry, `http(s)://host[:port]` (distribution's `remoteurl`).
    pub remote_url: String,
    /// Credentials for the upstream (Basic, or to obtain bearer tokens).
    pub username: Option<String>,
    /// The password or token of `username`.
    pub password: Option<String>,
    /// Cached content older than this is expired by the scheduler (distribution's `ttl`, default
    /// 168 h); `None` keeps it until a manual GC.
    pub ttl: Option<Duration>,
    /// A tag confirmed with the upstream less than this long ago is served without asking it again
    /// (Berth's `tagttl`; default 0: ask on every pull, falling back to the cache when the upstream
    /// cannot answer, as distribution does).
    pub tag_ttl: Duration,
}

impl ProxyConfig {
    /// A cache of `remote_url` with distribution's defaults.
    pub fn new(remote_url: impl Into<String>) -> ProxyConfig {
        ProxyConfig { remote_url: remote_url.into(), username: None, password: None, ttl: Some(Duration::from_secs(168 * 3600)), tag_ttl: Duration::ZERO }
    }

    /// Checks the URL and the credentials pair; a one-line reason otherwise.
    pub fn validate(&self) -> Result<(), String> {
        let u = url::Url::parse(&self.remote_url).map_err(|e| format!("remote URL {:?}: {e}", self.remote_url))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(format!("remote URL {:?} must be http(s)://host[:port]", self.remote_url));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err("set both username and password for the upstream, or neither".into());
        }
        Ok(())
    }
}

/// Every manifest type the cache asks the upstream for, so it stores what the upstream has and
/// negotiates with each client itself.
const ACCEPT_ALL: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// The pull-through state of a registry.
#[derive(Debug)]
pub(crate) struct Proxy {
    upstream: Arc<Upstream>,
    pub(crate) config: ProxyConfig,
    /// Where fetches spool blobs (unlinked files).
    spool_dir: PathBuf,
    inflight: Arc<Mutex<HashMap<Digest, Arc<Fetch>>>>,
}

/// Where a blob's bytes come from.
pub(crate) enum BlobSource {
    /// Stored: its size.
    Local(u64),
    /// Arriving from the upstream: its size and the shared fetch.
    Remote(u64, Arc<Fetch>),
}

fn unavailable(e: &UpstreamError) -> ApiError {
    ApiError::new(ErrorCode::Unavailable, e.to_string())
}

fn blob_unknown(d: &Digest) -> ApiError {
    ApiError::new(ErrorCode::BlobUnknown, "blob unknown to registry").with_detail(serde_json::json!({ "digest": d }))
}

impl Proxy {
    /// A cache of `config.remote_url`, spooling in-flight blobs under `spool_dir`.
    pub(crate) fn new(config: ProxyConfig, spool_dir: PathBuf) -> Result<Proxy, String> {
        config.validate()?;
        let creds = config.username.clone().zip(config.password.clone());
        let upstream = Arc::new(Upstream::new(&config.remote_url, creds)?);
        Ok(Proxy { upstream, config, spool_dir, inflight: Arc::new(Mutex::new(HashMap::new())) })
    }

    /// The upstream's base URL (for logs).
    pub(crate) fn remote(&self) -> &str {
        self.upstream.base()
    }

    /// Makes the cache hold manifest `r` of `name` if the upstream has it (and refreshes a stale tag);
    /// the caller then reads it from storage.
    pub(crate) async fn refresh_manifest(&self, reg: &Registry, name: &str, r: &ManifestRef) -> Result<(), ApiError> {
        match r {
            ManifestRef::Digest(d) => {
                if reg.driver.stat(&paths::revision_link(name, d)).await.is_ok() && reg.driver.stat(&paths::blob_data(d)).await.is_ok() {
                    return Ok(());
                }
                match self.fetch_manifest(reg, name, &d.to_string(), Some(d), None).await {
                    Ok(_) | Err(UpstreamError::NotFound) => Ok(()),
                    Err(e) => Err(unavailable(&e)),
                }
            }
            ManifestRef::Tag(t) => {
                let cached = reg.driver.stat(&paths::tag(name, t)).await.ok();
                let fresh = cached.as_ref().is_some_and(|i| SystemTime::now().duration_since(i.modified).is_ok_and(|age| age < self.config.tag_ttl));
                if fresh {
                    return Ok(());
                }
                match self.refresh_tag(reg, name, t).await {
                    Ok(()) => Ok(()),
                    // The upstream cannot answer: serve what the cache has (distribution does the same).
                    Err(e) if cached.is_some() => {
                        tracing::info!(repository = %name, tag = %t, error = %e, "upstream unavailable, serving the cached tag");
                        Ok(())
                    }
                    Err(UpstreamError::NotFound) => Ok(()),
                    Err(e) => Err(unavailable(&e)),
                }
            }
        }
    }

    /// Asks the upstream where tag `t` points; fetches the manifest if the cache lacks it; records
    /// the tag (its new mtime is when it was confirmed).
    async fn refresh_tag(&self, reg: &Registry, name: &str, t: &str) -> Result<(), UpstreamError> {
        let head = self.upstream.get(Method::HEAD, name, &format!("manifests/{t}"), Some(ACCEPT_ALL)).await?;
        let upstream_digest = head.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()).and_then(|s| s.parse::<Digest>().ok());
        let have = match &upstream_digest {
            Some(d) => reg.driver.stat(&paths::revision_link(name, d)).await.is_ok() && reg.driver.stat(&paths::blob_data(d)).await.is_ok(),
            None => false,
        };
        let digest = match upstream_digest {
            Some(d) if have => d,
            expected => self.fetch_manifest(reg, name, t, expected.as_ref(), Some(t)).await?,
        };
        reg.driver
            .put_content(&paths::tag(name, t), Bytes::from(digest.to_string()))
            .await
            .map_err(|e| UpstreamError::Unreachable(format!("cannot store tag: {e}")))
    }

    /// GETs manifest `reference` of `name`, checks it is what `expected` names (else, when fetched by
    /// tag, what the upstream's `Docker-Content-Digest` names), validates and stores it, and tags it
    /// `tag` if given. Returns its digest.
    async fn fetch_manifest(
        &self,
        reg: &Registry,
        name: &str,
        reference: &str,
        expected: Option<&Digest>,
        tag: Option<&str>,
    ) -> Result<Digest, UpstreamError> {
        let resp = self.upstream.get(Method::GET, name, &format!("manifests/{reference}"), Some(ACCEPT_ALL)).await?;
        let header_digest = resp.headers().get("Docker-Content-Digest").and_then(|v| v.to_str().ok()).and_then(|s| s.parse::<Digest>().ok());
        let ct = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST_SIZE as u64) {
            return Err(UpstreamError::Invalid("manifest exceeds 4 MiB".into()));
        }
        let mut body = BytesMut::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
            if body.len() + chunk.len() > MAX_MANIFEST_SIZE {
                return Err(UpstreamError::Invalid("manifest exceeds 4 MiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        let body = body.freeze();
        let want = expected.cloned().or(header_digest);
        let digest = match &want {
            Some(w) => Digest::of_with(w.alg(), &body),
            None => Digest::of(&body),
        };
        if let Some(w) = &want {
            if w != &digest {
                tracing::warn!(repository = %name, reference, expected = %w, actual = %digest, "upstream manifest does not match its digest");
                return Err(UpstreamError::Invalid(format!("manifest {reference} has digest {digest}, not {w}")));
            }
        }
        let m = manifest::parse(&body, ct.as_deref()).map_err(|e| UpstreamError::Invalid(format!("manifest {reference}: {}", e.message)))?;
        let store = async {
            let _gc = reg.gc.lock.read().await;
            reg.driver.put_content(&paths::blob_data(&digest), body.clone()).await?;
            reg.driver.put_content(&paths::revision_link(name, &digest), Bytes::from(m.media_type.clone())).await?;
            if let Some(t) = tag {
                reg.driver.put_content(&paths::tag(name, t), Bytes::from(digest.to_string())).await?;
            }
            reg.gc.touch([digest.clone()]);
            Ok::<_, crate::errors::StorageError>(())
        };
        store.await.map_err(|e| UpstreamError::Unreachable(format!("cannot store manifest: {e}")))?;
        tracing::debug!(repository = %name, reference, digest = %digest, "manifest cached from upstream");
        Ok(digest)
    }

    /// The size of blob `d` of `name` for a HEAD the cache cannot answer: from a fetch in flight, or
    /// from the upstream.
    pub(crate) async fn blob_size(&self, name: &str, d: &Digest) -> Result<u64, ApiError> {
        let inflight = self.inflight().get(d).cloned();
        if let Some(f) = inflight {
            if let Ok(size) = f.size().await {
                return Ok(size);
            }
        }
        match self.upstream.get(Method::HEAD, name, &format!("blobs/{d}"), None).await {
            Ok(r) => r.content_length().ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "upstream sent no Content-Length")),
            Err(UpstreamError::NotFound) => Err(blob_unknown(d)),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Where to read blob `d` of `name` from when the repository has no link to it: bytes another
    /// repository cached (linked here once the upstream confirms this repository has them), or a
    /// fetch from the upstream, joined if one is in flight.
    pub(crate) async fn blob_source(&self, reg: &Registry, name: &str, d: &Digest) -> Result<BlobSource, ApiError> {
        if let Ok(info) = reg.driver.stat(&paths::blob_data(d)).await {
            match self.upstream.get(Method::HEAD, name, &format!("blobs/{d}"), None).await {
                Ok(_) => {
                    let _gc = reg.gc.lock.read().await;
                    reg.mark_used(d).await?;
                    reg.link_blob(name, d).await?;
                    return Ok(BlobSource::Local(info.size));
                }
                Err(UpstreamError::NotFound) => return Err(blob_unknown(d)),
                Err(e) => return Err(unavailable(&e)),
            }
        }
        let (f, started) = {
            let mut map = self.inflight();
            match map.get(d) {
                Some(f) => (f.clone(), None),
                None => {
                    let (f, tx) = Fetch::new(d.clone());
                    map.insert(d.clone(), f.clone());
                    (f, Some(tx))
                }
            }
        };
        if let Some(tx) = started {
            self.start(reg, name, f.clone(), tx);
        }
        match f.size().await {
            Ok(size) => Ok(BlobSource::Remote(size, f)),
            Err((true, _)) => Err(blob_unknown(d)),
            Err((false, m)) => Err(ApiError::new(ErrorCode::Unavailable, m.to_string())),
        }
    }

    /// Spawns the fetch of `f`; it runs to its end even if every client that asked leaves, so the
    /// blob is cached for the next pull.
    fn start(&self, reg: &Registry, name: &str, f: Arc<Fetch>, tx: tokio::sync::watch::Sender<fetch::Progress>) {
        let driver = reg.driver.clone();
        let spool_dir = self.spool_dir.clone();
        let name = name.to_string();
        let path = format!("blobs/{}", f.digest);
        let upstream = self.upstream.clone();
        let inflight = self.inflight.clone();
        tokio::spawn(async move {
            // The upstream request runs in the task too, so a client that leaves does not cancel it.
            let resp = upstream.get(Method::GET, &name, &path, None).await;
            let d = f.digest.clone();
            fetch::run(f, tx, resp, driver, &spool_dir, name).await;
            // Readers that hold the fetch keep reading its spool; new ones find the stored blob.
            inflight.lock().unwrap_or_else(|e| e.into_inner()).remove(&d);
        });
    }

    fn inflight(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Arc<Fetch>>> {
        self.inflight.lock().unwrap_or_else(|e| e.into_inner())
    }
}
