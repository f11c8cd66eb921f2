//! `/volumes/*`: create, list, inspect, remove, prune.

use super::{json, ApiError, Params};
use crate::service::Services;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_api::volume::{VolumeCreateRequest, VolumeList};
use bytes::Bytes;
use std::sync::Arc;

type S = State<Arc<Services>>;

pub fn routes() -> Router<Arc<Services>> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

async fn create(State(s): S, body: Bytes) -> Result<Response, ApiError> {
    let req: VolumeCreateRequest =
        if body.is_empty() { VolumeCreateRequest::default() } else { serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))? };
    Ok(json(StatusCode::CREATED, &s.volumes.create(req)?))
}

async fn list(State(s): S, p: Params) -> Result<Response, ApiError> {
    let volumes = s.volumes.list(&p.filters()?, &s.containers.volume_users())?;
    Ok(json(StatusCode::OK, &VolumeList { volumes, warnings: vec![] }))
}

async fn inspect(State(s): S, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.volumes.get(&name)?))
}

async fn remove(State(s): S, Path(name): Path<String>, p: Params) -> Result<Response, ApiError> {
    s.volumes.remove(&name, p.flag("force"), &s.containers.volume_users())?;
    Ok(Response::builder().status(StatusCode::NO_CONTENT).body(axum::body::Body::empty()).unwrap_or_default())
}

async fn prune(State(s): S, p: Params) -> Result<Response, ApiError> {
    let (deleted, space) = s.volumes.prune(&p.filters()?, &s.containers.volume_users())?;
    crate::metrics::get().gc_run("volumes", space);
    Ok(json(StatusCode::OK, &serde_json::json!({"VolumesDeleted": deleted, "SpaceReclaimed": space})))
}
