//! Image references parsed the way Docker's `distribution/reference` normalises them:
//! `busybox` → `docker.io/library/busybox:latest`, `host:5000/team/app:1`, `name@sha256:…`.

use crate::digest::Digest;
use std::fmt;

/// The registry host implied by a reference without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag implied by a reference without tag or digest.
pub const DEFAULT_TAG: &str = "latest";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const NAME_MAX: usize = 255;

/// A fully normalised image reference: domain, path, and optionally tag and/or digest.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a valid reference; messages follow Docker's.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// Generic syntax error.
    #[error("invalid reference format")]
    Format,
    /// The repository part has upper-case letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// The name is too long.
    #[error("invalid reference format: repository name must not be more than 255 characters")]
    NameTooLong,
    /// The digest part is not valid.
    #[error("invalid reference format: {0}")]
    Digest(#[from] crate::digest::DigestError),
    /// A 64-hex string was given where a name was expected.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
}

fn is_path_component(s: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let b = s.as_bytes();
    if b.is_empty() || !is_alnum(b[0]) || !is_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_domain(s: &str) -> bool {
    // host components plus optional :port; IPv6 in brackets allowed.
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => {
                if h.is_empty() || !h.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
                    return false;
                }
                match p.strip_prefix(':') {
                    Some(port) => (None, Some(port)),
                    None if p.is_empty() => (None, None),
                    None => return false,
                }
            }
            None => return false,
        }
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(s), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    match host {
        None => true,
        Some(h) => {
            !h.is_empty()
                && h.split('.').all(|c| {
                    let b = c.as_bytes();
                    !b.is_empty()
                        && b[0].is_ascii_alphanumeric()
                        && b[b.len() - 1].is_ascii_alphanumeric()
                        && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
                })
        }
    }
}

fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
}

impl Reference {
    /// Parses and normalises a reference as Docker's `ParseNormalizedNamed` does.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Format);
        }
        if s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d.parse::<Digest>()?)),
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if let Some(t) = &tag {
            if !is_tag(t) {
                return Err(ReferenceError::Format);
            }
        }
        if name.is_empty() {
            return Err(ReferenceError::Format);
        }
        let (domain, path) = split_domain(name);
        if domain != DEFAULT_DOMAIN && !is_domain(&domain) {
            return Err(ReferenceError::Format);
        }
        if path.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase(path));
        }
        if !path.split('/').all(is_path_component) {
            return Err(ReferenceError::Format);
        }
        if domain.len() + 1 + path.len() > NAME_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        Ok(Reference { domain, path, tag, digest })
    }

    /// Parses and, when neither tag nor digest is given, adds `:latest` (Docker's `TagNameOnly`).
    pub fn parse_tagged(s: &str) -> Result<Reference, ReferenceError> {
        Ok(Reference::parse(s)?.with_default_tag())
    }

    /// Builds a reference from a repository and a tag, as the API's `repo` + `tag` query pairs do.
    pub fn from_repo_tag(repo: &str, tag: &str) -> Result<Reference, ReferenceError> {
        let r = Reference::parse(repo)?;
        if tag.is_empty() {
            return Ok(r.with_default_tag());
        }
        if r.tag.is_some() || r.digest.is_some() || !is_tag(tag) {
            return Err(ReferenceError::Format);
        }
        Ok(r.with_tag(tag))
    }

    /// This reference with `:latest` when it has neither tag nor digest.
    pub fn with_default_tag(mut self) -> Reference {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// This repository with the given tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { domain: self.domain.clone(), path: self.path.clone(), tag: Some(tag.to_string()), digest: None }
    }

    /// This repository with the given digest (and no tag).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { domain: self.domain.clone(), path: self.path.clone(), tag: None, digest: Some(digest) }
    }

    /// The registry host, e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The full repository name, `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as Docker shows it: `busybox`, `user/app`, `127.0.0.1:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            self.path.strip_prefix(OFFICIAL_PREFIX).filter(|p| !p.contains('/')).unwrap_or(&self.path).to_string()
        } else {
            self.name()
        }
    }

    /// The reference as Docker shows it: `busybox:latest`, `app@sha256:…`.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(&d.to_string());
        }
        s
    }
}

fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DOMAIN { DEFAULT_DOMAIN.to_string() } else { domain };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') { format!("{OFFICIAL_PREFIX}{path}") } else { path };
    (domain, path)
}

impl fmt::Display for Reference {
    /// The fully qualified form, `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn official_images_normalise_to_library() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("docker.io/busybox"), "docker.io/library/busybox");
        assert_eq!(norm("index.docker.io/library/busybox"), "docker.io/library/busybox");
        assert_eq!(norm("user/app"), "docker.io/user/app");
        assert_eq!(Reference::parse_tagged("busybox").unwrap().familiar(), "busybox:latest");
        assert_eq!(Reference::parse("docker.io/library/busybox:1").unwrap().familiar(), "busybox:1");
        assert_eq!(Reference::parse("docker.io/user/app").unwrap().familiar_name(), "user/app");
        assert_eq!(Reference::parse("docker.io/library/a/b").unwrap().familiar_name(), "library/a/b");
    }

    #[test]
    fn registries_with_ports_and_paths() {
        let r = Reference::parse("127.0.0.1:5000/team/app:1").unwrap();
        assert_eq!(r.domain(), "127.0.0.1:5000");
        assert_eq!(r.path(), "team/app");
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.familiar(), "127.0.0.1:5000/team/app:1");
        let r = Reference::parse("localhost/app").unwrap();
        assert_eq!(r.domain(), "localhost");
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.tag(), None);
        let r = Reference::parse("[::1]:5000/app:v").unwrap();
        assert_eq!(r.domain(), "[::1]:5000");
    }

    #[test]
    fn digests_and_tags_together() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = Reference::parse(&format!("app@{d}")).unwrap();
        assert_eq!(r.digest().unwrap().to_string(), d);
        assert_eq!(r.tag(), None);
        assert_eq!(Reference::parse_tagged(&format!("app@{d}")).unwrap().tag(), None);
        let r = Reference::parse(&format!("app:v1@{d}")).unwrap();
        assert_eq!(r.tag(), Some("v1"));
    }

    #[test]
    fn invalid_references_are_rejected() {
        for bad in ["", "Busybox", "app:", ":tag", "a//b", "-app", "app:-x", "app@sha256:12", "a b", "app:tag:x"] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert_eq!(
            Reference::parse("Foo").unwrap_err().to_string(),
            "invalid reference format: repository name (library/Foo) must be lowercase"
        );
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(matches!(Reference::parse(hex), Err(ReferenceError::HexName(_))));
        assert!(Reference::parse(&"a".repeat(300)).is_err());
    }

    #[test]
    fn repo_and_tag_pairs() {
        assert_eq!(Reference::from_repo_tag("busybox", "").unwrap().familiar(), "busybox:latest");
        assert_eq!(Reference::from_repo_tag("busybox", "v2").unwrap().familiar(), "busybox:v2");
        assert_eq!(Reference::from_repo_tag("busybox:v3", "").unwrap().familiar(), "busybox:v3");
        assert!(Reference::from_repo_tag("busybox:v3", "v4").is_err());
        assert!(Reference::from_repo_tag("busybox", "bad tag").is_err());
    }
}
