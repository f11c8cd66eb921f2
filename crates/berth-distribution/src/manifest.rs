//! Manifests, indexes and platform choice (OCI image-spec `manifest.md`, `image-index.md`; Docker
//! image manifest v2 schema 2 and manifest list).

use crate::DistributionError;
use berth_types::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest v2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer.
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// The `Accept` list of a manifest request: every kind Berth can pull.
pub const ACCEPT: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its digest.
    pub digest: Digest,
    /// Platform, in index entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Alternate download locations (foreign layers); never followed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// A platform (`os`/`architecture`/`variant`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`, …).
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os[/arch[/variant]]`; a missing arch is the host's.
    pub fn parse(s: &str) -> Result<Platform, DistributionError> {
        let bad = || DistributionError::BadPlatform(s.to_string());
        let mut parts = s.split('/');
        let os = parts
            .next()
            .filter(|p| !p.is_empty())
            .ok_or_else(bad)?
            .to_ascii_lowercase();
        let architecture = parts
            .next()
            .map(normalize_arch)
            .unwrap_or_else(|| berth_image::host_architecture().to_string());
        let variant = parts.next().map(str::to_string);
        if parts.next().is_some() || architecture.is_empty() {
            return Err(bad());
        }
        Ok(Platform {
            architecture,
            os,
            variant,
        })
    }

    /// `linux/<host arch>`, Docker's default.
    pub fn host() -> Platform {
        Platform {
            architecture: berth_image::host_architecture().to_string(),
            os: "linux".into(),
            variant: None,
        }
    }

    /// `os/arch[/variant]`.
    pub fn display(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

fn normalize_arch(a: &str) -> String {
    match a.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.to_string(),
    }
}

/// An image manifest (OCI or Docker schema 2; same shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// Media type, when the document states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layers, bottom first.
    pub layers: Vec<Descriptor>,
}

/// An image index or manifest list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Entries.
    pub manifests: Vec<Descriptor>,
}

/// A fetched manifest document, classified.
#[derive(Debug, Clone)]
pub enum Document {
    /// A single-platform image manifest.
    Image(Box<ImageManifest>),
    /// A multi-platform index.
    Index(Index),
}

impl Document {
    /// Classifies `body` by the response's content type, falling back to the document's own
    /// `mediaType` and shape (OCI allows both to be missing).
    pub fn parse(content_type: &str, body: &[u8]) -> Result<Document, DistributionError> {
        let bad = |e: serde_json::Error| DistributionError::BadDocument {
            what: "manifest",
            reason: e.to_string(),
        };
        let v: serde_json::Value = serde_json::from_slice(body).map_err(bad)?;
        let ct = content_type.split(';').next().unwrap_or("").trim();
        let declared = v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
        let kind = [ct, declared]
            .into_iter()
            .find(|t| ACCEPT.contains(t))
            .unwrap_or("");
        let kind = match kind {
            "" if v.get("manifests").is_some() => OCI_INDEX,
            "" if v.get("config").is_some() && v.get("layers").is_some() => OCI_MANIFEST,
            "" => {
                let shown = if ct.is_empty() { declared } else { ct };
                return Err(DistributionError::UnsupportedManifest(shown.to_string()));
            }
            k => k,
        };
        if kind == OCI_INDEX || kind == DOCKER_LIST {
            Ok(Document::Index(serde_json::from_value(v).map_err(bad)?))
        } else {
            let m: ImageManifest = serde_json::from_value(v).map_err(bad)?;
            if m.schema_version != 2 {
                return Err(DistributionError::UnsupportedManifest(format!(
                    "schemaVersion {}",
                    m.schema_version
                )));
            }
            Ok(Document::Image(Box::new(m)))
        }
    }
}

/// Picks the entry of `index` for `want`, as containerd's platform matcher does: os and architecture
/// must match; a requested variant must match exactly (with `arm64` ≡ `arm64/v8`); without one, an
/// entry without variant (or the default variant) is preferred. Attestation manifests are skipped.
pub fn choose<'a>(index: &'a Index, want: &Platform) -> Option<&'a Descriptor> {
    let default_variant = |arch: &str| match arch {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        _ => None,
    };
    let candidates = index.manifests.iter().filter(|d| {
        d.annotations
            .get("vnd.docker.reference.type")
            .map(String::as_str)
            != Some("attestation-manifest")
            && d.platform
                .as_ref()
                .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
    });
    let mut best: Option<(&Descriptor, u8)> = None;
    for d in candidates {
        let v = d.platform.as_ref().and_then(|p| p.variant.as_deref());
        let score = match (want.variant.as_deref(), v) {
            (Some(w), Some(v)) if w == v => 3,
            (Some(w), None) if Some(w) == default_variant(&want.architecture) => 2,
            (Some(_), _) => continue,
            (None, None) => 3,
            (None, Some(v)) if Some(v) == default_variant(&want.architecture) => 2,
            (None, Some(_)) => 1,
        };
        if !matches!(best, Some((_, s)) if s >= score) {
            best = Some((d, score));
        }
    }
    best.map(|(d, _)| d)
}

/// How a layer blob is compressed, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// Classifies a layer media type; foreign and non-distributable layers are refused.
pub fn layer_compression(media_type: &str) -> Result<LayerCompression, DistributionError> {
    match media_type {
        DOCKER_LAYER_GZIP | OCI_LAYER_GZIP => Ok(LayerCompression::Gzip),
        DOCKER_LAYER_TAR | OCI_LAYER_TAR => Ok(LayerCompression::None),
        OCI_LAYER_ZSTD => Ok(LayerCompression::Zstd),
        other => Err(DistributionError::UnsupportedLayer(other.to_string())),
    }
}

/// Serializes a manifest the way dockerd does (`json.MarshalIndent` with three spaces), so pushes
/// produce familiar bytes.
pub fn to_docker_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serializing plain structs of strings and numbers into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: Digest::of(&[n]),
            size: 1,
            platform: Some(Platform {
                architecture: arch.into(),
                os: os.into(),
                variant: variant.map(Into::into),
            }),
            annotations: BTreeMap::new(),
            urls: vec![],
        }
    }

    #[test]
    fn choose_matches_os_arch_and_variant() {
        let idx = Index {
            manifests: vec![
                entry("linux", "arm", Some("v6"), 1),
                entry("linux", "arm", Some("v7"), 2),
                entry("linux", "arm64", Some("v8"), 3),
                entry("linux", "amd64", None, 4),
                entry("windows", "amd64", None, 5),
            ],
        };
        let pick = |s: &str| choose(&idx, &Platform::parse(s).unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64"), Some(Digest::of(&[4])));
        assert_eq!(pick("linux/arm/v6"), Some(Digest::of(&[1])));
        assert_eq!(pick("linux/arm"), Some(Digest::of(&[2])));
        assert_eq!(pick("linux/arm64"), Some(Digest::of(&[3])));
        assert_eq!(pick("windows/amd64"), Some(Digest::of(&[5])));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(pick("linux/arm/v5"), None);
    }

    #[test]
    fn document_kind_comes_from_content_type_or_shape() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert!(matches!(
            Document::parse("", m).unwrap(),
            Document::Image(_)
        ));
        assert!(matches!(
            Document::parse(DOCKER_LIST, br#"{"manifests":[]}"#).unwrap(),
            Document::Index(_)
        ));
        assert!(matches!(
            Document::parse(
                "application/vnd.docker.distribution.manifest.v1+prettyjws",
                br#"{"schemaVersion":1}"#
            ),
            Err(DistributionError::UnsupportedManifest(_))
        ));
    }
}
