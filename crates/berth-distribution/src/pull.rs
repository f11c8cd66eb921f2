//! `docker pull`: resolve → (index → platform) → manifest → config → layers, streamed and verified.
//!
//! Layers whose diff id is in the content store already are skipped, so a pull interrupted after
//! some layers finished resumes with the rest. Within one pull a dropped connection is resumed with
//! a `Range` request, up to [`MAX_ATTEMPTS`] times per layer.

use crate::blob_index::{BlobInfo, Source};
use crate::manifest::{self, Descriptor, Document, ImageManifest, Platform};
use crate::session::{error_from_response, transport_error, Session};
use crate::stream::{RawReader, Verified, VerifyError};
use crate::{Client, Credentials, DistributionError, Progress};
use berth_image::{ImageConfig, ImageError, ImageStore, LayerRecord};
use berth_types::{Digest, Reference};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Attempts per layer download before the pull fails (Docker retries 5 times).
const MAX_ATTEMPTS: u32 = 5;
/// Manifests and configs larger than this are refused (distribution's own limit is 4 MiB).
const MAX_DOCUMENT: u64 = 8 << 20;
/// Emit a `Downloading` event at most every this many bytes.
const REPORT_EVERY: u64 = 512 * 1024;

/// What a pull produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullResult {
    /// The image id (digest of its config).
    pub id: Digest,
    /// The digest the reference resolved to (the index digest for multi-platform images), i.e. the
    /// repo digest recorded as `name@digest`.
    pub digest: Digest,
    /// True when the reference now names an image it did not name before (Docker's "Downloaded
    /// newer image"); false for "Image is up to date".
    pub new: bool,
}

struct LayerJob {
    desc: Descriptor,
    diff_id: Digest,
}

impl Client {
    /// Pulls `reference` into `store` for `platform` (`os/arch[/variant]`, default `linux/<host>`),
    /// reporting [`Progress`] as Docker's pull stream does. On success the image is registered with
    /// its config bytes exactly as fetched, the tag (if any) points at it and `name@digest` is recorded.
    pub async fn pull(
        &self,
        store: Arc<ImageStore>,
        reference: &Reference,
        platform: Option<&str>,
        creds: Option<Credentials>,
        progress: impl Fn(Progress) + Send + Sync,
    ) -> Result<PullResult, DistributionError> {
        let want = platform
            .map(Platform::parse)
            .transpose()?
            .unwrap_or_else(Platform::host);
        let reference = reference.clone().with_default_tag();
        let repo = reference.path().to_string();
        let target = manifest_target(&reference);
        let s = Session::open(
            &self.inner,
            reference.domain(),
            vec![format!("repository:{repo}:pull")],
            creds,
            true,
        )
        .await?;

        let (top_digest, ct, body) = fetch_manifest(&s, &reference, &target).await?;
        // As dockerd: `Pulling from` once the manifest is resolved, so a pull that cannot resolve
        // fails before anything streams (an HTTP error, which clients print as one line).
        progress(Progress::PullingFrom {
            repository: repo.clone(),
            tag: target.clone(),
        });
        if let Some(d) = reference.digest() {
            if *d != top_digest {
                return Err(DistributionError::DigestMismatch {
                    expected: d.clone(),
                    actual: top_digest,
                });
            }
        }
        let manifest = match Document::parse(&ct, &body)? {
            Document::Image(m) => *m,
            Document::Index(idx) => {
                let entry = manifest::choose(&idx, &want).ok_or_else(|| {
                    DistributionError::NoMatchingPlatform {
                        platform: want.display(),
                    }
                })?;
                let (d, ct, body) =
                    fetch_manifest(&s, &reference, &entry.digest.to_string()).await?;
                if d != entry.digest {
                    return Err(DistributionError::DigestMismatch {
                        expected: entry.digest.clone(),
                        actual: d,
                    });
                }
                match Document::parse(&ct, &body)? {
                    Document::Image(m) => *m,
                    Document::Index(_) => {
                        return Err(DistributionError::UnsupportedManifest(
                            "nested index".into(),
                        ))
                    }
                }
            }
        };
        let config_bytes = fetch_small_blob(&s, &repo, &manifest.config).await?;
        let config =
            ImageConfig::parse(&config_bytes).map_err(|e| DistributionError::BadDocument {
                what: "image config",
                reason: e.to_string(),
            })?;
        let jobs = plan_layers(&manifest, &config)?;

        let before = store.get(&reference.to_string()).ok().map(|i| i.id);
        let content = store.content().clone();
        let mut pending = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for job in jobs {
            let id = job.desc.digest.short().to_string();
            if content.contains(&job.diff_id) {
                progress(Progress::AlreadyExists { id });
                let src = Some(Source {
                    registry: s.registry.clone(),
                    repository: repo.clone(),
                });
                self.inner
                    .index
                    .record(&job.diff_id, blob_info(&job.desc), src, None)?;
            } else if seen.insert(job.diff_id.clone()) {
                progress(Progress::PullingFsLayer { id });
                pending.push(job);
            }
        }
        for job in pending.iter().skip(self.inner.max_concurrent) {
            progress(Progress::Waiting {
                id: job.desc.digest.short().to_string(),
            });
        }
        let progress = &progress;
        let s = &s;
        let repo_ref = repo.as_str();
        let mut sizes: HashMap<Digest, u64> = futures_util::stream::iter(
            pending
                .into_iter()
                .map(|job| self.pull_layer(s, repo_ref, &content, job, progress)),
        )
        .buffer_unordered(self.inner.max_concurrent)
        .try_collect()
        .await?;

        let mut layers = Vec::with_capacity(config.rootfs.diff_ids.len());
        for diff_id in &config.rootfs.diff_ids {
            let size = match sizes.get(diff_id) {
                Some(n) => *n,
                None => {
                    let n = self.existing_layer_size(&store, diff_id).await?;
                    sizes.insert(diff_id.clone(), n);
                    n
                }
            };
            layers.push(LayerRecord {
                diff_id: diff_id.clone(),
                size,
            });
        }

        let (id, newer) = {
            let store = store.clone();
            let reference = reference.clone();
            let top = top_digest.clone();
            berth_types::sched::spawn_blocking(move || -> Result<(Digest, bool), ImageError> {
                let (id, registered) = store.register(&config_bytes, layers, None)?;
                let moved = if reference.tag().is_some() {
                    store.tag(&id, &reference)?.is_some()
                } else {
                    false
                };
                store.tag(&id, &reference.with_digest(top))?;
                Ok((
                    id.clone(),
                    registered || moved || before.as_ref() != Some(&id),
                ))
            })
            .await
            .map_err(|e| DistributionError::Worker(e.to_string()))??
        };
        tracing::info!(reference = %reference, image.id = %id, digest = %top_digest, "image pulled");
        progress(Progress::Digest(top_digest.clone()));
        progress(Progress::Status {
            reference: reference.familiar(),
            newer,
        });
        Ok(PullResult {
            id,
            digest: top_digest,
            new: newer,
        })
    }

    /// Downloads one layer while unpacking it; returns its diff id and unpacked size.
    async fn pull_layer(
        &self,
        s: &Session<'_>,
        repo: &str,
        content: &berth_content::ContentStore,
        job: LayerJob,
        progress: &(impl Fn(Progress) + Send + Sync),
    ) -> Result<(Digest, u64), DistributionError> {
        let id = job.desc.digest.short().to_string();
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        let consumed = Arc::new(AtomicU64::new(0));
        let worker = {
            let content = content.clone();
            let consumed = consumed.clone();
            let (digest, size, diff_id) =
                (job.desc.digest.clone(), job.desc.size, job.diff_id.clone());
            berth_types::sched::spawn_blocking(move || {
                let raw = RawReader::new(rx, consumed, digest.alg());
                let (_, decoded) =
                    berth_image::compression::decompress(raw.clone()).map_err(ImageError::Read)?;
                let alg = diff_id.alg();
                berth_image::layer::ingest_layer_as(
                    &content,
                    Verified::new(decoded, raw, digest, size, diff_id),
                    alg,
                )
            })
        };
        let downloaded = self.download(s, repo, &job.desc, tx, progress, &id).await;
        if downloaded.is_ok() {
            progress(Progress::VerifyingChecksum { id: id.clone() });
            progress(Progress::DownloadComplete { id: id.clone() });
        }
        let mut worker = worker;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let joined = loop {
            tokio::select! {
                r = &mut worker => break r,
                _ = tick.tick(), if downloaded.is_ok() => {
                    progress(Progress::Extracting { id: id.clone(), current: consumed.load(Ordering::Relaxed), total: job.desc.size });
                }
            }
        };
        // A failed download starves the worker, which then fails too: the download's error is the cause.
        downloaded?;
        let stats = match joined.map_err(|e| DistributionError::Worker(e.to_string()))? {
            Ok(st) => st,
            Err(ImageError::Read(e)) => {
                return Err(match VerifyError::find(&e) {
                    Some(VerifyError::Digest { expected, actual }) => {
                        DistributionError::DigestMismatch {
                            expected: expected.clone(),
                            actual: actual.clone(),
                        }
                    }
                    Some(VerifyError::Size {
                        digest,
                        expected,
                        actual,
                    }) => DistributionError::SizeMismatch {
                        digest: digest.clone(),
                        expected: *expected,
                        actual: *actual,
                    },
                    Some(VerifyError::DiffId { expected, actual }) => ImageError::LayerMismatch {
                        expected: expected.clone(),
                        actual: actual.clone(),
                    }
                    .into(),
                    None => ImageError::Read(e).into(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        progress(Progress::Extracting {
            id: id.clone(),
            current: job.desc.size,
            total: job.desc.size,
        });
        let src = Source {
            registry: s.registry.clone(),
            repository: repo.to_string(),
        };
        self.inner.index.record(
            &stats.diff_id,
            blob_info(&job.desc),
            Some(src),
            Some(stats.size),
        )?;
        progress(Progress::PullComplete { id });
        Ok((stats.diff_id, stats.size))
    }

    /// Streams the blob into `tx`, resuming with `Range` after a dropped connection. Returns early
    /// (Ok) when the receiving worker has stopped: its own error explains why.
    async fn download(
        &self,
        s: &Session<'_>,
        repo: &str,
        desc: &Descriptor,
        tx: mpsc::Sender<Bytes>,
        progress: &(impl Fn(Progress) + Send + Sync),
        id: &str,
    ) -> Result<(), DistributionError> {
        let url = s.url(&format!("{repo}/blobs/{}", desc.digest));
        let mut received = 0u64;
        let mut reported = 0u64;
        let mut attempt = 0;
        'attempts: loop {
            attempt += 1;
            let from = received;
            let resp = match s
                .send(Method::GET, &url, |r| {
                    if from > 0 {
                        r.header(reqwest::header::RANGE, format!("bytes={from}-"))
                    } else {
                        r
                    }
                })
                .await
            {
                Ok(r) => r,
                Err(
                    e
                    @ (DistributionError::Unreachable { .. } | DistributionError::Transfer { .. }),
                ) if attempt < MAX_ATTEMPTS => {
                    tracing::warn!(digest = %desc.digest, attempt, error = %e, "layer download failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match resp.status() {
                StatusCode::PARTIAL_CONTENT if from > 0 => {}
                StatusCode::OK if from == 0 => {}
                StatusCode::OK => {
                    return Err(DistributionError::Transfer {
                        method: "Get",
                        url: url.to_string(),
                        reason: "connection lost and the registry does not support resuming (no range support)".into(),
                    })
                }
                st if st.is_server_error() && attempt < MAX_ATTEMPTS => {
                    tracing::warn!(digest = %desc.digest, attempt, status = st.as_u16(), "layer download failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    continue;
                }
                _ => return Err(error_from_response(resp).await),
            }
            let mut body = resp.bytes_stream();
            while let Some(chunk) = body.next().await {
                match chunk {
                    Ok(c) => {
                        received += c.len() as u64;
                        crate::stats::add_pulled(c.len());
                        if received > desc.size {
                            return Err(DistributionError::SizeMismatch {
                                digest: desc.digest.clone(),
                                expected: desc.size,
                                actual: received,
                            });
                        }
                        if tx.send(c).await.is_err() {
                            return Ok(());
                        }
                        if received - reported >= REPORT_EVERY || received == desc.size {
                            reported = received;
                            progress(Progress::Downloading {
                                id: id.to_string(),
                                current: received,
                                total: desc.size,
                            });
                        }
                    }
                    Err(e) if attempt < MAX_ATTEMPTS => {
                        tracing::warn!(digest = %desc.digest, attempt, received, error = %e, "layer download interrupted; resuming");
                        tokio::time::sleep(backoff(attempt)).await;
                        continue 'attempts;
                    }
                    Err(e) => return Err(transport_error(&Method::GET, &url, &e)),
                }
            }
            return Ok(());
        }
    }

    /// The unpacked size of a layer already in the store: from the blob index, from another image
    /// that has it, or by reading it once.
    async fn existing_layer_size(
        &self,
        store: &Arc<ImageStore>,
        diff_id: &Digest,
    ) -> Result<u64, DistributionError> {
        if let Some(n) = self.inner.index.layer_size(diff_id) {
            return Ok(n);
        }
        if let Some(n) = store
            .list()
            .iter()
            .flat_map(|i| i.layers.iter())
            .find(|l| l.diff_id == *diff_id)
            .map(|l| l.size)
        {
            return Ok(n);
        }
        let content = store.content().clone();
        let d = diff_id.clone();
        let stats = berth_types::sched::spawn_blocking(move || -> Result<_, ImageError> {
            berth_image::layer::verify_layer(std::io::BufReader::new(content.open_blob(&d)?))
        })
        .await
        .map_err(|e| DistributionError::Worker(e.to_string()))??;
        Ok(stats.size)
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 * u64::from(attempt))
}

fn blob_info(d: &Descriptor) -> BlobInfo {
    BlobInfo {
        digest: d.digest.clone(),
        media_type: d.media_type.clone(),
        size: d.size,
        sources: Vec::new(),
    }
}

/// Pairs each manifest layer with the diff id the config lists at the same position.
fn plan_layers(
    m: &ImageManifest,
    config: &ImageConfig,
) -> Result<Vec<LayerJob>, DistributionError> {
    if m.layers.len() != config.rootfs.diff_ids.len() {
        return Err(DistributionError::BadDocument {
            what: "image",
            reason: format!(
                "manifest has {} layers but the config lists {} diff ids",
                m.layers.len(),
                config.rootfs.diff_ids.len()
            ),
        });
    }
    m.layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .map(|(d, diff)| {
            manifest::layer_compression(&d.media_type)?;
            Ok(LayerJob {
                desc: d.clone(),
                diff_id: diff.clone(),
            })
        })
        .collect()
}

/// Fetches a manifest by tag or digest; returns its digest (of the bytes received), content type and bytes.
/// What a reference asks the registry's manifest endpoint for: its digest, else its tag.
pub(crate) fn manifest_target(reference: &Reference) -> String {
    match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => berth_types::reference::DEFAULT_TAG.to_string(),
    }
}

pub(crate) async fn fetch_manifest(
    s: &Session<'_>,
    reference: &Reference,
    target: &str,
) -> Result<(Digest, String, Vec<u8>), DistributionError> {
    let url = s.url(&format!("{}/manifests/{target}", reference.path()));
    let resp = s
        .send(Method::GET, &url, |r| {
            r.header(reqwest::header::ACCEPT, manifest::ACCEPT.join(", "))
        })
        .await?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Err(match error_from_response(resp).await {
            DistributionError::Registry { code, .. } if code == "name_unknown" => {
                DistributionError::RepositoryNotFound {
                    repository: reference.familiar_name(),
                }
            }
            _ => DistributionError::ManifestNotFound {
                reference: reference.familiar(),
            },
        });
    }
    if !resp.status().is_success() {
        return Err(error_from_response(resp).await);
    }
    let ct = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = read_limited(resp, &url, MAX_DOCUMENT).await?;
    // Hashed with the algorithm of the digest asked for (a sha512 reference is verified as sha512);
    // tags resolve to the sha256 digest, as Docker records them.
    let alg = target.parse::<Digest>().map_or(berth_types::Algorithm::Sha256, |d| d.alg());
    Ok((Digest::of_with(alg, &body), ct, body))
}

/// Fetches a small blob (the config) whole and verifies it.
pub(crate) async fn fetch_small_blob(
    s: &Session<'_>,
    repo: &str,
    d: &Descriptor,
) -> Result<Vec<u8>, DistributionError> {
    let url = s.url(&format!("{repo}/blobs/{}", d.digest));
    let resp = s.send_ok(Method::GET, &url, |r| r).await?;
    let body = read_limited(resp, &url, MAX_DOCUMENT.min(d.size.saturating_add(1))).await?;
    let actual = Digest::of_with(d.digest.alg(), &body);
    if actual != d.digest {
        return Err(DistributionError::DigestMismatch {
            expected: d.digest.clone(),
            actual,
        });
    }
    Ok(body)
}

/// A response body of at most `limit` bytes; a larger one is an error, read no further.
pub(crate) async fn read_limited(
    resp: reqwest::Response,
    url: &reqwest::Url,
    limit: u64,
) -> Result<Vec<u8>, DistributionError> {
    let mut out = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let c = chunk.map_err(|e| transport_error(&Method::GET, url, &e))?;
        if out.len() as u64 + c.len() as u64 > limit {
            return Err(DistributionError::BadDocument {
                what: "document",
                reason: format!("{url} is larger than {limit} bytes"),
            });
        }
        out.extend_from_slice(&c);
    }
    Ok(out)
}
