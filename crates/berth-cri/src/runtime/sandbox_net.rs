//! A pod sandbox's CNI network around its lifecycle: attached after the sandbox container is
//! created and before it starts (it joins the pinned namespace, `ns:<path>`), detached on
//! `StopPodSandbox`, `RemovePodSandbox` and a failed `RunPodSandbox`, and, at daemon start, for
//! every attachment whose sandbox is gone or not running (a daemon that died mid-way); running
//! pods' attachments are `CHECK`ed then.

use crate::cni::pod::{self, PodRequest};
use crate::cni::CniError;
use crate::error::task;
use crate::meta::Metadata;
use crate::proto::*;
use crate::Cri;
use berth_daemon::service::containers::Status;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// CRI's protocol names as CNI's portmap plugin spells them.
fn protocol(p: i32) -> &'static str {
    match Protocol::try_from(p) {
        Ok(Protocol::Udp) => "udp",
        Ok(Protocol::Sctp) => "sctp",
        _ => "tcp",
    }
}

/// A Kubernetes quantity (`10M`, `1Gi`, `500k`, `100`) in units: how the kubelet's bandwidth
/// annotations are written (bits per second).
fn quantity(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let v = n * mult;
    (v.is_finite() && v >= 1.0).then_some(v as u64)
}

/// The capability arguments of a pod (containerd's): `portMappings` (those with a host port),
/// `dns` (the pod's DNS config) and `bandwidth` (from the `kubernetes.io/ingress-bandwidth` and
/// `-egress-bandwidth` annotations, the burst unlimited, as containerd sets it).
pub(crate) fn capability_args(cfg: &PodSandboxConfig) -> Result<Map<String, Value>, tonic::Status> {
    let mut caps = Map::new();
    let mut ports = vec![];
    for p in cfg.port_mappings.iter().filter(|p| p.host_port > 0) {
        if p.container_port <= 0 || p.container_port > 65535 || p.host_port > 65535 {
            return Err(crate::error::invalid(format!("invalid port mapping {}:{}", p.host_port, p.container_port)));
        }
        ports.push(json!({"hostPort": p.host_port, "containerPort": p.container_port, "protocol": protocol(p.protocol), "hostIP": p.host_ip}));
    }
    if !ports.is_empty() {
        caps.insert("portMappings".into(), Value::Array(ports));
    }
    if let Some(dns) = &cfg.dns_config {
        caps.insert("dns".into(), json!({"servers": dns.servers, "searches": dns.searches, "options": dns.options}));
    }
    let mut bw = Map::new();
    for (annotation, rate, burst) in [("kubernetes.io/ingress-bandwidth", "ingressRate", "ingressBurst"), ("kubernetes.io/egress-bandwidth", "egressRate", "egressBurst")] {
        if let Some(v) = cfg.annotations.get(annotation) {
            let bits = quantity(v).ok_or_else(|| crate::error::invalid(format!("invalid {annotation} annotation {v:?}")))?;
            bw.insert(rate.into(), json!(bits));
            bw.insert(burst.into(), json!(u32::MAX));
        }
    }
    if !bw.is_empty() {
        caps.insert("bandwidth".into(), Value::Object(bw));
    }
    Ok(caps)
}

impl Cri {
    fn net_lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.net_locks.lock().unwrap_or_else(|p| p.into_inner()).entry(id.to_string()).or_default().clone()
    }

    /// Runs blocking CNI work off the async workers.
    async fn cni<T: Send + 'static>(&self, f: impl FnOnce(&pod::PodNetwork) -> Result<T, CniError> + Send + 'static) -> Result<T, tonic::Status> {
        let net = self.network.clone();
        berth_types::sched::spawn_blocking(move || f(&net)).await.map_err(task)?.map_err(|e| crate::error::cni_status(&e))
    }

    /// Whether pods can be networked now (for `Status` and before a `RunPodSandbox`).
    pub(crate) async fn network_ready(&self) -> Result<(), tonic::Status> {
        self.cni(|n| n.ready().map(|_| ())).await
    }

    /// Attaches sandbox `id` (created, not started) in a new namespace at `netns`.
    pub(crate) async fn network_setup(&self, id: &str, md: &Metadata, netns: std::path::PathBuf, capability_args: Map<String, Value>) -> Result<(), tonic::Status> {
        let lock = self.net_lock(id);
        let _held = lock.lock().await;
        let req = PodRequest { sandbox_id: id.to_string(), namespace: md.namespace.clone(), name: md.name.clone(), uid: md.uid.clone(), capability_args };
        let a = self.cni(move |n| n.setup(&req, &netns)).await?;
        self.pod_ips.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), pod::ips(&a));
        Ok(())
    }

    /// Detaches sandbox `id` if it is attached (repeatable).
    pub(crate) async fn network_teardown(&self, id: &str) -> Result<(), tonic::Status> {
        let lock = self.net_lock(id);
        let _held = lock.lock().await;
        let sid = id.to_string();
        self.cni(move |n| n.teardown_id(&sid)).await?;
        self.pod_ips.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        // The lock goes with the pod unless someone waits on it (the map's and ours are the two).
        let mut locks = self.net_locks.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&lock) == 2 {
            locks.remove(id);
        }
        Ok(())
    }

    /// The pod's IP and additional IPs.
    pub(crate) fn pod_ips(&self, id: &str) -> (String, Vec<String>) {
        let ips = self.pod_ips.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned().unwrap_or_default();
        let mut it = ips.into_iter();
        (it.next().unwrap_or_default(), it.collect())
    }

    /// Daemon start: tears down the attachments of sandboxes that are gone or not running (what a
    /// daemon killed during a RunPodSandbox or StopPodSandbox left), `CHECK`s the others.
    pub(crate) async fn recover_networks(&self) {
        let net = self.network.clone();
        let attachments = match berth_types::sched::spawn_blocking(move || net.store().all()).await {
            Ok(a) => a,
            Err(_) => return,
        };
        for a in attachments {
            let running = self
                .services
                .containers
                .get(&a.sandbox_id)
                .map(|h| h.snapshot())
                .is_ok_and(|r| r.id == a.sandbox_id && matches!(r.state.status, Status::Running | Status::Paused | Status::Restarting));
            if running {
                self.pod_ips.lock().unwrap_or_else(|p| p.into_inner()).insert(a.sandbox_id.clone(), pod::ips(&a));
                let id = a.sandbox_id.clone();
                if let Err(error) = self.cni(move |n| n.check(&a)).await {
                    tracing::warn!(sandbox.id = %id, error = %error.message(), "pod network CHECK failed");
                }
                continue;
            }
            match self.network_teardown(&a.sandbox_id).await {
                Ok(()) => tracing::info!(sandbox.id = %a.sandbox_id, "tore down the network of a pod the previous daemon left"),
                Err(error) => tracing::warn!(sandbox.id = %a.sandbox_id, error = %error.message(), "tearing down a pod network the previous daemon left failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_args_follow_containerd() {
        let mut cfg = PodSandboxConfig {
            port_mappings: vec![
                PortMapping { protocol: Protocol::Udp as i32, container_port: 53, host_port: 5353, host_ip: "127.0.0.1".into() },
                PortMapping { protocol: Protocol::Tcp as i32, container_port: 80, host_port: 0, host_ip: String::new() },
            ],
            dns_config: Some(DnsConfig { servers: vec!["10.0.0.10".into()], searches: vec!["svc.local".into()], options: vec!["ndots:5".into()] }),
            ..Default::default()
        };
        cfg.annotations.insert("kubernetes.io/ingress-bandwidth".into(), "10M".into());
        let caps = capability_args(&cfg).unwrap();
        assert_eq!(caps["portMappings"], json!([{"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"}]));
        assert_eq!(caps["dns"], json!({"servers": ["10.0.0.10"], "searches": ["svc.local"], "options": ["ndots:5"]}));
        assert_eq!(caps["bandwidth"], json!({"ingressRate": 10_000_000u64, "ingressBurst": u32::MAX}));
        assert_eq!(quantity("1Gi"), Some(1 << 30));
        assert_eq!(quantity("x"), None);
        cfg.annotations.insert("kubernetes.io/egress-bandwidth".into(), "fast".into());
        assert!(capability_args(&cfg).unwrap_err().message().contains("egress-bandwidth"));
    }
}
