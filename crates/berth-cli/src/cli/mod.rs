//! The command line, as clap types. Verbs and flags follow the docker CLI; one module per group of
//! verbs. [`command`] is the one definition the parser, `--help`, completions and man pages share.

mod containers;
mod context;
mod help;
mod images;
mod network;
pub mod parse_error;
mod run;
pub mod run_values;
mod registry_args;
mod servers;
mod system;
mod tls;
mod volume;

pub use containers::*;
pub use context::*;
pub use images::*;
pub use network::*;
pub use run::*;
pub use registry_args::*;
pub use servers::*;
pub use system::*;
pub use tls::*;
pub use volume::*;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The command line: [`Cli`]'s definition with the root help grouped as docker's. The parser,
/// completions and man pages all come from it.
/// The command line of a server (`berth daemon …`, `berth registry …`), parsed without building the
/// client's command tree: clap builds every verb's arguments before it parses, which touches some
/// megabytes of code that would then stay resident for the daemon's life. `None` when the first
/// argument is not a server's name (client flags before it take the full parse, as does anything else).
pub fn parse_server(argv: &[String]) -> Option<Result<Cli, clap::Error>> {
    use clap::{Args, FromArgMatches};
    let name = argv.get(1)?.as_str();
    let sub = match name {
        "daemon" => DaemonArgs::augment_args(clap::Command::new("daemon")).about("Run the daemon"),
        "registry" => RegistryArgs::augment_args(clap::Command::new("registry")).about("Run the OCI registry server"),
        _ => return None,
    };
    let root = clap::Command::new("berth").version(env!("CARGO_PKG_VERSION")).disable_help_subcommand(true).subcommand(sub);
    let parsed = root.try_get_matches_from(argv).and_then(|m| {
        let (_, sub) = m.subcommand().expect("the only subcommand was named");
        let command = match name {
            "daemon" => Command::Daemon(DaemonArgs::from_arg_matches(sub)?),
            _ => Command::Registry(RegistryArgs::from_arg_matches(sub)?),
        };
        Ok(Cli { host: None, context: None, tls: TlsFlags::default(), log_level: "warn".into(), command })
    });
    Some(parsed)
}

pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let template = help::template(&cmd);
    cmd.help_template(template)
}

/// Berth: a container engine that speaks Docker's API.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about = "A container engine that speaks Docker's API", disable_help_subcommand = true, arg_required_else_help = true)]
pub struct Cli {
    /// Daemon to connect to (unix:///path, tcp://HOST[:PORT] or ssh://[USER@]HOST[:PORT]); also BERTH_HOST, then DOCKER_HOST.
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub host: Option<String>,
    /// Name of the context to use (overrides BERTH_HOST/DOCKER_HOST, BERTH_CONTEXT/DOCKER_CONTEXT and `berth context use`).
    #[arg(short = 'c', long = "context", value_name = "NAME")]
    pub context: Option<String>,
    /// TLS to a tcp:// daemon.
    #[command(flatten)]
    pub tls: TlsFlags,
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
    #[command(subcommand, arg_required_else_help = true)]
    System(SystemCmd),
    /// Stream real-time events from the daemon.
    Events(EventsArgs),
    /// Manage images.
    #[command(subcommand, arg_required_else_help = true)]
    Image(ImageCmd),
    /// Manage contexts.
    #[command(subcommand, arg_required_else_help = true)]
    Context(ContextCmd),
    /// Set up rootless Berth (a daemon run by an ordinary user).
    #[command(subcommand, arg_required_else_help = true)]
    Rootless(RootlessCmd),
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
    /// Search a registry for images (`HOST/TERM`; Docker Hub without a host).
    Search(SearchArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE.
    Tag(TagArgs),
    /// Remove one or more images.
    Rmi(RmiArgs),
    /// Return low-level information on objects.
    Inspect(InspectArgs),
    /// Create and run a new container from an image.
    #[command(override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]", disable_help_flag = true)]
    Run(RunArgs),
    /// Create a new container.
    #[command(override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]", disable_help_flag = true)]
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
    #[command(subcommand, arg_required_else_help = true)]
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
    Attach(AttachArgs),
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
    #[command(subcommand, arg_required_else_help = true)]
    Builder(BuilderCmd),
    /// Manage volumes.
    #[command(subcommand, arg_required_else_help = true)]
    Volume(VolumeCmd),
    /// Copy files/folders between a container and the local filesystem.
    Cp(CpArgs),
    /// Manage networks.
    #[command(subcommand, arg_required_else_help = true)]
    Network(NetworkCmd),
    /// List port mappings or a specific mapping for the container.
    Port {
        /// Container.
        container: String,
        /// PRIVATE_PORT[/PROTO].
        private: Option<String>,
    },
    /// Print the shell completion script for bash, zsh or fish.
    Completion(CompletionArgs),
    /// Write man pages generated from this command line.
    Man(ManArgs),
    /// Internal: the per-container shim started by the daemon.
    #[command(hide = true)]
    Shim(ShimArgs),
}

/// `[first, rest...]` → `(first, rest)`: the image or container of `run`/`exec`, then its command.
pub(crate) fn split_first(words: Vec<String>) -> (String, Vec<String>) {
    let mut words = words.into_iter();
    (words.next().unwrap_or_default(), words.collect())
}

#[cfg(test)]
mod server_parse_tests {
    use super::*;
    use clap::FromArgMatches;

    fn argv(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn servers_parse_as_the_full_command_line_does() {
        for a in [
            argv(&["berth", "daemon", "--data-root", "/x", "-H", "unix:///s", "-H", "tcp://127.0.0.1:1", "--bridge", "b0", "--log-level", "debug"]),
            argv(&["berth", "daemon"]),
            argv(&["berth", "registry", "--listen", "127.0.0.1:5000", "--root", "/r"]),
            argv(&["berth", "registry", "gc", "--help"]),
        ] {
            let fast = parse_server(&a).expect("a server command line").map(|c| format!("{c:?}")).map_err(|e| (e.kind(), e.to_string()));
            let full = command().try_get_matches_from(&a).and_then(|m| Cli::from_arg_matches(&m)).map(|c| format!("{c:?}")).map_err(|e| (e.kind(), e.to_string()));
            assert_eq!(fast, full, "{a:?}");
        }
        // Errors are clap's, reported the same way.
        let e = parse_server(&argv(&["berth", "daemon", "--bogus"])).unwrap().unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
        // Client flags first, or a client verb: the full parse.
        assert!(parse_server(&argv(&["berth", "-H", "unix:///s", "daemon"])).is_none());
        assert!(parse_server(&argv(&["berth", "ps"])).is_none());
        assert!(parse_server(&argv(&["berth"])).is_none());
    }
}
