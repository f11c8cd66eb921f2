//! The Docker Engine API: version negotiation, common headers, errors, and one router per resource.
//! HTTP stops here: handlers parse requests into typed arguments and call [`crate::service`].

mod build;
mod containers;
mod exec;
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
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "page not found") })
        .with_state(services);
    Api { router }
}

impl Api {
    /// Handles one request: strips and checks the `/v1.N` prefix, routes, adds common headers.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body_util::BodyExt<Data = bytes::Bytes> + Send + Sync + 'static + hyper::body::Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        crate::memory::touch();
        let mut req = req.map(Body::new);
        let mut resp = match strip_version(&mut req) {
            Ok(v) => {
                req.extensions_mut().insert(v);
                tracing::debug!(method = %req.method(), path = %req.uri().path(), "request");
                match self.router.clone().oneshot(req).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                }
            }
            Err(e) => e.into_response(),
        };
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
        let status = match &e {
            ServiceError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ServiceError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            // dockerd answers 500 when a registry or import URL cannot be reached.
            ServiceError::Upstream(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => status_for(e.kind()),
        };
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED && !matches!(e, ServiceError::Upstream(_)) {
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
