//! The `HostConfig` fields Berth reads from the create request as sent (`HostConfig.extra`):
//! cgroup placement and namespace, OOM score, block IO weights and throttles, real-time CPU,
//! swappiness, runtime, storage options, security options, masked paths and device requests. Each
//! is validated with dockerd's message, or discarded with dockerd's warning where this host lacks
//! the cgroup file it needs (as dockerd's `verifyPlatformContainerResources` does), and translated
//! into the runtime configuration.

use super::ServiceError;
use berth_api::container::HostConfig;
use berth_runtime::config::{DeviceLimit, SeccompMode};
use berth_runtime::RuntimeConfig;
use serde_json::{json, Value};
use std::path::Path;

/// Runtime names a create may ask for: Berth has one built-in runtime, which answers to the names
/// dockerd gives runc (its default) as well as its own.
pub const RUNTIMES: [&str; 4] = ["runc", "io.containerd.runc.v2", "io.containerd.runtime.v1.linux", "berth"];

fn int(h: &HostConfig, key: &str) -> i64 {
    h.extra.get(key).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(h: &'a HostConfig, key: &str) -> &'a str {
    h.extra.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Whether the host's cgroups are the unified (v2) hierarchy alone.
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A cgroup interface file of the host: `/sys/fs/cgroup/<v1 controller>/<file>` on v1, the
/// unified hierarchy's controller list on v2.
fn host_has(v1_controller: &str, v1_file: &str, v2_controller: &str) -> bool {
    if cgroup_v2() {
        std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").is_ok_and(|c| c.split_whitespace().any(|x| x == v2_controller))
    } else {
        Path::new("/sys/fs/cgroup").join(v1_controller).join(v1_file).exists()
    }
}

/// Whether containers can have a TCP buffer memory limit (cgroup v1 `memory.kmem.tcp.*`; v2 has none).
pub fn kernel_memory_tcp() -> bool {
    !cgroup_v2() && Path::new("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes").exists()
}

/// dockerd's default `CgroupnsMode`: `host` on cgroup v1, `private` on v2.
pub fn default_cgroupns() -> &'static str {
    if cgroup_v2() {
        "private"
    } else {
        "host"
    }
}

/// The cgroup path of a container: `/berth-<id>`, or `<CgroupParent>/<id>` as dockerd's cgroupfs
/// driver places it (always from the hierarchy's root; see docs/API-COVERAGE.md).
pub fn cgroups_path(id: &str, h: &HostConfig) -> String {
    let parent = text(h, "CgroupParent").trim_matches('/');
    if parent.is_empty() {
        format!("/berth-{id}")
    } else {
        format!("/{parent}/{id}")
    }
}

/// [`cgroups_path`] without its leading slash: the directory under each hierarchy's root.
pub fn cgroup_name(id: &str, h: &HostConfig) -> String {
    cgroups_path(id, h).trim_start_matches('/').to_string()
}

/// The cgroup directory name of the container whose files are in `dir`, from the runtime
/// configuration the shim was given (`berth-<id>` when it cannot be read).
pub fn cgroup_name_in(id: &str, dir: &Path) -> String {
    std::fs::read(dir.join("runtime.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<RuntimeConfig>(&b).ok())
        .map(|c| c.cgroups_path.trim_start_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("berth-{id}"))
}

/// `"0-2,4"` → the set of numbers.
fn parse_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    Some(out)
}

fn available(v1_file: &str, fallback: &str) -> String {
    let v1 = Path::new("/sys/fs/cgroup/cpuset").join(v1_file);
    std::fs::read_to_string(&v1).or_else(|_| std::fs::read_to_string(fallback)).unwrap_or_default().trim().to_string()
}

/// dockerd's cpuset check: a malformed list, or one naming CPUs (nodes) the host does not have.
fn check_cpuset(value: &str, what: &str, v1_file: &str, fallback: &str) -> Result<(), ServiceError> {
    if value.is_empty() {
        return Ok(());
    }
    let Some(asked) = parse_list(value) else {
        return Err(ServiceError::Invalid(format!("Invalid value {value} for cpuset {}", if what == "CPUs" { "cpus" } else { "mems" })));
    };
    let avail = available(v1_file, fallback);
    let have = parse_list(&avail).unwrap_or_default();
    if asked.iter().any(|c| !have.contains(c)) {
        return Err(ServiceError::Invalid(format!("Requested {what} are not available - requested {value}, available: {avail}")));
    }
    Ok(())
}

/// `[{"Path": …, "Rate"|"Weight": n}]`.
pub(super) fn device_limits(h: &HostConfig, key: &str, value_key: &str) -> Result<Vec<DeviceLimit>, ServiceError> {
    let Some(list) = h.extra.get(key).filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| ServiceError::Invalid(format!("HostConfig.{key} must be an array")))?;
    list.iter()
        .map(|d| {
            let path = d.get("Path").and_then(Value::as_str).unwrap_or("").to_string();
            let value = d.get(value_key).and_then(Value::as_u64).unwrap_or(0);
            Ok(DeviceLimit { path, value })
        })
        .collect()
}

/// One `--security-opt` as dockerd's `parseSecurityOpt` reads it.
pub enum SecurityOpt {
    NoNewPrivileges(bool),
    Seccomp(String),
    AppArmor(String),
    /// SELinux labels: accepted and without effect on a host without SELinux, as dockerd.
    Label,
}

/// Parses `SecurityOpt` with dockerd's rules and messages (`=` or the deprecated `:`).
pub fn security_opts(h: &HostConfig) -> Result<Vec<SecurityOpt>, ServiceError> {
    let mut out = Vec::new();
    for opt in h.security_opt.clone().unwrap_or_default() {
        if opt == "no-new-privileges" {
            out.push(SecurityOpt::NoNewPrivileges(true));
            continue;
        }
        if opt == "disable" {
            out.push(SecurityOpt::Label);
            continue;
        }
        let Some((k, v)) = opt.split_once('=').or_else(|| opt.split_once(':')) else {
            return Err(ServiceError::Invalid(format!("invalid --security-opt 1: {opt:?}")));
        };
        out.push(match k {
            "label" => SecurityOpt::Label,
            "apparmor" => SecurityOpt::AppArmor(v.to_string()),
            "seccomp" => SecurityOpt::Seccomp(v.to_string()),
            "no-new-privileges" => match v {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => SecurityOpt::NoNewPrivileges(true),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => SecurityOpt::NoNewPrivileges(false),
                _ => return Err(ServiceError::Invalid(format!("invalid --security-opt 2: {opt:?}"))),
            },
            _ => return Err(ServiceError::Invalid(format!("invalid --security-opt 2: {opt:?}"))),
        });
    }
    Ok(out)
}

/// dockerd's create-time checks of these fields, with its messages; fields this host cannot apply
/// are discarded (set to their zero value, as inspect then shows) with dockerd's warning.
pub fn validate(h: &mut HostConfig) -> Result<Vec<String>, ServiceError> {
    let bad = |m: &str| Err(ServiceError::Invalid(m.to_string()));
    let warnings = validate_resources(h)?;
    // Settings.
    let oom = int(h, "OomScoreAdj");
    if !(-1000..=1000).contains(&oom) {
        return bad(&format!("Invalid value {oom}, range for oom score adj is [-1000, 1000]"));
    }
    let ns = text(h, "CgroupnsMode");
    if !["", "host", "private"].contains(&ns) {
        return bad(&format!("invalid cgroup namespace mode: {ns}"));
    }
    if ns.is_empty() {
        h.extra.insert("CgroupnsMode".into(), json!(default_cgroupns()));
    }
    let runtime = text(h, "Runtime");
    if !runtime.is_empty() && !RUNTIMES.contains(&runtime) {
        return bad(&format!("Unknown runtime specified {runtime}"));
    }
    if let Some(opts) = h.extra.get("StorageOpt").and_then(Value::as_object).filter(|o| !o.is_empty()) {
        if let Some(k) = opts.keys().find(|k| k.as_str() != "size") {
            return bad(&format!("Unknown option {k}"));
        }
        // Berth's overlay snapshotter has no project quotas: dockerd's answer on overlay without them.
        return bad("--storage-opt is supported only for overlay over xfs with 'pquota' mount option");
    }
    security_opts(h)?;
    userns_host(h)?;
    if h.annotations.as_ref().is_some_and(|a| a.contains_key("")) {
        return bad("invalid Annotations: the empty string is not permitted as an annotation key");
    }
    Ok(warnings)
}

/// `HostConfig.UsernsMode`: `""` (the daemon's default: remapped with `--userns-remap`, else the
/// host's) or `host` (never remapped). dockerd takes any other value as `""`; Berth refuses it, in
/// the words of the docker CLI's own check, so a typo cannot silently mean "remapped".
pub fn userns_host(h: &HostConfig) -> Result<bool, ServiceError> {
    match text(h, "UsernsMode") {
        "" => Ok(false),
        "host" => Ok(true),
        m => Err(ServiceError::Invalid(format!("invalid USER mode: {m}"))),
    }
}

/// dockerd's refusals of settings that need the host's user namespace, made only when the
/// daemon remaps (`--userns-remap`) and the container does not opt out (`--userns host`).
pub fn check_userns(h: &HostConfig, remapping: bool) -> Result<(), ServiceError> {
    if !remapping || userns_host(h)? {
        return Ok(());
    }
    let bad = |m: &str| Err(ServiceError::Invalid(m.to_string()));
    if h.privileged {
        return bad("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode");
    }
    if h.network_mode == "host" {
        return bad("cannot share the host's network namespace when user namespaces are enabled");
    }
    if h.pid_mode == "host" {
        return bad("cannot share the host PID namespace when user namespaces are enabled");
    }
    check_cgroupns_in_userns(text(h, "CgroupnsMode"), cgroup_v2())
}

/// `--cgroupns private` in a remapped container on a cgroup v1 host: the runtime (libcontainer
/// 0.7) cannot mount the v1 hierarchies from inside the container's user namespace (the container
/// would start with an empty `/sys/fs/cgroup` but one hierarchy), so Berth refuses it rather than
/// start a container whose cgroup view is broken. dockerd's runc mounts them; cgroup v2, and
/// v1's default `host`, work.
fn check_cgroupns_in_userns(mode: &str, v2: bool) -> Result<(), ServiceError> {
    if v2 || mode != "private" {
        return Ok(());
    }
    Err(ServiceError::Invalid(
        "--cgroupns private is not supported with user namespaces on a cgroup v1 host: the v1 hierarchies cannot be mounted in the container's user namespace; use --cgroupns host (the default on cgroup v1) or --userns host".into(),
    ))
}

/// dockerd's checks of the resources (at create and at update), with its messages and warnings.
pub fn validate_resources(h: &mut HostConfig) -> Result<Vec<String>, ServiceError> {
    let bad = |m: &str| Err(ServiceError::Invalid(m.to_string()));
    let mut warnings = Vec::new();
    check_rootless_limits(h)?;
    if h.memory > 0 && h.memory < 6 * 1024 * 1024 {
        return bad("Minimum memory limit allowed is 6MB");
    }
    if h.memory_swap > 0 && h.memory == 0 {
        return bad("You should always set the Memory limit when using Memoryswap limit, see usage");
    }
    if h.memory_swap > 0 && h.memory_swap < h.memory {
        return bad("Minimum memoryswap limit should be larger than memory limit, see usage");
    }
    // Memory.
    let swappiness = h.extra.get("MemorySwappiness").and_then(Value::as_i64).unwrap_or(-1);
    if swappiness != -1 && !(0..=100).contains(&swappiness) {
        return bad(&format!("Invalid value: {swappiness}, valid memory swappiness range is 0-100"));
    }
    if h.memory_reservation > 0 && h.memory_reservation < 6 * 1024 * 1024 {
        return bad("Minimum memory reservation allowed is 6MB");
    }
    if h.memory > 0 && h.memory_reservation > 0 && h.memory < h.memory_reservation {
        return bad("Minimum memory limit can not be less than memory reservation limit, see usage");
    }
    if h.oom_kill_disable == Some(true) && cgroup_v2() {
        warnings.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".to_string());
        h.oom_kill_disable = Some(false);
    } else if h.oom_kill_disable == Some(true) && h.memory == 0 {
        warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".to_string());
    }
    if int(h, "KernelMemoryTCP") != 0 && !kernel_memory_tcp() {
        warnings.push("Your kernel does not support kernel memory TCP limit capabilities or the cgroup is not mounted. Limitation discarded.".to_string());
        h.extra.insert("KernelMemoryTCP".into(), json!(0));
    }
    // CPU.
    if h.nano_cpus > 0 && h.cpu_period > 0 {
        return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }
    if h.nano_cpus > 0 && h.cpu_quota > 0 {
        return bad("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    }
    if h.cpu_period != 0 && !(1000..=1_000_000).contains(&h.cpu_period) {
        return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    }
    if h.cpu_quota > 0 && h.cpu_quota < 1000 {
        return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)");
    }
    check_cpuset(&h.cpuset_cpus, "CPUs", "cpuset.cpus", "/sys/devices/system/cpu/online")?;
    check_cpuset(&h.cpuset_mems, "memory nodes", "cpuset.mems", "/sys/devices/system/node/online")?;
    let (rt_period, rt_runtime) = (int(h, "CpuRealtimePeriod"), int(h, "CpuRealtimeRuntime"));
    if (rt_period > 0 || rt_runtime > 0) && !host_has("cpu", "cpu.rt_runtime_us", "cpu.rt") {
        return bad("Your kernel does not support cgroup cpu real-time runtime");
    }
    if rt_period > 0 && rt_runtime > rt_period {
        return bad("cpu real-time runtime cannot be higher than cpu real-time period");
    }
    // Block IO: weights need a proportional-weight IO scheduler's cgroup files.
    let weight = int(h, "BlkioWeight");
    if weight > 0 {
        if !host_has("blkio", "blkio.weight", "io") {
            warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".to_string());
            h.extra.insert("BlkioWeight".into(), json!(0));
        } else if !(10..=1000).contains(&weight) {
            return bad("Range of blkio weight is from 10 to 1000");
        }
    }
    if h.extra.get("BlkioWeightDevice").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) && !host_has("blkio", "blkio.weight_device", "io") {
        warnings.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.".to_string());
        h.extra.insert("BlkioWeightDevice".into(), json!([]));
    }
    Ok(warnings)
}

/// A rootless daemon refuses the limits whose cgroup v2 controller is not delegated to it.
fn check_rootless_limits(h: &HostConfig) -> Result<(), ServiceError> {
    use crate::rootless::check_limit;
    let memory = [("--memory", h.memory > 0), ("--memory-reservation", h.memory_reservation > 0), ("--memory-swap", h.memory_swap > 0)];
    let cpu = [("--cpus", h.nano_cpus > 0), ("--cpu-shares", h.cpu_shares > 0), ("--cpu-quota", h.cpu_quota > 0), ("--cpu-period", h.cpu_period > 0)];
    let cpuset = [("--cpuset-cpus", !h.cpuset_cpus.is_empty()), ("--cpuset-mems", !h.cpuset_mems.is_empty())];
    let pids = [("--pids-limit", h.pids_limit.is_some_and(|p| p > 0))];
    let io = [("--blkio-weight", int(h, "BlkioWeight") > 0)];
    for (controller, settings) in [("memory", &memory[..]), ("cpu", &cpu[..]), ("cpuset", &cpuset[..]), ("pids", &pids[..]), ("io", &io[..])] {
        if let Some((setting, _)) = settings.iter().find(|(_, set)| *set) {
            check_limit(setting, controller)?;
        }
    }
    Ok(())
}

/// `HostConfig.DeviceCgroupRules` as sent (checked at start, as dockerd checks them).
pub fn device_cgroup_rules(h: &HostConfig) -> Vec<String> {
    h.extra.get("DeviceCgroupRules").and_then(Value::as_array).map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// What dockerd checks when the container starts (before any task): its device cgroup rules are
/// well formed, block IO devices exist, and some device driver can satisfy each device request
/// (Berth has none: no GPU drivers).
pub fn start_checks(h: &HostConfig) -> Result<(), ServiceError> {
    if let Some(bad) = device_cgroup_rules(h).into_iter().find(|r| berth_types::device::CgroupRule::parse(r).is_none()) {
        return Err(ServiceError::Internal(format!("invalid device cgroup rule format: '{bad}'")));
    }
    for key in ["BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"] {
        for d in device_limits(h, key, "Rate")? {
            berth_runtime::devices::major_minor(&d.path).map_err(ServiceError::Internal)?;
        }
    }
    if let Some(req) = h.extra.get("DeviceRequests").and_then(Value::as_array).and_then(|a| a.first()) {
        let driver = req.get("Driver").and_then(Value::as_str).unwrap_or("");
        // Go's %v of [][]string: [[gpu utility] [compute]].
        let caps: Vec<String> = req
            .get("Capabilities")
            .and_then(Value::as_array)
            .map(|sets| sets.iter().map(|s| format!("[{}]", s.as_array().map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")).unwrap_or_default())).collect())
            .unwrap_or_default();
        return Err(ServiceError::Internal(format!("could not select device driver {driver:?} with capabilities: [{}]", caps.join(" "))));
    }
    Ok(())
}

/// Sets the runtime configuration's fields for these settings.
pub fn apply(id: &str, h: &HostConfig, cfg: &mut RuntimeConfig) -> Result<(), ServiceError> {
    let r = &mut cfg.resources;
    r.memory_swappiness = h.extra.get("MemorySwappiness").and_then(Value::as_i64).filter(|v| (0..=100).contains(v)).map(|v| v as u64);
    r.blkio_weight = u16::try_from(int(h, "BlkioWeight")).ok().filter(|w| *w > 0);
    r.blkio_weight_device = device_limits(h, "BlkioWeightDevice", "Weight")?;
    r.blkio_read_bps = device_limits(h, "BlkioDeviceReadBps", "Rate")?;
    r.blkio_write_bps = device_limits(h, "BlkioDeviceWriteBps", "Rate")?;
    r.blkio_read_iops = device_limits(h, "BlkioDeviceReadIOps", "Rate")?;
    r.blkio_write_iops = device_limits(h, "BlkioDeviceWriteIOps", "Rate")?;
    r.kernel_memory_tcp = Some(int(h, "KernelMemoryTCP")).filter(|v| *v != 0);
    r.cpu_realtime_period = u64::try_from(int(h, "CpuRealtimePeriod")).ok().filter(|v| *v > 0);
    r.cpu_realtime_runtime = Some(int(h, "CpuRealtimeRuntime")).filter(|v| *v != 0);
    let oom = int(h, "OomScoreAdj");
    cfg.oom_score_adj = (oom != 0).then_some(oom as i32);
    let ns = text(h, "CgroupnsMode");
    cfg.cgroupns_host = if ns.is_empty() { default_cgroupns() == "host" } else { ns == "host" };
    cfg.cgroups_path = cgroups_path(id, h);
    let paths = |key: &str| h.extra.get(key).and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok());
    cfg.masked_paths = paths("MaskedPaths");
    cfg.readonly_paths = paths("ReadonlyPaths");
    for opt in security_opts(h)? {
        match opt {
            SecurityOpt::NoNewPrivileges(v) => cfg.no_new_privileges = v,
            SecurityOpt::Seccomp(p) if p == "unconfined" => cfg.seccomp = SeccompMode::Unconfined,
            SecurityOpt::Seccomp(p) => {
                let profile = serde_json::from_str(&p).map_err(|e| ServiceError::Invalid(format!("Decoding seccomp profile failed: {e}")))?;
                cfg.seccomp = SeccompMode::Profile(profile);
            }
            SecurityOpt::AppArmor(p) => cfg.apparmor_profile = Some(p),
            SecurityOpt::Label => {}
        }
    }
    Ok(())
}

/// dockerd's check of one extra host (`--add-host name:ip`; `host-gateway` stands for the
/// gateway): `bad format for add-host` / `invalid IP address in add-host`.
pub fn check_extra_host(h: &str) -> Result<(), ServiceError> {
    match h.split_once(':') {
        Some((name, ip)) if !name.is_empty() => {
            if ip != "host-gateway" && ip.parse::<std::net::IpAddr>().is_err() {
                return Err(ServiceError::Invalid(format!("invalid IP address in add-host: {ip:?}")));
            }
            Ok(())
        }
        _ => Err(ServiceError::Invalid(format!("bad format for add-host: {h:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hc(extra: Value) -> HostConfig {
        serde_json::from_value(extra).unwrap()
    }

    #[test]
    fn lists_parse_as_cpusets() {
        assert_eq!(parse_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_list("x"), None);
        assert_eq!(parse_list("3-1"), None);
    }

    #[test]
    fn security_opts_follow_dockerd() {
        let h = hc(json!({"SecurityOpt": ["no-new-privileges:false", "label=disable", "apparmor=unconfined", "seccomp=unconfined"]}));
        let v = security_opts(&h).unwrap();
        assert!(matches!(v[0], SecurityOpt::NoNewPrivileges(false)));
        for (opt, msg) in [("bogus", "invalid --security-opt 1: \"bogus\""), ("systempaths=unconfined", "invalid --security-opt 2: \"systempaths=unconfined\""), ("no-new-privileges=maybe", "invalid --security-opt 2: \"no-new-privileges=maybe\"")] {
            let e = security_opts(&hc(json!({"SecurityOpt": [opt]}))).err().unwrap().to_string();
            assert_eq!(e, msg);
        }
    }

    #[test]
    fn parent_and_namespace() {
        let h = hc(json!({"CgroupParent": "/ad.slice/"}));
        assert_eq!(cgroups_path("abc", &h), "/ad.slice/abc");
        assert_eq!(cgroups_path("abc", &hc(json!({}))), "/berth-abc");
        let mut h = hc(json!({"CgroupnsMode": "bogus"}));
        assert_eq!(validate(&mut h).err().unwrap().to_string(), "invalid cgroup namespace mode: bogus");
        let mut h = hc(json!({}));
        validate(&mut h).unwrap();
        assert_eq!(h.extra["CgroupnsMode"], default_cgroupns());
    }

    #[test]
    fn userns_modes_as_dockerd() {
        for (mode, ok) in [("", true), ("host", true), ("private", false), ("host:x", false)] {
            let mut h = hc(json!({"UsernsMode": mode}));
            assert_eq!(validate(&mut h).is_ok(), ok, "{mode}");
        }
        assert_eq!(validate(&mut hc(json!({"UsernsMode": "bogus"}))).err().unwrap().to_string(), "invalid USER mode: bogus");
        let privileged = hc(json!({"Privileged": true}));
        assert!(check_userns(&privileged, false).is_ok());
        assert!(check_userns(&privileged, true).err().unwrap().to_string().starts_with("privileged mode is incompatible with user namespaces."));
        assert!(check_userns(&hc(json!({"Privileged": true, "UsernsMode": "host"})), true).is_ok());
        let e = check_userns(&hc(json!({"NetworkMode": "host"})), true).err().unwrap().to_string();
        assert_eq!(e, "cannot share the host's network namespace when user namespaces are enabled");
        let e = check_userns(&hc(json!({"PidMode": "host"})), true).err().unwrap().to_string();
        assert_eq!(e, "cannot share the host PID namespace when user namespaces are enabled");
        assert!(check_cgroupns_in_userns("private", false).err().unwrap().to_string().starts_with("--cgroupns private is not supported with user namespaces on a cgroup v1 host"));
        assert!(check_cgroupns_in_userns("private", true).is_ok());
        assert!(check_cgroupns_in_userns("host", false).is_ok());
    }

    #[test]
    fn device_requests_fail_as_without_a_driver() {
        let h = hc(json!({"DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu", "utility"], ["compute"]]}]}));
        assert_eq!(start_checks(&h).err().unwrap().to_string(), "could not select device driver \"\" with capabilities: [[gpu utility] [compute]]");
    }
}

