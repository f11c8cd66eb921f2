//! Swarm-family and plugin endpoints. Berth does not implement swarm mode or managed plugins, so it
//! answers them exactly as a dockerd that is not part of a swarm and has no plugin installed: the
//! docker CLI, Compose and the SDKs then say what they say to such a dockerd. Only `swarm init`,
//! `swarm join` and plugin installation (which would make a dockerd a swarm node or install a plugin)
//! say that Berth does not implement them.

use super::{json, ApiError, Params};
use crate::service::Services;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, MethodRouter};
use axum::Router;
use std::sync::Arc;

/// dockerd's answer to a manager-only request on a node outside a swarm (moby `errNoSwarm`).
const NOT_A_MANAGER: &str =
    "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
/// dockerd's answer to `swarm leave` outside a swarm.
const NOT_IN_SWARM: &str = "This node is not part of a swarm";
const NO_SWARM_MODE: &str = "Berth does not implement swarm mode: swarm services, nodes, secrets and configs are not available; run containers with docker run or Compose";
const NO_PLUGINS: &str = "Berth does not implement managed plugins";

/// The manager-only endpoints (swarm state, nodes, services, tasks, secrets, configs) and their
/// methods: each answers [`NOT_A_MANAGER`], as on a dockerd outside a swarm.
const MANAGER_ONLY: &[(&str, &str)] = &[
    ("/swarm", "GET"),
    ("/swarm/update", "POST"),
    ("/swarm/unlockkey", "GET"),
    ("/swarm/unlock", "POST"),
    ("/nodes", "GET"),
    ("/nodes/{id}", "GET DELETE"),
    ("/nodes/{id}/update", "POST"),
    ("/services", "GET"),
    ("/services/create", "POST"),
    ("/services/{id}", "GET DELETE"),
    ("/services/{id}/update", "POST"),
    ("/services/{id}/logs", "GET"),
    ("/tasks", "GET"),
    ("/tasks/{id}", "GET"),
    ("/tasks/{id}/logs", "GET"),
    ("/secrets", "GET"),
    ("/secrets/create", "POST"),
    ("/secrets/{id}", "GET DELETE"),
    ("/secrets/{id}/update", "POST"),
    ("/configs", "GET"),
    ("/configs/create", "POST"),
    ("/configs/{id}", "GET DELETE"),
    ("/configs/{id}/update", "POST"),
];

pub fn routes() -> Router<Arc<Services>> {
    let manager = || async { ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_A_MANAGER) };
    let no_swarm_mode = || async { ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NO_SWARM_MODE) };
    let no_plugins = || async { ApiError::new(StatusCode::NOT_IMPLEMENTED, NO_PLUGINS) };
    let mut router = Router::new();
    for (path, methods) in MANAGER_ONLY {
        let mut route = MethodRouter::new();
        for m in methods.split(' ') {
            route = match m {
                "GET" => route.get(manager),
                "POST" => route.post(manager),
                _ => route.delete(manager),
            };
        }
        router = router.route(path, route);
    }
    router
        .route("/swarm/init", post(no_swarm_mode))
        .route("/swarm/join", post(no_swarm_mode))
        .route("/swarm/leave", post(|| async { ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_IN_SWARM) }))
        .route("/plugins", get(plugins))
        .route("/plugins/{name}/json", get(no_such_plugin))
        .route("/plugins/{name}", delete(no_such_plugin))
        .route("/plugins/{name}/enable", post(enable))
        .route("/plugins/{name}/disable", post(no_such_plugin))
        .route("/plugins/{name}/set", post(no_such_plugin))
        .route("/plugins/{name}/push", post(no_such_plugin))
        .route("/plugins/{name}/upgrade", post(upgrade))
        .route("/plugins/privileges", get(no_plugins))
        .route("/plugins/pull", post(no_plugins))
        .route("/plugins/create", post(no_plugins))
}

/// `GET /plugins`: none installed (the filters are still checked, as dockerd checks them).
async fn plugins(p: Params) -> Result<Response, ApiError> {
    p.filters()?;
    Ok(json(StatusCode::OK, &Vec::<serde_json::Value>::new()))
}

async fn no_such_plugin(Path(name): Path<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("plugin {name:?} not found"))
}

/// `POST /plugins/{name}/enable`: dockerd parses `timeout` before looking the plugin up.
async fn enable(Path(name): Path<String>, p: Params) -> ApiError {
    let t = p.get("timeout").unwrap_or("");
    if t.parse::<i64>().is_err() {
        return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("strconv.Atoi: parsing {t:?}: invalid syntax"));
    }
    no_such_plugin(Path(name)).await
}

/// `POST /plugins/{name}/upgrade`: dockerd names the plugin with its default tag here, also in a
/// `Docker-Plugin-Name` header.
async fn upgrade(Path(name): Path<String>) -> Response {
    let tagged = if name.rsplit('/').next().is_some_and(|last| last.contains(':')) { name } else { format!("{name}:latest") };
    let mut resp = no_such_plugin(Path(tagged.clone())).await.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&tagged) {
        resp.headers_mut().insert("Docker-Plugin-Name", v);
    }
    resp
}
