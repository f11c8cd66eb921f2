//! The container configuration shared by image configs (`config` in the image JSON) and container
//! create requests: Docker's `ContainerConfig`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A healthcheck as images and containers carry it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", …]` or `["CMD-SHELL", "…"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Nanoseconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// Nanoseconds before a check is considered hung.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Nanoseconds to wait before the first check counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Nanoseconds between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Consecutive failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// Docker's container configuration. Every field is optional so a stored image config keeps exactly
/// the fields it was given; [`ContainerConfig::to_inspect`] renders the full shape `inspect` shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Container hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Container domain name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// `user`, `uid`, `user:group` or `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Attach stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdin: Option<bool>,
    /// Attach stdout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stdout: Option<bool>,
    /// Attach stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_stderr: Option<bool>,
    /// Ports the image exposes, `{"80/tcp": {}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    /// Allocate a TTY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    /// Keep stdin open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_stdin: Option<bool>,
    /// Close stdin after the first attach ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin_once: Option<bool>,
    /// `KEY=value` pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    /// Default command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Healthcheck.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Whether `Cmd` is already escaped (Windows only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// Image name a container was created from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Volume mount points, `{"/data": {}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<BTreeMap<String, Value>>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Entrypoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Disable networking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_disabled: Option<bool>,
    /// MAC address (deprecated location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// ONBUILD triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal that stops the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds to wait before killing on stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Shell for the shell form of RUN/CMD/ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

impl ContainerConfig {
    /// The complete object Docker's `inspect` prints, with its zero values for absent fields.
    pub fn to_inspect(&self) -> Value {
        let mut m = Map::new();
        let s = |v: &Option<String>| Value::String(v.clone().unwrap_or_default());
        let b = |v: &Option<bool>| Value::Bool(v.unwrap_or(false));
        let j = |v: Value| if v.is_null() { Value::Null } else { v };
        m.insert("Hostname".into(), s(&self.hostname));
        m.insert("Domainname".into(), s(&self.domainname));
        m.insert("User".into(), s(&self.user));
        m.insert("AttachStdin".into(), b(&self.attach_stdin));
        m.insert("AttachStdout".into(), b(&self.attach_stdout));
        m.insert("AttachStderr".into(), b(&self.attach_stderr));
        if let Some(p) = &self.exposed_ports {
            m.insert("ExposedPorts".into(), serde_json::to_value(p).unwrap_or(Value::Null));
        }
        m.insert("Tty".into(), b(&self.tty));
        m.insert("OpenStdin".into(), b(&self.open_stdin));
        m.insert("StdinOnce".into(), b(&self.stdin_once));
        m.insert("Env".into(), j(serde_json::to_value(&self.env).unwrap_or(Value::Null)));
        m.insert("Cmd".into(), j(serde_json::to_value(&self.cmd).unwrap_or(Value::Null)));
        if let Some(h) = &self.healthcheck {
            m.insert("Healthcheck".into(), serde_json::to_value(h).unwrap_or(Value::Null));
        }
        // Go's `omitempty`: only a true value is shown.
        if self.args_escaped == Some(true) {
            m.insert("ArgsEscaped".into(), Value::Bool(true));
        }
        m.insert("Image".into(), s(&self.image));
        m.insert("Volumes".into(), j(serde_json::to_value(&self.volumes).unwrap_or(Value::Null)));
        m.insert("WorkingDir".into(), s(&self.working_dir));
        m.insert("Entrypoint".into(), j(serde_json::to_value(&self.entrypoint).unwrap_or(Value::Null)));
        // Go's `omitempty` on both.
        if self.network_disabled == Some(true) {
            m.insert("NetworkDisabled".into(), Value::Bool(true));
        }
        if let Some(mac) = self.mac_address.as_deref().filter(|m| !m.is_empty()) {
            m.insert("MacAddress".into(), Value::String(mac.into()));
        }
        m.insert("OnBuild".into(), j(serde_json::to_value(&self.on_build).unwrap_or(Value::Null)));
        m.insert("Labels".into(), j(serde_json::to_value(&self.labels).unwrap_or(Value::Null)));
        if let Some(v) = &self.stop_signal {
            m.insert("StopSignal".into(), Value::String(v.clone()));
        }
        if let Some(v) = self.stop_timeout {
            m.insert("StopTimeout".into(), Value::from(v));
        }
        if let Some(v) = &self.shell {
            m.insert("Shell".into(), serde_json::to_value(v).unwrap_or(Value::Null));
        }
        Value::Object(m)
    }
}
