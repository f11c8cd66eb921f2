//! System models: version, events.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The actor of an event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(rename_all = "PascalCase")]
pub struct EventActor {
    /// Object id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Attributes (`name`, labels, …).
    pub attributes: BTreeMap<String, String>,
}

/// One message of `GET /events`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct EventMessage {
    /// Object type: `image`, `container`, `network`, `volume`, `daemon`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// What happened: `import`, `tag`, `untag`, `delete`, `load`, `save`, …
    #[serde(rename = "Action")]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// `local`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    /// Legacy: same as Action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Legacy: same as Actor.ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Legacy: the image of a container event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}
