//! The persisted container record (`container.json`, written atomically, versioned).

use berth_api::config::ContainerConfig;
use berth_api::container::HostConfig;
use serde::{Deserialize, Serialize};
use std::path::Path;

const FORMAT_VERSION: u32 = 1;

/// Docker's container states, matched exhaustively wherever a decision depends on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started (or prepared again).
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Frozen.
    Paused,
    /// Being restarted by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Its process exited.
    Exited,
    /// Could not be cleaned up.
    Dead,
}

impl Status {
    /// Docker's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// The runtime state of a container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Status.
    pub status: Status,
    /// Init pid while running (0 otherwise).
    pub pid: i32,
    /// Exit code of the last run.
    pub exit_code: i64,
    /// Start failure or runtime error.
    pub error: String,
    /// OOM-killed on its last exit.
    pub oom_killed: bool,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339.
    pub finished_at: String,
    /// Restarts made by the restart policy.
    pub restart_count: i64,
    /// Stopped by the user (`unless-stopped` then stays stopped across daemon restarts).
    #[serde(default)]
    pub manually_stopped: bool,
}

/// Everything Berth keeps about a container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerRecord {
    /// Format version.
    pub version: u32,
    /// 64-hex id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// RFC 3339.
    pub created: String,
    /// Image id (`sha256:…`).
    pub image: String,
    /// The image as the user named it.
    pub image_name: String,
    /// argv[0].
    pub path: String,
    /// argv[1..].
    pub args: Vec<String>,
    /// Merged container configuration.
    pub config: ContainerConfig,
    /// Host configuration as sent.
    pub host_config: HostConfig,
    /// Runtime state.
    pub state: State,
    /// Snapshot key of the writable layer.
    pub snapshot: String,
    /// Volumes, binds and tmpfs mounts, resolved at create.
    #[serde(default)]
    pub mounts: Vec<super::mounts::MountRecord>,
    /// Networks it is configured on, with their addresses while it runs.
    #[serde(default)]
    pub network: crate::service::networks::endpoint::NetworkState,
    /// Set with `Status::Removing` by `rm -v`: its anonymous volumes go with it, also when the
    /// removal is finished by the next daemon after a crash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove_volumes: bool,
    /// What a CRI pod's sandbox or container has that the Docker API has no field for.
    #[serde(default, skip_serializing_if = "PodSettings::is_default")]
    pub pod: PodSettings,
}

/// Settings of the containers the CRI makes (`berth_cri`), which the Docker API cannot express:
/// given at create ([`super::ContainerService::create_for_pod`]) and kept in the record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PodSettings {
    /// The pod's user namespace maps (CRI `userns_options` mode POD): the container runs in a
    /// user namespace with them and sees its image layers through idmapped mounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<berth_runtime::idmap::IdMappings>,
    /// The container (the pod's sandbox) whose user namespace this one joins; it must run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_from: Option<String>,
    /// How the supplementary groups are made (CRI `SupplementalGroupsPolicy`).
    #[serde(default)]
    pub groups_policy: berth_runtime::user::GroupsPolicy,
}

impl PodSettings {
    fn is_default(&self) -> bool {
        *self == PodSettings::default()
    }
}

impl ContainerRecord {
    /// A new record.
    pub fn new(id: String, name: String, image: String, image_name: String, config: ContainerConfig, host_config: HostConfig) -> Self {
        let argv: Vec<String> = config.entrypoint.clone().unwrap_or_default().into_iter().chain(config.cmd.clone().unwrap_or_default()).collect();
        ContainerRecord {
            version: FORMAT_VERSION,
            snapshot: id.clone(),
            id,
            name,
            created: berth_image::store::now_rfc3339(),
            image,
            image_name,
            path: argv.first().cloned().unwrap_or_default(),
            args: argv.iter().skip(1).cloned().collect(),
            config,
            host_config,
            state: State::default(),
            mounts: vec![],
            network: Default::default(),
            remove_volumes: false,
            pod: PodSettings::default(),
        }
    }
}

/// Reads `<dir>/container.json`.
pub fn load(dir: &Path) -> Result<ContainerRecord, String> {
    let p = dir.join("container.json");
    let bytes = std::fs::read(&p).map_err(|e| format!("read {}: {e}", p.display()))?;
    let rec: ContainerRecord = serde_json::from_slice(&bytes).map_err(|e| format!("parse {}: {e}", p.display()))?;
    if rec.version > FORMAT_VERSION {
        return Err(format!("{} has format {} newer than this berth understands", p.display(), rec.version));
    }
    Ok(rec)
}

/// Writes `<dir>/container.json` atomically.
pub fn store(dir: &Path, rec: &ContainerRecord) -> std::io::Result<()> {
    berth_types::persist::atomic_write_json(&dir.join("container.json"), rec)
}
