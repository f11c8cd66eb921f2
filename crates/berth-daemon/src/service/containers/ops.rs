//! The smaller container verbs: pause/unpause (cgroup freezer), rename, top and stats (read from
//! the container's cgroups, v1 or v2).

use super::record::Status;
use super::{ContainerService, Handle, ServiceError};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

/// The container's directory under a cgroup v1 controller, or under the v2 hierarchy; `name` is
/// its cgroup path from the hierarchy's root ([`super::hostcfg::cgroup_name`]).
pub(super) fn cgroup_dir(name: &str, controller: &str) -> Option<PathBuf> {
    let v2 = PathBuf::from("/sys/fs/cgroup").join(name);
    if v2.join("cgroup.procs").exists() {
        return Some(v2);
    }
    let v1 = PathBuf::from("/sys/fs/cgroup").join(controller).join(name);
    v1.exists().then_some(v1)
}

fn read_u64(p: PathBuf) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn cgroup_pids(id: &str) -> Vec<i32> {
    let dir = cgroup_dir(id, "pids").or_else(|| cgroup_dir(id, "memory"));
    dir.and_then(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

impl ContainerService {
    /// Freezes or thaws the container's cgroup.
    pub(super) fn freeze(&self, h: &Handle, frozen: bool) -> Result<(), ServiceError> {
        let rec = h.snapshot();
        let id = &super::hostcfg::cgroup_name(&rec.id, &rec.host_config);
        let result = if let Some(d) = cgroup_dir(id, "freezer").filter(|d| d.join("freezer.state").exists()) {
            std::fs::write(d.join("freezer.state"), if frozen { "FROZEN" } else { "THAWED" })
        } else if let Some(d) = cgroup_dir(id, "").filter(|d| d.join("cgroup.freeze").exists()) {
            std::fs::write(d.join("cgroup.freeze"), if frozen { "1" } else { "0" })
        } else {
            return Err(ServiceError::Internal("the container's freezer cgroup is missing".into()));
        };
        result.map_err(|e| ServiceError::Internal(format!("freezing: {e}")))
    }

    /// `POST /containers/{id}/pause`.
    pub fn pause(&self, h: &Arc<Handle>) -> Result<(), ServiceError> {
        let rec = h.snapshot();
        match rec.state.status {
            Status::Running => {}
            Status::Paused => return Err(ServiceError::Conflict(format!("Container {} is already paused", rec.id))),
            _ => return Err(ServiceError::Conflict(format!("Container {} is not running", rec.id))),
        }
        self.freeze(h, true)?;
        let rec = self.save(h, |r| r.state.status = Status::Paused)?;
        self.event(&rec, "pause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub fn unpause(&self, h: &Arc<Handle>) -> Result<(), ServiceError> {
        let rec = h.snapshot();
        if rec.state.status != Status::Paused {
            return Err(ServiceError::Conflict(format!("Container {} is not paused", rec.id)));
        }
        self.freeze(h, false)?;
        let rec = self.save(h, |r| r.state.status = Status::Running)?;
        self.event(&rec, "unpause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/rename`.
    pub fn rename(&self, h: &Arc<Handle>, new: &str) -> Result<(), ServiceError> {
        let new = new.trim_start_matches('/').to_string();
        if !super::names::valid(&new) {
            return Err(ServiceError::Invalid(format!("Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
        }
        let rec = h.snapshot();
        {
            let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(other) = names.get(&new) {
                return Err(ServiceError::Conflict(format!("Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name.")));
            }
            names.remove(&rec.name);
            names.insert(new.clone(), rec.id.clone());
        }
        let old = rec.name.clone();
        let rec = self.save(h, |r| r.name = new.clone())?;
        // The embedded DNS answers to the new name from now on.
        self.networks.rename_member(&rec.id, &new);
        self.event(&rec, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `GET /containers/{id}/top`: the container's processes, from its cgroup and /proc.
    pub fn top(&self, h: &Handle) -> Result<Value, ServiceError> {
        let rec = h.snapshot();
        if !matches!(rec.state.status, Status::Running | Status::Paused) {
            return Err(ServiceError::Conflict(format!("Container {} is not running", rec.id)));
        }
        let tick = 100.0;
        let mut rows = Vec::new();
        for pid in cgroup_pids(&super::hostcfg::cgroup_name(&rec.id, &rec.host_config)) {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
            let f: Vec<&str> = after.split_whitespace().collect();
            let ppid = f.get(1).copied().unwrap_or("0");
            let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0) + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
            let secs = (ticks / tick) as u64;
            let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Uid:").and_then(|v| v.split_whitespace().next().map(str::to_string))))
                .unwrap_or_default();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).split('\0').filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
            let user = if uid == "0" { "root".to_string() } else { uid };
            rows.push(json!([user, pid.to_string(), ppid, "0", "", "?", format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60), cmd]));
        }
        Ok(json!({"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "Processes": rows}))
    }

    /// One `GET /containers/{id}/stats` sample, in Docker's shape (from cgroups v1 or v2).
    pub fn stats_sample(&self, h: &Handle, pre: Option<&Value>) -> Value {
        let rec = h.snapshot();
        let id = &super::hostcfg::cgroup_name(&rec.id, &rec.host_config);
        let running = matches!(rec.state.status, Status::Running | Status::Paused);
        let v2 = cgroup_dir(id, "").filter(|d| d.join("cpu.stat").exists());
        let (cpu_total, mem_usage, mem_limit, pids) = match (&v2, running) {
            (_, false) => (0, 0, 0, 0),
            (Some(d), true) => {
                let usec = std::fs::read_to_string(d.join("cpu.stat"))
                    .ok()
                    .and_then(|s| s.lines().find_map(|l| l.strip_prefix("usage_usec ").and_then(|v| v.trim().parse::<u64>().ok())))
                    .unwrap_or(0);
                let limit = std::fs::read_to_string(d.join("memory.max")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(u64::MAX);
                (usec * 1000, read_u64(d.join("memory.current")).unwrap_or(0), limit, read_u64(d.join("pids.current")).unwrap_or(0))
            }
            (None, true) => (
                cgroup_dir(id, "cpuacct").and_then(|d| read_u64(d.join("cpuacct.usage"))).unwrap_or(0),
                cgroup_dir(id, "memory").and_then(|d| read_u64(d.join("memory.usage_in_bytes"))).unwrap_or(0),
                cgroup_dir(id, "memory").and_then(|d| read_u64(d.join("memory.limit_in_bytes"))).unwrap_or(u64::MAX),
                cgroup_dir(id, "pids").and_then(|d| read_u64(d.join("pids.current"))).unwrap_or(0),
            ),
        };
        let host_mem = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())))
            .map(|k| k * 1024)
            .unwrap_or(0);
        let system = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| s.lines().next().map(|l| l.split_whitespace().skip(1).filter_map(|v| v.parse::<u64>().ok()).sum::<u64>()))
            .map(|ticks| ticks * 10_000_000)
            .unwrap_or(0);
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let empty = json!({"cpu_usage": {"total_usage": 0}, "system_cpu_usage": 0, "online_cpus": cpus});
        json!({
            "read": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "preread": pre.and_then(|p| p["read"].as_str()).unwrap_or("0001-01-01T00:00:00Z"),
            "name": format!("/{}", rec.name),
            "id": rec.id,
            "num_procs": 0,
            "pids_stats": {"current": pids},
            "cpu_stats": {"cpu_usage": {"total_usage": cpu_total, "usage_in_kernelmode": 0, "usage_in_usermode": 0}, "system_cpu_usage": system, "online_cpus": cpus, "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
            "precpu_stats": pre.map(|p| p["cpu_stats"].clone()).unwrap_or(empty),
            "memory_stats": {"usage": mem_usage, "limit": mem_limit.min(host_mem.max(1)), "stats": {}},
            "blkio_stats": {"io_service_bytes_recursive": null},
            "networks": if running { net_dev(rec.state.pid) } else { json!({}) },
        })
    }
}

/// Per-interface counters of the container's network namespace (`/proc/PID/net/dev`), loopback
/// left out, in the shape of Docker's `networks` stats.
fn net_dev(pid: i32) -> Value {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else { continue };
        let name = name.trim();
        let f: Vec<u64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if name == "lo" || f.len() < 16 {
            continue;
        }
        out.insert(
            name.to_string(),
            json!({"rx_bytes": f[0], "rx_packets": f[1], "rx_errors": f[2], "rx_dropped": f[3],
                   "tx_bytes": f[8], "tx_packets": f[9], "tx_errors": f[10], "tx_dropped": f[11]}),
        );
    }
    Value::Object(out)
}
