//! The create request `run` and `create` send: their flags as a container config and host config.

#[allow(unused_imports)]
use super::*;

/// Docker's `RAMInBytes`: `512`, `64k`, `64m`, `1g`.
pub fn parse_size(s: &str) -> anyhow::Result<i64> {
    berth_api::units::parse_ram_bytes(s).ok_or_else(|| anyhow::anyhow!("invalid size: {s:?}"))
}

pub(super) fn kv_map(items: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| i.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| anyhow::anyhow!("invalid {what} {i:?}: expected KEY=VALUE")))
        .collect()
}

/// A `--device HOST[:CONTAINER][:PERMISSIONS]` as the docker CLI parses and checks it.
fn device(d: &str) -> anyhow::Result<Value> {
    // Checked with the whole command line, not as the flag's value: no "invalid argument" prefix.
    let bad = |why: String| anyhow::anyhow!("{why}");
    let mode_ok = |m: &str| !m.is_empty() && m.len() <= 3 && m.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) && {
        let mut seen = m.chars().collect::<Vec<_>>();
        seen.sort_unstable();
        seen.windows(2).all(|w| w[0] != w[1])
    };
    let parts: Vec<&str> = d.split(':').collect();
    if parts.len() > 3 || parts[0].is_empty() {
        return Err(bad(format!("bad format for path: {d}")));
    }
    let host = parts[0];
    let (target, perms) = match parts[..] {
        [_] => (host, "rwm"),
        [_, m] if mode_ok(m) => (host, m),
        [_, t] => (t, "rwm"),
        [_, t, m] if mode_ok(m) => (t, m),
        [_, _, m] => return Err(bad(format!("bad mode specified: {m}"))),
        _ => unreachable!("one to three parts"),
    };
    if !target.starts_with('/') {
        return Err(bad(format!("{target} is not an absolute path")));
    }
    Ok(json!({"PathOnHost": host, "PathInContainer": target, "CgroupPermissions": perms}))
}

/// Go's `time.ParseDuration`: `30s`, `500ms`, `1m30s`.
pub fn parse_duration_ns(s: &str) -> anyhow::Result<i64> {
    berth_api::units::parse_duration_ns(s).ok_or_else(|| anyhow::anyhow!("invalid duration {s:?}: use e.g. 30s, 500ms, 1m30s"))
}

/// The cgroup, OOM, block IO, real-time CPU, runtime, storage and GPU flags into the host config,
/// with the docker CLI's checks and messages (`cli/command/container/opts.go`).
fn resource_flags(a: &RunArgs, h: &mut Map<String, Value>) -> anyhow::Result<()> {
    if let Some(s) = a.memory_swappiness {
        if s != -1 && !(0..=100).contains(&s) {
            anyhow::bail!("invalid value: {s}. Valid memory swappiness range is 0-100");
        }
        h.insert("MemorySwappiness".into(), json!(s));
    }
    if let Some(mode) = &a.cgroupns {
        if !["", "host", "private"].contains(&mode.as_str()) {
            anyhow::bail!("--cgroupns: invalid CGROUP mode");
        }
        h.insert("CgroupnsMode".into(), json!(mode));
    }
    let mut storage = Map::new();
    for o in &a.storage_opt {
        let (k, v) = o.split_once('=').ok_or_else(|| anyhow::anyhow!("invalid storage option"))?;
        storage.insert(k.to_string(), json!(v));
    }
    if !storage.is_empty() {
        h.insert("StorageOpt".into(), Value::Object(storage));
    }
    for (k, v) in [("CgroupParent", &a.cgroup_parent), ("Runtime", &a.runtime)] {
        if let Some(v) = v {
            h.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [("OomScoreAdj", a.oom_score_adj), ("CpuRealtimePeriod", a.cpu_rt_period), ("CpuRealtimeRuntime", a.cpu_rt_runtime), ("BlkioWeight", a.blkio_weight.map(i64::from))] {
        if let Some(v) = v {
            h.insert(k.into(), json!(v));
        }
    }
    // The lists always go, empty when not given, as the docker CLI sends them (inspect shows `[]`).
    h.insert("BlkioWeightDevice".into(), json!(a.blkio_weight_device.iter().map(|d| d.to_json()).collect::<Vec<_>>()));
    for (k, list) in [
        ("BlkioDeviceReadBps", &a.device_read_bps),
        ("BlkioDeviceWriteBps", &a.device_write_bps),
        ("BlkioDeviceReadIOps", &a.device_read_iops),
        ("BlkioDeviceWriteIOps", &a.device_write_iops),
    ] {
        h.insert(k.into(), json!(list.iter().map(|d| d.to_json()).collect::<Vec<_>>()));
    }
    if !a.gpus.is_empty() {
        h.insert("DeviceRequests".into(), json!(a.gpus.iter().map(|g| g.0.clone()).collect::<Vec<_>>()));
    }
    Ok(())
}

/// The create request body for `run`/`create` flags.
pub fn create_body(a: &RunArgs) -> anyhow::Result<Value> {
    // Env files first, then -e (a later value of a variable wins), as the docker CLI merges them.
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_kv_file(f, KvKind::Env)?);
    }
    env.extend(a.env.iter().filter_map(|e| if e.contains('=') { Some(e.clone()) } else { std::env::var(e).ok().map(|v| format!("{e}={v}")) }));
    let streams = attached_streams(a);
    let mut cfg = Map::new();
    cfg.insert("Image".into(), json!(a.image));
    cfg.insert("Tty".into(), json!(a.tty));
    cfg.insert("OpenStdin".into(), json!(a.interactive));
    cfg.insert("StdinOnce".into(), json!(a.interactive && streams.stdin));
    cfg.insert("AttachStdin".into(), json!(streams.stdin));
    cfg.insert("AttachStdout".into(), json!(streams.stdout));
    cfg.insert("AttachStderr".into(), json!(streams.stderr));
    if !env.is_empty() {
        cfg.insert("Env".into(), json!(env));
    }
    if !a.command.is_empty() {
        cfg.insert("Cmd".into(), json!(a.command));
    }
    if let Some(e) = &a.entrypoint {
        cfg.insert("Entrypoint".into(), json!([e]));
    }
    for (k, v) in [("WorkingDir", &a.workdir), ("User", &a.user), ("Hostname", &a.hostname), ("StopSignal", &a.stop_signal)] {
        if let Some(v) = v {
            cfg.insert(k.into(), json!(v));
        }
    }
    if let Some(t) = a.stop_timeout {
        cfg.insert("StopTimeout".into(), json!(t));
    }
    if a.no_healthcheck {
        cfg.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
    } else if a.health_cmd.is_some() || a.health_interval.is_some() || a.health_timeout.is_some() || a.health_start_period.is_some() || a.health_start_interval.is_some() || a.health_retries.is_some() {
        let mut hc = Map::new();
        if let Some(c) = &a.health_cmd {
            hc.insert("Test".into(), json!(["CMD-SHELL", c]));
        }
        for (k, v) in [("Interval", &a.health_interval), ("Timeout", &a.health_timeout), ("StartPeriod", &a.health_start_period), ("StartInterval", &a.health_start_interval)] {
            if let Some(v) = v {
                hc.insert(k.into(), json!(parse_duration_ns(v)?));
            }
        }
        if let Some(r) = a.health_retries {
            hc.insert("Retries".into(), json!(r));
        }
        cfg.insert("Healthcheck".into(), Value::Object(hc));
    }
    let mut label_lines = Vec::new();
    for f in &a.label_file {
        label_lines.extend(read_kv_file(f, KvKind::Label)?);
    }
    label_lines.extend(a.label.iter().cloned());
    if !label_lines.is_empty() {
        let labels: BTreeMap<String, String> =
            label_lines.iter().map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).unwrap_or((l.clone(), String::new()))).collect();
        cfg.insert("Labels".into(), json!(labels));
    }
    if let Some(d) = &a.domainname {
        cfg.insert("Domainname".into(), json!(d));
    }
    let mut h = Map::new();
    let network = a.network.clone().unwrap_or_else(|| "default".into());
    h.insert("NetworkMode".into(), json!(network));
    let (exposed, bindings) = parse_ports(&a.publish, &a.expose)?;
    if !exposed.is_empty() {
        let mut e = cfg.get("ExposedPorts").and_then(|v| v.as_object()).cloned().unwrap_or_default();
        for p in exposed {
            e.insert(p, json!({}));
        }
        cfg.insert("ExposedPorts".into(), Value::Object(e));
    }
    if !bindings.is_empty() {
        h.insert("PortBindings".into(), json!(bindings));
    }
    if a.publish_all {
        h.insert("PublishAllPorts".into(), json!(true));
    }
    if a.init {
        h.insert("Init".into(), json!(true));
    }
    if !a.link.is_empty() {
        h.insert("Links".into(), json!(a.link));
    }
    if !a.network_alias.is_empty() || a.ip.is_some() || a.ip6.is_some() || !a.link_local_ip.is_empty() || a.mac_address.is_some() {
        let mut ep = Map::new();
        if !a.network_alias.is_empty() {
            ep.insert("Aliases".into(), json!(a.network_alias));
        }
        if a.ip.is_some() || a.ip6.is_some() || !a.link_local_ip.is_empty() {
            let mut ipam = Map::new();
            if let Some(ip) = &a.ip {
                ipam.insert("IPv4Address".into(), json!(ip));
            }
            if let Some(ip6) = &a.ip6 {
                ipam.insert("IPv6Address".into(), json!(ip6));
            }
            if !a.link_local_ip.is_empty() {
                ipam.insert("LinkLocalIPs".into(), json!(a.link_local_ip));
            }
            ep.insert("IPAMConfig".into(), Value::Object(ipam));
        }
        if let Some(m) = &a.mac_address {
            ep.insert("MacAddress".into(), json!(m));
        }
        let key = if network == "default" { "bridge".to_string() } else { network.clone() };
        cfg.insert("NetworkingConfig".into(), json!({"EndpointsConfig": {key: ep}}));
    }
    h.insert("AutoRemove".into(), json!(a.rm));
    h.insert("Privileged".into(), json!(a.privileged));
    h.insert("ReadonlyRootfs".into(), json!(a.read_only));
    if !a.group_add.is_empty() {
        h.insert("GroupAdd".into(), json!(a.group_add));
    }
    if !a.cap_add.is_empty() {
        h.insert("CapAdd".into(), json!(a.cap_add));
    }
    if !a.cap_drop.is_empty() {
        h.insert("CapDrop".into(), json!(a.cap_drop));
    }
    let mut sec = Vec::new();
    for o in &a.security_opt {
        // Like the docker CLI, a seccomp profile file is read here and sent inline.
        match o.split_once(['=', ':']) {
            Some(("seccomp", p)) if p != "unconfined" => {
                let data = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("opening seccomp profile ({p}) failed: {e}"))?;
                let compact: Value = serde_json::from_str(&data).map_err(|e| anyhow::anyhow!("decoding seccomp profile ({p}) failed: {e}"))?;
                sec.push(format!("seccomp={compact}"));
            }
            _ => sec.push(o.clone()),
        }
    }
    if !sec.is_empty() {
        h.insert("SecurityOpt".into(), json!(sec));
    }
    if !a.tmpfs.is_empty() {
        let m: BTreeMap<String, String> =
            a.tmpfs.iter().map(|t| t.split_once(':').map(|(p, o)| (p.to_string(), o.to_string())).unwrap_or((t.clone(), String::new()))).collect();
        h.insert("Tmpfs".into(), json!(m));
    }
    if !a.ulimit.is_empty() {
        let mut list = Vec::new();
        for u in &a.ulimit {
            let (name, vals) = u.split_once('=').ok_or_else(|| anyhow::anyhow!("invalid ulimit argument: {u}"))?;
            let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
            let n = |v: &str| v.parse::<i64>().map_err(|_| anyhow::anyhow!("invalid ulimit argument: {u}"));
            list.push(json!({"Name": name, "Soft": n(soft)?, "Hard": n(hard)?}));
        }
        h.insert("Ulimits".into(), json!(list));
    }
    if !a.sysctl.is_empty() {
        h.insert("Sysctls".into(), json!(kv_map(&a.sysctl, "sysctl")?));
    }
    if !a.annotation.is_empty() {
        // The docker CLI's map option: KEY=VALUE, or KEY alone for an empty value.
        let m: BTreeMap<String, String> =
            a.annotation.iter().map(|x| x.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).unwrap_or((x.clone(), String::new()))).collect();
        h.insert("Annotations".into(), json!(m));
    }
    if !a.device.is_empty() {
        h.insert("Devices".into(), json!(a.device.iter().map(|d| device(d)).collect::<anyhow::Result<Vec<_>>>()?));
    }
    if !a.device_cgroup_rule.is_empty() {
        for r in &a.device_cgroup_rule {
            if berth_types::device::CgroupRule::parse(r).is_none() {
                anyhow::bail!("invalid argument \"{r}\" for \"--device-cgroup-rule\" flag: invalid device cgroup format '{r}'");
            }
        }
        h.insert("DeviceCgroupRules".into(), json!(a.device_cgroup_rule));
    }
    if let Some(d) = &a.volume_driver {
        h.insert("VolumeDriver".into(), json!(d));
    }
    if let Some(s) = &a.shm_size {
        h.insert("ShmSize".into(), json!(parse_size(s)?));
    }
    if a.userns.as_deref().is_some_and(|u| !u.is_empty() && u != "host") {
        // The docker CLI's own check (`UsernsMode.Valid`), before anything is sent.
        anyhow::bail!("--userns: invalid USER mode");
    }
    for (k, v) in [("PidMode", &a.pid), ("IpcMode", &a.ipc), ("UTSMode", &a.uts), ("UsernsMode", &a.userns), ("CpusetCpus", &a.cpuset_cpus), ("CpusetMems", &a.cpuset_mems)] {
        if let Some(v) = v {
            h.insert(k.into(), json!(v));
        }
    }
    for (k, v) in [("Memory", &a.memory), ("MemoryReservation", &a.memory_reservation)] {
        if let Some(v) = v {
            h.insert(k.into(), json!(parse_size(v)?));
        }
    }
    if let Some(v) = &a.memory_swap {
        h.insert("MemorySwap".into(), json!(if v == "-1" { -1 } else { parse_size(v)? }));
    }
    if let Some(c) = a.cpus {
        h.insert("NanoCpus".into(), json!((c * 1e9) as i64));
    }
    for (k, v) in [("CpuShares", a.cpu_shares), ("CpuQuota", a.cpu_quota), ("CpuPeriod", a.cpu_period), ("PidsLimit", a.pids_limit)] {
        if let Some(v) = v {
            h.insert(k.into(), json!(v));
        }
    }
    // Sent either way, as the docker CLI does (inspect then shows false rather than null).
    h.insert("OomKillDisable".into(), json!(a.oom_kill_disable));
    resource_flags(a, &mut h)?;
    if let Some(r) = &a.restart {
        let (name, max) = r.split_once(':').unwrap_or((r, "0"));
        if !["no", "always", "unless-stopped", "on-failure"].contains(&name) {
            anyhow::bail!("invalid restart policy {r:?}");
        }
        if a.rm && name != "no" {
            anyhow::bail!("conflicting options: cannot specify both --restart and --rm");
        }
        h.insert("RestartPolicy".into(), json!({"Name": name, "MaximumRetryCount": max.parse::<i64>().unwrap_or(0)}));
    }
    let (binds, anonymous): (Vec<&String>, Vec<&String>) = a.volume.iter().partition(|v| v.contains(':'));
    if !binds.is_empty() {
        h.insert("Binds".into(), json!(binds));
    }
    if !anonymous.is_empty() {
        let mut vols = cfg.get("Volumes").and_then(|v| v.as_object()).cloned().unwrap_or_default();
        for v in anonymous {
            vols.insert(v.clone(), json!({}));
        }
        cfg.insert("Volumes".into(), Value::Object(vols));
    }
    if !a.mount.is_empty() {
        let mounts = a.mount.iter().map(|m| parse_mount(m)).collect::<anyhow::Result<Vec<Value>>>()?;
        h.insert("Mounts".into(), json!(mounts));
    }
    if !a.volumes_from.is_empty() {
        h.insert("VolumesFrom".into(), json!(a.volumes_from));
    }
    if a.log_driver.is_some() || !a.log_opt.is_empty() {
        h.insert("LogConfig".into(), json!({"Type": a.log_driver.clone().unwrap_or_else(|| "json-file".into()), "Config": kv_map(&a.log_opt, "log-opt")?}));
    }
    if !a.add_host.is_empty() {
        h.insert("ExtraHosts".into(), json!(a.add_host));
    }
    for (k, v) in [("Dns", &a.dns), ("DnsSearch", &a.dns_search), ("DnsOptions", &a.dns_option)] {
        if !v.is_empty() {
            h.insert(k.into(), json!(v));
        }
    }
    cfg.insert("HostConfig".into(), Value::Object(h));
    Ok(Value::Object(cfg))
}
