//! The Docker Engine API: version negotiation, common headers, errors, and one router per resource.
//! HTTP stops here: handlers parse requests into typed arguments and call [`crate::service`].

mod attach;
mod attach_ws;
mod build;
mod containers;
mod exec;
pub(crate) mod gojson;
mod images;
mod metrics;
mod networks;
mod stream;
mod swarm;
mod system;
mod volumes;

use crate::service::{offload, ServiceError, Services};
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use berth_api::version::{ApiVersion, API_VERSION, MIN_API_VERSION};
use berth_types::error::HasKind;
use berth_types::ErrorKind;
use std::sync::Arc;
use tower::ServiceExt;

pub use metrics::serve_metrics;

/// The `Server` header value.
pub fn server_header() -> String {
    format!("Berth/{} (linux)", crate::service::system::VERSION)
}

/// The largest JSON body a request may send (container create, update, exec, network and volume
/// create). dockerd reads any size; Berth refuses larger ones with a 400 rather than hold them.
pub const MAX_JSON_BODY: usize = 4 << 20;

/// How long a streamed JSON response (pull, push, build) stays silent before a newline is sent.
/// The server answers clients that half-close after their request, so a client that went away
/// shows only when written to; the newline (whitespace between JSON values, which every JSON stream
/// reader skips) finds it out, and its work is cancelled.
pub(crate) const STREAM_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(3);

/// Marks a response that leaves without the common headers (`Api-Version`, `Server`, `Ostype`,
/// `Docker-Experimental`): those dockerd writes by hand on a hijacked connection (attach, attach/ws).
#[derive(Clone, Copy)]
pub(crate) struct BareHeaders;

/// The API in front of the services: cheap to clone, one per connection.
#[derive(Clone)]
pub struct Api {
    router: Router,
}

/// Builds the API over `services`.
pub fn router(services: Arc<Services>) -> Api {
    let router = Router::new()
        .merge(system::routes())
        .merge(images::routes())
        .merge(containers::routes())
        .merge(build::routes())
        .merge(exec::routes())
        .merge(volumes::routes())
        .merge(networks::routes())
        .merge(swarm::routes())
        .route_layer(axum::middleware::from_fn(metrics::record_latency))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "page not found") })
        .with_state(services);
    Api { router }
}

impl Api {
    /// Handles one request: strips and checks the `/v1.N` prefix, routes, adds common headers. A
    /// handler that panics answers 500 with Docker's error shape; the connection and the daemon
    /// carry on.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body_util::BodyExt<Data = bytes::Bytes> + Send + 'static + hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        use futures_util::FutureExt;
        crate::memory::touch();
        let mut req = req.map(Body::new);
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        let mut resp = match strip_version(&mut req) {
            Ok(v) => {
                req.extensions_mut().insert(v);
                tracing::debug!(method = %req.method(), path = %req.uri().path(), "request");
                let routed = std::panic::AssertUnwindSafe(self.router.clone().oneshot(req)).catch_unwind().await;
                match routed {
                    Ok(Ok(r)) if method != axum::http::Method::HEAD => as_json_error(r).await,
                    Ok(Ok(r)) => r,
                    Ok(Err(never)) => match never {},
                    Err(panic) => {
                        let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
                        tracing::error!(%method, %path, panic = %what, "request handler panicked");
                        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("internal error while serving {method} {path}: {what}")).into_response()
                    }
                }
            }
            Err(e) => e.into_response(),
        };
        if resp.extensions().get::<BareHeaders>().is_some() {
            return resp;
        }
        let h = resp.headers_mut();
        h.insert("Api-Version", HeaderValue::from_static(API_VERSION));
        if let Ok(v) = HeaderValue::from_str(&server_header()) {
            h.insert(header::SERVER, v);
        }
        h.insert("Ostype", HeaderValue::from_static("linux"));
        h.insert("Docker-Experimental", HeaderValue::from_static("false"));
        resp
    }
}

/// Errors the framework answers by itself (a body over [`MAX_JSON_BODY`], a body that stalled,
/// a wrong method, a malformed query) come as plain text or empty: they leave as Docker's `{"message": …}`.
/// A body over the limit is a 400, as every other refused body: dockerd has no 413.
async fn as_json_error(resp: Response<Body>) -> Response<Body> {
    let plain = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_none_or(|t| t.starts_with("text/plain"));
    if !(resp.status().is_client_error() || resp.status().is_server_error()) || !plain {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10).await.unwrap_or_default();
    let mut text = String::from_utf8_lossy(&text).trim().to_string();
    if text.is_empty() {
        text = parts.status.canonical_reason().unwrap_or("error").to_ascii_lowercase();
    }
    let status = if parts.status == StatusCode::PAYLOAD_TOO_LARGE {
        text = format!("request body is larger than the {MAX_JSON_BODY}-byte limit");
        StatusCode::BAD_REQUEST
    } else {
        parts.status
    };
    let mut out = ApiError::new(status, text).into_response();
    for (k, v) in parts.headers.iter().filter(|(k, _)| *k != header::CONTENT_TYPE && *k != header::CONTENT_LENGTH) {
        out.headers_mut().insert(k.clone(), v.clone());
    }
    out
}

/// Removes a `/v1.N` prefix from the request path, refusing versions outside what Berth serves.
fn strip_version(req: &mut Request<Body>) -> Result<ApiVersion, ApiError> {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else { return Ok(ApiVersion::current()) };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Some(v) = ApiVersion::parse(ver) else { return Ok(ApiVersion::current()) };
    if v > ApiVersion::current() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("client version {ver} is too new. Maximum supported API version is {API_VERSION}"),
        ));
    }
    if v < ApiVersion::minimum() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"),
        ));
    }
    let new_pq = match req.uri().query() {
        Some(q) => format!("{tail}?{q}"),
        None => tail.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = new_pq.parse().ok();
    if let Ok(u) = axum::http::Uri::from_parts(parts) {
        *req.uri_mut() = u;
    }
    Ok(v)
}

/// An error response: a status and `{"message": …}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with an explicit status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }

    /// A 400 for a malformed parameter.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// The message the client reads.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error, its message prefixed (dockerd's `failed to …: ` wrappers).
    pub fn with_prefix(mut self, prefix: &str) -> ApiError {
        self.message = format!("{prefix}{}", self.message);
        self
    }
}

/// The one place error kinds become HTTP statuses.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        // A failure several callers shared (one pull, one disk-usage walk) answers as its own kind.
        let mut inner = &e;
        while let ServiceError::Shared(shared) = inner {
            inner = shared;
        }
        let status = match inner {
            ServiceError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            // dockerd answers 500 when a registry or import URL cannot be reached.
            ServiceError::Upstream(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => status_for(e.kind()),
        };
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED && !matches!(inner, ServiceError::Upstream(_)) {
            tracing::error!(error = %error_chain(&e), "request failed");
        }
        ApiError { status, message: error_chain(&e) }
    }
}

impl From<berth_image::ImageError> for ApiError {
    fn from(e: berth_image::ImageError) -> Self {
        ServiceError::from(e).into()
    }
}

/// An error and its sources, joined with `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        cur = c.source();
    }
    s
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let body = serde_json::to_vec(&berth_api::ErrorBody { message: self.message }).unwrap_or_default();
        (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Query parameters, with repeated keys kept (`changes=…&changes=…`, `names=a&names=b`).
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }
    /// A boolean parameter ([`Params::flag_or`]); absent is false.
    pub fn flag(&self, key: &str) -> bool {
        self.flag_or(key, false)
    }
    /// A boolean parameter read as dockerd reads them: `""`, `0`, `no`, `false` and `none` (any
    /// case) are false, anything else is true; `default` when the key is absent.
    pub fn flag_or(&self, key: &str, default: bool) -> bool {
        match self.get(key) {
            None => default,
            Some(v) => !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "no" | "false" | "none"),
        }
    }
    /// The `filters` parameter.
    pub fn filters(&self) -> Result<crate::filters::Filters, ApiError> {
        crate::filters::Filters::parse(self.get("filters").unwrap_or("")).map_err(ApiError::bad_request)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        Ok(Params(form_urlencoded::parse(q.as_bytes()).into_owned().collect()))
    }
}

/// Runs synchronous service work (store updates with their fsync, cgroup writes, `/proc` reads)
/// on the blocking pool: handlers never block an async worker ([`offload`]).
pub(crate) async fn blocking<T, F>(s: &Arc<Services>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&Services) -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    let s = s.clone();
    Ok(offload::blocking(move || f(&s)).await?)
}

/// Runs a walk or recursive delete on the blocking pool within the heavy-work limit ([`offload`]).
pub(crate) async fn heavy<T, F>(s: &Arc<Services>, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&Services) -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    let s = s.clone();
    Ok(offload::heavy(move || f(&s)).await?)
}

/// The JSON response for a value.
pub fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> axum::response::Response {
    match serde_json::to_vec(v) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler that panics answers 500 with Docker's error shape, and the API keeps serving.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_json() {
        let api = Api {
            router: Router::new()
                .route("/boom", axum::routing::get(|| async { panic!("index out of bounds") as &'static str }))
                .route("/_ping", axum::routing::get(|| async { "OK" })),
        };
        let resp = api.handle(Request::get("/v1.41/boom").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap()).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["message"].as_str().unwrap().contains("index out of bounds"), "{v}");
        let resp = api.handle(Request::get("/_ping").body(http_body_util::Empty::<bytes::Bytes>::new()).unwrap()).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
}
