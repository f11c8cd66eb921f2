//! Berth as a Kubernetes CRI v1 runtime: the `RuntimeService` and `ImageService` of
//! `k8s.io/cri-api` served over gRPC on a unix socket (`berth daemon --cri-socket`), on the same
//! services the Docker Engine API uses (images, snapshots, shims, networks).
//!
//! ```text
//! kubelet / crictl ──gRPC (unix socket)──▶ berth-cri (this crate)
//!                                            runtime/  sandboxes, containers, exec, stats
//!                                            image.rs  pull (registry mirrors), list, status, remove
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

pub mod error;
pub mod image;
pub mod meta;
pub mod pull;
pub mod runtime;

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
}

impl CriConfig {
    /// Defaults for a socket.
    pub fn new(socket: PathBuf) -> CriConfig {
        CriConfig { socket, sandbox_image: DEFAULT_SANDBOX_IMAGE.into(), registry_mirrors: BTreeMap::new() }
    }
}

/// The CRI server: one value implements both gRPC services.
#[derive(Clone)]
pub struct Cri {
    pub(crate) services: Arc<Services>,
    pub(crate) config: Arc<CriConfig>,
    /// The previous CPU reading per container (and `pod:<id>`), for `usage_nano_cores`.
    pub(crate) cpu_samples: Arc<std::sync::Mutex<std::collections::HashMap<String, (i64, u64)>>>,
}

impl Cri {
    /// A server over the daemon's services.
    pub fn new(services: Arc<Services>, config: CriConfig) -> Cri {
        Cri { services, config: Arc::new(config), cpu_samples: Default::default() }
    }
}

/// Starts the CRI gRPC server as a daemon front end: binds the socket (replacing a stale one,
/// mode 0660) and serves until the daemon stops.
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
        tracing::info!(socket = %path.display(), "CRI server listening");
        let cri = Cri::new(services, self.0);
        Ok(Box::pin(async move {
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
        }))
    }
}
