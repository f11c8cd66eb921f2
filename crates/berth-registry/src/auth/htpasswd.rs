//! htpasswd files of bcrypt hashes (`user:$2y$…`, as `htpasswd -B` writes them), with a cache of
//! verified passwords since clients send basic credentials on every request and bcrypt is slow on
//! purpose.

use crate::errors::RegistryError;
use base64::Engine;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Users and their bcrypt hashes.
pub(super) struct Htpasswd {
    users: Arc<HashMap<String, String>>,
    /// user → SHA-256 of the password last verified for them.
    verified: Mutex<HashMap<String, [u8; 32]>>,
}

impl Htpasswd {
    /// Reads `path`; lines without a bcrypt hash are skipped with a warning.
    pub(super) fn load(path: &Path) -> Result<Htpasswd, RegistryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| RegistryError::Htpasswd { path: path.to_path_buf(), source })?;
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((u, h)) if h.starts_with("$2") => {
                    users.insert(u.to_string(), h.to_string());
                }
                _ => tracing::warn!(line = n + 1, "htpasswd line skipped: only bcrypt entries are supported"),
            }
        }
        Ok(Htpasswd { users: Arc::new(users), verified: Mutex::new(HashMap::new()) })
    }

    /// The user name if `header` (`Basic base64(user:password)`) holds valid credentials.
    pub(super) async fn check_basic(&self, header: &str) -> Option<String> {
        let b64 = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic "))?.trim();
        let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (user, pass) = text.split_once(':')?;
        let hash = self.users.get(user)?.clone();
        let fingerprint: [u8; 32] = Sha256::digest(pass.as_bytes()).into();
        let cached = self.verified.lock().unwrap_or_else(|e| e.into_inner()).get(user) == Some(&fingerprint);
        if cached {
            return Some(user.to_string());
        }
        let pass = pass.to_string();
        let ok = berth_types::sched::spawn_blocking(move || bcrypt::verify(pass, &hash).unwrap_or(false)).await.ok()?;
        if !ok {
            return None;
        }
        self.verified.lock().unwrap_or_else(|e| e.into_inner()).insert(user.to_string(), fingerprint);
        Some(user.to_string())
    }
}
