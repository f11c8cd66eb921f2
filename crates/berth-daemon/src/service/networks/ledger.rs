//! Endpoint records: `endpoints/<endpoint id>.json`, written (atomically) before an endpoint's veth
//! is made and removed after it is gone. They tell this daemon's veths from anyone else's (the
//! host-side name, `veth` + the endpoint id's first 7 characters, does not name the daemon), and
//! let the next start remove a veth a crash left between making it and recording the container's
//! endpoint (`network connect`, start).

use super::{internal, NetworkService};
use crate::service::ServiceError;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// One endpoint of this daemon, from before its veth exists until after it is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// The endpoint id.
    pub endpoint: String,
    /// The container (or build step) it belongs to.
    pub container: String,
    /// The network.
    pub network: String,
    /// The host-side veth.
    pub ifname: String,
    /// Its address.
    pub ip: Ipv4Addr,
}

impl NetworkService {
    fn endpoint_path(&self, endpoint: &str) -> PathBuf {
        self.endpoints_dir.join(format!("{endpoint}.json"))
    }

    /// Records an endpoint about to be made.
    pub(super) fn record_endpoint(&self, rec: &EndpointRecord) -> Result<(), ServiceError> {
        berth_types::persist::atomic_write_json(&self.endpoint_path(&rec.endpoint), rec).map_err(|e| internal(format!("recording endpoint {}: {e}", rec.endpoint)))
    }

    /// Forgets an endpoint whose veth is gone.
    pub fn forget_endpoint(&self, endpoint: &str) {
        match std::fs::remove_file(self.endpoint_path(endpoint)) {
            Ok(()) => {
                let _ = berth_types::persist::sync_dir(&self.endpoints_dir);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(endpoint, error = %e, "removing an endpoint record failed"),
        }
    }

    /// Every endpoint record, with its path.
    pub fn endpoint_records(&self) -> Vec<(PathBuf, EndpointRecord)> {
        let Ok(rd) = std::fs::read_dir(&self.endpoints_dir) else { return Vec::new() };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            match std::fs::read(&p).ok().and_then(|b| serde_json::from_slice::<EndpointRecord>(&b).ok()) {
                Some(r) => out.push((p, r)),
                None => tracing::warn!(path = %p.display(), "skipping an unreadable endpoint record"),
            }
        }
        out
    }

    /// Daemon start, once containers are recovered: removes the veth and the record of every
    /// endpoint no running container has (`live`: endpoint ids). What a crash left between making an
    /// endpoint and recording it with its container (its address is given back by `reconcile`).
    pub async fn sweep_endpoints(&self, live: &std::collections::HashSet<String>) {
        for (_, rec) in crate::service::offload::inline(|| self.endpoint_records()) {
            if live.contains(&rec.endpoint) {
                continue;
            }
            match berth_network::link::delete_link(&rec.ifname).await {
                Ok(()) => {
                    tracing::info!(container.id = %rec.container, veth = %rec.ifname, "removed an endpoint the previous daemon never recorded");
                    crate::service::offload::inline(|| self.forget_endpoint(&rec.endpoint));
                }
                Err(e) => tracing::warn!(veth = %rec.ifname, error = %e, "removing a leftover veth failed"),
            }
        }
    }
}
