//! Bearer tokens: JWT-shaped (`header.claims.signature`, HS256) with a random key kept in the
//! registry's root (`token.key`, mode 0600), so tokens stay valid across a restart until they expire;
//! an in-memory registry uses a per-process key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// One granted scope, as in distribution's token claims (`{"type","name","actions"}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Grant {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) name: String,
    pub(super) actions: Vec<String>,
}

/// Token claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Claims {
    iss: String,
    /// The user; empty for anonymous tokens.
    pub(super) sub: String,
    aud: String,
    exp: u64,
    iat: u64,
    pub(super) access: Vec<Grant>,
}

/// What `GET /token` returns (Docker token spec: `token` and its OAuth2 alias `access_token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub token: String,
    /// The same token, for OAuth2 clients.
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Issue time, RFC 3339.
    pub issued_at: String,
}

/// The signing key.
pub(super) struct TokenKey {
    key: [u8; 32],
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl TokenKey {
    /// The key stored at `path`, or a new one written there (atomically, mode 0600) when absent.
    pub(super) fn load_or_create(path: &std::path::Path) -> std::io::Result<TokenKey> {
        match std::fs::read(path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(TokenKey { key })
            }
            Ok(_) => Err(std::io::Error::other(format!("{} is not a 32-byte key", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let k = TokenKey::random();
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                berth_types::persist::atomic_write(path, &k.key)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                Ok(k)
            }
            Err(e) => Err(e),
        }
    }

    pub(super) fn random() -> TokenKey {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        TokenKey { key }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; 32 bytes never fails.
        <HmacSha256 as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("hmac accepts any key length"))
    }

    pub(super) fn issue(&self, user: &str, service: &str, ttl: Duration, access: Vec<Grant>) -> TokenResponse {
        let iat = now();
        let claims = Claims {
            iss: "berth-registry".into(),
            sub: user.into(),
            aud: service.into(),
            exp: iat + ttl.as_secs(),
            iat,
            access,
        };
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = B64.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{body}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        let token = format!("{signing_input}.{sig}");
        let issued_at = chrono::DateTime::<chrono::Utc>::from(UNIX_EPOCH + Duration::from_secs(iat)).to_rfc3339();
        TokenResponse { access_token: token.clone(), token, expires_in: ttl.as_secs(), issued_at }
    }

    /// The claims of `token` if its signature is ours, it is unexpired and issued for `service`.
    pub(super) fn verify(&self, token: &str, service: &str) -> Option<Claims> {
        let (signing_input, sig) = token.rsplit_once('.')?;
        let (_, body) = signing_input.split_once('.')?;
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&B64.decode(sig).ok()?).ok()?;
        let claims: Claims = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        (claims.exp > now() && claims.aud == service).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key_service_and_lifetime() {
        let k = TokenKey::random();
        let g = vec![Grant { kind: "repository".into(), name: "a".into(), actions: vec!["pull".into()] }];
        let t = k.issue("u", "svc", Duration::from_secs(60), g.clone()).token;
        assert_eq!(k.verify(&t, "svc").unwrap().access, g);
        assert!(k.verify(&t, "other").is_none());
        assert!(TokenKey::random().verify(&t, "svc").is_none());
        let expired = k.issue("u", "svc", Duration::ZERO, g).token;
        assert!(k.verify(&expired, "svc").is_none());
        let mut tampered = t.clone();
        tampered.insert(t.len() / 2, 'x');
        assert!(k.verify(&tampered, "svc").is_none());
    }
}
