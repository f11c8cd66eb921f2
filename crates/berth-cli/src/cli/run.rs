//! `berth run`/`create` and `exec`: flags up to the image (or container), then its command.

use super::run_values;
use clap::Args;
use std::path::PathBuf;
#[allow(unused_imports)]
use super::*;

/// `berth run` / `berth create`.
#[derive(Args, Debug, Default)]
pub struct RunArgs {
    /// Print usage.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Attach to STDIN, STDOUT or STDERR (repeatable; default: STDOUT and STDERR, and STDIN with -i).
    #[arg(short = 'a', long = "attach", value_name = "STREAM", value_parser = ["stdin", "stdout", "stderr"], ignore_case = true, conflicts_with = "detach")]
    pub attach: Vec<String>,
    /// Write the container ID to the file (which must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
    /// Override the key sequence for detaching a container (e.g. ctrl-a,a).
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Skip image verification: always true, Berth does not verify signatures (false is refused).
    #[arg(long = "disable-content-trust", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub disable_content_trust: bool,
    /// Read in a file of environment variables (KEY=value or KEY lines, # comments).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Read in a line delimited file of labels.
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
    /// Pull image before running.
    #[arg(long, value_enum, default_value = "missing")]
    pub pull: PullPolicy,
    /// Set platform if server is multi-platform capable (os/arch[/variant]).
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress the pull output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Proxy received signals to the container's process (without a TTY).
    #[arg(long = "sig-proxy", value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Run in the background and print the container ID.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Container name.
    #[arg(long)]
    pub name: Option<String>,
    /// Environment variables (KEY=value or KEY to copy from the client's environment).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name (`-h`, as docker's; help is `--help`).
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Labels (KEY=value).
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Connect to a network: bridge (default), host, none, container:<name|id>, or a network name.
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Network-scoped alias for the container.
    #[arg(long = "network-alias", alias = "net-alias")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g. 172.30.100.104) on a user-defined network.
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// IPv6 address (e.g. 2001:db8::33) on a user-defined dual-stack network.
    #[arg(long = "ip6")]
    pub ip6: Option<String>,
    /// Container IPv4/IPv6 link-local addresses.
    #[arg(long = "link-local-ip")]
    pub link_local_ip: Vec<String>,
    /// Container MAC address (e.g. 92:d0:c6:0a:29:33).
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Publish a container's port(s) to the host ([IP:][HOSTPORT:]CONTAINERPORT[/PROTO]).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes.
    #[arg(long)]
    pub init: bool,
    /// Publish all exposed ports to random ports.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports.
    #[arg(long = "expose")]
    pub expose: Vec<String>,
    /// Add link to another container (NAME[:ALIAS]).
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// Container NIS domain name.
    #[arg(long = "domainname")]
    pub domainname: Option<String>,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Add additional groups to join.
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security options (no-new-privileges, seccomp=unconfined|PROFILE.json).
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Mount the root filesystem read-only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Mount a tmpfs (PATH[:OPTIONS]).
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Ulimit options (nofile=1024:2048).
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Namespaced kernel parameters (KEY=value).
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Add an annotation to the container's OCI spec (KEY=VALUE).
    #[arg(long)]
    pub annotation: Vec<String>,
    /// Add a host device to the container (HOST[:CONTAINER][:PERMISSIONS]).
    #[arg(long)]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list ('TYPE MAJOR:MINOR ACCESS').
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// Optional volume driver for the container.
    #[arg(long = "volume-driver")]
    pub volume_driver: Option<String>,
    /// Size of /dev/shm (e.g. 64m).
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// PID namespace (host or container:<id>).
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode (host, private, shareable, container:<id>).
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace (host).
    #[arg(long)]
    pub uts: Option<String>,
    /// User namespace (host: opt out of the daemon's --userns-remap).
    #[arg(long)]
    pub userns: Option<String>,
    /// Memory limit (e.g. 64m).
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory + swap limit; -1 for unlimited swap.
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPU CFS quota (microseconds).
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period (microseconds).
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes in which to allow execution.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Disable the OOM killer.
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune the host's OOM preferences (-1000 to 1000).
    #[arg(long = "oom-score-adj", value_name = "INT", allow_negative_numbers = true)]
    pub oom_score_adj: Option<i64>,
    /// Tune the container's memory swappiness (0 to 100; -1: the host's).
    #[arg(long = "memory-swappiness", value_name = "INT", allow_negative_numbers = true)]
    pub memory_swappiness: Option<i64>,
    /// Optional parent cgroup for the container.
    #[arg(long = "cgroup-parent", value_name = "PATH")]
    pub cgroup_parent: Option<String>,
    /// Cgroup namespace to use (host|private): 'host' runs the container in the host's cgroup
    /// namespace, 'private' in its own (default: host on cgroup v1, private on v2).
    #[arg(long = "cgroupns", value_name = "MODE")]
    pub cgroupns: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable.
    #[arg(long = "blkio-weight", value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
    /// Block IO weight (relative device weight), DEVICE:WEIGHT.
    #[arg(long = "blkio-weight-device", value_name = "DEVICE:WEIGHT", value_parser = run_values::weight_device)]
    pub blkio_weight_device: Vec<run_values::WeightDevice>,
    /// Limit read rate (bytes per second) from a device, DEVICE:RATE[kb|mb|gb].
    #[arg(long = "device-read-bps", value_name = "DEVICE:RATE", value_parser = run_values::throttle_bps)]
    pub device_read_bps: Vec<run_values::ThrottleDevice>,
    /// Limit write rate (bytes per second) to a device, DEVICE:RATE[kb|mb|gb].
    #[arg(long = "device-write-bps", value_name = "DEVICE:RATE", value_parser = run_values::throttle_bps)]
    pub device_write_bps: Vec<run_values::ThrottleDevice>,
    /// Limit read rate (IO per second) from a device, DEVICE:RATE.
    #[arg(long = "device-read-iops", value_name = "DEVICE:RATE", value_parser = run_values::throttle_iops)]
    pub device_read_iops: Vec<run_values::ThrottleDevice>,
    /// Limit write rate (IO per second) to a device, DEVICE:RATE.
    #[arg(long = "device-write-iops", value_name = "DEVICE:RATE", value_parser = run_values::throttle_iops)]
    pub device_write_iops: Vec<run_values::ThrottleDevice>,
    /// Limit CPU real-time period in microseconds.
    #[arg(long = "cpu-rt-period", value_name = "INT", allow_negative_numbers = true)]
    pub cpu_rt_period: Option<i64>,
    /// Limit CPU real-time runtime in microseconds.
    #[arg(long = "cpu-rt-runtime", value_name = "INT", allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// Runtime to use for this container (runc, io.containerd.runc.v2 or berth: all the built-in one).
    #[arg(long = "runtime", value_name = "NAME")]
    pub runtime: Option<String>,
    /// Storage driver options for the container (KEY=VALUE).
    #[arg(long = "storage-opt", value_name = "KEY=VALUE")]
    pub storage_opt: Vec<String>,
    /// GPU devices to add to the container ('all' to pass all GPUs; count=N,driver=…,capabilities=…).
    #[arg(long = "gpus", value_name = "GPU-REQUEST", value_parser = run_values::gpus)]
    pub gpus: Vec<run_values::GpuRequest>,
    /// Restart policy (no, always, unless-stopped, on-failure[:N]).
    #[arg(long)]
    pub restart: Option<String>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Seconds to wait before killing the container on stop.
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Bind mount a volume (NAME:/path, /host:/path[:ro], or /path for an anonymous volume).
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount (type=bind|volume|tmpfs,source=…,target=…,readonly,…).
    #[arg(long = "mount")]
    pub mount: Vec<String>,
    /// Mount volumes from the specified containers (NAME[:ro|rw]).
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Command to run to check health.
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (e.g. 30s, 500ms).
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run.
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries.
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period.
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Logging driver (json-file).
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options (max-size=10m, max-file=3).
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip).
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Custom DNS servers.
    #[arg(long)]
    pub dns: Vec<String>,
    /// Custom DNS search domains.
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// DNS options.
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// `IMAGE [COMMAND] [ARG...]`: flags end at the image, as with Docker (`run img id -u`).
    /// Docker's parse: flags before the image are checked (an unknown one is an error), every word
    /// after it goes to the container untouched.
    #[arg(value_name = "IMAGE [COMMAND] [ARG...]", trailing_var_arg = true, required = true)]
    pub positional: Vec<String>,
    /// Image (from `positional`, see [`RunArgs::resolved`]).
    #[arg(skip)]
    pub image: String,
    /// Command and arguments (from `positional`).
    #[arg(skip)]
    pub command: Vec<String>,
}

impl RunArgs {
    /// Splits the positional words into the image and its command.
    pub fn resolved(mut self) -> Self {
        (self.image, self.command) = split_first(std::mem::take(&mut self.positional));
        self
    }
}

/// `--pull` of `run`/`create`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull even if the image is present.
    Always,
    /// Pull only if the image is not present.
    #[default]
    Missing,
    /// Never pull: a missing image is an error.
    Never,
}

/// `berth exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep STDIN open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Environment variables.
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long)]
    pub workdir: Option<String>,
    /// Username or UID.
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Read in a file of environment variables (as `run --env-file`).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Override the key sequence for detaching (e.g. ctrl-a,a).
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    /// `CONTAINER COMMAND [ARG...]`: flags end at the container, as with Docker (`exec c id -u`).
    #[arg(value_name = "CONTAINER COMMAND", trailing_var_arg = true, num_args = 2.., required = true)]
    pub positional: Vec<String>,
    /// Container (from `positional`, see [`ExecArgs::resolved`]).
    #[arg(skip)]
    pub container: String,
    /// Command and arguments (from `positional`).
    #[arg(skip)]
    pub command: Vec<String>,
}

impl ExecArgs {
    /// Splits the positional words into the container and its command.
    pub fn resolved(mut self) -> Self {
        (self.container, self.command) = split_first(std::mem::take(&mut self.positional));
        self
    }
}
