//! Pod user namespaces (CRI `NamespaceOption.userns_options`) and supplementary group policies.
//!
//! A pod with `userns_options` mode `POD` runs its sandbox in a user namespace with the maps the
//! kubelet chose, and every container of the pod joins that namespace (`/proc/<sandbox>/ns/user`),
//! so the pod's namespaces (IPC, UTS, PID) belong to the pod's root, as with containerd. The
//! image layers are seen through idmapped mounts made with the same maps (the Docker side's
//! `--userns-remap` machinery, `berth_runtime::idmapped`). The maps are checked as containerd
//! checks them (one range each, container id 0 first, the same size for uids and gids), with its
//! messages.

use crate::error::invalid;
use crate::proto::*;
use berth_runtime::idmap::{IdMappings, IdRange};
use berth_runtime::user::GroupsPolicy;

fn mode_name(mode: i32) -> String {
    NamespaceMode::try_from(mode).map(|m| m.as_str_name().to_string()).unwrap_or_else(|_| mode.to_string())
}

/// One CRI map (containerd's `parseUsernsIDMap`: a single line, of a non-zero length).
fn range(which: &str, maps: &[IdMapping]) -> Result<Option<IdRange>, tonic::Status> {
    let bad = |m: String| invalid(format!("user namespace configuration: {which} mapping: {m}"));
    match maps {
        [] => Ok(None),
        [m] => {
            if m.length < 1 {
                return Err(bad(format!("invalid mapping length: {}", m.length)));
            }
            if m.host_id.checked_add(m.length - 1).is_none() || m.container_id.checked_add(m.length - 1).is_none() {
                return Err(bad(format!("the range {}+{} overflows the 32-bit ids", m.host_id, m.length)));
            }
            Ok(Some(IdRange { container_id: m.container_id, host_id: m.host_id, size: m.length }))
        }
        _ => Err(bad(format!("only one mapping line supported, got {} mapping lines", maps.len()))),
    }
}

/// The pod's user namespace maps: None for the host's (no options, or mode `NODE`), the maps for
/// mode `POD`; any other mode, or maps Berth cannot set up, is refused.
pub(crate) fn maps(ns: &NamespaceOption) -> Result<Option<IdMappings>, tonic::Status> {
    let Some(u) = &ns.userns_options else { return Ok(None) };
    let uids = range("UID", &u.uids)?;
    let gids = range("GID", &u.gids)?;
    let mode = mode_name(u.mode);
    match NamespaceMode::try_from(u.mode) {
        Ok(NamespaceMode::Node) => {
            if uids.is_some() || gids.is_some() {
                return Err(invalid(format!(
                    "user namespace configuration: can't use user namespace mode {mode:?} with mappings. Got {} UID mappings and {} GID mappings",
                    u.uids.len(),
                    u.gids.len()
                )));
            }
            Ok(None)
        }
        Ok(NamespaceMode::Pod) => {
            let (Some(uids), Some(gids)) = (uids, gids) else {
                return Err(invalid(format!("user namespace configuration: can't use user namespace mode {mode:?} without UID and GID mappings")));
            };
            // The pod's root is what the image layers' root is idmapped to, and what owns the
            // pod's files: it must be mapped (containerd's remapped snapshots start at 0 too).
            for (which, r) in [("UID", &uids), ("GID", &gids)] {
                if r.container_id != 0 {
                    return Err(invalid(format!(
                        "user namespace configuration: {which} mapping: container ID 0 must be mapped, the mapping starts at container ID {}",
                        r.container_id
                    )));
                }
            }
            if uids.size != gids.size {
                return Err(invalid(format!(
                    "user namespace configuration: the UID and GID mappings must have the same length, got {} and {}",
                    uids.size, gids.size
                )));
            }
            if ns.network == NamespaceMode::Node as i32 || ns.pid == NamespaceMode::Node as i32 || ns.ipc == NamespaceMode::Node as i32 {
                return Err(invalid("user namespace configuration: a pod in a user namespace cannot use the host's network, PID or IPC namespace"));
            }
            Ok(Some(IdMappings { uids: vec![uids], gids: vec![gids] }))
        }
        _ => Err(invalid(format!("user namespace configuration: unsupported user namespace mode: {mode:?}"))),
    }
}

/// A container's user namespace options must be its sandbox's (containerd's `sameUsernsConfig`).
pub(crate) fn check_same(sandbox: Option<&IdMappings>, ns: &NamespaceOption) -> Result<(), tonic::Status> {
    let mine = maps(ns)?;
    if mine.as_ref() != sandbox {
        let show = |m: Option<&IdMappings>| match m {
            Some(m) => format!("POD uids {:?} gids {:?}", m.uids, m.gids),
            None => "NODE".to_string(),
        };
        return Err(invalid(format!(
            "user namespace config for sandbox is different from container. Sandbox userns config: {} - Container userns config: {}",
            show(sandbox),
            show(mine.as_ref())
        )));
    }
    Ok(())
}

/// The supplementary groups policy of a CRI security context (Merge is the default).
pub(crate) fn groups_policy(p: i32) -> Result<GroupsPolicy, tonic::Status> {
    match SupplementalGroupsPolicy::try_from(p) {
        Ok(SupplementalGroupsPolicy::Merge) => Ok(GroupsPolicy::Merge),
        Ok(SupplementalGroupsPolicy::Strict) => Ok(GroupsPolicy::Strict),
        Err(_) => Err(invalid(format!("unknown supplemental_groups_policy {p}"))),
    }
}

/// The CRI `UserNamespace` of maps, as `PodSandboxStatus` reports it.
pub(crate) fn options(maps: Option<&IdMappings>) -> UserNamespace {
    let list = |r: &[IdRange]| r.iter().map(|r| IdMapping { host_id: r.host_id, container_id: r.container_id, length: r.size }).collect();
    match maps {
        Some(m) => UserNamespace { mode: NamespaceMode::Pod as i32, uids: list(&m.uids), gids: list(&m.gids) },
        None => UserNamespace { mode: NamespaceMode::Node as i32, ..Default::default() },
    }
}

/// `ContainerStatus.user`: the identity the container's first process was started with, as the
/// shim resolved it into the OCI spec it ran (`config.json` in the container's directory): its
/// uid and gid, and its supplementary groups with the primary group among them, sorted (as
/// containerd reports them). None before the container first started.
pub(crate) fn process_user(spec: &[u8]) -> Option<ContainerUser> {
    let v: serde_json::Value = serde_json::from_slice(spec).ok()?;
    let u = v.get("process")?.get("user")?;
    let uid = u.get("uid")?.as_i64()?;
    let gid = u.get("gid")?.as_i64()?;
    let mut groups: Vec<i64> = u.get("additionalGids").and_then(|g| g.as_array()).map(|a| a.iter().filter_map(|g| g.as_i64()).collect()).unwrap_or_default();
    groups.push(gid);
    groups.sort_unstable();
    groups.dedup();
    Some(ContainerUser { linux: Some(LinuxContainerUser { uid, gid, supplemental_groups: groups }) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uids: Vec<IdMapping>, gids: Vec<IdMapping>, mode: NamespaceMode) -> NamespaceOption {
        NamespaceOption { userns_options: Some(UserNamespace { mode: mode as i32, uids, gids }), ..Default::default() }
    }

    fn m(container_id: u32, host_id: u32, length: u32) -> IdMapping {
        IdMapping { container_id, host_id, length }
    }

    #[test]
    fn pod_maps_are_validated_as_containerd_does() {
        assert_eq!(maps(&NamespaceOption::default()).unwrap(), None);
        assert_eq!(maps(&pod(vec![], vec![], NamespaceMode::Node)).unwrap(), None);
        let ok = maps(&pod(vec![m(0, 1000, 100000)], vec![m(0, 2000, 100000)], NamespaceMode::Pod)).unwrap().unwrap();
        assert_eq!(ok.root().unwrap(), (1000, 2000));
        let err = |o: NamespaceOption| maps(&o).unwrap_err().message().to_string();
        assert!(err(pod(vec![m(0, 1000, 10), m(0, 2000, 10)], vec![m(0, 1000, 10)], NamespaceMode::Pod)).contains("only one mapping line supported, got 2 mapping lines"));
        assert!(err(pod(vec![m(1, 1000, 10)], vec![m(1, 1000, 10)], NamespaceMode::Pod)).contains("container ID 0 must be mapped"));
        assert!(err(pod(vec![m(0, 1000, 10)], vec![m(0, 1000, 20)], NamespaceMode::Pod)).contains("same length"));
        assert!(err(pod(vec![m(0, 1000, 0)], vec![m(0, 1000, 10)], NamespaceMode::Pod)).contains("invalid mapping length: 0"));
        assert!(err(pod(vec![], vec![], NamespaceMode::Pod)).contains("without UID and GID mappings"));
        assert!(err(pod(vec![m(0, 1000, 10)], vec![m(0, 1000, 10)], NamespaceMode::Node)).contains("with mappings"));
        assert!(err(pod(vec![], vec![], NamespaceMode::Container)).contains("unsupported user namespace mode: \"CONTAINER\""));
        assert!(err(pod(vec![], vec![], NamespaceMode::Target)).contains("unsupported user namespace mode: \"TARGET\""));
        let mut host_net = pod(vec![m(0, 1000, 10)], vec![m(0, 1000, 10)], NamespaceMode::Pod);
        host_net.network = NamespaceMode::Node as i32;
        assert!(err(host_net).contains("host's network"));
    }

    #[test]
    fn a_container_must_share_its_sandbox_user_namespace() {
        let o = pod(vec![m(0, 1000, 10)], vec![m(0, 1000, 10)], NamespaceMode::Pod);
        let sandbox = maps(&o).unwrap();
        assert!(check_same(sandbox.as_ref(), &o).is_ok());
        assert!(check_same(sandbox.as_ref(), &NamespaceOption::default()).unwrap_err().message().contains("different from container"));
        assert!(check_same(None, &o).is_err());
        assert!(check_same(None, &NamespaceOption::default()).is_ok());
    }

    #[test]
    fn the_process_user_comes_sorted_with_its_primary_group() {
        let spec = br#"{"process": {"user": {"uid": 1000, "gid": 1000, "additionalGids": [50000, 1234]}}}"#;
        let u = process_user(spec).unwrap().linux.unwrap();
        assert_eq!((u.uid, u.gid, u.supplemental_groups), (1000, 1000, vec![1000, 1234, 50000]));
        assert!(process_user(b"{}").is_none());
    }
}
