//! Image models: `GET /images/json` summaries, history items, delete and prune responses.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One entry of `GET /images/json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// `sha256:…` image id.
    pub id: String,
    /// Parent image id or empty.
    pub parent_id: String,
    /// `name:tag` references.
    pub repo_tags: Vec<String>,
    /// `name@sha256:…` references.
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// Bytes of all layers.
    pub size: i64,
    /// Bytes shared with other images (-1: not computed).
    pub shared_size: i64,
    /// Same as `Size` (deprecated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_size: Option<i64>,
    /// Image labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Containers using the image (-1: not computed).
    pub containers: i64,
}

/// One entry of `GET /images/{name}/history`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryItem {
    /// Image id, or `<missing>` for a layer with no local image.
    pub id: String,
    /// Unix seconds.
    pub created: i64,
    /// The instruction that made the layer.
    pub created_by: String,
    /// Tags of the image at this point.
    pub tags: Vec<String>,
    /// Bytes added by this step.
    pub size: i64,
    /// Comment.
    pub comment: String,
}

/// One entry of `DELETE /images/{name}`'s response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteItem {
    /// A removed reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    /// A deleted image or layer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// `POST /images/prune` response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct PruneReport {
    /// What was removed.
    pub images_deleted: Option<Vec<DeleteItem>>,
    /// Bytes freed.
    pub space_reclaimed: i64,
}
