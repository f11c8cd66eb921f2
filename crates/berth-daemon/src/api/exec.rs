//! `exec`: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked), `GET /exec/{id}/json`,
//! `POST /exec/{id}/resize`.

use super::attach::{hijacked, relay};
use crate::service::containers::frame;
use crate::service::ServiceError;
use tokio::io::AsyncWriteExt;
use super::{json, ApiError, Params};
use crate::service::containers::ExecRequest;
use crate::service::Services;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Request, State};
use berth_api::version::ApiVersion;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::TokioIo;
use std::sync::Arc;

type S = State<Arc<Services>>;

pub fn routes() -> Router<Arc<Services>> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

async fn create(State(s): S, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let req: ExecRequest = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let h = s.containers.get(&id)?;
    // Checked at create, with dockerd's wording for exec ("escape keys").
    if let Some(keys) = Some(req.detach_keys.as_str()).filter(|k| !k.is_empty()) {
        super::attach::detach_keys(Some(keys)).map_err(|_| ApiError::bad_request(format!("Invalid escape keys ({keys}) provided")))?;
    }
    let exec_id = s.containers.exec_create_named(&h, req, Some(&id))?;
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": exec_id})))
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct StartBody {
    detach: bool,
    tty: bool,
}

async fn start(State(s): S, Path(id): Path<String>, Extension(v): Extension<ApiVersion>, mut req: Request) -> Result<Response, ApiError> {
    let ex = s.containers.exec_get(&id)?;
    let upgrade = req.headers().get(header::UPGRADE).is_some();
    let settle = super::attach::buffered_upgrade_client(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20).await.map_err(|e| ApiError::bad_request(e.to_string()))?;
    let b: StartBody = if body.is_empty() { StartBody::default() } else { serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))? };
    // As dockerd: the start request's `Tty` alone says whether the stream is raw or multiplexed
    // (an exec created with a TTY and started without one has its output framed as stdout), while
    // the detach keys work when the exec itself has a TTY.
    let tty = b.tty;
    let exec_tty = s.containers.exec_inspect(&ex)["ProcessConfig"]["tty"].as_bool().unwrap_or(false);
    let mut keys = super::attach::detach_keys(s.containers.exec_inspect(&ex)["DetachKeys"].as_str())?;
    if !exec_tty {
        keys.clear();
    }
    let (attach, rx) = match s.containers.exec_start(&ex, b.detach).await {
        Ok(started) => started,
        // The process could not be started (exit code 126): like dockerd, hand the connection over
        // anyway and write the failure into the stream, where the docker CLI shows it.
        Err(e @ ServiceError::Invalid(_)) if !b.detach => {
            let line = format!("{e}\r\n");
            tokio::spawn(async move {
                let Ok(up) = on_upgrade.await else { return };
                let mut client = TokioIo::new(up);
                let bytes = if tty { line.into_bytes() } else { frame(1, line.as_bytes()) };
                let _ = client.write_all(&bytes).await;
                let _ = client.shutdown().await;
            });
            return Ok(hijacked(upgrade, tty, v));
        }
        Err(e) => return Err(e.into()),
    };
    let Some(shim) = attach else {
        return Ok(StatusCode::OK.into_response());
    };
    let stdin = s.containers.exec_inspect(&ex)["OpenStdin"].as_bool().unwrap_or(false);
    tokio::spawn(async move {
        let Ok(up) = on_upgrade.await else { return };
        let mut rx = rx;
        let recorded = Box::pin(async move {
            let _ = rx.wait_for(|s| !s.0 && s.1.is_some()).await;
        });
        relay(TokioIo::new(up), shim, tty, stdin, keys, Some(recorded), settle).await;
    });
    Ok(hijacked(upgrade, tty, v))
}

async fn inspect(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let ex = s.containers.exec_get(&id)?;
    Ok(json(StatusCode::OK, &s.containers.exec_inspect(&ex)))
}

async fn resize(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let ex = s.containers.exec_get(&id)?;
    let num = |k: &str| dimension(&p, k);
    s.containers.exec_resize(&ex, num("h")?, num("w")?).await?;
    Ok(StatusCode::OK.into_response())
}

/// A terminal dimension (`h`, `w`) of a resize request, refused with dockerd's message (Go's
/// `strconv.Atoi`) when it is not a number.
pub(super) fn dimension(p: &Params, k: &str) -> Result<u16, ApiError> {
    let v = p.get(k).unwrap_or("");
    match v.parse::<i64>() {
        Ok(n) => u16::try_from(n).map_err(|_| ApiError::bad_request(format!("invalid {k}: {n}"))),
        Err(_) => Err(ApiError::bad_request(format!("strconv.Atoi: parsing {v:?}: invalid syntax"))),
    }
}
