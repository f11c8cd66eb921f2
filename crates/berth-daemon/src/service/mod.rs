//! Services: what the daemon can do, in terms of typed arguments and results. Nothing here knows
//! about HTTP; the API routers translate requests into these calls.

pub mod build;
pub mod build_cache;
pub mod check;
pub mod containers;
pub mod disk_usage;
pub mod distribution;
pub mod gc;
pub mod git_context;
pub mod images;
pub mod networks;
pub mod offload;
mod pulls;
pub mod recovery;
pub mod singleflight;
pub mod system;
pub mod volumes;

use crate::events::EventBus;
use crate::DaemonError;
use std::path::Path;
use std::sync::Arc;

/// The daemon's services, each owning one resource.
pub struct Services {
    /// Images.
    pub images: images::ImageService,
    /// Containers.
    pub containers: Arc<containers::ContainerService>,
    /// Image builds.
    pub build: build::BuildService,
    /// Registry client (pull, push, login).
    pub distribution: Arc<distribution::DistributionService>,
    /// Volumes.
    pub volumes: Arc<volumes::VolumeService>,
    /// Networks.
    pub networks: Arc<networks::NetworkService>,
    /// Version, info, disk usage.
    pub system: system::SystemService,
    /// Events.
    pub events: Arc<EventBus>,
    /// The garbage collector of blobs and snapshots, and the leases of operations in flight.
    pub gc: Arc<gc::Collector>,
    /// The `system df` computation in flight, shared by concurrent callers.
    pub disk_usage: singleflight::SingleFlight<Arc<serde_json::Value>>,
}

impl Services {
    /// Opens every store under `root`.
    pub fn open(
        root: &Path,
        registries: &distribution::RegistryOptions,
        network: networks::NetworkOptions,
        init_path: Option<std::path::PathBuf>,
        container_defaults: containers::ContainerDefaults,
        settings: crate::settings::LiveSettings,
    ) -> Result<Services, DaemonError> {
        // Before anything touches the data root: what a dead daemon left running or mounted.
        recovery::clean_scratch(root, &recovery::shims(root));
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|source| DaemonError::Io { op: "create", path: tmp.clone(), source })?;
        // The rest of the layout that is otherwise made on first use, so a data root's size after
        // everything was removed again is comparable to its size at the first start.
        // (`build-cache/tmp` is not among them: recovery removes it, builds make it.)
        for dir in ["builds", "runtime/seccomp"] {
            let p = root.join(dir);
            std::fs::create_dir_all(&p).map_err(|source| DaemonError::Io { op: "create", path: p, source })?;
        }
        let content = berth_content::ContentStore::open(root.join("content"))?;
        let store = Arc::new(berth_image::ImageStore::open(root.join("image"), content)?);
        let events = Arc::new(EventBus::default());
        let leases = Arc::new(gc::lease::Leases::default());
        let remapped_root = container_defaults.userns_remap.as_ref().and_then(|m| m.root().ok());
        let volumes = volumes::VolumeService::open(root, events.clone(), remapped_root)
            .map_err(|e| DaemonError::Io { op: "open volumes in", path: root.to_path_buf(), source: std::io::Error::other(e.to_string()) })?;
        let networks = networks::NetworkService::open(root, network, events.clone())
            .map_err(|e| DaemonError::Io { op: "open networks in", path: root.to_path_buf(), source: std::io::Error::other(e.to_string()) })?;
        let containers = containers::ContainerService::open(root, store.clone(), volumes.clone(), networks.clone(), events.clone(), init_path, container_defaults.clone(), leases.clone())
            .map_err(|e| DaemonError::Io { op: "open containers in", path: root.to_path_buf(), source: std::io::Error::other(e.to_string()) })?;
        let build = build::BuildService::new(root, store.clone(), containers.clone(), events.clone(), leases.clone());
        let distribution = Arc::new(
            distribution::DistributionService::new(root, store.clone(), events.clone(), registries, leases.clone())
                .map_err(|e| DaemonError::Io { op: "set up the registry client in", path: root.to_path_buf(), source: std::io::Error::other(e.to_string()) })?,
        );
        let dist = distribution.clone();
        build.set_puller(Arc::new(move |r, platform, events| {
            // Builds run on blocking threads: drive the pull on the runtime from here.
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let result = tokio::runtime::Handle::current().block_on(dist.pull(r, platform, None, tx));
            while let Ok(m) = rx.try_recv() {
                let line = match (&m.id, &m.status) {
                    (Some(id), Some(s)) if m.progress_detail.as_ref().is_none_or(|d| d.total.is_none()) => format!("{id}: {s}\n"),
                    (None, Some(s)) => format!("{s}\n"),
                    _ => continue,
                };
                events(berth_build::BuildEvent::Output(line.into_bytes()));
            }
            result
        }));
        let dist = distribution.clone();
        let compressed: gc::CompressedForms = Arc::new(move |d| dist.compressed_forms(d));
        let gc = Arc::new(gc::Collector::new(store.clone(), containers.clone(), build.cache_dir(), compressed, leases.clone()));
        // Nothing is in flight yet: what interrupted operations of an earlier run left (and
        // container directories without a record) goes now, before the API serves anything.
        let known = containers.all().iter().map(|h| h.snapshot().id).collect();
        gc::orphans::reap_all(root, &known);
        if let Err(error) = gc.collect() {
            tracing::warn!(%error, "start-up garbage collection failed");
        }
        Ok(Services {
            distribution,
            images: images::ImageService::new(store.clone(), events.clone(), leases),
            build,
            containers,
            volumes,
            networks,
            system: system::SystemService::new(root, store, settings, container_defaults.log_driver, remapped_root.is_some())?,
            events,
            gc,
            disk_usage: Default::default(),
        })
    }
}

/// Errors of the service layer, each with an [`ErrorKind`](berth_types::ErrorKind).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// From the image store.
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    /// A malformed argument (filters, references, parameters).
    #[error("{0}")]
    Invalid(String),
    /// A build's `RUN` step exited non-zero (its exit code goes in the stream's `errorDetail`).
    #[error("{message}")]
    StepFailed { message: String, code: i32 },
    /// The named object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the object's state.
    #[error("{0}")]
    Conflict(String),
    /// A fault inside Berth or the host.
    #[error("{0}")]
    Internal(String),
    /// A feature that exists in Docker but not (yet) in Berth.
    #[error("{0}")]
    NotImplemented(String),
    /// A remote source (import URL, registry) failed.
    #[error("{0}")]
    Upstream(String),
    /// The operation is not allowed on this object (predefined networks, …).
    #[error("{0}")]
    Forbidden(String),
    /// A registry refused the credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The failure of a computation several callers shared ([`singleflight`]).
    #[error("{0}")]
    Shared(#[source] Arc<ServiceError>),
}

impl berth_types::error::HasKind for ServiceError {
    fn kind(&self) -> berth_types::ErrorKind {
        use berth_types::ErrorKind;
        match self {
            ServiceError::Image(e) => e.kind(),
            ServiceError::Invalid(_) | ServiceError::StepFailed { .. } => ErrorKind::InvalidArgument,
            ServiceError::NotFound(_) => ErrorKind::NotFound,
            ServiceError::Conflict(_) => ErrorKind::Conflict,
            ServiceError::Internal(_) => ErrorKind::Internal,
            ServiceError::NotImplemented(_) => ErrorKind::Unavailable,
            ServiceError::Upstream(_) => ErrorKind::Unavailable,
            ServiceError::Unauthorized(_) => ErrorKind::Forbidden,
            ServiceError::Forbidden(_) => ErrorKind::Forbidden,
            ServiceError::Task(_) => ErrorKind::Internal,
            ServiceError::Shared(e) => e.kind(),
        }
    }
}

impl From<berth_types::ReferenceError> for ServiceError {
    fn from(e: berth_types::ReferenceError) -> Self {
        ServiceError::Invalid(e.to_string())
    }
}
