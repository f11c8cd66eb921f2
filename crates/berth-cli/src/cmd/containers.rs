//! Container verbs: run, create, start, stop, restart, kill, rm, ps, logs, wait, inspect, prune.

use super::system::{event_time, short_id};
use super::filters_param;
use crate::cli::{ExecArgs, KillArgs, StatsArgs, UpdateArgs, LogsArgs, NamesArgs, PruneArgs, PsArgs, RmArgs, RunArgs, StartArgs, StopArgs};
use crate::render::template::Format;
use crate::render::units::{created_at, human_size, since};
use berth_client::{Client, ClientError};
use http::{Method, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Docker's `RAMInBytes`: `512`, `64k`, `64m`, `1g`.
pub fn parse_size(s: &str) -> anyhow::Result<i64> {
    berth_api::units::parse_ram_bytes(s).ok_or_else(|| anyhow::anyhow!("invalid size: {s:?}"))
}

fn kv_map(items: &[String], what: &str) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| i.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| anyhow::anyhow!("invalid {what} {i:?}: expected KEY=VALUE")))
        .collect()
}

/// Go's `time.ParseDuration`: `30s`, `500ms`, `1m30s`.
pub fn parse_duration_ns(s: &str) -> anyhow::Result<i64> {
    berth_api::units::parse_duration_ns(s).ok_or_else(|| anyhow::anyhow!("invalid duration {s:?}: use e.g. 30s, 500ms, 1m30s"))
}

/// The create request body for `run`/`create` flags.
pub fn create_body(a: &RunArgs) -> anyhow::Result<Value> {
    let env: Vec<String> = a
        .env
        .iter()
        .filter_map(|e| if e.contains('=') { Some(e.clone()) } else { std::env::var(e).ok().map(|v| format!("{e}={v}")) })
        .collect();
    let mut cfg = Map::new();
    cfg.insert("Image".into(), json!(a.image));
    cfg.insert("Tty".into(), json!(a.tty));
    cfg.insert("OpenStdin".into(), json!(a.interactive));
    cfg.insert("StdinOnce".into(), json!(a.interactive && !a.detach));
    cfg.insert("AttachStdin".into(), json!(a.interactive && !a.detach));
    cfg.insert("AttachStdout".into(), json!(!a.detach));
    cfg.insert("AttachStderr".into(), json!(!a.detach));
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
    } else if a.health_cmd.is_some() || a.health_interval.is_some() || a.health_retries.is_some() {
        let mut hc = Map::new();
        if let Some(c) = &a.health_cmd {
            hc.insert("Test".into(), json!(["CMD-SHELL", c]));
        }
        for (k, v) in [("Interval", &a.health_interval), ("Timeout", &a.health_timeout), ("StartPeriod", &a.health_start_period)] {
            if let Some(v) = v {
                hc.insert(k.into(), json!(parse_duration_ns(v)?));
            }
        }
        if let Some(r) = a.health_retries {
            hc.insert("Retries".into(), json!(r));
        }
        cfg.insert("Healthcheck".into(), Value::Object(hc));
    }
    if !a.label.is_empty() {
        let labels: BTreeMap<String, String> =
            a.label.iter().map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).unwrap_or((l.clone(), String::new()))).collect();
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
    if !a.network_alias.is_empty() || a.ip.is_some() || a.mac_address.is_some() {
        let mut ep = Map::new();
        if !a.network_alias.is_empty() {
            ep.insert("Aliases".into(), json!(a.network_alias));
        }
        if let Some(ip) = &a.ip {
            ep.insert("IPAMConfig".into(), json!({"IPv4Address": ip}));
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
    if let Some(s) = &a.shm_size {
        h.insert("ShmSize".into(), json!(parse_size(s)?));
    }
    for (k, v) in [("PidMode", &a.pid), ("IpcMode", &a.ipc), ("UTSMode", &a.uts), ("CpusetCpus", &a.cpuset_cpus), ("CpusetMems", &a.cpuset_mems)] {
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
    if a.oom_kill_disable {
        h.insert("OomKillDisable".into(), json!(true));
    }
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

/// `HostConfig.PortBindings`: `"80/tcp"` → `[{"HostIp", "HostPort"}]`.
pub type PortBindings = BTreeMap<String, Vec<Value>>;

/// `-p` and `--expose` flags → (exposed port keys, `PortBindings`), as the docker CLI expands them:
/// `[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]` with ranges on both sides.
pub fn parse_ports(publish: &[String], expose: &[String]) -> anyhow::Result<(Vec<String>, PortBindings)> {
    fn range(s: &str, what: &str) -> anyhow::Result<(u16, u16)> {
        let bad = || anyhow::anyhow!("invalid {what}: {s}");
        match s.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u16>().map_err(|_| bad())?, b.parse::<u16>().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                Ok((a, b))
            }
            None => {
                let p = s.parse::<u16>().map_err(|_| bad())?;
                Ok((p, p))
            }
        }
    }
    let mut exposed = vec![];
    let mut bindings: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in expose {
        let (ports, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let (lo, hi) = range(ports, "range format for --expose")?;
        for p in lo..=hi {
            exposed.push(format!("{p}/{proto}"));
        }
    }
    for spec in publish {
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, p)) if ["tcp", "udp", "sctp"].contains(&p) => (r, p),
            Some(_) => anyhow::bail!("invalid proto: {spec}"),
            None => (spec.as_str(), "tcp"),
        };
        // IPv6 host addresses come in brackets: [::1]:8080:80.
        let (ip, rest) = if let Some(r) = rest.strip_prefix('[') {
            let (ip, r) = r.split_once(']').ok_or_else(|| anyhow::anyhow!("invalid IP address in {spec}"))?;
            (ip.to_string(), r.trim_start_matches(':').to_string())
        } else {
            (String::new(), rest.to_string())
        };
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => (ip, "", *c),
            [h, c] if ip.is_empty() => (String::new(), *h, *c),
            [h, c] => (ip, *h, *c),
            [i, h, c] => (i.to_string(), *h, *c),
            _ => anyhow::bail!("invalid port format for --publish: {spec}"),
        };
        if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
            anyhow::bail!("invalid IP address: {ip}");
        }
        let (clo, chi) = range(ctr, "containerPort")?;
        let hrange = if host.is_empty() { None } else { Some(range(host, "hostPort")?) };
        if let Some((hlo, hhi)) = hrange {
            if hhi - hlo != chi - clo && (clo != chi) {
                anyhow::bail!("invalid ranges specified for container and host Ports: {ctr} and {host}");
            }
        }
        for (i, cp) in (clo..=chi).enumerate() {
            let key = format!("{cp}/{proto}");
            let host_port = match hrange {
                None => String::new(),
                // One container port with a host range: any free port of the range.
                Some((hlo, hhi)) if clo == chi && hlo != hhi => format!("{hlo}-{hhi}"),
                Some((hlo, _)) => (hlo + i as u16).to_string(),
            };
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            bindings.entry(key).or_default().push(json!({"HostIp": ip, "HostPort": host_port}));
        }
    }
    Ok((exposed, bindings))
}

/// One `--mount` flag (CSV `key=value` fields, as the docker CLI reads them) as an API `Mount`.
pub fn parse_mount(spec: &str) -> anyhow::Result<Value> {
    let mut m = serde_json::Map::new();
    let mut bind = serde_json::Map::new();
    let mut vol = serde_json::Map::new();
    let mut driver = serde_json::Map::new();
    let mut driver_opts = serde_json::Map::new();
    let mut vol_labels = serde_json::Map::new();
    let mut tmpfs = serde_json::Map::new();
    let truthy = |v: Option<&str>, key: &str| -> anyhow::Result<bool> {
        match v.map(str::to_ascii_lowercase).as_deref() {
            None | Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(x) => anyhow::bail!("invalid value for {key}: {x}"),
        }
    };
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let val = || v.map(str::to_string).ok_or_else(|| anyhow::anyhow!("invalid field '{field}' must be a key=value pair"));
        match k.as_str() {
            "type" => {
                m.insert("Type".into(), json!(val()?));
            }
            "source" | "src" => {
                m.insert("Source".into(), json!(val()?));
            }
            "target" | "destination" | "dst" => {
                m.insert("Target".into(), json!(val()?));
            }
            "readonly" | "ro" => {
                m.insert("ReadOnly".into(), json!(truthy(v, &k)?));
            }
            "consistency" => {
                m.insert("Consistency".into(), json!(val()?));
            }
            "bind-propagation" => {
                bind.insert("Propagation".into(), json!(val()?));
            }
            "bind-nonrecursive" => {
                bind.insert("NonRecursive".into(), json!(truthy(v, &k)?));
            }
            "bind-create-src" => {
                bind.insert("CreateMountpoint".into(), json!(truthy(v, &k)?));
            }
            "volume-nocopy" => {
                vol.insert("NoCopy".into(), json!(truthy(v, &k)?));
            }
            "volume-subpath" => {
                vol.insert("Subpath".into(), json!(val()?));
            }
            "volume-driver" => {
                driver.insert("Name".into(), json!(val()?));
            }
            "volume-opt" => {
                let (ok, ov) = val()?.split_once('=').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| anyhow::anyhow!("invalid volume-opt: {field}"))?;
                driver_opts.insert(ok, json!(ov));
            }
            "volume-label" => {
                let (lk, lv) = val()?.split_once('=').map(|(a, b)| (a.to_string(), b.to_string())).unwrap_or((val()?, String::new()));
                vol_labels.insert(lk, json!(lv));
            }
            "tmpfs-size" => {
                tmpfs.insert("SizeBytes".into(), json!(parse_size(&val()?)?));
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(&val()?, 8).map_err(|_| anyhow::anyhow!("invalid value for tmpfs-mode: {}", v.unwrap_or("")))?;
                tmpfs.insert("Mode".into(), json!(mode));
            }
            _ => anyhow::bail!("unexpected key '{k}' in '{field}'"),
        }
    }
    if !m.contains_key("Type") {
        m.insert("Type".into(), json!("volume"));
    }
    if !m.contains_key("Target") {
        anyhow::bail!("target is required");
    }
    if !driver_opts.is_empty() {
        driver.insert("Options".into(), Value::Object(driver_opts));
    }
    if !driver.is_empty() {
        vol.insert("DriverConfig".into(), Value::Object(driver));
    }
    if !vol_labels.is_empty() {
        vol.insert("Labels".into(), Value::Object(vol_labels));
    }
    for (k, v) in [("BindOptions", bind), ("VolumeOptions", vol), ("TmpfsOptions", tmpfs)] {
        if !v.is_empty() {
            m.insert(k.into(), Value::Object(v));
        }
    }
    Ok(Value::Object(m))
}

async fn create_container(c: &Client, a: &RunArgs) -> anyhow::Result<String> {
    let body = create_body(a)?;
    let q: Vec<(&str, String)> = a.name.iter().map(|n| ("name", n.clone())).collect();
    let v: Value = match c.post_json("/containers/create", &q, &body).await {
        Ok(v) => v,
        // As the docker CLI does: an image that is not here is pulled, then the create is retried.
        Err(ClientError::Api { status: StatusCode::NOT_FOUND, message }) if message.starts_with("No such image") => {
            eprintln!("Unable to find image '{}' locally", a.image);
            super::registry_client::pull_quietly_to_stderr(c, &a.image).await?;
            c.post_json("/containers/create", &q, &body).await?
        }
        Err(e) => return Err(e.into()),
    };
    Ok(v["Id"].as_str().unwrap_or("").to_string())
}

/// `berth create`.
pub async fn create(c: &Client, a: RunArgs) -> anyhow::Result<ExitCode> {
    match create_container(c, &a).await {
        Ok(id) => {
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}", super::describe(&e));
            Ok(ExitCode::from(125))
        }
    }
}

/// Copies a hijacked attach stream to our stdout/stderr (demultiplexing Docker's frames unless
/// `tty`) and our stdin to it when `stdin`.
async fn pump(conn: berth_client::Hijacked, tty: bool, stdin: bool) {
    let (mut r, mut w) = tokio::io::split(conn);
    let input = tokio::spawn(async move {
        if stdin {
            let mut si = tokio::io::stdin();
            let _ = tokio::io::copy(&mut si, &mut w).await;
        }
        // Half-close: the daemon passes the end of input on to the container.
        let _ = w.shutdown().await;
    });
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();
    if tty {
        let _ = tokio::io::copy(&mut r, &mut out).await;
    } else {
        let mut hdr = [0u8; 8];
        let mut buf = vec![0u8; 64 * 1024];
        while r.read_exact(&mut hdr).await.is_ok() {
            let mut left = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
            while left > 0 {
                let n = left.min(buf.len());
                if r.read_exact(&mut buf[..n]).await.is_err() {
                    left = usize::MAX;
                    break;
                }
                let _ = if hdr[0] == 2 { err.write_all(&buf[..n]).await } else { out.write_all(&buf[..n]).await };
                left -= n;
            }
            if left == usize::MAX {
                break;
            }
        }
    }
    let _ = out.flush().await;
    let _ = err.flush().await;
    if !stdin {
        input.abort();
    }
}

/// Keeps the TTY of container (or exec) `path` (`/containers/ID` or `/exec/ID`) the size of our
/// terminal: now, and on every SIGWINCH while the returned task runs.
fn forward_window_size(c: &Client, path: String) -> Option<tokio::task::JoinHandle<()>> {
    crate::sys::terminal_size()?;
    let c = c.clone();
    Some(tokio::spawn(async move {
        let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
        loop {
            if let Some((h, w)) = crate::sys::terminal_size() {
                let q = [("h", h.to_string()), ("w", w.to_string())];
                let _ = c.request(Method::POST, &format!("{path}/resize"), &q, berth_client::empty(), &[]).await;
            }
            match winch.as_mut() {
                Some(s) => {
                    if s.recv().await.is_none() {
                        return;
                    }
                }
                None => return,
            }
        }
    }))
}

/// Puts the terminal in raw mode for `-it` and restores it on drop.
struct RawTerminal(Option<nix::sys::termios::Termios>);

impl RawTerminal {
    fn enable(on: bool) -> RawTerminal {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        if !on || !std::io::stdin().is_terminal() {
            return RawTerminal(None);
        }
        let stdin = std::io::stdin();
        let Ok(orig) = tcgetattr(&stdin) else { return RawTerminal(None) };
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        RawTerminal(Some(orig))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

fn start_exit_code(e: &anyhow::Error) -> ExitCode {
    let s = e.to_string();
    if s.contains("permission denied") {
        ExitCode::from(126)
    } else if s.contains("not found") || s.contains("no such file") {
        ExitCode::from(127)
    } else {
        ExitCode::from(125)
    }
}

/// `berth run`.
pub async fn run(c: &Client, a: RunArgs) -> anyhow::Result<ExitCode> {
    if a.detach && a.rm && a.restart.is_some() {
        anyhow::bail!("conflicting options: cannot specify both --restart and --rm");
    }
    let id = match create_container(c, &a).await {
        Ok(id) => id,
        Err(e) => {
            eprintln!("berth: {}", super::describe(&e));
            return Ok(ExitCode::from(125));
        }
    };
    if a.detach {
        if let Err(e) = c.request(Method::POST, &format!("/containers/{id}/start"), &[], berth_client::empty(), &[]).await {
            eprintln!("berth: {e}");
            return Ok(start_exit_code(&e.into()));
        }
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    let mut q = vec![("stream", "1".to_string()), ("stdout", "1".to_string()), ("stderr", "1".to_string())];
    if a.interactive {
        q.push(("stdin", "1".to_string()));
    }
    let conn = c.hijack(&format!("/containers/{id}/attach"), &q, berth_client::empty()).await?;
    // With --rm, wait until the container is gone, so nothing of it is left when we return.
    let condition = if a.rm { "removed" } else { "next-exit" };
    let waiter = {
        let c = c.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let cond = [("condition", condition.to_string())];
            c.call_json::<Value>(Method::POST, &format!("/containers/{id}/wait"), &cond).await
        })
    };
    if let Err(e) = c.request(Method::POST, &format!("/containers/{id}/start"), &[], berth_client::empty(), &[]).await {
        eprintln!("berth: {e}");
        if a.rm {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await;
        }
        return Ok(start_exit_code(&e.into()));
    }
    let raw = RawTerminal::enable(a.tty && a.interactive);
    let resizer = if a.tty { forward_window_size(c, format!("/containers/{id}")) } else { None };
    pump(conn, a.tty, a.interactive).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    let result = waiter.await.map_err(|e| anyhow::anyhow!("waiting for the container: {e}"))??;
    if let Some(m) = result["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
        eprintln!("berth: {m}");
    }
    let code = result["StatusCode"].as_i64().unwrap_or(125);
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// `berth start`.
pub async fn start(c: &Client, a: StartArgs) -> anyhow::Result<ExitCode> {
    if a.attach || a.interactive {
        let name = a.containers.first().cloned().unwrap_or_default();
        let info: Value = c.get_json(&format!("/containers/{name}/json"), &[]).await?;
        let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let mut q = vec![("stream", "1".to_string()), ("stdout", "1".to_string()), ("stderr", "1".to_string())];
        if a.interactive {
            q.push(("stdin", "1".to_string()));
        }
        let conn = c.hijack(&format!("/containers/{name}/attach"), &q, berth_client::empty()).await?;
        let waiter = {
            let c = c.clone();
            let name = name.clone();
            tokio::spawn(async move { c.call_json::<Value>(Method::POST, &format!("/containers/{name}/wait"), &[("condition", "next-exit".to_string())]).await })
        };
        c.request(Method::POST, &format!("/containers/{name}/start"), &[], berth_client::empty(), &[]).await?;
        let raw = RawTerminal::enable(tty && a.interactive);
        pump(conn, tty, a.interactive).await;
        drop(raw);
        let r = waiter.await??;
        return Ok(ExitCode::from(r["StatusCode"].as_i64().unwrap_or(0).clamp(0, 255) as u8));
    }
    each(&a.containers, |n| async move { c.request(Method::POST, &format!("/containers/{n}/start"), &[], berth_client::empty(), &[]).await.map(|_| n) }).await
}

async fn each<F, Fut>(names: &[String], f: F) -> anyhow::Result<ExitCode>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<String, ClientError>>,
{
    let mut failed = false;
    for n in names {
        match f(n.clone()).await {
            Ok(out) => println!("{out}"),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `berth stop` and `berth restart`.
pub async fn stop(c: &Client, a: StopArgs, verb: &str) -> anyhow::Result<ExitCode> {
    let mut q = vec![];
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    let q = &q;
    each(&a.containers, |n| async move { c.request(Method::POST, &format!("/containers/{n}/{verb}"), q, berth_client::empty(), &[]).await.map(|_| n) }).await
}

/// `berth kill`.
pub async fn kill(c: &Client, a: KillArgs) -> anyhow::Result<ExitCode> {
    let q = &[("signal", a.signal.clone())];
    each(&a.containers, |n| async move { c.request(Method::POST, &format!("/containers/{n}/kill"), q, berth_client::empty(), &[]).await.map(|_| n) }).await
}

/// `berth rm`.
pub async fn rm(c: &Client, a: RmArgs) -> anyhow::Result<ExitCode> {
    let mut q = vec![];
    if a.force {
        q.push(("force", "1".to_string()));
    }
    if a.volumes {
        q.push(("v", "1".to_string()));
    }
    let q = &q;
    each(&a.containers, |n| async move { c.request(Method::DELETE, &format!("/containers/{n}"), q, berth_client::empty(), &[]).await.map(|_| n) }).await
}

/// `berth wait`.
pub async fn wait(c: &Client, a: NamesArgs) -> anyhow::Result<ExitCode> {
    each(&a.containers, |n| async move {
        c.call_json::<Value>(Method::POST, &format!("/containers/{n}/wait"), &[]).await.map(|v| v["StatusCode"].to_string())
    })
    .await
}

/// `berth ps`.
pub async fn ps(c: &Client, a: PsArgs) -> anyhow::Result<ExitCode> {
    let mut q = vec![];
    if a.all {
        q.push(("all", "1".to_string()));
    }
    if let Some(n) = a.last.or(if a.latest { Some(1) } else { None }) {
        q.push(("limit", n.to_string()));
    }
    if !a.filter.is_empty() {
        q.push(("filters", filters_param(&a.filter)?));
    }
    if a.size {
        q.push(("size", "1".to_string()));
    }
    let list: Vec<Value> = c.get_json("/containers/json", &q).await?;
    let rows: Vec<Value> = list
        .iter()
        .map(|v| {
            let id = v["Id"].as_str().unwrap_or("");
            let mut cmd = v["Command"].as_str().unwrap_or("").to_string();
            if !a.no_trunc && cmd.chars().count() > 20 {
                cmd = cmd.chars().take(19).collect::<String>() + "…";
            }
            let created = v["Created"].as_i64().unwrap_or(0);
            let names: Vec<String> = v["Names"].as_array().map(|n| n.iter().filter_map(|x| x.as_str()).map(|x| x.trim_start_matches('/').to_string()).collect()).unwrap_or_default();
            json!({
                "ID": if a.no_trunc { id.to_string() } else { short_id(id) },
                "Image": v["Image"], "Command": format!("\"{cmd}\""), "CreatedAt": created_at(created),
                "RunningFor": since(created), "Status": v["Status"], "State": v["State"], "Ports": ports_text(&v["Ports"]),
                "Names": names.join(","), "Labels": v["Labels"].as_object().map(|m| m.iter().map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")).unwrap_or_default(),
                "Mounts": v["Mounts"].as_array().map(|m| m.iter().map(|x| x["Name"].as_str().filter(|n| !n.is_empty()).or(x["Source"].as_str()).unwrap_or("").to_string()).collect::<Vec<_>>().join(",")).unwrap_or_default(),
                "Networks": v["NetworkSettings"]["Networks"].as_object().filter(|n| !n.is_empty()).map(|n| n.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_else(|| v["HostConfig"]["NetworkMode"].as_str().unwrap_or("").to_string()),
                "Size": format!("{} (virtual {})", human_size(v["SizeRw"].as_f64().unwrap_or(0.0)), human_size(v["SizeRootFs"].as_f64().unwrap_or(0.0))),
            })
        })
        .collect();
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format.unwrap_or_else(|| {
            let size = if a.size { "\t{{.Size}}" } else { "" };
            format!("table {{{{.ID}}}}\t{{{{.Image}}}}\t{{{{.Command}}}}\t{{{{.RunningFor}}}}\t{{{{.Status}}}}\t{{{{.Ports}}}}\t{{{{.Names}}}}{size}")
        })
    };
    let header = json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT", "RunningFor": "CREATED",
        "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "Size": "SIZE"});
    print!("{}", Format::parse(&fmt)?.render_rows(&header, &rows)?);
    Ok(ExitCode::SUCCESS)
}

/// `ps`'s PORTS column: `0.0.0.0:8080->80/tcp, 443/tcp`.
pub fn ports_text(ports: &Value) -> String {
    let mut items: Vec<String> = ports
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    let private = p["PrivatePort"].as_u64().unwrap_or(0);
                    let proto = p["Type"].as_str().unwrap_or("tcp");
                    match p["PublicPort"].as_u64() {
                        Some(public) if public > 0 => format!("{}:{public}->{private}/{proto}", p["IP"].as_str().unwrap_or("0.0.0.0")),
                        _ => format!("{private}/{proto}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    items.dedup();
    items.join(", ")
}

/// `berth port`.
pub async fn port(c: &Client, container: &str, private: Option<&str>) -> anyhow::Result<ExitCode> {
    let v: Value = c.get_json(&format!("/containers/{container}/json"), &[]).await?;
    let ports = v["NetworkSettings"]["Ports"].as_object().cloned().unwrap_or_default();
    let want = private.map(|p| if p.contains('/') { p.to_string() } else { format!("{p}/tcp") });
    let mut found = false;
    for (k, bindings) in &ports {
        if want.as_ref().is_some_and(|w| w != k) {
            continue;
        }
        for b in bindings.as_array().into_iter().flatten() {
            found = true;
            let addr = format!("{}:{}", b["HostIp"].as_str().unwrap_or(""), b["HostPort"].as_str().unwrap_or(""));
            if want.is_some() {
                println!("{addr}");
            } else {
                println!("{k} -> {addr}");
            }
        }
    }
    if !found && want.is_some() {
        anyhow::bail!("Error: No public port '{}' published for {container}", want.unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth logs`.
pub async fn logs(c: &Client, a: LogsArgs) -> anyhow::Result<ExitCode> {
    let info: Value = c.get_json(&format!("/containers/{}/json", a.container), &[]).await?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut q = vec![("stdout", "1".to_string()), ("stderr", "1".to_string()), ("tail", a.tail.clone())];
    if a.follow {
        q.push(("follow", "1".to_string()));
    }
    if a.timestamps {
        q.push(("timestamps", "1".to_string()));
    }
    if let Some(s) = &a.since {
        q.push(("since", event_time(s)?));
    }
    if let Some(u) = &a.until {
        q.push(("until", event_time(u)?));
    }
    let resp = c.request(Method::GET, &format!("/containers/{}/logs", a.container), &q, berth_client::empty(), &[]).await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();
    use http_body_util::BodyExt;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| anyhow::anyhow!("reading logs: {e}"))?.into_data() else { continue };
        if tty {
            out.write_all(&data).await?;
            continue;
        }
        buf.extend_from_slice(&data);
        while buf.len() >= 8 {
            let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
            if buf.len() < 8 + len {
                break;
            }
            if buf[0] == 2 {
                err.write_all(&buf[8..8 + len]).await?;
            } else {
                out.write_all(&buf[8..8 + len]).await?;
            }
            buf.drain(..8 + len);
        }
        out.flush().await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth container inspect`.
pub async fn inspect(c: &Client, names: Vec<String>, format: Option<String>) -> anyhow::Result<ExitCode> {
    super::inspect_each(c, &names, "container", |n| format!("/containers/{n}/json"), format.as_deref()).await
}

/// `berth container prune`.
pub async fn prune(c: &Client, a: PruneArgs) -> anyhow::Result<ExitCode> {
    if !a.force && !super::images::confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?") {
        return Ok(ExitCode::SUCCESS);
    }
    let q = vec![("filters", filters_param(&a.filter)?)];
    let r: Value = c.call_json(Method::POST, "/containers/prune", &q).await?;
    if let Some(ids) = r["ContainersDeleted"].as_array().filter(|i| !i.is_empty()) {
        println!("Deleted Containers:");
        for i in ids {
            println!("{}", i.as_str().unwrap_or(""));
        }
        println!();
    }
    println!("Total reclaimed space: 0B");
    Ok(ExitCode::SUCCESS)
}

/// `berth exec`.
pub async fn exec(c: &Client, a: ExecArgs) -> anyhow::Result<ExitCode> {
    let env: Vec<String> = a
        .env
        .iter()
        .filter_map(|e| if e.contains('=') { Some(e.clone()) } else { std::env::var(e).ok().map(|v| format!("{e}={v}")) })
        .collect();
    let body = json!({
        "AttachStdin": a.interactive && !a.detach, "AttachStdout": !a.detach, "AttachStderr": !a.detach,
        "Tty": a.tty, "Cmd": a.command, "Env": env, "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "User": a.user.clone().unwrap_or_default(), "Privileged": a.privileged,
    });
    let created: Value = match c.post_json(&format!("/containers/{}/exec", a.container), &[], &body).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(125));
        }
    };
    let id = created["Id"].as_str().unwrap_or("").to_string();
    let start = json!({"Detach": a.detach, "Tty": a.tty});
    if a.detach {
        c.post_json::<_, Value>(&format!("/exec/{id}/start"), &[], &start).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let conn = match c.hijack(&format!("/exec/{id}/start"), &[], berth_client::bytes(serde_json::to_vec(&start)?)).await {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("{e}");
            return Ok(start_exit_code(&e.into()));
        }
    };
    let raw = RawTerminal::enable(a.tty && a.interactive);
    let resizer = if a.tty { forward_window_size(c, format!("/exec/{id}")) } else { None };
    pump(conn, a.tty, a.interactive).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    let info: Value = c.get_json(&format!("/exec/{id}/json"), &[]).await?;
    Ok(ExitCode::from(info["ExitCode"].as_i64().unwrap_or(126).clamp(0, 255) as u8))
}

/// `berth pause` / `berth unpause`.
pub async fn pause(c: &Client, a: NamesArgs, verb: &str) -> anyhow::Result<ExitCode> {
    each(&a.containers, |n| async move { c.request(Method::POST, &format!("/containers/{n}/{verb}"), &[], berth_client::empty(), &[]).await.map(|_| n) }).await
}

/// `berth rename`.
pub async fn rename(c: &Client, container: &str, new: &str) -> anyhow::Result<ExitCode> {
    c.request(Method::POST, &format!("/containers/{container}/rename"), &[("name", new.to_string())], berth_client::empty(), &[]).await?;
    Ok(ExitCode::SUCCESS)
}

/// `berth top`.
pub async fn top(c: &Client, container: &str) -> anyhow::Result<ExitCode> {
    let v: Value = c.get_json(&format!("/containers/{container}/top"), &[]).await?;
    let mut text = String::new();
    let titles: Vec<String> = v["Titles"].as_array().map(|t| t.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()).unwrap_or_default();
    text.push_str(&titles.join("\t"));
    text.push('\n');
    for row in v["Processes"].as_array().cloned().unwrap_or_default() {
        let cells: Vec<String> = row.as_array().map(|r| r.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()).unwrap_or_default();
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    print!("{}", crate::render::table::align(&text));
    Ok(ExitCode::SUCCESS)
}

/// `berth stats`.
pub async fn stats(c: &Client, a: StatsArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = if a.containers.is_empty() {
        let q = if a.all { vec![("all", "1".to_string())] } else { vec![] };
        let list: Vec<Value> = c.get_json("/containers/json", &q).await?;
        list.iter().filter_map(|v| v["Id"].as_str().map(str::to_string)).collect()
    } else {
        a.containers.clone()
    };
    loop {
        let mut text = String::from("CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS\n");
        for n in &names {
            let v: Value = c.get_json(&format!("/containers/{n}/stats"), &[("stream", "false".to_string())]).await?;
            let cpu = v["cpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0) - v["precpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
            let sys = v["cpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0) - v["precpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0);
            let ncpu = v["cpu_stats"]["online_cpus"].as_f64().unwrap_or(1.0);
            let pct = if sys > 0.0 && cpu > 0.0 { cpu / sys * ncpu * 100.0 } else { 0.0 };
            let usage = v["memory_stats"]["usage"].as_f64().unwrap_or(0.0);
            let limit = v["memory_stats"]["limit"].as_f64().unwrap_or(0.0);
            let mem_pct = if limit > 0.0 { usage / limit * 100.0 } else { 0.0 };
            text.push_str(&format!(
                "{}\t{}\t{:.2}%\t{} / {}\t{:.2}%\t0B / 0B\t0B / 0B\t{}\n",
                short_id(v["id"].as_str().unwrap_or("")),
                v["name"].as_str().unwrap_or("").trim_start_matches('/'),
                pct,
                crate::render::units::human_binary_size(usage),
                crate::render::units::human_binary_size(limit),
                mem_pct,
                v["pids_stats"]["current"]
            ));
        }
        print!("{}", crate::render::table::align(&text));
        if a.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        print!("\x1b[2J\x1b[H");
    }
}

/// `berth attach`: streams until the container exits (then its exit code) or the user detaches
/// with ctrl-p ctrl-q (then 0, the container keeps running).
pub async fn attach(c: &Client, container: &str, no_stdin: bool) -> anyhow::Result<ExitCode> {
    let info: Value = c.get_json(&format!("/containers/{container}/json"), &[]).await?;
    if info["State"]["Running"] != json!(true) {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let mut q = vec![("stream", "1".to_string()), ("stdout", "1".to_string()), ("stderr", "1".to_string())];
    if stdin {
        q.push(("stdin", "1".to_string()));
    }
    let conn = c.hijack(&format!("/containers/{container}/attach"), &q, berth_client::empty()).await?;
    let raw = RawTerminal::enable(tty && stdin);
    let resizer = if tty { forward_window_size(c, format!("/containers/{container}")) } else { None };
    pump(conn, tty, stdin).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    let after: Value = c.get_json(&format!("/containers/{container}/json"), &[]).await?;
    if after["State"]["Running"] == json!(true) {
        return Ok(ExitCode::SUCCESS);
    }
    Ok(ExitCode::from(after["State"]["ExitCode"].as_i64().unwrap_or(0).clamp(0, 255) as u8))
}

/// `berth commit`.
pub async fn commit(c: &Client, container: &str, reference: Option<&str>, message: Option<&str>, author: Option<&str>, changes: &[String]) -> anyhow::Result<ExitCode> {
    let mut q = vec![("container", container.to_string())];
    if let Some(r) = reference {
        let parsed = berth_types::Reference::parse(r).map_err(|e| anyhow::anyhow!("{e}"))?;
        q.push(("repo", parsed.familiar_name()));
        q.push(("tag", parsed.tag().unwrap_or("latest").to_string()));
    }
    if let Some(m) = message {
        q.push(("comment", m.to_string()));
    }
    if let Some(a) = author {
        q.push(("author", a.to_string()));
    }
    for ch in changes {
        q.push(("changes", ch.clone()));
    }
    let v: Value = c.call_json(Method::POST, "/commit", &q).await?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

/// `berth diff`.
pub async fn diff(c: &Client, container: &str) -> anyhow::Result<ExitCode> {
    let v: Vec<Value> = c.get_json(&format!("/containers/{container}/changes"), &[]).await?;
    for ch in v {
        let k = match ch["Kind"].as_i64() {
            Some(0) => "C",
            Some(1) => "A",
            _ => "D",
        };
        println!("{k} {}", ch["Path"].as_str().unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth export`.
pub async fn export(c: &Client, container: &str, output: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    if output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let resp = c.request(Method::GET, &format!("/containers/{container}/export"), &[], berth_client::empty(), &[]).await?;
    match output {
        Some(p) => {
            let mut f = tokio::fs::File::create(p).await.map_err(|e| anyhow::anyhow!("create {}: {e}", p.display()))?;
            berth_client::copy_body(resp, &mut f).await?;
        }
        None => {
            berth_client::copy_body(resp, &mut tokio::io::stdout()).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth update`.
pub async fn update(c: &Client, a: UpdateArgs) -> anyhow::Result<ExitCode> {
    let mut body = Map::new();
    if let Some(m) = &a.memory {
        body.insert("Memory".into(), json!(parse_size(m)?));
    }
    if let Some(m) = &a.memory_swap {
        body.insert("MemorySwap".into(), json!(if m == "-1" { -1 } else { parse_size(m)? }));
    }
    if let Some(n) = a.cpus {
        body.insert("NanoCpus".into(), json!((n * 1e9) as i64));
    }
    if let Some(s) = a.cpu_shares {
        body.insert("CpuShares".into(), json!(s));
    }
    if let Some(s) = &a.cpuset_cpus {
        body.insert("CpusetCpus".into(), json!(s));
    }
    if let Some(p) = a.pids_limit {
        body.insert("PidsLimit".into(), json!(p));
    }
    if let Some(r) = &a.restart {
        let (name, max) = r.split_once(':').unwrap_or((r, "0"));
        body.insert("RestartPolicy".into(), json!({"Name": name, "MaximumRetryCount": max.parse::<i64>().unwrap_or(0)}));
    }
    let body = Value::Object(body);
    let body = &body;
    each(&a.containers, |n| async move { c.post_json::<_, Value>(&format!("/containers/{n}/update"), &[], body).await.map(|_| n) }).await
}
