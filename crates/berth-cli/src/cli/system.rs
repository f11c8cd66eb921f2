//! `berth system …`, `events`, and the commands that only take `--format`.

use clap::{Args, Subcommand};
use std::path::PathBuf;
#[allow(unused_imports)]
use super::*;

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
    /// Check the stores and look for leftovers; optionally repair (Berth's `POST /system/check`).
    Check {
        /// Check blob sizes instead of digests.
        #[arg(long)]
        quick: bool,
        /// Remove damaged and orphaned items.
        #[arg(long)]
        repair: bool,
        /// With --repair: also what running containers use.
        #[arg(long, requires = "repair")]
        force: bool,
        /// `table` (default) or `json`.
        #[arg(long)]
        format: Option<String>,
    },
    /// Show system-wide information.
    Info(FormatOnly),
    /// Proxy stdin and stdout to the daemon's socket (the far end of `ssh://` hosts).
    #[command(name = "dial-stdio")]
    DialStdio,
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

/// Commands that only take `--format`.
#[derive(Args, Debug)]
pub struct FormatOnly {
    /// Format output using a Go template, or `json`.
    #[arg(short = 'f', long = "format")]
    pub format: Option<String>,
}

/// `berth completion`.
#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells `berth completion` writes scripts for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionShell {
    /// bash (with the bash-completion package).
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

/// `berth man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Directory to write the pages to (berth.1, berth-run.1, berth-container-run.1, …).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}
