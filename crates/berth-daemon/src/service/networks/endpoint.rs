//! Attaching a container to its networks: a network namespace kept at `netns/<id>`, a veth pair per
//! network (an address from the network's pool, the default route through the first), published
//! ports (a userland proxy for the host's own addresses, IPv4 DNAT rules for everyone else) and, on
//! user-defined networks, the embedded DNS server on 127.0.0.11 inside the container.

use crate::service::offload;
use super::{internal, Member, NetworkRecord, NetworkService};
use crate::service::ServiceError;
use berth_api::network::{EndpointSettings, PortBinding};
use berth_network::dns::{self, DnsHandle, Resolver};
use berth_network::firewall::{PortRule, Proto};
use berth_network::link::{self, EndpointConfig};
use berth_network::netns::NetNs;
use berth_network::proxy::{self, ProxyHandle};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Weak};

/// A container's networking as persisted with it: its endpoint on each network (addresses filled
/// while it runs) and its published ports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkState {
    /// Network name → endpoint, the primary network (`HostConfig.NetworkMode`) first in `order`.
    pub networks: BTreeMap<String, EndpointSettings>,
    /// Network names in attach order (eth0, eth1, …).
    #[serde(default)]
    pub order: Vec<String>,
    /// `"80/tcp"` → host bindings (null: exposed, not published). Filled while running.
    #[serde(default)]
    pub ports: BTreeMap<String, Option<Vec<PortBinding>>>,
    /// The network namespace path while running.
    #[serde(default)]
    pub sandbox_key: String,
}

/// What a container asks of its networks when it starts.
pub struct AttachRequest<'a> {
    /// Container id.
    pub id: &'a str,
    /// Container name.
    pub name: &'a str,
    /// `HostConfig.PortBindings`.
    pub port_bindings: BTreeMap<String, Option<Vec<PortBinding>>>,
    /// `-P`.
    pub publish_all: bool,
    /// `ExposedPorts` keys.
    pub exposed: Vec<String>,
    /// `--dns` servers (the embedded DNS forwards to them).
    pub dns: Vec<String>,
    /// `--link` (target container id, alias).
    pub links: Vec<(String, String)>,
}

/// Live resources of a running container's networking (dropped: ports closed, DNS stopped).
#[derive(Default)]
pub struct Live {
    proxies: Vec<ProxyHandle>,
    rules: Vec<PortRule>,
    dns: Option<DnsHandle>,
}

/// The host-side veth name of an endpoint.
pub fn host_ifname(endpoint: &str) -> String {
    format!("veth{}", &endpoint[..7.min(endpoint.len())])
}

/// Answers the embedded DNS server's questions for one container.
struct ContainerResolver {
    service: Weak<NetworkService>,
    container: String,
    /// `--link` aliases → container ids.
    links: Vec<(String, String)>,
}

impl ContainerResolver {
    /// The addresses (IPv4, IPv6) of the members `name` names on this container's networks: a link
    /// alias, a container name (bare or `NAME.NETWORK`) or a network alias.
    fn members_named(&self, name: &str) -> Option<Vec<(Ipv4Addr, Option<Ipv6Addr>)>> {
        let svc = self.service.upgrade()?;
        let nets = self.networks(&svc);
        let target = self.links.iter().find(|(_, alias)| alias.eq_ignore_ascii_case(name)).map(|(id, _)| id.clone());
        let members = svc.members.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = vec![];
        for id in &nets {
            let netname = svc.nets.lock().unwrap_or_else(|p| p.into_inner()).get(id).map(|n| n.name.clone()).unwrap_or_default();
            // This container's links on this network name their targets by name.
            let linked = members
                .get(id)
                .into_iter()
                .flatten()
                .filter(|m| m.container == self.container)
                .flat_map(|m| m.links.iter())
                .find(|(_, alias)| alias.eq_ignore_ascii_case(name))
                .map(|(target, _)| target.clone());
            for m in members.get(id).into_iter().flatten() {
                let hit = target.as_deref() == Some(m.container.as_str())
                    || linked.as_deref().is_some_and(|t| m.name.eq_ignore_ascii_case(t) || m.container == t)
                    || m.name.eq_ignore_ascii_case(name)
                    || format!("{}.{netname}", m.name).eq_ignore_ascii_case(name)
                    || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(name));
                if hit {
                    out.push((m.ip, m.ip6));
                }
            }
        }
        Some(out)
    }

    fn networks(&self, svc: &NetworkService) -> Vec<String> {
        let members = svc.members.lock().unwrap_or_else(|p| p.into_inner());
        let nets = svc.nets.lock().unwrap_or_else(|p| p.into_inner());
        members
            .iter()
            .filter(|(id, ms)| nets.get(*id).is_some_and(NetworkRecord::user_defined_bridge) && ms.iter().any(|m| m.container == self.container))
            .map(|(id, _)| id.clone())
            .collect()
    }
}

impl Resolver for ContainerResolver {
    fn lookup_a(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let mut out = vec![];
        for (ip, _) in self.members_named(name)? {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        (!out.is_empty()).then_some(out)
    }

    /// A name that exists without an IPv6 address answers with no addresses (NOERROR), not NXDOMAIN.
    fn lookup_aaaa(&self, name: &str) -> Option<Vec<Ipv6Addr>> {
        let hits = self.members_named(name)?;
        if hits.is_empty() {
            return None;
        }
        let mut out = vec![];
        for ip6 in hits.into_iter().filter_map(|(_, ip6)| ip6) {
            if !out.contains(&ip6) {
                out.push(ip6);
            }
        }
        Some(out)
    }

    fn lookup_ptr(&self, ip: Ipv4Addr) -> Option<String> {
        let svc = self.service.upgrade()?;
        let nets = self.networks(&svc);
        let members = svc.members.lock().unwrap_or_else(|p| p.into_inner());
        for id in &nets {
            if let Some(m) = members.get(id).into_iter().flatten().find(|m| m.ip == ip) {
                let netname = svc.nets.lock().unwrap_or_else(|p| p.into_inner()).get(id).map(|n| n.name.clone()).unwrap_or_default();
                return Some(format!("{}.{netname}", m.name));
            }
        }
        None
    }
}

/// `"8080"`, `"8000-8010"`, `""` → candidate host ports (0: ephemeral).
fn host_ports(spec: &str) -> Result<Vec<u16>, ServiceError> {
    let bad = || ServiceError::Invalid(format!("invalid host port: {spec}"));
    if spec.is_empty() {
        return Ok(vec![0]);
    }
    let ports: Vec<u16> = match spec.split_once('-') {
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a > b {
                return Err(bad());
            }
            (a..=b).collect()
        }
        None => vec![spec.parse().map_err(|_| bad())?],
    };
    // Rootless: pasta binds the host's side as the user, below the unprivileged start it cannot.
    crate::rootless::check_host_port(ports[0])?;
    Ok(ports)
}

/// `"80/tcp"` → (80, tcp).
pub fn parse_port_key(key: &str) -> Result<(u16, Proto), ServiceError> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let port: u16 = port.parse().map_err(|_| ServiceError::Invalid(format!("invalid port: {key}")))?;
    let proto: Proto = proto.parse().map_err(|_| ServiceError::Invalid(format!("invalid protocol in port {key}")))?;
    Ok((port, proto))
}

impl NetworkService {
    /// Creates the container's network namespace and attaches it to every network in `state`;
    /// fills the endpoints' addresses and the published ports. On failure nothing stays behind.
    pub async fn attach(self: &Arc<Self>, req: &AttachRequest<'_>, state: &mut NetworkState) -> Result<(), ServiceError> {
        let path = self.netns_path(req.id);
        let _ = offload::inline(|| NetNs::remove(&path));
        let ns = NetNs::create(&path).map_err(|e| internal(format!("creating the network namespace: {e}")))?;
        state.sandbox_key = path.display().to_string();
        let result = self.attach_in(&ns, req, state).await;
        if result.is_err() {
            self.detach(req.id, state).await;
        }
        result
    }

    async fn attach_in(self: &Arc<Self>, ns: &NetNs, req: &AttachRequest<'_>, state: &mut NetworkState) -> Result<(), ServiceError> {
        let order = state.order.clone();
        for (i, name) in order.iter().enumerate() {
            let mut ep = state.networks.get(name).cloned().unwrap_or_default();
            self.join(ns, req.id, req.name, &mut ep, i, i == 0).await?;
            state.networks.insert(name.clone(), ep);
        }
        self.publish_ports(req, state).await?;
        self.start_dns(ns, req, state)?;
        Ok(())
    }

    /// One endpoint: an address, a veth pair into `ns` as `eth{index}`, the member entry.
    async fn join(&self, ns: &NetNs, id: &str, name: &str, ep: &mut EndpointSettings, index: usize, default_route: bool) -> Result<(), ServiceError> {
        let link_local = link_local_nets(ep.ipam_config.as_ref().map(|c| c.link_local_ips.as_slice()).unwrap_or_default())?;
        let requested = ep.ipam_config.as_ref().map(|c| c.ipv4_address.clone()).filter(|a| !a.is_empty());
        let requested6 = ep.ipam_config.as_ref().map(|c| c.ipv6_address.clone()).filter(|a| !a.is_empty());
        let (net, ip, ip6) = {
            let mut nets = self.nets.lock().unwrap_or_else(|p| p.into_inner());
            let net = nets.get_mut(&ep.network_id).ok_or_else(|| ServiceError::NotFound(format!("network {} not found", ep.network_id)))?;
            let pool = net.pool.as_mut().ok_or_else(|| ServiceError::Invalid(format!("network {} gives no addresses", net.name)))?;
            // dockerd's check: `--ip6` needs an IPv6 subnet configured on the network (on one
            // with a subnet but without EnableIPv6 it is kept and gives no address, as dockerd).
            if requested6.is_some() && net.ipam6.is_none() {
                return Err(ServiceError::Invalid("user specified IP address is supported only when connecting to networks with user configured subnets".into()));
            }
            let ip6_req = requested6
                .as_deref()
                .map(|a| a.parse::<Ipv6Addr>().map_err(|_| ServiceError::Invalid(format!("invalid IPv6 address: {a}"))))
                .transpose()?;
            let ip = match &requested {
                Some(a) => {
                    let ip: Ipv4Addr = a.parse().map_err(|_| ServiceError::Invalid(format!("invalid IPv4 address: {a}")))?;
                    pool.allocate_specific(ip).map_err(|e| ServiceError::Invalid(e.to_string()))?
                }
                None => pool.allocate().map_err(|e| ServiceError::Invalid(e.to_string()))?,
            };
            let mut ip6 = None;
            if let Some(pool6) = net.pool6.as_mut() {
                let got = match ip6_req {
                    Some(want) => pool6.allocate_specific(want),
                    None => pool6.allocate(),
                };
                match got {
                    Ok(a) => ip6 = Some(a),
                    Err(e) => {
                        if let Some(p) = net.pool.as_mut() {
                            p.release(ip);
                        }
                        // dockerd 20.10 answers 403 for a taken IPv6 address (harness n6-taken-start).
                        if matches!(e, berth_network::netns::NetError::AddressInUse6 { .. }) {
                            return Err(ServiceError::Forbidden(e.to_string()));
                        }
                        return Err(ServiceError::Invalid(e.to_string()));
                    }
                }
            }
            let net = net.clone();
            (net, ip, ip6)
        };
        if let Err(e) = self.store(&net) {
            self.release(&net.id, Some(ip), ip6);
            return Err(e);
        }
        let pool = net.pool.clone().ok_or_else(|| internal("network without a pool"))?;
        let endpoint = berth_types::random_id();
        let mac = if ep.mac_address.is_empty() {
            link::mac_for_ip(ip)
        } else {
            parse_mac(&ep.mac_address).ok_or_else(|| ServiceError::Invalid(format!("invalid MAC address: {}", ep.mac_address)))?
        };
        let cfg = EndpointConfig {
            bridge: net.bridge.clone(),
            host_ifname: host_ifname(&endpoint),
            container_ifname: format!("eth{index}"),
            address: Ipv4Net::new(ip, pool.subnet.prefix_len()).map_err(internal)?,
            gateway: (default_route && !net.internal).then_some(pool.gateway),
            address6: match (ip6, net.pool6.as_ref()) {
                (Some(a), Some(p)) => Some(Ipv6Net::new(a, p.subnet.prefix_len()).map_err(internal)?),
                _ => None,
            },
            gateway6: net.pool6.as_ref().filter(|_| default_route && !net.internal && ip6.is_some()).map(|p| p.gateway),
            link_local,
            mac,
            mtu: net.mtu(),
        };
        // Recorded before the veth exists: a crash from here on leaves a veth the next start (or
        // `system check`) knows as this daemon's.
        let record = super::ledger::EndpointRecord { endpoint: endpoint.clone(), container: id.to_string(), network: net.id.clone(), ifname: cfg.host_ifname.clone(), ip };
        if let Err(e) = offload::inline(|| self.record_endpoint(&record)) {
            self.release(&net.id, Some(ip), ip6);
            return Err(e);
        }
        if let Err(e) = link::attach_endpoint(ns, &cfg).await {
            offload::inline(|| self.forget_endpoint(&endpoint));
            self.release(&net.id, Some(ip), ip6);
            return Err(internal(format!("attaching to network {}: {e}", net.name)));
        }
        ep.network_id = net.id.clone();
        ep.endpoint_id = endpoint.clone();
        ep.gateway = if net.internal { String::new() } else { pool.gateway.to_string() };
        ep.ip_address = ip.to_string();
        ep.ip_prefix_len = pool.subnet.prefix_len();
        match (ip6, net.pool6.as_ref()) {
            (Some(a), Some(p)) => {
                ep.global_ipv6_address = a.to_string();
                ep.global_ipv6_prefix_len = p.subnet.prefix_len();
                ep.ipv6_gateway = if net.internal { String::new() } else { p.gateway.to_string() };
            }
            _ => {
                ep.global_ipv6_address.clear();
                ep.global_ipv6_prefix_len = 0;
                ep.ipv6_gateway.clear();
            }
        }
        ep.mac_address = link::format_mac(&mac);
        let mut aliases = ep.aliases.clone().unwrap_or_default();
        if net.user_defined_bridge() {
            let short = id[..12].to_string();
            if !aliases.contains(&short) {
                aliases.push(short);
            }
            // Kept in the endpoint's settings, as dockerd keeps it (inspect shows it before API 1.45).
            ep.aliases = Some(aliases.clone());
        }
        let mut dns_names = vec![name.to_string()];
        dns_names.extend(aliases.iter().cloned());
        ep.dns_names = net.user_defined_bridge().then_some(dns_names);
        self.members.lock().unwrap_or_else(|p| p.into_inner()).entry(net.id.clone()).or_default().push(Member {
            container: id.to_string(),
            name: name.to_string(),
            endpoint,
            ip,
            ip6,
            mac: ep.mac_address.clone(),
            aliases,
            links: super::endpoint_links(ep.links.as_ref()),
        });
        self.publish(&net, "connect", Some(id));
        Ok(())
    }

    /// Returns an endpoint's addresses to the network's pools, saved in one write.
    pub(super) fn release(&self, net_id: &str, ip: Option<Ipv4Addr>, ip6: Option<Ipv6Addr>) {
        if ip.is_none() && ip6.is_none() {
            return;
        }
        let mut nets = self.nets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = nets.get_mut(net_id) {
            if let (Some(p), Some(ip)) = (n.pool.as_mut(), ip) {
                p.release(ip);
            }
            if let (Some(p), Some(ip6)) = (n.pool6.as_mut(), ip6) {
                p.release(ip6);
            }
            let n = n.clone();
            drop(nets);
            if let Err(e) = self.store(&n) {
                tracing::warn!(network = %n.name, error = %e, "saving the network's addresses failed");
            }
        }
    }

    /// Binds every published port of the container (on its first network's address). A binding
    /// without a host address is published on `0.0.0.0` and, where the host listens on IPv6, on
    /// `::` too, as dockerd 20.10 does with its userland proxy: the IPv6 half goes to the
    /// container's IPv6 address on a dual-stack network, else to its IPv4 one. IPv6 host addresses
    /// are served by the proxy alone (no ip6tables DNAT, dockerd 20.10's default `ip6tables: false`).
    async fn publish_ports(&self, req: &AttachRequest<'_>, state: &mut NetworkState) -> Result<(), ServiceError> {
        let mut wanted = req.port_bindings.clone();
        for e in &req.exposed {
            let entry = wanted.entry(e.clone()).or_insert(None);
            if req.publish_all && entry.as_ref().is_none_or(|v| v.is_empty()) {
                *entry = Some(vec![PortBinding::default()]);
            }
        }
        let primary = state.order.first().and_then(|n| state.networks.get(n)).cloned();
        let Some(primary) = primary else { return Ok(()) };
        let cip: Ipv4Addr = primary.ip_address.parse().map_err(|_| internal("the container has no address"))?;
        let cip6: Option<Ipv6Addr> = primary.global_ipv6_address.parse().ok();
        let bridge = self.nets.lock().unwrap_or_else(|p| p.into_inner()).get(&primary.network_id).map(|n| n.bridge.clone()).unwrap_or_default();
        let mut live = Live::default();
        let mut ports = BTreeMap::new();
        let mut failure = None;
        'outer: for (key, bindings) in &wanted {
            let (cport, proto) = parse_port_key(key)?;
            let Some(bindings) = bindings.as_ref().filter(|b| !b.is_empty()) else {
                ports.insert(key.clone(), None);
                continue;
            };
            let mut bound = vec![];
            for b in bindings {
                let halves: Vec<IpAddr> = match b.host_ip.as_str() {
                    "" if proxy::ipv6_listenable() => vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()],
                    "" => vec![Ipv4Addr::UNSPECIFIED.into()],
                    s => match s.parse::<IpAddr>() {
                        Ok(a) => vec![a],
                        Err(_) => {
                            failure = Some(ServiceError::Invalid(format!("invalid host IP: {s}")));
                            break 'outer;
                        }
                    },
                };
                let candidates = match host_ports(&b.host_port) {
                    Ok(c) => c,
                    Err(e) => {
                        failure = Some(e);
                        break 'outer;
                    }
                };
                // The IPv6 half tries the port its IPv4 half got first, so both show one port.
                let mut paired: Option<u16> = None;
                for host_ip in halves {
                    let order: Vec<u16> = match paired {
                        Some(p) => std::iter::once(p).chain(candidates.iter().copied().filter(|c| *c != p)).collect(),
                        None => candidates.clone(),
                    };
                    let target = match (host_ip, cip6) {
                        (IpAddr::V6(_), Some(a6)) => SocketAddr::new(a6.into(), cport),
                        _ => SocketAddr::new(cip.into(), cport),
                    };
                    let mut last_err = None;
                    let mut handle = None;
                    for hp in &order {
                        match proxy::start(proto, SocketAddr::new(host_ip, *hp), target).await {
                            Ok(h) => {
                                handle = Some(h);
                                break;
                            }
                            Err(e) => last_err = Some(e),
                        }
                    }
                    let Some(h) = handle else {
                        let why = last_err.map(|e| e.to_string()).unwrap_or_default();
                        failure = Some(ServiceError::Conflict(format!(
                            "driver failed programming external connectivity on endpoint {} ({}): {why}",
                            req.name, primary.endpoint_id
                        )));
                        break 'outer;
                    };
                    let hp = h.local_addr().port();
                    paired.get_or_insert(hp);
                    live.proxies.push(h);
                    if let IpAddr::V4(host_ip) = host_ip {
                        let rule = PortRule { proto, host_ip, host_port: hp, container_ip: cip, container_port: cport, bridge: bridge.clone() };
                        if let Err(e) = offload::inline(|| self.firewall.add_port(&rule)) {
                            failure = Some(internal(format!("publishing port {hp}: {e}")));
                            break 'outer;
                        }
                        live.rules.push(rule);
                    }
                    bound.push(PortBinding { host_ip: host_ip.to_string(), host_port: hp.to_string() });
                }
            }
            ports.insert(key.clone(), Some(bound));
        }
        if let Some(e) = failure {
            for r in &live.rules {
                let _ = offload::inline(|| self.firewall.remove_port(r));
            }
            return Err(e);
        }
        state.ports = ports;
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(req.id.to_string(), live);
        Ok(())
    }

    /// The embedded DNS server, when the container is on a user-defined network.
    fn start_dns(self: &Arc<Self>, ns: &NetNs, req: &AttachRequest<'_>, state: &NetworkState) -> Result<(), ServiceError> {
        let user_defined = {
            let nets = self.nets.lock().unwrap_or_else(|p| p.into_inner());
            state.networks.values().any(|ep| nets.get(&ep.network_id).is_some_and(NetworkRecord::user_defined_bridge))
        };
        if !user_defined {
            return Ok(());
        }
        let (udp, tcp) = ns
            .run(|| -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
                Ok((std::net::UdpSocket::bind("127.0.0.11:53")?, std::net::TcpListener::bind("127.0.0.11:53")?))
            })
            .map_err(|e| internal(format!("starting the embedded DNS server: {e}")))?
            .map_err(|e| internal(format!("starting the embedded DNS server: {e}")))?;
        let upstreams: Vec<SocketAddr> = if req.dns.is_empty() {
            let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            dns::parse_resolv_conf(&conf).nameservers.into_iter().map(|ip| SocketAddr::new(ip, 53)).collect()
        } else {
            req.dns.iter().filter_map(|d| d.parse::<IpAddr>().ok()).map(|ip| SocketAddr::new(ip, 53)).collect()
        };
        let resolver = Arc::new(ContainerResolver { service: Arc::downgrade(self), container: req.id.to_string(), links: req.links.clone() });
        let handle = dns::serve(udp, tcp, resolver, upstreams).map_err(|e| internal(format!("starting the embedded DNS server: {e}")))?;
        self.live.lock().unwrap_or_else(|p| p.into_inner()).entry(req.id.to_string()).or_default().dns = Some(handle);
        Ok(())
    }

    /// Undoes [`NetworkService::attach`]: ports, DNS, endpoints, addresses, the namespace. Clears
    /// the addresses in `state` (the configuration stays for the next start). Never fails.
    pub async fn detach(&self, id: &str, state: &mut NetworkState) {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        if let Some(live) = live {
            for r in &live.rules {
                if let Err(e) = offload::inline(|| self.firewall.remove_port(r)) {
                    tracing::warn!(error = %e, "removing a port rule failed");
                }
            }
            drop(live);
        }
        let names: Vec<String> = state.networks.keys().cloned().collect();
        for name in names {
            if let Some(ep) = state.networks.get_mut(&name) {
                self.leave(id, ep).await;
            }
        }
        let path = self.netns_path(id);
        if let Err(e) = offload::inline(|| NetNs::remove(&path)) {
            tracing::warn!(path = %path.display(), error = %e, "removing the network namespace failed");
        }
        state.ports.clear();
        state.sandbox_key.clear();
    }

    /// One endpoint away: its veth, its address, its member entry.
    async fn leave(&self, id: &str, ep: &mut EndpointSettings) {
        if ep.endpoint_id.is_empty() {
            return;
        }
        match link::detach_endpoint(&host_ifname(&ep.endpoint_id)).await {
            Ok(()) => offload::inline(|| self.forget_endpoint(&ep.endpoint_id)),
            // Kept: the record lets the next start or `system check` find the veth.
            Err(e) => tracing::warn!(error = %e, "removing a veth failed"),
        }
        self.release(&ep.network_id, ep.ip_address.parse::<Ipv4Addr>().ok(), ep.global_ipv6_address.parse::<Ipv6Addr>().ok());
        if let Some(ms) = self.members.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&ep.network_id) {
            ms.retain(|m| m.container != id);
        }
        if let Ok(net) = self.get(&ep.network_id) {
            self.publish(&net, "disconnect", Some(id));
        }
        ep.endpoint_id.clear();
        ep.ip_address.clear();
        ep.ip_prefix_len = 0;
        ep.gateway.clear();
        ep.global_ipv6_address.clear();
        ep.global_ipv6_prefix_len = 0;
        ep.ipv6_gateway.clear();
        ep.mac_address.clear();
        ep.dns_names = None;
    }

    /// After a daemon restart, for a container still running: members, port proxies and rules,
    /// and the DNS server again (its namespace and veths outlived the daemon).
    pub async fn restore(self: &Arc<Self>, req: &AttachRequest<'_>, state: &mut NetworkState) -> Result<(), ServiceError> {
        for name in state.order.clone() {
            let Some(ep) = state.networks.get(&name) else { continue };
            let Ok(ip) = ep.ip_address.parse::<Ipv4Addr>() else { continue };
            let mut aliases = ep.aliases.clone().unwrap_or_default();
            let is_user = self.get(&ep.network_id).is_ok_and(|n| n.user_defined_bridge());
            if is_user && !aliases.contains(&req.id[..12].to_string()) {
                aliases.push(req.id[..12].to_string());
            }
            let ip6 = ep.global_ipv6_address.parse::<Ipv6Addr>().ok();
            {
                let mut nets = self.nets.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(n) = nets.get_mut(&ep.network_id) {
                    if let Some(p) = n.pool.as_mut() {
                        if !p.is_allocated(ip) {
                            let _ = p.allocate_specific(ip);
                        }
                    }
                    if let (Some(p6), Some(a)) = (n.pool6.as_mut(), ip6) {
                        if !p6.is_allocated(a) {
                            let _ = p6.allocate_specific(a);
                        }
                    }
                }
            }
            self.members.lock().unwrap_or_else(|p| p.into_inner()).entry(ep.network_id.clone()).or_default().push(Member {
                container: req.id.to_string(),
                name: req.name.to_string(),
                endpoint: ep.endpoint_id.clone(),
                ip,
                ip6,
                mac: ep.mac_address.clone(),
                aliases,
                links: super::endpoint_links(ep.links.as_ref()),
            });
        }
        // The same host ports as before the restart (ephemeral ones included).
        let bound = AttachRequest {
            id: req.id,
            name: req.name,
            port_bindings: state.ports.iter().filter(|(_, v)| v.as_ref().is_some_and(|b| !b.is_empty())).map(|(k, v)| (k.clone(), v.clone())).collect(),
            publish_all: false,
            exposed: req.exposed.clone(),
            dns: req.dns.clone(),
            links: req.links.clone(),
        };
        self.publish_ports(&bound, state).await?;
        let ns = NetNs::open(&self.netns_path(req.id)).map_err(|e| internal(format!("reopening the network namespace: {e}")))?;
        self.start_dns(&ns, req, state)
    }

    /// Connects a running container to one more network (`network connect`), as `eth{n}`.
    pub async fn connect_running(&self, id: &str, name: &str, ep: &mut EndpointSettings, index: usize) -> Result<(), ServiceError> {
        let ns = NetNs::open(&self.netns_path(id)).map_err(|e| internal(format!("opening the container's network namespace: {e}")))?;
        self.join(&ns, id, name, ep, index, false).await
    }

    /// Disconnects a running container from one network.
    pub async fn disconnect_running(&self, id: &str, ep: &mut EndpointSettings) {
        self.leave(id, ep).await;
    }

    /// A running container was renamed.
    pub fn rename_member(&self, id: &str, name: &str) {
        for ms in self.members.lock().unwrap_or_else(|p| p.into_inner()).values_mut() {
            for m in ms.iter_mut().filter(|m| m.container == id) {
                m.name = name.to_string();
            }
        }
    }

    /// Container addresses of the published ports this daemon has rules for now.
    pub(super) fn port_addresses(&self) -> std::collections::HashSet<Ipv4Addr> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).values().flat_map(|l| l.rules.iter().map(|r| r.container_ip)).collect()
    }

    /// Addresses (IPv4 and IPv6) held by running containers (for [`NetworkService::reconcile`]).
    pub fn held(state: &NetworkState) -> Vec<(String, IpAddr)> {
        state
            .networks
            .values()
            .flat_map(|ep| [ep.ip_address.parse::<Ipv4Addr>().ok().map(IpAddr::V4), ep.global_ipv6_address.parse::<Ipv6Addr>().ok().map(IpAddr::V6)].into_iter().flatten().map(|ip| (ep.network_id.clone(), ip)))
            .collect()
    }
}

/// `IPAMConfig.LinkLocalIPs` as the addresses to add: IPv4 with a `/16`, IPv6 with a `/64`
/// (libnetwork's masks). Refused as dockerd refuses them when the endpoint is made: an
/// unparsable entry names the whole list, an address outside 169.254.0.0/16 or fe80::/10 (an
/// empty entry is Go's nil address) names itself.
fn link_local_nets(ips: &[String]) -> Result<Vec<IpNet>, ServiceError> {
    let mut parsed = Vec::with_capacity(ips.len());
    for s in ips {
        match s.parse::<IpAddr>() {
            Ok(ip) => parsed.push(Some(ip.to_canonical())),
            Err(_) if s.is_empty() => parsed.push(None),
            Err(_) => return Err(ServiceError::Invalid(format!("Invalid link-local IP address: [{}]", ips.join(" ")))),
        }
    }
    parsed
        .into_iter()
        .map(|ip| match ip {
            Some(IpAddr::V4(a)) if a.is_link_local() => Ok(IpNet::V4(Ipv4Net::new(a, 16).map_err(internal)?)),
            Some(IpAddr::V6(a)) if a.segments()[0] & 0xffc0 == 0xfe80 => Ok(IpNet::V6(Ipv6Net::new(a, 64).map_err(internal)?)),
            Some(ip) => Err(ServiceError::Invalid(format!("invalid link local IP address: {ip}"))),
            None => Err(ServiceError::Invalid("invalid link local IP address: <nil>".into())),
        })
        .collect()
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<u8> = s.split(':').map(|p| u8::from_str_radix(p, 16)).collect::<Result<_, _>>().ok()?;
    parts.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_parse() {
        assert_eq!(host_ports("").unwrap(), vec![0]);
        assert_eq!(host_ports("8080").unwrap(), vec![8080]);
        assert_eq!(host_ports("8000-8002").unwrap(), vec![8000, 8001, 8002]);
        assert!(host_ports("9-1").is_err());
        assert!(host_ports("x").is_err());
        assert_eq!(parse_port_key("53/udp").unwrap(), (53, Proto::Udp));
        assert_eq!(parse_port_key("80").unwrap(), (80, Proto::Tcp));
        assert!(parse_port_key("80/xyz").is_err());
        assert_eq!(parse_mac("02:42:0a:00:00:02"), Some([2, 0x42, 10, 0, 0, 2]));
        assert_eq!(parse_mac("02:42"), None);
    }

    #[test]
    fn link_local_addresses_take_libnetworks_masks_and_dockerds_refusals() {
        let ok = link_local_nets(&["169.254.10.10".into(), "fe80::1:2".into(), "::ffff:169.254.1.1".into()]).unwrap();
        let shown: Vec<String> = ok.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["169.254.10.10/16", "fe80::1:2/64", "169.254.1.1/16"]);
        let err = |ips: &[&str]| link_local_nets(&ips.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err().to_string();
        assert!(err(&["169.254.1.1", "x"]).contains("Invalid link-local IP address: [169.254.1.1 x]"));
        assert!(err(&["10.1.2.3"]).contains("invalid link local IP address: 10.1.2.3"));
        assert!(err(&["fd00::1"]).contains("invalid link local IP address: fd00::1"));
        assert!(err(&[""]).contains("invalid link local IP address: <nil>"));
    }
}
