//! Prometheus metrics (`berth daemon --metrics-addr 127.0.0.1:9323`, `GET /metrics`), in the classic text
//! format dockerd serves. dockerd's names where Berth has the same thing (`engine_daemon_*`), Berth's own
//! (`berth_*`) for the rest:
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `engine_daemon_engine_info` | gauge (1) | version, commit, os, architecture, kernel, graphdriver, daemon_id labels |
//! | `engine_daemon_engine_cpus_cpus`, `engine_daemon_engine_memory_bytes` | gauge | the host, as `/info` |
//! | `engine_daemon_container_states_containers{state}` | gauge | running / paused / stopped |
//! | `engine_daemon_container_actions_seconds{action}` | histogram | create, start, delete, commit |
//! | `engine_daemon_events_total`, `engine_daemon_events_subscribers_total` | counter, gauge | the event bus |
//! | `berth_container_start_seconds` | histogram | a start's latency, request to running process |
//! | `berth_pull_bytes_total`, `berth_push_bytes_total` | counter | layer bytes received from / sent to registries |
//! | `berth_gc_runs_total`, `berth_gc_reclaimed_bytes_total` | counter | prunes and collections, and what they freed |
//! | `berth_api_request_duration_seconds{method,route}` | histogram | time to the response's head, by route template |
//!
//! The values live in one process-wide registry ([`get`]) so services record without plumbing; the
//! gauges that describe state (container states, subscribers, transfer counters) are filled in at scrape.

use prometheus::{
    exponential_buckets, Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::sync::LazyLock;
use std::time::Duration;

/// Every metric the daemon exports.
pub struct Metrics {
    registry: Registry,
    /// `engine_daemon_engine_info`.
    pub engine_info: GaugeVec,
    /// `engine_daemon_engine_cpus_cpus`.
    pub cpus: IntGauge,
    /// `engine_daemon_engine_memory_bytes`.
    pub memory: Gauge,
    /// `engine_daemon_container_states_containers{state}`.
    pub container_states: IntGaugeVec,
    /// `engine_daemon_container_actions_seconds{action}`.
    pub container_actions: HistogramVec,
    /// `engine_daemon_events_total`.
    pub events: IntCounter,
    /// `engine_daemon_events_subscribers_total`.
    pub event_subscribers: IntGauge,
    /// `berth_container_start_seconds`.
    pub start_seconds: prometheus::Histogram,
    /// `berth_pull_bytes_total` (mirrors berth-distribution's counter at scrape).
    pull_bytes: IntCounter,
    /// `berth_push_bytes_total`.
    push_bytes: IntCounter,
    /// `berth_gc_runs_total{kind}`.
    pub gc_runs: IntCounterVec,
    /// `berth_gc_reclaimed_bytes_total{kind}`.
    pub gc_reclaimed: IntCounterVec,
    /// `berth_api_request_duration_seconds{method,route}`.
    pub api_latency: HistogramVec,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new();
    // 1 ms .. ~33 s: API calls and container actions both fall inside.
    let latency = exponential_buckets(0.001, 2.0, 16)?;
    let m = Metrics {
        engine_info: GaugeVec::new(
            Opts::new("engine_daemon_engine_info", "The information related to the engine and the OS it is running on"),
            &["version", "commit", "architecture", "graphdriver", "kernel", "os", "os_type", "daemon_id"],
        )?,
        cpus: IntGauge::new("engine_daemon_engine_cpus_cpus", "The number of cpus that the host system of the engine has")?,
        memory: Gauge::new("engine_daemon_engine_memory_bytes", "The number of bytes of memory that the host system of the engine has")?,
        container_states: IntGaugeVec::new(
            Opts::new("engine_daemon_container_states_containers", "The count of containers in various states"),
            &["state"],
        )?,
        container_actions: HistogramVec::new(
            HistogramOpts::new("engine_daemon_container_actions_seconds", "The number of seconds it takes to process each container action")
                .buckets(latency.clone()),
            &["action"],
        )?,
        events: IntCounter::new("engine_daemon_events_total", "The number of events logged")?,
        event_subscribers: IntGauge::new("engine_daemon_events_subscribers_total", "The number of current subscribers to events")?,
        start_seconds: prometheus::Histogram::with_opts(
            HistogramOpts::new("berth_container_start_seconds", "Seconds from a start request to the container's process running").buckets(latency.clone()),
        )?,
        pull_bytes: IntCounter::new("berth_pull_bytes_total", "Bytes of layer blobs received from registries")?,
        push_bytes: IntCounter::new("berth_push_bytes_total", "Bytes of blobs sent to registries")?,
        gc_runs: IntCounterVec::new(Opts::new("berth_gc_runs_total", "Garbage collections and prunes run, by kind"), &["kind"])?,
        gc_reclaimed: IntCounterVec::new(
            Opts::new("berth_gc_reclaimed_bytes_total", "Bytes freed by garbage collections and prunes, by kind"),
            &["kind"],
        )?,
        api_latency: HistogramVec::new(
            HistogramOpts::new("berth_api_request_duration_seconds", "Seconds from an API request to its response's head, by route")
                .buckets(latency),
            &["method", "route"],
        )?,
        registry,
    };
    m.registry.register(Box::new(m.engine_info.clone()))?;
    m.registry.register(Box::new(m.cpus.clone()))?;
    m.registry.register(Box::new(m.memory.clone()))?;
    m.registry.register(Box::new(m.container_states.clone()))?;
    m.registry.register(Box::new(m.container_actions.clone()))?;
    m.registry.register(Box::new(m.events.clone()))?;
    m.registry.register(Box::new(m.event_subscribers.clone()))?;
    m.registry.register(Box::new(m.start_seconds.clone()))?;
    m.registry.register(Box::new(m.pull_bytes.clone()))?;
    m.registry.register(Box::new(m.push_bytes.clone()))?;
    m.registry.register(Box::new(m.gc_runs.clone()))?;
    m.registry.register(Box::new(m.gc_reclaimed.clone()))?;
    m.registry.register(Box::new(m.api_latency.clone()))?;
    Ok(m)
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| build().expect("metric definitions are static and valid"));

/// The process's metrics.
pub fn get() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    /// Records one container action's duration (dockerd's `container_actions` histogram).
    pub fn container_action(&self, action: &str, took: Duration) {
        self.container_actions.with_label_values(&[action]).observe(took.as_secs_f64());
    }

    /// Records a collection or prune of `kind` that freed `bytes`.
    pub fn gc_run(&self, kind: &str, bytes: u64) {
        self.gc_runs.with_label_values(&[kind]).inc();
        self.gc_reclaimed.with_label_values(&[kind]).inc_by(bytes);
    }

    /// The text exposition (`text/plain; version=0.0.4`), with the scrape-time values brought up to date.
    pub fn render(&self) -> String {
        sync_counter(&self.pull_bytes, berth_distribution::stats::pulled_bytes());
        sync_counter(&self.push_bytes, berth_distribution::stats::pushed_bytes());
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for the metric types registered above.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Times one container action into `engine_daemon_container_actions_seconds` when dropped, so every
/// way out of the action (success or error) is counted.
pub struct ActionTimer {
    action: &'static str,
    started: std::time::Instant,
}

impl ActionTimer {
    /// Starts timing `action` (create, delete, commit, …).
    pub fn start(action: &'static str) -> ActionTimer {
        ActionTimer { action, started: std::time::Instant::now() }
    }
}

impl Drop for ActionTimer {
    fn drop(&mut self) {
        get().container_action(self.action, self.started.elapsed());
    }
}

/// Brings a counter up to a monotonic total kept elsewhere.
fn sync_counter(c: &IntCounter, total: u64) {
    let now = c.get();
    if total > now {
        c.inc_by(total - now);
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_dockerd_names_and_counts() {
        let m = get();
        m.container_action("start", Duration::from_millis(30));
        m.gc_run("images", 4096);
        m.events.inc();
        let text = m.render();
        for name in [
            "engine_daemon_container_actions_seconds_bucket{action=\"start\",le=\"0.032\"} 1",
            "berth_gc_runs_total{kind=\"images\"} 1",
            "berth_gc_reclaimed_bytes_total{kind=\"images\"} 4096",
            "# TYPE engine_daemon_events_total counter",
            "# TYPE berth_pull_bytes_total counter",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
