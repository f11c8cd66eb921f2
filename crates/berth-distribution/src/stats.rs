//! Process-wide transfer counters (bytes of layer blobs that crossed the wire), read by the daemon's
//! Prometheus metrics. Atomics rather than a metrics dependency: this crate knows nothing of exporters.

use std::sync::atomic::{AtomicU64, Ordering};

static PULLED: AtomicU64 = AtomicU64::new(0);
static PUSHED: AtomicU64 = AtomicU64::new(0);

/// Bytes of layer blobs received from registries by this process (retries and resumes included).
pub fn pulled_bytes() -> u64 {
    PULLED.load(Ordering::Relaxed)
}

/// Bytes of blobs (layers and configs) sent to registries by this process (retries included).
pub fn pushed_bytes() -> u64 {
    PUSHED.load(Ordering::Relaxed)
}

pub(crate) fn add_pulled(n: usize) {
    PULLED.fetch_add(n as u64, Ordering::Relaxed);
}

pub(crate) fn add_pushed(n: usize) {
    PUSHED.fetch_add(n as u64, Ordering::Relaxed);
}
