//! The image configuration JSON (the blob whose digest is the image id), as Docker and OCI write it.

use berth_api::config::ContainerConfig;
use berth_types::Digest;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Digests of the uncompressed layer tars, bottom first.
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// One `history` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step added no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// An image configuration. Unknown fields are kept in `extra`, so a config read and written again
/// loses nothing (its bytes are still never rewritten: the stored blob is the source of truth).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture.
    #[serde(default)]
    pub architecture: String,
    /// Operating system.
    #[serde(default)]
    pub os: String,
    /// Architecture variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Default container configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// Layers.
    #[serde(default)]
    pub rootfs: RootFs,
    /// History.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Docker's comment (`Imported from -`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Docker version that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// Every other field, kept as is.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    /// Parses config bytes.
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, crate::ImageError> {
        serde_json::from_slice(bytes).map_err(crate::ImageError::BadConfig)
    }

    /// The container config, or an empty one.
    pub fn container_config(&self) -> ContainerConfig {
        self.config.clone().unwrap_or_default()
    }

    /// Creation time as Unix seconds (0 when absent or malformed).
    pub fn created_unix(&self) -> i64 {
        self.created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keeps_unknown_fields() {
        let raw = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"container":"abc","config":{"Cmd":["sh"]}}"#;
        let c = ImageConfig::parse(raw).unwrap();
        assert_eq!(c.extra.get("container").unwrap(), "abc");
        assert_eq!(c.container_config().cmd, Some(vec!["sh".to_string()]));
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["container"], "abc");
    }

    #[test]
    fn bad_diff_id_is_rejected() {
        let raw = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:zz"]}}"#;
        assert!(ImageConfig::parse(raw).is_err());
    }

    /// Found by the `manifest_client` fuzz target: serde_json's default float parser is off by an
    /// ulp on some inputs, so a config Berth parsed and wrote back (commit, build, push) carried a
    /// different number than it was given. The workspace enables `float_roundtrip`.
    #[test]
    fn floats_survive_a_round_trip() {
        for n in ["1.1111111111111101e+70", "11111111111111101e54", "111111111111111011111e50", "0.0000000000000000000000000000011111111111111101e101"] {
            let raw = format!(r#"{{"architecture":"","os":"","rootfs":{{"type":"","diff_ids":[]}},"v":{n}}}"#);
            let c = ImageConfig::parse(raw.as_bytes()).unwrap();
            let back = ImageConfig::parse(&serde_json::to_vec(&c).unwrap()).unwrap();
            assert_eq!(back, c, "{n}");
            assert_eq!(c.extra["v"].as_f64(), n.parse::<f64>().ok(), "{n}");
        }
    }
}
