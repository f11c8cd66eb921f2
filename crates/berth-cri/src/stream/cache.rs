//! One-time tokens for streaming requests, as the kubelet's streaming library keeps them
//! (`requestcache.go`): `Exec`/`Attach`/`PortForward` store the request under a random token and
//! return a URL naming it; the first connection to that URL consumes it. Unused tokens expire
//! after a minute, and at most 1000 wait at once.

use base64::Engine;
use rand::RngCore;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a token stays usable (kubelet's `CacheTTL`).
pub const TTL: Duration = Duration::from_secs(60);
/// How many unused tokens may wait (kubelet's `MaxInFlight`).
pub const MAX_IN_FLIGHT: usize = 1000;

/// A request waiting for its connection.
#[derive(Debug, Clone)]
pub enum Pending {
    /// `Exec`.
    Exec(crate::proto::ExecRequest),
    /// `Attach`.
    Attach(crate::proto::AttachRequest),
    /// `PortForward`.
    PortForward(crate::proto::PortForwardRequest),
}

/// The token store.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<String, (Instant, Pending)>>,
}

/// The store is full of unexpired tokens.
#[derive(Debug, thiserror::Error)]
#[error("maximum number of in-flight streaming requests ({MAX_IN_FLIGHT}) exceeded")]
pub struct Full;

impl Cache {
    /// Stores `req`; returns its token (128 random bits, URL-safe base64).
    pub fn insert(&self, req: Pending) -> Result<String, Full> {
        let now = Instant::now();
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, (at, _)| now.duration_since(*at) < TTL);
        if m.len() >= MAX_IN_FLIGHT {
            return Err(Full);
        }
        let mut raw = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        m.insert(token.clone(), (now, req));
        Ok(token)
    }

    /// Takes the request of `token` if it exists and has not expired; it cannot be taken again.
    pub fn consume(&self, token: &str) -> Option<Pending> {
        let (at, req) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(token)?;
        (at.elapsed() < TTL).then_some(req)
    }

    /// Stores `req` as if it had been stored `age` ago (tests of expiry).
    #[cfg(test)]
    fn insert_aged(&self, req: Pending, age: Duration) -> String {
        let t = self.insert(req).unwrap();
        self.entries.lock().unwrap().get_mut(&t).unwrap().0 -= age;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pf() -> Pending {
        Pending::PortForward(crate::proto::PortForwardRequest { pod_sandbox_id: "p".into(), port: vec![] })
    }

    #[test]
    fn tokens_are_used_once_and_expire() {
        let c = Cache::default();
        let t = c.insert(pf()).unwrap();
        assert_eq!(t.len(), 22);
        assert!(matches!(c.consume(&t), Some(Pending::PortForward(_))));
        assert!(c.consume(&t).is_none(), "a token works once");
        let old = c.insert_aged(pf(), TTL + Duration::from_secs(1));
        assert!(c.consume(&old).is_none(), "an expired token is refused");
        assert!(c.consume("made-up").is_none());
    }

    #[test]
    fn at_most_max_in_flight_wait() {
        let c = Cache::default();
        let tokens: Vec<String> = (0..MAX_IN_FLIGHT).map(|_| c.insert(pf()).unwrap()).collect();
        assert!(c.insert(pf()).is_err());
        c.consume(&tokens[0]).unwrap();
        c.insert(pf()).unwrap();
    }
}
