//! The servers in the same executable: `berth daemon` and the internal shim (`berth registry`'s
//! flags are in `registry_args`, shared with the `berth-registry` executable).

use clap::Args;
use std::path::PathBuf;
#[allow(unused_imports)]
use super::*;

/// `berth daemon`. Each setting can also be given in the config file (`--config-file`, dockerd's
/// daemon.json keys); one given both ways is refused. Defaults are applied after the merge, so
/// the flags are options here.
#[derive(Args, Debug, Clone, Default)]
pub struct DaemonArgs {
    /// Daemon configuration file (JSON, dockerd's daemon.json keys) [default: /etc/berth/daemon.json].
    #[arg(long = "config-file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Check the flags and configuration file, print "configuration OK" and exit.
    #[arg(long = "validate")]
    pub validate: bool,
    /// Root of persistent state [default: /var/lib/berth].
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_root: Option<PathBuf>,
    /// Address(es) to serve the API on: unix:///path, tcp://127.0.0.1:PORT or fd:// (systemd socket activation).
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Log level: error, warn, info, debug, trace [default: info].
    #[arg(long = "log-level", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Format of the log on stderr (text is plain unless stderr is a terminal) [default: text].
    #[arg(long = "log-format", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Debug mode: log at debug level, and `info` shows Debug: true.
    #[arg(short = 'D', long = "debug")]
    pub debug: bool,
    /// Engine label KEY=VALUE, shown by `info` (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Registry reachable over plain HTTP (HOST:PORT or CIDR); repeatable. Loopback registries always are.
    #[arg(long = "insecure-registry")]
    pub insecure_registry: Vec<String>,
    /// Mirror for docker.io (URL); repeatable.
    #[arg(long = "registry-mirror")]
    pub registry_mirror: Vec<String>,
    /// Per-registry CAs and client certificates, in Docker's certs.d layout (HOST:PORT/ca.crt, client.cert, client.key) [default: /etc/berth/certs.d].
    #[arg(long = "certs-dir", value_name = "DIR")]
    pub certs_dir: Option<PathBuf>,
    /// Interface of the default bridge network [default: berth0].
    #[arg(long = "bridge", short = 'b')]
    pub bridge: Option<String>,
    /// Address and prefix of the default bridge (its containers' gateway) [default: 10.88.0.1/16].
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// IPv6 on the default bridge network too (needs --fixed-cidr-v6).
    #[arg(long = "ipv6")]
    pub ipv6: bool,
    /// IPv6 subnet of the default bridge network (e.g. fd00:db8:1::/64) with --ipv6.
    #[arg(long = "fixed-cidr-v6")]
    pub fixed_cidr_v6: Option<String>,
    /// Pool user-defined networks get subnets from: base=CIDR,size=PREFIXLEN (repeatable).
    #[arg(long = "default-address-pool")]
    pub default_address_pool: Vec<String>,
    /// MTU of the default bridge network.
    #[arg(long = "mtu")]
    pub mtu: Option<u32>,
    /// Path to the static init `--init` runs (default: docker-init or tini-static where installed).
    #[arg(long = "init-path")]
    pub init_path: Option<PathBuf>,
    /// Default log driver of containers [default: json-file].
    #[arg(long = "log-driver", value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// Default log driver option KEY=VALUE (as `docker run --log-opt`); repeatable.
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opts: Vec<String>,
    /// The journal's native-protocol socket the journald log driver writes to (tests give their own).
    #[arg(long = "journald-socket", value_name = "PATH", hide = true)]
    pub journald_socket: Option<PathBuf>,
    /// Default ulimit of containers NAME=SOFT[:HARD] (repeatable).
    #[arg(long = "default-ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub default_ulimits: Vec<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9323, as dockerd's --metrics-addr).
    #[arg(long = "metrics-addr", value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// API connections served at once (all listeners; one TCP address gets a quarter); beyond it a
    /// client gets a 503 [default: 2048].
    #[arg(long = "max-connections", value_name = "N")]
    pub max_connections: Option<usize>,
    /// Seconds a client may take to send a request's headers, or between two pieces of its body
    /// [default: 60].
    #[arg(long = "api-read-timeout", value_name = "SECONDS")]
    pub api_read_timeout: Option<u64>,
    /// Serve TCP listeners over TLS; implied by --tlsverify. --tls=false allows a non-loopback TCP listener without TLS.
    #[arg(long = "tls", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub tls: Option<bool>,
    /// Use TLS and serve only clients with a certificate signed by --tlscacert (default: on when DOCKER_TLS_VERIFY is set).
    #[arg(long = "tlsverify", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub tlsverify: Option<bool>,
    /// CA that client certificates must be signed by [default: $DOCKER_CERT_PATH/ca.pem, ~/.docker/ca.pem].
    #[arg(long = "tlscacert", value_name = "FILE")]
    pub tlscacert: Option<PathBuf>,
    /// The daemon's TLS certificate [default: $DOCKER_CERT_PATH/cert.pem, ~/.docker/cert.pem].
    #[arg(long = "tlscert", value_name = "FILE")]
    pub tlscert: Option<PathBuf>,
    /// The daemon's TLS key [default: $DOCKER_CERT_PATH/key.pem, ~/.docker/key.pem].
    #[arg(long = "tlskey", value_name = "FILE")]
    pub tlskey: Option<PathBuf>,
    /// Run containers in user namespaces mapped to the subordinate ranges of a user: `default`
    /// (user dockremap, created if missing) or USER[:GROUP]; state moves to <data-root>/<uid>.<gid>.
    #[arg(long = "userns-remap", value_name = "default|USER[:GROUP]")]
    pub userns_remap: Option<String>,
    /// Group of the unix socket (mode 0660) [default: berth, if that group exists].
    #[arg(short = 'G', long = "group", value_name = "GROUP")]
    pub group: Option<String>,
    /// Also serve the Kubernetes CRI v1 (kubelet, crictl) on this unix socket (usually /run/berth/cri.sock).
    #[arg(long = "cri-socket", value_name = "PATH")]
    pub cri_socket: Option<PathBuf>,
    /// The image of CRI pod sandboxes [default: registry.k8s.io/pause:3.9].
    #[arg(long = "cri-sandbox-image", value_name = "IMAGE")]
    pub cri_sandbox_image: Option<String>,
    /// A mirror for CRI pulls from a registry, REGISTRY=URL (e.g. registry.k8s.io=http://127.0.0.1:5000); repeatable, tried in order.
    #[arg(long = "cri-registry-mirror", value_name = "REGISTRY=URL")]
    pub cri_registry_mirrors: Vec<String>,
    /// The CNI network configuration directory of CRI pods: its first .conf/.conflist/.json file in lexical order is the pods' network [default: /etc/cni/net.d].
    #[arg(long = "cni-conf-dir", value_name = "DIR")]
    pub cni_conf_dir: Option<PathBuf>,
    /// The CNI plugin directories, colon-separated, searched in order [default: /opt/cni/bin].
    #[arg(long = "cni-bin-dir", value_name = "DIR[:DIR...]")]
    pub cni_bin_dir: Option<String>,
    /// The time one CNI plugin call may take before it is killed, in seconds [default: 30].
    #[arg(long = "cni-plugin-timeout", value_name = "SECONDS")]
    pub cni_plugin_timeout: Option<u64>,
    /// The address of the CRI streaming server (exec, attach, port-forward URLs) [default: 127.0.0.1].
    #[arg(long = "cri-stream-address", value_name = "IP")]
    pub cri_stream_address: Option<String>,
    /// The port of the CRI streaming server [default: 0, a free port].
    #[arg(long = "cri-stream-port", value_name = "PORT")]
    pub cri_stream_port: Option<u16>,
    /// Serve the CRI streaming server over HTTPS with this certificate (PEM; with --cri-stream-tls-key).
    #[arg(long = "cri-stream-tls-cert", value_name = "FILE")]
    pub cri_stream_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --cri-stream-tls-cert.
    #[arg(long = "cri-stream-tls-key", value_name = "FILE")]
    pub cri_stream_tls_key: Option<PathBuf>,
}

/// `--log-format` of the daemon, as dockerd's.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO target: message key=value`.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `message`, fields).
    Json,
}

/// `berth shim` (internal).
#[derive(Args, Debug)]
pub struct ShimArgs {
    /// Container id.
    #[arg(long)]
    pub id: String,
    /// Container directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Runtime state root.
    #[arg(long = "state-root")]
    pub state_root: PathBuf,
    /// Run an exec (described in DIR/exec.json) in the running container instead.
    #[arg(long = "exec-dir")]
    pub exec_dir: Option<PathBuf>,
}
