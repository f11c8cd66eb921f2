//! The records the shim writes for the daemon, always atomically.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Written once the container runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StateRecord {
    /// Container init pid (host namespace).
    pub pid: i32,
    /// RFC 3339.
    pub started_at: String,
    /// The shim's pid.
    pub shim_pid: i32,
}

/// Written once the container exited (or failed to start).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitRecord {
    /// Exit status; 128+N for a signal.
    pub exit_code: i32,
    /// RFC 3339.
    pub finished_at: String,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
    /// Why it failed to start, if it did.
    pub error: Option<String>,
}

/// The first line a client sends on `shim.sock`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ShimHello {
    /// Stream the container's output (and optionally feed its stdin).
    Attach {
        /// Send stdin.
        stdin: bool,
        /// Receive stdout.
        stdout: bool,
        /// Receive stderr.
        stderr: bool,
    },
    /// Get one line with the exit record when the container exits.
    Wait,
    /// Start reading the container's output. The daemon sends this after connecting the attach
    /// clients that were waiting for the start, so none of the first output is lost. The shim
    /// releases by itself after a few seconds if no daemon does.
    Release,
    /// Resize the terminal.
    Resize {
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
    },
    /// Reopen the log file by name (CRI `ReopenContainerLog`, after the kubelet rotated it); the
    /// shim answers `ok` or `error` on one line.
    #[serde(rename = "reopen-log")]
    ReopenLog,
}

/// Now, RFC 3339 with nanoseconds.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Writes `state.json`.
pub fn write_state(dir: &Path, s: &StateRecord) -> std::io::Result<()> {
    berth_types::persist::replace_file_json(&dir.join("state.json"), s)
}

/// Writes `exit.json`.
pub fn write_exit(dir: &Path, e: &ExitRecord) -> std::io::Result<()> {
    berth_types::persist::replace_file_json(&dir.join("exit.json"), e)
}
