//! Mounts: the `HostConfig.Mounts` entries `--mount` sends, and the `Mounts` list `inspect` shows.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `BindOptions` of a bind mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindOptions {
    /// `rprivate` (default), `private`, `rshared`, `shared`, `rslave`, `slave`.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    /// `bind-nonrecursive`.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "std::ops::Not::not")]
    pub non_recursive: bool,
    /// `bind-recursive=writable` (API 1.44): a read-only bind whose submounts stay writable.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "std::ops::Not::not")]
    pub read_only_non_recursive: bool,
    /// `bind-create-src`: create a missing source directory.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "std::ops::Not::not")]
    pub create_mountpoint: bool,
}

/// `DriverConfig` of a volume mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DriverConfig {
    /// Volume driver (`local`).
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Driver options for a volume created by this mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

/// `VolumeOptions` of a volume mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeOptions {
    /// `volume-nocopy`: do not populate a new volume from the image.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "std::ops::Not::not")]
    pub no_copy: bool,
    /// Labels for a volume created by this mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Driver of a volume created by this mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<DriverConfig>,
    /// Mount only this path inside the volume.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

/// `TmpfsOptions` of a tmpfs mount.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TmpfsOptions {
    /// `tmpfs-size` in bytes (0: unlimited, half the RAM as the kernel does).
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "is_zero")]
    pub size_bytes: i64,
    /// `tmpfs-mode` (permission bits).
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "is_zero_u32")]
    pub mode: u32,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}
fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// One `HostConfig.Mounts` entry (`--mount type=…`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Mount {
    /// Path in the container.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// Host path (bind), volume name (volume, empty: anonymous), empty (tmpfs).
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type", default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Read-only.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Ignored (macOS only), kept.
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    /// Bind options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    /// Volume options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// Tmpfs options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// One entry of a container's `Mounts` in inspect (Docker's `MountPoint`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Volume name (volumes only).
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host path (bind source, or the volume's data directory; empty for tmpfs).
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Volume driver (volumes only).
    #[serde(default, deserialize_with = "crate::nullable", skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// The mode string as given (`ro`, `z`, …).
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Bind propagation (binds only).
    pub propagation: String,
}
