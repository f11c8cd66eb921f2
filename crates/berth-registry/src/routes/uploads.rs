//! `/v2/<name>/blobs/uploads/…` (OCI § pushing blobs): start (monolithic, mount or session), chunk,
//! status, finish, cancel.

use super::blobs::parse_digest;
use super::{body_stream, emit, header, AppState, Query};
use crate::notify::{Action as EventAction, EventTarget};
use crate::auth::{Access, Action};
use crate::errors::{ApiError, ErrorCode};
use crate::names;
use crate::service::{range_header, Registry};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use berth_types::Digest;
use http::StatusCode;

fn created(name: &str, d: &Digest) -> Response {
    let mut resp = StatusCode::CREATED.into_response();
    header(&mut resp, "Location", format!("/v2/{name}/blobs/{d}"));
    header(&mut resp, "Docker-Content-Digest", d.to_string());
    header(&mut resp, "Content-Length", "0");
    resp
}

/// A `201 Created` for blob `d` that notifications report as `action` of `size` bytes.
fn created_event(name: &str, d: &Digest, action: EventAction, size: u64) -> Response {
    let mut resp = created(name, d);
    let target = EventTarget { media_type: "application/octet-stream".into(), size, digest: d.to_string(), repository: name.to_string(), ..EventTarget::default() };
    emit(&mut resp, action, "blobs", target);
    resp
}

fn in_progress(status: StatusCode, name: &str, id: &str, size: u64) -> Response {
    let mut resp = status.into_response();
    header(&mut resp, "Location", format!("/v2/{name}/blobs/uploads/{id}"));
    header(&mut resp, "Range", range_header(size));
    header(&mut resp, "Docker-Upload-UUID", id);
    header(&mut resp, "Content-Length", "0");
    resp
}

pub(super) async fn start(
    st: &AppState,
    name: &str,
    q: &Query,
    authz: Option<&str>,
    base_url: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let reg = &st.registry;
    if let Some(mount) = q.get("mount") {
        let d = parse_digest(mount)?;
        if let Some(from) = q.get("from").filter(|f| names::valid_name(f)) {
            let may_read = st
                .auth
                .check(authz, &Access::Repo { name: from.to_string(), action: Action::Pull }, base_url)
                .await
                .is_ok();
            if may_read && reg.blob_mount(name, from, &d).await? {
                let size = reg.linked_size(name, &d).await?.unwrap_or(0);
                return Ok(created_event(name, &d, EventAction::Mount, size));
            }
        }
        // Not mountable: fall back to an ordinary upload session (202), as the spec requires.
    } else if let Some(d) = q.get("digest") {
        let d = parse_digest(d)?;
        let size = reg.blob_put(name, &d, body_stream(req.into_body(), st.idle_timeout)).await?;
        return Ok(created_event(name, &d, EventAction::Push, size));
    }
    let id = reg.upload_start(name).await?;
    Ok(in_progress(StatusCode::ACCEPTED, name, &id, 0))
}

/// Parses `Content-Range: <start>-<end>` (also tolerating `bytes ` and `/<total>`).
fn content_range(v: &str) -> Option<(u64, u64)> {
    let v = v.trim().trim_start_matches("bytes").trim();
    let v = v.split('/').next()?;
    let (a, b) = v.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (b >= a).then_some((a, b))
}

/// The chunk's `Content-Range`, checked against its `Content-Length` when both are given.
fn chunk_range(h: &http::HeaderMap) -> Result<Option<(u64, u64)>, ApiError> {
    let range = match h.get(http::header::CONTENT_RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(v) => Some(content_range(v).ok_or_else(|| {
            ApiError::new(ErrorCode::RangeInvalid, "invalid Content-Range").with_detail(serde_json::json!({ "range": v }))
        })?),
    };
    let declared = h.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let (Some((a, b)), Some(len)) = (range, declared) {
        if b - a + 1 != len {
            return Err(ApiError::new(ErrorCode::SizeInvalid, "Content-Range and Content-Length disagree"));
        }
    }
    Ok(range)
}

pub(super) async fn patch(st: &AppState, name: &str, id: &str, req: Request) -> Result<Response, ApiError> {
    let range = chunk_range(req.headers())?;
    let size = st
        .registry
        .upload_append(name, id, range.map(|r| r.0), body_stream(req.into_body(), st.idle_timeout))
        .await?;
    Ok(in_progress(StatusCode::ACCEPTED, name, id, size))
}

pub(super) async fn finish(st: &AppState, name: &str, id: &str, q: &Query, req: Request) -> Result<Response, ApiError> {
    let d = q.get("digest").ok_or_else(|| ApiError::new(ErrorCode::DigestInvalid, "digest parameter missing"))?;
    let d = parse_digest(d)?;
    let range = chunk_range(req.headers())?;
    let size = st
        .registry
        .upload_finish(name, id, &d, range.map(|r| r.0), Some(body_stream(req.into_body(), st.idle_timeout)))
        .await?;
    Ok(created_event(name, &d, EventAction::Push, size))
}

pub(super) async fn status(reg: &Registry, name: &str, id: &str) -> Result<Response, ApiError> {
    let size = reg.upload_size(name, id).await?;
    Ok(in_progress(StatusCode::NO_CONTENT, name, id, size))
}

pub(super) async fn cancel(reg: &Registry, name: &str, id: &str) -> Result<Response, ApiError> {
    reg.upload_cancel(name, id).await?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    header(&mut resp, "Content-Length", "0");
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_accepts_spec_and_http_forms() {
        assert_eq!(content_range("0-99"), Some((0, 99)));
        assert_eq!(content_range("bytes 100-199/*"), Some((100, 199)));
        assert_eq!(content_range("9-1"), None);
        assert_eq!(content_range("x"), None);
    }
}
