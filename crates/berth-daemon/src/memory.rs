//! Giving freed heap memory back to the system once the daemon goes quiet.
//!
//! glibc's allocator keeps what a burst of requests freed (listing 100 images 2,000 times leaves
//! ~2.5 MB of free but resident heap in its arenas) and only returns the top of each heap. After
//! the API has been quiet for a moment, [`trim_when_idle`] asks it to release every free page
//! (`malloc_trim`), as Go's scavenger does for dockerd. It runs at most once per quiet spell, on the
//! blocking pool, and never while requests keep coming.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long the API must have been quiet before the heap is trimmed.
const QUIET: Duration = Duration::from_millis(500);

static ACTIVE_SINCE_TRIM: AtomicBool = AtomicBool::new(false);
static LAST_REQUEST_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Records API activity (called for every request).
pub fn touch() {
    LAST_REQUEST_MS.store(epoch().elapsed().as_millis() as u64, Ordering::Relaxed);
    ACTIVE_SINCE_TRIM.store(true, Ordering::Relaxed);
}

/// Trims the heap after each quiet spell that followed activity; runs until the runtime stops.
pub async fn trim_when_idle() {
    let mut tick = tokio::time::interval(QUIET);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let quiet_for = (epoch().elapsed().as_millis() as u64).saturating_sub(LAST_REQUEST_MS.load(Ordering::Relaxed));
        if quiet_for >= QUIET.as_millis() as u64 && ACTIVE_SINCE_TRIM.swap(false, Ordering::Relaxed) {
            let _ = tokio::task::spawn_blocking(release_free_heap).await;
        }
    }
}

#[cfg(target_env = "gnu")]
#[allow(unsafe_code)]
fn release_free_heap() {
    // SAFETY: malloc_trim only walks the allocator's own arenas, under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(target_env = "gnu"))]
fn release_free_heap() {}
