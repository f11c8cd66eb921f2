//! Where blocking work runs, so the control path (`/_ping`, `ps`, `inspect`, events) never waits
//! behind the data path. The async workers only poll sockets and futures; everything that can block
//! a thread — file walks, recursive deletes, fsyncs, cgroup writes, `/proc` reads, `iptables`,
//! sleeps — goes through one of these:
//!
//! - [`blocking`]: an ordinary synchronous call (a store update with its fsync, a cgroup write) on
//!   tokio's blocking pool;
//! - [`heavy`]: a walk or recursive delete whose length grows with what users store (system df,
//!   prune, changes, removing a container, snapshot or volume). Also on the blocking pool, but at
//!   most [`heavy_limit`] at once, so a burst of them cannot take every core and disk queue;
//! - [`removal`]: removing a container's files (its directory and writable layer). These wait on
//!   the disk far more than they use the CPU — every unlink of a file or directory with blocks
//!   waits for its discard on a filesystem mounted with `discard`, the renames for their fsyncs —
//!   so they get [`removal_limit`] slots, more than the heavy walks: two at a time left the disk
//!   idle while `rm` of 1,000 stopped containers queued behind them (3.3x dockerd's time, which
//!   removes them all at once);
//! - [`inline`]: a short synchronous step inside an async operation that holds state across it (a
//!   container's lifecycle lock, an `&mut` record): the worker hands its other tasks to a fresh
//!   thread for the duration (`block_in_place`), so nothing else waits for it.
//!
//! Each runs its closure at the daemon's CPU priority, below the async workers' (`crate::priority`,
//! through `berth_types::sched`, which every crate's blocking work goes through), so the workers
//! preempt it, and the processes it starts do not inherit the workers' priority.
//!
//! docs/ARCHITECTURE.md ("Which work runs where") states the rule reviewers check.

use super::ServiceError;
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// How many heavy walks run at once: one per core, at least two.
pub fn heavy_limit() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2)
}

fn heavy_permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| Arc::new(Semaphore::new(heavy_limit()))).clone()
}

/// How many container removals delete files at once: four per core, at least eight.
pub fn removal_limit() -> usize {
    heavy_limit() * 4
}

fn removal_permits() -> Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| Arc::new(Semaphore::new(removal_limit()))).clone()
}

/// Runs `f` on the blocking pool and waits for it.
pub async fn blocking<T, F>(f: F) -> Result<T, ServiceError>
where
    F: FnOnce() -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    berth_types::sched::spawn_blocking(f).await?
}

/// Runs a walk or recursive delete on the blocking pool, once one of the [`heavy_limit`] slots is
/// free. The slot is held until `f` returns, even if the caller stops waiting.
pub async fn heavy<T, F>(f: F) -> Result<T, ServiceError>
where
    F: FnOnce() -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    limited(heavy_permits(), f).await
}

/// Runs the deletion of a container's files on the blocking pool, once one of the
/// [`removal_limit`] slots is free (held until `f` returns, even if the caller stops waiting).
pub async fn removal<T, F>(f: F) -> Result<T, ServiceError>
where
    F: FnOnce() -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    limited(removal_permits(), f).await
}

async fn limited<T, F>(permits: Arc<Semaphore>, f: F) -> Result<T, ServiceError>
where
    F: FnOnce() -> Result<T, ServiceError> + Send + 'static,
    T: Send + 'static,
{
    let permit = permits.acquire_owned().await.map_err(|_| ServiceError::Internal("the blocking-work limiter is closed".into()))?;
    // Owned by the blocking task, so a client that goes away does not free the slot early.
    berth_types::sched::spawn_blocking(move || {
        let _slot = permit;
        f()
    })
    .await?
}

/// Runs a short blocking step from async code without holding up the worker's other tasks. On a
/// current-thread runtime (unit tests) or off the runtime it simply runs `f`.
pub fn inline<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| berth_types::sched::background(f)),
        _ => berth_types::sched::background(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn heavy_work_runs_at_most_the_limit_at_once() {
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = Vec::new();
        for _ in 0..heavy_limit() * 3 {
            let (now, peak) = (now.clone(), peak.clone());
            tasks.push(tokio::spawn(heavy(move || {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), heavy_limit());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn removals_run_beside_each_other_up_to_their_own_limit() {
        let (now, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = Vec::new();
        for _ in 0..removal_limit() * 2 {
            let (now, peak) = (now.clone(), peak.clone());
            tasks.push(tokio::spawn(removal(move || {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                now.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(removal_limit() > heavy_limit());
        assert_eq!(peak.load(Ordering::SeqCst), removal_limit());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn inline_work_does_not_stop_other_tasks() {
        // One worker: without block_in_place the ticker could not run while `inline` sleeps.
        let ticks = Arc::new(AtomicUsize::new(0));
        let t = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                t.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let before = ticks.load(Ordering::SeqCst);
        inline(|| std::thread::sleep(Duration::from_millis(200)));
        let after = ticks.load(Ordering::SeqCst);
        ticker.abort();
        assert!(after >= before + 10, "ticks {before} -> {after}");
    }
}
