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
}

/// `berth registry`.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RegistryArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    pub listen: String,
    /// Root of the registry's storage.
    #[arg(long, default_value = "/var/lib/berth-registry")]
    pub root: PathBuf,
    /// TLS certificate (PEM); requires --tls-key.
    #[arg(long = "tls-cert", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); requires --tls-cert.
    #[arg(long = "tls-key", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Authentication: none, htpasswd:FILE, or token:FILE[,realm=URL][,service=NAME][,ttl=SECS].
    #[arg(long, default_value = "none")]
    pub auth: String,
    /// Repository pattern anyone may pull without credentials (repeatable, e.g. public/*).
    #[arg(long = "anonymous-pull")]
    pub anonymous_pull: Vec<String>,
    /// Refuse every write.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Seconds between online garbage-collection sweeps (0 disables them).
    #[arg(long = "gc-interval", default_value_t = 3600)]
    pub gc_interval: u64,
    /// Log level.
    #[arg(long = "log-level", default_value = "info")]
    pub log_level: String,
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
