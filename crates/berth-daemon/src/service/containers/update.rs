//! `POST /containers/{id}/update`: resources and the restart policy, validated as dockerd
//! validates them, recorded for later starts and written live into a running container's cgroups
//! (v1 files, or their v2 equivalents with runc's conversions).

use super::ops::cgroup_dir;
use super::record::Status;
use super::{ContainerService, Handle, ServiceError};
use berth_api::container::HostConfig;
use serde_json::json;
use std::sync::Arc;

/// `POST /containers/{id}/update` body: the resources and restart policy that can change live.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateRequest {
    /// Memory limit.
    pub memory: i64,
    /// Memory + swap.
    pub memory_swap: i64,
    /// Soft limit.
    pub memory_reservation: i64,
    /// CPU shares.
    pub cpu_shares: i64,
    /// CFS quota.
    pub cpu_quota: i64,
    /// CFS period.
    pub cpu_period: i64,
    /// Real-time period (recorded for later starts, as dockerd).
    pub cpu_realtime_period: i64,
    /// Real-time runtime (recorded for later starts, as dockerd).
    pub cpu_realtime_runtime: i64,
    /// `--cpus` × 1e9.
    pub nano_cpus: i64,
    /// CPUs allowed.
    pub cpuset_cpus: String,
    /// Memory nodes allowed.
    pub cpuset_mems: String,
    /// Block IO weight.
    pub blkio_weight: u16,
    /// Task limit.
    pub pids_limit: Option<i64>,
    /// Restart policy.
    pub restart_policy: Option<berth_api::container::RestartPolicy>,
}

/// cgroup v2's `cpu.weight` for v1 shares (runc's `ConvertCPUSharesToCgroupV2Value`).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// cgroup v2's `memory.swap.max` (swap alone) for Docker's memory+swap total; -1 is unlimited.
pub fn v2_swap(memory: i64, memory_swap: i64) -> String {
    if memory_swap < 0 {
        "max".into()
    } else {
        (memory_swap - memory).max(0).to_string()
    }
}

/// The update's fields over the container's host config (zero values leave a field alone).
fn merge(hc: &mut HostConfig, u: &UpdateRequest) {
    for (field, v) in [
        (&mut hc.memory, u.memory),
        (&mut hc.memory_swap, u.memory_swap),
        (&mut hc.memory_reservation, u.memory_reservation),
        (&mut hc.cpu_shares, u.cpu_shares),
        (&mut hc.cpu_quota, u.cpu_quota),
        (&mut hc.cpu_period, u.cpu_period),
        (&mut hc.nano_cpus, u.nano_cpus),
    ] {
        if v != 0 {
            *field = v;
        }
    }
    if !u.cpuset_cpus.is_empty() {
        hc.cpuset_cpus = u.cpuset_cpus.clone();
    }
    if !u.cpuset_mems.is_empty() {
        hc.cpuset_mems = u.cpuset_mems.clone();
    }
    for (key, v) in [("CpuRealtimePeriod", u.cpu_realtime_period), ("CpuRealtimeRuntime", u.cpu_realtime_runtime), ("BlkioWeight", u.blkio_weight as i64)] {
        if v != 0 {
            hc.extra.insert(key.into(), json!(v));
        }
    }
    if u.pids_limit.is_some() {
        hc.pids_limit = u.pids_limit;
    }
    if let Some(p) = &u.restart_policy {
        hc.restart_policy = p.clone();
    }
}

/// dockerd's `UpdateContainer` checks: `--cpus` and the CFS period/quota set each other, so one
/// cannot be updated once the other is set.
fn conflicts(hc: &HostConfig, u: &UpdateRequest) -> Result<(), &'static str> {
    if u.nano_cpus > 0 && hc.cpu_period > 0 {
        return Err("Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
    }
    if u.nano_cpus > 0 && hc.cpu_quota > 0 {
        return Err("Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
    }
    if u.cpu_period > 0 && hc.nano_cpus > 0 {
        return Err("Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
    }
    if u.cpu_quota > 0 && hc.nano_cpus > 0 {
        return Err("Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
    }
    Ok(())
}

/// dockerd's warnings for an update: those of the update's own resources (not of the container's
/// merged ones), so `update --oom-kill-disable` warns of no memory limit even when one is set.
pub fn update_warnings(body: &[u8]) -> Vec<String> {
    serde_json::from_slice::<HostConfig>(body).ok().and_then(|mut hc| super::hostcfg::validate_resources(&mut hc).ok()).unwrap_or_default()
}

impl ContainerService {
    /// Changes resources (live, in the container's cgroups, and for later starts) and the restart policy.
    pub fn update(&self, h: &Arc<Handle>, u: &UpdateRequest) -> Result<(), ServiceError> {
        self.update_with_warnings(h, u).map(|_| ())
    }

    /// [`Self::update`], returning dockerd's warnings (settings this host discarded).
    pub fn update_with_warnings(&self, h: &Arc<Handle>, u: &UpdateRequest) -> Result<Vec<String>, ServiceError> {
        // Validated first, so a refused update changes nothing.
        let current = h.snapshot();
        conflicts(&current.host_config, u).map_err(|m| ServiceError::Conflict(format!("Cannot update container {}: {m}", current.id)))?;
        let mut merged = current.host_config;
        merge(&mut merged, u);
        let warnings = super::hostcfg::validate_resources(&mut merged)?;
        let rec = self.save(h, |r| r.host_config = merged.clone())?;
        // Later starts use the new values.
        let runtime = self.runtime_config(&rec)?;
        berth_types::persist::replace_file_json(&self.dir(&rec.id).join("runtime.json"), &runtime)
            .map_err(|e| ServiceError::Internal(format!("update: {e}")))?;
        if !matches!(rec.state.status, Status::Running | Status::Paused) {
            self.event(&rec, "update", &[]);
            return Ok(warnings);
        }
        let id = &super::hostcfg::cgroup_name(&rec.id, &rec.host_config);
        let r = &runtime.resources;
        let write = |controller: &str, v1: &str, v2: &str, value: String| -> Result<(), ServiceError> {
            let Some(d) = cgroup_dir(id, controller) else { return Ok(()) };
            let (file, value) = if d.starts_with(format!("/sys/fs/cgroup/{controller}")) { (v1, value) } else { (v2, value) };
            std::fs::write(d.join(file), &value).map_err(|e| ServiceError::Invalid(format!("update {file}={value}: {e}")))
        };
        let v2 = cgroup_dir(id, "").is_some_and(|d| d.join("cgroup.controllers").exists());
        if let Some(m) = r.memory {
            let swap = r.memory_swap.unwrap_or(m * 2);
            if v2 {
                write("", "", "memory.max", m.to_string())?;
                write("", "", "memory.swap.max", v2_swap(m, swap))?;
            } else {
                // Raise memory+swap first when growing, so the kernel accepts both (memsw >= mem).
                let memsw = if swap < 0 { "-1".to_string() } else { swap.to_string() };
                let _ = write("memory", "memory.memsw.limit_in_bytes", "", memsw.clone());
                write("memory", "memory.limit_in_bytes", "", m.to_string())?;
                let _ = write("memory", "memory.memsw.limit_in_bytes", "", memsw);
            }
        }
        if let Some(v) = r.memory_reservation {
            write("memory", "memory.soft_limit_in_bytes", "memory.low", v.to_string())?;
        }
        if let Some(s) = r.cpu_shares {
            write("cpu", "cpu.shares", "cpu.weight", if v2 { shares_to_weight(s).to_string() } else { s.to_string() })?;
        }
        if let Some(q) = r.cpu_quota {
            let period = r.cpu_period.unwrap_or(100_000);
            if v2 {
                write("", "", "cpu.max", format!("{q} {period}"))?;
            } else {
                write("cpu", "cpu.cfs_period_us", "", period.to_string()).ok();
                write("cpu", "cpu.cfs_quota_us", "", q.to_string())?;
            }
        }
        if let Some(c) = &r.cpuset_cpus {
            write("cpuset", "cpuset.cpus", "cpuset.cpus", c.clone())?;
        }
        if let Some(c) = &r.cpuset_mems {
            write("cpuset", "cpuset.mems", "cpuset.mems", c.clone())?;
        }
        if let Some(w) = r.blkio_weight {
            write("blkio", "blkio.weight", "io.weight", w.to_string())?;
        }
        if let Some(p) = r.pids_limit {
            write("pids", "pids.max", "pids.max", if p < 0 { "max".into() } else { p.to_string() })?;
        }
        self.event(&rec, "update", &[]);
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_conversions_follow_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(v2_swap(64 << 20, 128 << 20), (64u64 << 20).to_string());
        assert_eq!(v2_swap(64 << 20, -1), "max");
    }

    #[test]
    fn zero_fields_leave_the_config_alone() {
        let mut hc = HostConfig { memory: 1 << 30, cpuset_cpus: "0".into(), ..Default::default() };
        merge(&mut hc, &UpdateRequest { cpu_shares: 512, blkio_weight: 300, ..Default::default() });
        assert_eq!((hc.memory, hc.cpu_shares, hc.cpuset_cpus.as_str()), (1 << 30, 512, "0"));
        assert_eq!(hc.extra["BlkioWeight"], 300);
    }
}
