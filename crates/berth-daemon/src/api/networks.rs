//! `/networks/*`: create, list, inspect, remove, connect, disconnect, prune.

use super::{json, ApiError, Params};
use crate::service::{ServiceError, Services};
use axum::extract::{Path, State};
use axum::Extension;
use berth_api::version::ApiVersion;
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
    super::gojson::decode(b).map_err(ApiError::bad_request)
}

/// A network as the request's API version shows it: `EnableIPv4` came with API 1.47.
fn shown(mut v: serde_json::Value, version: ApiVersion) -> serde_json::Value {
    if version < (ApiVersion { major: 1, minor: 47 }) {
        if let Some(m) = v.as_object_mut() {
            m.remove("EnableIPv4");
        }
    }
    v
}

async fn create(State(s): S, Extension(v): Extension<ApiVersion>, b: Bytes) -> Result<Response, ApiError> {
    let req: NetworkCreateRequest = body(&b)?;
    // `EnableIPv4` came with API 1.47 (older versions ignore it, as dockerd does): IPv6-only
    // networks are not implemented; dual-stack ones (`EnableIPv6`) are.
    if v >= (ApiVersion { major: 1, minor: 47 }) && req.enable_ipv4 == Some(false) {
        return Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, "IPv6-only networks (EnableIPv4=false) are not supported by Berth: its networks always have IPv4 (use EnableIPv6 for dual stack)"));
    }
    let n = s.networks.create(req).await?;
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": n.id, "Warning": ""})))
}

async fn list(State(s): S, p: Params, Extension(v): Extension<ApiVersion>) -> Result<Response, ApiError> {
    let nets = s.networks.list(&p.filters()?, &s.containers.network_users())?;
    let out: Vec<serde_json::Value> = nets.iter().map(|n| shown(s.networks.view(n, true), v)).collect();
    Ok(json(StatusCode::OK, &out))
}

async fn inspect(State(s): S, Path(id): Path<String>, p: Params, Extension(v): Extension<ApiVersion>) -> Result<Response, ApiError> {
    // `verbose` adds swarm services, which no local network has; it is still checked as dockerd does.
    if let Some(b) = p.get("verbose").filter(|b| !b.is_empty()) {
        if !matches!(b, "1" | "t" | "T" | "TRUE" | "true" | "True" | "0" | "f" | "F" | "FALSE" | "false" | "False") {
            return Err(ApiError::bad_request(format!("invalid value for verbose: {b}: strconv.ParseBool: parsing {b:?}: invalid syntax")));
        }
    }
    let n = s.networks.get(&id)?;
    // Every Berth network is `local`: asking for another scope finds none.
    if p.get("scope").is_some_and(|sc| !sc.is_empty() && sc != "local") {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("network {id} not found")));
    }
    Ok(json(StatusCode::OK, &shown(s.networks.view(&n, true), v)))
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
        // dockerd then removes a stale endpoint of that name; Berth keeps none.
        Err(ServiceError::NotFound(_)) if req.force => {
            s.networks.get(&id)?;
            return Err(ApiError::new(StatusCode::NOT_FOUND, format!("endpoint {} not found", req.container)));
        }
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
