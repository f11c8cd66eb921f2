//! Swarm-family and plugin endpoints. Berth does not implement swarm mode or managed plugins, so it
//! answers them exactly as a dockerd that is not part of a swarm and has no plugin installed: the
//! docker CLI, Compose and the SDKs then say what they say to such a dockerd. Each endpoint first
//! checks what dockerd checks before it finds it is no manager (query values, the body's JSON,
//! filters), with dockerd's status and words. Only `swarm init`, `swarm join` and plugin
//! installation (which would make a dockerd a swarm node or install a plugin) say that Berth does
//! not implement them.

use super::gojson::{self, Reader};
use super::{json, ApiError, Params};
use crate::service::Services;
use axum::extract::Path;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, post, MethodFilter};
use axum::Router;
use bytes::Bytes;
use std::sync::Arc;

/// dockerd's answer to a manager-only request on a node outside a swarm (moby `errNoSwarm`).
const NOT_A_MANAGER: &str =
    "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
/// dockerd's answer to `swarm leave` outside a swarm.
const NOT_IN_SWARM: &str = "This node is not part of a swarm";
const NO_SWARM_MODE: &str = "Berth does not implement swarm mode: swarm services, nodes, secrets and configs are not available; run containers with docker run or Compose";
const NO_PLUGINS: &str = "Berth does not implement managed plugins";

type Answer = Result<Response, ApiError>;

fn not_a_manager() -> Answer {
    Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_A_MANAGER))
}

pub fn routes() -> Router<Arc<Services>> {
    let no_swarm_mode = || async { ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NO_SWARM_MODE) };
    let no_plugins = || async { ApiError::new(StatusCode::NOT_IMPLEMENTED, NO_PLUGINS) };
    let manager = || async { not_a_manager() };
    Router::new()
        .route("/swarm", get(manager))
        .route("/swarm/update", post(swarm_update))
        .route("/swarm/unlockkey", get(manager))
        .route("/swarm/unlock", post(|b: Bytes| async move { body::<serde_json::Value>(&b, StatusCode::BAD_REQUEST)?; not_a_manager() }))
        .route("/swarm/init", post(no_swarm_mode))
        .route("/swarm/join", post(no_swarm_mode))
        .route("/swarm/leave", post(|| async { ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NOT_IN_SWARM) }))
        // Nodes, tasks, secrets, configs: a `filters` that is not JSON is an untyped error (500).
        .route("/nodes", get(|p: Params| list(p, StatusCode::INTERNAL_SERVER_ERROR)))
        .route("/nodes/{id}", get(manager).delete(manager))
        .route("/nodes/{id}/update", post(|p: Params, b: Bytes| update(p, b, Versioned::Detailed("node"))))
        .route("/services", get(services))
        .route("/services/create", post(|b: Bytes| create(b)))
        .route("/services/{id}", get(service_inspect).delete(manager))
        .route("/services/{id}/update", post(|p: Params, b: Bytes| update(p, b, Versioned::Service)))
        .route("/services/{id}/logs", get(logs))
        .route("/tasks", get(|p: Params| list(p, StatusCode::INTERNAL_SERVER_ERROR)))
        .route("/tasks/{id}", get(manager))
        .route("/tasks/{id}/logs", get(logs))
        .route("/secrets", get(|p: Params| list(p, StatusCode::INTERNAL_SERVER_ERROR)))
        .route("/secrets/create", post(|b: Bytes| create(b)))
        .route("/secrets/{id}", get(manager).delete(manager))
        .route("/secrets/{id}/update", post(|p: Params, b: Bytes| update(p, b, Versioned::Bare("secret"))))
        .route("/configs", get(|p: Params| list(p, StatusCode::INTERNAL_SERVER_ERROR)))
        .route("/configs/create", post(|b: Bytes| create(b)))
        .route("/configs/{id}", get(manager).delete(manager))
        .route("/configs/{id}/update", post(|p: Params, b: Bytes| update(p, b, Versioned::Bare("config"))))
        .route("/plugins", get(plugins))
        .route("/plugins/privileges", get(no_plugins))
        .route("/plugins/pull", post(no_plugins))
        .route("/plugins/create", post(no_plugins))
        // Plugin names hold slashes (`vieux/sshfs:latest`): the action is the last segment.
        .route("/plugins/{*rest}", on(MethodFilter::GET.or(MethodFilter::POST).or(MethodFilter::DELETE), plugin))
}

/// A JSON body, refused with Go's wording and `status`.
fn body<T: serde::de::DeserializeOwned>(b: &[u8], status: StatusCode) -> Result<T, ApiError> {
    gojson::decode(b).map_err(|m| ApiError::new(status, m))
}

/// The `filters` of a list, refused with Go's wording and `status` when not JSON.
fn filters(p: &Params, status: StatusCode) -> Result<(), ApiError> {
    let raw = p.get("filters").unwrap_or("");
    if raw.is_empty() {
        return Ok(());
    }
    serde_json::from_str::<serde_json::Value>(raw).map(|_| ()).map_err(|e| ApiError::new(status, gojson::message(raw.as_bytes(), &e, Reader::Unmarshal)))
}

async fn list(p: Params, status: StatusCode) -> Answer {
    filters(&p, status)?;
    not_a_manager()
}

async fn create(b: Bytes) -> Answer {
    body::<serde_json::Value>(&b, StatusCode::BAD_REQUEST)?;
    not_a_manager()
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {v:?}: invalid syntax")),
    }
}

/// A boolean query value dockerd parses strictly: `invalid value for KEY: V: <ParseBool error>`.
fn strict_bool(p: &Params, key: &str) -> Result<(), ApiError> {
    match p.get(key).filter(|v| !v.is_empty()) {
        Some(v) => parse_bool(v).map(|_| ()).map_err(|e| ApiError::bad_request(format!("invalid value for {key}: {v}: {e}"))),
        None => Ok(()),
    }
}

async fn services(p: Params) -> Answer {
    filters(&p, StatusCode::BAD_REQUEST)?;
    strict_bool(&p, "status")?;
    not_a_manager()
}

async fn service_inspect(p: Params) -> Answer {
    strict_bool(&p, "insertDefaults")?;
    not_a_manager()
}

/// How an update's `version` is refused.
#[derive(Clone, Copy)]
enum Versioned {
    /// `invalid node version 'x': strconv.ParseUint: …`.
    Detailed(&'static str),
    /// As `Detailed`, and an empty body is "got EOF while reading request body".
    Service,
    /// `invalid secret version`.
    Bare(&'static str),
}

async fn update(p: Params, b: Bytes, kind: Versioned) -> Answer {
    if matches!(kind, Versioned::Service) && b.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("got EOF while reading request body"));
    }
    body::<serde_json::Value>(&b, StatusCode::BAD_REQUEST)?;
    let raw = p.get("version").unwrap_or("");
    if raw.parse::<u64>().is_err() {
        let why = format!("strconv.ParseUint: parsing {raw:?}: {}", if raw.is_empty() || !raw.bytes().all(|c| c.is_ascii_digit()) { "invalid syntax" } else { "value out of range" });
        return Err(ApiError::bad_request(match kind {
            Versioned::Detailed(what) => format!("invalid {what} version '{raw}': {why}"),
            Versioned::Service => format!("invalid service version '{raw}': {why}"),
            Versioned::Bare(what) => format!("invalid {what} version"),
        }));
    }
    not_a_manager()
}

/// `POST /swarm/update`: the spec, the version, then each rotation flag.
async fn swarm_update(p: Params, b: Bytes) -> Answer {
    body::<serde_json::Value>(&b, StatusCode::BAD_REQUEST)?;
    let raw = p.get("version").unwrap_or("");
    if raw.parse::<u64>().is_err() {
        return Err(ApiError::bad_request(format!("invalid swarm version '{raw}': strconv.ParseUint: parsing {raw:?}: invalid syntax")));
    }
    for key in ["rotateWorkerToken", "rotateManagerToken", "rotateManagerUnlockKey"] {
        if let Some(v) = p.get(key).filter(|v| !v.is_empty()) {
            parse_bool(v).map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v}")))?;
        }
    }
    not_a_manager()
}

/// Service and task logs: a request for neither stream is refused before anything else.
async fn logs(p: Params) -> Answer {
    if !(p.flag("stdout") || p.flag("stderr")) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Bad parameters: you must choose at least one stream"));
    }
    not_a_manager()
}

/// `GET /plugins`: none installed (the filters are still checked, as dockerd checks them).
async fn plugins(p: Params) -> Answer {
    let f = p.filters()?;
    f.validate(&["capability", "enabled"]).map_err(ApiError::bad_request)?;
    f.bool("enabled").map_err(ApiError::bad_request)?;
    Ok(json(StatusCode::OK, &Vec::<serde_json::Value>::new()))
}

fn no_such_plugin(name: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("plugin {name:?} not found"))
}

/// `/plugins/{name}/json|enable|disable|set|push|upgrade` and `DELETE /plugins/{name}`, for names
/// with slashes too.
async fn plugin(method: Method, Path(rest): Path<String>, p: Params, b: Bytes) -> Response {
    let (name, action) = match rest.rsplit_once('/') {
        Some((n, a)) if method != Method::DELETE => (n.to_string(), a),
        _ => (rest.clone(), ""),
    };
    let answer = match (method.as_str(), action) {
        ("DELETE", "") | ("GET", "json") | ("POST", "disable") | ("POST", "push") => Err(no_such_plugin(&name)),
        // dockerd parses `timeout` before looking the plugin up.
        ("POST", "enable") => {
            let t = p.get("timeout").unwrap_or("");
            match t.parse::<i64>() {
                Err(_) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("strconv.Atoi: parsing {t:?}: invalid syntax"))),
                Ok(_) => Err(no_such_plugin(&name)),
            }
        }
        ("POST", "set") => body::<Vec<String>>(&b, StatusCode::BAD_REQUEST).and_then(|_| Err(no_such_plugin(&name))),
        // dockerd names the plugin with its default tag here, also in a `Docker-Plugin-Name` header.
        ("POST", "upgrade") => {
            if let Err(m) = gojson::decode::<serde_json::Value>(&b) {
                return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("failed to parse privileges: {m}")).into_response();
            }
            let tagged = if name.rsplit('/').next().is_some_and(|last| last.contains(':')) { name } else { format!("{name}:latest") };
            let mut resp = no_such_plugin(&tagged).into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&tagged) {
                resp.headers_mut().insert("Docker-Plugin-Name", v);
            }
            return resp;
        }
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "page not found")),
    };
    match answer {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}
