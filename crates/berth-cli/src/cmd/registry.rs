//! `berth registry`: the OCI Distribution server.

use crate::cli::RegistryArgs;
use std::process::ExitCode;

/// Runs the registry until SIGTERM or SIGINT.
pub async fn run(_a: RegistryArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the registry server is not part of this build yet")
}
