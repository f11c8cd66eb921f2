//! `POST /containers/{id}/update`: resources and the restart policy, validated as dockerd
//! validates them, recorded for later starts and written live into a running container's cgroups
//! (v1 files, or their v2 equivalents with runc's conversions).
//!
//! dockerd 20.10 changes only the restart policy and the CPU, cpuset, memory, real-time, pids and
//! `BlkioWeight` limits, and answers 200 to every other `Resources` field while ignoring it. Berth
//! applies them all: the block IO device lists, swappiness, `OomKillDisable` and `KernelMemoryTCP`
//! live in the cgroup, `Ulimits` live on every process of the container (`prlimit`), device cgroup
//! rules live in a v1 device cgroup; `Devices`, `Init` and device rules on cgroup v2 take effect at
//! the next start (the answer warns so when the container runs); `CgroupParent` changes only a
//! stopped container (a running one is refused: its cgroup cannot move); `DeviceRequests` are
//! refused as a start refuses them (no device driver).

use super::ops::cgroup_dir;
use super::record::Status;
use super::{ContainerService, Handle, ServiceError};
use berth_api::container::{HostConfig, Ulimit};
use serde_json::{json, Value};
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
    /// Swappiness (0-100; -1: the host's).
    pub memory_swappiness: Option<i64>,
    /// Disable the OOM killer (cgroup v1).
    pub oom_kill_disable: Option<bool>,
    /// TCP buffer memory limit (cgroup v1 `memory.kmem.tcp.limit_in_bytes`).
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: i64,
    /// Resource limits, merged by name into the container's.
    pub ulimits: Option<Vec<Ulimit>>,
    /// Run an init as PID 1 (from the next start).
    pub init: Option<bool>,
    /// The cgroup parent (a stopped container only).
    pub cgroup_parent: String,
    /// Per-device weights and throttles, devices, device cgroup rules and device requests: each
    /// replaces the container's list when present (null or absent: unchanged).
    #[serde(flatten)]
    pub lists: std::collections::BTreeMap<String, Value>,
}

/// The list fields an update replaces whole (kept in the host config as sent).
const LISTS: [&str; 8] =
    ["BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "Devices", "DeviceCgroupRules", "DeviceRequests"];

/// The block IO lists: the host config key, the v1 file, the v2 `io.max` key (None: `io.weight`).
const BLKIO: [(&str, &str, Option<&str>); 5] = [
    ("BlkioWeightDevice", "blkio.weight_device", None),
    ("BlkioDeviceReadBps", "blkio.throttle.read_bps_device", Some("rbps")),
    ("BlkioDeviceWriteBps", "blkio.throttle.write_bps_device", Some("wbps")),
    ("BlkioDeviceReadIOps", "blkio.throttle.read_iops_device", Some("riops")),
    ("BlkioDeviceWriteIOps", "blkio.throttle.write_iops_device", Some("wiops")),
];

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
    if let Some(v) = u.memory_swappiness {
        hc.extra.insert("MemorySwappiness".into(), json!(v));
    }
    if u.oom_kill_disable.is_some() {
        hc.oom_kill_disable = u.oom_kill_disable;
    }
    if u.kernel_memory_tcp != 0 {
        hc.extra.insert("KernelMemoryTCP".into(), json!(u.kernel_memory_tcp));
    }
    if let Some(new) = &u.ulimits {
        let list = hc.ulimits.get_or_insert_with(Vec::new);
        for l in new {
            match list.iter_mut().find(|x| x.name == l.name) {
                Some(x) => *x = l.clone(),
                None => list.push(l.clone()),
            }
        }
    }
    if u.init.is_some() {
        hc.init = u.init;
    }
    if !u.cgroup_parent.is_empty() {
        hc.extra.insert("CgroupParent".into(), json!(u.cgroup_parent));
    }
    for key in LISTS {
        if let Some(v) = u.lists.get(key).filter(|v| !v.is_null()) {
            hc.extra.insert(key.into(), v.clone());
        }
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

/// The `prlimit` resource of a ulimit name (`nofile`, …), as the docker CLI's `ParseUlimit` knows them.
fn rlimit_resource(name: &str) -> Option<rustix::process::Resource> {
    use rustix::process::Resource as R;
    Some(match name {
        "core" => R::Core,
        "cpu" => R::Cpu,
        "data" => R::Data,
        "fsize" => R::Fsize,
        "locks" => R::Locks,
        "memlock" => R::Memlock,
        "msgqueue" => R::Msgqueue,
        "nice" => R::Nice,
        "nofile" => R::Nofile,
        "nproc" => R::Nproc,
        "rss" => R::Rss,
        "rtprio" => R::Rtprio,
        "rttime" => R::Rttime,
        "sigpending" => R::Sigpending,
        "stack" => R::Stack,
        "as" => R::As,
        _ => return None,
    })
}

/// The docker CLI's checks of a ulimit (`units.ParseUlimit`), with its messages.
fn check_ulimits(list: &[Ulimit]) -> Result<(), ServiceError> {
    for l in list {
        if rlimit_resource(&l.name).is_none() {
            return Err(ServiceError::Invalid(format!("invalid ulimit type: {}", l.name)));
        }
        if l.soft >= 0 && l.hard >= 0 && l.soft > l.hard {
            return Err(ServiceError::Invalid(format!("ulimit soft limit must be less than or equal to hard limit: {} > {}", l.soft, l.hard)));
        }
    }
    Ok(())
}

/// A status whose container has processes and a cgroup (or is about to again).
fn has_cgroup(status: Status) -> bool {
    !matches!(status, Status::Created | Status::Exited | Status::Dead)
}

/// A device list of the host config as `(major:minor, value)`, resolved on the host now.
fn device_values(h: &HostConfig, key: &str) -> Vec<(String, u64)> {
    let value_key = if key == "BlkioWeightDevice" { "Weight" } else { "Rate" };
    let list = super::hostcfg::device_limits(h, key, value_key).unwrap_or_default();
    list.into_iter()
        .filter_map(|d| {
            let (major, minor) = berth_runtime::devices::major_minor(&d.path).ok()?;
            Some((format!("{major}:{minor}"), d.value))
        })
        .collect()
}

impl ContainerService {
    /// Changes resources (live, in the container's cgroups, and for later starts) and the restart policy.
    pub fn update(&self, h: &Arc<Handle>, u: &UpdateRequest) -> Result<(), ServiceError> {
        self.update_with_warnings(h, u).map(|_| ())
    }

    /// [`Self::update`], returning what the update could not change in the running container
    /// (settings that take effect at its next start), as warnings for the answer.
    pub fn update_with_warnings(&self, h: &Arc<Handle>, u: &UpdateRequest) -> Result<Vec<String>, ServiceError> {
        // Validated first, so a refused update changes nothing.
        let current = h.snapshot();
        let refuse = |m: &str| ServiceError::Conflict(format!("Cannot update container {}: {m}", current.id));
        conflicts(&current.host_config, u).map_err(refuse)?;
        let mut merged = current.host_config.clone();
        merge(&mut merged, u);
        let cgroup = |h: &HostConfig| super::hostcfg::cgroup_name(&current.id, h);
        if has_cgroup(current.state.status) && cgroup(&merged) != cgroup(&current.host_config) {
            return Err(refuse("the cgroup parent of a running container cannot change (its processes cannot move): stop it first"));
        }
        super::hostcfg::validate_resources(&mut merged)?;
        check_ulimits(merged.ulimits.as_deref().unwrap_or_default())?;
        super::create::devices(&merged)?;
        super::hostcfg::start_checks(&merged)?;
        let rec = self.save(h, |r| r.host_config = merged.clone())?;
        // Later starts use the new values.
        let runtime = self.runtime_config(&rec)?;
        berth_types::persist::replace_file_json(&self.dir(&rec.id).join("runtime.json"), &runtime)
            .map_err(|e| ServiceError::Internal(format!("update: {e}")))?;
        let mut pending = Vec::new();
        if has_cgroup(rec.state.status) {
            pending = self.update_live(&rec, &current.host_config, u, &runtime.resources)?;
        }
        self.event(&rec, "update", &[]);
        Ok(pending)
    }

    /// Writes the update into the running container's cgroups and processes; returns warnings for
    /// what only its next start applies.
    fn update_live(&self, rec: &super::record::ContainerRecord, before: &HostConfig, u: &UpdateRequest, r: &berth_runtime::config::Resources) -> Result<Vec<String>, ServiceError> {
        let id = &super::hostcfg::cgroup_name(&rec.id, &rec.host_config);
        let write = |controller: &str, v1: &str, v2: &str, value: String| -> Result<(), ServiceError> {
            let Some(d) = cgroup_dir(id, controller) else { return Ok(()) };
            let file = if d.starts_with(format!("/sys/fs/cgroup/{controller}")) { v1 } else { v2 };
            if file.is_empty() {
                return Ok(());
            }
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
        // Per-device block IO: the new list's values, and devices dropped from a list reset (0
        // in v1, `max` or the default weight in v2).
        for (key, v1_file, v2_key) in BLKIO {
            if u.lists.get(key).is_none_or(Value::is_null) {
                continue;
            }
            let (old, new) = (device_values(before, key), device_values(&rec.host_config, key));
            let dropped = old.iter().filter(|(d, _)| !new.iter().any(|(n, _)| n == d)).map(|(d, _)| (d.clone(), None));
            for (dev, value) in dropped.chain(new.iter().map(|(d, v)| (d.clone(), Some(*v)))) {
                let (v1_value, v2_file, v2_value) = match (v2_key, value) {
                    (Some(k), Some(v)) => (v.to_string(), "io.max", format!("{dev} {k}={v}")),
                    (Some(k), None) => ("0".into(), "io.max", format!("{dev} {k}=max")),
                    (None, Some(v)) => (v.to_string(), "io.weight", format!("{dev} {v}")),
                    (None, None) => ("0".into(), "io.weight", format!("{dev} default")),
                };
                write("blkio", v1_file, v2_file, if v2 { v2_value } else { format!("{dev} {v1_value}") })?;
            }
        }
        // Memory settings cgroup v2 does not have (validation discarded them there with a warning).
        if !v2 {
            if let Some(s) = u.memory_swappiness {
                // -1: the host's, i.e. what the parent cgroup has.
                let parent = || cgroup_dir(id, "memory").and_then(|d| std::fs::read_to_string(d.parent()?.join("memory.swappiness")).ok());
                let value = if s < 0 { parent().unwrap_or_else(|| "60".into()) } else { s.to_string() };
                write("memory", "memory.swappiness", "", value.trim().to_string())?;
            }
            if let Some(d) = rec.host_config.oom_kill_disable.filter(|_| u.oom_kill_disable.is_some()) {
                write("memory", "memory.oom_control", "", if d { "1" } else { "0" }.into())?;
            }
            if u.kernel_memory_tcp != 0 {
                let v = if u.kernel_memory_tcp < 0 { "-1".to_string() } else { u.kernel_memory_tcp.to_string() };
                write("memory", "memory.kmem.tcp.limit_in_bytes", "", v)?;
            }
        }
        let mut pending = Vec::new();
        if u.lists.get("DeviceCgroupRules").is_some_and(|v| !v.is_null()) {
            match cgroup_dir(id, "devices").filter(|d| d.join("devices.allow").exists()) {
                Some(d) => {
                    let (old, new) = (super::hostcfg::device_cgroup_rules(before), super::hostcfg::device_cgroup_rules(&rec.host_config));
                    let set = |file: &str, rule: &str| std::fs::write(d.join(file), rule).map_err(|e| ServiceError::Invalid(format!("update {file}={rule}: {e}")));
                    for rule in old.iter().filter(|r| !new.contains(r)) {
                        set("devices.deny", rule)?;
                    }
                    for rule in &new {
                        set("devices.allow", rule)?;
                    }
                }
                None => pending.push("DeviceCgroupRules: applied when the container next starts (its cgroup v2 device filter is fixed while it runs)".to_string()),
            }
        }
        if let Some(list) = &u.ulimits {
            let pids = super::ops::cgroup_pids(id);
            for l in list {
                let Some(resource) = rlimit_resource(&l.name) else { continue };
                let rlimit = rustix::process::Rlimit { current: u64::try_from(l.soft).ok(), maximum: u64::try_from(l.hard).ok() };
                for pid in pids.iter().filter_map(|p| rustix::process::Pid::from_raw(*p)) {
                    // A process that exited meanwhile is not an error.
                    match rustix::process::prlimit(Some(pid), resource, rlimit) {
                        Ok(_) | Err(rustix::io::Errno::SRCH) => {}
                        Err(e) => return Err(ServiceError::Invalid(format!("update ulimit {}: {e}", l.name))),
                    }
                }
            }
        }
        if u.lists.get("Devices").is_some_and(|v| !v.is_null()) {
            pending.push("Devices: applied when the container next starts (a running container keeps its devices)".to_string());
        }
        if u.init.is_some_and(|i| Some(i) != before.init) {
            pending.push("Init: applied when the container next starts".to_string());
        }
        Ok(pending)
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
