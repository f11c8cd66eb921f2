//! A conversation with one repository of one registry: the endpoint that answered the ping, the
//! authorization in use, and request sending that re-authorizes once on 401.

use crate::auth::{Challenge, Credentials};
use crate::error::describe_transport;
use crate::transport::Endpoint;
use crate::{ClientInner, DistributionError};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use std::sync::Mutex;

pub(crate) struct Session<'a> {
    inner: &'a ClientInner,
    pub endpoint: Endpoint,
    /// The reference's domain (`docker.io`, `127.0.0.1:5000`): the key for tokens and the blob index.
    pub registry: String,
    creds: Option<Credentials>,
    scopes: Mutex<Vec<String>>,
    authorization: Mutex<Option<String>>,
    challenge: Mutex<Option<Challenge>>,
}

impl<'a> Session<'a> {
    /// Pings `GET /v2/` on each endpoint of `registry` in turn and authorizes for `scopes` on the
    /// first that answers.
    pub async fn open(
        inner: &'a ClientInner,
        registry: &str,
        scopes: Vec<String>,
        creds: Option<Credentials>,
        pull: bool,
    ) -> Result<Session<'a>, DistributionError> {
        let mut last_err = None;
        for ep in inner.transport.endpoints(registry, pull)? {
            let url = v2(&ep.base);
            match ep.http.get(url.clone()).send().await {
                Ok(resp) => {
                    let challenge = if resp.status() == StatusCode::UNAUTHORIZED {
                        Challenge::from_headers(resp.headers())
                    } else {
                        None
                    };
                    tracing::debug!(registry, endpoint = %ep.base, status = resp.status().as_u16(), "registry ping");
                    let s = Session {
                        inner,
                        endpoint: ep,
                        registry: registry.to_string(),
                        creds,
                        scopes: Mutex::new(scopes),
                        authorization: Mutex::new(None),
                        challenge: Mutex::new(challenge),
                    };
                    s.authorize(false).await?;
                    return Ok(s);
                }
                Err(e) => {
                    last_err = Some(DistributionError::Unreachable {
                        url: url.to_string(),
                        reason: describe_transport(&e),
                    })
                }
            }
        }
        Err(last_err.unwrap_or_else(|| DistributionError::Unreachable {
            url: registry.into(),
            reason: "no endpoint".into(),
        }))
    }

    /// Sets the authorization for the current challenge and scopes. Returns whether it changed.
    async fn authorize(&self, fresh: bool) -> Result<bool, DistributionError> {
        let challenge = self
            .challenge
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let value = match challenge {
            None => return Ok(false),
            Some(Challenge::Basic) => match &self.creds {
                Some(c) => c.basic_header(),
                None => return Ok(false),
            },
            Some(Challenge::Bearer { realm, service, .. }) => {
                let scopes = self
                    .scopes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let want = crate::auth::TokenRequest {
                    registry: &self.registry,
                    realm: &realm,
                    service: service.as_deref(),
                    scopes: &scopes,
                    creds: self.creds.as_ref(),
                };
                let t = self
                    .inner
                    .tokens
                    .token(&self.endpoint.http, &want, fresh)
                    .await?;
                format!("Bearer {t}")
            }
        };
        let mut cur = self.authorization.lock().unwrap_or_else(|p| p.into_inner());
        let changed = cur.as_deref() != Some(&value);
        *cur = Some(value);
        Ok(changed)
    }

    /// `base/v2/<path>`.
    pub fn url(&self, path: &str) -> Url {
        let mut u = self.endpoint.base.clone();
        u.set_path(&format!("/v2/{path}"));
        u
    }

    /// Sends the request `build` makes, authorized; on a 401 re-authorizes for the challenge's scope
    /// and sends a freshly built request once more. Error statuses are returned as responses.
    pub async fn send(
        &self,
        method: Method,
        url: &Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, DistributionError> {
        for attempt in 0..2 {
            let mut req = build(self.endpoint.http.request(method.clone(), url.clone()));
            if let Some(a) = self
                .authorization
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| transport_error(&method, url, &e))?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                if let Some(ch) = Challenge::from_headers(resp.headers()) {
                    if let Challenge::Bearer { scope: Some(s), .. } = &ch {
                        let mut scopes = self.scopes.lock().unwrap_or_else(|p| p.into_inner());
                        if !scopes.contains(s) {
                            scopes.push(s.clone());
                        }
                    }
                    *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(ch);
                    if self.authorize(true).await? {
                        continue;
                    }
                }
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second iteration")
    }

    /// [`send`](Self::send), then turns an error status into a [`DistributionError`].
    pub async fn send_ok(
        &self,
        method: Method,
        url: &Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, DistributionError> {
        let resp = self.send(method, url, build).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(error_from_response(resp).await)
        }
    }
}

fn v2(base: &Url) -> Url {
    let mut u = base.clone();
    u.set_path("/v2/");
    u
}

pub(crate) fn transport_error(method: &Method, url: &Url, e: &reqwest::Error) -> DistributionError {
    if e.is_connect() {
        DistributionError::Unreachable {
            url: url.to_string(),
            reason: describe_transport(e),
        }
    } else {
        DistributionError::Transfer {
            method: method_name(method),
            url: url.to_string(),
            reason: describe_transport(e),
        }
    }
}

fn method_name(m: &Method) -> &'static str {
    match *m {
        Method::GET => "Get",
        Method::HEAD => "Head",
        Method::POST => "Post",
        Method::PUT => "Put",
        Method::PATCH => "Patch",
        Method::DELETE => "Delete",
        _ => "Request",
    }
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// How much of a registry's error body is read.
const MAX_ERROR_BODY: usize = 64 << 10;

/// Up to `limit` bytes of a response body; the rest is not read.
pub(crate) async fn read_prefix(resp: Response, limit: usize) -> Vec<u8> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(Ok(c)) = body.next().await {
        let room = limit - out.len();
        out.extend_from_slice(&c[..c.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// The registry's error for a non-success response (OCI distribution-spec § error codes), as a
/// one-line error; 401, 403 and 429 get their own variants.
pub(crate) async fn error_from_response(resp: Response) -> DistributionError {
    let status = resp.status();
    // Only the start of an error body is read: a registry (or anything posing as one) cannot make
    // the daemon hold a large one.
    let body = read_prefix(resp, MAX_ERROR_BODY).await;
    let first = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .and_then(|b| b.errors.into_iter().next());
    if status == StatusCode::UNAUTHORIZED {
        // HEAD responses carry no body; Docker's wording then is the registry's usual message.
        let msg = first
            .map(|e| e.message)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "authentication required".into());
        return DistributionError::Unauthorized(msg);
    }
    let reason = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase();
    let (code, message) = match first {
        Some(e) => (e.code.to_ascii_lowercase(), e.message),
        None => (
            reason.replace(' ', "_"),
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_string(),
        ),
    };
    let message = if message.is_empty() { reason } else { message };
    match status {
        StatusCode::FORBIDDEN => DistributionError::Denied(message),
        StatusCode::TOO_MANY_REQUESTS => DistributionError::TooManyRequests(message),
        _ => DistributionError::Registry {
            status: status.as_u16(),
            code,
            message,
        },
    }
}
