//! Manifest parsing and validation: the four manifest media types clients push, checked for shape and
//! for media-type consistency before anything is stored (OCI Distribution Spec § pushing manifests).

use crate::errors::{ApiError, ErrorCode};
use berth_types::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Largest manifest accepted (distribution's and the OCI spec's recommended 4 MiB).
pub const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// Layer media types whose blobs live elsewhere and need not be in the repository.
const FOREIGN_LAYERS: [&str; 3] = [
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
];

/// Whether `mt` is one of the four supported manifest media types.
pub fn is_manifest_type(mt: &str) -> bool {
    [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&mt)
}

/// Whether `mt` is an index or manifest-list type.
pub fn is_index_type(mt: &str) -> bool {
    mt == OCI_INDEX || mt == DOCKER_LIST
}

/// A content descriptor as it appears in manifests and in referrers responses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Where else it can be fetched (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Artifact type (OCI 1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

impl Descriptor {
    /// Whether the referenced blob must be present in the repository for the manifest to be valid.
    pub fn must_exist(&self) -> bool {
        self.urls.is_empty() && !FOREIGN_LAYERS.contains(&self.media_type.as_str())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// A manifest that passed validation.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The resolved media type (one of the four supported).
    pub media_type: String,
    /// Config descriptor (image manifests).
    pub config: Option<Descriptor>,
    /// Layer descriptors (image manifests).
    pub layers: Vec<Descriptor>,
    /// Child manifests (indexes).
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    pub subject: Option<Descriptor>,
    /// `artifactType`, or the config media type of an image manifest (OCI 1.1 § listing referrers).
    pub artifact_type: Option<String>,
    /// Top-level annotations.
    pub annotations: Option<BTreeMap<String, String>>,
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ManifestInvalid, msg)
}

/// Strips parameters (`; charset=…`) from a Content-Type value.
pub fn bare_media_type(ct: &str) -> &str {
    ct.split(';').next().unwrap_or("").trim()
}

/// Parses and validates `body`, pushed with Content-Type `content_type`.
pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, ApiError> {
    if body.len() > MAX_MANIFEST_SIZE {
        return Err(ApiError::new(ErrorCode::PayloadTooLarge, "manifest exceeds 4 MiB"));
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|e| invalid(format!("manifest is not valid JSON: {e}")))?;
    if raw.schema_version != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let ct = content_type.map(bare_media_type).filter(|c| is_manifest_type(c));
    let media_type = match (raw.media_type.as_deref(), ct) {
        (Some(body_mt), Some(ct)) if body_mt != ct => {
            return Err(invalid(format!("mediaType {body_mt} does not match Content-Type {ct}")));
        }
        (Some(body_mt), _) => body_mt.to_string(),
        (None, Some(ct)) => ct.to_string(),
        (None, None) if raw.manifests.is_some() => OCI_INDEX.to_string(),
        (None, None) => OCI_MANIFEST.to_string(),
    };
    if !is_manifest_type(&media_type) {
        return Err(invalid(format!("unsupported manifest media type {media_type}")));
    }
    if is_index_type(&media_type) {
        if raw.config.is_some() || raw.layers.is_some() {
            return Err(invalid("an index has no config or layers"));
        }
        let manifests = raw.manifests.ok_or_else(|| invalid("an index needs a manifests array"))?;
        Ok(Manifest {
            media_type,
            config: None,
            layers: Vec::new(),
            manifests,
            subject: raw.subject,
            artifact_type: raw.artifact_type,
            annotations: raw.annotations,
        })
    } else {
        if raw.manifests.is_some() {
            return Err(invalid("an image manifest has no manifests array"));
        }
        let config = raw.config.ok_or_else(|| invalid("an image manifest needs a config"))?;
        let layers = raw.layers.ok_or_else(|| invalid("an image manifest needs a layers array"))?;
        let artifact_type = raw.artifact_type.or_else(|| Some(config.media_type.clone()));
        Ok(Manifest {
            media_type,
            config: Some(config),
            layers,
            manifests: Vec::new(),
            subject: raw.subject,
            artifact_type,
            annotations: raw.annotations,
        })
    }
}

/// Every digest a stored manifest references (for GC marking); tolerant of any JSON shape.
pub fn references(body: &[u8]) -> Vec<Digest> {
    #[derive(Deserialize)]
    struct Loose {
        config: Option<Ref>,
        #[serde(default)]
        layers: Vec<Ref>,
        #[serde(default)]
        manifests: Vec<Ref>,
    }
    #[derive(Deserialize)]
    struct Ref {
        digest: String,
    }
    let Ok(l) = serde_json::from_slice::<Loose>(body) else { return Vec::new() };
    l.config.into_iter().chain(l.layers).chain(l.manifests).filter_map(|r| r.digest.parse().ok()).collect()
}

/// The subject of a stored manifest, if it has one.
pub fn subject_of(body: &[u8]) -> Option<Digest> {
    #[derive(Deserialize)]
    struct S {
        subject: Option<Descriptor>,
    }
    serde_json::from_slice::<S>(body).ok()?.subject.map(|d| d.digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image(mt: Option<&str>) -> String {
        let mt = mt.map(|m| format!("\"mediaType\":\"{m}\",")).unwrap_or_default();
        format!(
            r#"{{"schemaVersion":2,{mt}"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D}","size":0}},"layers":[]}}"#
        )
    }

    #[test]
    fn parse_infers_media_type_from_header_or_shape() {
        assert_eq!(parse(image(None).as_bytes(), Some(DOCKER_MANIFEST)).unwrap().media_type, DOCKER_MANIFEST);
        assert_eq!(parse(image(None).as_bytes(), None).unwrap().media_type, OCI_MANIFEST);
        let idx = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(parse(idx.as_bytes(), None).unwrap().media_type, OCI_INDEX);
    }

    #[test]
    fn parse_rejects_media_type_mismatch_and_wrong_shapes() {
        let e = parse(image(Some(OCI_MANIFEST)).as_bytes(), Some(DOCKER_MANIFEST)).unwrap_err();
        assert_eq!(e.code, ErrorCode::ManifestInvalid);
        assert!(parse(image(Some(OCI_INDEX)).as_bytes(), None).is_err());
        assert!(parse(b"{}", None).is_err());
        assert!(parse(b"not json", None).is_err());
        let schema1 = r#"{"schemaVersion":1,"name":"x"}"#;
        assert!(parse(schema1.as_bytes(), None).is_err());
    }

    #[test]
    fn parse_rejects_oversized_manifest_with_413() {
        let big = vec![b' '; MAX_MANIFEST_SIZE + 1];
        assert_eq!(parse(&big, None).unwrap_err().code, ErrorCode::PayloadTooLarge);
    }

    #[test]
    fn artifact_type_defaults_to_config_media_type() {
        let m = parse(image(None).as_bytes(), None).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
        assert_eq!(references(image(None).as_bytes()), vec![D.parse::<Digest>().unwrap()]);
    }
}
