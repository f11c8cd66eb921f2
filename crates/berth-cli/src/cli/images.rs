//! Image verbs, builds, and registry access (pull, push, login).

use clap::{Args, Subcommand};
use std::path::PathBuf;
#[allow(unused_imports)]
use super::*;

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

/// `berth search`.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (stars=N, is-official=true|false).
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template.
    #[arg(long)]
    pub format: Option<String>,
    /// Max number of search results.
    #[arg(long)]
    pub limit: Option<i64>,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// The term: `HOST/TERM` searches the registry at HOST.
    pub term: String,
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

/// `berth builder …`.
#[derive(Subcommand, Debug)]
pub enum BuilderCmd {
    /// Remove build cache.
    Prune {
        /// Remove all unused build cache, not just dangling ones.
        #[arg(short = 'a', long)]
        all: bool,
        /// Provide filter values (e.g. `until=24h`, `label=k=v`).
        #[arg(long)]
        filter: Vec<String>,
        /// Amount of disk space to keep for cache (e.g. `512MB`).
        #[arg(long = "keep-storage")]
        keep_storage: Option<String>,
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
