//! Container and pod stats from the containers' cgroups (the Docker side's stats sampler) and
//! their writable layers (the snapshotter's usage). `usage_nano_cores` is the rate since the
//! previous sample of the same container, as the kubelet's CRI stats provider expects.

use super::labels;
use crate::meta::{self, Metadata};
use crate::proto::*;
use crate::Cri;
use berth_daemon::service::containers::{ContainerRecord, Handle};
use berth_snapshot::Snapshotter;
use std::sync::Arc;

/// One cgroup reading of a container.
struct Sample {
    timestamp: i64,
    cpu_total: u64,
    memory: u64,
    limit: u64,
    pids: u64,
    networks: serde_json::Value,
}

fn u(v: u64) -> Option<UInt64Value> {
    Some(UInt64Value { value: v })
}

impl Cri {
    fn sample(&self, h: &Handle) -> Sample {
        let v = self.services.containers.stats_sample(h, None);
        Sample {
            timestamp: super::now_nanos(),
            cpu_total: v["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap_or(0),
            memory: v["memory_stats"]["usage"].as_u64().unwrap_or(0),
            limit: v["memory_stats"]["limit"].as_u64().unwrap_or(0),
            pids: v["pids_stats"]["current"].as_u64().unwrap_or(0),
            networks: v["networks"].clone(),
        }
    }

    /// CPU usage with the rate since this object's previous sample.
    fn cpu(&self, id: &str, s: &Sample) -> CpuUsage {
        let mut prev = self.cpu_samples.lock().unwrap_or_else(|p| p.into_inner());
        let rate = prev.get(id).and_then(|(t, c)| {
            let dt = s.timestamp.checked_sub(*t).filter(|d| *d > 0)? as u128;
            Some((s.cpu_total.saturating_sub(*c) as u128 * 1_000_000_000 / dt) as u64)
        });
        prev.insert(id.to_string(), (s.timestamp, s.cpu_total));
        CpuUsage { timestamp: s.timestamp, usage_core_nano_seconds: u(s.cpu_total), usage_nano_cores: rate.and_then(u) }
    }

    fn memory(s: &Sample) -> MemoryUsage {
        MemoryUsage {
            timestamp: s.timestamp,
            working_set_bytes: u(s.memory),
            available_bytes: u(s.limit.saturating_sub(s.memory)),
            usage_bytes: u(s.memory),
            rss_bytes: None,
            page_faults: None,
            major_page_faults: None,
        }
    }

    /// Stats of one container. Blocking (cgroup files, the writable layer's size).
    pub(crate) fn container_stats(&self, h: &Handle) -> ContainerStats {
        let rec = h.snapshot();
        let s = self.sample(h);
        let l = labels(&rec);
        let md: Metadata = meta::decode(&l, meta::METADATA);
        let snaps = self.services.containers.snapshots();
        let usage = snaps.usage(&rec.snapshot).ok();
        ContainerStats {
            attributes: Some(ContainerAttributes {
                id: rec.id.clone(),
                metadata: Some(ContainerMetadata { name: md.name, attempt: md.attempt }),
                labels: meta::map(&l, meta::LABELS),
                annotations: meta::map(&l, meta::ANNOTATIONS),
            }),
            cpu: Some(self.cpu(&rec.id, &s)),
            memory: Some(Self::memory(&s)),
            writable_layer: Some(FilesystemUsage {
                timestamp: s.timestamp,
                fs_id: Some(FilesystemIdentifier { mountpoint: self.services.system.root().join("snapshots").display().to_string() }),
                used_bytes: usage.as_ref().map(|u| u.size).and_then(u),
                inodes_used: usage.as_ref().map(|u| u.inodes).and_then(u),
            }),
            swap: None,
        }
    }

    /// `ListContainerStats`: the containers that match (running or not, as containerd lists them).
    pub(crate) fn list_container_stats(&self, f: &ContainerStatsFilter) -> Vec<ContainerStats> {
        self.objects(meta::KIND_CONTAINER)
            .into_iter()
            .filter(|(_, r)| f.id.is_empty() || r.id.starts_with(&f.id))
            .filter(|(_, r)| f.pod_sandbox_id.is_empty() || labels(r).get(meta::SANDBOX).is_some_and(|s| s.starts_with(&f.pod_sandbox_id)))
            .filter(|(_, r)| meta::selected(&meta::map(&labels(r), meta::LABELS), &f.label_selector))
            .map(|(h, _)| self.container_stats(&h))
            .collect()
    }

    /// Stats of a pod: the sum over its sandbox and containers, its network from the sandbox's
    /// namespace. Blocking.
    pub(crate) fn sandbox_stats(&self, sandbox: &ContainerRecord) -> PodSandboxStats {
        let l = labels(sandbox);
        let md: Metadata = meta::decode(&l, meta::METADATA);
        let members: Vec<(Arc<Handle>, ContainerRecord)> =
            self.objects(meta::KIND_CONTAINER).into_iter().filter(|(_, r)| labels(r).get(meta::SANDBOX) == Some(&sandbox.id)).collect();
        let own = self.services.containers.get(&sandbox.id).ok().map(|h| self.sample(&h));
        let containers: Vec<ContainerStats> = members.iter().map(|(h, _)| self.container_stats(h)).collect();
        let member_samples: Vec<Sample> = members.iter().map(|(h, _)| self.sample(h)).collect();
        let mut total = Sample { timestamp: super::now_nanos(), cpu_total: 0, memory: 0, limit: 0, pids: 0, networks: serde_json::Value::Null };
        for s in own.iter().chain(member_samples.iter()) {
            total.cpu_total += s.cpu_total;
            total.memory += s.memory;
            total.limit = total.limit.max(s.limit);
            total.pids += s.pids;
        }
        let mut interfaces: Vec<NetworkInterfaceUsage> = own
            .as_ref()
            .and_then(|s| s.networks.as_object().cloned())
            .unwrap_or_default()
            .into_iter()
            .map(|(name, v)| NetworkInterfaceUsage {
                name,
                rx_bytes: v["rx_bytes"].as_u64().and_then(u),
                rx_errors: v["rx_errors"].as_u64().and_then(u),
                tx_bytes: v["tx_bytes"].as_u64().and_then(u),
                tx_errors: v["tx_errors"].as_u64().and_then(u),
            })
            .collect();
        let default = interfaces.iter().position(|i| i.name == "eth0").map(|i| interfaces.remove(i));
        PodSandboxStats {
            attributes: Some(PodSandboxAttributes {
                id: sandbox.id.clone(),
                metadata: Some(PodSandboxMetadata { name: md.name, uid: md.uid, namespace: md.namespace, attempt: md.attempt }),
                labels: meta::map(&l, meta::LABELS),
                annotations: meta::map(&l, meta::ANNOTATIONS),
            }),
            linux: Some(LinuxPodSandboxStats {
                cpu: Some(self.cpu(&format!("pod:{}", sandbox.id), &total)),
                memory: Some(Self::memory(&total)),
                network: Some(NetworkUsage { timestamp: total.timestamp, default_interface: default, interfaces }),
                process: Some(ProcessUsage { timestamp: total.timestamp, process_count: u(total.pids) }),
                containers,
            }),
            windows: None,
        }
    }
}
