//! The S3 driver: each path is an object `<rootdirectory>/<path>` in one bucket of an S3-compatible
//! store (AWS S3, Ceph RADOS Gateway, MinIO…), so several registry processes can serve one store.
//!
//! Requests are signed by `rusty-s3` (sans-IO: it builds pre-signed URLs and parses XML replies) and
//! sent by the `reqwest` client the workspace already builds; `http` retries transient failures with
//! backoff. How the driver operations map to S3:
//!
//! - get/put: `GetObject`/`PutObject` (a put is atomic in S3: readers see the old or the new object);
//! - reader: `GetObject` with `Range`, streamed, resumed from the last byte received if the
//!   connection drops;
//! - writer: buffered up to `chunksize`, then a multipart upload (one part per chunk), completed at
//!   `shutdown`; a writer dropped before that aborts its upload, so nothing appears;
//! - stat: `HeadObject`, or a one-key listing for a "directory" (a prefix of other keys);
//! - list: `ListObjectsV2` with delimiter `/`, paginated;
//! - move: `CopyObject` then `DeleteObject` (objects over `copy_limit`, 5 GiB in S3, are streamed
//!   through a multipart upload instead);
//! - delete: `DeleteObject`, plus `DeleteObjects` in batches of 1000 for everything below the path.
//!
//! Consistency relied on: strong read-after-write for puts, overwrites, deletes and listings (S3 since
//! December 2020, Ceph RGW always, on one zone).

mod http;
mod io;

use super::{check_path, ByteReader, ByteWriter, FileInfo, StorageDriver};
use crate::errors::StorageError;
use ::http::{Method, StatusCode};
use bytes::Bytes;
use http::{ok_body, send, Req};
use rusty_s3::actions::{ListObjectsV2, ObjectIdentifier};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How signed URLs stay valid: long enough for one request (and its retries), or a redirected client.
const SIGN_TTL: Duration = Duration::from_secs(20 * 60);
/// S3's smallest multipart part (all but the last).
pub const MIN_CHUNK: usize = 5 << 20;
/// The largest object one `CopyObject` may copy.
const COPY_LIMIT: u64 = 5 << 30;

/// What the driver is told (distribution's `storage.s3` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// The region, e.g. `us-east-1` (any name a non-AWS store accepts, e.g. Ceph's zonegroup).
    pub region: String,
    /// The store's URL (`regionendpoint`); AWS's regional endpoint when `None`.
    pub endpoint: Option<String>,
    /// The bucket, which must exist.
    pub bucket: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// A key prefix all paths live under (`rootdirectory`, no leading or trailing `/`).
    pub root_directory: String,
    /// Bytes per multipart part (at least 5 MiB).
    pub chunk_size: usize,
    /// `bucket` in the path rather than the host name (needed for IP endpoints and most non-AWS stores).
    pub force_path_style: bool,
    /// HTTPS to AWS's endpoint (a `regionendpoint` carries its own scheme).
    pub secure: bool,
    /// Blob GETs answer with a redirect to a pre-signed URL of the object (distribution's default for
    /// S3; `redirect: disable: true` turns it off).
    pub redirect: bool,
}

impl S3Config {
    /// Defaults for everything but where and who.
    pub fn new(region: &str, bucket: &str, access_key: &str, secret_key: &str) -> S3Config {
        S3Config {
            region: region.into(),
            endpoint: None,
            bucket: bucket.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            root_directory: String::new(),
            chunk_size: 10 << 20,
            force_path_style: false,
            secure: true,
            redirect: true,
        }
    }
}

/// Stores each path as an object of one bucket; clones share the HTTP connection pool.
#[derive(Clone)]
pub struct S3Driver {
    inner: Arc<Inner>,
}

struct Inner {
    bucket: Bucket,
    creds: Credentials,
    client: reqwest::Client,
    prefix: String,
    chunk_size: usize,
    copy_limit: u64,
    redirect: bool,
}

impl std::fmt::Debug for S3Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Driver").field("bucket", &self.inner.bucket.name()).field("prefix", &self.inner.prefix).finish()
    }
}

/// Why an [`S3Config`] cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid S3 configuration: {0}")]
pub struct S3ConfigError(String);

impl S3Driver {
    /// A driver for `cfg` (no request is sent until the first operation).
    pub fn new(cfg: &S3Config) -> Result<S3Driver, S3ConfigError> {
        let endpoint = match &cfg.endpoint {
            Some(e) => e.clone(),
            None => format!("{}://s3.{}.amazonaws.com", if cfg.secure { "https" } else { "http" }, cfg.region),
        };
        let endpoint: url::Url = endpoint.parse().map_err(|e| S3ConfigError(format!("regionendpoint {endpoint:?}: {e}")))?;
        let endpoint_is_https = endpoint.scheme() == "https";
        let style = if cfg.force_path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket = Bucket::new(endpoint, style, cfg.bucket.clone(), cfg.region.clone())
            .map_err(|e| S3ConfigError(format!("bucket {:?}: {e} (an IP endpoint needs forcepathstyle: true)", cfg.bucket)))?;
        if cfg.chunk_size < MIN_CHUNK {
            return Err(S3ConfigError(format!("chunksize {} is below S3's minimum part size of {MIN_CHUNK}", cfg.chunk_size)));
        }
        let prefix = cfg.root_directory.trim_matches('/').to_string();
        if !prefix.is_empty() {
            check_path(&prefix, false).map_err(|_| S3ConfigError(format!("rootdirectory {:?}", cfg.root_directory)))?;
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            // A plain-HTTP endpoint (a store on the LAN) never verifies a certificate: the public
            // roots are not parsed into memory for it (~0.3 MB of the registry's idle RSS).
            .tls_built_in_root_certs(endpoint_is_https)
            .build()
            .map_err(|e| S3ConfigError(format!("HTTP client: {e}")))?;
        Ok(S3Driver {
            inner: Arc::new(Inner {
                bucket,
                creds: Credentials::new(cfg.access_key.clone(), cfg.secret_key.clone()),
                client,
                prefix,
                chunk_size: cfg.chunk_size,
                copy_limit: COPY_LIMIT,
                redirect: cfg.redirect,
            }),
        })
    }

    /// Lowers the size above which a move streams instead of copying server-side (tests reach the
    /// streamed path with small objects).
    #[doc(hidden)]
    pub fn with_copy_limit(mut self, limit: u64) -> S3Driver {
        if let Some(i) = Arc::get_mut(&mut self.inner) {
            i.copy_limit = limit;
        }
        self
    }

    /// Creates the bucket (tests and first-time setup; the registry itself never creates buckets).
    pub async fn create_bucket(&self) -> Result<(), StorageError> {
        let url = self.inner.bucket.create_bucket(&self.inner.creds).sign(SIGN_TTL);
        let req = Req::new(Method::PUT, url, "create bucket", "");
        send(&self.inner.client, &req, &[]).await.map(drop)
    }

    fn key(&self, path: &str) -> String {
        match (self.inner.prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.inner.prefix.clone(),
            (false, false) => format!("{}/{path}", self.inner.prefix),
        }
    }

    /// The key prefix of the "directory" `path` (its children's keys start with it).
    fn dir_prefix(&self, path: &str) -> String {
        let k = self.key(path);
        if k.is_empty() {
            k
        } else {
            format!("{k}/")
        }
    }

    /// A pre-signed URL a client may GET `path` from directly, if redirects are on.
    pub fn redirect_url(&self, path: &str) -> Option<String> {
        if !self.inner.redirect || check_path(path, false).is_err() {
            return None;
        }
        let key = self.key(path);
        Some(self.inner.bucket.get_object(Some(&self.inner.creds), &key).sign(SIGN_TTL).to_string())
    }

    async fn head(&self, path: &str) -> Result<Option<(u64, SystemTime)>, StorageError> {
        let key = self.key(path);
        let url = self.inner.bucket.head_object(Some(&self.inner.creds), &key).sign(SIGN_TTL);
        let req = Req::new(Method::HEAD, url, "stat", path);
        let resp = send(&self.inner.client, &req, &[StatusCode::NOT_FOUND]).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        // Not `content_length()`: for a HEAD that is the (empty) body's length.
        let size = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let modified = resp
            .headers()
            .get("last-modified")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map_or(SystemTime::UNIX_EPOCH, SystemTime::from);
        Ok(Some((size, modified)))
    }

    /// One page of a listing under `prefix`.
    async fn list_page(
        &self,
        path: &str,
        prefix: &str,
        delimiter: bool,
        token: Option<&str>,
        max: Option<usize>,
    ) -> Result<rusty_s3::actions::ListObjectsV2Response, StorageError> {
        let mut a = ListObjectsV2::new(&self.inner.bucket, Some(&self.inner.creds));
        a.with_prefix(prefix);
        if delimiter {
            a.with_delimiter("/");
        }
        if let Some(t) = token {
            a.with_continuation_token(t);
        }
        if let Some(m) = max {
            a.with_max_keys(m);
        }
        let req = Req::new(Method::GET, a.sign(SIGN_TTL), "list", path);
        let resp = send(&self.inner.client, &req, &[]).await?;
        let body = ok_body(&req, resp).await?;
        ListObjectsV2::parse_response(&body).map_err(|e| http::io_err("list", path, format!("unparsable listing: {e}")))
    }

    /// Every key below the directory `path`.
    async fn keys_below(&self, path: &str) -> Result<Vec<String>, StorageError> {
        let prefix = self.dir_prefix(path);
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(path, &prefix, false, token.as_deref(), None).await?;
            keys.extend(page.contents.into_iter().map(|c| c.key));
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok(keys),
            }
        }
    }

    async fn delete_key(&self, key: &str, path: &str) -> Result<(), StorageError> {
        let url = self.inner.bucket.delete_object(Some(&self.inner.creds), key).sign(SIGN_TTL);
        let req = Req::new(Method::DELETE, url, "delete", path);
        send(&self.inner.client, &req, &[StatusCode::NOT_FOUND]).await.map(drop)
    }

    async fn delete_keys(&self, keys: Vec<String>, path: &str) -> Result<(), StorageError> {
        for batch in keys.chunks(1000) {
            let ids: Vec<ObjectIdentifier> = batch.iter().map(|k| ObjectIdentifier::new(k.clone())).collect();
            let mut a = self.inner.bucket.delete_objects(Some(&self.inner.creds), ids.iter());
            a.set_quiet(true);
            let url = a.sign(SIGN_TTL);
            let (body, md5) = a.body_with_md5();
            let req = Req::new(Method::POST, url, "delete", path).header("content-md5", &md5).body(Bytes::from(body));
            let resp = send(&self.inner.client, &req, &[]).await?;
            let body = ok_body(&req, resp).await?;
            if let Some(code) = http::xml_field(&body, "Code") {
                return Err(http::io_err("delete", path, format!("S3 could not delete some objects: {code}")));
            }
        }
        Ok(())
    }

    /// Copies `from` to `to` inside the store (`CopyObject`).
    async fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let (src, dst) = (self.key(from), self.key(to));
        let source = format!("/{}/{}", self.inner.bucket.name(), encode_key(&src));
        let mut a = self.inner.bucket.put_object(Some(&self.inner.creds), &dst);
        a.headers_mut().insert("x-amz-copy-source", source.clone());
        let req = Req::new(Method::PUT, a.sign(SIGN_TTL), "copy", from).header("x-amz-copy-source", &source);
        let resp = send(&self.inner.client, &req, &[]).await?;
        ok_body(&req, resp).await.map(drop)
    }
}

/// A key as `x-amz-copy-source` wants it: percent-encoded except `/`.
fn encode_key(key: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(key, SET).to_string()
}

impl StorageDriver for S3Driver {
    async fn get_content(&self, path: &str) -> Result<Bytes, StorageError> {
        check_path(path, false)?;
        let key = self.key(path);
        let url = self.inner.bucket.get_object(Some(&self.inner.creds), &key).sign(SIGN_TTL);
        let req = Req::new(Method::GET, url, "read", path);
        let resp = send(&self.inner.client, &req, &[]).await?;
        resp.bytes().await.map_err(|e| http::io_err("read", path, e))
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<(), StorageError> {
        check_path(path, false)?;
        self.put(path, content).await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteReader, StorageError> {
        check_path(path, false)?;
        io::open_reader(self.clone(), path, offset, None).await
    }

    async fn range_reader(&self, path: &str, offset: u64, len: u64) -> Result<ByteReader, StorageError> {
        check_path(path, false)?;
        io::open_reader(self.clone(), path, offset, Some(len)).await
    }

    async fn writer(&self, path: &str) -> Result<ByteWriter, StorageError> {
        check_path(path, false)?;
        Ok(io::writer(self.clone(), path.to_string()))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo, StorageError> {
        check_path(path, true)?;
        if !path.is_empty() {
            if let Some((size, modified)) = self.head(path).await? {
                return Ok(FileInfo { size, modified, is_dir: false });
            }
        }
        let page = self.list_page(path, &self.dir_prefix(path), false, None, Some(1)).await?;
        match page.contents.first() {
            Some(c) => {
                let modified = c
                    .last_modified
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map_or(SystemTime::UNIX_EPOCH, SystemTime::from);
                Ok(FileInfo { size: 0, modified, is_dir: true })
            }
            None if path.is_empty() => Ok(FileInfo { size: 0, modified: SystemTime::now(), is_dir: true }),
            None => Err(StorageError::NotFound { path: path.to_string() }),
        }
    }

    async fn list(&self, path: &str) -> Result<Vec<String>, StorageError> {
        check_path(path, true)?;
        let prefix = self.dir_prefix(path);
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(path, &prefix, true, token.as_deref(), None).await?;
            let files = page.contents.into_iter().map(|c| c.key);
            let dirs = page.common_prefixes.into_iter().map(|p| p.prefix.trim_end_matches('/').to_string());
            names.extend(files.chain(dirs).filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)));
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        names.retain(|n| !n.is_empty());
        names.sort();
        names.dedup();
        if names.is_empty() && !path.is_empty() {
            return Err(StorageError::NotFound { path: path.to_string() });
        }
        Ok(names)
    }

    async fn move_to(&self, from: &str, to: &str) -> Result<(), StorageError> {
        check_path(from, false)?;
        check_path(to, false)?;
        let (size, _) = self.head(from).await?.ok_or_else(|| StorageError::NotFound { path: from.to_string() })?;
        if size <= self.inner.copy_limit {
            self.copy(from, to).await?;
        } else {
            io::stream_copy(self, from, to).await?;
        }
        self.delete_key(&self.key(from), from).await
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        check_path(path, false)?;
        let file = self.head(path).await?.is_some();
        let below = self.keys_below(path).await?;
        if !file && below.is_empty() {
            return Err(StorageError::NotFound { path: path.to_string() });
        }
        if file {
            self.delete_key(&self.key(path), path).await?;
        }
        self.delete_keys(below, path).await
    }
}

impl S3Driver {
    async fn put(&self, path: &str, content: Bytes) -> Result<(), StorageError> {
        let key = self.key(path);
        let url = self.inner.bucket.put_object(Some(&self.inner.creds), &key).sign(SIGN_TTL);
        let req = Req::new(Method::PUT, url, "write", path).body(content);
        send(&self.inner.client, &req, &[]).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_checks_chunk_size_and_endpoint() {
        let mut c = S3Config::new("us-east-1", "b", "k", "s");
        c.endpoint = Some("http://127.0.0.1:9000".into());
        c.force_path_style = true;
        assert!(S3Driver::new(&c).is_ok());
        c.chunk_size = 1 << 20;
        assert!(S3Driver::new(&c).unwrap_err().to_string().contains("minimum part size"));
        c.chunk_size = MIN_CHUNK;
        c.force_path_style = false;
        assert!(S3Driver::new(&c).unwrap_err().to_string().contains("forcepathstyle"));
    }

    #[test]
    fn keys_live_under_the_root_directory() {
        let mut c = S3Config::new("us-east-1", "bucket", "k", "s");
        c.root_directory = "/reg/".into();
        let d = S3Driver::new(&c).unwrap();
        assert_eq!(d.key("blobs/x"), "reg/blobs/x");
        assert_eq!(d.dir_prefix(""), "reg/");
        let url = d.redirect_url("blobs/x").unwrap();
        assert!(url.starts_with("https://bucket.s3.us-east-1.amazonaws.com/reg/blobs/x?"), "{url}");
        assert!(url.contains("X-Amz-Signature="));
        assert_eq!(encode_key("a b/c+d"), "a%20b/c%2Bd");
    }
}
