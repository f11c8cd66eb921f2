//! `berth context …`: the docker CLI's context verbs over its own store.

use clap::{Args, Subcommand};

/// `berth context …`.
#[derive(Subcommand, Debug)]
pub enum ContextCmd {
    /// Create a context.
    Create(ContextCreateArgs),
    /// List contexts.
    #[command(visible_alias = "list")]
    Ls(ContextLsArgs),
    /// Set the current context.
    Use {
        /// Context.
        name: String,
    },
    /// Display detailed information on one or more contexts.
    Inspect {
        /// Format output using a Go template, or `json`.
        #[arg(short = 'f', long)]
        format: Option<String>,
        /// Contexts (default: the current one).
        names: Vec<String>,
    },
    /// Remove one or more contexts.
    #[command(visible_alias = "remove")]
    Rm {
        /// Force the removal of a context in use.
        #[arg(short = 'f', long)]
        force: bool,
        /// Contexts.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Update a context.
    Update(ContextUpdateArgs),
    /// Print the name of the current context.
    Show,
}

/// `berth context create`.
#[derive(Args, Debug)]
pub struct ContextCreateArgs {
    /// Description of the context.
    #[arg(long)]
    pub description: Option<String>,
    /// The daemon endpoint: `host=unix:///path|tcp://HOST:PORT|ssh://[USER@]HOST[:PORT]`.
    #[arg(long, value_name = "stringToString")]
    pub docker: Option<String>,
    /// Create the context from an existing one.
    #[arg(long)]
    pub from: Option<String>,
    /// Context.
    pub name: String,
}

/// `berth context update`.
#[derive(Args, Debug)]
pub struct ContextUpdateArgs {
    /// Description of the context.
    #[arg(long)]
    pub description: Option<String>,
    /// The daemon endpoint: `host=…`.
    #[arg(long, value_name = "stringToString")]
    pub docker: Option<String>,
    /// Context.
    pub name: String,
}

/// `berth context ls`.
#[derive(Args, Debug)]
pub struct ContextLsArgs {
    /// Format output using a Go template, `table` or `json`.
    #[arg(long)]
    pub format: Option<String>,
    /// Only show context names.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `berth rootless …`.
#[derive(Subcommand, Debug)]
pub enum RootlessCmd {
    /// Check what a rootless daemon needs (subordinate ids, newuidmap, pasta) and prepare this
    /// user's directories and the `rootless` context; run once, as the user.
    Setup {
        /// Also write the systemd user unit `~/.config/systemd/user/berth.service` (Delegate=yes),
        /// as rootless Docker's setup tool installs `docker.service`.
        #[arg(long)]
        install_unit: bool,
    },
}
