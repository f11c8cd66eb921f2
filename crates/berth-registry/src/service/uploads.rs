//! Blob uploads (OCI § pushing blobs): sessions that receive bytes in one or more requests, hashed as
//! they stream, and become a blob only after digest verification, by one move.
//!
//! An upload lives in storage only (`_uploads/<id>/startedat` and one part object per request that
//! brought bytes, named by its offset; see `storage`), so any process sharing the store continues it:
//! a replica behind a load balancer that did not start it finds its size by listing the parts. What a
//! process keeps in memory is a cache: the running hash of the bytes it saw, valid only while the
//! stored size is still the one it hashed up to; otherwise the digest is computed from the stored parts
//! at commit.

use super::Registry;
use crate::errors::{ApiError, ErrorCode, StorageError};
use crate::storage::{paths, StorageDriver, Write};
use berth_types::{Algorithm, Digest, Digester};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request body as the service sees it: chunks, or the I/O error (dropped connection, idle timeout)
/// that ended it.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// What this process knows of an upload: `hasher` has hashed exactly the first `size` bytes. `None`
/// when this process did not see them all (another replica took a chunk, a restart, a storage error);
/// the digest is then computed from the stored parts at commit, as it is when the client names a digest
/// of another algorithm than the one hashed while streaming (sha256 unless the digest was known at the
/// start, as in a monolithic `POST ?digest=`).
#[derive(Debug)]
pub(crate) struct UploadState {
    size: u64,
    hasher: Option<Digester>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn upload_unknown() -> ApiError {
    ApiError::new(ErrorCode::BlobUploadUnknown, "blob upload unknown to registry")
}

/// The `Range` header value for an upload holding `size` bytes (distribution's `0-<last>` form).
pub fn range_header(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

fn valid_upload_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-')
}

impl Registry {
    /// Starts an upload session in repository `name` and returns its id.
    pub async fn upload_start(&self, name: &str) -> Result<String, ApiError> {
        self.upload_start_with(name, Algorithm::Sha256).await
    }

    /// [`Registry::upload_start`] hashing with `alg` as the bytes stream in.
    async fn upload_start_with(&self, name: &str, alg: Algorithm) -> Result<String, ApiError> {
        let id = berth_types::random_id()[..32].to_string();
        let now = chrono::Utc::now().to_rfc3339();
        // Scratch: an upload a host crash loses costs its client a retry, never acknowledged content.
        self.driver.put_scratch(&paths::upload_started(name, &id), Bytes::from(now)).await?;
        let state = UploadState { size: 0, hasher: Some(Digester::new(alg)) };
        self.sessions().insert((name.to_string(), id.clone()), Arc::new(tokio::sync::Mutex::new(state)));
        Ok(id)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, super::Sessions> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored parts of upload `id` as `(offset, path)`, in order, and the upload's size; `None` if
    /// the upload does not exist (never started, finished, cancelled or expired).
    pub(crate) async fn stored_upload(&self, name: &str, id: &str) -> Result<Option<(Vec<(u64, String)>, u64)>, ApiError> {
        let names = match self.driver.list(&paths::upload_parts(name, id)).await {
            Ok(n) => n,
            Err(e) if e.is_not_found() => match self.driver.stat(&paths::upload_started(name, id)).await {
                Ok(_) => return Ok(Some((Vec::new(), 0))),
                Err(e) if e.is_not_found() => return Ok(None),
                Err(e) => return Err(e.into()),
            },
            Err(e) => return Err(e.into()),
        };
        let mut parts: Vec<(u64, String)> = names
            .into_iter()
            .filter_map(|n| n.parse::<u64>().ok().map(|o| (o, paths::upload_part(name, id, o))))
            .collect();
        parts.sort();
        let size = match parts.last() {
            Some((offset, path)) => offset + self.driver.stat(path).await?.size,
            None => 0,
        };
        Ok(Some((parts, size)))
    }

    /// The session of upload `id` (this process's cache of it), after checking storage has the upload.
    async fn session(&self, name: &str, id: &str) -> Result<(Arc<tokio::sync::Mutex<UploadState>>, Vec<(u64, String)>, u64), ApiError> {
        if !valid_upload_id(id) {
            return Err(upload_unknown());
        }
        let key = (name.to_string(), id.to_string());
        if lock(&self.finishing).contains(&key) {
            return Err(upload_unknown());
        }
        // Storage is the truth: another replica may have appended to it, or a sweep expired it.
        let Some((parts, size)) = self.stored_upload(name, id).await? else {
            self.sessions().remove(&key);
            return Err(upload_unknown());
        };
        let s = self.sessions().get(&key).cloned();
        let s = match s {
            Some(s) => s,
            None => {
                let s = Arc::new(tokio::sync::Mutex::new(UploadState { size, hasher: None }));
                self.sessions().entry(key).or_insert(s).clone()
            }
        };
        Ok((s, parts, size))
    }

    /// Bytes received so far by upload `id`.
    pub async fn upload_size(&self, name: &str, id: &str) -> Result<u64, ApiError> {
        let (_, _, size) = self.session(name, id).await?;
        Ok(size)
    }

    /// Appends `body` to upload `id`. With `start` (from `Content-Range`), the chunk must begin exactly
    /// where the upload ends, else `416 RANGE_INVALID` with the current `Range`. Returns the new size.
    pub async fn upload_append(
        &self,
        name: &str,
        id: &str,
        start: Option<u64>,
        body: BodyStream,
    ) -> Result<u64, ApiError> {
        let (s, _, stored) = self.session(name, id).await?;
        let mut st = s.try_lock().map_err(|_| busy())?;
        sync(&mut st, stored);
        check_offset(name, id, &st, start)?;
        self.write_part(name, id, &mut st, body).await?;
        Ok(st.size)
    }

    /// Completes upload `id` with an optional last chunk: verifies the content hashes to `expected`,
    /// then makes it blob `expected` of repository `name`. On a mismatch the upload is discarded.
    /// With `start` (the last chunk's `Content-Range`), the chunk must begin at the upload's offset,
    /// else `416 RANGE_INVALID` and the upload is left as it was.
    pub async fn upload_finish(
        &self,
        name: &str,
        id: &str,
        expected: &Digest,
        start: Option<u64>,
        body: Option<BodyStream>,
    ) -> Result<u64, ApiError> {
        let (s, mut parts, stored) = self.session(name, id).await?;
        let mut st = s.try_lock().map_err(|_| busy())?;
        sync(&mut st, stored);
        check_offset(name, id, &st, start)?;
        let mut size = stored;
        if let Some(body) = body {
            if let Some(part) = self.write_part(name, id, &mut st, body).await? {
                parts.push(part);
            }
            size = st.size;
        }
        if self.driver.shared() {
            // Another replica may have taken a chunk meanwhile (a client that does not wait for answers).
            let Some(stored) = self.stored_upload(name, id).await? else { return Err(upload_unknown()) };
            (parts, size) = stored;
        }
        let actual = match st.hasher.take() {
            Some(h) if st.size == size && h.alg() == expected.alg() => h.finish(),
            _ => self.rehash(&parts, expected.alg()).await?,
        };
        if &actual != expected {
            drop(st);
            self.upload_cancel(name, id).await?;
            return Err(ApiError::new(ErrorCode::DigestInvalid, "provided digest did not match uploaded content")
                .with_detail(serde_json::json!({ "expected": expected, "actual": actual })));
        }
        {
            let _gc = self.gc.lock.read().await;
            // One group of writes, durable when `apply` returns (what the 201 promises): first the
            // reference marker, before the blob appears, so a collection that already judged an older
            // copy unreferenced sees it and keeps it (see `gc`); then the bytes (a move for one part, a
            // concatenation for several); then the repository's link. A crash before the end may leave
            // the blob without the link (stored, unreferenced: GC's to take), never a link to bytes
            // that are not all there (a link counts only with the blob's data, see `linked_size`).
            let data = paths::blob_data(expected);
            let bytes = match &parts[..] {
                [] => Write::Put(data, Bytes::new()),
                [(_, only)] => Write::Move(only.clone(), data),
                _ => Write::Concat(parts.iter().map(|(_, p)| p.clone()).collect(), data),
            };
            let link = Write::Put(paths::layer_link(name, expected), Bytes::from(expected.to_string()));
            self.driver.apply(vec![vec![Write::Mark(paths::blob_used(expected)), bytes, link]]).await?;
            self.linked(expected);
        }
        drop(st);
        self.forget(name, id).await;
        Ok(size)
    }

    /// Discards upload `id` and everything it received.
    pub async fn upload_cancel(&self, name: &str, id: &str) -> Result<(), ApiError> {
        if !valid_upload_id(id) {
            return Err(upload_unknown());
        }
        self.sessions().remove(&(name.to_string(), id.to_string()));
        match self.driver.delete(&paths::upload(name, id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Err(upload_unknown()),
            Err(e) => Err(e.into()),
        }
    }

    /// Drops the session and stored state of a finished upload. On storage no other process shares,
    /// the removal runs after the response (the client need not wait for it) and this process answers
    /// for the upload as gone meanwhile; on shared storage it is removed before, so every replica
    /// agrees. A removal that fails is the expiry sweep's to retry.
    async fn forget(&self, name: &str, id: &str) {
        let key = (name.to_string(), id.to_string());
        self.sessions().remove(&key);
        let (driver, path) = (self.driver.clone(), paths::upload(name, id));
        let remove = async move {
            if let Err(e) = driver.delete(&path).await {
                if !e.is_not_found() {
                    tracing::warn!(error = %e, upload = %path, "cannot remove finished upload; the sweep will");
                }
            }
        };
        if self.driver.shared() {
            return remove.await;
        }
        lock(&self.finishing).insert(key.clone());
        let finishing = self.finishing.clone();
        tokio::spawn(async move {
            remove.await;
            lock(&finishing).remove(&key);
        });
    }

    /// Forgets sessions whose stored upload is gone (after a sweep expired them), unless busy.
    pub(crate) fn forget_sessions(&self, expired: &[(String, String)]) {
        let mut map = self.sessions();
        for key in expired {
            map.remove(key);
        }
    }

    /// Whether upload `id` of `name` is being written right now by this process.
    pub(crate) fn upload_busy(&self, name: &str, id: &str) -> bool {
        self.sessions().get(&(name.to_string(), id.to_string())).is_some_and(|s| s.try_lock().is_err())
    }

    /// Uploads blob `expected` in one request (OCI § monolithic upload, `POST ?digest=`).
    pub async fn blob_put(&self, name: &str, expected: &Digest, body: BodyStream) -> Result<u64, ApiError> {
        let id = self.upload_start_with(name, expected.alg()).await?;
        match self.upload_finish(name, &id, expected, None, Some(body)).await {
            Ok(n) => Ok(n),
            Err(e) => {
                let _ = self.upload_cancel(name, &id).await;
                Err(e)
            }
        }
    }

    /// Stores `body` as the upload's next part. Bytes that arrived before the client's connection broke
    /// are kept (the client resumes from the `Range` it is told); on a storage error nothing is stored.
    /// Returns the part stored, as `(offset, path)`, if the body brought any bytes.
    async fn write_part(
        &self,
        name: &str,
        id: &str,
        st: &mut UploadState,
        mut body: BodyStream,
    ) -> Result<Option<(u64, String)>, ApiError> {
        let offset = st.size;
        let path = paths::upload_part(name, id, st.size);
        // Opened at the first byte: a final `PUT` usually has an empty body, and then nothing is written.
        let mut w = None;
        let mut received = 0u64;
        let mut hasher = st.hasher.clone();
        let mut store_err = None;
        let mut client_err = None;
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) if chunk.is_empty() => {}
                Ok(chunk) => {
                    let w = match &mut w {
                        Some(w) => w,
                        None => w.insert(self.driver.writer(&path).await?),
                    };
                    if let Err(e) = w.write_all(&chunk).await {
                        store_err = Some(e);
                        break;
                    }
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk);
                    }
                    received += chunk.len() as u64;
                }
                Err(e) => {
                    client_err = Some(e);
                    break;
                }
            }
        }
        if let (Some(mut w), None) = (w, &store_err) {
            store_err = w.shutdown().await.err();
        }
        if let Some(source) = store_err {
            // Nothing of this request was stored (an unfinished writer stores nothing).
            return Err(StorageError::Io { op: "write", path, source }.into());
        }
        st.size += received;
        st.hasher = hasher;
        if let Some(e) = client_err {
            tracing::debug!(error = %e, "upload body ended early");
            return Err(ApiError::new(ErrorCode::BlobUploadInvalid, "upload body was interrupted"));
        }
        Ok((received > 0).then_some((offset, path)))
    }

    async fn rehash(&self, parts: &[(u64, String)], alg: Algorithm) -> Result<Digest, ApiError> {
        let mut h = Digester::new(alg);
        let mut buf = vec![0u8; 1 << 16];
        for (_, path) in parts {
            let mut r = self.driver.reader(path, 0).await?;
            loop {
                let n = r
                    .read(&mut buf)
                    .await
                    .map_err(|source| StorageError::Io { op: "read", path: path.to_string(), source })?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
        Ok(h.finish())
    }
}

/// Drops the cached hash if storage moved on without this process (another replica took a chunk).
fn sync(st: &mut UploadState, stored: u64) {
    if st.size != stored {
        st.size = stored;
        st.hasher = None;
    }
}

fn busy() -> ApiError {
    ApiError::new(ErrorCode::BlobUploadInvalid, "upload is busy with another request")
}

/// A chunk whose `Content-Range` does not start where the upload ends is refused with 416 and the
/// `Range` the client should resume from (OCI § pushing a blob in chunks).
fn check_offset(name: &str, id: &str, st: &UploadState, start: Option<u64>) -> Result<(), ApiError> {
    match start {
        Some(start) if start != st.size => Err(ApiError::new(ErrorCode::RangeInvalid, "chunk out of order")
            .with_header("Range", range_header(st.size))
            .with_header("Location", format!("/v2/{name}/blobs/uploads/{id}"))
            .with_detail(serde_json::json!({ "expected_offset": st.size, "got": start }))),
        _ => Ok(()),
    }
}
