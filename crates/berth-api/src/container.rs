//! Container models: the create request (`Config` + `HostConfig` + `NetworkingConfig`) and the
//! `HostConfig` fields Berth acts on. Unknown fields are kept so `inspect` returns what was sent.

use crate::config::ContainerConfig;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// `RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `""`, `no`, `always`, `unless-stopped`, `on-failure`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub name: String,
    /// Retries for `on-failure`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub maximum_retry_count: i64,
}

/// One `--ulimit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    /// `nofile`, `nproc`, …
    pub name: String,
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// The `HostConfig` fields Berth reads. Everything else is preserved in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    /// `-v` binds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binds: Option<Vec<String>>,
    /// `--init`: a small init (docker-init) runs as PID 1, forwards signals and reaps zombies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// `--mount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<crate::mount::Mount>>,
    /// `--volume-driver`: the driver of the volumes the container's binds and mounts create.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub volume_driver: String,
    /// `--volumes-from CONTAINER[:ro|:rw]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes_from: Option<Vec<String>>,
    /// `-p`: `"80/tcp"` → host bindings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_bindings: Option<BTreeMap<String, Option<Vec<crate::network::PortBinding>>>>,
    /// `-P`: publish every exposed port on an ephemeral host port.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub publish_all_ports: bool,
    /// `--link name:alias` (default bridge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// `none`, `host`, `bridge`, `default`, `container:<id>`, or a network name.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub network_mode: String,
    /// Restart policy.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub restart_policy: RestartPolicy,
    /// `--rm`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub auto_remove: bool,
    /// `--privileged`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub privileged: bool,
    /// `--cap-add`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_add: Option<Vec<String>>,
    /// `--group-add`: more supplementary groups (names from the image's `/etc/group`, or ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_add: Option<Vec<String>>,
    /// `--cap-drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap_drop: Option<Vec<String>>,
    /// `--read-only`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub readonly_rootfs: bool,
    /// `--security-opt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_opt: Option<Vec<String>>,
    /// `--tmpfs`: path → options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `--ulimit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ulimits: Option<Vec<Ulimit>>,
    /// `--sysctl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    /// `--annotation` (API 1.43): annotations of the container's OCI spec.
    #[serde(default, skip_serializing_if = "crate::none_or_empty_map")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// `--shm-size` in bytes.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub shm_size: i64,
    /// `--pid`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub pid_mode: String,
    /// `--ipc`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub ipc_mode: String,
    /// `--uts`.
    #[serde(default, deserialize_with = "crate::nullable", rename = "UTSMode")]
    pub uts_mode: String,
    /// `--memory`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub memory: i64,
    /// `--memory-swap`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub memory_swap: i64,
    /// `--memory-reservation`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub memory_reservation: i64,
    /// `--cpus` × 1e9.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub nano_cpus: i64,
    /// `--cpu-shares`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub cpu_shares: i64,
    /// `--cpu-quota`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub cpu_quota: i64,
    /// `--cpu-period`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub cpu_period: i64,
    /// `--cpuset-cpus`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub cpuset_cpus: String,
    /// `--cpuset-mems`.
    #[serde(default, deserialize_with = "crate::nullable")]
    pub cpuset_mems: String,
    /// `--pids-limit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    /// `--oom-kill-disable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_kill_disable: Option<bool>,
    /// `--add-host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_hosts: Option<Vec<String>>,
    /// `--dns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<Vec<String>>,
    /// `--dns-search`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_search: Option<Vec<String>>,
    /// `--dns-option`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_options: Option<Vec<String>>,
    /// Everything else, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `NetworkingConfig` of container create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkingConfig {
    /// Network name → endpoint settings.
    #[serde(rename = "EndpointsConfig", default)]
    pub endpoints_config: Option<BTreeMap<String, Option<crate::network::EndpointSettings>>>,
}

/// `POST /containers/create` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateRequest {
    /// The container configuration (`Image`, `Cmd`, … at the top level).
    #[serde(flatten)]
    pub config: ContainerConfig,
    /// Host configuration.
    #[serde(rename = "HostConfig", default)]
    pub host_config: Option<HostConfig>,
    /// Networking configuration.
    #[serde(rename = "NetworkingConfig", default, skip_serializing_if = "Option::is_none")]
    pub networking_config: Option<NetworkingConfig>,
}
