//! `/volumes/*`: create, list, inspect, remove, prune.

use super::{blocking, heavy, json, ApiError, Params};
use crate::service::Services;
use axum::extract::{Path, State};
use axum::Extension;
use berth_api::version::ApiVersion;
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

async fn create(State(s): S, Extension(v): Extension<ApiVersion>, body: Bytes) -> Result<Response, ApiError> {
    let mut req: VolumeCreateRequest = if body.is_empty() { VolumeCreateRequest::default() } else { super::gojson::decode(&body).map_err(ApiError::bad_request)? };
    // From API 1.42 (when prune came to take anonymous volumes only) a volume created without a
    // name is anonymous, as dockerd labels it, and so a plain prune removes it.
    if req.name.is_empty() && v >= (ApiVersion { major: 1, minor: 42 }) {
        req.labels.get_or_insert_with(Default::default).insert(crate::service::volumes::ANONYMOUS_LABEL.into(), String::new());
    }
    Ok(json(StatusCode::CREATED, &blocking(&s, move |s| s.volumes.create(req)).await?))
}

async fn list(State(s): S, p: Params) -> Result<Response, ApiError> {
    let volumes = s.volumes.list(&p.filters()?, &s.containers.volume_users())?;
    Ok(json(StatusCode::OK, &VolumeList { volumes, warnings: vec![] }))
}

async fn inspect(State(s): S, Path(name): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.volumes.get(&name)?))
}

async fn remove(State(s): S, Path(name): Path<String>, p: Params) -> Result<Response, ApiError> {
    let force = p.flag("force");
    // Deleting the data is a walk of every file in the volume.
    heavy(&s, move |s| s.volumes.remove(&name, force, &s.containers.volume_users())).await?;
    Ok(Response::builder().status(StatusCode::NO_CONTENT).body(axum::body::Body::empty()).unwrap_or_default())
}

async fn prune(State(s): S, p: Params, Extension(v): Extension<ApiVersion>) -> Result<Response, ApiError> {
    let filters = p.filters()?;
    // Before API 1.42 prune took every unused volume, named ones too.
    let named_too = v < ApiVersion { major: 1, minor: 42 };
    let (deleted, space) = heavy(&s, move |s| s.volumes.prune(&filters, &s.containers.volume_users(), named_too)).await?;
    crate::metrics::get().gc_run("volumes", space);
    Ok(json(StatusCode::OK, &serde_json::json!({"VolumesDeleted": deleted, "SpaceReclaimed": space})))
}
