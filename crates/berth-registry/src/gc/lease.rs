//! The GC lease (one collector at a time across replicas) and the store's clock.
//!
//! The store offers no compare-and-swap (RGW and S3 of 2020 have no conditional put), so the lease is
//! taken by write-then-verify: a collector reads `_gc/lease`; if it is held and not expired it backs
//! off; else it writes its own holder id, waits `SETTLE`, and reads it back. Two collectors that both
//! found the lease free both write; the store keeps the later write (strong read-after-write), so the
//! earlier one reads the other's id after the settle delay and backs off. This relies on a collector's
//! read-to-write gap being shorter than `SETTLE`: two small requests against a delay of seconds.

use crate::errors::StorageError;
use crate::storage::{paths, Driver, StorageDriver};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// How long a new holder waits before checking it won the lease, on stores several processes share.
const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    holder: String,
    /// Lease lifetime in seconds, counted from the lease object's mtime (the store's clock).
    ttl_secs: u64,
}

/// A held lease.
#[derive(Debug)]
pub(super) struct Lease {
    holder: String,
    ttl: Duration,
}

/// The store's notion of "now": the mtime of an object just written, so ages compare timestamps of
/// one clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct StoreClock {
    /// Store time at the reading.
    store: SystemTime,
    /// Local time at the reading, to advance `store` as the collection runs.
    local: std::time::Instant,
    /// Added to every age: S3 timestamps have whole seconds, so a fresh object can look a second old.
    slack: Duration,
}

impl StoreClock {
    pub(super) async fn read(d: &Driver) -> Result<StoreClock, StorageError> {
        let probe = format!("_gc/clock-{}", &berth_types::random_id()[..16]);
        d.put_content(&probe, Bytes::new()).await?;
        let local = std::time::Instant::now();
        let store = d.stat(&probe).await?.modified;
        if let Err(e) = d.delete(&probe).await {
            tracing::debug!(error = %e, "cannot remove the clock probe");
        }
        let slack = if d.shared() { Duration::from_secs(1) } else { Duration::ZERO };
        Ok(StoreClock { store, local, slack })
    }

    fn now(&self) -> SystemTime {
        self.store + self.local.elapsed()
    }

    /// Whether store timestamp `t` is at least `age` old.
    pub(super) fn older_than(&self, t: SystemTime, age: Duration) -> bool {
        let slack = if age.is_zero() { Duration::ZERO } else { self.slack };
        self.now().duration_since(t).is_ok_and(|d| d >= age + slack)
    }
}

impl Lease {
    /// Takes the lease, or `None` if another collector holds it.
    pub(super) async fn acquire(d: &Driver, ttl: Duration) -> Result<Option<Lease>, StorageError> {
        if let Some(holder) = current_holder(d).await? {
            tracing::info!(holder = %holder, "gc skipped: another collector holds the lease");
            return Ok(None);
        }
        let lease = Lease { holder: berth_types::random_id()[..16].to_string(), ttl };
        lease.write(d).await?;
        if d.shared() {
            tokio::time::sleep(SETTLE).await;
        }
        match current_holder(d).await? {
            Some(h) if h == lease.holder => Ok(Some(lease)),
            other => {
                tracing::info!(holder = ?other, "gc skipped: another collector took the lease first");
                Ok(None)
            }
        }
    }

    async fn write(&self, d: &Driver) -> Result<(), StorageError> {
        let r = Record { holder: self.holder.clone(), ttl_secs: self.ttl.as_secs().max(1) };
        let json = serde_json::to_vec(&r).unwrap_or_default();
        d.put_content(paths::GC_LEASE, Bytes::from(json)).await
    }

    /// Extends the lease; fails if it was lost (expired and taken by another collector).
    pub(super) async fn renew(&mut self, d: &Driver) -> Result<(), StorageError> {
        match current_holder(d).await? {
            Some(h) if h == self.holder => self.write(d).await,
            _ => Err(StorageError::Io {
                op: "renew gc lease",
                path: paths::GC_LEASE.into(),
                source: std::io::Error::other("the GC lease expired and another collector took it"),
            }),
        }
    }

    /// Gives the lease up if still held.
    pub(super) async fn release(self, d: &Driver) {
        if let Ok(Some(h)) = current_holder(d).await {
            if h == self.holder {
                if let Err(e) = d.delete(paths::GC_LEASE).await {
                    tracing::warn!(error = %e, "cannot release the gc lease; it expires");
                }
            }
        }
    }
}

/// The holder of an unexpired lease, if any.
async fn current_holder(d: &Driver) -> Result<Option<String>, StorageError> {
    let body = match d.get_content(paths::GC_LEASE).await {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let Ok(r) = serde_json::from_slice::<Record>(&body) else { return Ok(None) };
    let written = match d.stat(paths::GC_LEASE).await {
        Ok(i) => i.modified,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let clock = StoreClock::read(d).await?;
    Ok((!clock.older_than(written, Duration::from_secs(r.ttl_secs))).then_some(r.holder))
}
