//! Which URLs a registry is reached at, and the HTTP clients that reach them.
//!
//! Docker's rules (`registry/config.go`, `registry/endpoint_v2.go`):
//! - `docker.io` goes to each `--registry-mirror` first, then `registry-1.docker.io`.
//! - A registry is *insecure* when it is on loopback (127.0.0.0/8, `::1`, `localhost`) or listed in
//!   `--insecure-registry` (as `HOST[:PORT]`, or as a CIDR its IP address is in; hostnames are not
//!   resolved for the CIDR match). Insecure registries are tried over HTTPS without certificate checks
//!   first and then over plain HTTP; every other registry is HTTPS only.
//! - TLS trusts the built-in roots plus `<certs.d>/<HOST:PORT>/*.crt`, and presents the client
//!   certificate `*.cert` with its `*.key` when present.

use crate::DistributionError;
use reqwest::Url;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The host Docker Hub's registry API is served from.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";

/// One way to reach a registry: a base URL and the client configured for it.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// `scheme://host[:port]`, no trailing slash.
    pub base: Url,
    pub http: reqwest::Client,
}

/// Builds and caches one HTTP client per (host, TLS policy), so connections are pooled across pulls.
pub(crate) struct Transport {
    /// (insecure registries, mirrors): replaced as a whole when the daemon reloads its config.
    registries: std::sync::RwLock<(Vec<String>, Vec<String>)>,
    certs_dir: PathBuf,
    clients: Mutex<HashMap<(String, bool), reqwest::Client>>,
}

impl Transport {
    pub fn new(insecure: Vec<String>, mirrors: Vec<String>, certs_dir: PathBuf) -> Transport {
        Transport {
            registries: std::sync::RwLock::new((insecure, mirrors)),
            certs_dir,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Replaces the insecure registries and mirrors (a configuration reload); pulls already
    /// running keep the endpoints they chose.
    pub fn set_registries(&self, insecure: Vec<String>, mirrors: Vec<String>) {
        *self.registries.write().unwrap_or_else(|p| p.into_inner()) = (insecure, mirrors);
    }

    /// Whether plain HTTP and unverified TLS are allowed for `host` (`HOST[:PORT]`).
    pub fn is_insecure(&self, host: &str) -> bool {
        let bare = strip_port(host);
        let ip = bare.parse::<IpAddr>().ok();
        let listed = self.registries.read().unwrap_or_else(|p| p.into_inner()).0.iter().any(|h| {
            h == host || matches!((h.parse::<ipnet::IpNet>(), ip), (Ok(net), Some(ip)) if net.contains(&ip))
        });
        listed || bare == "localhost" || ip.is_some_and(|ip| ip.is_loopback())
    }

    /// The endpoints to try, in order, for registry `domain` (a reference's domain). `mirrors` are
    /// used only when `pull` is true.
    pub fn endpoints(&self, domain: &str, pull: bool) -> Result<Vec<Endpoint>, DistributionError> {
        let mut hosts: Vec<(String, Option<String>)> = Vec::new(); // (host, forced scheme)
        if domain == berth_types::reference::DEFAULT_DOMAIN {
            if pull {
                let mirrors = self.registries.read().unwrap_or_else(|p| p.into_inner()).1.clone();
                for m in &mirrors {
                    match m.split_once("://") {
                        Some((scheme, rest)) => hosts.push((
                            rest.trim_end_matches('/').to_string(),
                            Some(scheme.to_string()),
                        )),
                        None => hosts.push((m.trim_end_matches('/').to_string(), None)),
                    }
                }
            }
            hosts.push((DOCKER_HUB_REGISTRY.to_string(), Some("https".into())));
        } else {
            hosts.push((domain.to_string(), None));
        }
        let mut out = Vec::new();
        for (host, scheme) in hosts {
            let insecure = self.is_insecure(&host);
            let schemes: Vec<&str> = match scheme.as_deref() {
                Some(s) => vec![s],
                None if insecure => vec!["https", "http"],
                None => vec!["https"],
            };
            for s in schemes {
                let base = Url::parse(&format!("{s}://{host}")).map_err(|e| {
                    DistributionError::Unreachable {
                        url: format!("{s}://{host}/v2/"),
                        reason: e.to_string(),
                    }
                })?;
                let http = self.client(&host, insecure && s == "https")?;
                out.push(Endpoint { base, http });
            }
        }
        Ok(out)
    }

    fn client(&self, host: &str, skip_verify: bool) -> Result<reqwest::Client, DistributionError> {
        let key = (host.to_string(), skip_verify);
        if let Some(c) = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(c.clone());
        }
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .danger_accept_invalid_certs(skip_verify);
        b = add_certs(b, &self.certs_dir.join(host))?;
        let c = b.build().map_err(|e| DistributionError::Certificate {
            path: self.certs_dir.join(host),
            reason: e.to_string(),
        })?;
        self.clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, c.clone());
        Ok(c)
    }
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Adds `dir/*.crt` as roots and `dir/X.cert` + `dir/X.key` as the client identity (Docker's
/// `certs.d` layout, `registry/config.go: ReadCertsDirectory`). A missing directory adds nothing.
fn add_certs(
    mut b: reqwest::ClientBuilder,
    dir: &Path,
) -> Result<reqwest::ClientBuilder, DistributionError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(b),
        Err(source) => {
            return Err(DistributionError::Io {
                op: "read",
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| DistributionError::Io {
            op: "read",
            path: p.to_path_buf(),
            source,
        })
    };
    let bad = |p: &Path, reason: String| DistributionError::Certificate {
        path: p.to_path_buf(),
        reason,
    };
    for p in &names {
        match p.extension().and_then(|e| e.to_str()) {
            Some("crt") => {
                for cert in reqwest::Certificate::from_pem_bundle(&read(p)?)
                    .map_err(|e| bad(p, e.to_string()))?
                {
                    b = b.add_root_certificate(cert);
                }
            }
            Some("cert") => {
                let key = p.with_extension("key");
                if !key.is_file() {
                    return Err(bad(p, format!("missing key {}", key.display())));
                }
                let mut pem = read(p)?;
                pem.push(b'\n');
                pem.extend(read(&key)?);
                b = b.identity(
                    reqwest::Identity::from_pem(&pem).map_err(|e| bad(p, e.to_string()))?,
                );
            }
            Some("key") if !p.with_extension("cert").is_file() => {
                return Err(bad(
                    p,
                    format!(
                        "missing client certificate {}",
                        p.with_extension("cert").display()
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        let t = Transport::new(
            vec!["reg.lan:5000".into()],
            vec![],
            PathBuf::from("/nonexistent"),
        );
        for h in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "reg.lan:5000",
        ] {
            assert!(t.is_insecure(h), "{h}");
        }
        for h in ["reg.lan", "reg.lan:5001", "example.com", "10.0.0.1:5000"] {
            assert!(!t.is_insecure(h), "{h}");
        }
    }

    #[test]
    fn cidr_entries_and_reloads_change_what_is_insecure() {
        let t = Transport::new(vec!["10.9.0.0/16".into()], vec![], PathBuf::from("/x"));
        assert!(t.is_insecure("10.9.3.4:5000"));
        assert!(!t.is_insecure("10.10.0.1:5000"));
        assert!(!t.is_insecure("reg.lan:5000"));
        t.set_registries(vec!["reg.lan:5000".into()], vec!["https://m.example".into()]);
        assert!(!t.is_insecure("10.9.3.4:5000"));
        assert!(t.is_insecure("reg.lan:5000"));
        let e = t.endpoints("docker.io", true).unwrap();
        assert_eq!(e[0].base.as_str(), "https://m.example/");
    }

    #[test]
    fn docker_hub_goes_to_mirrors_then_registry_1() {
        let t = Transport::new(
            vec![],
            vec!["https://mirror.example".into(), "127.0.0.1:5000".into()],
            PathBuf::from("/x"),
        );
        let urls: Vec<String> = t
            .endpoints("docker.io", true)
            .unwrap()
            .iter()
            .map(|e| e.base.to_string())
            .collect();
        assert_eq!(
            urls,
            [
                "https://mirror.example/",
                "https://127.0.0.1:5000/",
                "http://127.0.0.1:5000/",
                "https://registry-1.docker.io/"
            ]
        );
        let urls: Vec<String> = t
            .endpoints("docker.io", false)
            .unwrap()
            .iter()
            .map(|e| e.base.to_string())
            .collect();
        assert_eq!(urls, ["https://registry-1.docker.io/"]);
        let urls: Vec<String> = t
            .endpoints("example.com", true)
            .unwrap()
            .iter()
            .map(|e| e.base.to_string())
            .collect();
        assert_eq!(urls, ["https://example.com/"]);
    }
}
