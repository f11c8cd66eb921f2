//! A container's side of networking: which networks it is configured on (create), attaching and
//! detaching them around each run, `network connect/disconnect`, and the `/etc/hosts` and
//! `/etc/resolv.conf` it sees.

use super::record::{ContainerRecord, Status};
use super::{ContainerService, Handle, ServiceError};
use crate::service::networks::check::View;
use crate::service::networks::endpoint::{host_ifname, AttachRequest, NetworkState};
use crate::service::networks::NetworkService;
use berth_api::config::ContainerConfig;
use berth_api::container::{HostConfig, NetworkingConfig};
use berth_api::network::EndpointSettings;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Whether a network mode puts the container on bridge networks (its own namespace, veths).
pub fn is_bridge_mode(mode: &str) -> bool {
    !matches!(mode, "host" | "none") && !mode.starts_with("container:") && netns_mode(mode).is_none()
}

/// The namespace of `ns:<path>` (Podman's `--network ns:<path>`): the container joins a network
/// namespace someone else made and configures (the CRI side's CNI-managed pod namespaces); the
/// daemon neither creates nor attaches it.
pub fn netns_mode(mode: &str) -> Option<&str> {
    mode.strip_prefix("ns:")
}

impl ContainerService {
    /// The networks a new container is configured on: `HostConfig.NetworkMode` first, then the
    /// other `EndpointsConfig` entries. Normalises the mode (`default` → `bridge`).
    pub(super) fn network_state(&self, h: &mut HostConfig, nc: Option<&NetworkingConfig>) -> Result<NetworkState, ServiceError> {
        if h.network_mode.is_empty() || h.network_mode == "default" {
            h.network_mode = "bridge".into();
        }
        let mut endpoints: Vec<(String, EndpointSettings)> = nc
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (if k == "default" { "bridge".to_string() } else { k }, v.unwrap_or_default()))
            .collect();
        let mut state = NetworkState::default();
        let mode = h.network_mode.clone();
        if mode.starts_with("container:") {
            return Ok(state);
        }
        if let Some(path) = netns_mode(&mode) {
            if !path.starts_with('/') {
                return Err(ServiceError::Invalid(format!("invalid network mode {mode:?}: ns: needs an absolute path")));
            }
            if !endpoints.is_empty() {
                return Err(ServiceError::Invalid("a container in a network namespace of its own (ns:) cannot be connected to networks".into()));
            }
            return Ok(state);
        }
        let primary = self.networks.get(&mode)?;
        if !is_bridge_mode(&mode) && !endpoints.iter().all(|(k, _)| self.networks.get(k).is_ok_and(|n| n.id == primary.id)) {
            return Err(ServiceError::Invalid("container cannot be disconnected from host network or connected to host network".into()));
        }
        if is_bridge_mode(&mode) && primary.driver != "bridge" {
            return Err(ServiceError::Invalid(format!("container cannot be connected to network {} of driver {}", primary.name, primary.driver)));
        }
        // The primary's settings may be keyed by its name or id.
        let pos = endpoints.iter().position(|(k, _)| self.networks.get(k).is_ok_and(|n| n.id == primary.id));
        let mut first = pos.map(|i| endpoints.remove(i).1).unwrap_or_default();
        let mut list = vec![];
        first.network_id = primary.id.clone();
        list.push((primary.clone(), first));
        for (k, mut ep) in endpoints {
            let net = self.networks.get(&k)?;
            if net.driver != "bridge" {
                return Err(ServiceError::Invalid(format!("container cannot be connected to network {} of driver {}", net.name, net.driver)));
            }
            ep.network_id = net.id.clone();
            list.push((net, ep));
        }
        for (net, ep) in list {
            // dockerd checks the address's syntax at create, on every network.
            if let Some(a) = ep.ipam_config.as_ref().map(|c| c.ipv6_address.as_str()).filter(|a| !a.is_empty()) {
                if a.parse::<std::net::Ipv6Addr>().is_err() {
                    return Err(ServiceError::Invalid(format!("invalid IPv6 address: {a}")));
                }
            }
            if !net.user_defined_bridge() && net.driver == "bridge" {
                if ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
                    return Err(ServiceError::Invalid("network-scoped alias is supported only for containers in user defined networks".into()));
                }
                if ep.ipam_config.as_ref().is_some_and(|c| !c.ipv4_address.is_empty() || !c.ipv6_address.is_empty()) {
                    return Err(ServiceError::Invalid("user specified IP address is supported on user defined networks only".into()));
                }
            }
            state.order.push(net.name.clone());
            state.networks.insert(net.name.clone(), EndpointSettings { network_id: net.id.clone(), ..clear(ep) });
        }
        Ok(state)
    }

    fn attach_request<'a>(&self, rec: &'a ContainerRecord) -> AttachRequest<'a> {
        let links = rec
            .host_config
            .links
            .clone()
            .unwrap_or_default()
            .iter()
            .filter_map(|l| {
                let (target, alias) = l.split_once(':').unwrap_or((l, l));
                let target = target.trim_start_matches('/');
                let alias = alias.rsplit('/').next().unwrap_or(alias);
                self.get(target).ok().map(|h| (h.snapshot().id, alias.to_string()))
            })
            .collect();
        AttachRequest {
            id: &rec.id,
            name: &rec.name,
            port_bindings: rec.host_config.port_bindings.clone().unwrap_or_default(),
            publish_all: rec.host_config.publish_all_ports,
            exposed: rec.config.exposed_ports.clone().unwrap_or_default().into_keys().collect(),
            dns: rec.host_config.dns.clone().unwrap_or_default(),
            links,
        }
    }

    /// Before a bridge-mode container starts: its namespace, endpoints, ports and DNS, saved with
    /// it, and its `/etc/hosts` and `/etc/resolv.conf` written for them.
    pub(super) async fn network_up(self: &Arc<Self>, h: &Handle) -> Result<(), ServiceError> {
        let rec = h.snapshot();
        if !is_bridge_mode(&rec.host_config.network_mode) || rec.config.network_disabled == Some(true) {
            return Ok(());
        }
        // Linked containers must run (dockerd's check at start).
        self.linked(&rec, true)?;
        let mut state = rec.network.clone();
        // `Config.MacAddress` (API < 1.44's place for it) is the primary endpoint's address, at
        // every start.
        if let Some(mac) = rec.config.mac_address.as_deref().filter(|m| !m.is_empty()) {
            if let Some(ep) = state.order.first().cloned().and_then(|n| state.networks.get_mut(&n)) {
                if ep.mac_address.is_empty() {
                    ep.mac_address = mac.to_string();
                }
            }
        }
        self.networks.attach(&self.attach_request(&rec), &mut state).await?;
        let rec = self.save(h, |r| r.network = state.clone())?;
        let mut written = self.write_etc_files(&rec);
        // The links' variables carry the linked containers' current addresses.
        if written.is_ok() && rec.host_config.links.is_some() {
            written = self.runtime_config(&rec).and_then(|runtime| {
                crate::service::offload::inline(|| berth_types::persist::replace_file_json(&self.dir(&rec.id).join("runtime.json"), &runtime))
                    .map_err(|e| ServiceError::Internal(format!("writing runtime.json: {e}")))
            });
        }
        if let Err(e) = written {
            self.network_down(h).await;
            return Err(e);
        }
        Ok(())
    }

    /// Networking for a build step that runs on the default network (Docker's classic builder puts
    /// `RUN` on the default bridge): an endpoint there, and the `/etc/hosts` (with `extra_hosts`)
    /// and `/etc/resolv.conf` a container on it gets. [`Self::step_network_down`] undoes it.
    pub async fn step_network_up(self: &Arc<Self>, id: &str, hostname: &str, network: &str, extra_hosts: &[String]) -> Result<StepNetwork, ServiceError> {
        let config = ContainerConfig { hostname: Some(hostname.to_string()), ..Default::default() };
        let host_config = HostConfig { network_mode: network.into(), extra_hosts: Some(extra_hosts.to_vec()), ..Default::default() };
        let mut rec = ContainerRecord::new(id.to_string(), id.to_string(), String::new(), String::new(), config, host_config);
        let mut state = self.network_state(&mut rec.host_config, None)?;
        self.networks.attach(&self.attach_request(&rec), &mut state).await?;
        rec.network = state;
        let (hosts, resolv) = self.etc_files(&rec);
        Ok(StepNetwork { netns: rec.network.sandbox_key.clone(), hosts, resolv, state: rec.network })
    }

    /// Releases a build step's endpoint and namespace.
    pub async fn step_network_down(&self, id: &str, mut net: StepNetwork) {
        self.networks.detach(id, &mut net.state).await;
    }

    /// After a bridge-mode container stopped (or failed to start): everything `network_up` made.
    pub(super) async fn network_down(&self, h: &Handle) {
        let rec = h.snapshot();
        if !is_bridge_mode(&rec.host_config.network_mode) || rec.network.sandbox_key.is_empty() && rec.network.networks.values().all(|e| e.endpoint_id.is_empty()) {
            return;
        }
        let mut state = rec.network.clone();
        self.networks.detach(&rec.id, &mut state).await;
        if let Err(e) = self.save(h, |r| r.network = state.clone()) {
            tracing::warn!(container.id = %rec.id, error = %e, "saving the container's network state failed");
        }
    }

    /// After a daemon restart, a running container's port proxies and DNS server again.
    pub(super) async fn network_restore(self: &Arc<Self>, h: &Handle) {
        let rec = h.snapshot();
        if !is_bridge_mode(&rec.host_config.network_mode) {
            return;
        }
        let mut state = rec.network.clone();
        if let Err(e) = self.networks.restore(&self.attach_request(&rec), &mut state).await {
            tracing::warn!(container.id = %rec.id, error = %e, "restoring the container's networking failed");
        }
        let _ = self.save(h, |r| r.network = state.clone());
    }

    /// Network id → containers attached to it now (running ones: as with Docker, a network only
    /// stopped containers are configured on can be removed; starting them then fails).
    pub fn network_users(&self) -> HashMap<String, Vec<String>> {
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for h in self.all() {
            let rec = h.snapshot();
            if !matches!(rec.state.status, Status::Running | Status::Paused | Status::Restarting) {
                continue;
            }
            for ep in rec.network.networks.values() {
                out.entry(ep.network_id.clone()).or_default().push(rec.id.clone());
            }
        }
        out
    }

    /// The ids of containers recorded as running (paused, restarting): whose namespaces stay.
    pub fn running_ids(&self) -> std::collections::HashSet<String> {
        self.all()
            .iter()
            .map(|h| h.snapshot())
            .filter(|r| matches!(r.state.status, Status::Running | Status::Paused | Status::Restarting))
            .map(|r| r.id)
            .collect()
    }

    /// Addresses held by running containers, by network id.
    pub fn held_addresses(&self) -> HashMap<String, Vec<std::net::IpAddr>> {
        let mut out: HashMap<String, Vec<std::net::IpAddr>> = HashMap::new();
        for h in self.all() {
            let rec = h.snapshot();
            if matches!(rec.state.status, Status::Running | Status::Paused | Status::Restarting) {
                for (net, ip) in NetworkService::held(&rec.network) {
                    out.entry(net).or_default().push(ip);
                }
            }
        }
        out
    }

    /// Daemon start, before networking is restored: an endpoint of a running container whose veth
    /// is gone was being disconnected when the daemon died (the veth goes first, then the record):
    /// the disconnect is finished.
    pub fn finish_disconnects(&self) {
        for h in self.all() {
            let rec = h.snapshot();
            if !matches!(rec.state.status, Status::Running | Status::Paused) || !is_bridge_mode(&rec.host_config.network_mode) {
                continue;
            }
            let gone: Vec<(String, String)> = rec
                .network
                .networks
                .iter()
                .filter(|(_, e)| !e.endpoint_id.is_empty() && !std::path::Path::new("/sys/class/net").join(host_ifname(&e.endpoint_id)).exists())
                .map(|(n, e)| (n.clone(), e.endpoint_id.clone()))
                .collect();
            if gone.is_empty() {
                continue;
            }
            let saved = self.save(&h, |r| {
                for (name, _) in &gone {
                    r.network.networks.remove(name);
                    r.network.order.retain(|n| n != name);
                }
            });
            match saved {
                Ok(_) => {
                    for (name, ep) in &gone {
                        self.networks.forget_endpoint(ep);
                        tracing::info!(container.id = %rec.id, network = %name, "finished a disconnect the previous daemon started");
                    }
                }
                Err(e) => tracing::warn!(container.id = %rec.id, error = %e, "finishing a disconnect failed"),
            }
        }
    }

    /// The endpoint ids of running (paused, restarting) containers.
    pub fn live_endpoints(&self) -> HashSet<String> {
        self.all()
            .iter()
            .map(|h| h.snapshot())
            .filter(|r| matches!(r.state.status, Status::Running | Status::Paused | Status::Restarting))
            .flat_map(|r| r.network.networks.into_values().map(|e| e.endpoint_id))
            .filter(|e| !e.is_empty())
            .collect()
    }

    /// For `system check`'s network part: running containers' network state, every container, and
    /// those with a lifecycle operation in flight (read after the host's side).
    pub fn network_view(&self, building: bool) -> View {
        let mut v = View { running: HashMap::new(), known: HashSet::new(), busy: HashSet::new(), building };
        for h in self.all() {
            let busy = h.op.try_lock().is_err();
            let rec = h.snapshot();
            if busy {
                v.busy.insert(rec.id.clone());
            }
            if matches!(rec.state.status, Status::Running | Status::Paused | Status::Restarting) {
                v.running.insert(rec.id.clone(), rec.network);
            }
            v.known.insert(rec.id);
        }
        v
    }

    /// Restores the networking of every running container (daemon start, after the networks).
    pub async fn restore_networking(self: &Arc<Self>) {
        for h in self.all() {
            if matches!(h.snapshot().state.status, Status::Running | Status::Paused) {
                self.network_restore(&h).await;
            }
        }
    }

    /// `POST /networks/{id}/connect`.
    pub async fn connect(self: &Arc<Self>, h: &Arc<Handle>, network: &str, ep: EndpointSettings) -> Result<(), ServiceError> {
        let _op = h.op.lock().await;
        let rec = h.snapshot();
        let net = self.networks.get(network)?;
        if !is_bridge_mode(&rec.host_config.network_mode) {
            return Err(ServiceError::Forbidden("container sharing network namespace with another container or host cannot be connected to any other network".into()));
        }
        // dockerd's order: the endpoint settings, then the network's driver, then a second endpoint.
        if !net.user_defined_bridge() && ep.ipam_config.as_ref().is_some_and(|c| !c.ipv4_address.is_empty() || !c.ipv6_address.is_empty()) {
            return Err(ServiceError::Invalid("user specified IP address is supported on user defined networks only".into()));
        }
        if !net.user_defined_bridge() && ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(ServiceError::Invalid("network-scoped alias is supported only for containers in user defined networks".into()));
        }
        if net.driver == "host" {
            return Err(ServiceError::Invalid("container cannot be disconnected from host network or connected to host network".into()));
        }
        if net.driver != "bridge" {
            return Err(ServiceError::Forbidden(format!("container cannot be connected to network {} of driver {}", net.name, net.driver)));
        }
        if rec.network.networks.values().any(|e| e.network_id == net.id) {
            // A stopped container keeps the settings it has, as dockerd does; a running one has
            // an endpoint there already.
            if !matches!(rec.state.status, Status::Running | Status::Paused) {
                return Ok(());
            }
            return Err(ServiceError::Forbidden(format!("endpoint with name {} already exists in network {}", rec.name, net.name)));
        }
        let mut ep = EndpointSettings { network_id: net.id.clone(), ..clear(ep) };
        if matches!(rec.state.status, Status::Running | Status::Paused) {
            let index = rec.network.order.len();
            self.networks.connect_running(&rec.id, &rec.name, &mut ep, index).await?;
        }
        let saved = self.save(h, |r| {
            r.network.order.push(net.name.clone());
            r.network.networks.insert(net.name.clone(), ep.clone());
        });
        let rec = match saved {
            Ok(rec) => rec,
            Err(e) => {
                // Not recorded: the endpoint goes again (a crash here is rolled back at start).
                self.networks.disconnect_running(&rec.id, &mut ep).await;
                return Err(e);
            }
        };
        if matches!(rec.state.status, Status::Running | Status::Paused) {
            let _ = self.refresh_hosts(&rec);
        }
        Ok(())
    }

    /// A running container's `/etc/hosts` rewritten for its current networks and links, in place:
    /// the file is bind-mounted into the container, which would keep seeing the old inode if a
    /// new file were renamed over it (dockerd edits it in place too).
    pub(super) fn refresh_hosts(&self, rec: &ContainerRecord) -> Result<(), ServiceError> {
        use std::io::Write;
        let (hosts, _) = self.etc_files(rec);
        let path = self.dir(&rec.id).join("hosts");
        crate::service::offload::inline(|| std::fs::OpenOptions::new().write(true).truncate(true).open(&path).and_then(|mut f| f.write_all(hosts.as_bytes())))
            .map_err(|e| ServiceError::Internal(format!("writing {}: {e}", path.display())))
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect(&self, h: &Arc<Handle>, network: &str) -> Result<(), ServiceError> {
        let _op = h.op.lock().await;
        let rec = h.snapshot();
        let net = self.networks.get(network)?;
        let Some((name, mut ep)) = rec.network.networks.iter().find(|(_, e)| e.network_id == net.id).map(|(n, e)| (n.clone(), e.clone())) else {
            return Err(ServiceError::Forbidden(format!("container {} is not connected to network {}", rec.id, net.name)));
        };
        if !is_bridge_mode(&rec.host_config.network_mode) {
            return Err(ServiceError::Forbidden("container cannot be disconnected from host network or connected to host network".into()));
        }
        self.networks.disconnect_running(&rec.id, &mut ep).await;
        let rec = self.save(h, |r| {
            r.network.networks.remove(&name);
            r.network.order.retain(|n| n != &name);
        })?;
        // That network's addresses leave the container's /etc/hosts, the others' stay (dockerd
        // 20.10 removes every line naming the hostname, the other networks' too: a bug).
        if matches!(rec.state.status, Status::Running | Status::Paused) {
            let _ = self.refresh_hosts(&rec);
        }
        Ok(())
    }
}

/// Endpoint settings as configured (the runtime fields cleared).
/// A build step's network: its namespace and the files to mount at `/etc/hosts` and
/// `/etc/resolv.conf`.
pub struct StepNetwork {
    /// The network namespace to join.
    pub netns: String,
    /// `/etc/hosts`.
    pub hosts: String,
    /// `/etc/resolv.conf`.
    pub resolv: String,
    state: NetworkState,
}

fn clear(ep: EndpointSettings) -> EndpointSettings {
    EndpointSettings { ipam_config: ep.ipam_config, links: ep.links, aliases: ep.aliases, mac_address: ep.mac_address, driver_opts: ep.driver_opts, ..Default::default() }
}
