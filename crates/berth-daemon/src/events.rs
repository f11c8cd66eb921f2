//! The event bus behind `GET /events`: services publish, subscribers get past events (for `since`)
//! from a bounded in-memory history and live ones from a broadcast channel.

use berth_api::system::{EventActor, EventMessage};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::{broadcast, watch};

/// Past events kept for `since`: 256, as dockerd (`eventsLimit`); 1,000 container starts
/// otherwise kept the last 1,024 events (about 1 MB) resident.
const HISTORY: usize = 256;
/// How far a live subscriber may fall behind: dockerd's 1,024-message buffer.
const BUFFER: usize = 1024;

/// Publishes and replays events.
pub struct EventBus {
    tx: broadcast::Sender<EventMessage>,
    history: Mutex<VecDeque<EventMessage>>,
    closed: watch::Sender<bool>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { tx: broadcast::channel(BUFFER).0, history: Mutex::new(VecDeque::new()), closed: watch::channel(false).0 }
    }
}

impl EventBus {
    /// Records and broadcasts an event about object `id` of type `kind`.
    pub fn publish(&self, kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        // The deprecated `status`, `id` (and `from`) fields: for container and image events only, as dockerd fills them.
        let legacy = matches!(kind, "container" | "image");
        let from = (kind == "container").then(|| attributes.get("image").cloned()).flatten();
        let msg = EventMessage {
            kind: kind.to_string(),
            action: action.to_string(),
            actor: EventActor { id: id.to_string(), attributes },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: nanos,
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from,
        };
        {
            let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(msg.clone());
        }
        let _ = self.tx.send(msg);
        crate::metrics::get().events.inc();
    }

    /// Past events (oldest first) and a receiver for new ones, taken atomically.
    pub fn subscribe(&self) -> (Vec<EventMessage>, broadcast::Receiver<EventMessage>, watch::Receiver<bool>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let rx = self.tx.subscribe();
        (h.iter().cloned().collect(), rx, self.closed.subscribe())
    }

    /// Ends every live subscription (daemon shutdown).
    pub fn close(&self) {
        let _ = self.closed.send(true);
    }

    /// Number of live subscribers.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}
