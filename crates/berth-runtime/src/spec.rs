//! OCI runtime spec generation with Docker's defaults (moby's `oci/defaults.go` behaviour):
//! the 14 default capabilities, the default seccomp profile, masked and read-only `/proc` paths,
//! a minimal `/dev`, `/dev/shm` of 64 MiB, and cgroup device rules for the default devices.

use crate::config::{NamespaceMode, RuntimeConfig, SeccompMode};
use crate::RuntimeError;
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

/// Docker's default capability set.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel knows (up to CAP_CHECKPOINT_RESTORE).
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
    "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/// Paths masked from containers (bind of /dev/null or an empty read-only tmpfs).
pub const MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths mounted read-only in containers.
pub const READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

fn cap_name(c: &str) -> String {
    let up = c.to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

/// Capabilities in this process's bounding set: what a container can be given at all. A host (or an
/// outer container) may withhold some; "all" means all of these, as with runc.
pub fn host_capabilities() -> Vec<String> {
    let bnd = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapBnd:").and_then(|v| u64::from_str_radix(v.trim(), 16).ok())))
        .unwrap_or(u64::MAX);
    ALL_CAPS.iter().enumerate().filter(|(i, _)| bnd & (1u64 << i) != 0).map(|(_, c)| c.to_string()).collect()
}

/// The effective capability set after `--privileged`, `--cap-add` and `--cap-drop`.
pub fn capabilities(cfg: &RuntimeConfig) -> Result<Vec<String>, RuntimeError> {
    let host = host_capabilities();
    if cfg.privileged {
        return Ok(host);
    }
    let valid = |c: &String| c == "CAP_ALL" || ALL_CAPS.contains(&c.as_str());
    let add: Vec<String> = cfg.cap_add.iter().map(|c| cap_name(c)).collect();
    let drop: Vec<String> = cfg.cap_drop.iter().map(|c| cap_name(c)).collect();
    if let Some(bad) = add.iter().chain(&drop).find(|c| !valid(c)) {
        return Err(RuntimeError::Invalid(format!("unknown capability: {bad:?}")));
    }
    if let Some(missing) = add.iter().find(|c| *c != "CAP_ALL" && !host.contains(c)) {
        return Err(RuntimeError::Invalid(format!("capability {missing} is not available on this host (not in the daemon's bounding set)")));
    }
    let mut caps: Vec<String> = if add.iter().any(|c| c == "CAP_ALL") {
        host.clone()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if drop.iter().any(|c| c == "CAP_ALL") {
        caps.clear();
    }
    for a in add.into_iter().filter(|c| c != "CAP_ALL") {
        if !caps.contains(&a) {
            caps.push(a);
        }
    }
    caps.retain(|c| !drop.contains(c));
    Ok(caps)
}

fn namespace(kind: &str, mode: &NamespaceMode) -> Option<Value> {
    match mode {
        NamespaceMode::Private => Some(json!({"type": kind})),
        NamespaceMode::Host => None,
        NamespaceMode::Path(p) => Some(json!({"type": kind, "path": p})),
    }
}

/// The namespaces of `cfg` the shim joins itself before the runtime creates the container (see
/// `generate`): `(CLONE_NEW* flag name, path)`, for a container with its own user namespace.
pub fn joined_namespaces(cfg: &RuntimeConfig) -> Vec<(&'static str, String)> {
    [("net", &cfg.network), ("ipc", &cfg.ipc), ("uts", &cfg.uts), ("pid", &cfg.pid)]
        .into_iter()
        .filter(|(k, m)| shim_joins(cfg, k, m))
        .filter_map(|(k, m)| if let NamespaceMode::Path(p) = m { Some((k, p.clone())) } else { None })
        .collect()
}

/// Whether the shim joins namespace `kind` itself (see [`joined_namespaces`]): an existing one
/// of a container with a user namespace, which libcontainer could not join from inside it. A pod's
/// container joins the pod's user namespace, which owns the pod's IPC, UTS and PID namespaces:
/// libcontainer joins those from inside it (so the pid it reports is the host's), and the shim
/// only the network namespace, which the daemon made in the host's.
fn shim_joins(cfg: &RuntimeConfig, kind: &str, mode: &NamespaceMode) -> bool {
    cfg.userns.is_some() && matches!(mode, NamespaceMode::Path(_)) && (cfg.userns_path.is_none() || kind == "net")
}

/// Whether a sysctl may be set in a container (namespaced ones only, as Docker validates).
pub fn sysctl_allowed(key: &str, cfg: &RuntimeConfig) -> bool {
    let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        return cfg.ipc != NamespaceMode::Host;
    }
    if key.starts_with("net.") {
        return cfg.network != NamespaceMode::Host;
    }
    matches!(key, "kernel.domainname" | "kernel.hostname") && cfg.uts != NamespaceMode::Host
}

/// Whether the host enforces AppArmor (dockerd ignores `apparmor=` profiles on hosts without it).
pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.trim() == "Y")
}

/// The OCI `blockIO` resources: the weight and the per-device weights and throttles, each device
/// resolved to its major:minor on the host now (at start), as dockerd resolves them.
fn block_io(r: &crate::config::Resources) -> Result<serde_json::Map<String, Value>, RuntimeError> {
    let mut out = serde_json::Map::new();
    if let Some(w) = r.blkio_weight.filter(|w| *w > 0) {
        out.insert("weight".into(), json!(w));
    }
    let dev = |l: &crate::config::DeviceLimit, key: &str| -> Result<Value, RuntimeError> {
        let (major, minor) = crate::devices::major_minor(&l.path).map_err(RuntimeError::Invalid)?;
        Ok(json!({"major": major, "minor": minor, key: l.value}))
    };
    let lists = [
        ("weightDevice", &r.blkio_weight_device, "weight"),
        ("throttleReadBpsDevice", &r.blkio_read_bps, "rate"),
        ("throttleWriteBpsDevice", &r.blkio_write_bps, "rate"),
        ("throttleReadIOPSDevice", &r.blkio_read_iops, "rate"),
        ("throttleWriteIOPSDevice", &r.blkio_write_iops, "rate"),
    ];
    for (name, list, key) in lists {
        if !list.is_empty() {
            out.insert(name.into(), Value::Array(list.iter().map(|l| dev(l, key)).collect::<Result<_, _>>()?));
        }
    }
    Ok(out)
}

/// The OCI `process.rlimits` of the container's `--ulimit`s (its execs get them too, as runc's).
pub fn rlimits(cfg: &RuntimeConfig) -> Vec<Value> {
    cfg.ulimits
        .iter()
        .map(|(name, (soft, hard))| json!({"type": format!("RLIMIT_{}", name.to_ascii_uppercase().trim_start_matches("RLIMIT_")), "soft": soft, "hard": hard}))
        .collect()
}

/// Builds the OCI spec for `cfg`, with the root filesystem at `rootfs`.
pub fn generate(cfg: &RuntimeConfig, rootfs: &str, uid: u32, gid: u32, additional_gids: &[u32]) -> Result<Spec, RuntimeError> {
    if cfg.args.is_empty() {
        return Err(RuntimeError::Invalid("no command specified".into()));
    }
    let caps = capabilities(cfg)?;
    for k in cfg.sysctls.keys() {
        if !sysctl_allowed(k, cfg) {
            return Err(RuntimeError::Invalid(format!("sysctl {k:?} is not allowed: only namespaced sysctls can be set in a container")));
        }
    }
    let rlimits = rlimits(cfg);
    let shm = if cfg.shm_size == 0 { 64 * 1024 * 1024 } else { cfg.shm_size };
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if cfg.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if cfg.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", format!("size={shm}")]}),
    ];
    if cfg.ipc == NamespaceMode::Host {
        mounts.retain(|m| m["destination"] != "/dev/mqueue" && m["destination"] != "/dev/shm");
        mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rw"]}));
    }
    for m in &cfg.mounts {
        // A user mount over a default one replaces it (e.g. --tmpfs /dev/shm).
        mounts.retain(|d| d["destination"] != m.destination.as_str());
        mounts.push(json!({"destination": m.destination, "type": m.kind, "source": m.source, "options": m.options}));
    }
    // With a user namespace, namespaces that exist already (the network namespace the daemon
    // made, another container's) are joined by the shim before the runtime starts
    // ([`joined_namespaces`]): libcontainer would join them from inside the new user namespace,
    // which has no rights over them. The container's root then has none either, as under runc.
    let joined = |kind: &str, mode: &NamespaceMode| shim_joins(cfg, kind, mode);
    let own_uts = cfg.uts != NamespaceMode::Host && !joined("uts", &cfg.uts);
    let namespaces: Vec<Value> = [
        // A pod's container joins the sandbox's user namespace (its maps are the sandbox's).
        cfg.userns.as_ref().map(|_| match &cfg.userns_path {
            Some(p) => json!({"type": "user", "path": p}),
            None => json!({"type": "user"}),
        }),
        namespace("pid", &cfg.pid).filter(|_| !joined("pid", &cfg.pid)),
        namespace("network", &cfg.network).filter(|_| !joined("net", &cfg.network)),
        namespace("ipc", &cfg.ipc).filter(|_| !joined("ipc", &cfg.ipc)),
        namespace("uts", &cfg.uts).filter(|_| !joined("uts", &cfg.uts)),
        Some(json!({"type": "mount"})),
        (!cfg.cgroupns_host).then(|| json!({"type": "cgroup"})),
    ]
    .into_iter()
    .flatten()
    .collect();
    if cfg.userns.is_some() && cfg.network != NamespaceMode::Private {
        // sysfs can only be mounted by a user namespace owning the network namespace; the
        // container's is the daemon's (or the host's): bind the host's read-only, as runc does.
        for m in mounts.iter_mut().filter(|m| m["destination"] == "/sys" && m["type"] == "sysfs") {
            *m = json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
    }
    let r = &cfg.resources;
    let mut memory = serde_json::Map::new();
    if let Some(m) = r.memory.filter(|m| *m > 0) {
        memory.insert("limit".into(), json!(m));
        // Docker: without --memory-swap, swap is twice the memory limit.
        let swap = match r.memory_swap {
            Some(0) | None => m * 2,
            Some(s) => s,
        };
        memory.insert("swap".into(), json!(swap));
    }
    if let Some(v) = r.memory_reservation.filter(|v| *v > 0) {
        memory.insert("reservation".into(), json!(v));
    }
    if let Some(v) = r.oom_kill_disable {
        memory.insert("disableOOMKiller".into(), json!(v));
    }
    if let Some(v) = r.memory_swappiness {
        memory.insert("swappiness".into(), json!(v));
    }
    if let Some(v) = r.kernel_memory_tcp {
        memory.insert("kernelTCP".into(), json!(v));
    }
    let mut cpu = serde_json::Map::new();
    if let Some(v) = r.cpu_shares.filter(|v| *v > 0) {
        cpu.insert("shares".into(), json!(v));
    }
    if let Some(v) = r.cpu_quota.filter(|v| *v > 0) {
        cpu.insert("quota".into(), json!(v));
        cpu.insert("period".into(), json!(r.cpu_period.filter(|p| *p > 0).unwrap_or(100_000)));
    } else if let Some(p) = r.cpu_period.filter(|p| *p > 0) {
        cpu.insert("period".into(), json!(p));
    }
    if let Some(v) = &r.cpuset_cpus {
        cpu.insert("cpus".into(), json!(v));
    }
    if let Some(v) = &r.cpuset_mems {
        cpu.insert("mems".into(), json!(v));
    }
    if let Some(v) = r.cpu_realtime_period.filter(|v| *v > 0) {
        cpu.insert("realtimePeriod".into(), json!(v));
    }
    if let Some(v) = r.cpu_realtime_runtime.filter(|v| *v != 0) {
        cpu.insert("realtimeRuntime".into(), json!(v));
    }
    let block_io = block_io(r)?;
    let devices = if cfg.privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"},
            {"allow": true, "type": "b", "access": "m"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"},
            {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
        ])
    };
    // Host devices: every one for --privileged (as runc's HostDevices), then --device (which wins
    // over a node of the same path), each with its cgroup rule.
    let mut nodes = if cfg.privileged { crate::devices::host_devices() } else { Vec::new() };
    for n in crate::devices::resolve(&cfg.devices)? {
        nodes.retain(|o| o.spec()["path"] != n.spec()["path"]);
        nodes.push(n);
    }
    let mut devices = devices;
    if !cfg.privileged {
        if let Some(rules) = devices.as_array_mut() {
            rules.extend(nodes.iter().map(crate::devices::Node::rule));
            for r in &cfg.device_cgroup_rules {
                rules.push(crate::devices::cgroup_rule(r).ok_or_else(|| RuntimeError::Invalid(format!("invalid device cgroup rule format: '{r}'")))?);
            }
        }
    }
    let mut resources = json!({"devices": devices});
    if !memory.is_empty() {
        resources["memory"] = Value::Object(memory);
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = r.pids_limit.filter(|p| *p != 0) {
        resources["pids"] = json!({"limit": p});
    }
    if !block_io.is_empty() {
        resources["blockIO"] = Value::Object(block_io);
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "cgroupsPath": cfg.cgroups_path,
        "resources": resources,
        "sysctl": cfg.sysctls,
    });
    // dockerd's root propagation: shared when a mount is shared, so that what the container mounts
    // under it reaches the host (the runtime's default, slave, is what rslave mounts need).
    if cfg.mounts.iter().any(|m| m.options.iter().any(|o| o == "rshared" || o == "shared")) {
        linux["rootfsPropagation"] = json!("shared");
    }
    if !nodes.is_empty() {
        linux["devices"] = Value::Array(nodes.iter().map(crate::devices::Node::spec).collect());
    }
    if let Some(ids) = cfg.userns.as_ref().filter(|_| cfg.userns_path.is_none()) {
        let map = |ranges: &[crate::idmap::IdRange]| -> Value {
            ranges.iter().map(|r| json!({"containerID": r.container_id, "hostID": r.host_id, "size": r.size})).collect()
        };
        linux["uidMappings"] = map(&ids.uids);
        linux["gidMappings"] = map(&ids.gids);
    }
    if !cfg.privileged {
        linux["maskedPaths"] = cfg.masked_paths.as_ref().map_or_else(|| json!(MASKED_PATHS), |p| json!(p));
        linux["readonlyPaths"] = cfg.readonly_paths.as_ref().map_or_else(|| json!(READONLY_PATHS), |p| json!(p));
        match &cfg.seccomp {
            SeccompMode::Default => linux["seccomp"] = crate::seccomp::default_profile(&caps),
            SeccompMode::Unconfined => {}
            SeccompMode::Profile(p) => linux["seccomp"] = crate::seccomp::from_docker_profile(p, &caps)?,
        }
    }
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": cfg.tty,
            "user": {"uid": uid, "gid": gid, "additionalGids": additional_gids},
            "args": cfg.args,
            "env": cfg.env,
            "cwd": if cfg.cwd.is_empty() { "/" } else { cfg.cwd.as_str() },
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []},
            "rlimits": rlimits,
        },
        "root": {"path": rootfs, "readonly": cfg.readonly_rootfs},
        // The host's UTS namespace keeps the host's names (dockerd clears them for `--uts host`;
        // libcontainer refuses any name, even empty, without a UTS namespace in the spec). One the
        // shim joined (with a user namespace) has its names already: its owner set them.
        "hostname": own_uts.then_some(&cfg.hostname),
        "domainname": own_uts.then_some(&cfg.domainname),
        "mounts": mounts,
        "linux": linux,
    });
    let mut spec = spec;
    // Only set when true: libcontainer loads seccomp after dropping capabilities whenever the field
    // is present, which fails without no_new_privs; absent, it loads it first, as runc does.
    if cfg.no_new_privileges {
        spec["process"]["noNewPrivileges"] = json!(true);
    }
    if let Some(v) = cfg.oom_score_adj {
        spec["process"]["oomScoreAdj"] = json!(v);
    }
    if !cfg.annotations.is_empty() {
        spec["annotations"] = json!(cfg.annotations);
    }
    if let Some(p) = cfg.apparmor_profile.as_ref().filter(|_| !cfg.privileged && apparmor_enabled()) {
        spec["process"]["apparmorProfile"] = json!(p);
    }
    serde_json::from_value(spec).map_err(|e| RuntimeError::Invalid(format!("generated spec does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RuntimeConfig {
        RuntimeConfig { id: "c1".into(), args: vec!["sh".into()], cgroups_path: "/berth/c1".into(), ..Default::default() }
    }

    #[test]
    fn defaults_follow_docker() {
        let s = generate(&base(), "/r", 0, 0, &[]).unwrap();
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["process"]["capabilities"]["bounding"].as_array().unwrap().len(), 14);
        assert!(v["linux"]["maskedPaths"].as_array().unwrap().iter().any(|p| p == "/proc/kcore"));
        assert!(v["linux"]["readonlyPaths"].as_array().unwrap().iter().any(|p| p == "/proc/sys"));
        assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
        let shm = v["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/dev/shm").unwrap();
        assert!(shm["options"].as_array().unwrap().iter().any(|o| o == "size=67108864"));
        let ns: Vec<&str> = v["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        for want in ["pid", "network", "ipc", "uts", "mount", "cgroup"] {
            assert!(ns.contains(&want), "{want} namespace missing");
        }
    }

    #[test]
    fn privileged_and_cap_changes() {
        let mut c = base();
        c.cap_add = vec!["net_admin".into()];
        c.cap_drop = vec!["CAP_CHOWN".into()];
        let caps = capabilities(&c).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()) && !caps.contains(&"CAP_CHOWN".to_string()));
        c.cap_drop = vec!["ALL".into()];
        assert_eq!(capabilities(&c).unwrap(), vec!["CAP_NET_ADMIN"]);
        c.cap_add = vec!["BOGUS".into()];
        assert!(capabilities(&c).is_err());
        let mut p = base();
        p.privileged = true;
        let v = serde_json::to_value(generate(&p, "/r", 0, 0, &[]).unwrap()).unwrap();
        assert_eq!(v["process"]["capabilities"]["bounding"].as_array().unwrap().len(), host_capabilities().len());
        assert!(v["linux"].get("seccomp").is_none() || v["linux"]["seccomp"].is_null());
        assert!(v["linux"].get("maskedPaths").is_none() || v["linux"]["maskedPaths"].is_null());
    }

    #[test]
    fn host_namespaces_and_limits() {
        let mut c = base();
        c.network = NamespaceMode::Host;
        c.pid = NamespaceMode::Host;
        c.resources.memory = Some(64 << 20);
        c.resources.pids_limit = Some(50);
        c.resources.cpu_quota = Some(50_000);
        let v = serde_json::to_value(generate(&c, "/r", 0, 0, &[]).unwrap()).unwrap();
        let ns: Vec<&str> = v["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert!(!ns.contains(&"network") && !ns.contains(&"pid"));
        assert_eq!(v["linux"]["resources"]["memory"]["limit"], 64 << 20);
        assert_eq!(v["linux"]["resources"]["memory"]["swap"], 128 << 20);
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], 50);
        assert_eq!(v["linux"]["resources"]["cpu"]["period"], 100_000);
    }

    #[test]
    fn remapped_containers_get_a_user_namespace() {
        let mut c = base();
        c.userns = Some(crate::idmap::IdMappings::from_ranges(&[(100000, 65536)], &[(200000, 65536)]));
        c.network = NamespaceMode::Path("/run/netns/x".into());
        let v = serde_json::to_value(generate(&c, "/r", 0, 0, &[]).unwrap()).unwrap();
        assert_eq!(v["linux"]["uidMappings"], json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
        assert_eq!(v["linux"]["gidMappings"][0]["hostID"], 200000);
        let kinds: Vec<&str> = v["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert!(kinds.contains(&"user") && !kinds.contains(&"network"), "{kinds:?}");
        assert_eq!(joined_namespaces(&c), vec![("net", "/run/netns/x".to_string())]);
        let sys = v["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/sys").unwrap();
        assert_eq!(sys["type"], "bind");
        // A pod's container joins the sandbox's user namespace: no maps of its own; the pod's
        // PID namespace (owned by it) is libcontainer's to join, the network namespace the shim's.
        c.userns_path = Some("/proc/42/ns/user".into());
        c.pid = NamespaceMode::Path("/proc/42/ns/pid".into());
        assert_eq!(joined_namespaces(&c), vec![("net", "/run/netns/x".to_string())]);
        let v = serde_json::to_value(generate(&c, "/r", 0, 0, &[]).unwrap()).unwrap();
        assert!(v["linux"].get("uidMappings").is_none());
        let user = v["linux"]["namespaces"].as_array().unwrap().iter().find(|n| n["type"] == "user").unwrap().clone();
        assert_eq!(user, json!({"type": "user", "path": "/proc/42/ns/user"}));
        assert!(v["linux"]["namespaces"].as_array().unwrap().contains(&json!({"type": "pid", "path": "/proc/42/ns/pid"})));
        c.userns = None;
        assert!(joined_namespaces(&c).is_empty());
    }

    #[test]
    fn only_namespaced_sysctls() {
        let mut c = base();
        c.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        assert!(generate(&c, "/r", 0, 0, &[]).is_ok());
        c.sysctls.insert("kernel.panic".into(), "1".into());
        assert!(generate(&c, "/r", 0, 0, &[]).is_err());
    }
}
