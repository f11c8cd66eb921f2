//! The command line, as clap types. Verbs and flags follow the docker CLI.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Berth: a container engine that speaks Docker's API.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path or tcp://host:port); also BERTH_HOST.
    #[arg(short = 'H', long = "host", env = "BERTH_HOST", value_name = "HOST")]
    pub host: Option<String>,
    /// Log level for client-side logging.
    #[arg(long = "log-level", default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

/// Every verb.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon.
    Daemon(DaemonArgs),
    /// Run the OCI registry server.
    Registry(RegistryArgs),
    /// Show client and server versions.
    Version(FormatOnly),
    /// Show system-wide information.
    Info(FormatOnly),
    /// Manage Berth.
    #[command(subcommand)]
    System(SystemCmd),
    /// Stream real-time events from the daemon.
    Events(EventsArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCmd),
    /// List images.
    Images(ImagesArgs),
    /// Import a root filesystem tarball as an image.
    Import(ImportArgs),
    /// Save images to a tar archive (streamed to stdout by default).
    Save(SaveArgs),
    /// Load images from a tar archive.
    Load(LoadArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Return low-level information on objects.
    Inspect(InspectArgs),
    /// Create and run a new container from an image.
    #[command(override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Run(RunArgs),
    /// Create a new container.
    #[command(override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Create(RunArgs),
    /// Start one or more stopped containers.
    Start(StartArgs),
    /// Stop one or more running containers.
    Stop(StopArgs),
    /// Restart one or more containers.
    Restart(StopArgs),
    /// Kill one or more running containers.
    Kill(KillArgs),
    /// Remove one or more containers.
    Rm(RmArgs),
    /// List containers.
    Ps(PsArgs),
    /// Fetch the logs of a container.
    Logs(LogsArgs),
    /// Block until one or more containers stop, then print their exit codes.
    Wait(NamesArgs),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Execute a command in a running container.
    #[command(override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(ExecArgs),
    /// Create a new image from a container's changes.
    Commit {
        /// Commit message.
        #[arg(short = 'm', long)]
        message: Option<String>,
        /// Author.
        #[arg(short = 'a', long)]
        author: Option<String>,
        /// Apply Dockerfile instructions to the image.
        #[arg(short = 'c', long = "change")]
        change: Vec<String>,
        /// Container.
        container: String,
        /// Repository and tag.
        reference: Option<String>,
    },
    /// Update the resources or restart policy of containers.
    Update(UpdateArgs),
    /// Export a container's filesystem as a tar archive.
    Export {
        /// Write to a file instead of stdout.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Container.
        container: String,
    },
    /// Inspect changes to files or directories on a container's filesystem.
    Diff {
        /// Container.
        container: String,
    },
    /// Attach local standard input, output, and error streams to a running container.
    Attach {
        /// Do not attach STDIN.
        #[arg(long = "no-stdin")]
        no_stdin: bool,
        /// Container.
        container: String,
    },
    /// Download an image from a registry.
    Pull(PullArgs),
    /// Upload an image to a registry.
    Push(PullArgs),
    /// Log in to a registry.
    Login(LoginArgs),
    /// Log out from a registry.
    Logout {
        /// Registry (default: docker.io).
        server: Option<String>,
    },
    /// Pause all processes within one or more containers.
    Pause(NamesArgs),
    /// Unpause all processes within one or more containers.
    Unpause(NamesArgs),
    /// Rename a container.
    Rename {
        /// Container.
        container: String,
        /// New name.
        new_name: String,
    },
    /// Display the running processes of a container.
    Top {
        /// Container.
        container: String,
    },
    /// Display a live stream of container resource usage statistics.
    Stats(StatsArgs),
    /// Build an image from a Dockerfile.
    Build(BuildArgs),
    /// Manage the build cache.
    #[command(subcommand)]
    Builder(BuilderCmd),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Copy files/folders between a container and the local filesystem.
    Cp(CpArgs),
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// List port mappings or a specific mapping for the container.
    Port {
        /// Container.
        container: String,
        /// PRIVATE_PORT[/PROTO].
        private: Option<String>,
    },
    /// Internal: the per-container shim started by the daemon.
    #[command(hide = true)]
    Shim(ShimArgs),
}

/// `berth cp`.
#[derive(Args, Debug)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output (accepted; berth prints only the summary line).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, or a host path, or - (a tar on stdin).
    pub src: String,
    /// CONTAINER:DEST_PATH, or a host path, or - (a tar on stdout).
    pub dst: String,
}

/// `berth network …`.
#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network.
    Create {
        /// Driver to manage the network.
        #[arg(short = 'd', long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR format.
        #[arg(long)]
        subnet: Vec<String>,
        /// Gateway for the master subnet.
        #[arg(long)]
        gateway: Vec<String>,
        /// Allocate container IPs from a sub-range.
        #[arg(long = "ip-range")]
        ip_range: Vec<String>,
        /// Restrict external access to the network.
        #[arg(long)]
        internal: bool,
        /// Enable manual container attachment.
        #[arg(long)]
        attachable: bool,
        /// Driver options (com.docker.network.bridge.name=…).
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        /// Network labels.
        #[arg(long)]
        label: Vec<String>,
        /// Enable IPv6 (not supported).
        #[arg(long)]
        ipv6: bool,
        /// Network name.
        name: String,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls {
        /// Only display network IDs.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Do not truncate the output.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// Filter output (driver=, name=, id=, label=, type=custom|builtin, dangling=).
        #[arg(short = 'f', long)]
        filter: Vec<String>,
        /// Format output with a Go template.
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on networks.
    Inspect {
        /// Format output with a Go template.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove networks.
    #[command(alias = "remove")]
    Rm {
        /// Do not error if the network does not exist.
        #[arg(short = 'f', long)]
        force: bool,
        /// Networks.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove all unused networks.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short = 'f', long)]
        force: bool,
        /// Filter (until=, label=).
        #[arg(long)]
        filter: Vec<String>,
    },
    /// Connect a container to a network.
    Connect {
        /// Network-scoped alias for the container.
        #[arg(long)]
        alias: Vec<String>,
        /// IPv4 address.
        #[arg(long)]
        ip: Option<String>,
        /// Add link to another container.
        #[arg(long)]
        link: Vec<String>,
        /// Network.
        network: String,
        /// Container.
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        /// Force the container to disconnect.
        #[arg(short = 'f', long)]
        force: bool,
        /// Network.
        network: String,
        /// Container.
        container: String,
    },
}

/// `berth volume …`.
#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume.
    Create {
        /// Volume driver name.
        #[arg(short = 'd', long, default_value = "local")]
        driver: String,
        /// Driver options (type=tmpfs, device=…, o=…).
        #[arg(short = 'o', long = "opt")]
        opt: Vec<String>,
        /// Volume labels.
        #[arg(long)]
        label: Vec<String>,
        /// Volume name (random when omitted).
        #[arg(long = "name", hide = true)]
        name_flag: Option<String>,
        /// Volume name.
        name: Option<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls {
        /// Only display volume names.
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Filter output (dangling=true, name=…, label=…, driver=…).
        #[arg(short = 'f', long)]
        filter: Vec<String>,
        /// Format output with a Go template.
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on volumes.
    Inspect {
        /// Format output with a Go template.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Volumes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes.
    #[command(alias = "remove")]
    Rm {
        /// Do not fail on volumes that do not exist.
        #[arg(short = 'f', long)]
        force: bool,
        /// Volumes.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused local volumes.
    Prune {
        /// Remove all unused volumes, not just anonymous ones.
        #[arg(short = 'a', long)]
        all: bool,
        /// Do not prompt for confirmation.
        #[arg(short = 'f', long)]
        force: bool,
        /// Filter (label=…).
        #[arg(long)]
        filter: Vec<String>,
    },
}

/// `berth container …`.
#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    /// Create and run a new container.
    #[command(override_usage = "berth container run [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Run(RunArgs),
    /// Create a new container.
    #[command(override_usage = "berth container create [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Create(RunArgs),
    /// Start containers.
    Start(StartArgs),
    /// Stop containers.
    Stop(StopArgs),
    /// Restart containers.
    Restart(StopArgs),
    /// Kill containers.
    Kill(KillArgs),
    /// Remove containers.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// List containers.
    #[command(alias = "list", alias = "ps")]
    Ls(PsArgs),
    /// Fetch logs.
    Logs(LogsArgs),
    /// Wait for containers to stop.
    Wait(NamesArgs),
    /// Execute a command in a running container.
    #[command(override_usage = "berth container exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(ExecArgs),
    /// Display detailed information on containers.
    Inspect(ImageInspectArgs),
    /// Remove all stopped containers.
    Prune(PruneArgs),
    /// Copy files/folders between a container and the local filesystem.
    Cp(CpArgs),
}

/// `berth pull` / `berth push`.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Suppress verbose output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Platform (linux/amd64, linux/arm64/v8, …).
    #[arg(long)]
    pub platform: Option<String>,
    /// Download all tagged images in the repository (not supported yet: refused).
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Image reference.
    pub image: String,
}

/// `berth login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin).
    #[arg(short = 'p', long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry (default: docker.io).
    pub server: Option<String>,
}

/// `berth update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Memory limit.
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Memory + swap limit (-1: unlimited).
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares.
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution.
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (-1 for unlimited).
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Restart policy.
    #[arg(long)]
    pub restart: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Disable streaming stats and only pull the first result.
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Containers (default: all running).
    pub containers: Vec<String>,
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
    /// Give extended privileges to the command.
    #[arg(long)]
    pub privileged: bool,
    /// `CONTAINER COMMAND [ARG...]`: flags end at the container, as with Docker (`exec c id -u`).
    #[arg(value_name = "CONTAINER COMMAND", trailing_var_arg = true, allow_hyphen_values = true, num_args = 2.., required = true)]
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

/// `berth builder …`.
#[derive(Subcommand, Debug)]
pub enum BuilderCmd {
    /// Remove the build cache.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short = 'f', long)]
        force: bool,
    },
}

/// `berth build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag (name:tag); repeatable.
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: PATH/Dockerfile).
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Build-time variables (KEY=value, or KEY to take it from the environment).
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Target build stage.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Image labels (KEY=value).
    #[arg(long)]
    pub label: Vec<String>,
    /// Suppress the build output and print the image ID on success.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output style: auto, plain.
    #[arg(long, default_value = "auto")]
    pub progress: String,
    /// Write the image ID to the file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Network mode for RUN instructions.
    #[arg(long)]
    pub network: Option<String>,
    /// Platform.
    #[arg(long)]
    pub platform: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip) for RUN steps.
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Size of /dev/shm for RUN steps (e.g. 128m).
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Always attempt to pull a newer version of the image.
    #[arg(long)]
    pub pull: bool,
    /// Context: a directory, or - to read a tar (or a Dockerfile) from stdin.
    pub context: String,
}

/// `berth shim` (internal).
#[derive(Args, Debug)]
pub struct ShimArgs {
    /// Container id.
    #[arg(long)]
    pub id: String,
    /// Container directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Runtime state root.
    #[arg(long = "state-root")]
    pub state_root: PathBuf,
    /// Run an exec (described in DIR/exec.json) in the running container instead.
    #[arg(long = "exec-dir")]
    pub exec_dir: Option<PathBuf>,
}

/// `berth run` / `berth create`.
#[derive(Args, Debug, Default)]
pub struct RunArgs {
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
    /// Container host name.
    #[arg(long)]
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
    #[arg(value_name = "IMAGE [COMMAND]", trailing_var_arg = true, allow_hyphen_values = true, required = true)]
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

/// `berth start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals.
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach the container's STDIN.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth stop` / `berth restart`.
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Seconds to wait before killing the container.
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<i64>,
    /// Signal to send.
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth kill`.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send.
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes.
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth ps`.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show the last N created containers.
    #[arg(short = 'n', long = "last")]
    pub last: Option<i64>,
    /// Show the latest created container.
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes.
    #[arg(short = 's', long)]
    pub size: bool,
    /// Filter output (status=, name=, label=, ancestor=, exited=).
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template, or `json`.
    #[arg(long)]
    pub format: Option<String>,
}

/// `berth logs`.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end.
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since (timestamp or relative, e.g. 10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before (timestamp or relative).
    #[arg(long)]
    pub until: Option<String>,
    /// Container.
    pub container: String,
}

/// Commands taking container names only.
#[derive(Args, Debug)]
pub struct NamesArgs {
    /// Containers.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth daemon`.
#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Root of persistent state.
    #[arg(long = "data-root", default_value = "/var/lib/berth")]
    pub data_root: PathBuf,
    /// Address(es) to serve the API on: unix:///path or tcp://127.0.0.1:PORT.
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long = "log-level", default_value = "info")]
    pub log_level: String,
    /// Format of the log on stderr (text is plain unless stderr is a terminal).
    #[arg(long = "log-format", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Registry reachable over plain HTTP (HOST:PORT); repeatable. Loopback registries always are.
    #[arg(long = "insecure-registry")]
    pub insecure_registry: Vec<String>,
    /// Mirror for docker.io (URL); repeatable.
    #[arg(long = "registry-mirror")]
    pub registry_mirror: Vec<String>,
    /// Per-registry CAs and client certificates, in Docker's certs.d layout (HOST:PORT/ca.crt, client.cert, client.key).
    #[arg(long = "certs-dir", default_value = "/etc/berth/certs.d")]
    pub certs_dir: PathBuf,
    /// Interface of the default bridge network.
    #[arg(long = "bridge", short = 'b', default_value = "berth0")]
    pub bridge: String,
    /// Address and prefix of the default bridge (its containers' gateway).
    #[arg(long = "bip", default_value = "10.88.0.1/16")]
    pub bip: String,
    /// Pool user-defined networks get subnets from: base=CIDR,size=PREFIXLEN (repeatable).
    #[arg(long = "default-address-pool")]
    pub default_address_pool: Vec<String>,
    /// MTU of the default bridge network.
    #[arg(long = "mtu")]
    pub mtu: Option<u32>,
    /// Path to the static init `--init` runs (default: docker-init or tini-static where installed).
    #[arg(long = "init-path")]
    pub init_path: Option<PathBuf>,
}

/// `--log-format` of the daemon, as dockerd's.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO target: message key=value`.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `message`, fields).
    Json,
}

/// `berth registry`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RegistryArgs {
    /// Config file (YAML, a subset of distribution's config.yml); the flags below override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:5000].
    #[arg(long)]
    pub listen: Option<String>,
    /// Root of the registry's storage [default: /var/lib/berth-registry].
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// TLS certificate (PEM); requires --tls-key.
    #[arg(long = "tls-cert", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); requires --tls-cert.
    #[arg(long = "tls-key", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Authentication: none, htpasswd:FILE, or token:FILE[,realm=URL][,service=NAME][,ttl=SECS] [default: none].
    #[arg(long)]
    pub auth: Option<String>,
    /// Repository pattern anyone may pull without credentials (repeatable, e.g. public/*; replaces the file's list).
    #[arg(long = "anonymous-pull")]
    pub anonymous_pull: Vec<String>,
    /// Refuse every write.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Seconds between online garbage-collection sweeps (0 disables them) [default: 3600].
    #[arg(long = "gc-interval")]
    pub gc_interval: Option<u64>,
    /// Log level [default: info].
    #[arg(long = "log-level")]
    pub log_level: Option<String>,
    /// Maintenance commands.
    #[command(subcommand)]
    pub command: Option<RegistryCmd>,
}

/// `berth registry gc`.
#[derive(Subcommand, Debug)]
pub enum RegistryCmd {
    /// Remove blobs no manifest references (safe while the registry serves).
    Gc {
        /// Root of the registry's storage.
        #[arg(long, default_value = "/var/lib/berth-registry")]
        root: PathBuf,
        /// Only report what would be removed.
        #[arg(long = "dry-run")]
        dry_run: bool,
        /// Keep blobs written in the last SECONDS (protects pushes in flight).
        #[arg(long, default_value_t = 3600)]
        grace: u64,
    },
}

/// Commands that only take `--format`.
#[derive(Args, Debug)]
pub struct FormatOnly {
    /// Format output using a Go template, or `json`.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}

/// `berth system …`.
#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Show disk usage.
    Df(DfArgs),
    /// Remove unused data: stopped containers, unused networks, dangling images, build cache.
    Prune {
        /// Remove all unused images, not just dangling ones.
        #[arg(short = 'a', long)]
        all: bool,
        /// Prune anonymous volumes too.
        #[arg(long)]
        volumes: bool,
        /// Do not prompt for confirmation.
        #[arg(short = 'f', long)]
        force: bool,
        /// Filter (until=, label=).
        #[arg(long = "filter")]
        filter: Vec<String>,
    },
    /// Show system-wide information.
    Info(FormatOnly),
    /// Stream real-time events.
    Events(EventsArgs),
}

/// `berth system df`.
#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a Go template, or `json`.
    #[arg(long)]
    pub format: Option<String>,
}

/// `berth events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show events created since this time (Unix seconds, RFC 3339, or a duration like 10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this time.
    #[arg(long)]
    pub until: Option<String>,
    /// Filter (type=image, event=tag, image=NAME, label=K=V, …).
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template, or `json`.
    #[arg(long)]
    pub format: Option<String>,
}

/// `berth image …`.
#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// List images.
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images.
    Inspect(ImageInspectArgs),
    /// Show the history of an image.
    History(HistoryArgs),
    /// Create a tag.
    Tag(TagArgs),
    /// Remove one or more images.
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Remove unused images.
    Prune(PruneArgs),
    /// Import a root filesystem tarball.
    Import(ImportArgs),
    /// Save images to a tar archive.
    Save(SaveArgs),
    /// Load images from a tar archive.
    Load(LoadArgs),
}

/// `berth images`.
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images).
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output (dangling=true, label=K=V, reference=PATTERN, before=IMAGE, since=IMAGE).
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a Go template, or `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository (optionally with a tag pattern).
    pub repository: Option<String>,
}

/// `berth image inspect`.
#[derive(Args, Debug)]
pub struct ImageInspectArgs {
    /// Format output using a Go template, or `json`.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a Go template, or `json`.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
    /// Only this type of object (image, container).
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Display total file sizes (containers).
    #[arg(short = 's', long)]
    pub size: bool,
    /// Names or ids.
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `berth history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long = "human", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output using a Go template, or `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Image.
    pub image: String,
}

/// `berth tag`.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// Source image.
    pub source: String,
    /// Target reference.
    pub target: String,
}

/// `berth rmi`.
#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents.
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth image prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Filter (until=, label=).
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// `berth import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instructions to the image (CMD, ENV, WORKDIR, …).
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Platform (linux/ARCH).
    #[arg(long)]
    pub platform: Option<String>,
    /// A file, an http(s) URL, or - for stdin.
    pub source: String,
    /// Repository and tag for the new image.
    pub reference: Option<String>,
}

/// `berth save`.
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `berth load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from a tar archive file instead of stdin.
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `[first, rest...]` → `(first, rest)`: the image or container of `run`/`exec`, then its command.
fn split_first(words: Vec<String>) -> (String, Vec<String>) {
    let mut words = words.into_iter();
    (words.next().unwrap_or_default(), words.collect())
}
