#![recursion_limit = "256"]
//! The Berth daemon (layer 4): the services that own images (and, as they land, containers,
//! networks and volumes), the event bus, and the Docker Engine API router in front of them.
//!
//! ```text
//! listener (unix / tcp) ─▶ api::serve_connection ─▶ version prefix + common headers
//!                                                 ─▶ axum router (api/*.rs, one per resource)
//!                                                 ─▶ service/*.rs (no HTTP types below this line)
//!                                                 ─▶ berth-image / berth-content stores
//! ```
//! On-disk layout of a data root:
//! ```text
//! <data-root>/
//!   berth.lock        flock held while a daemon serves this root
//!   engine-id         the daemon's stable id (`docker info` ID)
//!   content/          content store (berth-content)
//!   image/            image records and tags (berth-image)
//!   tmp/              scratch space, emptied at start
//! ```

pub mod activation;
pub mod api;
pub mod events;
pub mod filters;
pub mod listen;
mod lock;
mod memory;
pub mod metrics;
pub mod priority;
pub mod rootless;
pub mod service;
pub mod settings;
pub mod tls;
pub mod userns;

use std::path::PathBuf;
use std::sync::Arc;

pub use listen::ListenAddr;

/// Everything `berth daemon` is configured with.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Root of all persistent state.
    pub data_root: PathBuf,
    /// Addresses to serve the API on.
    pub hosts: Vec<ListenAddr>,
    /// Registry settings (insecure registries, mirrors).
    pub registries: service::distribution::RegistryOptions,
    /// Default bridge and address pools.
    pub network: service::networks::NetworkOptions,
    /// The static init `--init` runs as PID 1 (None: looked for where Docker's packages put it).
    pub init_path: Option<PathBuf>,
    /// Log driver, log options and ulimits of containers that set none.
    pub container_defaults: service::containers::ContainerDefaults,
    /// The settings a reload replaces (debug, labels, registries).
    pub settings: settings::LiveSettings,
    /// Where to serve Prometheus metrics (`GET /metrics`, plain HTTP), if anywhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// What one client may hold of the API listeners (connections, read timeouts).
    pub api_limits: listen::Limits,
    /// TLS for the TCP listeners (`--tls`, `--tlsverify`).
    pub tls: Option<tls::ServerTls>,
    /// The operator allowed a non-loopback TCP listener without TLS explicitly (`--tls=false`).
    pub plain_tcp_allowed: bool,
    /// The unix socket's group (`--group`).
    pub socket_group: listen::SocketGroup,
    /// `--userns-remap` as given (`default`, `USER[:GROUP]`): resolved at start, when the data
    /// root moves to `<data-root>/<uid>.<gid>` and containers get user namespaces.
    pub userns_remap: Option<String>,
}

/// Failures that stop the daemon from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Another daemon holds the data root.
    #[error("another berth daemon is already running with data root {0} (lock held on berth.lock)")]
    Locked(PathBuf),
    /// A store failed to open.
    #[error("opening the image store: {0}")]
    Image(#[from] berth_image::ImageError),
    /// The content store failed to open.
    #[error("opening the content store: {0}")]
    Content(#[from] berth_content::ContentError),
    /// A filesystem operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// To what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// Setting up networking (bridges, firewall) failed.
    #[error("setting up networking: {0}")]
    Network(String),
    /// A TLS certificate, key or CA file cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsFileError),
    /// `--userns-remap` cannot be set up.
    #[error(transparent)]
    Userns(#[from] userns::RemapError),
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Opens the stores, starts networking and recovers containers.
async fn open_services(config: &DaemonConfig) -> Result<Arc<service::Services>, DaemonError> {
    let services = Arc::new(service::Services::open(
        &config.data_root,
        &config.registries,
        config.network.clone(),
        config.init_path.clone(),
        config.container_defaults.clone(),
        config.settings.clone(),
    )?);
    services.networks.start().await.map_err(|e| DaemonError::Network(e.to_string()))?;
    services.containers.finish_disconnects();
    services.containers.restore_networking().await;
    services.networks.sweep_namespaces(&services.containers.running_ids());
    services.networks.sweep_endpoints(&services.containers.live_endpoints()).await;
    services.networks.reconcile(&services.containers.held_addresses());
    services.containers.apply_restart_policies();
    services.containers.start_exec_collector();
    Ok(services)
}

/// Stops serving: ends the serving tasks, removes the sockets of `hosts`, and the networks' bridges and
/// firewall rules unless containers still run (they keep their network across a daemon restart).
async fn stop<'a>(
    services: &Arc<service::Services>,
    stop_tx: &tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    hosts: impl Iterator<Item = &'a ListenAddr>,
) {
    let _ = stop_tx.send(true);
    services.events.close();
    for t in tasks {
        let _ = t.await;
    }
    for addr in hosts {
        addr.cleanup();
    }
    let running = services.containers.all().iter().any(|h| h.snapshot().state.status != service::containers::Status::Exited && h.snapshot().state.status != service::containers::Status::Created);
    services.networks.shutdown(running).await;
}

/// A running front end's work: resolves once it has stopped serving.
pub type FrontendTask = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Another API served on the daemon's services beside the Engine API (the Kubernetes CRI, crate
/// `berth-cri`). The daemon does not depend on its implementations: the executable wires them in,
/// so the layering stays services ← front ends.
pub trait Frontend: Send {
    /// Binds (errors stop the daemon's start) and returns the serving task, which must end soon
    /// after `stop` turns true.
    fn start(self: Box<Self>, services: Arc<service::Services>, stop: tokio::sync::watch::Receiver<bool>) -> Result<FrontendTask, DaemonError>;
}

/// Opens the data root, serves the API on every configured address until `shutdown` resolves
/// (applying each reload `reloads` brings meanwhile), then stops accepting, removes unix sockets
/// and returns. Tells a service manager (`NOTIFY_SOCKET`) when it serves and when it stops.
pub async fn run(
    config: DaemonConfig,
    shutdown: impl std::future::Future<Output = ()> + Send,
    reloads: tokio::sync::mpsc::UnboundedReceiver<settings::Reload>,
) -> Result<(), DaemonError> {
    run_with(config, Vec::new(), shutdown, reloads).await
}

/// [`run`], also serving `frontends` on the same services.
pub async fn run_with(
    config: DaemonConfig,
    frontends: Vec<Box<dyn Frontend>>,
    shutdown: impl std::future::Future<Output = ()> + Send,
    mut reloads: tokio::sync::mpsc::UnboundedReceiver<settings::Reload>,
) -> Result<(), DaemonError> {
    let mut config = config;
    priority::raise_session();
    // Bad TLS files stop the start before anything else is touched.
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let tcp_hosts = config.hosts.iter().filter_map(|a| if let ListenAddr::Tcp(t) = a { Some(*t) } else { None });
    listen::check_plain_tcp(tcp_hosts, tls.is_some(), config.plain_tcp_allowed)?;
    // So does an unknown --group (before bridges and firewall rules exist, which a failed start
    // would leave behind).
    config
        .socket_group
        .resolve()
        .map_err(|m| DaemonError::Io { op: "resolve the socket group", path: "--group".into(), source: std::io::Error::new(std::io::ErrorKind::NotFound, m) })?;
    if let Some(spec) = config.userns_remap.clone() {
        // dockerd's layout: everything remapped lives under <data-root>/<uid>.<gid>.
        let remap = berth_types::sched::spawn_blocking(move || userns::resolve(&spec)).await.map_err(|e| DaemonError::Io { op: "resolve", path: "--userns-remap".into(), source: std::io::Error::other(e) })??;
        if let Some(remap) = remap {
            config.data_root = userns::data_root(&config.data_root, &remap)?;
            config.container_defaults.userns_remap = Some(remap.maps);
        }
    }
    let root = &config.data_root;
    std::fs::create_dir_all(root).map_err(|source| DaemonError::Io { op: "create", path: root.clone(), source })?;
    let _lock = lock::DataRootLock::acquire(root)?;
    // Socket-activated listeners first: without the passed sockets the start stops before bridges
    // and firewall rules are set up. Sockets Berth binds itself come up once the services are
    // ready, so that a client that can connect is served at once.
    let mut listeners = Vec::new();
    for addr in config.hosts.iter().filter(|a| matches!(a, ListenAddr::Fd(_))) {
        listeners.extend(listen::bind(addr, &config.socket_group).await?);
    }
    listen::check_plain_tcp(listen::tcp_addrs(&listeners), tls.is_some(), config.plain_tcp_allowed)?;
    activation::close_unused();
    // The metrics address is bound before the services open: a taken address stops the start
    // before bridges and firewall rules exist (it left them behind when bound after).
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr).await.map_err(|source| DaemonError::Listen { addr: format!("metrics address {addr}"), source })?,
        ),
        None => None,
    };
    if let Some(w) = rootless::cgroup_warning() {
        tracing::warn!("{w}");
    }
    let services = open_services(&config).await?;
    // From here on a failed start undoes what it set up: the bridges and firewall rules the services
    // made, the sockets bound so far, the serving tasks started so far.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut bound = Vec::new();
    let started = async {
        for addr in config.hosts.iter().filter(|a| !matches!(a, ListenAddr::Fd(_))) {
            listeners.extend(listen::bind(addr, &config.socket_group).await?);
            bound.push(addr);
        }
        services.system.record_engine_info();
        tracing::info!(data_root = %root.display(), hosts = ?config.hosts, "daemon started");
        let router = api::router(services.clone());
        let slots = listen::Slots::new(config.api_limits);
        for l in listeners {
            tasks.push(tokio::spawn(listen::accept_loop(l, router.clone(), slots.clone(), tls.clone(), stop_rx.clone())));
        }
        if let Some(l) = metrics_listener {
            tasks.push(tokio::spawn(api::serve_metrics(l, services.clone(), stop_rx.clone())));
        }
        for f in frontends {
            tasks.push(tokio::spawn(f.start(services.clone(), stop_rx.clone())?));
        }
        Ok::<(), DaemonError>(())
    }
    .await;
    if let Err(e) = started {
        tracing::error!(error = %e, "the daemon's start failed; undoing it");
        stop(&services, &stop_tx, tasks, bound.into_iter()).await;
        return Err(e);
    }
    let trimmer = tokio::spawn(memory::trim_when_idle());
    activation::notify_ready();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(r) = reloads.recv() => settings::apply(&services, r),
        }
    }
    activation::notify_stopping();
    tracing::info!("shutting down");
    trimmer.abort();
    stop(&services, &stop_tx, tasks, config.hosts.iter()).await;
    tracing::info!("daemon stopped");
    Ok(())
}
