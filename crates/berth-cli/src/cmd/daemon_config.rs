//! `berth daemon`'s configuration: its flags merged with the configuration file, `daemon.json` with
//! dockerd's key names (`/etc/berth/daemon.json` unless `--config-file` names another), as dockerd
//! merges them (`daemon/config/config.go`):
//! - a key Berth does not know is refused ("the following directives don't match any configuration
//!   option"), and so is a dockerd key Berth does not implement (named as such);
//! - a setting given both as a flag and in the file is refused ("the following directives are
//!   specified both as a flag and in the configuration file");
//! - a missing default file is no file; a missing `--config-file` is an error;
//! - defaults apply to what neither gives.
//!
//! On `SIGHUP` the daemon reads the file again and takes on the reloadable keys (`log-level`,
//! `debug`, `labels`, `insecure-registries`, `registry-mirrors`); other changes wait for a restart.

use crate::cli::{DaemonArgs, LogFormat};
use berth_api::container::Ulimit;
use berth_daemon::service::containers::{validate_log_opts, ContainerDefaults, JOURNALD_SOCKET, LOG_DRIVERS};
use berth_daemon::service::distribution::RegistryOptions;
use berth_daemon::service::networks::NetworkOptions;
use berth_daemon::settings::LiveSettings;
use berth_daemon::{DaemonConfig, ListenAddr};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the daemon looks for its configuration file when `--config-file` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// Keys of the file, each the name of the flag it stands for (plural for repeatable flags, as
/// dockerd names them).
const KEYS: &[&str] = &[
    "data-root", "hosts", "log-level", "log-format", "debug", "labels", "insecure-registries", "registry-mirrors", "certs-dir",
    "bridge", "bip", "default-address-pools", "mtu", "init-path", "log-driver", "log-opts", "default-ulimits",
    "features", "live-restore", "metrics-addr", "max-connections", "api-read-timeout", "tls", "tlsverify", "tlscacert", "tlscert",
    "tlskey", "group", "userns-remap", "ipv6", "fixed-cidr-v6",
    "cri-socket", "cri-sandbox-image", "cri-registry-mirrors", "cni-conf-dir", "cni-bin-dir", "cni-plugin-timeout", "cri-stream-address",
    "cri-stream-port",
    "cri-stream-tls-cert",
    "cri-stream-tls-key",
];

/// Keys a reload takes on; changes to the others wait for the next start.
pub const RELOADABLE: &[&str] = &["log-level", "debug", "labels", "insecure-registries", "registry-mirrors"];

/// dockerd's keys that Berth does not implement: named as such rather than as unknown.
const DOCKERD_ONLY: &[&str] = &[
    "allow-nondistributable-artifacts", "api-cors-header", "authorization-plugins", "builder", "cdi-spec-dirs",
    "cgroup-parent", "containerd", "containerd-namespace", "containerd-plugins-namespace", "cpu-rt-period",
    "cpu-rt-runtime", "cri-containerd", "default-cgroupns-mode", "default-gateway", "default-gateway-v6",
    "default-ipc-mode", "default-network-opts", "default-runtime", "default-shm-size", "dns", "dns-opts",
    "dns-search", "exec-opts", "exec-root", "experimental", "fixed-cidr",
    "host-gateway-ip", "host-gateway-ips", "http-proxy", "https-proxy", "icc", "init", "ip", "ip-forward",
    "ip-forward-no-drop", "ip-masq", "ip6tables", "iptables", "isolation",
    "max-concurrent-downloads", "max-concurrent-uploads", "max-download-attempts",
    "min-api-version", "network-control-plane-mtu", "network-diagnostic-port", "no-new-privileges", "no-proxy",
    "node-generic-resources", "oom-score-adjust", "pidfile", "proxies", "raw-logs", "registry-config",
    "runtimes", "seccomp-profile", "selinux-enabled", "shutdown-timeout", "storage-driver", "storage-opts",
    "swarm-default-advertise-addr", "userland-proxy",
    "userland-proxy-path",
];

/// The ulimit names Docker accepts (`go-units`' `ulimitNameMapping`).
const ULIMITS: &[&str] = &[
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio",
    "rttime", "sigpending", "stack",
];

/// Everything `berth daemon` runs with, flags and file merged, defaults applied.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// What the daemon library takes.
    pub config: DaemonConfig,
    /// The log filter (`debug` when debug mode is on, else the log level).
    pub log_filter: String,
    /// Text or JSON.
    pub log_format: LogFormat,
    /// The file's keys and values as read (none without a file), to tell what a reload changed.
    pub file: Map<String, Value>,
    /// The file read, for messages.
    pub path: PathBuf,
    /// The CRI server's settings, when it is to be served (`cri-socket`).
    pub cri: Option<berth_cri::CriConfig>,
}

/// Reads the configuration file for `a`, checks it against the flags and merges both.
pub fn resolve(a: &DaemonArgs) -> anyhow::Result<Resolved> {
    let rootless = super::rootless::Dirs::of_rootless_daemon();
    let default_file = rootless.as_ref().map(|d| d.config_file()).unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
    let path = a.config_file.clone().unwrap_or(default_file);
    let wrap = |e: String| anyhow::anyhow!("unable to configure the berth daemon with file {}: {e}", path.display());
    let file = read(&path, a.config_file.is_some()).map_err(wrap)?;
    check_keys(&file, a).map_err(wrap)?;
    let (config, log_filter) = merge(a, &file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let log_format = match (a.log_format, get::<String>(&file, "log-format").map_err(|e| anyhow::anyhow!("{e}"))?.as_deref()) {
        (Some(f), _) => f,
        (None, None | Some("text")) => LogFormat::Text,
        (None, Some("json")) => LogFormat::Json,
        (None, Some(other)) => anyhow::bail!("invalid log format: {other}: use text or json"),
    };
    let cri = cri(a, &file).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Resolved { config, log_filter, log_format, file, path, cri })
}

/// The CRI settings: `cri-socket` (absolute) turns the server on; `cri-sandbox-image` and
/// `cri-registry-mirrors` (`{"registry.k8s.io": ["http://127.0.0.1:5000"]}` in the file,
/// `--cri-registry-mirror registry.k8s.io=http://127.0.0.1:5000` as flags) need it.
fn cri(a: &DaemonArgs, file: &Map<String, Value>) -> Result<Option<berth_cri::CriConfig>, String> {
    let socket = pick(a.cri_socket.clone(), file, "cri-socket")?;
    let image = pick(a.cri_sandbox_image.clone(), file, "cri-sandbox-image")?;
    let stream_address: Option<String> = pick(a.cri_stream_address.clone(), file, "cri-stream-address")?;
    let stream_port: Option<u16> = pick(a.cri_stream_port, file, "cri-stream-port")?;
    let stream_cert: Option<PathBuf> = pick(a.cri_stream_tls_cert.clone(), file, "cri-stream-tls-cert")?;
    let stream_key: Option<PathBuf> = pick(a.cri_stream_tls_key.clone(), file, "cri-stream-tls-key")?;
    let mirrors: BTreeMap<String, Vec<String>> = if a.cri_registry_mirrors.is_empty() {
        get(file, "cri-registry-mirrors")?.unwrap_or_default()
    } else {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for entry in &a.cri_registry_mirrors {
            let (reg, url) = entry.split_once('=').ok_or_else(|| format!("invalid cri-registry-mirror {entry:?}: expected REGISTRY=URL"))?;
            m.entry(reg.to_string()).or_default().push(url.to_string());
        }
        m
    };
    let conf_dir = pick(a.cni_conf_dir.clone(), file, "cni-conf-dir")?;
    let bin_dir = pick(a.cni_bin_dir.clone(), file, "cni-bin-dir")?;
    let timeout = pick(a.cni_plugin_timeout, file, "cni-plugin-timeout")?;
    let Some(socket) = socket else {
        if image.is_some() || !mirrors.is_empty() || conf_dir.is_some() || bin_dir.is_some() || timeout.is_some() || stream_address.is_some()
            || stream_port.is_some()
            || stream_cert.is_some()
            || stream_key.is_some()
        {
            return Err("cri-sandbox-image, cri-registry-mirrors, the cni-* and cri-stream-* settings need cri-socket (the CRI server is off without it)".into());
        }
        return Ok(None);
    };
    if !socket.is_absolute() {
        return Err(format!("cri-socket must be an absolute path: {}", socket.display()));
    }
    for (reg, urls) in &mirrors {
        for u in urls {
            let host = u.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
            if host.is_empty() || host.contains('/') {
                return Err(format!("invalid mirror {u:?} for {reg}: expected [http[s]://]HOST[:PORT]"));
            }
        }
    }
    let mut c = berth_cri::CriConfig::new(socket);
    if let Some(i) = image {
        berth_types::Reference::parse(&i).map_err(|e| format!("invalid cri-sandbox-image {i:?}: {e}"))?;
        c.sandbox_image = i;
    }
    c.registry_mirrors = mirrors;
    if let Some(d) = conf_dir {
        if !d.is_absolute() {
            return Err(format!("cni-conf-dir must be an absolute path: {}", d.display()));
        }
        c.cni.conf_dir = d;
    }
    if let Some(dirs) = bin_dir {
        let dirs: Vec<PathBuf> = dirs.split(':').filter(|d| !d.is_empty()).map(PathBuf::from).collect();
        if dirs.is_empty() || dirs.iter().any(|d| !d.is_absolute()) {
            return Err("cni-bin-dir must be absolute paths separated by colons".into());
        }
        c.cni.bin_dirs = dirs;
    }
    if let Some(t) = timeout {
        if t == 0 {
            return Err("cni-plugin-timeout must be at least 1 second".into());
        }
        c.cni.timeout = std::time::Duration::from_secs(t);
    }
    if let Some(addr) = stream_address {
        c.stream.address = addr.parse().map_err(|_| format!("invalid cri-stream-address {addr:?}: expected an IP address"))?;
    }
    if let Some(port) = stream_port {
        c.stream.port = port;
    }
    c.stream.tls = match (stream_cert, stream_key) {
        (Some(cert), Some(key)) => Some(berth_daemon::tls::ServerTls { cert, key, client_ca: None }),
        (None, None) => None,
        _ => return Err("cri-stream-tls-cert and cri-stream-tls-key go together".into()),
    };
    Ok(Some(c))
}

/// The file's top-level object; empty when the default file does not exist or holds only blanks.
fn read(path: &Path, explicit: bool) -> Result<Map<String, Value>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(Map::new()),
        Err(e) => return Err(e.to_string()),
    };
    let text = String::from_utf8(bytes).map_err(|e| format!("the file is not UTF-8 (at byte {})", e.utf8_error().valid_up_to()))?;
    // Notepad writes a byte order mark; JSON allows a reader to skip it (RFC 8259, 8.1), as dockerd does.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).trim();
    if text.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text).map_err(|e| e.to_string())? {
        Value::Object(m) => Ok(m),
        _ => Err("the configuration must be a JSON object".into()),
    }
}

/// Unknown keys, dockerd keys Berth lacks, and settings given as a flag too.
fn check_keys(file: &Map<String, Value>, a: &DaemonArgs) -> Result<(), String> {
    let unknown: Vec<&str> = file.keys().map(String::as_str).filter(|k| !KEYS.contains(k) && !DOCKERD_ONLY.contains(k)).collect();
    if !unknown.is_empty() {
        return Err(format!("the following directives don't match any configuration option: {}", unknown.join(", ")));
    }
    let unsupported: Vec<&str> = file.keys().map(String::as_str).filter(|k| DOCKERD_ONLY.contains(k)).collect();
    if !unsupported.is_empty() {
        return Err(format!("the following directives are dockerd's and not supported by berth: {}", unsupported.join(", ")));
    }
    let conflicts: Vec<String> = flags_given(a)
        .into_iter()
        .filter_map(|(key, flag)| file.get(key).map(|v| format!("{key}: (from flag: {flag}, from file: {})", go_format(v))))
        .collect();
    if !conflicts.is_empty() {
        return Err(format!("the following directives are specified both as a flag and in the configuration file: {}", conflicts.join(", ")));
    }
    Ok(())
}

/// The settings given on the command line, by file key, with their values as dockerd prints them.
fn flags_given(a: &DaemonArgs) -> Vec<(&'static str, String)> {
    let list = |v: &[String]| (!v.is_empty()).then(|| format!("[{}]", v.join(" ")));
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    [
        ("data-root", path(&a.data_root)),
        ("hosts", list(&a.hosts)),
        ("log-level", a.log_level.clone()),
        ("log-format", a.log_format.map(|f| if f == LogFormat::Json { "json".to_string() } else { "text".to_string() })),
        ("debug", a.debug.then(|| "true".to_string())),
        ("labels", list(&a.labels)),
        ("insecure-registries", list(&a.insecure_registry)),
        ("registry-mirrors", list(&a.registry_mirror)),
        ("certs-dir", path(&a.certs_dir)),
        ("bridge", a.bridge.clone()),
        ("bip", a.bip.clone()),
        ("ipv6", a.ipv6.then(|| "true".to_string())),
        ("fixed-cidr-v6", a.fixed_cidr_v6.clone()),
        ("default-address-pools", list(&a.default_address_pool)),
        ("mtu", a.mtu.map(|m| m.to_string())),
        ("init-path", path(&a.init_path)),
        ("log-driver", a.log_driver.clone()),
        ("log-opts", list(&a.log_opts)),
        ("default-ulimits", list(&a.default_ulimits)),
        ("metrics-addr", a.metrics_addr.map(|m| m.to_string())),
        ("max-connections", a.max_connections.map(|m| m.to_string())),
        ("api-read-timeout", a.api_read_timeout.map(|m| m.to_string())),
        ("tls", a.tls.map(|b| b.to_string())),
        ("tlsverify", a.tlsverify.map(|b| b.to_string())),
        ("tlscacert", path(&a.tlscacert)),
        ("tlscert", path(&a.tlscert)),
        ("tlskey", path(&a.tlskey)),
        ("group", a.group.clone()),
        ("userns-remap", a.userns_remap.clone()),
        ("cri-socket", path(&a.cri_socket)),
        ("cri-sandbox-image", a.cri_sandbox_image.clone()),
        ("cri-registry-mirrors", list(&a.cri_registry_mirrors)),
        ("cni-conf-dir", path(&a.cni_conf_dir)),
        ("cni-bin-dir", a.cni_bin_dir.clone()),
        ("cni-plugin-timeout", a.cni_plugin_timeout.map(|t| t.to_string())),
        ("cri-stream-address", a.cri_stream_address.clone()),
        ("cri-stream-port", a.cri_stream_port.map(|p| p.to_string())),
        ("cri-stream-tls-cert", path(&a.cri_stream_tls_cert)),
        ("cri-stream-tls-key", path(&a.cri_stream_tls_key)),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect()
}

/// A JSON value as Go's `%v` prints the decoded value (`[a b]`, `map[k:v]`), for conflict messages.
fn go_format(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_format).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!("map[{}]", m.iter().map(|(k, v)| format!("{k}:{}", go_format(v))).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

/// Decodes the file's value for `key`, naming the key when its type is wrong.
pub(crate) fn get<T: serde::de::DeserializeOwned>(file: &Map<String, Value>, key: &str) -> Result<Option<T>, String> {
    file.get(key).map(|v| serde_json::from_value(v.clone()).map_err(|e| format!("invalid value for {key}: {e}"))).transpose()
}

/// Flag if given, else the file's value.
pub(crate) fn pick<T: serde::de::DeserializeOwned>(flag: Option<T>, file: &Map<String, Value>, key: &str) -> Result<Option<T>, String> {
    match flag {
        Some(v) => Ok(Some(v)),
        None => get(file, key),
    }
}

/// A repeatable flag if given, else the file's list.
fn pick_list(flag: &[String], file: &Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    if !flag.is_empty() {
        return Ok(flag.to_vec());
    }
    Ok(get::<Vec<String>>(file, key)?.unwrap_or_default())
}

/// Merges flags and file, applies defaults and checks every value. Returns the daemon's config and
/// the log filter.
fn merge(a: &DaemonArgs, file: &Map<String, Value>) -> Result<(DaemonConfig, String), String> {
    // A rootless daemon's defaults are rootless dockerd's: data under $XDG_DATA_HOME, socket and
    // configuration under $XDG_RUNTIME_DIR and $XDG_CONFIG_HOME.
    let rootless = super::rootless::Dirs::of_rootless_daemon();
    let data_root = pick(a.data_root.clone(), file, "data-root")?.unwrap_or_else(|| rootless.as_ref().map(|d| d.data_root()).unwrap_or_else(|| PathBuf::from("/var/lib/berth")));
    if !data_root.is_absolute() {
        return Err(format!("data-root {:?} must be an absolute path", data_root.display().to_string()));
    }
    let mut hosts = pick_list(&a.hosts, file, "hosts")?;
    if hosts.is_empty() {
        hosts.push(match &rootless {
            Some(d) => format!("unix://{}", d.socket().display()),
            None => berth_client::DEFAULT_HOST.to_string(),
        });
    }
    let hosts = hosts.iter().map(|h| h.parse::<ListenAddr>()).collect::<Result<Vec<_>, _>>()?;
    let debug = a.debug || get::<bool>(file, "debug")?.unwrap_or(false);
    let log_level = pick(a.log_level.clone(), file, "log-level")?.unwrap_or_else(|| "info".into());
    let log_filter = log_filter(if debug { "debug" } else { &log_level })?;
    let labels = labels(&pick_list(&a.labels, file, "labels")?)?;
    let insecure = pick_list(&a.insecure_registry, file, "insecure-registries")?.iter().map(|r| insecure_registry(r)).collect::<Result<Vec<_>, _>>()?;
    let mirrors = pick_list(&a.registry_mirror, file, "registry-mirrors")?.iter().map(|m| mirror(m)).collect::<Result<Vec<_>, _>>()?;
    let certs_dir = pick(a.certs_dir.clone(), file, "certs-dir")?.unwrap_or_else(|| rootless.as_ref().map(|d| d.config_home.join("berth/certs.d")).unwrap_or_else(|| PathBuf::from("/etc/berth/certs.d")));
    let bridge = pick(a.bridge.clone(), file, "bridge")?.unwrap_or_else(|| "berth0".into());
    let bip_s = pick(a.bip.clone(), file, "bip")?.unwrap_or_else(|| "10.88.0.1/16".into());
    let bip: ipnet::Ipv4Net = bip_s.parse().map_err(|_| format!("invalid bip {bip_s:?}: expected an IPv4 address with a prefix, e.g. 10.88.0.1/16"))?;
    let pools = if !a.default_address_pool.is_empty() {
        a.default_address_pool.iter().map(|p| parse_pool(p)).collect::<Result<Vec<_>, _>>()?
    } else {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Pool {
            base: String,
            size: u8,
        }
        get::<Vec<Pool>>(file, "default-address-pools")?
            .unwrap_or_default()
            .iter()
            .map(|p| parse_pool(&format!("base={},size={}", p.base, p.size)))
            .collect::<Result<Vec<_>, _>>()?
    };
    let mtu = pick(a.mtu, file, "mtu")?;
    if let Some(m) = mtu.filter(|m| !(68..=65535).contains(m)) {
        return Err(format!("invalid default MTU: {m}: must be between 68 and 65535"));
    }
    let init_path = pick(a.init_path.clone(), file, "init-path")?;
    let metrics_addr = match pick::<String>(a.metrics_addr.map(|m| m.to_string()), file, "metrics-addr")? {
        Some(m) => Some(m.parse::<std::net::SocketAddr>().map_err(|_| format!("invalid metrics-addr {m:?}: expected IP:PORT, e.g. 127.0.0.1:9323"))?),
        None => None,
    };
    let mut api_limits = berth_daemon::listen::Limits::default();
    if let Some(n) = pick(a.max_connections, file, "max-connections")? {
        if n == 0 {
            return Err("max-connections must be at least 1".into());
        }
        api_limits.max_connections = n;
    }
    if let Some(t) = pick(a.api_read_timeout, file, "api-read-timeout")? {
        if t == 0 {
            return Err("api-read-timeout must be at least 1 second".into());
        }
        api_limits.read_timeout = std::time::Duration::from_secs(t);
    }
    let log_driver = pick(a.log_driver.clone(), file, "log-driver")?.unwrap_or_else(|| "json-file".into());
    if !LOG_DRIVERS.contains(&log_driver.as_str()) {
        return Err(format!("log driver {log_driver:?} is not supported: berth has {}", LOG_DRIVERS.join(", ")));
    }
    let log_opts = if a.log_opts.is_empty() {
        get::<BTreeMap<String, String>>(file, "log-opts")?.unwrap_or_default()
    } else {
        a.log_opts.iter().map(|o| o.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("invalid log-opt {o:?}: expected KEY=VALUE"))).collect::<Result<_, _>>()?
    };
    check_log_opts(&log_driver, &log_opts)?;
    let ulimits = if a.default_ulimits.is_empty() {
        get::<BTreeMap<String, Ulimit>>(file, "default-ulimits")?.unwrap_or_default().into_values().collect()
    } else {
        a.default_ulimits.iter().map(|u| parse_ulimit(u)).collect::<Result<Vec<_>, _>>()?
    };
    for u in &ulimits {
        check_ulimit(u)?;
    }
    for (name, on) in get::<BTreeMap<String, bool>>(file, "features")?.unwrap_or_default() {
        match (name.as_str(), on) {
            ("buildkit", false) => {}
            ("buildkit", true) => return Err("feature buildkit: berth builds with the classic builder (Builder-Version 1); set it to false or remove it".into()),
            _ => return Err(format!("unknown feature {name:?}: berth knows buildkit")),
        }
    }
    if get::<bool>(file, "live-restore")? == Some(false) {
        return Err("live-restore cannot be false: berth's containers always keep running across daemon restarts (each has its own shim)".into());
    }
    // The default bridge's IPv6 (dockerd's `ipv6` and `fixed-cidr-v6`): Berth has no link-local-only
    // bridge, so `ipv6` needs the subnet.
    let ipv6 = a.ipv6 || get::<bool>(file, "ipv6")?.unwrap_or(false);
    let fixed_cidr_v6 = match pick(a.fixed_cidr_v6.clone(), file, "fixed-cidr-v6")? {
        Some(c) => Some(c.parse::<ipnet::Ipv6Net>().map_err(|_| format!("invalid fixed-cidr-v6 {c:?}: expected an IPv6 subnet, e.g. fd00:db8:1::/64"))?.trunc()),
        None => None,
    };
    if ipv6 && fixed_cidr_v6.is_none() {
        return Err("ipv6 on the default bridge needs fixed-cidr-v6 (berth gives the default bridge no link-local-only IPv6)".into());
    }
    let mut network = NetworkOptions { bridge, bip, mtu, fixed_cidr_v6: fixed_cidr_v6.filter(|_| ipv6), ..Default::default() };
    if !pools.is_empty() {
        network.pools = pools;
    }
    let userns_remap = pick(a.userns_remap.clone(), file, "userns-remap")?.filter(|s: &String| !s.is_empty());
    let settings = LiveSettings { debug, labels, insecure_registries: insecure.clone(), registry_mirrors: mirrors.clone() };
    let api = super::tls::daemon_api_security(a, file)?;
    let config = DaemonConfig {
        data_root,
        hosts,
        registries: RegistryOptions { insecure, mirrors, certs_dir: Some(certs_dir) },
        network,
        init_path,
        metrics_addr,
        api_limits,
        container_defaults: ContainerDefaults {
            log_driver,
            log_opts,
            ulimits,
            userns_remap: None,
            journald_socket: a.journald_socket.clone().unwrap_or_else(|| JOURNALD_SOCKET.into()),
        },
        settings,
        tls: api.tls,
        plain_tcp_allowed: api.plain_tcp_allowed,
        socket_group: api.socket_group,
        userns_remap,
    };
    Ok((config, log_filter))
}

/// The tracing filter for a level (`info`), or directives (`info,berth_daemon=debug`) as given.
/// Checked here so that `--validate` and a reload refuse a bad one.
fn log_filter(level: &str) -> Result<String, String> {
    let level = level.to_ascii_lowercase();
    // logrus's levels above error are errors here.
    let level = if level == "fatal" || level == "panic" { "error".to_string() } else { level };
    // rtnetlink's connection warns when a request's answer arrives after its caller stopped
    // listening (a lookup that took the first match): not something an operator can act on.
    let directives = if level.contains('=') { level.clone() } else { format!("{level},netlink_proto=error") };
    let known = ["error", "warn", "info", "debug", "trace"];
    if !level.contains('=') && !known.contains(&level.as_str()) || tracing_subscriber::EnvFilter::try_new(&directives).is_err() {
        return Err(format!("invalid logging level: {level}: use error, warn, info, debug or trace"));
    }
    Ok(directives)
}

/// Checks `KEY=VALUE` labels and drops exact duplicates; one key with two values is an error, as
/// dockerd's `GetConflictFreeLabels` says.
fn labels(given: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for l in given {
        let (k, v) = l.split_once('=').filter(|(k, _)| !k.is_empty()).ok_or_else(|| format!("bad attribute format: {l}"))?;
        if let Some(prev) = out.iter().find(|o| o.split_once('=').is_some_and(|(pk, _)| pk == k)) {
            if prev != l {
                return Err(format!("conflict labels for {prev} and {k}={v}"));
            }
            continue;
        }
        out.push(l.clone());
    }
    Ok(out)
}

/// An insecure registry as dockerd takes it: `HOST[:PORT]` or a CIDR; an `http://` or `https://`
/// prefix is dropped, another scheme refused.
fn insecure_registry(r: &str) -> Result<String, String> {
    let lower = r.to_ascii_lowercase();
    let bare = if lower.starts_with("http://") {
        &r[7..]
    } else if lower.starts_with("https://") {
        &r[8..]
    } else if r.contains("://") {
        return Err(format!("insecure registry {r} should not contain '://'"));
    } else {
        r
    };
    let bare = bare.trim_end_matches('/');
    if bare.is_empty() || bare.contains('/') && bare.parse::<ipnet::IpNet>().is_err() {
        return Err(format!("invalid insecure registry {r:?}: expected HOST[:PORT] or a CIDR"));
    }
    Ok(bare.to_string())
}

/// A mirror as dockerd's `ValidateMirror` takes it: an http(s) URL without query, fragment or
/// credentials, returned with one trailing slash.
fn mirror(m: &str) -> Result<String, String> {
    let (scheme, rest) = m.split_once("://").ok_or_else(|| format!("invalid mirror: {m:?} is not a valid URI"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("invalid mirror: unsupported scheme {scheme:?} in {m:?}"));
    }
    if rest.contains('?') || rest.contains('#') {
        return Err(format!("invalid mirror: query or fragment at end of the URI {m:?}"));
    }
    if rest.split('/').next().unwrap_or("").contains('@') {
        return Err(format!("invalid mirror: username/password not allowed in URI {m:?}"));
    }
    if rest.trim_end_matches('/').is_empty() {
        return Err(format!("invalid mirror: {m:?} has no host"));
    }
    Ok(format!("{}/", m.trim_end_matches('/')))
}

/// `base=10.89.0.0/16,size=24`.
pub fn parse_pool(s: &str) -> Result<(ipnet::Ipv4Net, u8), String> {
    let mut base = None;
    let mut size = None;
    for f in s.split(',') {
        match f.split_once('=') {
            Some(("base", v)) => base = Some(v.parse::<ipnet::Ipv4Net>().map_err(|_| format!("invalid default-address-pool base {v:?}"))?),
            Some(("size", v)) => size = Some(v.parse::<u8>().map_err(|_| format!("invalid default-address-pool size {v:?}"))?),
            _ => return Err(format!("invalid default-address-pool {s:?}: expected base=CIDR,size=N")),
        }
    }
    let base = base.ok_or_else(|| format!("default-address-pool {s:?} needs base=CIDR"))?;
    let size = size.unwrap_or(24);
    if size < base.prefix_len() || size > 30 {
        return Err(format!("invalid default-address-pool {s:?}: size must be between the base's prefix and 30"));
    }
    Ok((base.trunc(), size))
}

/// The options the log driver takes, with valid values.
fn check_log_opts(driver: &str, opts: &BTreeMap<String, String>) -> Result<(), String> {
    validate_log_opts(driver, opts)?;
    for (k, v) in opts {
        match k.as_str() {
            "max-size" if berth_api::units::parse_ram_bytes(v).is_none_or(|n| n < 0) => return Err(format!("invalid max-size {v:?} for {driver} log driver")),
            "max-file" if v.parse::<u32>().map_or(true, |n| n < 1) => return Err(format!("max-file {v:?}: must be a number of at least 1")),
            _ => {}
        }
    }
    Ok(())
}

/// `nofile=1024:2048` or `nofile=1024` (soft and hard alike).
fn parse_ulimit(s: &str) -> Result<Ulimit, String> {
    let bad = || format!("invalid ulimit argument: {s}");
    let (name, vals) = s.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    Ok(Ulimit { name: name.to_string(), soft: soft.parse().map_err(|_| bad())?, hard: hard.parse().map_err(|_| bad())? })
}

fn check_ulimit(u: &Ulimit) -> Result<(), String> {
    if !ULIMITS.contains(&u.name.as_str()) {
        return Err(format!("invalid ulimit type: {}", u.name));
    }
    if u.soft > u.hard {
        return Err(format!("ulimit soft limit must be less than or equal to hard limit: {} > {}", u.soft, u.hard));
    }
    Ok(())
}

/// The file keys whose values differ between two reads.
pub fn changed_keys(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn file_values_apply_and_defaults_fill_the_rest() {
        let f = file(r#"{"data-root": "/srv/berth", "labels": ["a=1"], "registry-mirrors": ["https://m.example"], "default-address-pools": [{"base": "10.99.0.0/16", "size": 26}], "log-opts": {"max-size": "1m"}, "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 10, "Hard": 20}}}"#);
        check_keys(&f, &DaemonArgs::default()).unwrap();
        let (c, filter) = merge(&DaemonArgs::default(), &f).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/srv/berth"));
        assert_eq!(c.settings.labels, vec!["a=1"]);
        assert_eq!(c.settings.registry_mirrors, vec!["https://m.example/"]);
        assert_eq!(c.network.pools, vec![("10.99.0.0/16".parse().unwrap(), 26)]);
        assert_eq!(c.network.bridge, "berth0");
        assert_eq!(c.container_defaults.log_opts["max-size"], "1m");
        assert_eq!(c.container_defaults.ulimits[0].hard, 20);
        assert!(filter.starts_with("info,"));
    }

    #[test]
    fn unknown_unsupported_and_duplicated_keys_are_refused() {
        let a = DaemonArgs { data_root: Some("/x".into()), hosts: vec!["unix:///a.sock".into()], ..Default::default() };
        let e = check_keys(&file(r#"{"foo": 1}"#), &a).unwrap_err();
        assert_eq!(e, "the following directives don't match any configuration option: foo");
        let e = check_keys(&file(r#"{"iptables": false}"#), &a).unwrap_err();
        assert!(e.contains("not supported by berth: iptables"), "{e}");
        let e = check_keys(&file(r#"{"hosts": ["unix:///b.sock"], "data-root": "/y"}"#), &a).unwrap_err();
        assert_eq!(e, "the following directives are specified both as a flag and in the configuration file: data-root: (from flag: /x, from file: /y), hosts: (from flag: [unix:///a.sock], from file: [unix:///b.sock])");
    }

    #[test]
    fn the_cri_streaming_certificate_and_key_go_together() {
        let a = DaemonArgs { cri_socket: Some("/run/berth/cri.sock".into()), cri_stream_tls_cert: Some("/c.pem".into()), ..Default::default() };
        assert_eq!(cri(&a, &Map::new()).unwrap_err(), "cri-stream-tls-cert and cri-stream-tls-key go together");
        let f = file(r#"{"cri-socket": "/run/berth/cri.sock", "cri-stream-tls-cert": "/c.pem", "cri-stream-tls-key": "/k.pem"}"#);
        let tls = cri(&DaemonArgs::default(), &f).unwrap().unwrap().stream.tls.unwrap();
        assert_eq!((tls.cert, tls.key, tls.client_ca), ("/c.pem".into(), "/k.pem".into(), None));
        let e = cri(&DaemonArgs::default(), &file(r#"{"cri-stream-tls-key": "/k.pem"}"#)).unwrap_err();
        assert!(e.contains("need cri-socket"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |j: &str| merge(&DaemonArgs::default(), &file(j)).unwrap_err();
        assert_eq!(bad(r#"{"debug": "yes"}"#), "invalid value for debug: invalid type: string \"yes\", expected a boolean");
        assert!(bad(r#"{"log-level": "loud"}"#).contains("invalid logging level: loud"));
        assert!(bad(r#"{"labels": ["novalue"]}"#).contains("bad attribute format: novalue"));
        assert!(bad(r#"{"labels": ["a=1", "a=2"]}"#).contains("conflict labels for a=1 and a=2"));
        assert!(bad(r#"{"registry-mirrors": ["ftp://m"]}"#).contains("unsupported scheme"));
        assert!(bad(r#"{"insecure-registries": ["ftp://r"]}"#).contains("should not contain '://'"));
        assert!(bad(r#"{"log-driver": "gelf"}"#).contains("not supported"));
        assert!(bad(r#"{"log-opts": {"nope": "true"}}"#).contains("unknown log opt 'nope' for json-file log driver"));
        assert!(bad(r#"{"default-ulimits": {"nofile": {"Name": "nofile", "Soft": 3, "Hard": 2}}}"#).contains("3 > 2"));
        assert!(bad(r#"{"default-ulimits": {"x": {"Name": "bogus", "Soft": 1, "Hard": 2}}}"#).contains("invalid ulimit type: bogus"));
        assert!(bad(r#"{"features": {"buildkit": true}}"#).contains("classic builder"));
        assert!(bad(r#"{"live-restore": false}"#).contains("live-restore"));
        assert!(bad(r#"{"hosts": ["http://x"]}"#).contains("invalid host"));
        assert!(bad(r#"{"bip": "10.1.0.0"}"#).contains("invalid bip"));
    }

    #[test]
    fn debug_wins_over_the_log_level_and_http_prefixes_are_dropped() {
        let (c, filter) = merge(&DaemonArgs::default(), &file(r#"{"debug": true, "log-level": "warn", "insecure-registries": ["http://reg.lan:5000/", "10.0.0.0/8"]}"#)).unwrap();
        assert!(filter.starts_with("debug,"));
        assert!(c.settings.debug);
        assert_eq!(c.settings.insecure_registries, vec!["reg.lan:5000", "10.0.0.0/8"]);
    }

    #[test]
    fn missing_default_file_is_none_but_missing_explicit_file_is_an_error() {
        let p = Path::new("/nonexistent/berth/daemon.json");
        assert!(read(p, false).unwrap().is_empty());
        assert!(read(p, true).is_err());
    }

    #[test]
    fn changed_keys_lists_additions_removals_and_changes() {
        let old = file(r#"{"debug": false, "labels": ["a=1"], "bip": "10.1.0.1/16"}"#);
        let new = file(r#"{"debug": true, "labels": ["a=1"], "mtu": 1400}"#);
        assert_eq!(changed_keys(&old, &new), vec!["bip", "debug", "mtu"]);
    }
}
