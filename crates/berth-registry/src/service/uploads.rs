//! Blob uploads (OCI § pushing blobs): sessions that receive bytes in one or more requests, hashed as
//! they stream, and become a blob only after digest verification, by one rename.

use super::Registry;
use crate::errors::{ApiError, ErrorCode, StorageError};
use crate::storage::{paths, StorageDriver};
use berth_types::Digest;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request body as the service sees it: chunks, or the I/O error (dropped connection, idle timeout)
/// that ended it.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

/// An upload session's running state. `hasher` is `None` after a restart or a storage error; the
/// digest is then recomputed from the stored bytes at commit.
#[derive(Debug)]
pub(crate) struct UploadState {
    size: u64,
    hasher: Option<Sha256>,
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
        let id = berth_types::random_id()[..32].to_string();
        // An empty data file is the whole session on storage: its mtime tells the sweep when the upload
        // was last written. Nothing here needs to survive a crash (a client restarts a lost upload), so
        // no fsync: that is for blobs and links.
        let data = paths::upload_data(name, &id);
        let mut w = self.driver.writer(&data, false).await?;
        w.shutdown().await.map_err(|source| StorageError::Io { op: "write", path: data, source })?;
        let state = UploadState { size: 0, hasher: Some(Sha256::new()) };
        self.sessions().insert((name.to_string(), id.clone()), Arc::new(tokio::sync::Mutex::new(state)));
        Ok(id)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, super::Sessions> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session of upload `id`, rebuilt from storage if this process did not start it.
    async fn session(&self, name: &str, id: &str) -> Result<Arc<tokio::sync::Mutex<UploadState>>, ApiError> {
        if !valid_upload_id(id) {
            return Err(upload_unknown());
        }
        let key = (name.to_string(), id.to_string());
        // Storage is the truth: an out-of-process `gc` may have expired an upload this process knows.
        let size = match self.driver.stat(&paths::upload_data(name, id)).await {
            Ok(i) => i.size,
            Err(e) if e.is_not_found() => {
                self.sessions().remove(&key);
                return Err(upload_unknown());
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(s) = self.sessions().get(&key) {
            return Ok(s.clone());
        }
        let s = Arc::new(tokio::sync::Mutex::new(UploadState { size, hasher: None }));
        Ok(self.sessions().entry(key).or_insert(s).clone())
    }

    /// Bytes received so far by upload `id`.
    pub async fn upload_size(&self, name: &str, id: &str) -> Result<u64, ApiError> {
        let s = self.session(name, id).await?;
        let st = s.try_lock().map_err(|_| busy())?;
        Ok(st.size)
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
        let s = self.session(name, id).await?;
        let mut st = s.try_lock().map_err(|_| busy())?;
        if let Some(start) = start {
            if start != st.size {
                return Err(ApiError::new(ErrorCode::RangeInvalid, "chunk out of order")
                    .with_header("Range", range_header(st.size))
                    .with_header("Location", format!("/v2/{name}/blobs/uploads/{id}"))
                    .with_detail(serde_json::json!({ "expected_offset": st.size, "got": start })));
            }
        }
        self.write_body(&paths::upload_data(name, id), &mut st, body).await?;
        Ok(st.size)
    }

    /// Completes upload `id` with an optional last chunk: verifies the content hashes to `expected`,
    /// then makes it blob `expected` of repository `name`. On a mismatch the upload is discarded.
    pub async fn upload_finish(
        &self,
        name: &str,
        id: &str,
        expected: &Digest,
        body: Option<BodyStream>,
    ) -> Result<u64, ApiError> {
        let s = self.session(name, id).await?;
        let mut st = s.try_lock().map_err(|_| busy())?;
        let data = paths::upload_data(name, id);
        if let Some(body) = body {
            self.write_body(&data, &mut st, body).await?;
        }
        let actual = match st.hasher.take() {
            Some(h) => digest_of(h)?,
            None => self.rehash(&data).await?,
        };
        let size = st.size;
        if &actual != expected {
            drop(st);
            self.upload_cancel(name, id).await?;
            return Err(ApiError::new(ErrorCode::DigestInvalid, "provided digest did not match uploaded content")
                .with_detail(serde_json::json!({ "expected": expected, "actual": actual })));
        }
        {
            let _gc = self.gc.lock.read().await;
            self.driver.move_to(&data, &paths::blob_data(expected)).await?;
            self.link_blob(name, expected).await?;
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
        let had_session = self.sessions().remove(&(name.to_string(), id.to_string())).is_some();
        match self.driver.delete(&paths::upload(name, id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() && !had_session => Err(upload_unknown()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Drops the session and stored state of a finished upload.
    async fn forget(&self, name: &str, id: &str) {
        self.sessions().remove(&(name.to_string(), id.to_string()));
        if let Err(e) = self.driver.delete(&paths::upload(name, id)).await {
            if !e.is_not_found() {
                tracing::warn!(error = %e, upload = id, "cannot remove finished upload; the sweep will");
            }
        }
    }

    /// Forgets sessions whose stored upload is gone (after a sweep expired them), unless busy.
    pub(crate) fn forget_sessions(&self, expired: &[(String, String)]) {
        let mut map = self.sessions();
        for key in expired {
            map.remove(key);
        }
    }

    /// Whether upload `id` of `name` is being written right now.
    pub(crate) fn upload_busy(&self, name: &str, id: &str) -> bool {
        self.sessions().get(&(name.to_string(), id.to_string())).is_some_and(|s| s.try_lock().is_err())
    }

    /// Uploads blob `expected` in one request (OCI § monolithic upload, `POST ?digest=`).
    pub async fn blob_put(&self, name: &str, expected: &Digest, body: BodyStream) -> Result<u64, ApiError> {
        let id = self.upload_start(name).await?;
        match self.upload_finish(name, &id, expected, Some(body)).await {
            Ok(n) => Ok(n),
            Err(e) => {
                let _ = self.upload_cancel(name, &id).await;
                Err(e)
            }
        }
    }

    async fn write_body(&self, path: &str, st: &mut UploadState, mut body: BodyStream) -> Result<(), ApiError> {
        // Opened at the first byte: a final `PUT` usually has an empty body, and then nothing is opened.
        let mut w = None;
        let mut store_err = None;
        let mut client_err = None;
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) if chunk.is_empty() => {}
                Ok(chunk) => {
                    let w = match &mut w {
                        Some(w) => w,
                        None => w.insert(self.driver.writer(path, true).await?),
                    };
                    if let Err(e) = w.write_all(&chunk).await {
                        store_err = Some(e);
                        break;
                    }
                    if let Some(h) = st.hasher.as_mut() {
                        h.update(&chunk);
                    }
                    st.size += chunk.len() as u64;
                }
                Err(e) => {
                    client_err = Some(e);
                    break;
                }
            }
        }
        if let Some(mut w) = w {
            if store_err.is_none() {
                store_err = w.shutdown().await.err();
            }
        }
        if let Some(source) = store_err {
            // What reached storage is unknown now: resynchronise and rehash at commit.
            st.hasher = None;
            st.size = self.driver.stat(path).await.map(|i| i.size).unwrap_or(0);
            return Err(StorageError::Io { op: "write", path: path.to_string(), source }.into());
        }
        if let Some(e) = client_err {
            tracing::debug!(error = %e, "upload body ended early");
            return Err(ApiError::new(ErrorCode::BlobUploadInvalid, "upload body was interrupted"));
        }
        Ok(())
    }

    async fn rehash(&self, path: &str) -> Result<Digest, ApiError> {
        let mut r = self.driver.reader(path, 0).await?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
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
        digest_of(h)
    }
}

fn busy() -> ApiError {
    ApiError::new(ErrorCode::BlobUploadInvalid, "upload is busy with another request")
}

fn digest_of(h: Sha256) -> Result<Digest, ApiError> {
    Digest::from_hex(&hex::encode(h.finalize())).map_err(|_| ApiError::new(ErrorCode::Unknown, "hash failure"))
}
