//! The upstream registry as the pull-through cache sees it: an HTTP client that answers the
//! registry's auth challenges as the Docker daemon does (RFC 7235 `WWW-Authenticate`: `Basic` with
//! the configured credentials, or `Bearer realm,service` → `GET realm?service=…&scope=…` with them →
//! retry with the token, cached per scope until it expires).

use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why the upstream could not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection, a timeout, or a broken response.
    #[error("upstream registry unreachable: {0}")]
    Unreachable(String),
    /// The upstream does not have it (404).
    #[error("not found upstream")]
    NotFound,
    /// The upstream refused our credentials, or its challenge could not be answered.
    #[error("upstream registry refused authentication: {0}")]
    Auth(String),
    /// Any other status.
    #[error("upstream registry answered {0}")]
    Status(u16),
    /// The upstream's content failed verification (digest or length).
    #[error("upstream registry sent invalid content: {0}")]
    Invalid(String),
}

/// What a `WWW-Authenticate` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer { realm: String, service: Option<String> },
}

/// A client of one upstream registry.
#[derive(Debug)]
pub(crate) struct Upstream {
    base: String,
    http: reqwest::Client,
    credentials: Option<(String, String)>,
    /// The challenge the upstream answered last (so later requests authenticate up front).
    challenge: Mutex<Option<Challenge>>,
    /// Bearer tokens by scope, with when they expire.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Upstream {
    /// A client of the registry at `base` (`http(s)://host[:port]`).
    pub(crate) fn new(base: &str, credentials: Option<(String, String)>) -> Result<Upstream, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // A body that sends nothing for this long is abandoned (the cache entry is not kept).
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("berth-registry/", env!("CARGO_PKG_VERSION"), " (pull-through cache)"))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Upstream { base: base.trim_end_matches('/').to_string(), http, credentials, challenge: Mutex::new(None), tokens: Mutex::new(HashMap::new()) })
    }

    /// The upstream's base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// `METHOD /v2/<name>/<rest>` with the repository's pull scope, authenticated as the upstream
    /// asks. A 404 is [`UpstreamError::NotFound`]; other non-success statuses are errors.
    pub(crate) async fn get(&self, method: Method, name: &str, rest: &str, accept: Option<&str>) -> Result<Response, UpstreamError> {
        let url = format!("{}/v2/{name}/{rest}", self.base);
        let scope = format!("repository:{name}:pull");
        let mut fresh_challenge = false;
        loop {
            let mut req = self.http.request(method.clone(), &url);
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if let Some(h) = self.authorization(&scope).await? {
                req = req.header(AUTHORIZATION, h);
            }
            let resp = req.send().await.map_err(|e| UpstreamError::Unreachable(error_text(&e)))?;
            match resp.status() {
                s if s.is_success() => return Ok(resp),
                StatusCode::NOT_FOUND => return Err(UpstreamError::NotFound),
                StatusCode::UNAUTHORIZED if !fresh_challenge => {
                    let c = resp
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(parse_challenge)
                        .ok_or_else(|| UpstreamError::Auth("401 without a challenge Berth can answer".into()))?;
                    if self.credentials.is_none() && c == Challenge::Basic {
                        return Err(UpstreamError::Auth("upstream requires credentials; set proxy username and password".into()));
                    }
                    *lock(&self.challenge) = Some(c);
                    lock(&self.tokens).remove(&scope);
                    fresh_challenge = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(UpstreamError::Auth(format!("upstream answered {}", resp.status().as_u16())))
                }
                s => return Err(UpstreamError::Status(s.as_u16())),
            }
        }
    }

    /// The `Authorization` value for `scope` under the last challenge, fetching a token if needed.
    async fn authorization(&self, scope: &str) -> Result<Option<HeaderValue>, UpstreamError> {
        let challenge = lock(&self.challenge).clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.basic()),
            Some(Challenge::Bearer { realm, service }) => {
                if let Some((t, until)) = lock(&self.tokens).get(scope) {
                    if Instant::now() < *until {
                        return Ok(HeaderValue::from_str(&format!("Bearer {t}")).ok());
                    }
                }
                let token = self.fetch_token(&realm, service.as_deref(), scope).await?;
                Ok(HeaderValue::from_str(&format!("Bearer {token}")).ok())
            }
        }
    }

    fn basic(&self) -> Option<HeaderValue> {
        let (u, p) = self.credentials.as_ref()?;
        let enc = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{u}:{p}"));
        HeaderValue::from_str(&format!("Basic {enc}")).ok()
    }

    /// The token flow of the Docker registry auth spec: `GET realm?service=…&scope=…`, with Basic
    /// credentials when configured (anonymous otherwise).
    async fn fetch_token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<String, UpstreamError> {
        let mut query: Vec<(&str, &str)> = vec![("scope", scope)];
        if let Some(s) = service {
            query.push(("service", s));
        }
        let mut req = self.http.get(realm).query(&query);
        if let Some(b) = self.basic() {
            req = req.header(AUTHORIZATION, b);
        }
        let resp = req.send().await.map_err(|e| UpstreamError::Unreachable(error_text(&e)))?;
        if !resp.status().is_success() {
            return Err(UpstreamError::Auth(format!("token endpoint {realm} answered {}", resp.status().as_u16())));
        }
        #[derive(serde::Deserialize)]
        struct Token {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
            #[serde(default)]
            expires_in: u64,
        }
        let body = resp.bytes().await.map_err(|e| UpstreamError::Unreachable(error_text(&e)))?;
        let t: Token = serde_json::from_slice(&body).map_err(|_| UpstreamError::Auth(format!("token endpoint {realm} sent no token")))?;
        let token = if t.token.is_empty() { t.access_token } else { t.token };
        if token.is_empty() {
            return Err(UpstreamError::Auth(format!("token endpoint {realm} sent no token")));
        }
        // The spec's default lifetime is 60 s; renew a little early.
        let life = Duration::from_secs(if t.expires_in == 0 { 60 } else { t.expires_in });
        let until = Instant::now() + life.saturating_sub(Duration::from_secs(5));
        lock(&self.tokens).insert(scope.to_string(), (token.clone(), until));
        Ok(token)
    }
}

/// The error and its causes on one line (reqwest's top-level message alone hides "connection refused").
fn error_text(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// Parses `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`.
fn parse_challenge(h: &str) -> Option<Challenge> {
    let (scheme, params) = h.trim().split_once(' ').unwrap_or((h.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        match key.as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    Some(Challenge::Bearer { realm: realm?, service })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(parse_challenge(r#"Basic realm="Berth Registry""#), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(r#"Bearer realm="http://127.0.0.1:5000/token",service="berth-registry",scope="repository:a/b:pull""#),
            Some(Challenge::Bearer { realm: "http://127.0.0.1:5000/token".into(), service: Some("berth-registry".into()) })
        );
        assert_eq!(
            parse_challenge(r#"Bearer realm=https://auth.example/token, scope="x""#),
            Some(Challenge::Bearer { realm: "https://auth.example/token".into(), service: None })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
