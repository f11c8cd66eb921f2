//! The metrics endpoint (`--metrics-addr`) and the middleware that times API requests by route.

use crate::metrics;
use crate::service::containers::Status;
use crate::service::Services;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Times a routed request to its response's head, labelled with the route template (never the raw
/// path, whose ids would make the label set unbounded).
pub async fn record_latency(route: MatchedPath, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    metrics::get().api_latency.with_label_values(&[&method, route.as_str()]).observe(started.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`: the state gauges brought up to date, then every metric.
async fn scrape(State(services): State<Arc<Services>>) -> impl IntoResponse {
    let m = metrics::get();
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for h in services.containers.all() {
        match h.snapshot().state.status {
            Status::Running | Status::Restarting => running += 1,
            Status::Paused => paused += 1,
            _ => stopped += 1,
        }
    }
    m.container_states.with_label_values(&["running"]).set(running);
    m.container_states.with_label_values(&["paused"]).set(paused);
    m.container_states.with_label_values(&["stopped"]).set(stopped);
    m.event_subscribers.set(services.events.listeners() as i64);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], m.render())
}

/// Serves `GET /metrics` on `listener` until `stop` turns true.
pub async fn serve_metrics(listener: tokio::net::TcpListener, services: Arc<Services>, mut stop: watch::Receiver<bool>) {
    let app = Router::new().route("/metrics", get(scrape)).with_state(services);
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::warn!(error = %e, "metrics listener failed");
    }
}
