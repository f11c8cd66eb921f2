//! `/networks/*`: create, list, inspect, remove, connect, disconnect, prune.

use super::{json, ApiError, Params};
use crate::service::{ServiceError, Services};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::network::{ConnectRequest, DisconnectRequest, NetworkCreateRequest};
use bytes::Bytes;
use std::sync::Arc;

type S = State<Arc<Services>>;

pub fn routes() -> Router<Arc<Services>> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

fn body<T: serde::de::DeserializeOwned>(b: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(b).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

async fn create(State(s): S, b: Bytes) -> Result<Response, ApiError> {
    let req: NetworkCreateRequest = body(&b)?;
    let n = s.networks.create(req).await?;
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": n.id, "Warning": ""})))
}

async fn list(State(s): S, p: Params) -> Result<Response, ApiError> {
    let nets = s.networks.list(&p.filters()?, &s.containers.network_users())?;
    let out: Vec<serde_json::Value> = nets.iter().map(|n| s.networks.view(n, true)).collect();
    Ok(json(StatusCode::OK, &out))
}

async fn inspect(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let n = s.networks.get(&id)?;
    Ok(json(StatusCode::OK, &s.networks.view(&n, true)))
}

async fn remove(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let n = s.networks.get(&id)?;
    let users = s.containers.network_users().remove(&n.id).unwrap_or_default();
    s.networks.remove(&n.id, &users).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn connect(State(s): S, Path(id): Path<String>, b: Bytes) -> Result<Response, ApiError> {
    let req: ConnectRequest = body(&b)?;
    let h = s.containers.get(&req.container)?;
    s.containers.connect(&h, &id, req.endpoint_config.unwrap_or_default()).await?;
    Ok(StatusCode::OK.into_response())
}

async fn disconnect(State(s): S, Path(id): Path<String>, b: Bytes) -> Result<Response, ApiError> {
    let req: DisconnectRequest = body(&b)?;
    let h = match s.containers.get(&req.container) {
        Ok(h) => h,
        Err(ServiceError::NotFound(_)) if req.force => return Ok(StatusCode::OK.into_response()),
        Err(e) => return Err(e.into()),
    };
    s.containers.disconnect(&h, &id).await?;
    Ok(StatusCode::OK.into_response())
}

async fn prune(State(s): S, p: Params) -> Result<Response, ApiError> {
    let removed = s.networks.prune(&p.filters()?, &s.containers.network_users()).await?;
    // dockerd answers `null` when nothing was removed.
    let removed = if removed.is_empty() { serde_json::Value::Null } else { serde_json::json!(removed) };
    Ok(json(StatusCode::OK, &serde_json::json!({"NetworksDeleted": removed})))
}
