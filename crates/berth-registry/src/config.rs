//! The registry's config file (`berth registry --config FILE`): YAML shaped like a subset of
//! distribution's `config.yml`, so an operator's existing file for the keys Berth shares works as is,
//! plus a few keys of Berth's own. Unknown keys are errors, not silently ignored, so a typo or a
//! distribution feature Berth lacks is reported rather than quietly not applied.
//!
//! ```yaml
//! version: 0.1                     # accepted and ignored, as distribution requires it
//! log:
//!   level: info                    # error | warn | info | debug | trace
//! http:
//!   addr: 127.0.0.1:5000
//!   draintimeout: 30s              # in-flight requests get this long after SIGTERM
//!   tls:
//!     certificate: /etc/berth/registry.crt
//!     key: /etc/berth/registry.key
//!   timeouts:                      # Berth: stalled clients
//!     header: 30s                  # request headers, and idle keep-alive connections
//!     idle: 60s                    # a request body sending nothing
//!     write: 60s                   # a response the client stopped reading
//!   debug:                         # Prometheus metrics, as distribution's debug server serves them
//!     addr: 127.0.0.1:5001
//!     prometheus:
//!       enabled: true              # required: Berth's debug server serves nothing else
//!       path: /metrics
//! storage:
//!   filesystem:                    # or `inmemory: {}`, or `s3:` (below)
//!     rootdirectory: /var/lib/berth-registry
//!   # s3:                          # an S3-compatible store; several replicas may share one bucket
//!   #   region: us-east-1          # (Ceph RGW: its zonegroup, e.g. default)
//!   #   regionendpoint: http://127.0.0.1:7480   # omit for AWS
//!   #   bucket: registry           # must exist
//!   #   accesskey: AKIA…           # else $AWS_ACCESS_KEY_ID
//!   #   secretkey: …               # else $AWS_SECRET_ACCESS_KEY
//!   #   rootdirectory: /registry   # key prefix
//!   #   chunksize: 10485760        # multipart part size, ≥ 5 MiB
//!   #   forcepathstyle: true       # bucket in the path (IP endpoints, most non-AWS stores)
//!   #   secure: true               # HTTPS to AWS (a regionendpoint has its own scheme)
//!   #   v4auth: true               # only SigV4 is spoken; false is an error
//!   redirect:
//!     disable: false               # S3: blob GETs redirect to pre-signed URLs unless disabled
//!   maintenance:
//!     readonly:
//!       enabled: false
//!     uploadpurging:
//!       age: 24h                   # uploads idle this long are removed by the GC sweep
//! auth:                            # at most one of htpasswd and token
//!   htpasswd:
//!     realm: Registry              # accepted; the challenge always names "Berth Registry"
//!     path: /etc/berth/htpasswd
//!   token:                         # Berth: the built-in token endpoint, users from htpasswd
//!     path: /etc/berth/htpasswd
//!     realm: https://registry.example/token
//!     service: berth-registry
//!     ttl: 5m
//!   anonymouspull: ["public/*"]    # Berth: repositories anyone may pull
//! gc:                              # Berth: the online sweep
//!   interval: 1h                   # 0 disables it
//!   grace: 1h
//! proxy:                           # pull-through cache of another registry; pushes are refused
//!   remoteurl: https://registry-1.docker.io
//!   username: user                 # optional: Basic, or credentials for the upstream's token endpoint
//!   password: secret
//!   ttl: 168h                      # cached content older than this expires; 0 keeps it
//!   tagttl: 0s                     # Berth: serve a tag confirmed this recently without asking upstream
//! notifications:                   # webhooks on push/pull/mount/delete (see `notify`)
//!   endpoints:
//!     - name: listener
//!       url: https://hooks.example/registry
//!       headers: { Authorization: ["Bearer secret"] }
//!       timeout: 1s                # per request
//!       threshold: 10              # failures in a row before backoff applies
//!       backoff: 1s
//!       ignoredmediatypes: [application/octet-stream]
//!       ignore: { mediatypes: [], actions: [pull] }
//!       queuesize: 1000            # Berth: events held for a slow endpoint; more are dropped
//!       disabled: false
//! ```
//!
//! Durations are Go-style (`90s`, `5m`, `1h30m`, `500ms`), as in distribution; a bare `0` is zero.
//! Relative paths are taken from the config file's directory, so a file and its certificates can
//! move together.

use crate::auth::{AuthConfig, TokenConfig};
use crate::{RegistryConfig, StorageChoice};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a config file sets: the registry's configuration (defaults where the file is silent) and
/// the log level, which the binary applies since the library never installs a log subscriber.
#[derive(Debug, Clone)]
pub struct FileConfig {
    /// The registry configuration: [`RegistryConfig::default`] overlaid with the file's keys.
    pub registry: RegistryConfig,
    /// `log.level`, if the file sets it.
    pub log_level: Option<String>,
}

/// Why a config file could not be used. Each message is one line naming the file (and the key).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML, has an unknown key, or a value of the wrong type or form.
    #[error("invalid config file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's account, with the key path and line.
        message: String,
    },
    /// A key's value is well-formed but unusable.
    #[error("invalid config file {path}: {key}: {reason}")]
    Value {
        /// The file.
        path: PathBuf,
        /// The dotted key.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl FileConfig {
    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        FileConfig::parse(&text, path)
    }

    /// Parses `text` as the contents of the file at `path` (relative paths in it are resolved
    /// against `path`'s directory).
    pub fn parse(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
        let file: Option<File> = serde_norway::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.into(),
            // The parser's messages are one line already; keep it so whatever it says.
            message: e.to_string().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        file.unwrap_or_default().apply(base).map_err(|(key, reason)| ConfigError::Value { path: path.into(), key, reason })
    }
}

type Invalid = (&'static str, String);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    version: Option<serde_norway::Value>,
    #[serde(default)]
    log: Log,
    #[serde(default)]
    http: Http,
    #[serde(default)]
    storage: Storage,
    #[serde(default)]
    auth: Auth,
    #[serde(default)]
    gc: Gc,
    #[serde(default)]
    notifications: Notifications,
    proxy: Option<Proxy>,
}

/// distribution's `proxy` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Proxy {
    remoteurl: String,
    username: Option<String>,
    password: Option<String>,
    ttl: Option<Dur>,
    tagttl: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Notifications {
    #[serde(default)]
    endpoints: Vec<Endpoint>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Endpoint {
    name: String,
    url: String,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, Vec<String>>,
    timeout: Option<Dur>,
    threshold: Option<u32>,
    backoff: Option<Dur>,
    #[serde(default)]
    ignoredmediatypes: Vec<String>,
    #[serde(default)]
    ignore: Ignore,
    queuesize: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ignore {
    #[serde(default)]
    mediatypes: Vec<String>,
    #[serde(default)]
    actions: Vec<String>,
}

impl Endpoint {
    fn into_config(self) -> Result<crate::notify::EndpointConfig, Invalid> {
        let d = crate::notify::EndpointConfig::default();
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(("notifications.endpoints.url", format!("{:?} is not an http(s) URL", self.url)));
        }
        if let Some(a) = self.ignore.actions.iter().find(|a| !["push", "pull", "mount", "delete"].contains(&a.as_str())) {
            return Err(("notifications.endpoints.ignore.actions", format!("{a:?} is not one of push, pull, mount, delete")));
        }
        if self.queuesize == Some(0) {
            return Err(("notifications.endpoints.queuesize", "must be at least 1".into()));
        }
        Ok(crate::notify::EndpointConfig {
            name: self.name,
            disabled: self.disabled,
            url: self.url,
            headers: self.headers.into_iter().flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.clone(), v))).collect(),
            timeout: self.timeout.map_or(d.timeout, |t| t.0),
            threshold: self.threshold.unwrap_or(d.threshold),
            backoff: self.backoff.map_or(d.backoff, |t| t.0),
            ignored_media_types: self.ignoredmediatypes.into_iter().chain(self.ignore.mediatypes).collect(),
            ignored_actions: self.ignore.actions,
            queue_size: self.queuesize.unwrap_or(d.queue_size),
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Log {
    level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Http {
    addr: Option<String>,
    draintimeout: Option<Dur>,
    tls: Option<Tls>,
    #[serde(default)]
    timeouts: Timeouts,
    debug: Option<Debug>,
}

/// distribution's debug server: Berth serves only its Prometheus metrics there.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Debug {
    addr: String,
    prometheus: Option<Prometheus>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Prometheus {
    enabled: bool,
    path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Tls {
    certificate: PathBuf,
    key: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timeouts {
    header: Option<Dur>,
    idle: Option<Dur>,
    write: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Storage {
    filesystem: Option<Filesystem>,
    #[serde(default, deserialize_with = "present")]
    inmemory: Option<Empty>,
    s3: Option<S3>,
    redirect: Option<Redirect>,
    #[serde(default)]
    maintenance: Maintenance,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Filesystem {
    rootdirectory: PathBuf,
}

/// distribution's `storage.s3` keys that Berth implements.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct S3 {
    region: String,
    regionendpoint: Option<String>,
    bucket: String,
    accesskey: Option<String>,
    secretkey: Option<String>,
    rootdirectory: Option<String>,
    chunksize: Option<u64>,
    forcepathstyle: Option<bool>,
    secure: Option<bool>,
    v4auth: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Redirect {
    disable: bool,
}

impl S3 {
    fn into_config(self, redirect: bool) -> Result<crate::storage::S3Config, Invalid> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let accesskey = self.accesskey.or_else(|| env("AWS_ACCESS_KEY_ID"));
        let secretkey = self.secretkey.or_else(|| env("AWS_SECRET_ACCESS_KEY"));
        let (Some(ak), Some(sk)) = (accesskey, secretkey) else {
            return Err(("storage.s3", "set accesskey and secretkey (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into()));
        };
        if self.v4auth == Some(false) {
            return Err(("storage.s3.v4auth", "Berth signs S3 requests with SigV4 only".into()));
        }
        let mut c = crate::storage::S3Config::new(&self.region, &self.bucket, &ak, &sk);
        c.endpoint = self.regionendpoint;
        c.root_directory = self.rootdirectory.unwrap_or_default().trim_matches('/').to_string();
        if let Some(n) = self.chunksize {
            c.chunk_size = usize::try_from(n).map_err(|_| ("storage.s3.chunksize", format!("{n} is too large")))?;
        }
        c.force_path_style = self.forcepathstyle.unwrap_or(false);
        c.secure = self.secure.unwrap_or(true);
        c.redirect = redirect;
        crate::storage::S3Driver::new(&c).map_err(|e| ("storage.s3", e.to_string()))?;
        Ok(c)
    }
}

/// `inmemory: {}` (or `inmemory:` with nothing after it).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

/// A key that counts as set when present, even with an empty (null) value.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Empty>, D::Error> {
    Option::<Empty>::deserialize(d).map(|e| Some(e.unwrap_or_default()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Maintenance {
    readonly: Option<ReadOnly>,
    uploadpurging: Option<UploadPurging>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadOnly {
    enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadPurging {
    age: Dur,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Auth {
    htpasswd: Option<Htpasswd>,
    token: Option<Token>,
    #[serde(default)]
    anonymouspull: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Htpasswd {
    #[serde(default)]
    #[allow(dead_code)] // distribution requires it; Berth's Basic challenge has a fixed realm
    realm: Option<String>,
    path: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    path: PathBuf,
    realm: Option<String>,
    service: Option<String>,
    ttl: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Gc {
    interval: Option<Dur>,
    grace: Option<Dur>,
}

const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

impl File {
    fn apply(self, base: &Path) -> Result<FileConfig, Invalid> {
        let mut c = RegistryConfig::default();
        let _ = self.version;
        let path = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        if let Some(l) = &self.log.level {
            if !LOG_LEVELS.contains(&l.as_str()) {
                return Err(("log.level", format!("{l:?} is not one of {}", LOG_LEVELS.join(", "))));
            }
        }
        if let Some(a) = self.http.addr {
            c.listen = a
                .parse::<SocketAddr>()
                .map_err(|_| ("http.addr", format!("{a:?} is not an address: expected IP:PORT, e.g. 127.0.0.1:5000")))?;
        }
        if let Some(tls) = self.http.tls {
            c.tls_cert = Some(path(tls.certificate));
            c.tls_key = Some(path(tls.key));
        }
        if let Some(d) = self.http.debug {
            let addr = d
                .addr
                .parse::<SocketAddr>()
                .map_err(|_| ("http.debug.addr", format!("{:?} is not an address: expected IP:PORT, e.g. 127.0.0.1:5001", d.addr)))?;
            match d.prometheus {
                Some(Prometheus { enabled: true, path }) => {
                    let path = path.unwrap_or_else(|| "/metrics".into());
                    if !path.starts_with('/') {
                        return Err(("http.debug.prometheus.path", format!("{path:?} must start with /")));
                    }
                    c.debug_addr = Some(addr);
                    c.metrics_path = path;
                }
                _ => {
                    return Err((
                        "http.debug",
                        "Berth's debug server serves only Prometheus metrics: set http.debug.prometheus.enabled: true".into(),
                    ))
                }
            }
        }
        set(&mut c.drain_timeout, self.http.draintimeout);
        set(&mut c.header_timeout, self.http.timeouts.header);
        set(&mut c.idle_timeout, self.http.timeouts.idle);
        set(&mut c.write_timeout, self.http.timeouts.write);
        for (key, d) in [("http.timeouts.header", c.header_timeout), ("http.timeouts.idle", c.idle_timeout), ("http.timeouts.write", c.write_timeout)] {
            if d.is_zero() {
                return Err((key, "must be longer than 0s".into()));
            }
        }
        let redirect = !self.storage.redirect.is_some_and(|r| r.disable);
        match (self.storage.filesystem, self.storage.inmemory, self.storage.s3) {
            (Some(fs), None, None) => c.root = path(fs.rootdirectory),
            (None, Some(_), None) => c.storage = StorageChoice::Memory,
            (None, None, Some(s3)) => c.storage = StorageChoice::S3(s3.into_config(redirect)?),
            (None, None, None) => {}
            _ => return Err(("storage", "set one of filesystem, inmemory and s3, not several".into())),
        }
        if let Some(ro) = self.storage.maintenance.readonly {
            c.read_only = ro.enabled;
        }
        if let Some(p) = self.storage.maintenance.uploadpurging {
            c.upload_ttl = p.age.0;
        }
        c.auth = match (self.auth.htpasswd, self.auth.token) {
            (Some(_), Some(_)) => return Err(("auth", "set one of htpasswd and token, not both".into())),
            (Some(h), None) => AuthConfig::Htpasswd(path(h.path)),
            (None, Some(t)) => {
                let defaults = TokenConfig::new(path(t.path));
                AuthConfig::Token(TokenConfig {
                    realm: t.realm,
                    service: t.service.unwrap_or(defaults.service.clone()),
                    ttl: t.ttl.map_or(defaults.ttl, |d| d.0),
                    ..defaults
                })
            }
            (None, None) => AuthConfig::None,
        };
        if let Some(p) = self.auth.anonymouspull.iter().find(|p| p.is_empty()) {
            return Err(("auth.anonymouspull", format!("{p:?} is not a repository pattern")));
        }
        c.anonymous_pull = self.auth.anonymouspull;
        if let Some(i) = self.gc.interval {
            c.gc_interval = (!i.0.is_zero()).then_some(i.0);
        }
        set(&mut c.gc_grace, self.gc.grace);
        if let Some(p) = self.proxy {
            let mut pc = crate::ProxyConfig::new(p.remoteurl);
            pc.username = p.username;
            pc.password = p.password;
            if let Some(t) = p.ttl {
                pc.ttl = (!t.0.is_zero()).then_some(t.0);
            }
            set(&mut pc.tag_ttl, p.tagttl);
            pc.validate().map_err(|e| ("proxy", e))?;
            c.proxy = Some(pc);
        }
        c.notifications = self.notifications.endpoints.into_iter().map(Endpoint::into_config).collect::<Result<_, _>>()?;
        Ok(FileConfig { registry: c, log_level: self.log.level })
    }
}

fn set(slot: &mut Duration, v: Option<Dur>) {
    if let Some(d) = v {
        *slot = d.0;
    }
}

/// A Go-style duration (`1h30m`, `90s`, `250ms`), as distribution's config writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dur(Duration);

/// Parses a Go-style duration (`berth_api::units::parse_duration_ns`, shared with the daemon).
fn parse_duration(s: &str) -> Option<Duration> {
    berth_api::units::parse_duration_ns(s).and_then(|ns| u64::try_from(ns).ok()).map(Duration::from_nanos)
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as 30s, 5m or 1h30m")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Dur, E> {
                parse_duration(s)
                    .map(Dur)
                    .ok_or_else(|| E::custom(format!("invalid duration {s:?}: expected e.g. 500ms, 30s, 5m or 1h30m")))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Dur, E> {
                if n == 0 {
                    Ok(Dur(Duration::ZERO))
                } else {
                    Err(E::custom(format!("duration {n} has no unit: write e.g. {n}s")))
                }
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Dur, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("duration {n} is negative"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FileConfig, ConfigError> {
        FileConfig::parse(text, Path::new("/etc/berth/registry.yml"))
    }

    fn err(text: &str) -> String {
        let e = parse(text).unwrap_err().to_string();
        assert_eq!(e.lines().count(), 1, "{e}");
        e
    }

    #[test]
    fn s3_section_is_distributions() {
        let f = parse(
            "storage:\n  s3:\n    region: default\n    regionendpoint: http://127.0.0.1:7480\n    bucket: reg\n\
             \x20   accesskey: AK\n    secretkey: SK\n    rootdirectory: /r/\n    chunksize: 6291456\n\
             \x20   forcepathstyle: true\n    secure: false\n    v4auth: true\n  redirect:\n    disable: true\n",
        )
        .unwrap();
        let StorageChoice::S3(c) = f.registry.storage else { panic!("not s3") };
        assert_eq!((c.region.as_str(), c.bucket.as_str(), c.root_directory.as_str()), ("default", "reg", "r"));
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:7480"));
        assert_eq!((c.access_key.as_str(), c.secret_key.as_str(), c.chunk_size), ("AK", "SK", 6 << 20));
        assert!(c.force_path_style && !c.secure && !c.redirect);
    }

    #[test]
    fn full_file_sets_every_key() {
        let f = parse(
            r#"
version: 0.1
log:
  level: debug
http:
  addr: 0.0.0.0:5443
  draintimeout: 5s
  tls:
    certificate: certs/reg.crt
    key: /abs/reg.key
  timeouts: { header: 10s, idle: 1m30s, write: 500ms }
storage:
  filesystem:
    rootdirectory: /srv/registry
  maintenance:
    readonly: { enabled: true }
    uploadpurging: { age: 2h }
auth:
  token:
    path: users.htpasswd
    realm: https://r.example/token
    ttl: 10m
  anonymouspull: ["public/*", "library/alpine"]
gc:
  interval: 0
  grace: 30m
"#,
        )
        .unwrap();
        let c = &f.registry;
        assert_eq!(f.log_level.as_deref(), Some("debug"));
        assert_eq!(c.listen, "0.0.0.0:5443".parse().unwrap());
        assert_eq!(c.drain_timeout, Duration::from_secs(5));
        assert_eq!(c.tls_cert.as_deref(), Some(Path::new("/etc/berth/certs/reg.crt")));
        assert_eq!(c.tls_key.as_deref(), Some(Path::new("/abs/reg.key")));
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.idle_timeout, Duration::from_secs(90));
        assert_eq!(c.write_timeout, Duration::from_millis(500));
        assert_eq!(c.root, Path::new("/srv/registry"));
        assert_eq!(c.storage, StorageChoice::Filesystem);
        assert!(c.read_only);
        assert_eq!(c.upload_ttl, Duration::from_secs(7200));
        let AuthConfig::Token(t) = &c.auth else { panic!("{:?}", c.auth) };
        assert_eq!(t.htpasswd, Path::new("/etc/berth/users.htpasswd"));
        assert_eq!(t.realm.as_deref(), Some("https://r.example/token"));
        assert_eq!(t.service, "berth-registry");
        assert_eq!(t.ttl, Duration::from_secs(600));
        assert_eq!(c.anonymous_pull, vec!["public/*", "library/alpine"]);
        assert_eq!(c.gc_interval, None);
        assert_eq!(c.gc_grace, Duration::from_secs(1800));
    }

    #[test]
    fn empty_file_and_distribution_subset_keep_defaults_elsewhere() {
        let d = RegistryConfig::default();
        let f = parse("# nothing yet\n").unwrap();
        assert_eq!((f.registry.listen, f.registry.gc_interval), (d.listen, d.gc_interval));
        assert_eq!(f.log_level, None);
        // A distribution config.yml of the shared keys, as its docs show it.
        let f = parse(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n\
             http:\n  addr: :5000\n",
        );
        // Go's ":5000" means every interface; Berth wants it spelled out.
        assert!(f.unwrap_err().to_string().contains("http.addr: \":5000\" is not an address"));
        let f = parse("storage:\n  inmemory:\nauth:\n  htpasswd:\n    realm: basic-realm\n    path: /h\n").unwrap();
        assert_eq!(f.registry.storage, StorageChoice::Memory);
        assert_eq!(f.registry.auth, AuthConfig::Htpasswd("/h".into()));
        assert_eq!(f.registry.idle_timeout, d.idle_timeout);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_one_line_errors_naming_the_key() {
        let e = err("http:\n  adr: 1.2.3.4:5\n");
        assert!(e.starts_with("invalid config file /etc/berth/registry.yml: "), "{e}");
        assert!(e.contains("unknown field `adr`"), "{e}");
        assert!(e.contains("http"), "{e}");
        assert!(err("frobnicate: {}\n").contains("unknown field `frobnicate`"));
        assert!(err("http:\n  timeouts:\n    idle: 5x\n").contains("invalid duration \"5x\""));
        assert!(err("gc:\n  interval: 60\n").contains("duration 60 has no unit"));
        assert!(err("http:\n  timeouts:\n    write: 0\n").contains("http.timeouts.write: must be longer than 0s"));
        assert!(err("log:\n  level: loud\n").contains("log.level: \"loud\" is not one of"));
        assert!(err("storage:\n  maintenance:\n    readonly:\n      enabled: maybe\n").contains("enabled"));
        assert!(err("auth:\n  htpasswd: {path: a}\n  token: {path: b}\n").contains("auth: set one of"));
        assert!(err("storage:\n  filesystem: {rootdirectory: /a}\n  inmemory: {}\n").contains("storage: set one of"));
        assert!(err("storage:\n  s3: {region: r, bucket: b, accesskey: a, secretkey: s, chunksize: 1024}\n").contains("minimum part size"));
        assert!(err("storage:\n  s3: {region: r, bucket: b, accesskey: a, secretkey: s, v4auth: false}\n").contains("SigV4"));
        assert!(err("storage:\n  s3: {region: r, bucket: b, accesskey: a, secretkey: s, encrypt: true}\n").contains("encrypt"));
        assert!(err("http: [1, 2\n").starts_with("invalid config file"));
    }

    #[test]
    fn durations_follow_go_syntax() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        for bad in ["", "5", "s", "5d", "-1s", "1h 30m"] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn proxy_section_is_distributions() {
        let f = parse("proxy:\n  remoteurl: https://registry-1.docker.io\n  username: u\n  password: p\n  ttl: 1h\n  tagttl: 30s\n").unwrap();
        let p = f.registry.proxy.unwrap();
        assert_eq!(p.remote_url, "https://registry-1.docker.io");
        assert_eq!((p.username.as_deref(), p.password.as_deref()), (Some("u"), Some("p")));
        assert_eq!((p.ttl, p.tag_ttl), (Some(Duration::from_secs(3600)), Duration::from_secs(30)));
        let p = parse("proxy: {remoteurl: http://127.0.0.1:5000, ttl: 0}\n").unwrap().registry.proxy.unwrap();
        assert_eq!((p.ttl, p.tag_ttl), (None, Duration::ZERO), "ttl 0 keeps content");
        assert!(parse("").unwrap().registry.proxy.is_none());
        let e = err("proxy: {remoteurl: ftp://x}\n");
        assert!(e.contains("proxy") && e.contains("http(s)://"), "{e}");
        let e = err("proxy: {remoteurl: http://x, username: u}\n");
        assert!(e.contains("username and password"), "{e}");
        let e = err("proxy: {remoteurl: http://x, exec: {}}\n");
        assert!(e.contains("unknown field `exec`"), "{e}");
    }
}
