//! HTTP: one fallback handler parses `/v2/<name>/…` itself (names have any number of `/`-separated
//! components, which axum's path patterns cannot express), checks auth and read-only mode, and hands
//! typed arguments to the service. Nothing below this module sees HTTP types.

mod blobs;
mod listing;
mod manifests;
mod uploads;

use crate::auth::{Access, Action, Authorizer};
use crate::errors::{ApiError, ErrorCode};
use crate::names;
use crate::notify::{Action as EventAction, Emitted, EventTarget, RequestInfo};
use crate::service::{BodyStream, Registry};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;

/// Everything a request handler needs.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) registry: Arc<Registry>,
    pub(crate) auth: Arc<Authorizer>,
    pub(crate) read_only: bool,
    pub(crate) tls: bool,
    /// A request body that sends nothing for this long is abandoned.
    pub(crate) idle_timeout: Duration,
    /// Webhook notifications of pushes, pulls and deletes.
    pub(crate) notifier: crate::notify::Notifier,
}

/// The registry's router.
pub(crate) fn router(state: AppState) -> Router {
    Router::new().fallback(dispatch).with_state(state)
}

/// Where a request goes, parsed from its path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Base,
    Token,
    Catalog,
    /// Docker's v1 search API (`docker search host/term`), answered over the catalog.
    Search,
    Tags(String),
    Manifest(String, String),
    Blob(String, String),
    UploadStart(String),
    Upload(String, String),
    Referrers(String, String),
    Unknown,
}

impl Route {
    fn parse(path: &str) -> Route {
        if path == "/v2" || path == "/v2/" {
            return Route::Base;
        }
        if path == "/token" {
            return Route::Token;
        }
        if path == "/v1/search" {
            return Route::Search;
        }
        let Some(rest) = path.strip_prefix("/v2/") else { return Route::Unknown };
        if rest == "_catalog" {
            return Route::Catalog;
        }
        let segs: Vec<&str> = rest.split('/').collect();
        let n = segs.len();
        let name = |k: usize| segs[..n - k].join("/");
        if n >= 4 && segs[n - 3] == "blobs" && segs[n - 2] == "uploads" {
            return if segs[n - 1].is_empty() {
                Route::UploadStart(name(3))
            } else {
                Route::Upload(name(3), segs[n - 1].to_string())
            };
        }
        if n < 3 {
            return Route::Unknown;
        }
        match (segs[n - 2], segs[n - 1]) {
            ("tags", "list") => Route::Tags(name(2)),
            ("manifests", r) => Route::Manifest(name(2), r.to_string()),
            ("referrers", d) => Route::Referrers(name(2), d.to_string()),
            ("blobs", "uploads") => Route::UploadStart(name(2)),
            ("blobs", d) => Route::Blob(name(2), d.to_string()),
            _ => Route::Unknown,
        }
    }

    /// The route's name in metrics (distribution's handler names where it has the route).
    fn handler(&self) -> &'static str {
        match self {
            Route::Base => "base",
            Route::Token => "token",
            Route::Catalog => "catalog",
            Route::Search => "search",
            Route::Tags(_) => "tags",
            Route::Manifest(..) => "manifest",
            Route::Blob(..) => "blob",
            Route::UploadStart(_) => "blob_upload",
            Route::Upload(..) => "blob_upload_chunk",
            Route::Referrers(..) => "referrers",
            Route::Unknown => "unknown",
        }
    }

    fn repo(&self) -> Option<&str> {
        match self {
            Route::Tags(n)
            | Route::Manifest(n, _)
            | Route::Blob(n, _)
            | Route::UploadStart(n)
            | Route::Upload(n, _)
            | Route::Referrers(n, _) => Some(n),
            _ => None,
        }
    }
}

async fn dispatch(State(st): State<AppState>, req: Request) -> Response {
    let handler = Route::parse(req.uri().path()).handler();
    let method = req.method().as_str().to_owned();
    let m = crate::metrics::get();
    let in_flight = m.in_flight.with_label_values(&[handler]);
    in_flight.inc();
    let started = std::time::Instant::now();
    let request = st.notifier.enabled().then(|| request_info(&st, &req));
    let mut resp = match route(&st, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let (Some((info, actor, base)), Some(mut ev)) = (request, resp.extensions_mut().remove::<Emitted>()) {
        if resp.status().is_success() {
            let reference = if ev.target.digest.is_empty() { &ev.target.tag } else { &ev.target.digest };
            ev.target.url = format!("{base}/v2/{}/{}/{reference}", ev.target.repository, ev.kind);
            st.notifier.emit(ev.action, ev.target, &info, actor);
        }
    }
    in_flight.dec();
    m.duration.with_label_values(&[handler, &method]).observe(started.elapsed().as_secs_f64());
    m.requests.with_label_values(&[resp.status().as_str(), handler, &method]).inc();
    resp.headers_mut().insert("Docker-Distribution-API-Version", HeaderValue::from_static("registry/2.0"));
    resp
}

/// The request as an event reports it, the user it authenticated as (Basic auth) and the base URL.
fn request_info(st: &AppState, req: &Request) -> (RequestInfo, Option<String>, String) {
    let h = req.headers();
    let text = |name: http::header::HeaderName| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let addr = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let info = RequestInfo {
        id: berth_types::random_id()[..32].to_string(),
        addr,
        host: text(http::header::HOST),
        method: req.method().to_string(),
        useragent: text(http::header::USER_AGENT),
    };
    let actor = h
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, _)| u.to_string()));
    (info, actor, base_url(st, h))
}

/// Attaches the event a successful response stands for (see [`dispatch`]).
fn emit(resp: &mut Response, action: EventAction, kind: &'static str, target: EventTarget) {
    resp.extensions_mut().insert(Emitted { action, target, kind });
}

fn action_for(method: &Method) -> Action {
    match *method {
        Method::GET | Method::HEAD => Action::Pull,
        Method::DELETE => Action::Delete,
        _ => Action::Push,
    }
}

async fn route(st: &AppState, req: Request) -> Result<Response, ApiError> {
    let route = Route::parse(req.uri().path());
    let method = req.method().clone();
    if let Some(name) = route.repo() {
        if !names::valid_name(name) {
            return Err(ApiError::new(ErrorCode::NameInvalid, "invalid repository name")
                .with_detail(serde_json::json!({ "name": name })));
        }
    }
    let authz = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let base_url = base_url(st, req.headers());
    let access = match (&route, &method) {
        (Route::Token, _) => None,
        (Route::Base, _) => Some(Access::Base),
        (Route::Catalog | Route::Search, _) => Some(Access::Catalog),
        (Route::Unknown, _) => return Err(ApiError::new(ErrorCode::Unsupported, "unknown endpoint")),
        (r, m) => Some(Access::Repo { name: r.repo().unwrap_or_default().to_string(), action: action_for(m) }),
    };
    if let Some(a) = &access {
        st.auth.check(authz.as_deref(), a, &base_url).await?;
    }
    let is_write = !matches!(method, Method::GET | Method::HEAD);
    if st.read_only && is_write && route.repo().is_some() {
        return Err(ApiError::new(ErrorCode::Unsupported, "the registry is in read-only mode"));
    }
    // distribution refuses every write to a pull-through cache the same way.
    if st.registry.proxy.is_some() && is_write && route.repo().is_some() {
        return Err(ApiError::new(ErrorCode::Unsupported, "the registry is a pull-through cache: pushes and deletes are not supported"));
    }
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let reg = &st.registry;
    match (route, method) {
        (Route::Base, Method::GET | Method::HEAD) => Ok((StatusCode::OK, Json("{}")).into_response()),
        (Route::Token, Method::GET) => {
            let scopes: Vec<String> = query.all("scope").map(str::to_string).collect();
            let t = st.auth.issue_token(authz.as_deref(), &scopes).await?;
            Ok(json_response(StatusCode::OK, &t))
        }
        (Route::Catalog, Method::GET) => listing::catalog(reg, &query).await,
        (Route::Search, Method::GET) => listing::search(reg, &query).await,
        (Route::Tags(name), Method::GET) => listing::tags(reg, &name, &query).await,
        (Route::Referrers(name, d), Method::GET) => listing::referrers(reg, &name, &d, &query).await,
        (Route::Manifest(name, r), m @ (Method::GET | Method::HEAD)) => {
            manifests::get(reg, &name, &r, req.headers(), m == Method::HEAD).await
        }
        (Route::Manifest(name, r), Method::PUT) => manifests::put(st, &name, &r, req).await,
        (Route::Manifest(name, r), Method::DELETE) => manifests::delete(reg, &name, &r).await,
        (Route::Blob(name, d), m @ (Method::GET | Method::HEAD)) => {
            let jobs = req.extensions().get::<crate::sendfile::Jobs>();
            blobs::get(reg, &name, &d, req.headers(), m == Method::HEAD, jobs).await
        }
        (Route::Blob(name, d), Method::DELETE) => blobs::delete(reg, &name, &d).await,
        (Route::UploadStart(name), Method::POST) => {
            uploads::start(st, &name, &query, authz.as_deref(), &base_url, req).await
        }
        (Route::Upload(name, id), Method::GET) => uploads::status(reg, &name, &id).await,
        (Route::Upload(name, id), Method::PATCH) => uploads::patch(st, &name, &id, req).await,
        (Route::Upload(name, id), Method::PUT) => uploads::finish(st, &name, &id, &query, req).await,
        (Route::Upload(name, id), Method::DELETE) => uploads::cancel(reg, &name, &id).await,
        _ => Err(ApiError::new(ErrorCode::Unsupported, "method not allowed on this endpoint")),
    }
}

fn base_url(st: &AppState, headers: &HeaderMap) -> String {
    let host = headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    format!("{}://{host}", if st.tls { "https" } else { "http" })
}

/// A JSON body already serialized.
struct Json(&'static str);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        ([(http::header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

fn json_response<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(b) => (status, [(http::header::CONTENT_TYPE, "application/json")], b).into_response(),
        Err(_) => ApiError::new(ErrorCode::Unknown, "cannot encode response").into_response(),
    }
}

/// Adds a header to a response being built; values are ours and always valid.
fn header(resp: &mut Response, name: &'static str, value: impl AsRef<str>) {
    if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
        resp.headers_mut().insert(name, v);
    }
}

/// A request's body as a stream of chunks that fails with `TimedOut` when the client stalls.
fn body_stream(body: Body, idle: Duration) -> BodyStream {
    let inner = body.into_data_stream().map(|r| r.map_err(std::io::Error::other));
    let s = futures_util::stream::unfold(Some(Box::pin(inner)), move |state| async move {
        let mut s = state?;
        match tokio::time::timeout(idle, s.next()).await {
            Ok(Some(item)) => Some((item, Some(s))),
            Ok(None) => None,
            Err(_) => Some((Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "client stalled")), None)),
        }
    });
    Box::pin(s)
}

/// Decoded query parameters, in order, repeats kept (`scope` may repeat).
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: &str) -> Query {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_multi_component_names() {
        assert_eq!(Route::parse("/v2/"), Route::Base);
        assert_eq!(Route::parse("/v2/_catalog"), Route::Catalog);
        assert_eq!(Route::parse("/v1/search"), Route::Search);
        assert_eq!(Route::parse("/v2/a/b/c/tags/list"), Route::Tags("a/b/c".into()));
        assert_eq!(Route::parse("/v2/a/b/manifests/latest"), Route::Manifest("a/b".into(), "latest".into()));
        assert_eq!(Route::parse("/v2/a/blobs/sha256:x"), Route::Blob("a".into(), "sha256:x".into()));
        assert_eq!(Route::parse("/v2/a/b/blobs/uploads/"), Route::UploadStart("a/b".into()));
        assert_eq!(Route::parse("/v2/a/b/blobs/uploads"), Route::UploadStart("a/b".into()));
        assert_eq!(Route::parse("/v2/a/b/blobs/uploads/abc"), Route::Upload("a/b".into(), "abc".into()));
        assert_eq!(Route::parse("/v2/x/referrers/sha256:y"), Route::Referrers("x".into(), "sha256:y".into()));
        assert_eq!(Route::parse("/v2/blobs/manifests/t"), Route::Manifest("blobs".into(), "t".into()));
        assert_eq!(Route::parse("/v2/x"), Route::Unknown);
        assert_eq!(Route::parse("/other"), Route::Unknown);
    }

    #[test]
    fn query_decodes_and_keeps_repeats() {
        let q = Query::parse("scope=repository%3Aa%3Apull&scope=registry:catalog:*&n=2&x");
        assert_eq!(q.all("scope").collect::<Vec<_>>(), vec!["repository:a:pull", "registry:catalog:*"]);
        assert_eq!(q.get("n"), Some("2"));
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
