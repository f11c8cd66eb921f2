//! `RuntimeService`: version and status, pod sandboxes (`sandbox.rs`), containers
//! (`container.rs`), `ExecSync` (`exec.rs`), stats (`stats.rs`) and the URLs of the streaming server
//! for `Exec`, `Attach` and `PortForward` (`streaming.rs`).

mod container;
mod exec;
mod sandbox;
mod sandbox_net;
mod security;
mod stats;
mod userns;
mod streaming;

use crate::error::{status, task, CriResult};
use crate::meta;
use crate::proto::runtime_service_server::RuntimeService;
use crate::proto::*;
use crate::Cri;
use berth_daemon::service::containers::{ContainerRecord, Handle, Status};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tonic::{Request, Response};

/// Now, in nanoseconds since the epoch (CRI's timestamps).
pub fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

/// An RFC 3339 time of a record in nanoseconds (0 when unset, as CRI wants for "not yet").
pub(crate) fn nanos(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).ok().and_then(|t| t.timestamp_nanos_opt()).filter(|n| *n > 0).unwrap_or(0)
}

/// The Berth labels of a record.
pub(crate) fn labels(rec: &ContainerRecord) -> BTreeMap<String, String> {
    rec.config.labels.clone().unwrap_or_default()
}

/// Which CRI object a record is, if any.
pub(crate) fn kind(rec: &ContainerRecord) -> Option<String> {
    rec.config.labels.as_ref().and_then(|l| l.get(meta::KIND).cloned())
}

/// The CRI container state of a Berth status.
pub(crate) fn container_state(s: Status) -> ContainerState {
    match s {
        Status::Created => ContainerState::ContainerCreated,
        Status::Running | Status::Paused | Status::Restarting => ContainerState::ContainerRunning,
        Status::Exited | Status::Dead => ContainerState::ContainerExited,
        Status::Removing => ContainerState::ContainerUnknown,
    }
}

impl Cri {
    /// The CRI objects of `kind` (sandboxes or containers), with their records.
    pub(crate) fn objects(&self, kind: &str) -> Vec<(Arc<Handle>, ContainerRecord)> {
        self.services
            .containers
            .all()
            .into_iter()
            .map(|h| {
                let r = h.snapshot();
                (h, r)
            })
            .filter(|(_, r)| self::kind(r).as_deref() == Some(kind) && r.state.status != Status::Removing)
            .collect()
    }

    /// The CRI object of `kind` with this id (or unique id prefix, as crictl lets users type).
    pub(crate) fn object(&self, kind: &str, id: &str) -> Result<(Arc<Handle>, ContainerRecord), tonic::Status> {
        if id.is_empty() {
            return Err(crate::error::invalid(format!("{kind} id is empty")));
        }
        let mut found = self.objects(kind).into_iter().filter(|(_, r)| r.id.starts_with(id));
        match (found.next(), found.next()) {
            (Some(o), None) => Ok(o),
            (Some(_), Some(_)) => Err(crate::error::invalid(format!("{kind} id prefix {id:?} is ambiguous"))),
            (None, _) => Err(crate::error::not_found(format!("{kind} {id:?} not found"))),
        }
    }

    /// Runs blocking container-service work off the async workers.
    pub(crate) async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&Cri) -> Result<T, tonic::Status> + Send + 'static) -> Result<T, tonic::Status> {
        let cri = self.clone();
        berth_types::sched::spawn_blocking(move || f(&cri)).await.map_err(task)?
    }
}

#[tonic::async_trait]
impl RuntimeService for Cri {
    async fn version(&self, _req: Request<VersionRequest>) -> CriResult<VersionResponse> {
        Ok(Response::new(VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "berth".into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
            runtime_api_version: crate::CRI_VERSION.into(),
        }))
    }

    async fn status(&self, req: Request<StatusRequest>) -> CriResult<StatusResponse> {
        let cond = |t: &str| RuntimeCondition { r#type: t.into(), status: true, reason: String::new(), message: String::new() };
        // Ready when pods can be networked: a CNI configuration whose plugins are installed (read
        // afresh, so one a CNI installer drops in later turns it ready, as with containerd).
        let network = match self.network_ready().await {
            Ok(()) => cond("NetworkReady"),
            Err(e) => RuntimeCondition { r#type: "NetworkReady".into(), status: false, reason: "NetworkPluginNotReady".into(), message: e.message().to_string() },
        };
        let mut info = HashMap::new();
        if req.into_inner().verbose {
            let cni = &self.config.cni;
            info.insert(
                "config".into(),
                serde_json::json!({
                    "sandboxImage": self.config.sandbox_image,
                    "registryMirrors": self.config.registry_mirrors,
                    "cgroupDriver": "cgroupfs",
                    // containerd's key: where containers' roots are mounted (critest checks
                    // that its filesystem takes idmapped mounts).
                    "stateDir": self.services.containers.dir(""),
                    "cni": {
                        "confDir": cni.conf_dir,
                        "binDirs": cni.bin_dirs,
                        "pluginTimeoutSeconds": cni.timeout.as_secs(),
                    },
                })
                .to_string(),
            );
        }
        Ok(Response::new(StatusResponse {
            status: Some(RuntimeStatus { conditions: vec![cond("RuntimeReady"), network] }),
            info,
            runtime_handlers: vec![RuntimeHandler {
                name: String::new(),
                features: Some(RuntimeHandlerFeatures { recursive_read_only_mounts: true, user_namespaces: true }),
            }],
            features: Some(RuntimeFeatures { supplemental_groups_policy: true }),
        }))
    }

    async fn runtime_config(&self, _req: Request<RuntimeConfigRequest>) -> CriResult<RuntimeConfigResponse> {
        Ok(Response::new(RuntimeConfigResponse { linux: Some(LinuxRuntimeConfiguration { cgroup_driver: CgroupDriver::Cgroupfs as i32 }) }))
    }

    async fn update_runtime_config(&self, req: Request<UpdateRuntimeConfigRequest>) -> CriResult<UpdateRuntimeConfigResponse> {
        // The pod CIDR is for a CNI configuration the runtime writes from a template (containerd's
        // `conf_template`); Berth uses the configuration the operator or a CNI installer put in
        // the configuration directory, whose IPAM holds the range, so it is only logged.
        let cidr = req.into_inner().runtime_config.and_then(|c| c.network_config).map(|n| n.pod_cidr).unwrap_or_default();
        if !cidr.is_empty() {
            tracing::info!(pod_cidr = %cidr, "kubelet reported the node's pod CIDR");
        }
        Ok(Response::new(UpdateRuntimeConfigResponse {}))
    }

    async fn run_pod_sandbox(&self, req: Request<RunPodSandboxRequest>) -> CriResult<RunPodSandboxResponse> {
        let id = self.run_sandbox(req.into_inner()).await?;
        Ok(Response::new(RunPodSandboxResponse { pod_sandbox_id: id }))
    }

    async fn stop_pod_sandbox(&self, req: Request<StopPodSandboxRequest>) -> CriResult<StopPodSandboxResponse> {
        self.stop_sandbox(&req.into_inner().pod_sandbox_id).await?;
        Ok(Response::new(StopPodSandboxResponse {}))
    }

    async fn remove_pod_sandbox(&self, req: Request<RemovePodSandboxRequest>) -> CriResult<RemovePodSandboxResponse> {
        self.remove_sandbox(&req.into_inner().pod_sandbox_id).await?;
        Ok(Response::new(RemovePodSandboxResponse {}))
    }

    async fn pod_sandbox_status(&self, req: Request<PodSandboxStatusRequest>) -> CriResult<PodSandboxStatusResponse> {
        let req = req.into_inner();
        Ok(Response::new(self.sandbox_status(&req.pod_sandbox_id, req.verbose)?))
    }

    async fn list_pod_sandbox(&self, req: Request<ListPodSandboxRequest>) -> CriResult<ListPodSandboxResponse> {
        Ok(Response::new(ListPodSandboxResponse { items: self.list_sandboxes(req.into_inner().filter) }))
    }

    async fn create_container(&self, req: Request<CreateContainerRequest>) -> CriResult<CreateContainerResponse> {
        let id = self.create_container(req.into_inner()).await?;
        Ok(Response::new(CreateContainerResponse { container_id: id }))
    }

    async fn start_container(&self, req: Request<StartContainerRequest>) -> CriResult<StartContainerResponse> {
        let (h, _) = self.object(meta::KIND_CONTAINER, &req.into_inner().container_id)?;
        self.start_container(&h).await?;
        Ok(Response::new(StartContainerResponse {}))
    }

    async fn stop_container(&self, req: Request<StopContainerRequest>) -> CriResult<StopContainerResponse> {
        let req = req.into_inner();
        // Idempotent (CRI): a container that is gone is stopped.
        let h = match self.object(meta::KIND_CONTAINER, &req.container_id) {
            Ok((h, _)) => h,
            Err(e) if e.code() == tonic::Code::NotFound => return Ok(Response::new(StopContainerResponse {})),
            Err(e) => return Err(e),
        };
        self.services.containers.stop(&h, Some(req.timeout.max(0)), None).await.map_err(status)?;
        Ok(Response::new(StopContainerResponse {}))
    }

    async fn remove_container(&self, req: Request<RemoveContainerRequest>) -> CriResult<RemoveContainerResponse> {
        let id = req.into_inner().container_id;
        match self.object(meta::KIND_CONTAINER, &id) {
            Ok((h, _)) => self.services.containers.remove(&h, true, true).await.map_err(status)?,
            // Idempotent: a container that is gone is removed.
            Err(e) if e.code() == tonic::Code::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(Response::new(RemoveContainerResponse {}))
    }

    async fn list_containers(&self, req: Request<ListContainersRequest>) -> CriResult<ListContainersResponse> {
        Ok(Response::new(ListContainersResponse { containers: self.list_containers(req.into_inner().filter) }))
    }

    async fn container_status(&self, req: Request<ContainerStatusRequest>) -> CriResult<ContainerStatusResponse> {
        let req = req.into_inner();
        let (_, rec) = self.object(meta::KIND_CONTAINER, &req.container_id)?;
        let mut info = HashMap::new();
        if req.verbose {
            info.insert("info".into(), serde_json::json!({"pid": rec.state.pid, "berthName": rec.name, "image": rec.image_name}).to_string());
        }
        let status = self.blocking(move |cri| Ok(cri.container_status(&rec))).await?;
        Ok(Response::new(ContainerStatusResponse { status: Some(status), info }))
    }

    async fn update_container_resources(&self, req: Request<UpdateContainerResourcesRequest>) -> CriResult<UpdateContainerResourcesResponse> {
        let req = req.into_inner();
        let (h, rec) = self.object(meta::KIND_CONTAINER, &req.container_id)?;
        if req.windows.is_some() {
            return Err(crate::error::invalid("windows resources given to a Linux runtime"));
        }
        let r = req.linux.unwrap_or_default();
        security::resources(&r)?;
        // The OOM score is set when the container's processes start; the kubelet resends it
        // unchanged. 0 is "not given" here, as for every other field of the update (proto3 cannot
        // tell them apart; crictl update sends 0).
        let oom = rec.host_config.extra.get("OomScoreAdj").and_then(serde_json::Value::as_i64).unwrap_or(0);
        if r.oom_score_adj != 0 && r.oom_score_adj != oom {
            return Err(crate::error::invalid(format!("oom_score_adj of a created container cannot change (it is {oom}, asked {})", r.oom_score_adj)));
        }
        let u = berth_daemon::service::containers::UpdateRequest {
            memory: r.memory_limit_in_bytes,
            memory_swap: r.memory_swap_limit_in_bytes,
            cpu_shares: r.cpu_shares,
            cpu_quota: r.cpu_quota,
            cpu_period: r.cpu_period,
            cpuset_cpus: r.cpuset_cpus,
            cpuset_mems: r.cpuset_mems,
            ..Default::default()
        };
        self.blocking(move |cri| cri.services.containers.update(&h, &u).map_err(status)).await?;
        Ok(Response::new(UpdateContainerResourcesResponse {}))
    }

    async fn reopen_container_log(&self, req: Request<ReopenContainerLogRequest>) -> CriResult<ReopenContainerLogResponse> {
        let (h, _) = self.object(meta::KIND_CONTAINER, &req.into_inner().container_id)?;
        self.services.containers.reopen_log(&h).await.map_err(status)?;
        Ok(Response::new(ReopenContainerLogResponse {}))
    }

    async fn exec_sync(&self, req: Request<ExecSyncRequest>) -> CriResult<ExecSyncResponse> {
        Ok(Response::new(self.exec_sync(req.into_inner()).await?))
    }

    async fn exec(&self, req: Request<ExecRequest>) -> CriResult<ExecResponse> {
        Ok(Response::new(ExecResponse { url: self.streaming_exec(req.into_inner())? }))
    }

    async fn attach(&self, req: Request<AttachRequest>) -> CriResult<AttachResponse> {
        Ok(Response::new(AttachResponse { url: self.streaming_attach(req.into_inner())? }))
    }

    async fn port_forward(&self, req: Request<PortForwardRequest>) -> CriResult<PortForwardResponse> {
        Ok(Response::new(PortForwardResponse { url: self.streaming_port_forward(req.into_inner())? }))
    }

    async fn container_stats(&self, req: Request<ContainerStatsRequest>) -> CriResult<ContainerStatsResponse> {
        let (h, _) = self.object(meta::KIND_CONTAINER, &req.into_inner().container_id)?;
        let stats = self.blocking(move |cri| Ok(cri.container_stats(&h))).await?;
        Ok(Response::new(ContainerStatsResponse { stats: Some(stats) }))
    }

    async fn list_container_stats(&self, req: Request<ListContainerStatsRequest>) -> CriResult<ListContainerStatsResponse> {
        let filter = req.into_inner().filter.unwrap_or_default();
        let stats = self.blocking(move |cri| Ok(cri.list_container_stats(&filter))).await?;
        Ok(Response::new(ListContainerStatsResponse { stats }))
    }

    async fn pod_sandbox_stats(&self, req: Request<PodSandboxStatsRequest>) -> CriResult<PodSandboxStatsResponse> {
        let (_, rec) = self.object(meta::KIND_SANDBOX, &req.into_inner().pod_sandbox_id)?;
        let stats = self.blocking(move |cri| Ok(cri.sandbox_stats(&rec))).await?;
        Ok(Response::new(PodSandboxStatsResponse { stats: Some(stats) }))
    }

    async fn list_pod_sandbox_stats(&self, req: Request<ListPodSandboxStatsRequest>) -> CriResult<ListPodSandboxStatsResponse> {
        let filter = req.into_inner().filter.unwrap_or_default();
        let stats = self
            .blocking(move |cri| {
                Ok(cri
                    .objects(meta::KIND_SANDBOX)
                    .into_iter()
                    .filter(|(_, r)| filter.id.is_empty() || r.id.starts_with(&filter.id))
                    .filter(|(_, r)| meta::selected(&meta::map(&labels(r), meta::LABELS), &filter.label_selector))
                    .map(|(_, r)| cri.sandbox_stats(&r))
                    .collect())
            })
            .await?;
        Ok(Response::new(ListPodSandboxStatsResponse { stats }))
    }

    async fn checkpoint_container(&self, _req: Request<CheckpointContainerRequest>) -> CriResult<CheckpointContainerResponse> {
        Err(tonic::Status::unimplemented("Berth does not checkpoint containers (no CRIU integration)"))
    }

    type GetContainerEventsStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<ContainerEventResponse, tonic::Status>> + Send>>;

    async fn get_container_events(&self, _req: Request<GetEventsRequest>) -> CriResult<Self::GetContainerEventsStream> {
        Err(tonic::Status::unimplemented("Berth does not stream CRI container events yet (evented PLEG); the kubelet polls"))
    }

    async fn list_metric_descriptors(&self, _req: Request<ListMetricDescriptorsRequest>) -> CriResult<ListMetricDescriptorsResponse> {
        Ok(Response::new(ListMetricDescriptorsResponse { descriptors: vec![] }))
    }

    async fn list_pod_sandbox_metrics(&self, _req: Request<ListPodSandboxMetricsRequest>) -> CriResult<ListPodSandboxMetricsResponse> {
        Ok(Response::new(ListPodSandboxMetricsResponse { pod_metrics: vec![] }))
    }
}
