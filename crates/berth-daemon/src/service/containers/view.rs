//! How containers look from the API: `inspect` and the `ps` summaries.

use super::record::{ContainerRecord, Status};
use super::{ContainerService, ServiceError};
use crate::filters::Filters;
use serde_json::{json, Value};

/// `NetworkSettings.Ports`: every exposed port, with its host bindings while published.
fn port_map(rec: &ContainerRecord) -> Value {
    let mut m = serde_json::Map::new();
    let running = matches!(rec.state.status, Status::Running | Status::Paused);
    for p in rec.config.exposed_ports.clone().unwrap_or_default().keys() {
        m.insert(p.clone(), Value::Null);
    }
    if running {
        for (k, v) in &rec.network.ports {
            m.insert(k.clone(), serde_json::to_value(v).unwrap_or(Value::Null));
        }
    }
    Value::Object(m)
}

/// `ps`'s `Ports` list.
fn port_list(rec: &ContainerRecord) -> Value {
    let mut out = vec![];
    for (k, v) in &rec.network.ports {
        let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        let private: u16 = port.parse().unwrap_or(0);
        match v {
            Some(bindings) if !bindings.is_empty() => {
                for b in bindings {
                    out.push(json!({"IP": b.host_ip, "PrivatePort": private, "PublicPort": b.host_port.parse::<u16>().unwrap_or(0), "Type": proto}));
                }
            }
            _ => out.push(json!({"PrivatePort": private, "Type": proto})),
        }
    }
    if out.is_empty() {
        for k in rec.config.exposed_ports.clone().unwrap_or_default().keys() {
            let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
            out.push(json!({"PrivatePort": port.parse::<u16>().unwrap_or(0), "Type": proto}));
        }
    }
    Value::Array(out)
}

/// `NetworkSettings.Networks`, with Docker's nulls for what is not set.
fn networks(rec: &ContainerRecord) -> Value {
    let mut m = serde_json::Map::new();
    for (name, ep) in &rec.network.networks {
        let mut v = serde_json::to_value(ep).unwrap_or(Value::Null);
        if ep.endpoint_id.is_empty() && v["DNSNames"].is_null() {
            v["DNSNames"] = Value::Null;
        }
        m.insert(name.clone(), v);
    }
    Value::Object(m)
}

/// `GraphDriver.Data` in overlay2's shape, with the container's real directories: the image's
/// layers (nearest first, `:`-separated), the writable layer, overlay's work directory and where
/// the root is mounted, from the mounts its snapshot was prepared with (`mounts.json`).
fn graph_driver_data(dir: &std::path::Path) -> Value {
    let mounts: Vec<berth_runtime::mount::MountDesc> =
        std::fs::read(dir.join("mounts.json")).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let mut data = serde_json::Map::new();
    if let Some(m) = mounts.first() {
        let opt = |k: &str| m.options.iter().find_map(|o| o.strip_prefix(k)).map(str::to_string);
        match m.kind.as_str() {
            "overlay" => {
                for (key, opt_name) in [("LowerDir", "lowerdir="), ("UpperDir", "upperdir="), ("WorkDir", "workdir=")] {
                    if let Some(v) = opt(opt_name) {
                        data.insert(key.into(), json!(v));
                    }
                }
            }
            _ => {
                data.insert("UpperDir".into(), json!(m.source));
            }
        }
    }
    data.insert("MergedDir".into(), json!(dir.join("rootfs")));
    Value::Object(data)
}

impl ContainerService {
    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, name: &str) -> Result<Value, ServiceError> {
        let handle = self.get(name)?;
        let rec = handle.snapshot();
        let health = handle.health();
        let s = &rec.state;
        let status = shown_status(&handle, s.status);
        let dir = self.dir(&rec.id);
        let zero = "0001-01-01T00:00:00Z".to_string();
        let mut host_config = serde_json::to_value(&rec.host_config).unwrap_or(Value::Null);
        if rec.host_config.links.is_some() {
            host_config["Links"] = json!(self.links_view(&rec));
        }
        if host_config["NetworkMode"] == "" {
            host_config["NetworkMode"] = json!("none");
        }
        // What dockerd fills in for fields the create request left out (SDKs read them).
        let defaults = json!({
            "LogConfig": {"Type": "json-file", "Config": {}}, "PortBindings": {}, "Binds": null, "VolumeDriver": "", "VolumesFrom": null,
            "Links": null, "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": null, "CapAdd": null, "CapDrop": null,
            "GroupAdd": null, "Cgroup": "", "PidMode": "", "UTSMode": "", "UsernsMode": "",
            "Privileged": false, "PublishAllPorts": false, "ReadonlyRootfs": false, "SecurityOpt": null,
            "Runtime": "runc", "Isolation": "", "ConsoleSize": [0, 0], "AutoRemove": false, "OomScoreAdj": 0, "Init": null,
            "Memory": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": null, "NanoCpus": 0, "CpuShares": 0, "CpuPeriod": 0,
            "CpuQuota": 0, "CpusetCpus": "", "CpusetMems": "", "Ulimits": null, "Devices": [], "DeviceRequests": null,
            "BlkioWeight": 0, "OomKillDisable": null, "Tmpfs": null, "Sysctls": null,
            "ContainerIDFile": "", "CgroupParent": "", "BlkioWeightDevice": null, "BlkioDeviceReadBps": null,
            "BlkioDeviceWriteBps": null, "BlkioDeviceReadIOps": null, "BlkioDeviceWriteIOps": null, "CpuRealtimePeriod": 0,
            "CpuRealtimeRuntime": 0, "DeviceCgroupRules": null, "KernelMemoryTCP": 0, "CpuCount": 0, "CpuPercent": 0,
            "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        });
        if let (Some(h), Some(d)) = (host_config.as_object_mut(), defaults.as_object()) {
            for (k, v) in d {
                if !h.contains_key(k) {
                    h.insert(k.clone(), v.clone());
                }
            }
            if h.get("RestartPolicy").and_then(|r| r.get("Name")).and_then(|n| n.as_str()) == Some("") {
                h.insert("RestartPolicy".into(), json!({"Name": "no", "MaximumRetryCount": 0}));
            }
            if h.get("LogConfig").and_then(|l| l.get("Type")).and_then(|t| t.as_str()).is_none_or(|t| t.is_empty()) {
                h.insert("LogConfig".into(), json!({"Type": "json-file", "Config": {}}));
            }
            // Zero values that stand for dockerd's defaults are shown as those defaults.
            let unset = |v: Option<&Value>| v.is_none_or(|v| v.is_null() || v == &json!(0) || v == &json!("") || v.as_array().is_some_and(|a| a.is_empty()));
            if unset(h.get("ShmSize")) {
                h.insert("ShmSize".into(), json!(67108864));
            }
            let memory = h.get("Memory").and_then(Value::as_i64).unwrap_or(0);
            if memory > 0 && unset(h.get("MemorySwap")) {
                h.insert("MemorySwap".into(), json!(memory * 2));
            }
            for (key, default) in [("IpcMode", "private"), ("CgroupnsMode", "private")] {
                if unset(h.get(key)) {
                    h.insert(key.into(), json!(default));
                }
            }
            if !rec.host_config.privileged {
                if unset(h.get("MaskedPaths")) {
                    h.insert("MaskedPaths".into(), json!(berth_runtime::spec::MASKED_PATHS));
                }
                if unset(h.get("ReadonlyPaths")) {
                    h.insert("ReadonlyPaths".into(), json!(berth_runtime::spec::READONLY_PATHS));
                }
            }
            if unset(h.get("PidsLimit")) {
                h.insert("PidsLimit".into(), Value::Null);
            }
            if h.get("MemorySwappiness").and_then(Value::as_i64) == Some(-1) {
                h.insert("MemorySwappiness".into(), Value::Null);
            }
        }
        // Docker fills the top-level address fields from the default bridge only.
        let primary = rec.network.networks.get("bridge").filter(|_| rec.host_config.network_mode == "bridge");
        Ok(json!({
            "Id": rec.id,
            "Created": rec.created,
            "Path": rec.path,
            "Args": rec.args,
            "State": {
                "Status": status.as_str(),
                // dockerd counts a restarting container as running (it has no process meanwhile).
                "Running": matches!(status, Status::Running | Status::Paused | Status::Restarting),
                "Paused": status == Status::Paused,
                "Restarting": status == Status::Restarting,
                "OOMKilled": s.oom_killed,
                "Dead": s.status == Status::Dead,
                "Pid": s.pid,
                "ExitCode": s.exit_code,
                "Error": s.error,
                "StartedAt": if s.started_at.is_empty() { zero.clone() } else { s.started_at.clone() },
                "FinishedAt": if s.finished_at.is_empty() { zero.clone() } else { s.finished_at.clone() },
                "Health": health.as_ref().map(|h| h.to_json()),
            },
            "Image": rec.image,
            "ResolvConfPath": dir.join("resolv.conf"),
            "HostnamePath": dir.join("hostname"),
            "HostsPath": dir.join("hosts"),
            "LogPath": dir.join("container.log"),
            "Name": format!("/{}", rec.name),
            "RestartCount": s.restart_count,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": null,
            "HostConfig": host_config,
            "GraphDriver": {"Name": "overlay2", "Data": graph_driver_data(&dir)},
            "Mounts": rec.mounts.iter().map(|m| &m.point).collect::<Vec<_>>(),
            "Config": rec.config.to_inspect(),
            "NetworkSettings": {
                "Bridge": "", "SandboxID": rec.network.sandbox_key.rsplit('/').next().unwrap_or(""), "SandboxKey": rec.network.sandbox_key, "Ports": port_map(&rec),
                "HairpinMode": false, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
                "SecondaryIPAddresses": null, "SecondaryIPv6Addresses": null, "EndpointID": primary.map(|e| e.endpoint_id.clone()).unwrap_or_default(),
                "Gateway": primary.map(|e| e.gateway.clone()).unwrap_or_default(), "GlobalIPv6Address": primary.map(|e| e.global_ipv6_address.clone()).unwrap_or_default(), "GlobalIPv6PrefixLen": primary.map(|e| e.global_ipv6_prefix_len).unwrap_or(0),
                "IPAddress": primary.map(|e| e.ip_address.clone()).unwrap_or_default(), "IPPrefixLen": primary.map(|e| e.ip_prefix_len).unwrap_or(0),
                "IPv6Gateway": primary.map(|e| e.ipv6_gateway.clone()).unwrap_or_default(), "MacAddress": primary.map(|e| e.mac_address.clone()).unwrap_or_default(),
                "Networks": networks(&rec),
            },
        }))
    }

    /// `GET /containers/json`.
    pub fn list(&self, all: bool, limit: Option<usize>, filters: &Filters) -> Result<Vec<Value>, ServiceError> {
        self.list_sized(all, limit, filters, false)
    }

    /// `GET /containers/json`, with `SizeRw`/`SizeRootFs` when `size` (they cost a walk of each
    /// container's writable layer).
    pub fn list_sized(&self, all: bool, limit: Option<usize>, filters: &Filters, size: bool) -> Result<Vec<Value>, ServiceError> {
        filters
            .validate(&["id", "name", "label", "status", "exited", "ancestor", "before", "since", "health", "network", "volume", "is-task"])
            .map_err(ServiceError::Invalid)?;
        const STATUSES: [&str; 7] = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];
        const HEALTH: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];
        for (key, allowed) in [("status", &STATUSES[..]), ("health", &HEALTH[..])] {
            if let Some(bad) = filters.get(key).iter().find(|v| !allowed.contains(&v.as_str())) {
                return Err(ServiceError::Invalid(format!("invalid filter '{key}={bad}'")));
            }
        }
        // Names match as regular expressions, with or without the leading slash (as dockerd).
        let name_patterns: Vec<regex::Regex> = filters.get("name").iter().filter_map(|n| regex::Regex::new(n).ok()).collect();
        // `before`/`since`: created before/after the named container.
        let created_of = |key: &str| -> Result<Option<String>, ServiceError> {
            match filters.get(key).first() {
                Some(c) => Ok(Some(self.get(c)?.snapshot().created)),
                None => Ok(None),
            }
        };
        let (before, since) = (created_of("before")?, created_of("since")?);
        // Image ids the `ancestor` filter names, resolved once.
        let ancestors: Vec<(String, Option<String>)> =
            filters.get("ancestor").iter().map(|a| (a.clone(), self.images.get(a).ok().map(|i| i.id.to_string()))).collect();
        let filtered = !filters.get("status").is_empty() || !filters.get("exited").is_empty();
        // Each record is read in place under its own lock (no copies; a `save` in progress never
        // holds it across its fsync), and only the summaries of those that pass are built.
        let mut rows: Vec<(String, Value, String, String)> = Vec::new();
        for h in self.all() {
            let health = h.health().map(|x| x.status);
            let row = h.with_record(|r| {
                let status = shown_status(&h, r.state.status);
                let running = matches!(status, Status::Running | Status::Paused | Status::Restarting);
                if !all && !running && !filtered {
                    return None;
                }
                if !filters.get("id").is_empty() && !filters.get("id").iter().any(|i| r.id.starts_with(i.as_str())) {
                    return None;
                }
                if !filters.get("name").is_empty() && !name_patterns.iter().any(|p| p.is_match(&r.name) || p.is_match(&format!("/{}", r.name))) {
                    return None;
                }
                if before.as_ref().is_some_and(|t| r.created >= *t) || since.as_ref().is_some_and(|t| r.created <= *t) {
                    return None;
                }
                let health_status = health.as_deref().unwrap_or("none");
                if !filters.get("health").is_empty() && !filters.get("health").iter().any(|h| h == health_status) {
                    return None;
                }
                if !filters.get("status").is_empty() && !filters.get("status").iter().any(|s| s == status.as_str()) {
                    return None;
                }
                let exited = filters.get("exited");
                let exited_match = status == Status::Exited && exited.iter().any(|e| e.parse::<i64>().ok() == Some(r.state.exit_code));
                if !exited.is_empty() && !exited_match {
                    return None;
                }
                if !filters.labels_match("label", r.config.labels.as_ref()) {
                    return None;
                }
                if !filters.get("network").is_empty()
                    && !filters.get("network").iter().any(|n| r.network.networks.iter().any(|(name, ep)| name == n || (!n.is_empty() && ep.network_id.starts_with(n.as_str()))))
                {
                    return None;
                }
                if !filters.get("volume").is_empty()
                    && !filters.get("volume").iter().any(|v| r.mounts.iter().any(|m| &m.point.name == v || &m.point.destination == v || &m.point.source == v))
                {
                    return None;
                }
                if !ancestors.is_empty() && !ancestors.iter().any(|(a, id)| a == &r.image_name || id.as_deref() == Some(r.image.as_str())) {
                    return None;
                }
                let created = chrono::DateTime::parse_from_rfc3339(&r.created).map(|t| t.timestamp()).unwrap_or(0);
                let mut host_config = json!({"NetworkMode": if r.host_config.network_mode.is_empty() { "none".to_string() } else { r.host_config.network_mode.clone() }});
                if let Some(a) = r.host_config.annotations.as_ref().filter(|a| !a.is_empty()) {
                    host_config["Annotations"] = json!(a);
                }
                let summary = json!({
                    "Id": r.id,
                    "Names": [format!("/{}", r.name)],
                    "Image": r.image_name,
                    "ImageID": r.image,
                    "Command": command_line(&r.path, &r.args),
                    "Created": created,
                    "Ports": port_list(r),
                    "Labels": r.config.labels.clone().unwrap_or_default(),
                    "State": status.as_str(),
                    "Status": match &health {
                        Some(h) if status == Status::Running => format!("{} ({})", status_text(r, status), if h == "starting" { "health: starting" } else { h.as_str() }),
                        _ => status_text(r, status),
                    },
                    "HostConfig": host_config,
                    "NetworkSettings": {"Networks": networks(r)},
                    "Mounts": r.mounts.iter().map(|m| &m.point).collect::<Vec<_>>(),
                });
                Some((r.created.clone(), summary, r.snapshot.clone(), r.image.clone()))
            });
            rows.extend(row);
        }
        // Newest first, as dockerd lists them.
        rows.sort_by(|a, b| b.0.cmp(&a.0));
        if let Some(l) = limit {
            rows.truncate(l);
        }
        let mut out = Vec::with_capacity(rows.len());
        for (_, mut summary, snapshot, image) in rows {
            if size {
                use berth_snapshot::Snapshotter;
                let rw = self.snapshots.usage(&snapshot).map(|u| u.size).unwrap_or(0);
                let image = self.images.get(&image).map(|i| i.size()).unwrap_or(0);
                summary["SizeRw"] = json!(rw);
                summary["SizeRootFs"] = json!(rw + image);
            }
            out.push(summary);
        }
        Ok(out)
    }
}

fn ago(rfc: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc).map(|t| chrono::Utc::now().timestamp() - t.timestamp()).unwrap_or(0)
}

/// The status a client sees: a container that exited and waits out its restart policy's back-off
/// is `restarting`, as dockerd shows it (`Restarting (1) 2 seconds ago` in `docker ps`). Its record
/// stays `exited` meanwhile, what a daemon restart would find: nothing of it runs.
fn shown_status(h: &super::Handle, recorded: Status) -> Status {
    if recorded == Status::Exited && h.restart_pending() {
        Status::Restarting
    } else {
        recorded
    }
}

/// Docker's `Status` column text: `Up 3 minutes`, `Exited (0) 2 seconds ago`, `Created`.
fn status_text(r: &ContainerRecord, status: Status) -> String {
    match status {
        Status::Running => format!("Up {}", berth_api::units::human_duration(ago(&r.state.started_at))),
        Status::Paused => format!("Up {} (Paused)", berth_api::units::human_duration(ago(&r.state.started_at))),
        Status::Restarting => format!("Restarting ({}) {} ago", r.state.exit_code, berth_api::units::human_duration(ago(&r.state.finished_at))),
        Status::Exited => format!("Exited ({}) {} ago", r.state.exit_code, berth_api::units::human_duration(ago(&r.state.finished_at))),
        Status::Created => "Created".into(),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// The `Command` of `docker ps`: the path and arguments, an argument with a space in single quotes.
fn command_line(path: &str, args: &[String]) -> String {
    std::iter::once(path.to_string())
        .chain(args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }))
        .collect::<Vec<_>>()
        .join(" ")
}
