//! What CRI keeps about its objects, stored in the labels of the Berth container that is the
//! sandbox or container (so the container record is the one persisted source of truth):
//!
//! | label | on | value |
//! |---|---|---|
//! | `io.berth.cri.kind` | both | `sandbox` or `container` |
//! | `io.berth.cri.metadata` | both | JSON of the CRI metadata (name, uid, namespace, attempt) |
//! | `io.berth.cri.labels` / `io.berth.cri.annotations` | both | JSON maps, returned unaltered |
//! | `io.berth.cri.sandbox` | container | the sandbox's id |
//! | `io.berth.cri.log-directory` | sandbox | `PodSandboxConfig.log_directory` |
//! | `io.berth.cri.log-path` | container | the absolute log path (log_directory/log_path) |
//! | `io.berth.cri.namespaces` | sandbox | JSON `{network, pid, ipc}` as CRI `NamespaceMode` numbers |
//! | `io.berth.cri.image` | container | the image as CRI named it |
//! | `io.berth.cri.mounts` | container | JSON of the CRI mounts, for `ContainerStatus` |
//! | `io.berth.cri.pod-resources` | sandbox | JSON of `LinuxPodSandboxConfig.resources` and `overhead` |
//! | `io.berth.cri.stopped` | sandbox | set once `StopPodSandbox` ran (a NOTREADY sandbox stays so) |
//!
//! Docker clients see these containers too (`docker ps` lists them, as with dockershim), named
//! `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>` and `k8s_POD_<pod>_…` for the sandbox.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Which CRI object a Berth container is.
pub const KIND: &str = "io.berth.cri.kind";
/// CRI metadata (JSON).
pub const METADATA: &str = "io.berth.cri.metadata";
/// CRI labels (JSON map).
pub const LABELS: &str = "io.berth.cri.labels";
/// CRI annotations (JSON map).
pub const ANNOTATIONS: &str = "io.berth.cri.annotations";
/// The sandbox a container belongs to.
pub const SANDBOX: &str = "io.berth.cri.sandbox";
/// The sandbox's log directory.
pub const LOG_DIRECTORY: &str = "io.berth.cri.log-directory";
/// A container's log file.
pub const LOG_PATH: &str = "io.berth.cri.log-path";
/// The sandbox's namespace modes (JSON).
pub const NAMESPACES: &str = "io.berth.cri.namespaces";
/// The image as CRI named it.
pub const IMAGE: &str = "io.berth.cri.image";
/// A container's CRI mounts (JSON).
pub const MOUNTS: &str = "io.berth.cri.mounts";
/// A sandbox's pod resources and overhead as the kubelet gave them (JSON).
pub const POD_RESOURCES: &str = "io.berth.cri.pod-resources";
/// A sandbox's runtime handler.
pub const HANDLER: &str = "io.berth.cri.runtime-handler";

/// `KIND` of a sandbox.
pub const KIND_SANDBOX: &str = "sandbox";
/// `KIND` of a container.
pub const KIND_CONTAINER: &str = "container";

/// CRI metadata of a sandbox or container (containers leave `uid` and `namespace` empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Name.
    pub name: String,
    /// Pod uid (sandbox).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// Pod namespace (sandbox).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Attempt.
    pub attempt: u32,
}

/// The namespace modes of a sandbox, as CRI `NamespaceMode` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Namespaces {
    /// Network.
    pub network: i32,
    /// PID.
    pub pid: i32,
    /// IPC.
    pub ipc: i32,
}

/// A CRI mount as `ContainerStatus` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MountInfo {
    /// In the container.
    pub container_path: String,
    /// On the host.
    pub host_path: String,
    /// Read-only.
    pub readonly: bool,
    /// CRI `MountPropagation`.
    pub propagation: i32,
    /// SELinux relabel asked for.
    #[serde(default)]
    pub selinux_relabel: bool,
    /// Recursively read-only.
    #[serde(default)]
    pub recursive_read_only: bool,
}

/// The limits of a CRI `LinuxContainerResources` that a pod's resources and overhead carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// CFS period.
    pub cpu_period: i64,
    /// CFS quota.
    pub cpu_quota: i64,
    /// CPU shares.
    pub cpu_shares: i64,
    /// Memory limit.
    pub memory_limit_in_bytes: i64,
}

impl Limits {
    fn of(r: &crate::proto::LinuxContainerResources) -> Limits {
        Limits { cpu_period: r.cpu_period, cpu_quota: r.cpu_quota, cpu_shares: r.cpu_shares, memory_limit_in_bytes: r.memory_limit_in_bytes }
    }
}

/// `LinuxPodSandboxConfig.resources` and `overhead`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PodResources {
    /// The sum of the pod's container resources.
    pub resources: Option<Limits>,
    /// The pod's overhead.
    pub overhead: Option<Limits>,
}

impl PodResources {
    /// From the CRI config.
    pub fn of(resources: Option<&crate::proto::LinuxContainerResources>, overhead: Option<&crate::proto::LinuxContainerResources>) -> PodResources {
        PodResources { resources: resources.map(Limits::of), overhead: overhead.map(Limits::of) }
    }
}

/// A JSON-encoded label value.
pub fn encode<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Decodes a JSON label, or the default when absent or malformed (labels are written only by
/// this crate; a hand-edited record must not make listing fail).
pub fn decode<T: for<'de> Deserialize<'de> + Default>(labels: &BTreeMap<String, String>, key: &str) -> T {
    labels.get(key).and_then(|v| serde_json::from_str(v).ok()).unwrap_or_default()
}

/// The CRI labels or annotations stored under `key`.
pub fn map(labels: &BTreeMap<String, String>, key: &str) -> HashMap<String, String> {
    decode::<HashMap<String, String>>(labels, key)
}

/// True when every `selector` pair is among `labels` (CRI's MatchLabels).
pub fn selected(labels: &HashMap<String, String>, selector: &HashMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A Docker-valid name part: CRI names are DNS labels, but the runtime must not trust that.
fn part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') { c } else { '-' }).collect()
}

/// The Berth container name of a sandbox (dockershim's scheme: unique per pod and attempt).
pub fn sandbox_name(m: &Metadata) -> String {
    format!("k8s_POD_{}_{}_{}_{}", part(&m.name), part(&m.namespace), part(&m.uid), m.attempt)
}

/// The Berth container name of a container in the sandbox with metadata `pod`.
pub fn container_name(c: &Metadata, pod: &Metadata) -> String {
    format!("k8s_{}_{}_{}_{}_{}", part(&c.name), part(&pod.name), part(&pod.namespace), part(&pod.uid), c.attempt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_docker_valid_and_distinct_per_attempt() {
        let pod = Metadata { name: "web".into(), uid: "a1-b2".into(), namespace: "default".into(), attempt: 0 };
        let n = sandbox_name(&pod);
        assert_eq!(n, "k8s_POD_web_default_a1-b2_0");
        assert!(berth_daemon::service::containers::valid_name(&n));
        let c0 = container_name(&Metadata { name: "app/x".into(), attempt: 0, ..Default::default() }, &pod);
        let c1 = container_name(&Metadata { name: "app/x".into(), attempt: 1, ..Default::default() }, &pod);
        assert_ne!(c0, c1);
        assert!(berth_daemon::service::containers::valid_name(&c0));
    }

    #[test]
    fn selector_matches_subsets_only() {
        let labels: HashMap<String, String> = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        assert!(selected(&labels, &HashMap::new()));
        assert!(selected(&labels, &[("a".into(), "1".into())].into()));
        assert!(!selected(&labels, &[("a".into(), "2".into())].into()));
        assert!(!selected(&labels, &[("c".into(), "1".into())].into()));
    }
}
