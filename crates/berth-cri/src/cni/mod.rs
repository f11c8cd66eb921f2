//! Pod networking through CNI (the Container Network Interface, spec 1.0/1.1), as containerd
//! and CRI-O do it: the network configuration is the first `.conf`/`.conflist`/`.json` file of
//! the configuration directory in lexical order (`/etc/cni/net.d`), its plugins are executables
//! in the plugin directories (`/opt/cni/bin`), each run with `ADD`, `CHECK` or `DEL` on the pod's
//! network namespace (`conf`, `exec`, `chain`). What a `DEL` needs (the namespace, the exact
//! configuration and arguments the `ADD` used, its result) is persisted before the `ADD` runs
//! (`state`), so a pod is torn down whatever ends it: `StopPodSandbox`, `RemovePodSandbox`, a
//! failed `RunPodSandbox`, or a daemon that died on the way (the next start finishes the job).
//!
//! Why no crate: the protocol is environment variables, JSON on stdin and stdout and an exit
//! code; the Rust CNI crates are for writing plugins (`cni-plugin`) or are unmaintained runtime
//! sides, none with per-call timeouts or result chaining as libcni does it.
//!
//! ```text
//! <data-root>/cri/
//!   cni/<sandbox-id>.json    the pod's attachment (state::Attachment, format 1), written atomically
//!   netns/cni-<16 hex>       the pod's network namespace, pinned by a bind mount
//! ```

pub mod chain;
pub mod conf;
pub mod exec;
pub mod pod;
pub mod result;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

/// containerd's default configuration directory.
pub const DEFAULT_CONF_DIR: &str = "/etc/cni/net.d";
/// containerd's default plugin directory.
pub const DEFAULT_BIN_DIR: &str = "/opt/cni/bin";
/// How long one plugin call may take by default before it is killed. Plugins answer in
/// milliseconds; one that hangs must not hold `RunPodSandbox` until the kubelet gives up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the CNI configuration and plugins are (`--cni-conf-dir`, `--cni-bin-dir`,
/// `--cni-plugin-timeout`, or the `cni-*` keys of daemon.json).
#[derive(Debug, Clone, PartialEq)]
pub struct CniSettings {
    /// The configuration directory.
    pub conf_dir: PathBuf,
    /// The plugin directories, searched in order (`CNI_PATH`).
    pub bin_dirs: Vec<PathBuf>,
    /// The limit on each plugin call.
    pub timeout: Duration,
}

impl Default for CniSettings {
    fn default() -> CniSettings {
        CniSettings { conf_dir: DEFAULT_CONF_DIR.into(), bin_dirs: vec![DEFAULT_BIN_DIR.into()], timeout: DEFAULT_TIMEOUT }
    }
}

/// What went wrong with CNI networking.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    /// No configuration file in the directory (the network is not ready; containerd's
    /// "cni plugin not initialized").
    #[error("no CNI network config found in {}", dir.display())]
    NoConfig {
        /// The configuration directory.
        dir: PathBuf,
    },
    /// A configuration file could not be read or is not a valid network configuration.
    #[error("invalid CNI network config {}: {reason}", path.display())]
    BadConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A plugin the configuration names is in none of the plugin directories.
    #[error("CNI plugin {plugin:?} not found in {}", dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(":"))]
    PluginNotFound {
        /// The plugin type.
        plugin: String,
        /// The directories searched.
        dirs: Vec<PathBuf>,
    },
    /// A plugin did not finish in time and was killed.
    #[error("CNI plugin {plugin} {command} timed out after {timeout:?} (killed)")]
    Timeout {
        /// The plugin type.
        plugin: String,
        /// ADD, DEL or CHECK.
        command: &'static str,
        /// The limit.
        timeout: Duration,
    },
    /// A plugin could not be run.
    #[error("running CNI plugin {plugin} {command}: {source}")]
    Spawn {
        /// The plugin type.
        plugin: String,
        /// ADD, DEL or CHECK.
        command: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// A plugin failed (its error object, or its exit status and stderr).
    #[error("CNI plugin {plugin} {command} failed (code {code}): {msg}{}", if details.is_empty() { String::new() } else { format!(": {details}") })]
    Plugin {
        /// The plugin type.
        plugin: String,
        /// ADD, DEL or CHECK.
        command: &'static str,
        /// The spec's error code (or the exit status when the plugin printed no error object).
        code: i64,
        /// Its message.
        msg: String,
        /// Its details.
        details: String,
    },
    /// A plugin's output is not a result.
    #[error("CNI plugin {plugin} {command} returned an invalid result: {reason}")]
    BadResult {
        /// The plugin type.
        plugin: String,
        /// ADD, DEL or CHECK.
        command: &'static str,
        /// Why.
        reason: String,
    },
    /// The pod's network namespace could not be made or removed.
    #[error("pod network namespace: {0}")]
    Netns(#[from] berth_network::netns::NetError),
    /// The attachment record could not be read or written.
    #[error("{op} {}: {source}", path.display())]
    State {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
