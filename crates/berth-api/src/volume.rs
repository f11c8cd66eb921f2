//! Volume models: `POST /volumes/create`, `GET /volumes`, `GET /volumes/{name}`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /volumes/create` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeCreateRequest {
    /// Name (empty: a random 64-hex name).
    #[serde(default, deserialize_with = "crate::nullable")]
    pub name: String,
    /// Driver (`local`, the only one).
    #[serde(default, deserialize_with = "crate::nullable")]
    pub driver: String,
    /// `type`, `o`, `device` for the local driver.
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// `UsageData` (only in `system df`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UsageData {
    /// Bytes used (-1 when not computed).
    pub size: i64,
    /// Containers referencing it (-1 when not computed).
    pub ref_count: i64,
}

/// A volume, as inspect and list show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// RFC 3339.
    pub created_at: String,
    /// `local`.
    pub driver: String,
    /// Labels (`null` when none, as dockerd sends it).
    #[serde(default, deserialize_with = "crate::nullable", serialize_with = "empty_map_as_null")]
    pub labels: BTreeMap<String, String>,
    /// Host directory holding its data.
    pub mountpoint: String,
    /// Name.
    pub name: String,
    /// Driver options as given (`null` when none, as dockerd sends it).
    #[serde(default, deserialize_with = "crate::nullable", serialize_with = "empty_map_as_null")]
    pub options: BTreeMap<String, String>,
    /// `local`.
    pub scope: String,
    /// Size and references (`system df` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

/// `GET /volumes` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeList {
    /// Volumes.
    pub volumes: Vec<Volume>,
    /// Warnings (`null` when none, as dockerd sends it).
    #[serde(default, deserialize_with = "crate::nullable", serialize_with = "empty_vec_as_null")]
    pub warnings: Vec<String>,
}

fn empty_map_as_null<S: serde::Serializer>(m: &BTreeMap<String, String>, s: S) -> Result<S::Ok, S::Error> {
    if m.is_empty() {
        s.serialize_none()
    } else {
        m.serialize(s)
    }
}

fn empty_vec_as_null<S: serde::Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}
