//! The JSON message stream of long operations (import, load, pull, push, build): one JSON object per
//! line, as Docker's `jsonmessage` package renders it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Byte progress of one item.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProgressDetail {
    /// Bytes done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<i64>,
    /// Bytes in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// The error part of a failed stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    /// Optional code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// The message.
    #[serde(default)]
    pub message: String,
}

/// One message of a progress stream.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct JsonMessage {
    /// Output of a build step or a load (`"Loaded image: busybox:latest\n"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Status line (`"Pull complete"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The item the status is about (a layer id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Byte progress.
    #[serde(default, rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    /// Pre-rendered progress bar (legacy clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// Failure.
    #[serde(default, rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    /// Failure message (legacy field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Auxiliary data (`{"ID": "sha256:…"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<Value>,
}

impl JsonMessage {
    /// A `stream` message.
    pub fn stream(s: impl Into<String>) -> Self {
        JsonMessage { stream: Some(s.into()), ..Default::default() }
    }
    /// A `status` message.
    pub fn status(s: impl Into<String>) -> Self {
        JsonMessage { status: Some(s.into()), ..Default::default() }
    }
    /// An error message that ends the stream.
    pub fn error(msg: impl Into<String>) -> Self {
        let m = msg.into();
        JsonMessage { error: Some(m.clone()), error_detail: Some(ErrorDetail { code: None, message: m }), ..Default::default() }
    }
    /// This message as one line of the stream (JSON + `\r\n`, as dockerd writes it).
    pub fn to_line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.extend_from_slice(b"\r\n");
        v
    }
}
