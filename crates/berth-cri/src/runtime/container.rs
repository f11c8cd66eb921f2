//! Containers of a pod: Berth containers in the sandbox's namespaces, logging in the kubelet's
//! CRI format (Berth's `k8s-file` log driver) to `log_directory/log_path`.

use super::security::{self, apparmor_opt, seccomp_opt, selinux_opts, user};
use super::{container_state, labels, nanos};
use crate::error::{invalid, status};
use crate::meta::{self, Metadata, MountInfo, Namespaces};
use crate::proto::*;
use crate::Cri;
use berth_api::container::CreateRequest;
use berth_daemon::service::containers::{ContainerRecord, Handle, PodSettings, Status};
use serde_json::json;
use std::sync::Arc;

fn propagation(p: i32) -> &'static str {
    match MountPropagation::try_from(p) {
        Ok(MountPropagation::PropagationHostToContainer) => "rslave",
        Ok(MountPropagation::PropagationBidirectional) => "rshared",
        _ => "rprivate",
    }
}

/// Docker's `Mounts` entry for a CRI mount. The host path must exist (CRI: "runtimes should
/// report an error"); a symlink is followed to its target.
fn mount(m: &crate::proto::Mount) -> Result<serde_json::Value, tonic::Status> {
    if m.image.is_some() || !m.image_sub_path.is_empty() {
        return Err(invalid("image volume mounts are not supported by Berth yet"));
    }
    if !m.uid_mappings.is_empty() || !m.gid_mappings.is_empty() {
        return Err(invalid(format!("mount {}: ID-mapped volume mounts are not supported by Berth yet", m.container_path)));
    }
    if !m.container_path.starts_with('/') {
        return Err(invalid(format!("mount destination {:?} is not absolute", m.container_path)));
    }
    let src = std::fs::canonicalize(&m.host_path).map_err(|e| invalid(format!("mount source {}: {e}", m.host_path)))?;
    if m.recursive_read_only && (!m.readonly || m.propagation != MountPropagation::PropagationPrivate as i32) {
        return Err(invalid("recursive read-only mounts must be read-only and private"));
    }
    Ok(json!({
        "Type": "bind",
        "Source": src,
        "Target": m.container_path,
        "ReadOnly": m.readonly,
        // CRI's read-only is the top mount only, unless recursive_read_only asks for all of it.
        "BindOptions": {
            "Propagation": propagation(m.propagation),
            "CreateMountpoint": true,
            "ReadOnlyNonRecursive": m.readonly && !m.recursive_read_only,
        },
    }))
}

/// The namespace mode a pod container gets: the sandbox's (`POD`), its own (`CONTAINER`), the
/// host's (`NODE`) or another container's (`TARGET`).
/// A container's network or IPC mode must be the pod's: CRI has no per-container network or IPC
/// namespace inside a pod. `POD` follows the pod; `NODE` is accepted when the pod is on the host's.
fn check_pod_ns(what: &str, mode: i32, pod: i32) -> Result<(), tonic::Status> {
    let node = NamespaceMode::Node as i32;
    if mode == NamespaceMode::Pod as i32 || (mode == node && pod == node) {
        return Ok(());
    }
    Err(invalid(format!("{what} namespace mode {mode} of a container must be the pod's (POD, or NODE when the pod uses the host's)")))
}

fn ns_mode(mode: i32, sandbox: &str, target: &str) -> String {
    match NamespaceMode::try_from(mode) {
        Ok(NamespaceMode::Pod) => format!("container:{sandbox}"),
        Ok(NamespaceMode::Node) => "host".into(),
        Ok(NamespaceMode::Target) => format!("container:{target}"),
        _ => String::new(),
    }
}

impl Cri {
    /// `CreateContainer`.
    pub(crate) async fn create_container(&self, req: CreateContainerRequest) -> Result<String, tonic::Status> {
        let (_, sandbox) = self.object(meta::KIND_SANDBOX, &req.pod_sandbox_id)?;
        if sandbox.state.status != Status::Running {
            return Err(tonic::Status::failed_precondition(format!("pod sandbox {} is not ready", sandbox.id)));
        }
        let cfg = req.config.ok_or_else(|| invalid("config is required"))?;
        let md = cfg.metadata.clone().ok_or_else(|| invalid("metadata is required"))?;
        if md.name.is_empty() {
            return Err(invalid("metadata name is required"));
        }
        let md = Metadata { name: md.name, attempt: md.attempt, ..Default::default() };
        if cfg.windows.is_some() {
            return Err(invalid("windows container config given to a Linux runtime"));
        }
        if let Some(d) = cfg.cdi_devices.first() {
            return Err(invalid(format!("CDI device {:?}: Berth has no CDI device support", d.name)));
        }
        if let Some(h) = cfg.image.as_ref().map(|i| &i.runtime_handler).filter(|h| !h.is_empty()) {
            return Err(invalid(format!("unknown runtime handler {h:?}: Berth has only the default one")));
        }
        let image_name = cfg.image.as_ref().map(|i| i.image.clone()).unwrap_or_default();
        let image = self.find_image(&image_name).ok_or_else(|| crate::error::not_found(format!("image {image_name:?} not found")))?;
        let sl = labels(&sandbox);
        let pod: Metadata = meta::decode(&sl, meta::METADATA);
        let pod_ns: Namespaces = meta::decode(&sl, meta::NAMESPACES);
        let node = NamespaceMode::Node as i32;
        let linux = cfg.linux.clone().unwrap_or_default();
        let sc = linux.security_context.clone().unwrap_or_default();
        let res = linux.resources.clone().unwrap_or_default();
        let ns = sc.namespace_options.clone().unwrap_or_default();
        check_pod_ns("network", ns.network, pod_ns.network)?;
        check_pod_ns("IPC", ns.ipc, pod_ns.ipc)?;
        // The pod's containers join its user namespace (see `userns`).
        super::userns::check_same(sandbox.pod.userns.as_ref(), &ns)?;
        let pod_settings = PodSettings {
            userns: sandbox.pod.userns.clone(),
            userns_from: sandbox.pod.userns.as_ref().map(|_| sandbox.id.clone()),
            groups_policy: super::userns::groups_policy(sc.supplemental_groups_policy)?,
        };
        security::resources(&res)?;
        let target = if ns.pid == NamespaceMode::Target as i32 {
            let (_, t) = self.object(meta::KIND_CONTAINER, &ns.target_id)?;
            t.id
        } else {
            String::new()
        };
        let log_dir = sl.get(meta::LOG_DIRECTORY).cloned().unwrap_or_default();
        let log_path = if cfg.log_path.is_empty() || log_dir.is_empty() {
            String::new()
        } else {
            std::path::Path::new(&log_dir).join(&cfg.log_path).display().to_string()
        };
        let mounts = cfg.mounts.iter().map(mount).collect::<Result<Vec<_>, _>>()?;
        let mount_info: Vec<MountInfo> = cfg
            .mounts
            .iter()
            .map(|m| MountInfo {
                container_path: m.container_path.clone(),
                host_path: m.host_path.clone(),
                readonly: m.readonly,
                propagation: m.propagation,
                selinux_relabel: m.selinux_relabel,
                recursive_read_only: m.recursive_read_only,
            })
            .collect();
        let devices: Vec<_> = cfg
            .devices
            .iter()
            .map(|d| json!({"PathOnHost": d.host_path, "PathInContainer": d.container_path, "CgroupPermissions": if d.permissions.is_empty() { "rwm" } else { d.permissions.as_str() }}))
            .collect();
        let mut security = vec![];
        // The deprecated path is still what older kubelets send.
        #[allow(deprecated)]
        let legacy = sc.seccomp_profile_path.clone();
        if let Some(o) = seccomp_opt(sc.seccomp.as_ref(), &legacy)? {
            security.push(o);
        }
        #[allow(deprecated)]
        if let Some(o) = apparmor_opt(sc.apparmor.as_ref(), &sc.apparmor_profile)? {
            security.push(o);
        }
        security.extend(selinux_opts(sc.selinux_options.as_ref())?);
        if sc.no_new_privs {
            security.push("no-new-privileges".into());
        }
        let caps = sc.capabilities.clone().unwrap_or_default();
        if !caps.add_ambient_capabilities.is_empty() {
            return Err(invalid("add_ambient_capabilities: Berth does not set ambient capabilities"));
        }
        // Empty lists are the runtime's defaults (proto3 cannot tell empty from unset; containerd reads them so too).
        let masked = (!sc.masked_paths.is_empty()).then(|| sc.masked_paths.clone());
        let readonly = (!sc.readonly_paths.is_empty()).then(|| sc.readonly_paths.clone());
        let cgroup_parent = sandbox.host_config.extra.get("CgroupParent").cloned().unwrap_or(serde_json::Value::Null);
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(meta::KIND.to_string(), meta::KIND_CONTAINER.to_string());
        labels.insert(meta::SANDBOX.into(), sandbox.id.clone());
        labels.insert(meta::METADATA.into(), meta::encode(&md));
        labels.insert(meta::LABELS.into(), meta::encode(&cfg.labels));
        labels.insert(meta::ANNOTATIONS.into(), meta::encode(&cfg.annotations));
        labels.insert(meta::IMAGE.into(), image_name.clone());
        labels.insert(meta::MOUNTS.into(), meta::encode(&mount_info));
        labels.insert(meta::LOG_PATH.into(), log_path.clone());
        let log = if log_path.is_empty() { json!({"Type": "none", "Config": {}}) } else { json!({"Type": "k8s-file", "Config": {"path": log_path}}) };
        let host_net = pod_ns.network == node;
        let body = json!({
            "Image": image.id.to_string(),
            "Entrypoint": (!cfg.command.is_empty()).then(|| cfg.command.clone()),
            "Cmd": (!cfg.args.is_empty()).then(|| cfg.args.clone()),
            "WorkingDir": cfg.working_dir,
            "Env": cfg.envs.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect::<Vec<_>>(),
            // A host-network pod shares the node's UTS namespace: its containers see the node's
            // hostname, and a hostname beside `UTSMode: host` is refused as dockerd refuses it.
            "Hostname": if host_net { String::new() } else { sandbox.config.hostname.clone().unwrap_or_default() },
            "User": user(sc.run_as_user.as_ref(), sc.run_as_group.as_ref(), &sc.run_as_username)?,
            "Tty": cfg.tty,
            "OpenStdin": cfg.stdin,
            "StdinOnce": cfg.stdin_once,
            "AttachStdin": cfg.stdin,
            "Labels": labels,
            "HostConfig": {
                "NetworkMode": if host_net { "host".to_string() } else { format!("container:{}", sandbox.id) },
                "IpcMode": if pod_ns.ipc == node { "host".to_string() } else { format!("container:{}", sandbox.id) },
                "UTSMode": if host_net { "host".to_string() } else { format!("container:{}", sandbox.id) },
                "PidMode": ns_mode(ns.pid, &sandbox.id, &target),
                "Mounts": mounts,
                "Devices": devices,
                "Privileged": sc.privileged,
                "ReadonlyRootfs": sc.readonly_rootfs,
                "CapAdd": caps.add_capabilities,
                "CapDrop": caps.drop_capabilities,
                "GroupAdd": sc.supplemental_groups.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "SecurityOpt": security,
                "CpuPeriod": res.cpu_period,
                "CpuQuota": res.cpu_quota,
                "CpuShares": res.cpu_shares,
                "Memory": res.memory_limit_in_bytes,
                "MemorySwap": res.memory_swap_limit_in_bytes,
                "CpusetCpus": res.cpuset_cpus,
                "CpusetMems": res.cpuset_mems,
                "OomScoreAdj": res.oom_score_adj,
                "CgroupParent": cgroup_parent,
                "MaskedPaths": masked,
                "ReadonlyPaths": readonly,
                "Dns": sandbox.host_config.dns,
                "DnsSearch": sandbox.host_config.dns_search,
                "DnsOptions": sandbox.host_config.dns_options,
                "LogConfig": log,
            },
        });
        let create: CreateRequest = serde_json::from_value(body).map_err(|e| tonic::Status::internal(format!("building the container: {e}")))?;
        let name = meta::container_name(&md, &pod);
        self.blocking(move |cri| cri.services.containers.create_for_pod(create, Some(name), pod_settings).map_err(status)).await
    }

    /// `StartContainer`: the sandbox must still be ready.
    pub(crate) async fn start_container(&self, h: &Arc<Handle>) -> Result<(), tonic::Status> {
        let rec = h.snapshot();
        if rec.state.status != Status::Created {
            return Err(tonic::Status::failed_precondition(format!("container {} is not in the created state", rec.id)));
        }
        self.services.containers.start(h).await.map_err(status)?;
        Ok(())
    }

    fn image_spec(rec: &ContainerRecord) -> ImageSpec {
        let l = labels(rec);
        ImageSpec { image: l.get(meta::IMAGE).cloned().unwrap_or_else(|| rec.image_name.clone()), ..Default::default() }
    }

    /// `ListContainers`.
    pub(crate) fn list_containers(&self, filter: Option<ContainerFilter>) -> Vec<Container> {
        let f = filter.unwrap_or_default();
        self.objects(meta::KIND_CONTAINER)
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| f.id.is_empty() || r.id.starts_with(&f.id))
            .filter(|r| f.pod_sandbox_id.is_empty() || labels(r).get(meta::SANDBOX).is_some_and(|s| s.starts_with(&f.pod_sandbox_id)))
            .filter(|r| f.state.as_ref().is_none_or(|s| s.state == container_state(r.state.status) as i32))
            .filter(|r| meta::selected(&meta::map(&labels(r), meta::LABELS), &f.label_selector))
            .map(|r| {
                let l = labels(&r);
                let md: Metadata = meta::decode(&l, meta::METADATA);
                Container {
                    id: r.id.clone(),
                    pod_sandbox_id: l.get(meta::SANDBOX).cloned().unwrap_or_default(),
                    metadata: Some(ContainerMetadata { name: md.name, attempt: md.attempt }),
                    image: Some(Self::image_spec(&r)),
                    image_ref: r.image.clone(),
                    state: container_state(r.state.status) as i32,
                    created_at: nanos(&r.created),
                    labels: meta::map(&l, meta::LABELS),
                    annotations: meta::map(&l, meta::ANNOTATIONS),
                    image_id: r.image.clone(),
                }
            })
            .collect()
    }

    /// The CRI status of a container record.
    pub(crate) fn container_status(&self, r: &ContainerRecord) -> ContainerStatus {
        let l = labels(r);
        let md: Metadata = meta::decode(&l, meta::METADATA);
        let state = container_state(r.state.status);
        let exited = state == ContainerState::ContainerExited;
        let reason = match (exited, r.state.oom_killed, r.state.exit_code) {
            (false, _, _) => String::new(),
            (true, true, _) => "OOMKilled".into(),
            (true, false, 0) => "Completed".into(),
            (true, false, _) => "Error".into(),
        };
        let mounts: Vec<MountInfo> = meta::decode(&l, meta::MOUNTS);
        let h = &r.host_config;
        ContainerStatus {
            id: r.id.clone(),
            metadata: Some(ContainerMetadata { name: md.name, attempt: md.attempt }),
            state: state as i32,
            created_at: nanos(&r.created),
            started_at: if state == ContainerState::ContainerCreated { 0 } else { nanos(&r.state.started_at) },
            finished_at: if exited { nanos(&r.state.finished_at) } else { 0 },
            exit_code: if exited { r.state.exit_code as i32 } else { 0 },
            image: Some(Self::image_spec(r)),
            image_ref: r.image.clone(),
            reason,
            message: r.state.error.clone(),
            labels: meta::map(&l, meta::LABELS),
            annotations: meta::map(&l, meta::ANNOTATIONS),
            mounts: mounts
                .into_iter()
                .map(|m| crate::proto::Mount {
                    container_path: m.container_path,
                    host_path: m.host_path,
                    readonly: m.readonly,
                    selinux_relabel: m.selinux_relabel,
                    propagation: m.propagation,
                    recursive_read_only: m.recursive_read_only,
                    ..Default::default()
                })
                .collect(),
            log_path: l.get(meta::LOG_PATH).cloned().unwrap_or_default(),
            resources: Some(ContainerResources {
                linux: Some(LinuxContainerResources {
                    cpu_period: h.cpu_period,
                    cpu_quota: h.cpu_quota,
                    cpu_shares: h.cpu_shares,
                    memory_limit_in_bytes: h.memory,
                    memory_swap_limit_in_bytes: h.memory_swap,
                    cpuset_cpus: h.cpuset_cpus.clone(),
                    cpuset_mems: h.cpuset_mems.clone(),
                    ..Default::default()
                }),
                windows: None,
            }),
            image_id: r.image.clone(),
            user: std::fs::read(self.services.containers.dir(&r.id).join("config.json")).ok().and_then(|b| super::userns::process_user(&b)),
        }
    }
}
