//! `version`, `info` and `system df`.

use crate::settings::LiveSettings;
use crate::DaemonError;
use berth_api::version::{API_VERSION, MIN_API_VERSION};
use berth_image::ImageStore;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The Berth release.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Facts about this daemon and host.
pub struct SystemService {
    root: PathBuf,
    id: String,
    store: Arc<ImageStore>,
    /// Debug, labels and registries, replaced on reload.
    settings: std::sync::RwLock<LiveSettings>,
    /// The default log driver of new containers.
    log_driver: String,
    /// Containers run remapped (`--userns-remap`).
    remapped: bool,
}

impl SystemService {
    /// Reads (or creates) the daemon's stable id under `root`.
    pub fn new(root: &Path, store: Arc<ImageStore>, settings: LiveSettings, log_driver: String, remapped: bool) -> Result<SystemService, DaemonError> {
        let path = root.join("engine-id");
        let id = match std::fs::read_to_string(&path) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                let id = berth_types::random_id();
                berth_types::persist::atomic_write(&path, id.as_bytes())
                    .map_err(|source| DaemonError::Io { op: "write", path: path.clone(), source })?;
                id
            }
        };
        Ok(SystemService { root: root.to_path_buf(), id, store, settings: std::sync::RwLock::new(settings), log_driver, remapped })
    }

    /// The engine's stable id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Takes on reloaded settings (shown by `info`).
    pub fn set_settings(&self, s: LiveSettings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// Fills the metrics that describe the engine and its host (`engine_daemon_engine_info`, cpus, memory).
    pub fn record_engine_info(&self) {
        let m = crate::metrics::get();
        let (mem, cpus) = host_resources();
        let os = os_pretty_name();
        let labels = [VERSION, option_env!("BERTH_GIT_COMMIT").unwrap_or(""), berth_image::host_architecture(), "overlay2", &kernel_version(), &os, "linux", &self.id];
        m.engine_info.with_label_values(&labels).set(1.0);
        m.cpus.set(cpus as i64);
        m.memory.set(mem as f64);
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `GET /version`.
    pub fn version(&self) -> Value {
        let kernel = kernel_version();
        let arch = berth_image::host_architecture();
        json!({
            "Platform": {"Name": "Berth"},
            "Components": [{
                "Name": "Engine", "Version": VERSION,
                "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Arch": arch,
                            "Os": "linux", "KernelVersion": kernel, "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or(""),
                            "GoVersion": rustc_version(), "BuildTime": "", "Experimental": "false"}
            }],
            "Version": VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": option_env!("BERTH_GIT_COMMIT").unwrap_or(""),
            "GoVersion": rustc_version(),
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": kernel,
            "BuildTime": "",
        })
    }

    /// `GET /info`.
    /// `counts` are (all, running, paused, stopped) containers.
    pub fn info(&self, event_listeners: usize, counts: (usize, usize, usize, usize)) -> Value {
        let uts = nix::sys::utsname::uname().ok();
        let hostname = uts.as_ref().map(|u| u.nodename().to_string_lossy().into_owned()).unwrap_or_default();
        let machine = uts.as_ref().map(|u| u.machine().to_string_lossy().into_owned()).unwrap_or_default();
        let (mem_total, ncpu) = host_resources();
        let cgroup_version = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "2" } else { "1" };
        let os = os_pretty_name();
        let settings = self.settings.read().unwrap_or_else(|p| p.into_inner()).clone();
        json!({
            "ID": self.id,
            "Containers": counts.0, "ContainersRunning": counts.1, "ContainersPaused": counts.2, "ContainersStopped": counts.3,
            "Images": self.store.list().len(),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null,
                        "Log": ["journald", "json-file", "local", "syslog"]},
            "MemoryLimit": true, "SwapLimit": true, "KernelMemoryTCP": crate::service::containers::kernel_memory_tcp(),
            "CpuCfsPeriod": true, "CpuCfsQuota": true, "CPUShares": true, "CPUSet": true, "PidsLimit": true,
            "OomKillDisable": cgroup_version == "1", "IPv4Forwarding": true, "BridgeNfIptables": false,
            "BridgeNfIp6tables": false, "Debug": settings.debug,
            "NFd": count_fds(), "NGoroutines": 0,
            "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "LoggingDriver": self.log_driver, "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version,
            "NEventsListener": event_listeners,
            "KernelVersion": kernel_version(),
            "OperatingSystem": os, "OSVersion": "", "OSType": "linux", "Architecture": machine,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": registry_config(&settings),
            "NCPU": ncpu, "MemTotal": mem_total,
            "GenericResources": null,
            "DockerRootDir": self.root.display().to_string(),
            "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
            "Name": hostname, "Labels": settings.labels, "ExperimentalBuild": false,
            "ServerVersion": VERSION,
            "Runtimes": {"berth": {"path": "berth shim"}}, "DefaultRuntime": "berth",
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false,
                      "Error": "", "RemoteManagers": null},
            "LiveRestoreEnabled": true, "Isolation": "", "InitBinary": "",
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
            // dockerd's order: seccomp, userns (when remapping), cgroupns.
            "SecurityOptions": if self.remapped {
                json!(["name=seccomp,profile=builtin", "name=userns", "name=cgroupns"])
            } else if crate::rootless::active() {
                // dockerd's list when rootless: seccomp, rootless, cgroupns.
                json!(["name=seccomp,profile=builtin", "name=rootless", "name=cgroupns"])
            } else {
                json!(["name=seccomp,profile=builtin", "name=cgroupns"])
            },
            "DefaultAddressPools": null, "Warnings": null,
        })
    }
}

/// `RegistryConfig` as dockerd reports it: CIDRs among the insecure registries (plus loopback),
/// one index config per named insecure registry and for docker.io (with its mirrors).
fn registry_config(s: &LiveSettings) -> Value {
    let (cidrs, names): (Vec<&String>, Vec<&String>) = s.insecure_registries.iter().partition(|r| r.parse::<ipnet::IpNet>().is_ok());
    let mut cidrs: Vec<String> = cidrs.into_iter().cloned().collect();
    cidrs.extend(["::1/128".to_string(), "127.0.0.0/8".to_string()]);
    let mut index = serde_json::Map::new();
    for n in names {
        index.insert(n.clone(), json!({"Name": n, "Mirrors": [], "Secure": false, "Official": false}));
    }
    index.insert("docker.io".into(), json!({"Name": "docker.io", "Mirrors": s.registry_mirrors, "Secure": true, "Official": true}));
    json!({"AllowNondistributableArtifactsCIDRs": null, "AllowNondistributableArtifactsHostnames": null,
           "InsecureRegistryCIDRs": cidrs, "IndexConfigs": index, "Mirrors": s.registry_mirrors})
}

fn kernel_version() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

fn rustc_version() -> &'static str {
    "rust"
}

fn os_pretty_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        })
        .unwrap_or_else(|| "Linux".into())
}

fn host_resources() -> (u64, usize) {
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok()))
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0);
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (mem, cpus)
}

fn count_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}
