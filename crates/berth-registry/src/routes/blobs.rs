//! `HEAD`/`GET`/`DELETE /v2/<name>/blobs/<digest>` (OCI § pulling blobs, deleting blobs), with ranges.

use super::{emit, header};
use crate::notify::{Action, EventTarget};
use crate::errors::{ApiError, ErrorCode};
use crate::proxy::BlobSource;
use crate::sendfile::Jobs;
use crate::service::{ByteRange, Registry};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_types::Digest;
use http::{HeaderMap, StatusCode};
use tokio_util::io::ReaderStream;

pub(super) fn parse_digest(s: &str) -> Result<Digest, ApiError> {
    s.parse().map_err(|e| {
        ApiError::new(ErrorCode::DigestInvalid, format!("invalid digest: {e}")).with_detail(serde_json::json!({ "digest": s }))
    })
}

/// `jobs`: the connection's `sendfile` queue when it is plain TCP; a blob on the filesystem then goes
/// from the page cache to the socket without passing through the process.
pub(super) async fn get(
    reg: &Registry,
    name: &str,
    d: &str,
    headers: &HeaderMap,
    head: bool,
    jobs: Option<&Jobs>,
) -> Result<Response, ApiError> {
    let d = parse_digest(d)?;
    if !head {
        // distribution's `redirect`: the client fetches the bytes from the store, Range and all.
        if let Some(url) = reg.blob_redirect(name, &d).await? {
            let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
            header(&mut resp, "Location", url);
            header(&mut resp, "Docker-Content-Digest", d.to_string());
            header(&mut resp, "Content-Length", "0");
            return Ok(resp);
        }
    }
    let source = if head { BlobSource::Local(reg.blob_size(name, &d).await?) } else { reg.blob_source(name, &d).await? };
    let size = match &source {
        BlobSource::Local(s) | BlobSource::Remote(s, _) => *s,
    };
    let range = headers.get(http::header::RANGE).and_then(|v| v.to_str().ok());
    let (status, first, last) = match range {
        None => (StatusCode::OK, 0, size.checked_sub(1)),
        Some(r) => match ByteRange::parse(r).and_then(|r| r.resolve(size)) {
            Some((a, b)) => (StatusCode::PARTIAL_CONTENT, a, Some(b)),
            None => {
                return Err(ApiError::new(ErrorCode::RangeInvalid, "requested range not satisfiable")
                    .with_header("Content-Range", format!("bytes */{size}")));
            }
        },
    };
    let len = last.map_or(0, |l| l + 1 - first);
    let body = if head || len == 0 {
        Body::empty()
    } else {
        match source {
            BlobSource::Local(_) => {
                let file = match jobs {
                    Some(jobs) => reg.blob_file(&d).await?.map(|f| jobs.body(f, first, len)),
                    None => None,
                };
                match file {
                    Some(body) => Body::new(body),
                    None => Body::from_stream(ReaderStream::with_capacity(reg.blob_read(&d, first, len).await?, 256 << 10)),
                }
            }
            // A pull-through cache streams the blob while the upstream sends it.
            BlobSource::Remote(_, fetch) => Body::from_stream(fetch.stream(first, len)),
        }
    };
    let mut resp = (status, body).into_response();
    if !head {
        let target = EventTarget { media_type: "application/octet-stream".into(), size: len, digest: d.to_string(), repository: name.to_string(), ..EventTarget::default() };
        emit(&mut resp, Action::Pull, "blobs", target);
    }
    header(&mut resp, "Content-Type", "application/octet-stream");
    header(&mut resp, "Content-Length", len.to_string());
    header(&mut resp, "Docker-Content-Digest", d.to_string());
    header(&mut resp, "Accept-Ranges", "bytes");
    header(&mut resp, "ETag", format!("\"{d}\""));
    // A blob never changes under its digest: caches may keep it for a year, as distribution says.
    header(&mut resp, "Cache-Control", "max-age=31536000");
    if status == StatusCode::PARTIAL_CONTENT {
        header(&mut resp, "Content-Range", format!("bytes {first}-{}/{size}", first + len - 1));
    }
    Ok(resp)
}

pub(super) async fn delete(reg: &Registry, name: &str, d: &str) -> Result<Response, ApiError> {
    let d = parse_digest(d)?;
    reg.blob_delete(name, &d).await?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    emit(&mut resp, Action::Delete, "blobs", EventTarget { digest: d.to_string(), repository: name.to_string(), ..EventTarget::default() });
    header(&mut resp, "Content-Length", "0");
    Ok(resp)
}
