//! `berth registry`'s flags and maintenance subcommands, shared by `berth` and the `berth-registry`
//! executable (which includes this file on its own, without the rest of the CLI).

use clap::{Args, Subcommand};
use std::path::PathBuf;

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
    /// Serve Prometheus metrics at http://ADDR/metrics (distribution's debug address).
    #[arg(long = "debug-addr", value_name = "ADDR")]
    pub debug_addr: Option<std::net::SocketAddr>,
    /// Serve as a pull-through cache of this registry (http(s)://host[:port]); pushes are refused.
    #[arg(long = "proxy-remote-url", value_name = "URL")]
    pub proxy_remote_url: Option<String>,
    /// User name for the upstream of --proxy-remote-url.
    #[arg(long = "proxy-username")]
    pub proxy_username: Option<String>,
    /// Password for the upstream (prefer the config file's proxy.password: flags show in ps).
    #[arg(long = "proxy-password")]
    pub proxy_password: Option<String>,
    /// Seconds cached content is kept before it expires (0 keeps it) [default: 604800].
    #[arg(long = "proxy-ttl", value_name = "SECONDS")]
    pub proxy_ttl: Option<u64>,
    /// Seconds a tag confirmed with the upstream is served without asking it again [default: 0].
    #[arg(long = "proxy-tag-ttl", value_name = "SECONDS")]
    pub proxy_tag_ttl: Option<u64>,
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
        #[arg(long, default_value = "/var/lib/berth-registry", conflicts_with = "config")]
        root: PathBuf,
        /// The registry's config file: collect on the storage it names (filesystem or s3).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Only report what would be removed.
        #[arg(long = "dry-run")]
        dry_run: bool,
        /// Keep blobs written in the last SECONDS (protects pushes in flight).
        #[arg(long, default_value_t = 3600)]
        grace: u64,
    },
}

