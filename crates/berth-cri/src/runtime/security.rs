//! The CRI fields that become Docker `HostConfig` settings shared by sandboxes and containers:
//! security profiles, run-as user, SELinux labels, cgroup parent, and the checks of the fields
//! Berth cannot apply (each refused with `InvalidArgument` naming the field, never dropped).

use crate::error::invalid;
use crate::proto::*;
use std::collections::HashMap;

/// The Docker `SecurityOpt` for a CRI seccomp profile. CRI's default (no profile) is unconfined.
pub(crate) fn seccomp_opt(profile: Option<&SecurityProfile>, legacy: &str) -> Result<Option<String>, tonic::Status> {
    use security_profile::ProfileType;
    let (ty, local) = match profile {
        Some(p) => (ProfileType::try_from(p.profile_type).unwrap_or(ProfileType::RuntimeDefault), p.localhost_ref.clone()),
        None => match legacy {
            "runtime/default" | "docker/default" => (ProfileType::RuntimeDefault, String::new()),
            l if l.starts_with("localhost/") => (ProfileType::Localhost, l["localhost/".len()..].to_string()),
            _ => (ProfileType::Unconfined, String::new()),
        },
    };
    match ty {
        ProfileType::RuntimeDefault => Ok(None),
        ProfileType::Unconfined => Ok(Some("seccomp=unconfined".into())),
        ProfileType::Localhost => {
            if !local.starts_with('/') {
                return Err(invalid(format!("seccomp localhost profile {local:?} must be an absolute path")));
            }
            let text = std::fs::read_to_string(&local).map_err(|e| invalid(format!("reading seccomp profile {local}: {e}")))?;
            Ok(Some(format!("seccomp={text}")))
        }
    }
}

/// The Docker `SecurityOpt` for a CRI AppArmor profile (or the deprecated `apparmor_profile`
/// string). As containerd: on a host without AppArmor, the runtime default and `unconfined` mean
/// no profile and a localhost profile is refused; with AppArmor, a localhost profile is applied by
/// name and the runtime default is Berth's default, as for Docker containers.
pub(crate) fn apparmor_opt(profile: Option<&SecurityProfile>, legacy: &str) -> Result<Option<String>, tonic::Status> {
    use security_profile::ProfileType;
    let (ty, name) = match profile {
        Some(p) => (ProfileType::try_from(p.profile_type).unwrap_or(ProfileType::RuntimeDefault), p.localhost_ref.clone()),
        None => match legacy {
            "" | "runtime/default" => (ProfileType::RuntimeDefault, String::new()),
            "unconfined" => (ProfileType::Unconfined, String::new()),
            l if l.starts_with("localhost/") => (ProfileType::Localhost, l["localhost/".len()..].to_string()),
            l => return Err(invalid(format!("apparmor profile {l:?}: expected runtime/default, unconfined or localhost/<name>"))),
        },
    };
    match ty {
        ProfileType::RuntimeDefault => Ok(None),
        ProfileType::Unconfined => Ok(Some("apparmor=unconfined".into())),
        ProfileType::Localhost => {
            let name = name.strip_prefix("localhost/").unwrap_or(&name).to_string();
            if name.is_empty() {
                return Err(invalid("apparmor localhost profile needs a profile name"));
            }
            if !berth_runtime::spec::apparmor_enabled() {
                return Err(invalid(format!("apparmor profile {name:?}: AppArmor is not enabled on this host")));
            }
            Ok(Some(format!("apparmor={name}")))
        }
    }
}

/// Docker's `label=` options for CRI SELinux options. Berth's hosts have no SELinux policy to
/// label for; on such a host (no `/sys/fs/selinux`) these take no effect, as with dockerd, and on
/// an SELinux host they are refused (Berth does not label processes or files).
pub(crate) fn selinux_opts(o: Option<&SeLinuxOption>) -> Result<Vec<String>, tonic::Status> {
    let Some(o) = o else { return Ok(vec![]) };
    let parts = [("user", &o.user), ("role", &o.role), ("type", &o.r#type), ("level", &o.level)];
    let opts: Vec<String> = parts.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("label={k}:{v}")).collect();
    if !opts.is_empty() && std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        return Err(invalid("selinux_options: Berth does not apply SELinux labels, and this host enforces SELinux"));
    }
    Ok(opts)
}

/// Docker's `User` for CRI's run-as user, group and user name.
pub(crate) fn user(uid: Option<&Int64Value>, gid: Option<&Int64Value>, name: &str) -> Result<Option<String>, tonic::Status> {
    let who = match (uid, name) {
        (Some(u), _) => u.value.to_string(),
        (None, n) if !n.is_empty() => n.to_string(),
        (None, _) if gid.is_some() => return Err(invalid("run_as_group needs run_as_user or run_as_username")),
        _ => return Ok(None),
    };
    Ok(Some(match gid {
        Some(g) => format!("{who}:{}", g.value),
        None => who,
    }))
}

/// The pod's cgroup parent as the kubelet's `cgroupfs` driver names it (`/kubepods/burstable/pod<uid>`):
/// the sandbox and every container of the pod go under it as `<parent>/<id>`, in every hierarchy.
/// A systemd slice (what a kubelet with `cgroupDriver: systemd` sends) is refused: Berth reports
/// and uses the cgroupfs driver.
pub(crate) fn cgroup_parent(p: &str) -> Result<String, tonic::Status> {
    if p.is_empty() {
        return Ok(String::new());
    }
    if p.ends_with(".slice") {
        return Err(invalid(format!(
            "cgroup_parent {p:?} is a systemd slice, but Berth uses the cgroupfs cgroup driver: set the kubelet's cgroupDriver to cgroupfs"
        )));
    }
    if !p.starts_with('/') || p.split('/').any(|c| c == ".." || c == ".") || p.contains('\0') {
        return Err(invalid(format!("cgroup_parent {p:?} must be an absolute cgroup path without . or .. components")));
    }
    Ok(p.to_string())
}

/// The page size of a CRI hugepage limit (`2MB`, `1GB`, `64KB`) in KiB, as the kernel's
/// `/sys/kernel/mm/hugepages/hugepages-<n>kB` directories name them.
fn page_kib(size: &str) -> Option<u64> {
    let split = size.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = size.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "KB" | "kB" | "Ki" => n,
        "MB" | "Mi" => n << 10,
        "GB" | "Gi" => n << 20,
        _ => return None,
    })
}

/// Hugepage limits. Berth sets no hugetlb cgroup limits; the kubelet sends a zero limit for every
/// size the node has when the pod asks for none. A zero limit is what the container gets anyway
/// when the host reserves no pages of that size, so it is accepted then; any other limit is refused.
pub(crate) fn hugepages(limits: &[HugepageLimit]) -> Result<(), tonic::Status> {
    for l in limits {
        let kib = page_kib(&l.page_size).ok_or_else(|| invalid(format!("hugepage_limits: unknown page size {:?}", l.page_size)))?;
        let reserved = std::fs::read_to_string(format!("/sys/kernel/mm/hugepages/hugepages-{kib}kB/nr_hugepages"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if l.limit != 0 || reserved != 0 {
            return Err(invalid(format!(
                "hugepage_limits: Berth does not set hugetlb limits ({} pages: limit {}, {reserved} reserved on this host)",
                l.page_size, l.limit
            )));
        }
    }
    Ok(())
}

/// The checks of `LinuxContainerResources` fields that have no Docker equivalent.
pub(crate) fn resources(r: &LinuxContainerResources) -> Result<(), tonic::Status> {
    hugepages(&r.hugepage_limits)?;
    unified(&r.unified)
}

/// cgroup v2 `unified` settings: Berth's runtime writes only the settings Docker knows.
pub(crate) fn unified(u: &HashMap<String, String>) -> Result<(), tonic::Status> {
    if let Some(k) = u.keys().next() {
        return Err(invalid(format!("unified cgroup settings ({k:?}, …) are not supported by Berth")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_parse_as_the_kubelet_names_them() {
        assert_eq!(page_kib("2MB"), Some(2048));
        assert_eq!(page_kib("1GB"), Some(1 << 20));
        assert_eq!(page_kib("64KB"), Some(64));
        assert_eq!(page_kib("huge"), None);
    }

    #[test]
    fn cgroup_parents_are_cgroupfs_paths() {
        assert_eq!(cgroup_parent("/kubepods/besteffort/pod1").unwrap(), "/kubepods/besteffort/pod1");
        assert_eq!(cgroup_parent("").unwrap(), "");
        assert!(cgroup_parent("kubepods-besteffort-pod1.slice").unwrap_err().message().contains("cgroupfs"));
        assert!(cgroup_parent("kubepods/x").is_err());
        assert!(cgroup_parent("/kubepods/../x").is_err());
    }

    #[test]
    fn selinux_options_become_docker_labels() {
        let o = SeLinuxOption { user: "u".into(), level: "s0:c1".into(), ..Default::default() };
        if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
            assert_eq!(selinux_opts(Some(&o)).unwrap(), ["label=user:u", "label=level:s0:c1"]);
        }
    }
}
