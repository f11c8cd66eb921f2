//! `/v2/<name>/manifests/<reference>` (OCI § pulling, pushing and deleting manifests), with `Accept`
//! negotiation as distribution does it.

use super::{body_stream, emit, header, AppState};
use crate::notify::{Action, EventTarget};
use crate::errors::{ApiError, ErrorCode};
use crate::manifest::{bare_media_type, is_index_type, is_manifest_type, Descriptor, MAX_MANIFEST_SIZE};
use crate::service::{ManifestRef, Registry, StoredManifest};
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use bytes::BytesMut;
use futures_util::StreamExt;

/// The manifest media types listed in `Accept` headers (all of them; values may be comma-joined).
fn accepted(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| bare_media_type(t).to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Picks what to return for a tag given the client's `Accept`: the stored manifest if acceptable (or if
/// the client names no manifest type at all); for an index the client cannot read, its linux/amd64
/// image (distribution's behaviour for old clients); otherwise `MANIFEST_UNKNOWN`.
async fn negotiate(reg: &Registry, name: &str, m: StoredManifest, accept: &[String]) -> Result<StoredManifest, ApiError> {
    let named: Vec<&String> = accept.iter().filter(|t| is_manifest_type(t)).collect();
    if named.is_empty() || accept.iter().any(|t| t == "*/*") || named.iter().any(|t| **t == m.media_type) {
        return Ok(m);
    }
    if is_index_type(&m.media_type) {
        #[derive(serde::Deserialize)]
        struct Index {
            manifests: Vec<Descriptor>,
        }
        let idx: Index = serde_json::from_slice(&m.body).map_err(|_| ApiError::new(ErrorCode::Unknown, "stored index unreadable"))?;
        let amd64 = idx.manifests.into_iter().find(|d| {
            d.platform.as_ref().is_some_and(|p| p["os"] == "linux" && p["architecture"] == "amd64")
                && named.iter().any(|t| **t == d.media_type)
        });
        if let Some(d) = amd64 {
            return reg.manifest_get(name, &ManifestRef::Digest(d.digest)).await;
        }
    }
    Err(ApiError::new(ErrorCode::ManifestUnknown, format!("manifest is {}, which the Accept header excludes", m.media_type)))
}

pub(super) async fn get(reg: &Registry, name: &str, r: &str, headers: &HeaderMap, head: bool) -> Result<Response, ApiError> {
    let r = ManifestRef::parse(r)?;
    let mut m = reg.manifest_get(name, &r).await?;
    if matches!(r, ManifestRef::Tag(_)) {
        m = negotiate(reg, name, m, &accepted(headers)).await?;
    }
    let len = m.body.len();
    let body = if head { Body::empty() } else { Body::from(m.body) };
    let mut resp = (StatusCode::OK, body).into_response();
    if !head {
        let tag = match &r {
            ManifestRef::Tag(t) => t.clone(),
            ManifestRef::Digest(_) => String::new(),
        };
        let target = EventTarget { media_type: m.media_type.clone(), size: len as u64, digest: m.digest.to_string(), repository: name.to_string(), tag, ..EventTarget::default() };
        emit(&mut resp, Action::Pull, "manifests", target);
    }
    header(&mut resp, "Content-Type", &m.media_type);
    header(&mut resp, "Content-Length", len.to_string());
    header(&mut resp, "Docker-Content-Digest", m.digest.to_string());
    header(&mut resp, "ETag", format!("\"{}\"", m.digest));
    Ok(resp)
}

pub(super) async fn put(st: &AppState, name: &str, r: &str, req: Request) -> Result<Response, ApiError> {
    let reg = &st.registry;
    let r = ManifestRef::parse(r)?;
    let too_large = || ApiError::new(ErrorCode::PayloadTooLarge, "manifest exceeds 4 MiB");
    let declared = req.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_MANIFEST_SIZE) {
        return Err(too_large());
    }
    let ct = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    // Read with the idle timeout, so a client stalling mid-manifest is dropped like a stalled upload.
    let mut chunks = body_stream(req.into_body(), st.idle_timeout);
    let mut buf = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(ErrorCode::ManifestInvalid, "manifest body was interrupted"))?;
        if buf.len() + chunk.len() > MAX_MANIFEST_SIZE {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    let body = buf.freeze();
    let size = body.len() as u64;
    let (digest, subject) = reg.manifest_put(name, &r, ct.as_deref(), body).await?;
    let mut resp = StatusCode::CREATED.into_response();
    let tag = match &r {
        ManifestRef::Tag(t) => t.clone(),
        ManifestRef::Digest(_) => String::new(),
    };
    let media_type = ct.as_deref().map(bare_media_type).unwrap_or_default().to_string();
    emit(&mut resp, Action::Push, "manifests", EventTarget { media_type, size, digest: digest.to_string(), repository: name.to_string(), tag, ..EventTarget::default() });
    header(&mut resp, "Location", format!("/v2/{name}/manifests/{digest}"));
    header(&mut resp, "Docker-Content-Digest", digest.to_string());
    header(&mut resp, "Content-Length", "0");
    if let Some(s) = subject {
        header(&mut resp, "OCI-Subject", s.to_string());
    }
    Ok(resp)
}

pub(super) async fn delete(reg: &Registry, name: &str, r: &str) -> Result<Response, ApiError> {
    let r = ManifestRef::parse(r)?;
    reg.manifest_delete(name, &r).await?;
    let mut resp = StatusCode::ACCEPTED.into_response();
    let (digest, tag) = match &r {
        ManifestRef::Tag(t) => (String::new(), t.clone()),
        ManifestRef::Digest(d) => (d.to_string(), String::new()),
    };
    emit(&mut resp, Action::Delete, "manifests", EventTarget { digest, tag, repository: name.to_string(), ..EventTarget::default() });
    header(&mut resp, "Content-Length", "0");
    Ok(resp)
}

