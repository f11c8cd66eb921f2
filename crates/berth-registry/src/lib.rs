//! Berth's registry server: an OCI Distribution Spec v1.1 / Docker Registry HTTP API V2 registry.
//!
//! - [`serve`] runs it until a shutdown future resolves, then drains in-flight requests;
//!   [`Server::bind`] + [`Server::run`] do the same in two steps, exposing the bound address.
//! - [`gc`] / [`gc_with`] collect garbage over a registry root, also while a registry serves it.
//!
//! Modules: `routes` (HTTP, the only place that sees hyper/axum), `service` (blobs, uploads,
//! manifests, listings over a storage driver), `storage` (driver trait, filesystem and memory drivers,
//! and the on-disk layout), `auth` (htpasswd, bearer tokens), `gc`, `server` (TCP/TLS accept loop).

pub mod auth;
pub mod config;
pub mod errors;
pub mod gc;
pub mod manifest;
mod metrics;
pub mod names;
pub mod notify;
pub mod proxy;
mod routes;
mod sendfile;
mod server;
pub mod service;
pub mod storage;
mod write_timeout;

pub use auth::{AuthConfig, TokenConfig};
pub use config::{ConfigError, FileConfig};
pub use errors::{ApiError, ErrorCode, RegistryError, StorageError};
pub use gc::{GcOptions, GcReport};
pub use proxy::ProxyConfig;

use auth::Authorizer;
use service::{Registry, ServiceLimits};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use storage::{Driver, FsDriver, MemDriver};

/// Where the registry keeps its data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StorageChoice {
    /// Files under [`RegistryConfig::root`] (the default).
    #[default]
    Filesystem,
    /// Process memory, lost at exit (tests, benchmarks).
    Memory,
    /// An S3-compatible object store; any number of registry processes may share it.
    S3(storage::S3Config),
}

impl StorageChoice {
    /// The driver for this choice (`root` for the filesystem).
    pub fn driver(&self, root: &Path) -> Result<Driver, RegistryError> {
        Ok(match self {
            StorageChoice::Filesystem => Driver::Fs(FsDriver::new(root)),
            StorageChoice::Memory => Driver::Mem(MemDriver::new()),
            StorageChoice::S3(c) => Driver::S3(storage::S3Driver::new(c).map_err(RegistryError::S3Config)?),
        })
    }
}

/// Everything `berth registry` can be told.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Address to listen on (default `127.0.0.1:5000`; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Storage root (default `/var/lib/berth-registry`).
    pub root: PathBuf,
    /// Storage backend.
    pub storage: StorageChoice,
    /// PEM certificate chain; with `tls_key`, serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Authentication mode.
    pub auth: AuthConfig,
    /// Repository patterns (`*` globs, e.g. `public/*`) anyone may pull without credentials.
    pub anonymous_pull: Vec<String>,
    /// Refuse every write with 405 `UNSUPPORTED`.
    pub read_only: bool,
    /// Run a GC sweep this often while serving; `None` disables it.
    pub gc_interval: Option<Duration>,
    /// Unreferenced blobs younger than this survive the sweep.
    pub gc_grace: Duration,
    /// Uploads idle for longer than this are removed by the sweep.
    pub upload_ttl: Duration,
    /// Request headers must arrive within this long (slowloris protection); a keep-alive connection
    /// idle this long between requests is closed too.
    pub header_timeout: Duration,
    /// A request body (upload `PATCH`/`PUT`/`POST`, manifest `PUT`) that sends nothing for this long
    /// is abandoned and its connection closed; the partial upload stays invisible until it expires.
    pub idle_timeout: Duration,
    /// A response write blocked this long (the client stopped reading, e.g. mid-blob) drops the
    /// connection.
    pub write_timeout: Duration,
    /// After shutdown, in-flight requests get this long to finish before connections are closed.
    pub drain_timeout: Duration,
    /// Serve Prometheus metrics (plain HTTP) on this address, at `metrics_path`.
    pub debug_addr: Option<SocketAddr>,
    /// The metrics path on the debug address (distribution's `prometheus.path`, default `/metrics`).
    pub metrics_path: String,
    /// Webhook endpoints notified of pushes, pulls and deletes (distribution's `notifications`).
    pub notifications: Vec<notify::EndpointConfig>,
    /// Serve as a pull-through cache of this upstream (distribution's `proxy`); pushes are refused.
    pub proxy: Option<ProxyConfig>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            root: PathBuf::from("/var/lib/berth-registry"),
            storage: StorageChoice::Filesystem,
            tls_cert: None,
            tls_key: None,
            auth: AuthConfig::None,
            anonymous_pull: Vec::new(),
            read_only: false,
            gc_interval: Some(Duration::from_secs(3600)),
            gc_grace: Duration::from_secs(3600),
            upload_ttl: Duration::from_secs(24 * 3600),
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(30),
            debug_addr: None,
            metrics_path: "/metrics".into(),
            notifications: Vec::new(),
            proxy: None,
        }
    }
}

impl RegistryConfig {
    /// The defaults with `listen` and `root` set.
    pub fn new(listen: SocketAddr, root: impl Into<PathBuf>) -> RegistryConfig {
        RegistryConfig { listen, root: root.into(), ..RegistryConfig::default() }
    }
}

/// A registry bound to its address, not yet serving.
pub struct Server {
    local_addr: SocketAddr,
    run: server::Loop,
}

impl Server {
    /// Opens storage, loads credentials and TLS material, and binds `config.listen`.
    pub async fn bind(config: RegistryConfig) -> Result<Server, RegistryError> {
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(c), Some(k)) => Some(server::tls_acceptor(c, k)?),
            (Some(c), None) => return Err(RegistryError::Tls { path: c.clone(), reason: "--tls-key missing".into() }),
            (None, Some(k)) => return Err(RegistryError::Tls { path: k.clone(), reason: "--tls-cert missing".into() }),
            (None, None) => None,
        };
        let key_file = matches!(config.storage, StorageChoice::Filesystem).then(|| config.root.join("token.key"));
        let auth = Authorizer::load(&config.auth, config.anonymous_pull.clone(), key_file.as_deref())?;
        let driver = config.storage.driver(&config.root)?;
        let limits = ServiceLimits { upload_ttl: config.upload_ttl, gc_grace: config.gc_grace };
        let mut registry = Registry::new(driver, limits);
        if let Some(p) = &config.proxy {
            // In-flight blobs spool beside the store when it is a directory (a blob may be large);
            // the files are unlinked as soon as they are created.
            let spool = match config.storage {
                StorageChoice::Filesystem => config.root.join("_spool"),
                _ => std::env::temp_dir().join("berth-registry-spool"),
            };
            let proxy = proxy::Proxy::new(p.clone(), spool).map_err(RegistryError::Proxy)?;
            tracing::info!(remote = %proxy.remote(), ttl = ?p.ttl, tag_ttl = ?p.tag_ttl, "pull-through cache");
            registry = registry.with_proxy(proxy);
        }
        let registry = Arc::new(registry);
        registry.init().await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| RegistryError::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| RegistryError::Bind { addr: config.listen, source })?;
        let debug = match config.debug_addr {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr).await.map_err(|source| RegistryError::Bind { addr, source })?;
                tracing::info!(addr = %addr, path = %config.metrics_path, "registry metrics listening");
                Some((l, config.metrics_path.clone()))
            }
            None => None,
        };
        let app = routes::router(routes::AppState {
            registry: registry.clone(),
            auth: Arc::new(auth),
            read_only: config.read_only,
            tls: tls.is_some(),
            idle_timeout: config.idle_timeout,
            notifier: notify::Notifier::start(&config.notifications, local_addr.to_string()),
        });
        let store = match &config.storage {
            StorageChoice::S3(c) => format!("s3://{}/{}", c.bucket, c.root_directory),
            _ => config.root.display().to_string(),
        };
        tracing::info!(
            url = %server::describe(local_addr, tls.is_some()),
            root = %store,
            read_only = config.read_only,
            "registry listening"
        );
        Ok(Server {
            local_addr,
            run: server::Loop {
                listener,
                app,
                tls,
                drain_timeout: config.drain_timeout,
                timeouts: server::ConnTimeouts { header: config.header_timeout, write: config.write_timeout },
                registry,
                gc_interval: config.gc_interval,
                proxy_ttl: config.proxy.as_ref().and_then(|p| p.ttl),
                debug,
            },
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests and returns.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), RegistryError> {
        self.run.run(shutdown).await
    }
}

/// The registry's HTTP service over a fresh in-memory store, with no auth, bound to no socket: for
/// in-process drivers (the fuzz targets, tests) that send it requests with `tower::ServiceExt::oneshot`.
/// It behaves as `berth registry --storage memory` does, minus the connection timeouts of the listener.
pub async fn in_memory_app() -> Result<axum::Router, RegistryError> {
    let registry = Arc::new(Registry::new(Driver::Mem(MemDriver::new()), ServiceLimits::default()));
    registry.init().await?;
    let auth = Authorizer::load(&AuthConfig::None, Vec::new(), None)?;
    let defaults = RegistryConfig::default();
    Ok(routes::router(routes::AppState {
        registry,
        auth: Arc::new(auth),
        read_only: false,
        tls: false,
        idle_timeout: defaults.idle_timeout,
        notifier: notify::Notifier::default(),
    }))
}

/// Serves until `shutdown` resolves, then drains in-flight requests and returns.
pub async fn serve(
    config: RegistryConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), RegistryError> {
    Server::bind(config).await?.run(shutdown).await
}

/// Collects garbage under registry root `root` (see [`gc_with`]) with the default grace period (1 h)
/// and upload expiry (24 h); safe while a registry serves the same root. Runs its own small runtime
/// on a separate thread, so it may be called from sync or async code alike.
pub fn gc(root: &Path, dry_run: bool) -> Result<GcReport, RegistryError> {
    gc_with(root, &GcOptions { dry_run, ..GcOptions::default() })
}

/// Collects garbage under `root` with explicit options: removes blobs no manifest of any repository
/// references (unless younger than `grace`), their repository links, and uploads idle past `upload_ttl`.
pub fn gc_with(root: &Path, opts: &GcOptions) -> Result<GcReport, RegistryError> {
    gc_on(&StorageChoice::Filesystem, root, opts)
}

/// Collects garbage on `storage` (`root` for the filesystem) with explicit options; safe while
/// registries serve it, and on a shared store (S3) while several replicas do: one collector at a time
/// holds the GC lease (see [`gc`]).
pub fn gc_on(storage: &StorageChoice, root: &Path, opts: &GcOptions) -> Result<GcReport, RegistryError> {
    let root = root.to_path_buf();
    let opts = opts.clone();
    let storage = storage.clone();
    std::thread::scope(|s| {
        s.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| StorageError::Io { op: "start runtime", path: root.display().to_string(), source })?;
            rt.block_on(async {
                let reg = Registry::new(
                    storage.driver(&root)?,
                    ServiceLimits { upload_ttl: opts.upload_ttl, gc_grace: opts.grace },
                );
                Ok(gc::collect(&reg, &opts).await?)
            })
        })
        .join()
        .unwrap_or_else(|_| Err(RegistryError::Storage(StorageError::InvalidPath { path: "gc thread panicked".into() })))
    })
}
