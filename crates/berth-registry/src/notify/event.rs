//! The event record, field for field as distribution's `notifications.Event`.

use serde::Serialize;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A manifest or blob was pushed.
    Push,
    /// A manifest or blob was fetched (`GET`; `HEAD` is not a pull, as in distribution).
    Pull,
    /// A blob was mounted from another repository.
    Mount,
    /// A manifest, tag or blob was deleted.
    Delete,
}

impl Action {
    /// The name in configs and events.
    pub fn name(self) -> &'static str {
        match self {
            Action::Push => "push",
            Action::Pull => "pull",
            Action::Mount => "mount",
            Action::Delete => "delete",
        }
    }
}

/// What the event is about.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct EventTarget {
    /// Media type of the manifest or blob.
    #[serde(rename = "mediaType", skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Its digest.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub digest: String,
    /// Same as size (distribution keeps both for old listeners).
    pub length: u64,
    /// The repository.
    pub repository: String,
    /// Where it can be fetched.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// The tag, for manifests pushed, pulled or deleted by tag.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tag: String,
}

/// The request that caused the event.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RequestInfo {
    /// Request id.
    pub id: String,
    /// Client address.
    pub addr: String,
    /// The `Host` the client asked for.
    pub host: String,
    /// HTTP method.
    pub method: String,
    /// The client's `User-Agent`.
    pub useragent: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Actor {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// The registry instance that generated events.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct Source {
    pub addr: String,
    #[serde(rename = "instanceID")]
    pub instance_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct Event {
    pub id: String,
    pub timestamp: String,
    pub action: Action,
    pub target: EventTarget,
    pub request: RequestInfo,
    pub actor: Actor,
    pub source: Source,
}

impl Event {
    pub(super) fn new(
        action: Action,
        mut target: EventTarget,
        request: &RequestInfo,
        actor: Option<String>,
        source: &Source,
    ) -> Event {
        target.length = target.size;
        Event {
            id: berth_types::random_id()[..32].to_string(),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            action,
            target,
            request: request.clone(),
            actor: Actor { name: actor.unwrap_or_default() },
            source: source.clone(),
        }
    }
}
