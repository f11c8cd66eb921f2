//! Authentication and authorization: anonymous pull per repository pattern, htpasswd (bcrypt) basic
//! auth, and bearer tokens from the built-in token endpoint (the flow `docker login` and the Docker
//! daemon follow: 401 with `WWW-Authenticate: Bearer realm,service,scope` → `GET /token` with basic
//! credentials → retry with `Authorization: Bearer`).

mod htpasswd;
mod token;

pub use token::TokenResponse;

use crate::errors::{ApiError, ErrorCode, RegistryError};
use htpasswd::Htpasswd;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use token::{Claims, TokenKey};

/// How clients authenticate (`--auth none|htpasswd:FILE|token:FILE[,realm=URL][,service=NAME][,ttl=SECS]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuthConfig {
    /// Everyone may do everything.
    #[default]
    None,
    /// HTTP basic auth against an htpasswd file of bcrypt hashes; authenticated users may do everything.
    Htpasswd(PathBuf),
    /// Bearer tokens issued by the built-in `/token` endpoint to users of an htpasswd file.
    Token(TokenConfig),
}

/// Settings of bearer-token auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    /// The htpasswd file the token endpoint checks credentials against.
    pub htpasswd: PathBuf,
    /// The realm URL advertised in challenges; default `<scheme>://<Host>/token`.
    pub realm: Option<String>,
    /// The service name tokens are issued for.
    pub service: String,
    /// Token lifetime.
    pub ttl: Duration,
}

impl TokenConfig {
    /// Token auth against `htpasswd` with the defaults: realm from the request's host, service
    /// `berth-registry`, tokens valid for 5 minutes.
    pub fn new(htpasswd: impl Into<PathBuf>) -> TokenConfig {
        TokenConfig { htpasswd: htpasswd.into(), realm: None, service: "berth-registry".into(), ttl: Duration::from_secs(300) }
    }
}

impl FromStr for AuthConfig {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RegistryError::AuthSpec(s.to_string());
        if s == "none" {
            return Ok(AuthConfig::None);
        }
        if let Some(file) = s.strip_prefix("htpasswd:") {
            return if file.is_empty() { Err(bad()) } else { Ok(AuthConfig::Htpasswd(file.into())) };
        }
        let rest = s.strip_prefix("token:").ok_or_else(bad)?;
        let mut parts = rest.split(',');
        let file = parts.next().filter(|f| !f.is_empty()).ok_or_else(bad)?;
        let mut cfg = TokenConfig::new(file);
        for p in parts {
            match p.split_once('=') {
                Some(("realm", v)) => cfg.realm = Some(v.to_string()),
                Some(("service", v)) => cfg.service = v.to_string(),
                Some(("ttl", v)) => cfg.ttl = Duration::from_secs(v.parse().map_err(|_| bad())?),
                _ => return Err(bad()),
            }
        }
        Ok(AuthConfig::Token(cfg))
    }
}

/// An action on a repository, as token scopes name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read manifests and blobs.
    Pull,
    /// Upload blobs and manifests.
    Push,
    /// Delete blobs, manifests and tags.
    Delete,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
        }
    }
}

/// What a request needs to be allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `GET /v2/`: any valid credentials.
    Base,
    /// `GET /v2/_catalog`: `registry:catalog:*`.
    Catalog,
    /// An action on one repository.
    Repo {
        /// The repository.
        name: String,
        /// The action.
        action: Action,
    },
}

impl Access {
    fn scope(&self) -> Option<String> {
        match self {
            Access::Base => None,
            Access::Catalog => Some("registry:catalog:*".into()),
            Access::Repo { name, action: Action::Push } => Some(format!("repository:{name}:pull,push")),
            Access::Repo { name, action } => Some(format!("repository:{name}:{}", action.as_str())),
        }
    }
}

enum Mode {
    Open,
    Basic(Htpasswd),
    Token { users: Htpasswd, key: TokenKey, cfg: TokenConfig },
}

/// Decides whether a request may proceed, and issues tokens.
pub struct Authorizer {
    mode: Mode,
    anonymous_pull: Vec<String>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer").field("anonymous_pull", &self.anonymous_pull).finish_non_exhaustive()
    }
}

/// Whether `name` matches glob `pattern` (`*` matches any run of characters, `/` included).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else { return false };
            (0..=rest.len()).filter(|&i| rest.is_char_boundary(i)).any(|i| pattern_matches(tail, &rest[i..]))
        }
    }
}

impl Authorizer {
    /// Loads the credentials `cfg` names; repositories matching `anonymous_pull` may be pulled without
    /// credentials.
    /// `key_file`: where the token signing key is kept (None: a per-process key).
    pub fn load(cfg: &AuthConfig, anonymous_pull: Vec<String>, key_file: Option<&std::path::Path>) -> Result<Authorizer, RegistryError> {
        let mode = match cfg {
            AuthConfig::None => Mode::Open,
            AuthConfig::Htpasswd(p) => Mode::Basic(Htpasswd::load(p)?),
            AuthConfig::Token(t) => {
                let key = match key_file {
                    Some(f) => TokenKey::load_or_create(f).map_err(|source| RegistryError::TokenKey { path: f.to_path_buf(), source })?,
                    None => TokenKey::random(),
                };
                Mode::Token { users: Htpasswd::load(&t.htpasswd)?, key, cfg: t.clone() }
            }
        };
        Ok(Authorizer { mode, anonymous_pull })
    }

    fn anonymous_may(&self, access: &Access) -> bool {
        match access {
            Access::Repo { name, action: Action::Pull } => self.anonymous_pull.iter().any(|p| pattern_matches(p, name)),
            _ => false,
        }
    }

    fn challenge(&self, access: &Access, base_url: &str, error: Option<&str>) -> String {
        match &self.mode {
            Mode::Token { cfg, .. } => {
                let realm = cfg.realm.clone().unwrap_or_else(|| format!("{base_url}/token"));
                let mut c = format!("Bearer realm=\"{realm}\",service=\"{}\"", cfg.service);
                if let Some(s) = access.scope() {
                    c.push_str(&format!(",scope=\"{s}\""));
                }
                if let Some(e) = error {
                    c.push_str(&format!(",error=\"{e}\""));
                }
                c
            }
            _ => "Basic realm=\"Berth Registry\"".to_string(),
        }
    }

    fn unauthorized(&self, access: &Access, base_url: &str, msg: &str, error: Option<&str>) -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, msg).with_header("WWW-Authenticate", self.challenge(access, base_url, error))
    }

    /// Allows or refuses `access` for a request carrying `authorization`. `base_url` is
    /// `<scheme>://<Host>`, for the default token realm. 401 `UNAUTHORIZED` with a challenge when
    /// credentials are missing or wrong; 403 `DENIED` when a user's valid token lacks the scope.
    pub async fn check(&self, authorization: Option<&str>, access: &Access, base_url: &str) -> Result<(), ApiError> {
        match &self.mode {
            Mode::Open => Ok(()),
            Mode::Basic(users) => match authorization {
                None if self.anonymous_may(access) => Ok(()),
                None => Err(self.unauthorized(access, base_url, "authentication required", None)),
                Some(h) => match users.check_basic(h).await {
                    Some(_) => Ok(()),
                    None => Err(self.unauthorized(access, base_url, "invalid username or password", None)),
                },
            },
            Mode::Token { key, cfg, .. } => {
                let Some(h) = authorization else {
                    return if self.anonymous_may(access) {
                        Ok(())
                    } else {
                        Err(self.unauthorized(access, base_url, "authentication required", None))
                    };
                };
                let Some(tok) = h.strip_prefix("Bearer ").map(str::trim) else {
                    return Err(self.unauthorized(access, base_url, "bearer token required", None));
                };
                let Some(claims) = key.verify(tok, &cfg.service) else {
                    return Err(self.unauthorized(access, base_url, "invalid or expired token", Some("invalid_token")));
                };
                if claims_allow(&claims, access) || self.anonymous_may(access) {
                    Ok(())
                } else if claims.sub.is_empty() {
                    Err(self.unauthorized(access, base_url, "authentication required", Some("insufficient_scope")))
                } else {
                    Err(ApiError::new(ErrorCode::Denied, "requested access to the resource is denied")
                        .with_detail(serde_json::json!({ "scope": access.scope() })))
                }
            }
        }
    }

    /// Serves the token endpoint: checks optional basic credentials and grants the requested scopes
    /// the caller may have (everything for users; pull of anonymous repositories for anyone).
    pub async fn issue_token(&self, authorization: Option<&str>, scopes: &[String]) -> Result<TokenResponse, ApiError> {
        let Mode::Token { users, key, cfg } = &self.mode else {
            return Err(ApiError::new(ErrorCode::Unsupported, "token auth is not enabled"));
        };
        let user = match authorization {
            None => String::new(),
            Some(h) => users.check_basic(h).await.ok_or_else(|| {
                ApiError::new(ErrorCode::Unauthorized, "invalid username or password")
                    .with_header("WWW-Authenticate", "Basic realm=\"Berth Registry\"".to_string())
            })?,
        };
        let mut access = Vec::new();
        for scope in scopes.iter().flat_map(|s| s.split(' ')).filter(|s| !s.is_empty()) {
            let mut it = scope.splitn(2, ':');
            let (Some(kind), Some(rest)) = (it.next(), it.next()) else { continue };
            let Some((name, actions)) = rest.rsplit_once(':') else { continue };
            let granted: Vec<String> = actions
                .split(',')
                .filter(|a| match (kind, *a) {
                    ("repository", "pull") if user.is_empty() => {
                        self.anonymous_may(&Access::Repo { name: name.to_string(), action: Action::Pull })
                    }
                    ("repository", "pull" | "push" | "delete" | "*") => !user.is_empty(),
                    ("registry", "*") => !user.is_empty() && name == "catalog",
                    _ => false,
                })
                .map(str::to_string)
                .collect();
            if !granted.is_empty() {
                access.push(token::Grant { kind: kind.to_string(), name: name.to_string(), actions: granted });
            }
        }
        Ok(key.issue(&user, &cfg.service, cfg.ttl, access))
    }
}

fn claims_allow(c: &Claims, access: &Access) -> bool {
    let (kind, name, action) = match access {
        Access::Base => return true,
        Access::Catalog => ("registry", "catalog", "*"),
        Access::Repo { name, action } => ("repository", name.as_str(), action.as_str()),
    };
    c.access
        .iter()
        .any(|g| g.kind == kind && g.name == name && g.actions.iter().any(|a| a == action || a == "*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_spec_parses_every_form() {
        assert_eq!("none".parse::<AuthConfig>().unwrap(), AuthConfig::None);
        assert_eq!("htpasswd:/x".parse::<AuthConfig>().unwrap(), AuthConfig::Htpasswd("/x".into()));
        let AuthConfig::Token(t) = "token:/h,realm=https://r/t,service=svc,ttl=60".parse().unwrap() else { panic!() };
        assert_eq!((t.realm.as_deref(), t.service.as_str(), t.ttl.as_secs()), (Some("https://r/t"), "svc", 60));
        for bad in ["", "basic", "htpasswd:", "token:", "token:/h,color=red", "token:/h,ttl=x"] {
            assert!(bad.parse::<AuthConfig>().is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_glob_across_components() {
        assert!(pattern_matches("*", "a/b"));
        assert!(pattern_matches("public/*", "public/x/y"));
        assert!(!pattern_matches("public/*", "private/x"));
        assert!(pattern_matches("lib", "lib"));
        assert!(pattern_matches("*/pub-*", "org/pub-x"));
    }
}
