//! `berth completion` and `berth man`: shell completion scripts and man pages generated from the
//! same clap definition the parser uses, so they cannot drift from the real flags. They are
//! commands rather than a build script so that an install step (or a package build) writes them
//! with the binary it installs, and a user can regenerate them for the version they run.

use crate::cli::CompletionShell;
use std::path::Path;
use std::process::ExitCode;

/// Writes the completion script for `shell` to stdout.
pub fn completion(shell: CompletionShell) -> anyhow::Result<ExitCode> {
    use clap_complete::Shell;
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    // clap_complete's bash script offers hidden subcommands too: leave the internal ones out.
    let full = crate::cli::command();
    let mut cmd = clap::Command::new("berth")
        .disable_help_subcommand(true)
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    clap_complete::generate(shell, &mut cmd, "berth", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Writes `berth.1` and one page per visible subcommand (`berth-run.1`, `berth-container-run.1`,
/// …) into `dir`, creating it.
pub fn man(dir: &Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    clap_mangen::generate_to(crate::cli::command(), dir).map_err(|e| anyhow::anyhow!("writing man pages to {}: {e}", dir.display()))?;
    Ok(ExitCode::SUCCESS)
}
