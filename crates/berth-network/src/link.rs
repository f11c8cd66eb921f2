//! Bridges, veth pairs, addresses, routes and MTU through rtnetlink (never `ip`).
//!
//! Each call opens its own netlink connection. Operations inside a container's namespace use a
//! socket created on a thread that joined that namespace ([`NetNs::run`]); a netlink socket stays
//! bound to the namespace it was created in, so it is then driven from tokio like any other.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};

use futures_util::TryStreamExt;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader};
use netlink_packet_route::AddressFamily;
use nix::errno::Errno;
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::netns::{io_errno, NetError, NetNs, Result};

/// Linux's IFNAMSIZ less the terminating NUL.
const MAX_IFNAME_LEN: usize = 15;

/// A bridge network's host side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Interface name, at most 15 bytes (e.g. `berth0`, `br-0123456789ab`).
    pub name: String,
    /// The bridge's own address with the network's prefix (e.g. `10.77.0.1/16`); it is the
    /// containers' gateway.
    pub gateway: Option<Ipv4Net>,
    /// The bridge's IPv6 address with the network's prefix on a dual-stack network (e.g.
    /// `fd00:db8:1::1/64`), added without duplicate address detection so it is usable at once.
    pub gateway6: Option<Ipv6Net>,
    /// MTU of the bridge; the kernel default (1500) when `None`.
    pub mtu: Option<u32>,
}

/// One container's attachment to a bridge network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The bridge to attach to; it must exist.
    pub bridge: String,
    /// Host end of the veth pair (e.g. `veth` + 7 hex digits, at most 15 bytes).
    pub host_ifname: String,
    /// Name inside the container (`eth0`, `eth1`…).
    pub container_ifname: String,
    /// The container's address with the network's prefix.
    pub address: Ipv4Net,
    /// Default route via this address when `Some` (a container's first network).
    pub gateway: Option<Ipv4Addr>,
    /// The container's IPv6 address with the network's prefix (dual-stack networks), added
    /// without duplicate address detection.
    pub address6: Option<Ipv6Net>,
    /// Default IPv6 route via this address when `Some`.
    pub gateway6: Option<Ipv6Addr>,
    /// Link-local addresses added after the others (`--link-local-ip`: IPv4 as `/16`, IPv6 as
    /// `/64` without duplicate address detection).
    pub link_local: Vec<IpNet>,
    /// The container interface's MAC, see [`mac_for_ip`].
    pub mac: [u8; 6],
    /// MTU of both ends; the kernel default (1500) when `None`.
    pub mtu: Option<u32>,
}

/// Idempotent: creates the bridge if missing, adds the gateway address if missing, sets the MTU
/// and brings the bridge up. An existing link of that name that is not a bridge is an error.
pub async fn ensure_bridge(cfg: &BridgeConfig) -> Result<()> {
    check_ifname(&cfg.name)?;
    let nl = Netlink::current()?;
    let h = &nl.handle;
    let link = match link_by_name(h, &cfg.name).await? {
        Some(link) => link,
        None => {
            match h
                .link()
                .add(LinkBridge::new(&cfg.name).build())
                .execute()
                .await
            {
                // EEXIST: a concurrent caller made it first; the checks below still apply.
                Err(e) if errno_of(&e) != Some(Errno::EEXIST) => {
                    return Err(nl_err(format!("creating bridge {}", cfg.name), e));
                }
                _ => {}
            }
            link_by_name(h, &cfg.name)
                .await?
                .ok_or_else(|| NetError::LinkNotFound {
                    name: cfg.name.clone(),
                })?
        }
    };
    if link_kind(&link) != Some(&InfoKind::Bridge) {
        return Err(NetError::NotBridge {
            name: cfg.name.clone(),
        });
    }
    let index = link.header.index;
    if let Some(mtu) = cfg.mtu {
        if link_mtu(&link) != Some(mtu) {
            h.link()
                .set(LinkUnspec::new_with_index(index).mtu(mtu).build())
                .execute()
                .await
                .map_err(|e| nl_err(format!("setting MTU {mtu} on bridge {}", cfg.name), e))?;
        }
    }
    if let Some(gw) = cfg.gateway {
        if !has_address(h, index, IpAddr::V4(gw.addr()), gw.prefix_len()).await? {
            add_address(h, index, gw, &cfg.name).await?;
        }
    }
    if let Some(gw6) = cfg.gateway6 {
        enable_ipv6(&cfg.name)?;
        if !has_address(h, index, IpAddr::V6(gw6.addr()), gw6.prefix_len()).await? {
            add_address6(h, index, gw6, &cfg.name).await?;
        }
    }
    if !link.header.flags.contains(LinkFlags::Up) {
        set_up(h, index, &cfg.name).await?;
    }
    Ok(())
}

/// Deletes the link `name` in the host namespace; succeeds if there is none.
pub async fn delete_link(name: &str) -> Result<()> {
    check_ifname(name)?;
    let nl = Netlink::current()?;
    let Some(link) = link_by_name(&nl.handle, name).await? else {
        return Ok(());
    };
    match nl.handle.link().del(link.header.index).execute().await {
        // ENODEV: deleted meanwhile (e.g. the other end of its veth pair went first).
        Err(e) if errno_of(&e) != Some(Errno::ENODEV) => {
            Err(nl_err(format!("deleting network interface {name}"), e))
        }
        _ => Ok(()),
    }
}

/// Whether a link named `name` exists in the host namespace.
pub async fn link_exists(name: &str) -> Result<bool> {
    check_ifname(name)?;
    let nl = Netlink::current()?;
    Ok(link_by_name(&nl.handle, name).await?.is_some())
}

/// Creates a veth pair whose container end is born inside `netns` already named
/// `cfg.container_ifname` with its MAC and MTU (one `RTM_NEWLINK`, like
/// `ip link add H type veth peer name eth0 netns N`, so no temporary name ever appears on the
/// host). Then attaches the host end to the bridge and brings it up, and inside `netns` adds the
/// address, brings `lo` and the interface up and adds the default route when `cfg.gateway` is
/// `Some`. On failure after the pair exists, the pair is deleted again.
pub async fn attach_endpoint(netns: &NetNs, cfg: &EndpointConfig) -> Result<()> {
    for name in [&cfg.bridge, &cfg.host_ifname, &cfg.container_ifname] {
        check_ifname(name)?;
    }
    let host = Netlink::current()?;
    let bridge = link_by_name(&host.handle, &cfg.bridge)
        .await?
        .ok_or_else(|| NetError::LinkNotFound {
            name: cfg.bridge.clone(),
        })?;

    let mut peer = LinkUnspec::new_with_name(&cfg.container_ifname)
        .setns_by_fd(netns.as_fd().as_raw_fd())
        .address(cfg.mac.to_vec());
    let mut pair = LinkVeth::new(&cfg.host_ifname, &cfg.container_ifname);
    if let Some(mtu) = cfg.mtu {
        peer = peer.mtu(mtu);
        pair = pair.mtu(mtu);
    }
    let pair: LinkMessageBuilder<LinkVeth> =
        pair.set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
    host.handle
        .link()
        .add(pair.build())
        .execute()
        .await
        .map_err(|e| {
            nl_err(
                format!(
                    "creating veth pair {} with peer {}",
                    cfg.host_ifname, cfg.container_ifname
                ),
                e,
            )
        })?;

    let configured = configure_endpoint(&host.handle, bridge.header.index, netns, cfg).await;
    if configured.is_err() {
        // Best effort: the configuration error is the one to report; the peer dies with it.
        if let Some(link) = link_by_name(&host.handle, &cfg.host_ifname)
            .await
            .ok()
            .flatten()
        {
            let _ = host.handle.link().del(link.header.index).execute().await;
        }
    }
    configured
}

/// Everything [`attach_endpoint`] does once the pair exists.
async fn configure_endpoint(
    host: &Handle,
    bridge_index: u32,
    netns: &NetNs,
    cfg: &EndpointConfig,
) -> Result<()> {
    let host_end =
        link_by_name(host, &cfg.host_ifname)
            .await?
            .ok_or_else(|| NetError::LinkNotFound {
                name: cfg.host_ifname.clone(),
            })?;
    host.link()
        .set(
            LinkUnspec::new_with_index(host_end.header.index)
                .controller(bridge_index)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(|e| {
            nl_err(
                format!("attaching {} to bridge {}", cfg.host_ifname, cfg.bridge),
                e,
            )
        })?;

    let inner = Netlink::inside(netns).await?;
    let h = &inner.handle;
    let ifname = &cfg.container_ifname;
    let index = link_by_name(h, ifname)
        .await?
        .ok_or_else(|| NetError::LinkNotFound {
            name: ifname.clone(),
        })?
        .header
        .index;
    add_address(h, index, cfg.address, ifname).await?;
    if let Some(addr6) = cfg.address6 {
        add_address6(h, index, addr6, ifname).await?;
    }
    for ll in &cfg.link_local {
        match *ll {
            IpNet::V4(net) => add_address(h, index, net, ifname).await?,
            IpNet::V6(net) => add_address6(h, index, net, ifname).await?,
        }
    }
    if let Some(lo) = link_by_name(h, "lo").await? {
        set_up(h, lo.header.index, "lo").await?;
    }
    set_up(h, index, ifname).await?;
    let default_routes = [
        cfg.gateway6.map(|gw| (IpAddr::V6(gw), RouteMessageBuilder::<Ipv6Addr>::new().gateway(gw).output_interface(index).build())),
        cfg.gateway.map(|gw| (IpAddr::V4(gw), RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).output_interface(index).build())),
    ];
    for (gw, route) in default_routes.into_iter().flatten() {
        h.route()
            .add(route)
            .execute()
            .await
            .map_err(|e| nl_err(format!("adding default route via {gw} on {ifname}"), e))?;
    }
    Ok(())
}

/// Deletes the host end of an endpoint (the container end dies with it); succeeds if absent.
pub async fn detach_endpoint(host_ifname: &str) -> Result<()> {
    delete_link(host_ifname).await
}

/// Every IPv4 network in use on the host: the prefix networks of all links' addresses and the
/// destinations of IPv4 routes in the main table (the default route excluded), sorted and without
/// duplicates. Used to choose subnets that collide with nothing.
pub async fn host_networks() -> Result<Vec<Ipv4Net>> {
    let nl = Netlink::current()?;
    let mut nets = Vec::new();
    let mut addrs = nl.handle.address().get().execute();
    while let Some(msg) = addrs
        .try_next()
        .await
        .map_err(|e| nl_err("listing addresses".into(), e))?
    {
        if let Some(addr) = ipv4_of(&msg) {
            if let Ok(net) = Ipv4Net::new(addr, msg.header.prefix_len) {
                nets.push(net.trunc());
            }
        }
    }
    let mut routes = nl
        .handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute();
    while let Some(msg) = routes
        .try_next()
        .await
        .map_err(|e| nl_err("listing routes".into(), e))?
    {
        let table = msg.attributes.iter().find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        });
        let in_main =
            table.unwrap_or(u32::from(msg.header.table)) == u32::from(RouteHeader::RT_TABLE_MAIN);
        let plen = msg.header.destination_prefix_length;
        if msg.header.address_family != AddressFamily::Inet || !in_main || plen == 0 {
            continue;
        }
        let dst = msg.attributes.iter().find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => Some(*d),
            _ => None,
        });
        if let Some(net) = dst.and_then(|d| Ipv4Net::new(d, plen).ok()) {
            nets.push(net.trunc());
        }
    }
    nets.sort();
    nets.dedup();
    Ok(nets)
}

/// Docker's MAC for a container address: `02:42` followed by the address's four bytes.
pub fn mac_for_ip(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// A MAC in the usual lowercase colon form, `02:42:0a:4d:00:02`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Brings link `name` up using a netlink socket of the calling thread's namespace (used inside a
/// fresh namespace by [`NetNs::create`]).
pub(crate) async fn set_up_here(name: &str) -> Result<()> {
    let nl = Netlink::current()?;
    let link = link_by_name(&nl.handle, name)
        .await?
        .ok_or_else(|| NetError::LinkNotFound {
            name: name.to_string(),
        })?;
    set_up(&nl.handle, link.header.index, name).await
}

/// A netlink connection whose driver task is owned here and stopped on drop.
struct Netlink {
    handle: Handle,
    driver: tokio::task::JoinHandle<()>,
}

impl Netlink {
    /// A connection in the calling thread's namespace (the host's, on a tokio worker).
    fn current() -> Result<Netlink> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| NetError::Os {
            op: "opening netlink socket",
            errno: io_errno(&e),
        })?;
        Ok(Netlink {
            handle,
            driver: tokio::spawn(conn),
        })
    }

    /// A connection whose socket lives in `netns`: created on a thread inside it, registered with
    /// the caller's runtime, then driven from here.
    async fn inside(netns: &NetNs) -> Result<Netlink> {
        let rt = tokio::runtime::Handle::current();
        let made = netns.run(move || {
            let _entered = rt.enter();
            rtnetlink::new_connection()
        })?;
        let (conn, handle, _) = made.map_err(|e| NetError::Os {
            op: "opening netlink socket in network namespace",
            errno: io_errno(&e),
        })?;
        Ok(Netlink {
            handle,
            driver: tokio::spawn(conn),
        })
    }
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Rejects names the kernel would refuse (IFNAMSIZ, `dev_valid_name`), so lookups fail clearly.
fn check_ifname(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.len() > MAX_IFNAME_LEN {
        "longer than 15 bytes"
    } else if name == "."
        || name == ".."
        || name.contains(['/', ':'])
        || name.contains(char::is_whitespace)
    {
        "contains '/', ':' or whitespace, or is '.' or '..'"
    } else {
        return Ok(());
    };
    Err(NetError::InvalidIfname {
        name: name.to_string(),
        reason,
    })
}

/// The errno of a kernel NACK, if the error is one.
fn errno_of(err: &rtnetlink::Error) -> Option<Errno> {
    match err {
        rtnetlink::Error::NetlinkError(msg) => Some(Errno::from_raw(msg.raw_code().abs())),
        _ => None,
    }
}

fn nl_err(op: String, err: rtnetlink::Error) -> NetError {
    match errno_of(&err) {
        Some(errno) => NetError::Netlink { op, errno },
        None => NetError::NetlinkProtocol {
            op,
            detail: err.to_string(),
        },
    }
}

/// The link named `name`, or `None` (the kernel answers `ENODEV`).
async fn link_by_name(h: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    match h.link().get().match_name(name).execute().try_next().await {
        Ok(link) => Ok(link),
        Err(e) if errno_of(&e) == Some(Errno::ENODEV) => Ok(None),
        Err(e) => Err(nl_err(format!("looking up network interface {name}"), e)),
    }
}

fn link_kind(link: &LinkMessage) -> Option<&InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(kind) => Some(kind),
            _ => None,
        }),
        _ => None,
    })
}

fn link_mtu(link: &LinkMessage) -> Option<u32> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::Mtu(mtu) => Some(*mtu),
        _ => None,
    })
}

/// The interface's own IPv4 address in an address message (`IFA_LOCAL`; `IFA_ADDRESS` is the
/// peer's on point-to-point links).
fn ipv4_of(msg: &AddressMessage) -> Option<Ipv4Addr> {
    if msg.header.family != AddressFamily::Inet {
        return None;
    }
    let pick = |want_local: bool| {
        msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(IpAddr::V4(ip)) if want_local => Some(*ip),
            AddressAttribute::Address(IpAddr::V4(ip)) if !want_local => Some(*ip),
            _ => None,
        })
    };
    pick(true).or_else(|| pick(false))
}

/// Whether link `index` has address `addr`/`prefix_len` (either family).
async fn has_address(h: &Handle, index: u32, addr: IpAddr, prefix_len: u8) -> Result<bool> {
    let mut addrs = h.address().get().set_link_index_filter(index).execute();
    while let Some(msg) = addrs
        .try_next()
        .await
        .map_err(|e| nl_err("listing addresses".into(), e))?
    {
        let own = match addr {
            IpAddr::V4(_) => ipv4_of(&msg).map(IpAddr::V4),
            IpAddr::V6(_) => ipv6_of(&msg).map(IpAddr::V6),
        };
        if own == Some(addr) && msg.header.prefix_len == prefix_len {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn add_address(h: &Handle, index: u32, net: Ipv4Net, ifname: &str) -> Result<()> {
    match h
        .address()
        .add(index, IpAddr::V4(net.addr()), net.prefix_len())
        .execute()
        .await
    {
        Err(e) if errno_of(&e) != Some(Errno::EEXIST) => {
            Err(nl_err(format!("adding address {net} to {ifname}"), e))
        }
        _ => Ok(()),
    }
}

/// Turns IPv6 on for link `name` in the host namespace (a host whose `default/disable_ipv6` is 1
/// makes new bridges without it).
fn enable_ipv6(name: &str) -> Result<()> {
    let path = std::path::PathBuf::from(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"));
    match std::fs::read_to_string(&path) {
        Ok(v) if v.trim() == "0" => Ok(()),
        _ => std::fs::write(&path, "0").map_err(|e| NetError::sys_io("enabling IPv6 on", &path, &e)),
    }
}

/// The interface's own IPv6 address in an address message.
fn ipv6_of(msg: &AddressMessage) -> Option<Ipv6Addr> {
    if msg.header.family != AddressFamily::Inet6 {
        return None;
    }
    msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(IpAddr::V6(ip)) => Some(*ip),
        _ => None,
    })
}

/// Adds an IPv6 address with `IFA_F_NODAD` (as `ip addr add … nodad`): duplicate address
/// detection would keep it tentative, unusable, for a second or more after the container starts.
async fn add_address6(h: &Handle, index: u32, net: Ipv6Net, ifname: &str) -> Result<()> {
    let mut req = h.address().add(index, IpAddr::V6(net.addr()), net.prefix_len());
    let msg = req.message_mut();
    msg.header.flags |= AddressHeaderFlags::Nodad;
    msg.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
    match req.execute().await {
        Err(e) if errno_of(&e) != Some(Errno::EEXIST) => {
            Err(nl_err(format!("adding address {net} to {ifname}"), e))
        }
        _ => Ok(()),
    }
}

async fn set_up(h: &Handle, index: u32, ifname: &str) -> Result<()> {
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| nl_err(format!("bringing up {ifname}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_follows_docker_02_42_then_address() {
        let mac = mac_for_ip(Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(mac, [0x02, 0x42, 10, 77, 0, 2]);
        assert_eq!(format_mac(&mac), "02:42:0a:4d:00:02");
    }

    #[test]
    fn ifname_checks_follow_the_kernel() {
        check_ifname("veth0123abc").unwrap();
        check_ifname("br-0123456789ab").unwrap();
        assert!(check_ifname("").is_err());
        assert!(check_ifname("sixteen-chars-xx").is_err());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("a b").is_err());
        assert!(check_ifname("..").is_err());
        let e = check_ifname("sixteen-chars-xx").unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid interface name \"sixteen-chars-xx\": longer than 15 bytes"
        );
    }
}
