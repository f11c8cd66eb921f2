//! One webhook endpoint: its config, bounded queue and delivery task.

use super::event::Event;
use super::ENVELOPE_MEDIA_TYPE;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// An endpoint as distribution's `notifications.endpoints[]` describes it, plus `queuesize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Name, in logs and metrics.
    pub name: String,
    /// Skip this endpoint.
    pub disabled: bool,
    /// Where events are posted.
    pub url: String,
    /// Extra request headers (a header may repeat).
    pub headers: Vec<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Failures in a row before `backoff` applies.
    pub threshold: u32,
    /// Wait between attempts once `threshold` failures happened in a row.
    pub backoff: Duration,
    /// Events whose target has one of these media types are not sent.
    pub ignored_media_types: Vec<String>,
    /// Events of these actions (`push`, `pull`, `mount`, `delete`) are not sent.
    pub ignored_actions: Vec<String>,
    /// Events held while the endpoint is slow or down; more are dropped and counted.
    pub queue_size: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            name: String::new(),
            disabled: false,
            url: String::new(),
            headers: Vec::new(),
            timeout: Duration::from_secs(1),
            threshold: 10,
            backoff: Duration::from_secs(1),
            ignored_media_types: Vec::new(),
            ignored_actions: Vec::new(),
            queue_size: 1000,
        }
    }
}

#[derive(Debug)]
pub(super) struct Endpoint {
    config: Arc<EndpointConfig>,
    tx: mpsc::Sender<Arc<Event>>,
    dropped: AtomicU64,
}

impl Endpoint {
    pub(super) fn start(config: &EndpointConfig) -> Endpoint {
        let (tx, rx) = mpsc::channel(config.queue_size.max(1));
        let config = Arc::new(config.clone());
        // Owned by the runtime: it ends when the notifier (the last sender) is dropped.
        tokio::spawn(deliver(config.clone(), rx));
        Endpoint { config, tx, dropped: AtomicU64::new(0) }
    }

    /// Queues `ev` unless ignored; a full queue drops it (counted), never waits.
    pub(super) fn offer(&self, ev: &Arc<Event>) {
        let c = &self.config;
        if c.ignored_actions.iter().any(|a| a == ev.action.name())
            || c.ignored_media_types.iter().any(|m| *m == ev.target.media_type)
        {
            return;
        }
        let m = crate::metrics::get();
        match self.tx.try_send(ev.clone()) {
            Ok(()) => m.notify_pending.with_label_values(&[&c.name]).inc(),
            Err(_) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                m.notify_events.with_label_values(&[&c.name, "dropped"]).inc();
                if n.is_power_of_two() {
                    tracing::warn!(endpoint = %c.name, dropped = n, "notification queue full, events dropped");
                }
            }
        }
    }
}

async fn deliver(c: Arc<EndpointConfig>, mut rx: mpsc::Receiver<Arc<Event>>) {
    let client = match reqwest::Client::builder().timeout(c.timeout).build() {
        Ok(cl) => cl,
        Err(e) => {
            tracing::error!(endpoint = %c.name, error = %e, "cannot build the notification client");
            return;
        }
    };
    let m = crate::metrics::get();
    let mut failures = 0u32;
    while let Some(ev) = rx.recv().await {
        let body = match serde_json::to_vec(&serde_json::json!({ "events": [&*ev] })) {
            Ok(b) => b,
            Err(_) => continue,
        };
        loop {
            let mut req = client.post(&c.url).header(http::header::CONTENT_TYPE, ENVELOPE_MEDIA_TYPE).body(body.clone());
            for (k, v) in &c.headers {
                req = req.header(k.as_str(), v.as_str());
            }
            let ok = match req.send().await {
                // As distribution: any status below 400 is delivered.
                Ok(r) if r.status().as_u16() < 400 => true,
                Ok(r) => {
                    tracing::debug!(endpoint = %c.name, status = r.status().as_u16(), "notification refused");
                    false
                }
                Err(e) => {
                    tracing::debug!(endpoint = %c.name, error = %e, "notification failed");
                    false
                }
            };
            if ok {
                failures = 0;
                m.notify_events.with_label_values(&[&c.name, "sent"]).inc();
                break;
            }
            failures = failures.saturating_add(1);
            m.notify_events.with_label_values(&[&c.name, "failed"]).inc();
            if failures >= c.threshold {
                if failures == c.threshold {
                    tracing::warn!(endpoint = %c.name, failures, "notification endpoint failing, backing off");
                }
                tokio::time::sleep(c.backoff).await;
            }
        }
        m.notify_pending.with_label_values(&[&c.name]).dec();
    }
}
