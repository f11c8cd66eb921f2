//! Pulls for the CRI side: credentials from `AuthConfig`, and registry mirrors per registry host
//! (`CriConfig::registry_mirrors`, containerd's `registry.mirrors` idea): a pull of
//! `registry.k8s.io/pause:3.9` tries `<mirror>/pause:3.9` on each mirror in order, tags what it
//! got under the name the CRI asked for, and falls back to the registry itself.

use crate::error::status;
use crate::proto::AuthConfig;
use crate::Cri;
use berth_daemon::service::ServiceError;
use berth_distribution::auth::Credentials;
use berth_types::Reference;

/// Credentials from a CRI `AuthConfig` (user/password, `auth` = base64 "user:password", or an
/// identity token, which Berth's registry client takes as Docker's credential helpers pass it).
pub fn credentials(auth: Option<&AuthConfig>) -> Result<Option<Credentials>, tonic::Status> {
    let Some(a) = auth else { return Ok(None) };
    if !a.identity_token.is_empty() {
        return Ok(Some(Credentials { username: "<token>".into(), password: a.identity_token.clone() }));
    }
    if !a.registry_token.is_empty() {
        return Ok(Some(Credentials { username: "<token>".into(), password: a.registry_token.clone() }));
    }
    if !a.username.is_empty() || !a.password.is_empty() {
        return Ok(Some(Credentials { username: a.username.clone(), password: a.password.clone() }));
    }
    if !a.auth.is_empty() {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD.decode(a.auth.trim()).map_err(|_| crate::error::invalid("auth: not base64"))?;
        let s = String::from_utf8(raw).map_err(|_| crate::error::invalid("auth: not UTF-8"))?;
        let (u, p) = s.split_once(':').ok_or_else(|| crate::error::invalid("auth: not user:password"))?;
        return Ok(Some(Credentials { username: u.into(), password: p.into() }));
    }
    Ok(None)
}

/// `reference` as served by `mirror` (`host[:port]`, optionally with an `http://`/`https://`
/// scheme, which Berth's registry client decides by itself: loopback and insecure registries
/// speak HTTP).
pub fn mirrored(reference: &Reference, mirror: &str) -> Result<Reference, ServiceError> {
    let host = mirror.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
    let mut s = format!("{host}/{}", reference.path());
    if let Some(t) = reference.tag() {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = reference.digest() {
        s.push('@');
        s.push_str(&d.to_string());
    }
    Ok(Reference::parse(&s)?)
}

impl Cri {
    /// Pulls `name` (through the mirrors of its registry first) and returns the image id.
    pub(crate) async fn pull(&self, name: &str, creds: Option<Credentials>) -> Result<String, tonic::Status> {
        let reference = Reference::parse(name).map_err(|e| crate::error::invalid(e.to_string()))?.with_default_tag();
        let mirrors = self.config.registry_mirrors.get(reference.domain()).cloned().unwrap_or_default();
        let mut last: Option<ServiceError> = None;
        for m in &mirrors {
            let via = match mirrored(&reference, m) {
                Ok(v) => v,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
            let had_mirror_name = self.services.images.get(&via.to_string()).is_ok();
            match self.services.distribution.pull(&via, None, creds.clone(), tx).await {
                Ok(()) => {
                    let images = &self.services.images;
                    let img = images.get(&via.to_string()).map_err(status)?;
                    if reference.digest().is_none() {
                        images.tag(&via.to_string(), &reference.name(), reference.tag().unwrap_or("latest")).map_err(status)?;
                        // The image is known by the name the CRI asked for, as containerd's
                        // mirrors do; the mirror's name goes unless it was there before.
                        if !had_mirror_name {
                            let users = self.services.containers.image_users();
                            images.delete(&via.to_string(), false, false, &users).map_err(status)?;
                        }
                    }
                    return Ok(img.id.to_string());
                }
                Err(e) => {
                    tracing::info!(mirror = %m, reference = %reference, error = %e, "pull through mirror failed");
                    last = Some(e);
                }
            }
        }
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        match self.services.distribution.pull(&reference, None, creds, tx).await {
            Ok(()) => Ok(self.services.images.get(&reference.to_string()).map_err(status)?.id.to_string()),
            // The registry's own answer is the one to report, unless it was not even reachable
            // and a mirror said something more useful.
            Err(e) => Err(status(match last {
                Some(m) if !mirrors.is_empty() => ServiceError::Upstream(format!("{m}; without mirror: {e}")),
                _ => e,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrored_keeps_path_tag_and_digest() {
        let r = Reference::parse("registry.k8s.io/e2e-test-images/busybox:1.29-2").unwrap();
        assert_eq!(mirrored(&r, "http://127.0.0.1:5000/").unwrap().to_string(), "127.0.0.1:5000/e2e-test-images/busybox:1.29-2");
        let d = Reference::parse("gcr.io/k8s-staging-cri-tools/test-image-digest@sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf").unwrap();
        assert_eq!(
            mirrored(&d, "127.0.0.1:5000").unwrap().to_string(),
            "127.0.0.1:5000/k8s-staging-cri-tools/test-image-digest@sha256:9700f9a2f5bf2c45f2f605a0bd3bce7cf37420ec9d3ed50ac2758413308766bf"
        );
    }

    #[test]
    fn credentials_from_auth_field() {
        let a = AuthConfig { auth: "dTpw".into(), ..Default::default() };
        let c = credentials(Some(&a)).unwrap().unwrap();
        assert_eq!((c.username.as_str(), c.password.as_str()), ("u", "p"));
        assert!(credentials(Some(&AuthConfig { auth: "!!".into(), ..Default::default() })).is_err());
        assert!(credentials(None).unwrap().is_none());
    }
}
