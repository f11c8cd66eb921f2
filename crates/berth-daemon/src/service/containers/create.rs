//! `POST /containers/create`: merge the image's config, pick a name, unpack the image into
//! snapshots, prepare the container's writable layer and write what the shim will need.

use super::names;
use super::record::ContainerRecord;
use super::{ContainerService, ServiceError};
use berth_api::config::ContainerConfig;
use berth_api::container::{CreateRequest, HostConfig};
use berth_runtime::config::{MountSpec, NamespaceMode, Resources};
use berth_runtime::mount::MountDesc;
use berth_runtime::RuntimeConfig;
use berth_snapshot::{unpack_layers, LayerOpener, Snapshotter};
use std::collections::BTreeMap;
use std::io::Read;

/// The `LogConfig.Type` asked for (`""` for the default, json-file).
pub(super) fn log_driver(h: &HostConfig) -> &str {
    h.extra.get("LogConfig").and_then(|l| l.get("Type")).and_then(|t| t.as_str()).unwrap_or("")
}

/// `HostConfig.Devices` (kept as sent, so inspect echoes it); the host side is resolved at start.
pub(super) fn devices(h: &HostConfig) -> Result<Vec<berth_runtime::devices::DeviceMapping>, ServiceError> {
    let Some(list) = h.extra.get("Devices").filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| ServiceError::Invalid("HostConfig.Devices must be an array".into()))?;
    list.iter()
        .map(|d| {
            let field = |k: &str| d.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let m = berth_runtime::devices::DeviceMapping {
                path_on_host: field("PathOnHost"),
                path_in_container: field("PathInContainer"),
                permissions: field("CgroupPermissions"),
            };
            if m.path_on_host.is_empty() {
                return Err(ServiceError::Invalid("HostConfig.Devices: PathOnHost is required".into()));
            }
            Ok(m)
        })
        .collect()
}

/// An rlimit value as the API gives it: -1 (any negative) is RLIM_INFINITY.
fn rlimit(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// A `--log-opt` value from `HostConfig.LogConfig.Config`.
fn log_opt(h: &HostConfig, key: &str) -> Option<String> {
    h.extra.get("LogConfig").and_then(|l| l.get("Config")).and_then(|c| c.get(key)).and_then(|v| v.as_str()).map(str::to_string)
}

fn merge_env(image: &[String], ours: &[String]) -> Vec<String> {
    let mut out: Vec<String> = image.to_vec();
    for e in ours {
        let key = e.split('=').next().unwrap_or(e);
        out.retain(|x| x.split('=').next().unwrap_or(x) != key);
        out.push(e.clone());
    }
    out
}

/// Docker's merge of the image's config under the container's.
/// The process environment dockerd gives a container (and its execs): `HOSTNAME` first, then the
/// container's own variables (which may set it themselves).
/// The checks dockerd makes when a container is created, with its messages, so that a bad value
/// fails `create` instead of the first start.
fn validate(c: &ContainerConfig, h: &HostConfig) -> Result<(), ServiceError> {
    let bad = |m: String| Err(ServiceError::Invalid(m));
    if let Some(w) = c.working_dir.as_deref().filter(|w| !w.is_empty() && !w.starts_with('/')) {
        return bad(format!("the working directory '{w}' is invalid, it needs to be an absolute path"));
    }
    if let Some(hc) = &c.healthcheck {
        // Go's time.Duration of 1ms, dockerd's `MinimumDuration`.
        let short = |d: Option<i64>| d.is_some_and(|d| d != 0 && d < 1_000_000);
        for (name, d) in [("Interval", hc.interval), ("Timeout", hc.timeout)] {
            if short(d) {
                return bad(format!("{name} in Healthcheck cannot be less than 1ms"));
            }
        }
        if hc.retries.is_some_and(|r| r < 0) {
            return bad("Retries in Healthcheck cannot be negative".into());
        }
        if short(hc.start_period) {
            return bad("StartPeriod in Healthcheck cannot be less than 1ms".into());
        }
        if short(hc.start_interval) {
            return bad("StartInterval in Healthcheck cannot be less than 1ms".into());
        }
    }
    if h.uts_mode == "host" && c.hostname.as_deref().is_some_and(|n| !n.is_empty()) {
        return bad("conflicting options: hostname and the UTS mode".into());
    }
    let policy = h.restart_policy.name.as_str();
    if h.auto_remove && !["", "no"].contains(&policy) {
        return bad("can't create 'AutoRemove' container with restart policy".into());
    }
    for (port, bindings) in h.port_bindings.iter().flatten() {
        let number = port.split_once('/').map_or(port.as_str(), |(n, _)| n);
        if !number.is_empty() && number.parse::<u16>().is_err() {
            return bad(format!("invalid port specification: {number:?}"));
        }
        for b in bindings.iter().flatten() {
            let host = b.host_port.split_once('/').map_or(b.host_port.as_str(), |(n, _)| n);
            let range_ok = |r: &str| match r.split_once('-') {
                Some((a, z)) => a.parse::<u16>().is_ok_and(|a| z.parse::<u16>().is_ok_and(|z| z >= a)),
                None => r.parse::<u16>().is_ok(),
            };
            if !host.is_empty() && !range_ok(host) {
                return bad(format!("invalid port specification: {:?}", b.host_port));
            }
        }
    }
    match policy {
        "always" | "unless-stopped" | "no" if h.restart_policy.maximum_retry_count != 0 => {
            return bad(format!("maximum retry count cannot be used with restart policy '{policy}'"));
        }
        "on-failure" if h.restart_policy.maximum_retry_count < 0 => return bad("maximum retry count cannot be negative".into()),
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        _ => return bad(format!("invalid restart policy '{policy}'")),
    }
    if h.memory > 0 && h.memory < 6 * 1024 * 1024 {
        return bad("Minimum memory limit allowed is 6MB".into());
    }
    if h.memory_swap > 0 && h.memory == 0 {
        return bad("You should always set the Memory limit when using Memoryswap limit, see usage".into());
    }
    if h.memory_swap > 0 && h.memory_swap < h.memory {
        return bad("Minimum memoryswap limit should be larger than memory limit, see usage".into());
    }
    let cpus = std::thread::available_parallelism().map(|n| n.get() as i64).unwrap_or(1);
    if h.nano_cpus < 0 || h.nano_cpus > cpus * 1_000_000_000 {
        return bad(format!("Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"));
    }
    Ok(())
}

/// A container named in a create field (`VolumesFrom`, `PidMode`) that does not exist: dockerd
/// answers 400 with the lookup's message.
pub(super) fn not_found_is_invalid(e: ServiceError) -> ServiceError {
    match e {
        ServiceError::NotFound(m) => ServiceError::Invalid(m),
        e => e,
    }
}

pub(super) fn with_hostname(env: Vec<String>, hostname: &str) -> Vec<String> {
    if env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        return env;
    }
    std::iter::once(format!("HOSTNAME={hostname}")).chain(env).collect()
}

fn merge(img: &ContainerConfig, mut c: ContainerConfig) -> ContainerConfig {
    // dockerd shows `Env: null` when neither the image nor the request has any.
    c.env = Some(merge_env(&img.env.clone().unwrap_or_default(), &c.env.clone().unwrap_or_default())).filter(|e| !e.is_empty());
    let explicit_entrypoint = c.entrypoint.is_some();
    if explicit_entrypoint {
        // `--entrypoint ""` clears it; an explicit entrypoint never inherits the image's Cmd.
        if c.entrypoint.as_ref().is_some_and(|e| e.len() == 1 && e[0].is_empty()) {
            c.entrypoint = None;
        }
    } else {
        c.entrypoint = img.entrypoint.clone();
        if c.cmd.as_ref().is_none_or(|v| v.is_empty()) {
            c.cmd = img.cmd.clone();
        }
    }
    if c.working_dir.as_deref().unwrap_or("").is_empty() {
        c.working_dir = img.working_dir.clone();
    }
    if c.user.as_deref().unwrap_or("").is_empty() {
        c.user = img.user.clone();
    }
    let mut labels = img.labels.clone().unwrap_or_default();
    labels.extend(c.labels.take().unwrap_or_default());
    // dockerd's merge leaves `Labels: {}` (not null) when neither has any.
    c.labels = Some(labels);
    let mut ports = img.exposed_ports.clone().unwrap_or_default();
    ports.extend(c.exposed_ports.take().unwrap_or_default());
    c.exposed_ports = (!ports.is_empty()).then_some(ports);
    let mut vols = img.volumes.clone().unwrap_or_default();
    vols.extend(c.volumes.take().unwrap_or_default());
    c.volumes = (!vols.is_empty()).then_some(vols);
    c.stop_signal = c.stop_signal.or_else(|| img.stop_signal.clone());
    c.stop_timeout = c.stop_timeout.or(img.stop_timeout);
    c.healthcheck = merge_healthcheck(c.healthcheck.take(), img.healthcheck.as_ref());
    c.shell = c.shell.or_else(|| img.shell.clone());
    c.on_build = c.on_build.or_else(|| img.on_build.clone());
    c
}

/// dockerd's merge of `--health-*` over the image's `HEALTHCHECK`: what the container leaves unset
/// (no test, a zero interval, …) comes from the image, so `--health-interval 1s` alone changes
/// only the interval of the image's check.
fn merge_healthcheck(mine: Option<berth_api::config::HealthConfig>, image: Option<&berth_api::config::HealthConfig>) -> Option<berth_api::config::HealthConfig> {
    let (Some(mut mine), Some(image)) = (mine.clone(), image) else { return mine.or_else(|| image.cloned()) };
    if mine.test.as_ref().is_none_or(|t| t.is_empty()) {
        mine.test = image.test.clone();
    }
    for (field, base) in [
        (&mut mine.interval, image.interval),
        (&mut mine.timeout, image.timeout),
        (&mut mine.start_period, image.start_period),
        (&mut mine.start_interval, image.start_interval),
        (&mut mine.retries, image.retries),
    ] {
        if field.unwrap_or(0) == 0 {
            *field = base;
        }
    }
    Some(mine)
}

impl ContainerService {
    /// The ID maps of a container: its pod's (CRI), else the daemon's `--userns-remap` maps
    /// unless it asked for the host's user namespace.
    pub(super) fn userns_of(&self, rec: &ContainerRecord) -> Result<Option<berth_runtime::idmap::IdMappings>, ServiceError> {
        if let Some(maps) = &rec.pod.userns {
            return Ok(Some(maps.clone()));
        }
        Ok(if super::hostcfg::userns_host(&rec.host_config)? { None } else { self.defaults.userns_remap.clone() })
    }

    /// The user namespace a pod's container joins: its sandbox's, which must be running.
    fn userns_path(&self, rec: &ContainerRecord) -> Result<Option<String>, ServiceError> {
        let Some(from) = &rec.pod.userns_from else { return Ok(None) };
        let other = self.get(from)?.snapshot();
        if other.state.pid <= 0 {
            return Err(ServiceError::Conflict(format!("cannot join the user namespace of a non running container: {}", other.name)));
        }
        Ok(Some(format!("/proc/{}/ns/user", other.state.pid)))
    }

    fn namespace_mode(&self, mode: &str, kind: &str) -> Result<NamespaceMode, ServiceError> {
        match mode {
            "" | "private" | "shareable" | "default" | "bridge" | "none" => Ok(NamespaceMode::Private),
            "host" => Ok(NamespaceMode::Host),
            m if m.starts_with("container:") => {
                // A container that does not exist is a bad value here (400), as dockerd answers.
                let other = self.get(&m["container:".len()..]).map_err(not_found_is_invalid)?.snapshot();
                if other.state.pid <= 0 {
                    return Err(ServiceError::Conflict(format!("cannot join namespaces of a non running container: {}", other.name)));
                }
                Ok(NamespaceMode::Path(format!("/proc/{}/ns/{kind}", other.state.pid)))
            }
            m => Err(ServiceError::Invalid(format!("invalid {kind} mode: {m}"))),
        }
    }

    pub(super) fn runtime_config(&self, rec: &ContainerRecord) -> Result<RuntimeConfig, ServiceError> {
        let c = &rec.config;
        let h = &rec.host_config;
        let network = match h.network_mode.as_str() {
            // `NetworkDisabled`: a namespace of its own with loopback only, whatever the mode says.
            _ if c.network_disabled == Some(true) => NamespaceMode::Private,
            "none" => NamespaceMode::Private,
            "host" => NamespaceMode::Host,
            m if m.starts_with("container:") => self.namespace_mode(m, "net")?,
            m => match super::net::netns_mode(m) {
                Some(path) => NamespaceMode::Path(path.to_string()),
                None => NamespaceMode::Path(self.networks.netns_path(&rec.id).display().to_string()),
            },
        };
        let dir = self.dir(&rec.id);
        let mut mounts = vec![];
        for f in ["hostname", "hosts", "resolv.conf"] {
            mounts.push(MountSpec {
                destination: format!("/etc/{f}"),
                kind: "bind".into(),
                source: dir.join(f).display().to_string(),
                options: vec!["rbind".into(), "rprivate".into()],
            });
        }
        for (path, opts) in h.tmpfs.clone().unwrap_or_default() {
            let mut options = vec!["nosuid".to_string(), "nodev".to_string(), "noexec".to_string()];
            options.extend(opts.split(',').filter(|o| !o.is_empty()).map(str::to_string));
            mounts.push(MountSpec { destination: path, kind: "tmpfs".into(), source: "tmpfs".into(), options });
        }
        mounts.extend(Self::mount_specs(rec));
        let period = if h.cpu_period > 0 { h.cpu_period as u64 } else { 100_000 };
        let quota = if h.nano_cpus > 0 { Some(h.nano_cpus * period as i64 / 1_000_000_000) } else { (h.cpu_quota > 0).then_some(h.cpu_quota) };
        let mut argv: Vec<String> = std::iter::once(rec.path.clone()).chain(rec.args.iter().cloned()).collect();
        if h.init == Some(true) {
            let init = self.init_path.as_ref().ok_or_else(|| {
                ServiceError::Invalid("--init: no docker-init binary found: install tini (tini-static) or start berth daemon with --init-path".into())
            })?;
            mounts.push(MountSpec {
                destination: "/sbin/docker-init".into(),
                kind: "bind".into(),
                source: init.display().to_string(),
                options: vec!["bind".into(), "ro".into(), "rprivate".into()],
            });
            argv.splice(0..0, ["/sbin/docker-init".to_string(), "--".to_string()]);
        }
        let mut cfg = RuntimeConfig {
            id: rec.id.clone(),
            args: argv,
            // dockerd's order: HOSTNAME, the links' variables, then the container's own (which win).
            env: with_hostname(merge_env(&self.link_env(rec), &c.env.clone().unwrap_or_default()), c.hostname.as_deref().unwrap_or_default()),
            cwd: c.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into()),
            user: c.user.clone().unwrap_or_default(),
            hostname: c.hostname.clone().unwrap_or_default(),
            domainname: c.domainname.clone().unwrap_or_default(),
            tty: c.tty.unwrap_or(false),
            open_stdin: c.open_stdin.unwrap_or(false),
            stdin_once: c.stdin_once.unwrap_or(false),
            privileged: h.privileged,
            cap_add: h.cap_add.clone().unwrap_or_default(),
            cap_drop: h.cap_drop.clone().unwrap_or_default(),
            readonly_rootfs: h.readonly_rootfs,
            mounts,
            resources: Resources {
                memory: (h.memory > 0).then_some(h.memory),
                memory_swap: (h.memory_swap != 0).then_some(h.memory_swap),
                memory_reservation: (h.memory_reservation > 0).then_some(h.memory_reservation),
                cpu_shares: (h.cpu_shares > 0).then_some(h.cpu_shares as u64),
                cpu_quota: quota,
                cpu_period: (quota.is_some() || h.cpu_period > 0).then_some(period),
                cpuset_cpus: (!h.cpuset_cpus.is_empty()).then(|| h.cpuset_cpus.clone()),
                cpuset_mems: (!h.cpuset_mems.is_empty()).then(|| h.cpuset_mems.clone()),
                pids_limit: h.pids_limit.filter(|p| *p != 0),
                oom_kill_disable: h.oom_kill_disable,
                ..Default::default()
            },
            network,
            pid: self.namespace_mode(&h.pid_mode, "pid")?,
            ipc: self.namespace_mode(&h.ipc_mode, "ipc")?,
            uts: self.namespace_mode(&h.uts_mode, "uts")?,
            // -1 is unlimited (RLIM_INFINITY), as dockerd reads it.
            ulimits: h.ulimits.clone().unwrap_or_default().into_iter().map(|u| (u.name, (rlimit(u.soft), rlimit(u.hard)))).collect(),
            sysctls: h.sysctls.clone().unwrap_or_default(),
            shm_size: h.shm_size.max(0) as u64,
            devices: devices(h)?,
            cri_log_path: (log_driver(h) == "k8s-file").then(|| log_opt(h, "path").map(std::path::PathBuf::from)).flatten(),
            dockerenv: true,
            group_add: h.group_add.clone().unwrap_or_default(),
            annotations: h.annotations.clone().unwrap_or_default(),
            device_cgroup_rules: super::hostcfg::device_cgroup_rules(h),
            ..Default::default()
        };
        super::hostcfg::apply(&rec.id, h, &mut cfg)?;
        cfg.userns = self.userns_of(rec)?;
        cfg.userns_path = self.userns_path(rec)?;
        cfg.groups_policy = rec.pod.groups_policy;
        super::logdriver::apply(rec, &self.defaults.journald_socket, &mut cfg)?;
        Ok(cfg)
    }

    /// Writes the container's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` (bind-mounted
    /// into it) as Docker writes them for its network mode and current addresses.
    pub(super) fn write_etc_files(&self, rec: &ContainerRecord) -> Result<(), ServiceError> {
        let dir = self.dir(&rec.id);
        let io = |e: std::io::Error| ServiceError::Internal(format!("writing container files: {e}"));
        let hostname = rec.config.hostname.clone().unwrap_or_default();
        berth_types::persist::replace_file(&dir.join("hostname"), format!("{hostname}\n").as_bytes()).map_err(io)?;
        let (hosts, resolv) = self.etc_files(rec);
        berth_types::persist::replace_file(&dir.join("hosts"), hosts.as_bytes()).map_err(io)?;
        berth_types::persist::replace_file(&dir.join("resolv.conf"), resolv.as_bytes()).map_err(io)?;
        // A remapped container's root owns them, as with dockerd (it may edit its /etc/hosts).
        if let Some((uid, gid)) = self.userns_of(rec)?.and_then(|m| m.root().ok()) {
            for f in ["hostname", "hosts", "resolv.conf"] {
                std::os::unix::fs::chown(dir.join(f), Some(uid), Some(gid)).map_err(io)?;
            }
        }
        Ok(())
    }

    /// The `/etc/hosts` and `/etc/resolv.conf` Docker gives a container with this record's network
    /// mode, links, extra hosts, DNS settings and current addresses.
    pub(super) fn etc_files(&self, rec: &ContainerRecord) -> (String, String) {
        let host_net = rec.host_config.network_mode == "host";
        let hostname = rec.config.hostname.clone().unwrap_or_default();
        let primary = rec.network.order.first().and_then(|n| rec.network.networks.get(n));
        let hosts = if host_net {
            std::fs::read_to_string("/etc/hosts").unwrap_or_default()
        } else {
            let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n");
            // A legacy link's line, as dockerd's: the alias, the linked container's hostname, and
            // its name unless that is the alias.
            for (alias, other) in self.linked(rec, false).unwrap_or_default() {
                if let Some(ip) = super::links::bridge_ip(&other) {
                    let mut names = vec![alias.clone(), other.config.hostname.clone().unwrap_or_default()];
                    if alias != other.name {
                        names.push(other.name.clone());
                    }
                    s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
                }
            }
            for extra in rec.host_config.extra_hosts.clone().unwrap_or_default() {
                if let Some((name, ip)) = extra.split_once([':', '=']) {
                    let ip = if ip == "host-gateway" { primary.map(|e| e.gateway.clone()).filter(|g| !g.is_empty()).unwrap_or_else(|| "127.0.0.1".into()) } else { ip.to_string() };
                    s.push_str(&format!("{ip}\t{name}\n"));
                }
            }
            // The container's own addresses, as libnetwork adds them when each endpoint joins: on
            // every network in attach order, its IPv4 address and then its IPv6 one (dual-stack).
            let domain = rec.config.domainname.clone().unwrap_or_default();
            let fqdn = if domain.is_empty() { hostname.clone() } else { format!("{hostname}.{domain} {hostname}") };
            for ep in rec.network.order.iter().filter_map(|n| rec.network.networks.get(n)).filter(|e| !e.ip_address.is_empty()) {
                s.push_str(&format!("{}\t{fqdn}\n", ep.ip_address));
                if !ep.global_ipv6_address.is_empty() {
                    s.push_str(&format!("{}\t{fqdn}\n", ep.global_ipv6_address));
                }
            }
            s
        };
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let host_conf = berth_network::dns::parse_resolv_conf(&host_resolv);
        let embedded_dns = rec.network.networks.values().any(|e| e.dns_names.is_some());
        // As libnetwork writes it: search, nameservers, options.
        let mut resolv = String::new();
        let search = rec.host_config.dns_search.clone().filter(|s| !s.is_empty()).unwrap_or(host_conf.search.clone());
        if !search.is_empty() {
            resolv.push_str(&format!("search {}\n", search.join(" ")));
        }
        let dns = rec.host_config.dns.clone().unwrap_or_default();
        if embedded_dns {
            // The embedded server answers for the networks and forwards the rest (to --dns servers
            // or the host's).
            resolv.push_str("nameserver 127.0.0.11\n");
        } else if dns.is_empty() {
            for ns in &host_conf.nameservers {
                // Loopback resolvers of the host are unreachable from another network namespace.
                if host_net || !ns.is_loopback() {
                    resolv.push_str(&format!("nameserver {ns}\n"));
                }
            }
        } else {
            resolv.extend(dns.iter().map(|d| format!("nameserver {d}\n")));
        }
        let mut options = rec.host_config.dns_options.clone().filter(|s| !s.is_empty()).unwrap_or(host_conf.options.clone());
        if embedded_dns && !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
        if !options.is_empty() {
            resolv.push_str(&format!("options {}\n", options.join(" ")));
        }
        (hosts, resolv)
    }

    /// Unpacks the image into committed snapshots; returns the top snapshot key (None: no layers).
    fn unpack_image(&self, image: &berth_image::Image) -> Result<Option<String>, ServiceError> {
        if image.layers.is_empty() {
            return Ok(None);
        }
        let content = self.images.content().clone();
        let layers: Vec<(berth_types::Digest, LayerOpener<'_>)> = image
            .layers
            .iter()
            .map(|l| {
                let c = content.clone();
                let d = l.diff_id.clone();
                let open: LayerOpener<'_> = Box::new(move || {
                    let f = c.open_blob(&d).map_err(std::io::Error::other)?;
                    Ok(Box::new(std::io::BufReader::with_capacity(256 * 1024, f)) as Box<dyn Read>)
                });
                (l.diff_id.clone(), open)
            })
            .collect();
        let top = unpack_layers(self.snapshots.as_ref(), &layers).map_err(|e| ServiceError::Internal(format!("unpacking image layers: {e}")))?;
        Ok(Some(top))
    }

    /// Creates a container; returns its id. Blocking (unpacks layers): call from `spawn_blocking`.
    pub fn create(&self, req: CreateRequest, name: Option<String>) -> Result<String, ServiceError> {
        self.create_with_warnings(req, name).map(|(id, _)| id)
    }

    /// Creates a container; returns its id and dockerd's warnings (settings this host discarded).
    pub fn create_with_warnings(&self, req: CreateRequest, name: Option<String>) -> Result<(String, Vec<String>), ServiceError> {
        self.create_inner(req, name, super::PodSettings::default())
    }

    /// Creates a CRI pod's sandbox or container, with the settings the Docker API has no field for.
    pub fn create_for_pod(&self, req: CreateRequest, name: Option<String>, pod: super::PodSettings) -> Result<String, ServiceError> {
        self.create_inner(req, name, pod).map(|(id, _)| id)
    }

    fn create_inner(&self, req: CreateRequest, name: Option<String>, pod: super::PodSettings) -> Result<(String, Vec<String>), ServiceError> {
        let _lease = self.leases.acquire("create");
        let _timer = crate::metrics::ActionTimer::start("create");
        let image_name = req.config.image.clone().filter(|i| !i.is_empty()).ok_or_else(|| ServiceError::Invalid("no image specified".into()))?;
        let image = self.images.get(&image_name)?;
        // A start usually follows at once (`run`): let its cgroup attach wait begin now.
        berth_runtime::cgroups::prime_attach();
        let mut config = merge(&image.config.container_config(), req.config.clone());
        config.image = Some(image_name.clone());
        if config.entrypoint.as_ref().is_none_or(|e| e.is_empty()) && config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(ServiceError::Invalid("no command specified".into()));
        }
        let mut host_config: HostConfig = req.host_config.unwrap_or_default();
        self.defaults.apply(&mut host_config);
        validate(&config, &host_config)?;
        self.check_links(&host_config)?;
        let warnings = super::hostcfg::validate(&mut host_config)?;
        super::hostcfg::check_userns(&host_config, self.defaults.userns_remap.is_some())?;
        let network = self.network_state(&mut host_config, req.networking_config.as_ref())?;
        super::logdriver::validate(log_driver(&host_config), &super::logdriver::opts(&host_config)).map_err(ServiceError::Invalid)?;
        let id = berth_types::random_id();
        if config.hostname.as_deref().unwrap_or("").is_empty() {
            config.hostname = Some(if host_config.network_mode == "host" {
                nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default()
            } else {
                id[..12].to_string()
            });
        }
        let name = self.reserve_name(name, &id)?;
        let mut new_volumes = vec![];
        let result = (|| {
            let mut rec = ContainerRecord::new(id.clone(), name.clone(), image.id.to_string(), image_name.clone(), config, host_config);
            rec.pod = pod;
            rec.mounts = self.resolve_mounts(&rec.config, &rec.host_config, &mut new_volumes)?;
            rec.network = network;
            let runtime = self.runtime_config(&rec)?;
            let dir = self.dir(&id);
            std::fs::create_dir_all(&dir).map_err(|e| ServiceError::Internal(format!("create {}: {e}", dir.display())))?;
            self.write_etc_files(&rec)?;
            let parent = self.unpack_image(&image)?;
            let mut labels = BTreeMap::new();
            labels.insert("berth.container".to_string(), id.clone());
            let mounts = self
                .snapshots
                .prepare(&rec.snapshot, parent.as_deref(), labels)
                .map_err(|e| ServiceError::Internal(format!("preparing the container's filesystem: {e}")))?;
            let descs: Vec<MountDesc> =
                mounts.iter().map(|m| MountDesc { kind: m.kind.clone(), source: m.source.display().to_string(), options: m.options.clone() }).collect();
            let w = |p: &str, v: &dyn erased::Json| {
                berth_types::persist::atomic_write(&dir.join(p), &v.bytes()).map_err(|e| ServiceError::Internal(format!("writing {p}: {e}")))
            };
            w("mounts.json", &descs)?;
            if let Some((uid, gid)) = runtime.userns.as_ref().and_then(|m| m.root().ok()) {
                // The writable layer holds the container's files with their host ids: its root
                // directory (the container's `/`) is the remapped root's.
                for upper in descs.iter().filter_map(MountDesc::writable_dir) {
                    std::os::unix::fs::chown(&upper, Some(uid), Some(gid)).map_err(|e| ServiceError::Internal(format!("chown {}: {e}", upper.display())))?;
                }
            }
            if rec.mounts.iter().any(|m| m.copy_up) {
                self.with_rootfs(&rec, false, |rootfs| self.populate_volumes(&rec, rootfs))??;
            }
            w("runtime.json", &runtime)?;
            super::record::store(&dir, &rec).map_err(|e| ServiceError::Internal(format!("saving container: {e}")))?;
            Ok(rec)
        })();
        match result {
            Ok(rec) => {
                self.insert(rec.clone());
                self.event(&rec, "create", &[]);
                Ok((id, warnings))
            }
            Err(e) => {
                self.names.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
                let _ = self.snapshots.remove(&id);
                let _ = berth_types::teardown::remove_tree(self.dir(&id));
                let users = self.volume_users();
                for v in new_volumes {
                    let _ = self.volumes.remove(&v, true, &users);
                }
                Err(e)
            }
        }
    }

    fn reserve_name(&self, name: Option<String>, id: &str) -> Result<String, ServiceError> {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        match name.map(|n| n.trim_start_matches('/').to_string()).filter(|n| !n.is_empty()) {
            Some(n) => {
                if !names::valid(&n) {
                    return Err(ServiceError::Invalid(format!("Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
                }
                if let Some(other) = names.get(&n) {
                    return Err(ServiceError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                names.insert(n.clone(), id.to_string());
                Ok(n)
            }
            None => {
                for attempt in 0..100 {
                    let n = names::generate(attempt);
                    if !names.contains_key(&n) {
                        names.insert(n.clone(), id.to_string());
                        return Ok(n);
                    }
                }
                Err(ServiceError::Internal("could not generate a unique container name".into()))
            }
        }
    }
}

/// Serialising heterogeneous values through one closure.
mod erased {
    pub trait Json {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn bytes(&self) -> Vec<u8> {
            serde_json::to_vec_pretty(self).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_follows_docker_rules() {
        let img = ContainerConfig {
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            cmd: Some(vec!["sh".into()]),
            entrypoint: Some(vec!["/init".into()]),
            working_dir: Some("/srv".into()),
            ..Default::default()
        };
        let c = merge(&img, ContainerConfig { env: Some(vec!["A=2".into()]), ..Default::default() });
        assert_eq!(c.env.unwrap(), vec!["PATH=/bin", "A=2"]);
        assert_eq!(c.cmd.unwrap(), vec!["sh"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/init"]);
        assert_eq!(c.working_dir.unwrap(), "/srv");
        let c = merge(&img, ContainerConfig { entrypoint: Some(vec!["/bin/echo".into()]), ..Default::default() });
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/echo"]);
        assert!(c.cmd.is_none(), "an explicit entrypoint does not inherit the image's Cmd");
        let c = merge(&img, ContainerConfig { entrypoint: Some(vec!["".into()]), cmd: Some(vec!["ls".into()]), ..Default::default() });
        assert!(c.entrypoint.is_none());
        assert_eq!(c.cmd.unwrap(), vec!["ls"]);
    }

    #[test]
    fn health_flags_merge_over_the_images_check() {
        use berth_api::config::HealthConfig;
        let image = HealthConfig { test: Some(vec!["CMD-SHELL".into(), "true".into()]), interval: Some(30), retries: Some(3), ..Default::default() };
        let merged = merge_healthcheck(Some(HealthConfig { interval: Some(1), ..Default::default() }), Some(&image)).unwrap();
        assert_eq!((merged.test, merged.interval, merged.retries), (image.test.clone(), Some(1), Some(3)));
        let none = HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() };
        assert_eq!(merge_healthcheck(Some(none.clone()), Some(&image)).unwrap().test, none.test);
        assert_eq!(merge_healthcheck(None, Some(&image)), Some(image.clone()));
        assert_eq!(merge_healthcheck(Some(none.clone()), None), Some(none));
    }
}
