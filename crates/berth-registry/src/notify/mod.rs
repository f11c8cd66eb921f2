//! Notifications (distribution's `notifications:`): an event for every manifest and blob push, pull,
//! mount and delete, posted to webhook endpoints in distribution's envelope
//! (`application/vnd.docker.distribution.events.v1+json`, `{"events":[…]}`).
//!
//! Requests never wait for a listener: each endpoint has a bounded queue (`queuesize`, default 1000)
//! drained by its own task; an event that finds the queue full is dropped and counted
//! (`registry_notifications_dropped_total{endpoint}`). The task posts each event until the listener
//! answers 2xx, 3xx (as distribution counts success), retrying at once up to `threshold` failures,
//! then every `backoff`. Events are kept in memory only, as distribution keeps them.

mod endpoint;
mod event;

pub use endpoint::EndpointConfig;
pub use event::{Action, EventTarget, RequestInfo};

use std::sync::Arc;

/// The media type of the envelope.
pub const ENVELOPE_MEDIA_TYPE: &str = "application/vnd.docker.distribution.events.v1+json";

/// What a handler did, attached to its response for the dispatcher to emit once the status is known.
#[derive(Debug, Clone)]
pub(crate) struct Emitted {
    pub(crate) action: Action,
    pub(crate) target: EventTarget,
    /// `manifests` or `blobs`: the URL path segment the target is fetched under.
    pub(crate) kind: &'static str,
}

/// Fans events out to the endpoints' queues.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    endpoints: Arc<Vec<endpoint::Endpoint>>,
    source: event::Source,
}

impl Notifier {
    /// Starts one delivery task per enabled endpoint (call within a tokio runtime). `source_addr` is
    /// the registry's `host:port`, reported as the events' `source.addr`.
    pub fn start(configs: &[EndpointConfig], source_addr: String) -> Notifier {
        let endpoints = configs.iter().filter(|c| !c.disabled).map(endpoint::Endpoint::start).collect();
        Notifier {
            endpoints: Arc::new(endpoints),
            source: event::Source { addr: source_addr, instance_id: berth_types::random_id()[..32].to_string() },
        }
    }

    /// Whether any endpoint listens (callers skip building events otherwise).
    pub fn enabled(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// Queues an event for every endpoint that does not ignore it; never waits.
    pub fn emit(&self, action: Action, target: EventTarget, request: &RequestInfo, actor: Option<String>) {
        if !self.enabled() {
            return;
        }
        let ev = Arc::new(event::Event::new(action, target, request, actor, &self.source));
        for e in self.endpoints.iter() {
            e.offer(&ev);
        }
    }
}
