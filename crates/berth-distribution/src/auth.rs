//! Registry authentication: `WWW-Authenticate` challenges (RFC 7235), basic credentials and the
//! Docker token flow (`distribution/docs/spec/auth/token.md`): `GET realm?service=&scope=` with
//! basic credentials (or `POST` with a refresh token for identity tokens) → `token` /
//! `access_token` → `Authorization: Bearer`. Tokens are cached per (registry, user, scopes) until
//! they expire.

use crate::error::describe_transport;
use crate::DistributionError;
use base64::Engine as _;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest token reply read from an authorization server.
const MAX_TOKEN_REPLY: u64 = 1 << 20;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name; `<token>` marks `password` as an identity (refresh) token, as Docker's credential
    /// helpers do.
    pub username: String,
    /// Password, personal access token or identity token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Builds credentials.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The `Authorization: Basic …` value.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    fn is_identity_token(&self) -> bool {
        self.username == "<token>"
    }
}

/// A parsed authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=…`.
    Basic,
    /// `Bearer realm=…,service=…,scope=…`.
    Bearer {
        /// Token endpoint URL.
        realm: String,
        /// Service name to ask the token for.
        service: Option<String>,
        /// Scope the failed request needed.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Picks the challenge from `WWW-Authenticate` header values; Bearer wins over Basic.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Option<Challenge> {
        let all: Vec<Challenge> = headers
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(Challenge::parse)
            .collect();
        all.iter()
            .find(|c| matches!(c, Challenge::Bearer { .. }))
            .or(all.first())
            .cloned()
    }

    /// Parses one challenge (`Scheme k="v",k2=v2`); quoted values may hold commas.
    pub fn parse(s: &str) -> Option<Challenge> {
        let s = s.trim();
        let (scheme, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        let params = parse_params(rest);
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: get("realm")?,
                service: get("service"),
                scope: get("scope"),
            }),
            _ => None,
        }
    }
}

fn parse_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            val = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        out.push((key.trim().to_string(), val));
    }
    out
}

#[derive(serde::Deserialize)]
struct TokenReply {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// What a token is asked for.
pub(crate) struct TokenRequest<'a> {
    /// The reference domain, part of the cache key.
    pub registry: &'a str,
    /// Token endpoint.
    pub realm: &'a str,
    /// `service` parameter.
    pub service: Option<&'a str>,
    /// `scope` parameters.
    pub scopes: &'a [String],
    /// Basic credentials or identity token.
    pub creds: Option<&'a Credentials>,
}

/// Bearer tokens already obtained, keyed by (registry, user, realm, service, sorted scopes).
#[derive(Default)]
pub(crate) struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl TokenCache {
    /// A token for `scopes` from the challenge's realm, from the cache when still valid.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        want: &TokenRequest<'_>,
        fresh: bool,
    ) -> Result<String, DistributionError> {
        let TokenRequest {
            registry,
            realm,
            service,
            scopes,
            creds,
        } = *want;
        let mut sorted = scopes.to_vec();
        sorted.sort();
        sorted.dedup();
        let user = creds
            .map(|c| format!("{}:{}", c.username, hex::encode(sha2_short(&c.password))))
            .unwrap_or_default();
        let key = format!(
            "{registry}\n{user}\n{realm}\n{}\n{}",
            service.unwrap_or(""),
            sorted.join(" ")
        );
        if !fresh {
            let cached = self
                .tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .cloned();
            if let Some((t, until)) = cached {
                if until > Instant::now() {
                    return Ok(t);
                }
            }
        }
        let mut url = reqwest::Url::parse(realm).map_err(|e| DistributionError::BadDocument {
            what: "token realm",
            reason: format!("{realm:?}: {e}"),
        })?;
        let req = match creds {
            Some(c) if c.is_identity_token() => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &c.password),
                    ("client_id", "berth"),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                let scope = sorted.join(" ");
                if !scope.is_empty() {
                    form.push(("scope", &scope));
                }
                http.post(url.clone()).form(&form)
            }
            _ => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    for s in &sorted {
                        q.append_pair("scope", s);
                    }
                }
                let mut r = http.get(url.clone());
                if let Some(c) = creds {
                    r = r.header(reqwest::header::AUTHORIZATION, c.basic_header());
                }
                r
            }
        };
        let resp = req
            .send()
            .await
            .map_err(|e| DistributionError::Unreachable {
                url: url.to_string(),
                reason: describe_transport(&e),
            })?;
        if !resp.status().is_success() {
            return Err(crate::session::error_from_response(resp).await);
        }
        // A token reply is a small JSON object: a larger one is refused, not held.
        let body = crate::pull::read_limited(resp, &url, MAX_TOKEN_REPLY).await?;
        let reply: TokenReply =
            serde_json::from_slice(&body).map_err(|e| DistributionError::BadDocument {
                what: "token response",
                reason: e.to_string(),
            })?;
        let token = reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| DistributionError::BadDocument {
                what: "token response",
                reason: "no token or access_token".into(),
            })?;
        // The spec's default lifetime is 60 s; keep a margin so a token never expires in flight.
        let ttl = Duration::from_secs(reply.expires_in.unwrap_or(60).max(60));
        let until = Instant::now() + ttl.saturating_sub(Duration::from_secs(10));
        url.set_query(None);
        tracing::debug!(realm = %url, scopes = %sorted.join(" "), "registry token obtained");
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (token.clone(), until));
        Ok(token)
    }
}

/// Keeps passwords out of cache keys while still telling two passwords apart.
fn sha2_short(s: &str) -> [u8; 8] {
    use sha2::Digest as _;
    let full = sha2::Sha256::digest(s.as_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&full[..8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_quoted_commas() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="Berth Registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Credentials::new("alice", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.basic_header(), "Basic YWxpY2U6aHVudGVyMg==");
    }
}
