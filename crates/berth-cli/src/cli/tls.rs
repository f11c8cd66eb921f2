//! The client's TLS flags, the docker CLI's: `--tls`, `--tlsverify`, `--tlscacert`, `--tlscert`,
//! `--tlskey` (defaults from `DOCKER_TLS_VERIFY` / `DOCKER_CERT_PATH`, or their `BERTH_` forms).

use clap::Args;
use std::path::PathBuf;

/// TLS to a `tcp://` daemon.
#[derive(Args, Debug, Clone, Default)]
pub struct TlsFlags {
    /// Use TLS; implied by --tlsverify.
    #[arg(long = "tls")]
    pub tls: bool,
    /// Use TLS and verify the daemon's certificate (default: on when DOCKER_TLS_VERIFY or BERTH_TLS_VERIFY is set).
    #[arg(long = "tlsverify", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub tlsverify: Option<bool>,
    /// Trust certs signed only by this CA [default: $DOCKER_CERT_PATH/ca.pem, ~/.docker/ca.pem].
    #[arg(long = "tlscacert", value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// Path to TLS certificate file [default: $DOCKER_CERT_PATH/cert.pem, ~/.docker/cert.pem].
    #[arg(long = "tlscert", value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// Path to TLS key file [default: $DOCKER_CERT_PATH/key.pem, ~/.docker/key.pem].
    #[arg(long = "tlskey", value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
}
