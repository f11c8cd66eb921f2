//! Sending signed S3 requests: retries with exponential backoff and jitter, and S3's error replies as
//! [`StorageError`]s.

use crate::errors::StorageError;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use std::time::Duration;
use url::Url;

/// Attempts per request (the first plus retries) on connection errors, 5xx and throttling replies.
pub(super) const ATTEMPTS: u32 = 5;
/// The first backoff; each retry doubles it (100 ms, 200 ms, 400 ms, 800 ms), plus up to 50 % jitter.
const BACKOFF: Duration = Duration::from_millis(100);

/// A request to send: everything needed to send it again on a retry.
pub(super) struct Req<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// What the caller does (`read`, `write`, `list`…), for errors.
    pub op: &'static str,
    /// The driver path, for errors.
    pub path: &'a str,
}

impl<'a> Req<'a> {
    pub fn new(method: Method, url: Url, op: &'static str, path: &'a str) -> Req<'a> {
        Req { method, url, headers: HeaderMap::new(), body: Bytes::new(), op, path }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Req<'a> {
        if let Ok(v) = http::HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }
    pub fn body(mut self, body: Bytes) -> Req<'a> {
        self.body = body;
        self
    }
}

/// Whether a reply status is worth another try: server trouble and throttling (S3's `SlowDown` is 503).
fn retryable(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT
}

/// Sleeps before retry `attempt` (1-based).
pub(super) async fn backoff(attempt: u32) {
    let base = BACKOFF * 2u32.pow(attempt.saturating_sub(1).min(6));
    let jitter = base.mul_f64(rand::random::<f64>() * 0.5);
    tokio::time::sleep(base + jitter).await;
}

/// Sends `req`, retrying transient failures. Replies other than 2xx come back as they are when
/// `pass` accepts their status (404 for a missing key, 416 for a range past the end), else as errors.
pub(super) async fn send(
    client: &reqwest::Client,
    req: &Req<'_>,
    pass: &[StatusCode],
) -> Result<reqwest::Response, StorageError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut b = client.request(req.method.clone(), req.url.clone()).headers(req.headers.clone());
        if req.method == Method::PUT || req.method == Method::POST {
            // hyper sends no length for an empty body, and RGW answers 411 to a PUT without one.
            b = b.header(::http::header::CONTENT_LENGTH, req.body.len());
        }
        let r = b.body(req.body.clone()).send().await;
        match r {
            Ok(resp) if resp.status().is_success() || pass.contains(&resp.status()) => return Ok(resp),
            Ok(resp) if retryable(resp.status()) && attempt < ATTEMPTS => {
                tracing::debug!(status = %resp.status(), path = req.path, attempt, "s3 request failed; retrying");
            }
            Ok(resp) => return Err(reply_error(req, resp).await),
            Err(e) if attempt < ATTEMPTS => {
                tracing::debug!(error = %e, path = req.path, attempt, "s3 request failed; retrying");
            }
            Err(e) => return Err(io_err(req.op, req.path, e)),
        }
        backoff(attempt).await;
    }
}

/// An S3 error reply as a storage error: `NoSuchKey` is `NotFound`, the rest carry S3's code and message.
pub(super) async fn reply_error(req: &Req<'_>, resp: reqwest::Response) -> StorageError {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    error_from_body(req.op, req.path, status, &body)
}

pub(super) fn error_from_body(op: &'static str, path: &str, status: StatusCode, body: &str) -> StorageError {
    let code = xml_field(body, "Code").unwrap_or_default();
    if code == "NoSuchKey" || (status == StatusCode::NOT_FOUND && code.is_empty()) {
        return StorageError::NotFound { path: path.to_string() };
    }
    let message = xml_field(body, "Message").unwrap_or_default();
    let what = match code.as_str() {
        "NoSuchBucket" => "the bucket does not exist (create it first)".to_string(),
        "" => format!("S3 replied {status}"),
        c if message.is_empty() => format!("S3 replied {status} {c}"),
        c => format!("S3 replied {status} {c}: {message}"),
    };
    StorageError::Io { op, path: path.to_string(), source: std::io::Error::other(what) }
}

pub(super) fn io_err(op: &'static str, path: &str, e: impl std::fmt::Display) -> StorageError {
    StorageError::Io { op, path: path.to_string(), source: std::io::Error::other(e.to_string()) }
}

/// The text of the first `<name>…</name>` in an S3 XML reply (error codes, upload ids).
pub(super) fn xml_field(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(body[start..end].to_string())
}

/// Reads a successful reply's body, and turns the "200 with an `<Error>` body" some S3 operations
/// (copy, complete multipart) answer with into an error.
pub(super) async fn ok_body(req: &Req<'_>, resp: reqwest::Response) -> Result<String, StorageError> {
    let status = resp.status();
    let body = resp.text().await.map_err(|e| io_err(req.op, req.path, e))?;
    if body.contains("<Error>") {
        return Err(error_from_body(req.op, req.path, status, &body));
    }
    Ok(body)
}
