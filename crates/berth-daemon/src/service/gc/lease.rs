//! Leases: what an operation in flight holds so the collector never sweeps what it is making.
//!
//! A lease protects, by time, everything the content store and the snapshotter see used (written,
//! found, looked up, mounted) since the lease began: the collector's horizon is the start of the
//! oldest live lease, and the stores refuse to delete anything used at or after it (the check sits
//! under the same lock as the uses). So a pull that found a layer "Already exists", a build that
//! unpacked a parent, or a create that prepared a snapshot keeps it until its result is recorded
//! (an image record, a container, a cache entry), at which point the result is a root.
//!
//! Leases live in the daemon's memory, because every operation that takes one runs in the daemon:
//! a lease dies with its owner. After a crash the new daemon starts with none, so what interrupted
//! operations left (partial pulls, build steps, unpacks) is unreferenced and the start-up
//! collection reclaims it. A lease also expires after [`LEASE_EXPIRY`], so an operation that hangs
//! cannot pin garbage forever.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How long a lease protects what its operation uses.
pub const LEASE_EXPIRY: Duration = Duration::from_secs(24 * 3600);

/// One live lease, as `system check` and logs show it.
#[derive(Debug, Clone)]
pub struct LeaseInfo {
    /// What holds it: `pull`, `push`, `build`, `create`, `commit`, `import`, `load`.
    pub kind: &'static str,
    /// When it began (monotonic; compared with the stores' use times).
    pub started: Instant,
    /// When it began (wall clock, for display).
    pub since: SystemTime,
}

/// The daemon's live leases.
#[derive(Debug, Default)]
pub struct Leases {
    live: Mutex<BTreeMap<u64, LeaseInfo>>,
    next: AtomicU64,
}

/// A held lease; dropping it ends it.
#[derive(Debug)]
pub struct Lease {
    leases: Arc<Leases>,
    id: u64,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.leases.live.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

impl Leases {
    /// Takes a lease for an operation of `kind`; it lasts until the returned guard is dropped.
    pub fn acquire(self: &Arc<Self>, kind: &'static str) -> Lease {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let info = LeaseInfo { kind, started: Instant::now(), since: SystemTime::now() };
        self.live.lock().unwrap_or_else(|e| e.into_inner()).insert(id, info);
        Lease { leases: self.clone(), id }
    }

    /// The collector's horizon: the start of the oldest unexpired lease, or now. Anything used at
    /// or after it is kept.
    pub fn horizon(&self) -> Instant {
        let now = Instant::now();
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|l| now.duration_since(l.started) < LEASE_EXPIRY)
            .map(|l| l.started)
            .min()
            .unwrap_or(now)
    }

    /// The live leases.
    pub fn list(&self) -> Vec<LeaseInfo> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizon_is_the_oldest_live_lease_and_moves_when_it_ends() {
        let leases = Arc::new(Leases::default());
        let before = Instant::now();
        let a = leases.acquire("pull");
        let b = leases.acquire("build");
        let h = leases.horizon();
        assert!(h >= before && h <= Instant::now());
        assert_eq!(leases.list().len(), 2);
        drop(a);
        let h2 = leases.horizon();
        assert!(h2 > h, "the oldest lease ended");
        drop(b);
        assert!(leases.horizon() >= h2);
        assert!(leases.list().is_empty());
    }
}
