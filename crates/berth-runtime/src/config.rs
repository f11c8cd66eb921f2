//! What the daemon decides about a container, in runtime terms. Serialised into the container's
//! directory so the shim (a separate process) reads exactly what the daemon decided.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a namespace is set up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum NamespaceMode {
    /// A new namespace for the container.
    #[default]
    Private,
    /// The host's namespace.
    Host,
    /// Join the namespace at this path (`/proc/PID/ns/net`).
    Path(String),
}

/// Seccomp choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum SeccompMode {
    /// Docker's default profile.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A Docker-format profile (JSON).
    Profile(serde_json::Value),
}

/// A bind or filesystem mount added to the container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Path inside the container.
    pub destination: String,
    /// `bind`, `tmpfs`, …
    pub kind: String,
    /// Host path or fs source.
    pub source: String,
    /// Mount options.
    pub options: Vec<String>,
}

/// A block device limit (`--device-read-bps` and friends, `--blkio-weight-device`): the device's
/// host path (resolved to major:minor when the spec is generated, at start) and the value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceLimit {
    /// The block device on the host (`/dev/vda`).
    pub path: String,
    /// Bytes or operations per second, or a weight.
    pub value: u64,
}

/// Resource limits (cgroups).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Memory + swap limit in bytes (-1 unlimited).
    pub memory_swap: Option<i64>,
    /// Memory reservation (soft limit).
    pub memory_reservation: Option<i64>,
    /// CPU shares (relative weight).
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
    /// CPUs allowed (`0-1`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed.
    pub cpuset_mems: Option<String>,
    /// Max number of tasks.
    pub pids_limit: Option<i64>,
    /// Disable the OOM killer.
    pub oom_kill_disable: Option<bool>,
    /// TCP buffer memory limit in bytes (cgroup v1 `memory.kmem.tcp.limit_in_bytes`; -1: none).
    #[serde(default)]
    pub kernel_memory_tcp: Option<i64>,
    /// Memory swappiness (0-100; None: the host's).
    #[serde(default)]
    pub memory_swappiness: Option<u64>,
    /// Block IO weight (10-1000).
    #[serde(default)]
    pub blkio_weight: Option<u16>,
    /// Per-device block IO weights.
    #[serde(default)]
    pub blkio_weight_device: Vec<DeviceLimit>,
    /// Read bytes per second, per device.
    #[serde(default)]
    pub blkio_read_bps: Vec<DeviceLimit>,
    /// Write bytes per second, per device.
    #[serde(default)]
    pub blkio_write_bps: Vec<DeviceLimit>,
    /// Read operations per second, per device.
    #[serde(default)]
    pub blkio_read_iops: Vec<DeviceLimit>,
    /// Write operations per second, per device.
    #[serde(default)]
    pub blkio_write_iops: Vec<DeviceLimit>,
    /// Real-time scheduler period in microseconds (cgroup v1 `cpu.rt_period_us`).
    #[serde(default)]
    pub cpu_realtime_period: Option<u64>,
    /// Real-time scheduler runtime in microseconds (cgroup v1 `cpu.rt_runtime_us`).
    #[serde(default)]
    pub cpu_realtime_runtime: Option<i64>,
}

/// Everything needed to generate the OCI spec of one container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    /// Container id.
    pub id: String,
    /// argv.
    pub args: Vec<String>,
    /// `KEY=value`.
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// `-u` as given (`name`, `uid`, `name:group`, `uid:gid`); resolved in the rootfs by the shim.
    pub user: String,
    /// Hostname.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// Close stdin when the first attached client detaches.
    pub stdin_once: bool,
    /// All capabilities, no seccomp, no masked paths, all devices.
    pub privileged: bool,
    /// Capabilities to add (`NET_ADMIN` or `CAP_NET_ADMIN`, `ALL`).
    pub cap_add: Vec<String>,
    /// Capabilities to drop.
    pub cap_drop: Vec<String>,
    /// Mount the rootfs read-only.
    pub readonly_rootfs: bool,
    /// Set no_new_privs.
    pub no_new_privileges: bool,
    /// Seccomp.
    pub seccomp: SeccompMode,
    /// Extra mounts (hostname/hosts/resolv.conf binds, volumes, tmpfs).
    pub mounts: Vec<MountSpec>,
    /// cgroup limits.
    pub resources: Resources,
    /// cgroup path (`/berth/<id>`).
    pub cgroups_path: String,
    /// Network namespace.
    pub network: NamespaceMode,
    /// PID namespace.
    pub pid: NamespaceMode,
    /// IPC namespace.
    pub ipc: NamespaceMode,
    /// UTS namespace.
    pub uts: NamespaceMode,
    /// `RLIMIT_*` name → (soft, hard).
    pub ulimits: BTreeMap<String, (u64, u64)>,
    /// Namespaced sysctls.
    pub sysctls: BTreeMap<String, String>,
    /// Size of /dev/shm in bytes.
    pub shm_size: u64,
    /// Rotate the json-file log when it reaches this many bytes (0: the default, 10 MB).
    #[serde(default)]
    pub log_max_size: u64,
    /// Keep this many log files in all (0: the default, 3).
    #[serde(default)]
    pub log_max_files: u32,
    /// `--device`s, resolved on the host when the spec is generated (at start).
    #[serde(default)]
    pub devices: Vec<crate::devices::DeviceMapping>,
    /// `--log-driver none`: the shim keeps no log (output still reaches attached clients).
    #[serde(default)]
    pub no_log: bool,
    /// Create Docker's empty `/.dockerenv` (containers, not build steps).
    #[serde(default)]
    pub dockerenv: bool,
    /// `--group-add`: supplementary groups added to the user's (names or ids).
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `--log-driver k8s-file`: the log is written in the kubelet's CRI format to this file
    /// instead of the json-file log (`path` log option; the CRI's log_directory/log_path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cri_log_path: Option<std::path::PathBuf>,
    /// Compress rotated log files with gzip (`compress` of the `local` and json-file drivers).
    #[serde(default)]
    pub log_compress: bool,
    /// Where each log line also goes (`syslog`, `journald`); the file is then the local copy
    /// `docker logs` reads (dockerd's dual logging), unless `no_log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_sink: Option<LogSink>,
    /// `--oom-score-adj` of the container's processes (-1000..1000).
    #[serde(default)]
    pub oom_score_adj: Option<i32>,
    /// `--cgroupns host`: no cgroup namespace of its own.
    #[serde(default)]
    pub cgroupns_host: bool,
    /// `HostConfig.MaskedPaths` as sent (None: Docker's defaults; `[]`: none, as
    /// `--security-opt systempaths=unconfined` asks).
    #[serde(default)]
    pub masked_paths: Option<Vec<String>>,
    /// `HostConfig.ReadonlyPaths` as sent (None: Docker's defaults).
    #[serde(default)]
    pub readonly_paths: Option<Vec<String>>,
    /// `--device-cgroup-rule`s (`HostConfig.DeviceCgroupRules`): cgroup device rules added to
    /// Docker's defaults, as `TYPE MAJOR:MINOR ACCESS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    /// `HostConfig.Annotations` (`--annotation`): the OCI spec's annotations, for the runtime and
    /// its hooks, as dockerd passes them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// `--security-opt apparmor=PROFILE`: applied when the host has AppArmor enabled.
    #[serde(default)]
    pub apparmor_profile: Option<String>,
    /// `--userns-remap`: the container gets a user namespace with these maps, and sees its image
    /// layers through idmapped mounts (None: the host's user namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<crate::idmap::IdMappings>,
    /// A CRI pod's container: the user namespace it joins (`/proc/<sandbox>/ns/user`, whose maps
    /// are `userns`) instead of making one of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_path: Option<String>,
    /// How the supplementary groups are made (CRI's `SupplementalGroupsPolicy`, else Docker's).
    #[serde(default)]
    pub groups_policy: crate::user::GroupsPolicy,
}

/// An `exec` in a running container, as the daemon decided it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecConfig {
    /// argv.
    pub args: Vec<String>,
    /// Environment (the container's, plus `-e`).
    pub env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// `-u` as given; resolved in the container's root filesystem.
    pub user: String,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// All capabilities.
    pub privileged: bool,
    /// The container's own capability set (used when not privileged).
    pub capabilities: Vec<String>,
    /// no_new_privs, as the container has it.
    pub no_new_privileges: bool,
    /// The container's `--group-add`.
    #[serde(default)]
    pub group_add: Vec<String>,
    /// The container's supplementary groups policy.
    #[serde(default)]
    pub groups_policy: crate::user::GroupsPolicy,
}

/// A log driver that sends each line somewhere outside the container's directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSink {
    /// dockerd's `syslog` driver.
    Syslog(SyslogSink),
    /// dockerd's `journald` driver.
    Journald(JournaldSink),
}

/// `--log-driver syslog`, resolved by the daemon from the log options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyslogSink {
    /// `unix`, `unixgram`, `udp`, `tcp`; empty: the host's local syslog socket (`/dev/log`, …).
    pub network: String,
    /// Socket path or `host:port`.
    pub address: String,
    /// Facility number shifted into place (`LOG_DAEMON` = 3 << 3 by default).
    pub facility: u8,
    /// The resolved `tag` (by default the short container id).
    pub tag: String,
    /// Message format.
    pub format: SyslogFormat,
    /// The host's name (in the RFC 3164 and 5424 formats).
    pub hostname: String,
}

/// `syslog-format`, with the formats of the srslog library dockerd uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    /// No option: `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG` (srslog's UnixFormatter).
    Unix,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`.
    Rfc3164,
    /// `<PRI>1 RFC3339-TIME HOST TAG PID TAG - MSG`.
    Rfc5424,
    /// As rfc5424, with microseconds in the time.
    Rfc5424Micro,
}

/// `--log-driver journald`: the fields every entry carries, and the journal's socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournaldSink {
    /// The native protocol's datagram socket (`/run/systemd/journal/socket`).
    pub socket: std::path::PathBuf,
    /// CONTAINER_ID, CONTAINER_ID_FULL, CONTAINER_NAME, CONTAINER_TAG, IMAGE_NAME,
    /// SYSLOG_IDENTIFIER and the `labels`/`env` attributes asked for.
    pub fields: BTreeMap<String, String>,
}
