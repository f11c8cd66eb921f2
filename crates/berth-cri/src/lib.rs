//! Berth as a Kubernetes CRI v1 runtime: the `RuntimeService` and `ImageService` of
//! `k8s.io/cri-api` served over gRPC on a unix socket (`berth daemon --cri-socket`), on the same
//! services the Docker Engine API uses (images, snapshots, shims, networks).
//!
//! ```text
//! kubelet / crictl ──gRPC (unix socket)──▶ berth-cri (this crate)
//!                                            runtime/  sandboxes, containers, exec, stats
//!                                            image.rs  pull (registry mirrors), list, status, remove
//!                                            stream/   the streaming server (exec, attach, port-forward)
//!                                          ──▶ berth_daemon::service::{containers, images, distribution}
//! Docker clients ──Engine API──▶ berth_daemon::api ──▶ the same services
//! ```
//!
//! A pod sandbox is a Berth container running the sandbox (pause) image: it holds the pod's
//! network, IPC and UTS namespaces and, with a shared PID namespace, reaps the pod's orphans. A CRI
//! container is a Berth container that joins those namespaces (`container:<sandbox>` modes), so the
//! Docker side's HostConfig→OCI translation, shim and snapshotter do all the work. What CRI needs
//! beyond Docker (metadata, CRI labels and annotations, the sandbox, the log path) is kept in
//! the Berth container's labels (`io.berth.cri.*`, see [`meta`]), so the container record stays the
//! one persisted source of truth and a daemon restart loses nothing.

pub mod cni;
pub mod error;
pub mod image;
pub mod meta;
pub mod pull;
pub mod runtime;
pub mod stream;

use berth_daemon::service::Services;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The generated CRI v1 messages and services (`package runtime.v1`).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("runtime.v1");
}

/// The CRI API version Berth implements.
pub const CRI_VERSION: &str = "v1";

/// The documented default socket (`--cri-socket` without a value is not accepted: the path is
/// always given, this is what the docs and a kubelet's `--container-runtime-endpoint` use).
pub const DEFAULT_SOCKET: &str = "/run/berth/cri.sock";

/// The sandbox image containerd 1.7+ and CRI-O use by default.
pub const DEFAULT_SANDBOX_IMAGE: &str = "registry.k8s.io/pause:3.9";

/// How the CRI side is configured (`berth daemon --cri-*` or the `cri-*` keys of daemon.json).
#[derive(Debug, Clone, PartialEq)]
pub struct CriConfig {
    /// The unix socket to serve on.
    pub socket: PathBuf,
    /// The image every pod sandbox runs (its entrypoint must sleep until signalled).
    pub sandbox_image: String,
    /// Mirrors per registry host (`registry.k8s.io` → [`http://127.0.0.1:5000`]), tried in order
    /// before the registry itself, for pulls made through the CRI.
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// The CNI configuration and plugin directories pods are networked with.
    pub cni: cni::CniSettings,
    /// Where the streaming server (`Exec`, `Attach`, `PortForward` URLs) listens.
    pub stream: stream::StreamConfig,
}

impl CriConfig {
    /// Defaults for a socket.
    pub fn new(socket: PathBuf) -> CriConfig {
        CriConfig { socket, sandbox_image: DEFAULT_SANDBOX_IMAGE.into(), registry_mirrors: BTreeMap::new(), cni: cni::CniSettings::default(), stream: stream::StreamConfig::default() }
    }
}

/// The CRI server: one value implements both gRPC services.
#[derive(Clone)]
pub struct Cri {
    pub(crate) services: Arc<Services>,
    pub(crate) config: Arc<CriConfig>,
    /// The previous CPU reading per container (and `pod:<id>`), for `usage_nano_cores`.
    pub(crate) cpu_samples: Arc<std::sync::Mutex<std::collections::HashMap<String, (i64, u64)>>>,
    /// The pods' CNI network.
    pub(crate) network: Arc<cni::pod::PodNetwork>,
    /// The addresses of attached pods (sandbox id → pod IP first), from their attachments.
    pub(crate) pod_ips: Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<String>>>>,
    /// One network operation at a time per sandbox (a Stop and a Remove racing run one DEL).
    pub(crate) net_locks: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    /// The streaming server's tokens and address.
    pub(crate) stream: Arc<stream::StreamServer>,
}

impl Cri {
    /// A server over the daemon's services, handing out URLs of `stream`.
    pub fn new(services: Arc<Services>, config: CriConfig, stream: Arc<stream::StreamServer>) -> Cri {
        let network = Arc::new(cni::pod::PodNetwork::new(services.system.root(), config.cni.clone()));
        Cri { services, config: Arc::new(config), cpu_samples: Default::default(), network, pod_ips: Default::default(), net_locks: Default::default(), stream }
    }
}

/// Starts the CRI gRPC server as a daemon front end: binds the socket (replacing a stale one,
/// mode 0660) and the streaming server's TCP listener, and serves both until the daemon stops.
pub struct Frontend(pub CriConfig);

impl berth_daemon::Frontend for Frontend {
    fn start(self: Box<Self>, services: Arc<Services>, mut stop: tokio::sync::watch::Receiver<bool>) -> Result<berth_daemon::FrontendTask, berth_daemon::DaemonError> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.socket.clone();
        let io = |op: &'static str, source: std::io::Error| berth_daemon::DaemonError::Io { op, path: path.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove stale socket", e)),
        }
        let listener = tokio::net::UnixListener::bind(&path)
            .map_err(|source| berth_daemon::DaemonError::Listen { addr: format!("CRI socket {}", path.display()), source })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).map_err(|e| io("chmod", e))?;
        let (streams, stream_listener) = stream::StreamServer::bind(&self.0.stream).map_err(|e| {
            let addr = format!("CRI streaming server {}:{}", self.0.stream.address, self.0.stream.port);
            match e {
                stream::BindError::Listen(source) => berth_daemon::DaemonError::Listen { addr, source },
                stream::BindError::Tls(e) => berth_daemon::DaemonError::Tls(e),
            }
        })?;
        tracing::info!(socket = %path.display(), streaming = %streams.base_url(), "CRI server listening");
        let cri = Cri::new(services, self.0, Arc::new(streams));
        // Pods whose teardown a previous daemon left unfinished, before any request is served.
        let recovering = cri.clone();
        let recovery = tokio::spawn(async move { recovering.recover_networks().await });
        let stream_stop = stop.clone();
        let streaming = tokio::spawn(stream::serve(cri.clone(), stream_listener, stream_stop));
        Ok(Box::pin(async move {
            if let Err(error) = recovery.await {
                tracing::error!(%error, "recovering pod networks failed");
            }
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            let result = tonic::transport::Server::builder()
                .add_service(proto::runtime_service_server::RuntimeServiceServer::new(cri.clone()).max_decoding_message_size(16 << 20).max_encoding_message_size(64 << 20))
                .add_service(proto::image_service_server::ImageServiceServer::new(cri).max_decoding_message_size(16 << 20).max_encoding_message_size(64 << 20))
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(error) = result {
                tracing::error!(%error, "CRI server failed");
            }
            let _ = std::fs::remove_file(&path);
            let _ = streaming.await;
        }))
    }
}
