//! `berth volume …`.

use clap::Subcommand;
#[allow(unused_imports)]
use super::*;

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
