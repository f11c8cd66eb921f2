//! Containers: records, names, lifecycle (create, start, stop, kill, wait, remove), logs, and
//! reconnection to running containers' shims after a daemon restart.
//!
//! On-disk layout (under the data root):
//! ```text
//! containers/<id>/
//!   container.json     the record: config, host config, state (atomic, versioned)
//!   runtime.json       RuntimeConfig for the shim     (see berth-shim for the shim's own files)
//!   mounts.json        root filesystem mounts
//!   hostname hosts resolv.conf
//! runtime/             libcontainer state (per container, removed by the shim)
//! snapshots/           overlay snapshotter (image layers by chain id, one rw snapshot per container)
//! ```

mod archive;
mod commit;
mod create;
mod defaults;
mod exec;
mod health;
mod hostcfg;
mod lifecycle;
mod links;
mod logdriver;
mod logs;
mod mounts;
mod net;
mod names;
mod ops;
mod record;
mod stats;
mod update;
mod view;

pub use defaults::ContainerDefaults;
pub use hostcfg::{cgroup_name, check_extra_host, kernel_memory_tcp, validate_resources};
pub use logdriver::{validate as validate_log_opts, JOURNALD_SOCKET, LOG_DRIVERS};

pub use commit::CommitOptions;
pub use update::{update_warnings, UpdateRequest};
pub use exec::{Exec, ExecRequest};
pub use logs::{check_readable as check_logs_readable, frame, LogOptions};
pub use mounts::MountRecord;
pub use names::valid as valid_name;
pub use net::{is_bridge_mode, netns_mode, StepNetwork};
pub use record::{ContainerRecord, PodSettings, Status};
pub(crate) use lifecycle::reap_orphaned;

use super::ServiceError;
use super::networks::NetworkService;
use super::volumes::VolumeService;
use crate::events::EventBus;
use berth_image::ImageStore;
use berth_snapshot::OverlaySnapshotter;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Where distributions put a static init for `--init` (dockerd's docker-init is tini-static).
const INIT_PATHS: [&str; 5] = ["/usr/libexec/docker/docker-init", "/usr/bin/docker-init", "/usr/sbin/docker-init", "/usr/bin/tini-static", "/sbin/tini-static"];

/// What waiters watch: the status and how many times the container has exited so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Current status.
    pub status: Status,
    /// Exit code of the last exit.
    pub exit_code: i64,
    /// Exits so far (`next-exit` waits for this to grow).
    pub exits: u64,
    /// The container has been removed.
    pub removed: bool,
    /// Error recorded with the last exit.
    pub error: Option<String>,
}

/// One container in memory: its record and the channel its state changes are published on.
pub struct Handle {
    record: Mutex<ContainerRecord>,
    /// Serialises `save`s of this record: held across the disk write, which `record` is not (so
    /// `ps`, `inspect` and the other readers never wait for an fsync).
    persist: Mutex<()>,
    observed: watch::Sender<Observed>,
    /// Serialises lifecycle operations (start/stop/remove) on this container.
    op: tokio::sync::Mutex<()>,
    /// Attach clients waiting for the container to start (connected to the shim on start).
    pending_attach: Mutex<Vec<lifecycle::PendingAttach>>,
    /// Set while the user stops the container, so restart policies do not restart it.
    stopping: std::sync::atomic::AtomicBool,
    /// Set while `restart` stops the container: an auto-remove container is kept for the start.
    restarting: std::sync::atomic::AtomicBool,
    /// Set from an exit to the start its restart policy schedules after the back-off: the container
    /// counts as restarting, as dockerd's does (`stop` cancels the restart, `rm` wants `force`).
    restart_due: std::sync::atomic::AtomicBool,
    /// Set by a `kill` that stops the container by hand (dockerd's `ExitOnNext`): its restart
    /// policy does not restart it after its next exit. Cleared when it is started by hand.
    exit_on_next: std::sync::atomic::AtomicBool,
    /// The restart policy's current back-off in milliseconds (0: none yet), as dockerd's restart
    /// manager keeps it: doubled at each restart up to a minute, back to 100 ms after a run of 10 s.
    backoff_ms: std::sync::atomic::AtomicU64,
    /// Health-check state while it runs with a check.
    health: Mutex<Option<health::Health>>,
}

impl Handle {
    /// A copy of the record.
    pub fn snapshot(&self) -> ContainerRecord {
        self.record.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// Reads the record in place (no copy): for listing many containers.
    pub fn with_record<R>(&self, f: impl FnOnce(&ContainerRecord) -> R) -> R {
        f(&self.record.lock().unwrap_or_else(|p| p.into_inner()))
    }
    /// The health-check state, if the container runs with a check.
    pub fn health(&self) -> Option<health::Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Between an exit and the start its restart policy schedules (the back-off).
    pub fn restart_pending(&self) -> bool {
        self.restart_due.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A receiver of state changes.
    pub fn watch(&self) -> watch::Receiver<Observed> {
        self.observed.subscribe()
    }
}

/// The container service.
pub struct ContainerService {
    root: PathBuf,
    images: Arc<ImageStore>,
    snapshots: Arc<OverlaySnapshotter>,
    events: Arc<EventBus>,
    containers: Mutex<HashMap<String, Arc<Handle>>>,
    names: Mutex<BTreeMap<String, String>>,
    execs: Mutex<HashMap<String, Arc<exec::Exec>>>,
    /// The executable to start shims from (`berth shim`).
    shim_exe: PathBuf,
    /// Volumes containers mount.
    volumes: Arc<VolumeService>,
    /// Networks containers attach to.
    networks: Arc<NetworkService>,
    /// The static init binary for `--init` (Docker's docker-init, i.e. tini).
    init_path: Option<PathBuf>,
    /// Log driver, log options and ulimits of containers that do not set their own.
    defaults: ContainerDefaults,
    /// Create and commit hold a lease while they make snapshots and blobs.
    leases: Arc<super::gc::lease::Leases>,
}

impl ContainerService {
    /// Loads every container record under `root` and reconnects to running containers.
    #[allow(clippy::too_many_arguments)] // the stores and settings it is wired to at start-up, once
    pub fn open(root: &Path, images: Arc<ImageStore>, volumes: Arc<VolumeService>, networks: Arc<NetworkService>,
        events: Arc<EventBus>,
        init_path: Option<PathBuf>,
        defaults: ContainerDefaults,
        leases: Arc<super::gc::lease::Leases>,
    ) -> Result<Arc<ContainerService>, ServiceError> {
        let dir = root.join("containers");
        std::fs::create_dir_all(&dir).map_err(|e| ServiceError::Internal(format!("create {}: {e}", dir.display())))?;
        let snapshots = Arc::new(
            OverlaySnapshotter::open(root.join("snapshots")).map_err(|e| ServiceError::Internal(format!("opening snapshots: {e}")))?,
        );
        let shim_exe = std::env::current_exe().map_err(|e| ServiceError::Internal(format!("locating the berth executable: {e}")))?;
        let svc = Arc::new(ContainerService {
            root: root.to_path_buf(),
            images,
            snapshots,
            events,
            containers: Mutex::new(HashMap::new()),
            names: Mutex::new(BTreeMap::new()),
            execs: Mutex::new(HashMap::new()),
            shim_exe,
            volumes,
            networks,
            init_path: init_path.or_else(|| INIT_PATHS.iter().map(PathBuf::from).find(|p| p.is_file())),
            defaults,
            leases,
        });
        // Shims a dead daemon started: of running containers (reconnected), or of starts it never
        // recorded (rolled back by `recover`).
        let shims = super::recovery::shims(root);
        for entry in std::fs::read_dir(&dir).map_err(|e| ServiceError::Internal(format!("list {}: {e}", dir.display())))?.flatten() {
            // A removal that was under way: its record is gone, finish it.
            if entry.file_name().to_string_lossy().starts_with(lifecycle::REMOVING_PREFIX) {
                if let Err(e) = berth_types::teardown::remove_tree(entry.path()) {
                    tracing::warn!(path = %entry.path().display(), error = %e, "finishing a container removal failed");
                }
                continue;
            }
            if !entry.path().join("container.json").exists() {
                // Never finished `create`: the start-up collection reaps it (gc::orphans).
                continue;
            }
            match record::load(&entry.path()) {
                Ok(rec) => {
                    svc.names.lock().unwrap_or_else(|p| p.into_inner()).insert(rec.name.clone(), rec.id.clone());
                    let shim = shims.iter().find(|s| s.dir == entry.path()).cloned();
                    let h = svc.insert(rec);
                    lifecycle::recover(&svc, h, shim);
                }
                Err(e) => tracing::warn!(path = %entry.path().display(), error = %e, "skipping unreadable container record"),
            }
        }
        Ok(svc)
    }

    fn insert(&self, rec: ContainerRecord) -> Arc<Handle> {
        let obs = Observed { status: rec.state.status, exit_code: rec.state.exit_code, exits: 0, removed: false, error: None };
        let id = rec.id.clone();
        let h = Arc::new(Handle {
            record: Mutex::new(rec),
            persist: Mutex::new(()),
            observed: watch::channel(obs).0,
            op: tokio::sync::Mutex::new(()),
            pending_attach: Mutex::new(Vec::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            restarting: std::sync::atomic::AtomicBool::new(false),
            restart_due: std::sync::atomic::AtomicBool::new(false),
            exit_on_next: std::sync::atomic::AtomicBool::new(false),
            backoff_ms: std::sync::atomic::AtomicU64::new(0),
            health: Mutex::new(None),
        });
        self.containers.lock().unwrap_or_else(|p| p.into_inner()).insert(id, h.clone());
        h
    }

    /// The snapshotter containers (and builds) use.
    pub fn snapshots(&self) -> Arc<OverlaySnapshotter> {
        self.snapshots.clone()
    }

    /// The `berth` executable shims are started from.
    pub fn shim_exe(&self) -> &Path {
        &self.shim_exe
    }

    /// The daemon's `--userns-remap` maps (None: containers share the host's user namespace).
    pub fn userns_remap(&self) -> Option<&berth_runtime::idmap::IdMappings> {
        self.defaults.userns_remap.as_ref()
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Arc<Handle>, ServiceError> {
        let map = self.containers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = map.get(name_or_id) {
            return Ok(h.clone());
        }
        let name = name_or_id.trim_start_matches('/');
        if let Some(id) = self.names.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            if let Some(h) = map.get(id) {
                return Ok(h.clone());
            }
        }
        if !name_or_id.is_empty() && name_or_id.bytes().all(|c| c.is_ascii_hexdigit()) {
            let hits: Vec<&Arc<Handle>> = map.iter().filter(|(k, _)| k.starts_with(name_or_id)).map(|(_, v)| v).collect();
            match hits.len() {
                1 => return Ok(hits[0].clone()),
                n if n > 1 => return Err(ServiceError::Invalid(format!("multiple IDs found with provided prefix: {name_or_id}"))),
                _ => {}
            }
        }
        Err(ServiceError::NotFound(format!("No such container: {name_or_id}")))
    }

    /// Every container.
    pub fn all(&self) -> Vec<Arc<Handle>> {
        self.containers.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// The containers (id, running) created from each image id.
    pub fn image_users(&self) -> HashMap<String, Vec<(String, bool)>> {
        let mut m: HashMap<String, Vec<(String, bool)>> = HashMap::new();
        for h in self.all() {
            let r = h.snapshot();
            let running = matches!(r.state.status, Status::Running | Status::Paused | Status::Restarting);
            m.entry(r.image).or_default().push((r.id, running));
        }
        m
    }

    fn event(&self, rec: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = rec.config.labels.clone().unwrap_or_default();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.image_name.clone());
        for (k, v) in extra {
            attrs.insert(k.to_string(), v.clone());
        }
        self.events.publish("container", action, &rec.id, attrs);
    }

    /// Changes the record in memory only (what `ps` and `inspect` show, and waiters see) — for a
    /// state a crash may forget, such as a plain removal under way.
    fn show(&self, h: &Handle, f: impl FnOnce(&mut ContainerRecord)) -> ContainerRecord {
        let _writer = h.persist.lock().unwrap_or_else(|p| p.into_inner());
        let rec = {
            let mut r = h.record.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut r);
            r.clone()
        };
        h.observed.send_modify(|o| o.status = rec.state.status);
        rec
    }

    /// Changes the record as `f` says and persists it. Readers (`ps`, `inspect`) see the change
    /// from the start of the write and never wait for its fsync (it is undone if the write fails);
    /// waiters are told once it is on disk. Saves of one container run one at a time.
    fn save(&self, h: &Handle, f: impl FnOnce(&mut ContainerRecord)) -> Result<ContainerRecord, ServiceError> {
        let _writer = h.persist.lock().unwrap_or_else(|p| p.into_inner());
        let before = h.snapshot();
        let mut rec = before.clone();
        f(&mut rec);
        *h.record.lock().unwrap_or_else(|p| p.into_inner()) = rec.clone();
        // An fsync: callers are often async lifecycle code holding the container's lock.
        if let Err(e) = super::offload::inline(|| record::store(&self.dir(&rec.id), &rec)) {
            *h.record.lock().unwrap_or_else(|p| p.into_inner()) = before;
            return Err(ServiceError::Internal(format!("saving container state: {e}")));
        }
        h.observed.send_modify(|o| {
            if o.status == Status::Running && rec.state.status != Status::Running && rec.state.status != Status::Paused {
                o.exits += 1;
            }
            o.status = rec.state.status;
            o.exit_code = rec.state.exit_code;
            o.error = (!rec.state.error.is_empty()).then(|| rec.state.error.clone());
        });
        Ok(rec)
    }
}
