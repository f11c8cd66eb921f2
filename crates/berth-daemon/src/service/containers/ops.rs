//! The smaller container verbs: pause/unpause (cgroup freezer), rename and top (read from the
//! container's cgroups, v1 or v2); stats are in `stats.rs`.

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

pub(super) fn cgroup_pids(id: &str) -> Vec<i32> {
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
            return Err(ServiceError::Invalid(format!("Error when allocating new name: Invalid container name (/{new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
        }
        let rec = h.snapshot();
        {
            let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(other) = names.get(&new) {
                return Err(ServiceError::Conflict(format!("Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name.")));
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
    pub fn top(&self, h: &Handle, ps_args: Option<&str>) -> Result<Value, ServiceError> {
        let rec = h.snapshot();
        if !matches!(rec.state.status, Status::Running | Status::Paused) {
            return Err(ServiceError::Conflict(format!("Container {} is not running", rec.id)));
        }
        if let Some(args) = ps_args {
            return ps_top(args, &cgroup_pids(&super::hostcfg::cgroup_name(&rec.id, &rec.host_config)));
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
}

/// `top` with `ps_args`, as dockerd does it: the host's `ps` with those arguments (and `-q` with
/// the container's pids, retried without where the options do not combine), its rows kept for the
/// container's processes by the `PID` column.
fn ps_top(args: &str, pids: &[i32]) -> Result<Value, ServiceError> {
    if args.split_whitespace().any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('q')) {
        return Err(ServiceError::Invalid("ps \"-q\" is not supported".into()));
    }
    let argv: Vec<&str> = args.split(' ').collect();
    let list = pids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let run = |extra: &[&str]| std::process::Command::new("ps").args(&argv).args(extra).output();
    let out = match run(&["-q", &list]) {
        Ok(o) if o.status.success() => o,
        _ => match run(&[]) {
            Ok(o) if o.status.success() => o,
            Ok(o) => return Err(ServiceError::Internal(format!("ps: {}: {}", String::from_utf8_lossy(&o.stderr).trim(), o.status))),
            Err(e) => return Err(ServiceError::Internal(format!("ps: {e}"))),
        },
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let titles: Vec<String> = lines.next().unwrap_or("").split_whitespace().map(str::to_string).collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| ServiceError::Internal("Couldn't find PID field in ps output".into()))?;
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        // The last column keeps its spaces (a command line).
        let mut fields: Vec<String> = Vec::new();
        let mut rest = line.trim_start();
        while fields.len() + 1 < titles.len() {
            let Some(end) = rest.find(char::is_whitespace) else { break };
            fields.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
        fields.push(rest.to_string());
        if fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)) {
            rows.push(fields);
        }
    }
    Ok(json!({"Titles": titles, "Processes": rows}))
}
