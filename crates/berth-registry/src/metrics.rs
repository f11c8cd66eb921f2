//! Prometheus metrics of the registry, served on the debug address (`--debug-addr`, or the config
//! file's `http.debug.addr` with `http.debug.prometheus.enabled`) as distribution serves them, under
//! distribution's names:
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `registry_http_requests_total` | counter | code, handler, method |
//! | `registry_http_request_duration_seconds` | histogram | handler, method |
//! | `registry_http_in_flight_requests` | gauge | handler |
//! | `registry_notifications_events_total` | counter | endpoint, result (`sent`, `failed`, `dropped`) |
//! | `registry_notifications_pending` | gauge | endpoint |
//!
//! Handlers are distribution's route names (base, catalog, tags, manifest, blob, blob_upload,
//! blob_upload_chunk) plus Berth's token and referrers endpoints.

use prometheus::{exponential_buckets, Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
use std::sync::LazyLock;

pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: IntCounterVec,
    pub(crate) duration: HistogramVec,
    pub(crate) in_flight: IntGaugeVec,
    pub(crate) notify_events: IntCounterVec,
    pub(crate) notify_pending: IntGaugeVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    let requests = IntCounterVec::new(
        Opts::new("registry_http_requests_total", "Total number of HTTP requests made."),
        &["code", "handler", "method"],
    )?;
    let duration = HistogramVec::new(
        HistogramOpts::new("registry_http_request_duration_seconds", "The HTTP request latencies in seconds.")
            .buckets(exponential_buckets(0.001, 2.0, 16)?),
        &["handler", "method"],
    )?;
    let in_flight = IntGaugeVec::new(Opts::new("registry_http_in_flight_requests", "The in-flight HTTP requests"), &["handler"])?;
    let notify_events = IntCounterVec::new(
        Opts::new("registry_notifications_events_total", "Notification events by endpoint and outcome (sent, failed attempts, dropped on a full queue)."),
        &["endpoint", "result"],
    )?;
    let notify_pending = IntGaugeVec::new(Opts::new("registry_notifications_pending", "Events queued for an endpoint."), &["endpoint"])?;
    registry.register(Box::new(requests.clone()))?;
    registry.register(Box::new(duration.clone()))?;
    registry.register(Box::new(in_flight.clone()))?;
    registry.register(Box::new(notify_events.clone()))?;
    registry.register(Box::new(notify_pending.clone()))?;
    Ok(Metrics { registry, requests, duration, in_flight, notify_events, notify_pending })
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| build().expect("metric definitions are static and valid"));

pub(crate) fn get() -> &'static Metrics {
    &METRICS
}

/// The text exposition format, as Go's client serves it.
pub(crate) fn render() -> String {
    let mut out = Vec::new();
    let _ = TextEncoder::new().encode(&get().registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Serves `GET <path>` with [`render`] on `listener` until `stop` turns true.
pub(crate) async fn serve(listener: tokio::net::TcpListener, path: String, mut stop: tokio::sync::watch::Receiver<bool>) {
    use axum::routing::get as get_route;
    let app = axum::Router::new().route(
        &path,
        get_route(|| async { ([(http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], render()) }),
    );
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::warn!(error = %e, "debug listener failed");
    }
}
