//! Pod sandboxes. A sandbox is a Berth container running the sandbox (pause) image. Why a pause
//! image rather than a namespace holder of Berth's own: it is what kubelets, operators and
//! critest expect (`crictl inspectp` shows it, its image is pinned against image GC), it is the
//! PID 1 that reaps orphans when the pod shares a PID namespace, and as an ordinary container it
//! gets the Docker side's networking (bridge address, published ports through the port proxy and
//! DNAT, DNS files), cgroups, recovery after a daemon restart and cleanup with no extra code.
//! The containers of the pod join its network, IPC and UTS namespaces (`container:<sandbox>`).

use super::security::{self, apparmor_opt, seccomp_opt, selinux_opts, user};
use super::userns;
use super::{kind, labels, nanos};
use crate::error::{invalid, status};
use crate::meta::{self, Metadata, Namespaces};
use crate::proto::*;
use crate::Cri;
use berth_api::container::CreateRequest;
use berth_daemon::service::containers::{ContainerRecord, PodSettings, Status};
use serde_json::json;
use std::collections::HashMap;

impl Cri {
    /// `RunPodSandbox`: creates and starts the sandbox container; on failure nothing is left.
    pub(crate) async fn run_sandbox(&self, req: RunPodSandboxRequest) -> Result<String, tonic::Status> {
        if !req.runtime_handler.is_empty() {
            return Err(invalid(format!("unknown runtime handler {:?}: Berth has only the default one", req.runtime_handler)));
        }
        let cfg = req.config.ok_or_else(|| invalid("config is required"))?;
        let md = cfg.metadata.clone().ok_or_else(|| invalid("metadata is required"))?;
        if md.name.is_empty() || md.uid.is_empty() || md.namespace.is_empty() {
            return Err(invalid("metadata name, uid and namespace are required"));
        }
        let md = Metadata { name: md.name, uid: md.uid, namespace: md.namespace, attempt: md.attempt };
        if cfg.windows.is_some() {
            return Err(invalid("windows sandbox config given to a Linux runtime"));
        }
        let linux = cfg.linux.clone().unwrap_or_default();
        let sc = linux.security_context.clone().unwrap_or_default();
        let ns = sc.namespace_options.clone().unwrap_or_default();
        let node = NamespaceMode::Node as i32;
        if ns.pid == NamespaceMode::Target as i32 || ns.network == NamespaceMode::Target as i32 || ns.ipc == NamespaceMode::Target as i32 {
            return Err(invalid("a pod sandbox cannot join another container's namespaces (TARGET)"));
        }
        let pod = PodSettings { userns: userns::maps(&ns)?, userns_from: None, groups_policy: userns::groups_policy(sc.supplemental_groups_policy)? };
        let cgroup_parent = security::cgroup_parent(&linux.cgroup_parent)?;
        let host_net = ns.network == node;
        let image = self.config.sandbox_image.clone();
        if self.find_image(&image).is_none() {
            self.pull(&image, None).await?;
        }
        // The pod's network is CNI's (ports through its portmap plugin); a host-network pod's
        // ports are the host's already.
        let capability_args = if host_net { serde_json::Map::new() } else { super::sandbox_net::capability_args(&cfg)? };
        if !host_net {
            self.network_ready().await?;
        }
        let netns = (!host_net).then(|| self.network.new_netns_path());
        let mut security = vec![];
        // The deprecated path is still what older kubelets send.
        #[allow(deprecated)]
        let legacy = sc.seccomp_profile_path.clone();
        if let Some(o) = seccomp_opt(sc.seccomp.as_ref(), &legacy)? {
            security.push(o);
        }
        if let Some(o) = apparmor_opt(sc.apparmor.as_ref(), "")? {
            security.push(o);
        }
        security.extend(selinux_opts(sc.selinux_options.as_ref())?);
        let dns = cfg.dns_config.clone().unwrap_or_default();
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(meta::KIND.to_string(), meta::KIND_SANDBOX.to_string());
        labels.insert(meta::METADATA.into(), meta::encode(&md));
        labels.insert(meta::LABELS.into(), meta::encode(&cfg.labels));
        labels.insert(meta::ANNOTATIONS.into(), meta::encode(&cfg.annotations));
        labels.insert(meta::LOG_DIRECTORY.into(), cfg.log_directory.clone());
        labels.insert(meta::NAMESPACES.into(), meta::encode(&Namespaces { network: ns.network, pid: ns.pid, ipc: ns.ipc }));
        // The pod's resources and overhead are what the kubelet enforces on the pod cgroup
        // (`cgroup_parent`) itself; CRI gives them to runtimes for sizing (VM runtimes). Berth
        // shows them in the verbose sandbox status.
        labels.insert(meta::POD_RESOURCES.into(), meta::encode(&meta::PodResources::of(linux.resources.as_ref(), linux.overhead.as_ref())));
        let body = json!({
            "Image": image,
            "Hostname": if host_net { String::new() } else { cfg.hostname.clone() },
            "User": user(sc.run_as_user.as_ref(), sc.run_as_group.as_ref(), "")?,
            "Labels": labels,
            "HostConfig": {
                "NetworkMode": match &netns { Some(p) => format!("ns:{}", p.display()), None => "host".into() },
                "IpcMode": if ns.ipc == node { "host" } else { "shareable" },
                "PidMode": if ns.pid == node { "host" } else { "" },
                "CgroupParent": cgroup_parent,
                "UTSMode": if host_net { "host" } else { "" },
                "Dns": dns.servers,
                "DnsSearch": dns.searches,
                "DnsOptions": dns.options,
                "Sysctls": linux.sysctls,
                "Privileged": sc.privileged,
                "ReadonlyRootfs": sc.readonly_rootfs,
                "GroupAdd": sc.supplemental_groups.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "SecurityOpt": security,
                "LogConfig": {"Type": "none", "Config": {}},
            },
        });
        let create: CreateRequest = serde_json::from_value(body).map_err(|e| tonic::Status::internal(format!("building the sandbox container: {e}")))?;
        let name = meta::sandbox_name(&md);
        let id = self.blocking(move |cri| cri.services.containers.create_for_pod(create, Some(name), pod).map_err(status)).await?;
        let h = self.services.containers.get(&id).map_err(status)?;
        if let Some(netns) = netns {
            if let Err(e) = self.network_setup(&id, &md, netns, capability_args).await {
                let _ = self.services.containers.remove(&h, true, true).await;
                return Err(e);
            }
        }
        if let Err(e) = self.services.containers.start(&h).await {
            if let Err(error) = self.network_teardown(&id).await {
                tracing::warn!(sandbox.id = %id, error = %error.message(), "tearing down the network of a sandbox that failed to start failed");
            }
            let _ = self.services.containers.remove(&h, true, true).await;
            return Err(status(e));
        }
        tracing::info!(sandbox.id = %id, pod = %md.name, namespace = %md.namespace, "pod sandbox running");
        Ok(id)
    }

    /// The containers of sandbox `id`.
    fn members(&self, id: &str) -> Vec<(std::sync::Arc<berth_daemon::service::containers::Handle>, ContainerRecord)> {
        self.objects(meta::KIND_CONTAINER).into_iter().filter(|(_, r)| labels(r).get(meta::SANDBOX).map(String::as_str) == Some(id)).collect()
    }

    /// `StopPodSandbox`: kills the pod's containers and the sandbox, then tears its network down
    /// (CNI DEL: its address, interfaces and port mappings are released). Idempotent; a sandbox
    /// that is gone may still have a network to tear down.
    pub(crate) async fn stop_sandbox(&self, id: &str) -> Result<(), tonic::Status> {
        let (h, rec) = match self.object(meta::KIND_SANDBOX, id) {
            Ok(o) => o,
            Err(e) if e.code() == tonic::Code::NotFound => return self.network_teardown(id).await,
            Err(e) => return Err(e),
        };
        for (c, _) in self.members(&rec.id) {
            self.services.containers.stop(&c, Some(0), None).await.map_err(status)?;
        }
        self.services.containers.stop(&h, Some(0), Some("SIGKILL")).await.map_err(status)?;
        self.network_teardown(&rec.id).await
    }

    /// `RemovePodSandbox`: removes the pod's containers and the sandbox, its network torn down
    /// first (a DEL that fails keeps the sandbox, for the kubelet to try again). Idempotent.
    pub(crate) async fn remove_sandbox(&self, id: &str) -> Result<(), tonic::Status> {
        let (h, rec) = match self.object(meta::KIND_SANDBOX, id) {
            Ok(o) => o,
            Err(e) if e.code() == tonic::Code::NotFound => return self.network_teardown(id).await,
            Err(e) => return Err(e),
        };
        for (c, _) in self.members(&rec.id) {
            self.services.containers.remove(&c, true, true).await.map_err(status)?;
        }
        self.services.containers.stop(&h, Some(0), Some("SIGKILL")).await.map_err(status)?;
        self.network_teardown(&rec.id).await?;
        self.services.containers.remove(&h, true, true).await.map_err(status)?;
        tracing::info!(sandbox.id = %rec.id, "pod sandbox removed");
        Ok(())
    }

    fn sandbox_state(rec: &ContainerRecord) -> PodSandboxState {
        if rec.state.status == Status::Running {
            PodSandboxState::SandboxReady
        } else {
            PodSandboxState::SandboxNotready
        }
    }

    /// `PodSandboxStatus`.
    pub(crate) fn sandbox_status(&self, id: &str, verbose: bool) -> Result<PodSandboxStatusResponse, tonic::Status> {
        let (_, rec) = self.object(meta::KIND_SANDBOX, id)?;
        let l = labels(&rec);
        let md: Metadata = meta::decode(&l, meta::METADATA);
        let ns: Namespaces = meta::decode(&l, meta::NAMESPACES);
        let (ip, additional) = self.pod_ips(&rec.id);
        let mut info = HashMap::new();
        if verbose {
            info.insert(
                "info".into(),
                json!({
                    "pid": rec.state.pid,
                    "berthName": rec.name,
                    "image": rec.image_name,
                    "netns": berth_daemon::service::containers::netns_mode(&rec.host_config.network_mode),
                    "cgroupParent": rec.host_config.extra.get("CgroupParent"),
                    "podResources": meta::decode::<meta::PodResources>(&l, meta::POD_RESOURCES),
                })
                .to_string(),
            );
        }
        Ok(PodSandboxStatusResponse {
            status: Some(PodSandboxStatus {
                id: rec.id.clone(),
                metadata: Some(PodSandboxMetadata { name: md.name, uid: md.uid, namespace: md.namespace, attempt: md.attempt }),
                state: Self::sandbox_state(&rec) as i32,
                created_at: nanos(&rec.created),
                network: Some(PodSandboxNetworkStatus { ip, additional_ips: additional.into_iter().map(|ip| PodIp { ip }).collect() }),
                linux: Some(LinuxPodSandboxStatus {
                    namespaces: Some(Namespace {
                        options: Some(NamespaceOption {
                            network: ns.network,
                            pid: ns.pid,
                            ipc: ns.ipc,
                            target_id: String::new(),
                            userns_options: Some(userns::options(rec.pod.userns.as_ref())),
                        }),
                    }),
                }),
                labels: meta::map(&l, meta::LABELS),
                annotations: meta::map(&l, meta::ANNOTATIONS),
                runtime_handler: String::new(),
            }),
            info,
            containers_statuses: vec![],
            timestamp: super::now_nanos(),
        })
    }

    /// `ListPodSandbox`.
    pub(crate) fn list_sandboxes(&self, filter: Option<PodSandboxFilter>) -> Vec<PodSandbox> {
        let f = filter.unwrap_or_default();
        self.objects(meta::KIND_SANDBOX)
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| kind(r).is_some())
            .filter(|r| f.id.is_empty() || r.id.starts_with(&f.id))
            .filter(|r| f.state.as_ref().is_none_or(|s| s.state == Self::sandbox_state(r) as i32))
            .filter(|r| meta::selected(&meta::map(&labels(r), meta::LABELS), &f.label_selector))
            .map(|r| {
                let l = labels(&r);
                let md: Metadata = meta::decode(&l, meta::METADATA);
                PodSandbox {
                    id: r.id.clone(),
                    metadata: Some(PodSandboxMetadata { name: md.name, uid: md.uid, namespace: md.namespace, attempt: md.attempt }),
                    state: Self::sandbox_state(&r) as i32,
                    created_at: nanos(&r.created),
                    labels: meta::map(&l, meta::LABELS),
                    annotations: meta::map(&l, meta::ANNOTATIONS),
                    runtime_handler: String::new(),
                }
            })
            .collect()
    }
}
