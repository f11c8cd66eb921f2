//! `docker push`: for each layer, skip (`HEAD`), mount from another repository, or upload a gzip
//! blob compressed once and kept in the content store; then the config; then a Docker schema 2
//! manifest by tag, as dockerd writes it (see docker-wire/registry-push.txt).

use crate::blob_index::{BlobInfo, Source};
use crate::manifest::{self, Descriptor, ImageManifest, LayerCompression};
use crate::session::{error_from_response, Session};
use crate::{Client, Credentials, DistributionError, Progress};
use berth_content::ContentStore;
use berth_image::{ImageError, ImageStore, LayerRecord};
use berth_types::{Digest, Reference};
use futures_util::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode, Url};
use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// gzip level for pushed layers: speed over ratio (dockerd's default level compresses at ~38 MB/s).
const GZIP_LEVEL: u32 = 1;

/// How much of a layer [`gzip_level`] tries, and the ratio above which it counts as incompressible.
const PROBE_BYTES: u64 = 1 << 20;
const INCOMPRESSIBLE: f64 = 0.95;

/// The deflate level for a layer: [`GZIP_LEVEL`], or 0 (stored blocks, still a valid gzip blob) when
/// its first MiB does not shrink by 5%. Already-compressed or random content only grows at level 1
/// and costs ~10× the time to "compress" (55 vs 730 MB/s here), so it is stored instead.
fn gzip_level(layer: impl io::Read) -> u32 {
    let mut head = Vec::new();
    if io::Read::read_to_end(&mut io::Read::take(layer, PROBE_BYTES), &mut head).is_err() || head.len() < 64 * 1024 {
        return GZIP_LEVEL;
    }
    let mut probe = flate2::write::DeflateEncoder::new(Vec::with_capacity(head.len()), flate2::Compression::new(GZIP_LEVEL));
    let packed = io::Write::write_all(&mut probe, &head).and_then(|()| probe.finish());
    match packed {
        Ok(p) if p.len() as f64 > head.len() as f64 * INCOMPRESSIBLE => 0,
        _ => GZIP_LEVEL,
    }
}

/// What a push produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResult {
    /// Digest of the manifest put.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

impl Client {
    /// Pushes the local image `reference` (`name:tag`; `:latest` when neither tag nor digest is
    /// given) to its registry, reporting [`Progress`] as Docker's push stream does, and records the
    /// resulting `name@digest` in `store`.
    pub async fn push(
        &self,
        store: Arc<ImageStore>,
        reference: &Reference,
        creds: Option<Credentials>,
        progress: impl Fn(Progress) + Send + Sync,
    ) -> Result<PushResult, DistributionError> {
        let reference = reference.clone().with_default_tag();
        let tag = reference
            .tag()
            .ok_or_else(|| DistributionError::NoSuchLocalImage(reference.familiar()))?
            .to_string();
        let image = store.get(&reference.to_string()).map_err(|e| match e {
            ImageError::NotFound(_) => DistributionError::NoSuchLocalImage(reference.familiar()),
            e => e.into(),
        })?;
        let repo = reference.path().to_string();
        let domain = reference.domain().to_string();
        progress(Progress::PushRefersTo {
            repository: reference.name(),
        });

        // Ask for pull access to every repository a layer might be mounted from, so one token covers
        // the whole push (as dockerd does).
        let mut scopes = vec![format!("repository:{repo}:pull,push")];
        for l in &image.layers {
            for b in self.inner.index.blobs(&l.diff_id) {
                for src in b.sources {
                    let scope = format!("repository:{}:pull", src.repository);
                    if src.registry == domain && src.repository != repo && !scopes.contains(&scope)
                    {
                        scopes.push(scope);
                    }
                }
            }
        }
        let s = Session::open(&self.inner, &domain, scopes, creds, false).await?;

        let mut unique: Vec<&LayerRecord> = Vec::new();
        for l in &image.layers {
            if !unique.iter().any(|u| u.diff_id == l.diff_id) {
                unique.push(l);
            }
        }
        for l in &unique {
            progress(Progress::Preparing {
                id: l.diff_id.short().to_string(),
            });
        }
        for l in unique.iter().skip(self.inner.max_concurrent) {
            progress(Progress::Waiting {
                id: l.diff_id.short().to_string(),
            });
        }
        let progress = &progress;
        let s = &s;
        let content = store.content();
        let repo_ref = repo.as_str();
        let pushed: BTreeMap<Digest, Descriptor> =
            futures_util::stream::iter(unique.iter().map(|l| async move {
                Ok::<_, DistributionError>((
                    l.diff_id.clone(),
                    self.push_layer(s, repo_ref, content, l, progress).await?,
                ))
            }))
            .buffer_unordered(self.inner.max_concurrent)
            .try_collect()
            .await?;
        let layers: Vec<Descriptor> = image
            .layers
            .iter()
            .filter_map(|l| pushed.get(&l.diff_id).cloned())
            .collect();

        let config_bytes = content.read(&image.id)?;
        if !blob_exists(s, &repo, &image.id).await? {
            let url = start_upload(s, &repo).await?;
            let url = with_digest(url, &image.id);
            let body = config_bytes.clone();
            s.send_ok(Method::PUT, &url, |r| {
                r.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(body.clone())
            })
            .await?;
            crate::stats::add_pushed(config_bytes.len());
        }

        // Docker schema 2 has no zstd layer type: such images go out as OCI manifests.
        let docker = layers.iter().all(|d| {
            manifest::layer_compression(&d.media_type).is_ok_and(|c| c != LayerCompression::Zstd)
        });
        let (mt, config_mt) = if docker {
            (manifest::DOCKER_MANIFEST, manifest::DOCKER_CONFIG)
        } else {
            (manifest::OCI_MANIFEST, manifest::OCI_CONFIG)
        };
        let layers = layers
            .into_iter()
            .map(|d| Descriptor {
                media_type: layer_media_type(&d.media_type, docker),
                ..d
            })
            .collect();
        let m = ImageManifest {
            schema_version: 2,
            media_type: Some(mt.to_string()),
            config: Descriptor {
                media_type: config_mt.to_string(),
                size: config_bytes.len() as u64,
                digest: image.id.clone(),
                platform: None,
                annotations: BTreeMap::new(),
                urls: Vec::new(),
            },
            layers,
        };
        let body = manifest::to_docker_json(&m);
        let url = s.url(&format!("{repo}/manifests/{tag}"));
        s.send_ok(Method::PUT, &url, |r| {
            r.header(reqwest::header::CONTENT_TYPE, mt)
                .body(body.clone())
        })
        .await?;
        let digest = Digest::of(&body);
        let size = body.len() as u64;
        {
            let store = store.clone();
            let (id, r) = (image.id.clone(), reference.with_digest(digest.clone()));
            berth_types::sched::spawn_blocking(move || store.tag(&id, &r))
                .await
                .map_err(|e| DistributionError::Worker(e.to_string()))??;
        }
        tracing::info!(reference = %reference, digest = %digest, "image pushed");
        progress(Progress::PushDigest {
            tag,
            digest: digest.clone(),
            size,
        });
        Ok(PushResult { digest, size })
    }

    /// Makes one layer available in `repo`; returns its manifest descriptor.
    async fn push_layer(
        &self,
        s: &Session<'_>,
        repo: &str,
        content: &ContentStore,
        layer: &LayerRecord,
        progress: &(impl Fn(Progress) + Send + Sync),
    ) -> Result<Descriptor, DistributionError> {
        let id = layer.diff_id.short().to_string();
        let index = &self.inner.index;
        let here = Source {
            registry: s.registry.clone(),
            repository: repo.to_string(),
        };
        let known: Vec<BlobInfo> = index
            .blobs(&layer.diff_id)
            .into_iter()
            .filter(|b| manifest::layer_compression(&b.media_type).is_ok())
            .collect();

        // 1. Already in this repository?
        for b in &known {
            if blob_exists(s, repo, &b.digest).await? {
                index.record(&layer.diff_id, b.clone(), Some(here.clone()), None)?;
                progress(Progress::LayerAlreadyExists { id });
                return Ok(descriptor(b));
            }
        }
        // 2. In another repository of this registry: mount it.
        for b in &known {
            for src in b
                .sources
                .iter()
                .filter(|src| src.registry == s.registry && src.repository != repo)
            {
                let mut url = s.url(&format!("{repo}/blobs/uploads/"));
                url.query_pairs_mut()
                    .append_pair("mount", &b.digest.to_string())
                    .append_pair("from", &src.repository);
                let resp = s.send(Method::POST, &url, |r| r).await?;
                match resp.status() {
                    StatusCode::CREATED => {
                        index.record(&layer.diff_id, b.clone(), Some(here.clone()), None)?;
                        progress(Progress::MountedFrom {
                            id,
                            repository: src.repository.clone(),
                        });
                        return Ok(descriptor(b));
                    }
                    // 202: the registry opened an upload instead; it expires unused.
                    st if st.is_success() => {}
                    _ => return Err(error_from_response(resp).await),
                }
            }
        }
        // 3. Upload a compressed blob we have, or compress once and keep it.
        let blob = match known
            .iter()
            .find(|b| content.contains(&b.digest) && b.media_type == manifest::DOCKER_LAYER_GZIP)
        {
            Some(b) => b.clone(),
            None => {
                let b = compress(content, &layer.diff_id).await?;
                index.record(&layer.diff_id, b.clone(), None, Some(layer.size))?;
                if blob_exists(s, repo, &b.digest).await? {
                    index.record(&layer.diff_id, b.clone(), Some(here), None)?;
                    progress(Progress::LayerAlreadyExists { id });
                    return Ok(descriptor(&b));
                }
                b
            }
        };
        self.upload(s, repo, content, &blob, &id, progress).await?;
        index.record(&layer.diff_id, blob.clone(), Some(here), None)?;
        progress(Progress::Pushed { id });
        Ok(descriptor(&blob))
    }

    /// `POST` an upload, then `PUT` the blob file in one request, reporting `Pushing` as it goes.
    async fn upload(
        &self,
        s: &Session<'_>,
        repo: &str,
        content: &ContentStore,
        blob: &BlobInfo,
        id: &str,
        progress: &(impl Fn(Progress) + Send + Sync),
    ) -> Result<(), DistributionError> {
        let url = with_digest(start_upload(s, repo).await?, &blob.digest);
        let path = content.blob_path(&blob.digest);
        let sent = Arc::new(AtomicU64::new(0));
        let size = blob.size;
        let build = |r: reqwest::RequestBuilder| {
            sent.store(0, Ordering::Relaxed);
            let (path, sent) = (path.clone(), sent.clone());
            let stream =
                futures_util::stream::once(async move { tokio::fs::File::open(path).await })
                    .map_ok(|f| tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024))
                    .try_flatten()
                    .inspect_ok(move |b| {
                        sent.fetch_add(b.len() as u64, Ordering::Relaxed);
                        crate::stats::add_pushed(b.len());
                    });
            r.header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, size)
                .body(reqwest::Body::wrap_stream(stream))
        };
        let put = s.send_ok(Method::PUT, &url, build);
        tokio::pin!(put);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                r = &mut put => { r?; break; }
                _ = tick.tick() => {
                    let cur = sent.load(Ordering::Relaxed);
                    if cur > 0 {
                        progress(Progress::Pushing { id: id.to_string(), current: cur, total: size });
                    }
                }
            }
        }
        progress(Progress::Pushing {
            id: id.to_string(),
            current: size,
            total: size,
        });
        Ok(())
    }
}

fn descriptor(b: &BlobInfo) -> Descriptor {
    Descriptor {
        media_type: b.media_type.clone(),
        size: b.size,
        digest: b.digest.clone(),
        platform: None,
        annotations: BTreeMap::new(),
        urls: Vec::new(),
    }
}

/// The media type to write for a layer in a Docker (`docker`) or OCI manifest.
fn layer_media_type(mt: &str, docker: bool) -> String {
    let c = manifest::layer_compression(mt).unwrap_or(LayerCompression::Gzip);
    match (c, docker) {
        (LayerCompression::Gzip, true) => manifest::DOCKER_LAYER_GZIP,
        (LayerCompression::None, true) => manifest::DOCKER_LAYER_TAR,
        (LayerCompression::Gzip, false) => manifest::OCI_LAYER_GZIP,
        (LayerCompression::None, false) => manifest::OCI_LAYER_TAR,
        (LayerCompression::Zstd, _) => manifest::OCI_LAYER_ZSTD,
    }
    .to_string()
}

async fn blob_exists(s: &Session<'_>, repo: &str, d: &Digest) -> Result<bool, DistributionError> {
    let url = s.url(&format!("{repo}/blobs/{d}"));
    let resp = s.send(Method::HEAD, &url, |r| r).await?;
    match resp.status() {
        st if st.is_success() => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        _ => Err(error_from_response(resp).await),
    }
}

/// Opens an upload session; returns its absolute location.
async fn start_upload(s: &Session<'_>, repo: &str) -> Result<Url, DistributionError> {
    let url = s.url(&format!("{repo}/blobs/uploads/"));
    let resp = s
        .send_ok(Method::POST, &url, |r| {
            r.header(reqwest::header::CONTENT_LENGTH, 0)
        })
        .await?;
    let loc = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| DistributionError::Registry {
            status: resp.status().as_u16(),
            code: "blob_upload_invalid".into(),
            message: "upload response has no Location".into(),
        })?;
    url.join(loc).map_err(|e| DistributionError::Registry {
        status: 202,
        code: "blob_upload_invalid".into(),
        message: format!("bad Location {loc:?}: {e}"),
    })
}

fn with_digest(mut url: Url, d: &Digest) -> Url {
    url.query_pairs_mut().append_pair("digest", &d.to_string());
    url
}

/// gzip-compresses the layer `diff_id` into the content store (deterministic output: no name, zero
/// mtime; see [`gzip_level`]) and returns the blob.
async fn compress(content: &ContentStore, diff_id: &Digest) -> Result<BlobInfo, DistributionError> {
    let content = content.clone();
    let diff_id = diff_id.clone();
    let shown = diff_id.clone();
    let (digest, size) =
        berth_types::sched::spawn_blocking(move || -> Result<(Digest, u64), DistributionError> {
            let level = gzip_level(content.open_blob(&diff_id)?);
            let mut src = io::BufReader::with_capacity(256 * 1024, content.open_blob(&diff_id)?);
            let w = content.writer()?;
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .write(w, flate2::Compression::new(level));
            let path = content.blob_path(&diff_id);
            io::copy(&mut src, &mut gz).map_err(|source| DistributionError::Io {
                op: "compress",
                path: path.clone(),
                source,
            })?;
            let w = gz.finish().map_err(|source| DistributionError::Io {
                op: "compress",
                path,
                source,
            })?;
            Ok(w.commit(None, None)?)
        })
        .await
        .map_err(|e| DistributionError::Worker(e.to_string()))??;
    tracing::debug!(diff_id = %shown, digest = %digest, size, "layer compressed");
    Ok(BlobInfo {
        digest,
        media_type: manifest::DOCKER_LAYER_GZIP.to_string(),
        size,
        sources: Vec::new(),
    })
}

#[cfg(test)]
mod level_tests {
    use super::*;
    use std::io::{Read, Write};

    fn noise(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn incompressible_layers_are_stored_and_still_valid_gzip() {
        let random = noise(3 << 20);
        assert_eq!(gzip_level(&random[..]), 0);
        let text: Vec<u8> = (0..200_000).flat_map(|i| format!("line {i} of a text file\n").into_bytes()).collect();
        assert_eq!(gzip_level(&text[..]), GZIP_LEVEL);
        assert_eq!(gzip_level(&b"tiny"[..]), GZIP_LEVEL, "too little to judge");
        let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(0));
        gz.write_all(&random).unwrap();
        let stored = gz.finish().unwrap();
        assert!(stored.len() < random.len() + random.len() / 100, "stored blocks cost under 1%");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&stored[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, random);
    }
}
