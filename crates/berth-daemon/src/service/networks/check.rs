//! The network part of `system check`: leftovers of this daemon in the host's network stack.
//!
//! - veths: a host-side veth is this daemon's when an endpoint record names it ([`super::ledger`])
//!   or when it is enslaved to one of this daemon's bridges; it is left over when no running
//!   container has its endpoint (a crash mid `network connect` or mid start).
//! - endpoint records whose veth is gone and no running container has.
//! - firewall rules in this daemon's chains (its own prefix, so never another daemon's) that name an
//!   interface that is none of its networks' bridges, or send to (DNAT, hairpin) a container address
//!   no running container publishes a port on.
//! - addresses a network's pool has given out that no running container holds.
//! - bridges of its networks that are missing.
//!
//! What an operation in flight is making is not a leftover: the state is read after the host's
//! (so an operation that finished meanwhile is seen finished), and the containers whose lifecycle
//! lock is held (and, while a build runs, build steps) are skipped.

use super::endpoint::{host_ifname, NetworkState};
use super::ledger::EndpointRecord;
use super::NetworkService;
use berth_network::firewall::ListedRule;
use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::Path;

/// A host link: its name and the bridge it is enslaved to.
#[derive(Debug, Clone)]
struct HostLink {
    name: String,
    master: Option<String>,
}

/// The host's side, read before the containers' state.
pub struct Seen {
    links: Vec<HostLink>,
    rules: Result<Vec<ListedRule>, String>,
    records: Vec<EndpointRecord>,
}

/// The containers' side, read after [`Seen`].
pub struct View {
    /// Running (paused, restarting) containers' network state.
    pub running: HashMap<String, NetworkState>,
    /// Every container id.
    pub known: HashSet<String>,
    /// Containers with a lifecycle operation in flight.
    pub busy: HashSet<String>,
    /// A build holds a lease (its steps have endpoints of their own).
    pub building: bool,
}

/// What repairing a finding does.
#[derive(Debug, Clone)]
pub enum Fix {
    /// Delete the veth (and forget its record).
    Veth { ifname: String, endpoint: Option<String> },
    /// Forget an endpoint record.
    Record(String),
    /// Delete a rule from the daemon's chains.
    Rule(ListedRule),
    /// Give an address back to a network's pool.
    Address { network: String, ip: Ipv4Addr },
    /// Create a network's bridge and rules again.
    Bridge(String),
    /// Nothing a repair can do.
    None,
}

/// One network leftover.
#[derive(Debug, Clone)]
pub struct NetFinding {
    /// `veth`, `endpoint`, `firewall`, `address`, `network`.
    pub kind: &'static str,
    /// What it is about.
    pub id: String,
    /// What is wrong.
    pub problem: String,
    /// How `repair` fixes it.
    pub fix: Fix,
}

/// Links of the host's network namespace, from sysfs (the daemon's own namespace).
fn host_links() -> Vec<HostLink> {
    let base = Path::new("/sys/class/net");
    let Ok(rd) = std::fs::read_dir(base) else { return Vec::new() };
    rd.flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let master = std::fs::read_link(base.join(&name).join("master")).ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
            HostLink { name, master }
        })
        .collect()
}

impl NetworkService {
    /// Reads the host's side (first; see the module doc). Blocking.
    pub fn seen(&self) -> Seen {
        Seen {
            links: host_links(),
            rules: self.firewall.listed_rules().map_err(|e| e.to_string()),
            records: self.endpoint_records().into_iter().map(|(_, r)| r).collect(),
        }
    }

    /// The leftovers in `seen`, given the containers' state `view`.
    pub fn leftovers(&self, seen: &Seen, view: &View) -> Vec<NetFinding> {
        let nets: Vec<super::NetworkRecord> = self.nets.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        let bridges: HashSet<&str> = nets.iter().filter(|n| n.driver == "bridge" && !n.bridge.is_empty()).map(|n| n.bridge.as_str()).collect();
        let live_eps: HashSet<&str> = view.running.values().flat_map(|s| s.networks.values()).map(|e| e.endpoint_id.as_str()).filter(|e| !e.is_empty()).collect();
        let live_ifnames: HashSet<String> = live_eps.iter().map(|e| host_ifname(e)).collect();
        let held: HashSet<(String, std::net::IpAddr)> = view.running.values().flat_map(NetworkService::held).collect();
        // Records of operations in flight: what they make is not a leftover.
        let in_flight = |c: &str| view.busy.contains(c) || (view.building && !view.known.contains(c));
        let by_ifname: HashMap<&str, &EndpointRecord> = seen.records.iter().map(|r| (r.ifname.as_str(), r)).collect();
        let link_names: HashSet<&str> = seen.links.iter().map(|l| l.name.as_str()).collect();
        let mut out = Vec::new();

        for l in &seen.links {
            let record = by_ifname.get(l.name.as_str());
            let on_ours = l.name.starts_with("veth") && l.master.as_deref().is_some_and(|m| bridges.contains(m));
            if (record.is_none() && !on_ours) || live_ifnames.contains(&l.name) || record.is_some_and(|r| in_flight(&r.container)) {
                continue;
            }
            // A veth on a bridge without a record: an endpoint of a build step while a build runs.
            if record.is_none() && view.building && l.master.as_deref().is_some_and(|m| m == self.opts.bridge) {
                continue;
            }
            let problem = match record {
                Some(r) => format!("veth of container {}'s endpoint on network {}, which no running container has", short(&r.container), short(&r.network)),
                None => format!("veth on bridge {} with no endpoint of a running container", l.master.as_deref().unwrap_or("")),
            };
            out.push(NetFinding { kind: "veth", id: l.name.clone(), problem, fix: Fix::Veth { ifname: l.name.clone(), endpoint: record.map(|r| r.endpoint.clone()) } });
        }
        for r in seen.records.iter().filter(|r| !live_eps.contains(r.endpoint.as_str()) && !in_flight(&r.container) && !link_names.contains(r.ifname.as_str())) {
            out.push(NetFinding {
                kind: "endpoint",
                id: r.endpoint.clone(),
                problem: format!("record of container {}'s endpoint whose veth {} is gone", short(&r.container), r.ifname),
                fix: Fix::Record(r.endpoint.clone()),
            });
        }

        match &seen.rules {
            Err(e) => out.push(NetFinding { kind: "firewall", id: self.firewall.prefix().to_string(), problem: format!("listing the rules failed: {e}"), fix: Fix::None }),
            Ok(rules) => {
                let ported = self.port_addresses();
                let busy_ip = |ip: Ipv4Addr| seen.records.iter().any(|r| r.ip == ip && in_flight(&r.container));
                for rule in rules.iter().filter(|r| !self.firewall.is_skeleton(r)) {
                    let problem = if let Some(i) = rule.interfaces().into_iter().find(|i| !bridges.contains(i)) {
                        format!("names interface {i}, which is no bridge of this daemon's networks")
                    } else if let Some(ip) = rule.container_address().filter(|ip| !ported.contains(ip) && !busy_ip(*ip)) {
                        format!("sends to {ip}, where no running container publishes a port")
                    } else {
                        continue;
                    };
                    out.push(NetFinding { kind: "firewall", id: rule.line(), problem, fix: Fix::Rule(rule.clone()) });
                }
            }
        }

        for n in &nets {
            if n.driver == "bridge" && n.pool.is_some() && !n.bridge.is_empty() && !link_names.contains(n.bridge.as_str()) {
                out.push(NetFinding { kind: "network", id: n.name.clone(), problem: format!("bridge {} is missing", n.bridge), fix: Fix::Bridge(n.id.clone()) });
            }
            let Some(pool) = &n.pool else { continue };
            for ip in pool.allocated() {
                if held.contains(&(n.id.clone(), std::net::IpAddr::V4(ip))) || seen.records.iter().any(|r| r.ip == ip && r.network == n.id && in_flight(&r.container)) {
                    continue;
                }
                out.push(NetFinding {
                    kind: "address",
                    id: format!("{}/{ip}", n.name),
                    problem: "given out, but no running container holds it".into(),
                    fix: Fix::Address { network: n.id.clone(), ip },
                });
            }
        }
        out
    }

    /// Repairs one finding. Blocking (call from `spawn_blocking`; `rt` runs the netlink calls).
    pub fn repair(&self, f: &NetFinding, rt: &tokio::runtime::Handle) -> Result<(), String> {
        match &f.fix {
            Fix::Veth { ifname, endpoint } => {
                rt.block_on(berth_network::link::delete_link(ifname)).map_err(|e| e.to_string())?;
                if let Some(e) = endpoint {
                    self.forget_endpoint(e);
                }
                Ok(())
            }
            Fix::Record(e) => {
                self.forget_endpoint(e);
                Ok(())
            }
            Fix::Rule(r) => self.firewall.delete_listed(r).map_err(|e| e.to_string()),
            Fix::Address { network, ip } => {
                self.release(network, Some(*ip), None);
                Ok(())
            }
            Fix::None => Err("not repairable".into()),
            Fix::Bridge(id) => {
                let n = self.get(id).map_err(|e| e.to_string())?;
                rt.block_on(self.install(&n)).map_err(|e| e.to_string())
            }
        }
    }
}

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}
