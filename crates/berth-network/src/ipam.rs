//! Address allocation within a subnet, and subnet choice from address pools (pure logic).
//!
//! A [`Pool`] is plain serde data: the owner persists it with its network record (atomically, with
//! the record's format version), so allocations and the allocation cursor survive a restart.
//! Allocation follows Docker's libnetwork IPAM: serial, continuing after the last address given
//! and wrapping around, so a just-released address is not immediately handed out again.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::netns::{NetError, Result};

/// The addresses of one IPv4 subnet of a network, and which of them are in use.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    /// The network's subnet, host bits zero.
    pub subnet: Ipv4Net,
    /// The gateway (the bridge's address); never allocated to a container.
    pub gateway: Ipv4Addr,
    /// Automatic allocation draws from this sub-range of `subnet` only (`--ip-range`).
    pub ip_range: Option<Ipv4Net>,
    /// Addresses given out, the gateway excluded.
    allocated: BTreeSet<Ipv4Addr>,
    /// The last address [`Pool::allocate`] gave; the next search starts after it.
    #[serde(default)]
    last: Option<Ipv4Addr>,
    /// Auxiliary addresses by name (`AuxiliaryAddresses`): reserved, never given to a container.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux: BTreeMap<String, Ipv4Addr>,
}

impl Pool {
    /// A pool for `subnet`. The gateway defaults to the subnet's first host address. Errors, with
    /// Docker's one-line messages, on a subnet with host bits set or too small to hold a
    /// container (prefix longer than /30), a gateway outside the subnet's host addresses, or an
    /// ip-range with host bits set or not inside the subnet.
    pub fn new(
        subnet: Ipv4Net,
        gateway: Option<Ipv4Addr>,
        ip_range: Option<Ipv4Net>,
    ) -> Result<Pool> {
        if subnet != subnet.trunc() {
            return Err(NetError::InvalidSubnet {
                subnet,
                reason: format!("it should be {}", subnet.trunc()),
            });
        }
        if subnet.prefix_len() > 30 {
            return Err(NetError::InvalidSubnet {
                subnet,
                reason: "prefix must be /30 or shorter to hold a gateway and a container".into(),
            });
        }
        let first_host = Ipv4Addr::from(u32::from(subnet.network()) + 1);
        let gateway = gateway.unwrap_or(first_host);
        if !is_host_address(subnet, gateway) {
            return Err(NetError::GatewayNotInSubnet { gateway, subnet });
        }
        if let Some(range) = ip_range {
            if range != range.trunc() {
                return Err(NetError::InvalidIpRange {
                    range,
                    expected: range.trunc(),
                });
            }
            if !subnet.contains(&range) {
                return Err(NetError::IpRangeNotInSubnet { range, subnet });
            }
        }
        Ok(Pool {
            subnet,
            gateway,
            ip_range,
            allocated: BTreeSet::new(),
            last: None,
            aux: BTreeMap::new(),
        })
    }

    /// The next free address of the ip-range (or subnet) after the last one allocated, wrapping
    /// around; never the subnet's network or broadcast address nor the gateway.
    pub fn allocate(&mut self) -> Result<Ipv4Addr> {
        let range = self.ip_range.unwrap_or(self.subnet);
        let (lo, hi) = (u32::from(range.network()), u32::from(range.broadcast()));
        let start = match self.last.map(u32::from) {
            Some(last) if (lo..hi).contains(&last) => last + 1,
            _ => lo,
        };
        // Two passes: [start, hi] then [lo, start).
        let candidates = (start..=hi).chain(lo..start).map(Ipv4Addr::from);
        for ip in candidates {
            if self.is_allocatable(ip) {
                self.allocated.insert(ip);
                self.last = Some(ip);
                return Ok(ip);
            }
        }
        Err(NetError::NoAvailableAddresses)
    }

    /// Allocates `ip` exactly (`--ip`). Like Docker it may lie outside the ip-range but must be a
    /// host address of the subnet other than the gateway, and free. Does not move the cursor.
    pub fn allocate_specific(&mut self, ip: Ipv4Addr) -> Result<Ipv4Addr> {
        if !self.subnet.contains(&ip) {
            return Err(NetError::AddressOutOfRange { ip });
        }
        if !is_host_address(self.subnet, ip) {
            return Err(NetError::AddressReserved {
                ip,
                subnet: self.subnet,
            });
        }
        if ip == self.gateway || self.is_aux(ip) || !self.allocated.insert(ip) {
            return Err(NetError::AddressInUse { ip });
        }
        Ok(ip)
    }

    /// Reserves `ip` under `name` as an auxiliary address (libnetwork's `AuxAddresses`): it must
    /// lie in the subnet, and is then never allocated, automatically or by `--ip`.
    pub fn reserve_aux(&mut self, name: &str, ip: Ipv4Addr) -> Result<()> {
        if !self.subnet.contains(&ip) {
            return Err(NetError::AuxAddressOutOfPool { name: name.to_string(), ip, subnet: self.subnet });
        }
        self.aux.insert(name.to_string(), ip);
        Ok(())
    }

    /// Returns `ip` to the pool; releasing an address not allocated does nothing.
    pub fn release(&mut self, ip: Ipv4Addr) {
        self.allocated.remove(&ip);
    }

    /// Whether `ip` is currently given out (the gateway does not count).
    pub fn is_allocated(&self, ip: Ipv4Addr) -> bool {
        self.allocated.contains(&ip)
    }

    /// The addresses given out, in ascending order.
    pub fn allocated(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.allocated.iter().copied()
    }

    fn is_allocatable(&self, ip: Ipv4Addr) -> bool {
        is_host_address(self.subnet, ip) && ip != self.gateway && !self.allocated.contains(&ip) && !self.is_aux(ip)
    }

    fn is_aux(&self, ip: Ipv4Addr) -> bool {
        self.aux.values().any(|a| *a == ip)
    }
}

/// The addresses of a network's IPv6 subnet (a dual-stack network, `EnableIPv6`), and which of
/// them are in use. Allocation is serial as in [`Pool`]; the subnet-router anycast address (host
/// bits zero) and the gateway are never given out, and IPv6 has no broadcast address.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pool6 {
    /// The network's IPv6 subnet, host bits zero.
    pub subnet: Ipv6Net,
    /// The gateway (the bridge's IPv6 address); never allocated to a container.
    pub gateway: Ipv6Addr,
    /// Automatic allocation draws from this sub-range of `subnet` only (`--ip-range`).
    pub ip_range: Option<Ipv6Net>,
    /// Addresses given out, the gateway excluded.
    allocated: BTreeSet<Ipv6Addr>,
    /// The last address [`Pool6::allocate`] gave; the next search starts after it.
    #[serde(default)]
    last: Option<Ipv6Addr>,
}

impl Pool6 {
    /// A pool for `subnet`. The gateway defaults to the subnet's first address after the
    /// subnet-router one (`…::1`, as dockerd). Errors on a subnet with host bits set or longer
    /// than /126, a gateway outside the subnet (or its subnet-router address), or an ip-range
    /// with host bits set or not inside the subnet.
    pub fn new(subnet: Ipv6Net, gateway: Option<Ipv6Addr>, ip_range: Option<Ipv6Net>) -> Result<Pool6> {
        if subnet != subnet.trunc() {
            return Err(NetError::InvalidSubnet6 { subnet, reason: format!("it should be {}", subnet.trunc()) });
        }
        if subnet.prefix_len() > 126 {
            return Err(NetError::InvalidSubnet6 {
                subnet,
                reason: "prefix must be /126 or shorter to hold a gateway and a container".into(),
            });
        }
        let gateway = gateway.unwrap_or(Ipv6Addr::from(u128::from(subnet.network()) + 1));
        if !subnet.contains(&gateway) || gateway == subnet.network() {
            return Err(NetError::GatewayNotInSubnet6 { gateway, subnet });
        }
        if let Some(range) = ip_range {
            if range != range.trunc() || !subnet.contains(&range) {
                return Err(NetError::IpRangeNotInSubnet6 { range, subnet });
            }
        }
        Ok(Pool6 { subnet, gateway, ip_range, allocated: BTreeSet::new(), last: None })
    }

    /// The next free address of the ip-range (or subnet) after the last one allocated, wrapping
    /// around; never the subnet-router address nor the gateway.
    pub fn allocate(&mut self) -> Result<Ipv6Addr> {
        let range = self.ip_range.unwrap_or(self.subnet);
        let (lo, hi) = (u128::from(range.network()), u128::from(range.broadcast()));
        let start = match self.last.map(u128::from) {
            Some(last) if (lo..hi).contains(&last) => last + 1,
            _ => lo,
        };
        // Among any `allocated + 3` consecutive candidates one is free (only the allocated ones,
        // the gateway and the subnet-router address are not), so the search is short even in a
        // /64; a smaller range is searched whole.
        let tries = (self.allocated.len() as u128 + 3).min((hi - lo).saturating_add(1));
        let mut candidate = start;
        for _ in 0..tries {
            let ip = Ipv6Addr::from(candidate);
            if self.is_allocatable(ip) {
                self.allocated.insert(ip);
                self.last = Some(ip);
                return Ok(ip);
            }
            candidate = if candidate >= hi { lo } else { candidate + 1 };
        }
        Err(NetError::NoAvailableAddresses6)
    }

    /// Allocates `ip` exactly (`--ip6`): inside the subnet (it may lie outside the ip-range),
    /// not the gateway nor the subnet-router address, and free. Does not move the cursor.
    pub fn allocate_specific(&mut self, ip: Ipv6Addr) -> Result<Ipv6Addr> {
        if !self.subnet.contains(&ip) {
            return Err(NetError::AddressOutOfSubnet6 { ip });
        }
        if ip == self.gateway || ip == self.subnet.network() || !self.allocated.insert(ip) {
            return Err(NetError::AddressInUse6 { ip });
        }
        Ok(ip)
    }

    /// Returns `ip` to the pool; releasing an address not allocated does nothing.
    pub fn release(&mut self, ip: Ipv6Addr) {
        self.allocated.remove(&ip);
    }

    /// Whether `ip` is currently given out (the gateway does not count).
    pub fn is_allocated(&self, ip: Ipv6Addr) -> bool {
        self.allocated.contains(&ip)
    }

    /// The addresses given out, in ascending order.
    pub fn allocated(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        self.allocated.iter().copied()
    }

    fn is_allocatable(&self, ip: Ipv6Addr) -> bool {
        self.subnet.contains(&ip) && ip != self.subnet.network() && ip != self.gateway && !self.allocated.contains(&ip)
    }
}

/// Whether two IPv6 networks share any address.
pub fn overlaps6(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Whether `ip` is in `subnet` and is neither its network nor its broadcast address.
fn is_host_address(subnet: Ipv4Net, ip: Ipv4Addr) -> bool {
    subnet.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast()
}

/// Whether two networks share any address (one contains the other's start).
fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first subnet of each pool's size, trying pools in order (e.g. `(10.78.0.0/15, 24)` yields
/// 10.78.0.0/24, 10.78.1.0/24, …), that overlaps none of `in_use`. A pool whose size is shorter
/// than its own prefix, or longer than /32, is skipped.
pub fn pick_subnet(pools: &[(Ipv4Net, u8)], in_use: &[Ipv4Net]) -> Option<Ipv4Net> {
    pools
        .iter()
        .filter_map(|(base, size)| base.trunc().subnets(*size).ok())
        .flatten()
        .find(|candidate| !in_use.iter().any(|used| overlaps(candidate, used)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn auxiliary_addresses_are_never_allocated() {
        let mut pool = Pool::new(net("10.77.0.0/29"), None, None).unwrap();
        pool.reserve_aux("a", ip("10.77.0.2")).unwrap();
        pool.reserve_aux("b", ip("10.77.0.4")).unwrap();
        let e = pool.reserve_aux("c", ip("10.78.0.2")).unwrap_err();
        assert_eq!(e.to_string(), "auxiliary address: (c:10.78.0.2) must belong to the master pool: 10.77.0.0/29");
        let got: Vec<Ipv4Addr> = std::iter::from_fn(|| pool.allocate().ok()).collect();
        assert_eq!(got, vec![ip("10.77.0.3"), ip("10.77.0.5"), ip("10.77.0.6")]);
        assert!(matches!(pool.allocate_specific(ip("10.77.0.2")), Err(NetError::AddressInUse { .. })));
        // Kept with the pool across a restart, as the rest of it.
        let back: Pool = serde_json::from_str(&serde_json::to_string(&pool).unwrap()).unwrap();
        assert_eq!(back.aux.get("b"), Some(&ip("10.77.0.4")));
    }

    #[test]
    fn new_defaults_gateway_to_first_host() {
        let pool = Pool::new(net("10.77.0.0/16"), None, None).unwrap();
        assert_eq!(pool.gateway, ip("10.77.0.1"));
    }

    #[test]
    fn new_rejects_inconsistent_input() {
        let e = Pool::new(net("10.1.2.3/16"), None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"
        );
        assert!(matches!(
            Pool::new(net("10.1.2.0/31"), None, None),
            Err(NetError::InvalidSubnet { .. })
        ));
        let e = Pool::new(net("10.1.0.0/16"), Some(ip("10.2.0.1")), None).unwrap_err();
        assert_eq!(e.to_string(), "gateway 10.2.0.1 not in subnet 10.1.0.0/16");
        for gw in ["10.1.0.0", "10.1.255.255"] {
            assert!(matches!(
                Pool::new(net("10.1.0.0/16"), Some(ip(gw)), None),
                Err(NetError::GatewayNotInSubnet { .. })
            ));
        }
        let e = Pool::new(net("10.1.0.0/16"), None, Some(net("10.2.0.0/24"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ip-range 10.2.0.0/24 not in subnet 10.1.0.0/16"
        );
        let e = Pool::new(net("10.1.0.0/16"), None, Some(net("10.1.0.0/8"))).unwrap_err();
        assert!(
            matches!(e, NetError::InvalidIpRange { .. })
                || matches!(e, NetError::IpRangeNotInSubnet { .. })
        );
        let e = Pool::new(net("10.1.0.0/16"), None, Some(net("10.1.5.7/24"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid ip-range 10.1.5.7/24: it should be 10.1.5.0/24"
        );
    }

    #[test]
    fn allocate_skips_network_gateway_and_broadcast_until_exhausted() {
        let mut pool = Pool::new(net("10.0.0.0/29"), None, None).unwrap();
        let got: Vec<_> = (0..5).map(|_| pool.allocate().unwrap()).collect();
        let want: Vec<_> = (2..=6).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        assert_eq!(got, want);
        let e = pool.allocate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "no available IPv4 addresses on this network's address pools"
        );
    }

    #[test]
    fn allocate_with_custom_gateway_skips_it() {
        let mut pool = Pool::new(net("10.0.0.0/30"), Some(ip("10.0.0.2")), None).unwrap();
        assert_eq!(pool.allocate().unwrap(), ip("10.0.0.1"));
        assert!(pool.allocate().is_err());
    }

    #[test]
    fn allocate_does_not_reuse_a_just_released_address() {
        let mut pool = Pool::new(net("10.0.0.0/24"), None, None).unwrap();
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        pool.release(a);
        pool.release(b);
        assert_eq!(pool.allocate().unwrap(), ip("10.0.0.4"));
        assert!(!pool.is_allocated(a));
    }

    #[test]
    fn allocate_wraps_around_to_released_addresses() {
        let mut pool = Pool::new(net("10.0.0.0/29"), None, None).unwrap();
        for _ in 0..5 {
            pool.allocate().unwrap();
        }
        pool.release(ip("10.0.0.3"));
        assert_eq!(pool.allocate().unwrap(), ip("10.0.0.3"));
        assert!(pool.allocate().is_err());
    }

    #[test]
    fn allocate_stays_within_ip_range() {
        let mut pool = Pool::new(net("10.0.0.0/16"), None, Some(net("10.0.5.0/30"))).unwrap();
        // 10.0.5.0 and 10.0.5.3 are ordinary host addresses of the /16.
        let got: Vec<_> = (0..4).map(|_| pool.allocate().unwrap()).collect();
        assert_eq!(
            got,
            vec![
                ip("10.0.5.0"),
                ip("10.0.5.1"),
                ip("10.0.5.2"),
                ip("10.0.5.3")
            ]
        );
        assert!(pool.allocate().is_err());
    }

    #[test]
    fn ip_range_at_the_subnet_start_skips_network_and_gateway() {
        let mut pool = Pool::new(net("10.0.0.0/24"), None, Some(net("10.0.0.0/30"))).unwrap();
        assert_eq!(pool.allocate().unwrap(), ip("10.0.0.2"));
        assert_eq!(pool.allocate().unwrap(), ip("10.0.0.3"));
        assert!(pool.allocate().is_err());
    }

    #[test]
    fn allocate_specific_checks_subnet_reserved_and_in_use() {
        let mut pool = Pool::new(net("10.0.0.0/24"), None, Some(net("10.0.0.128/25"))).unwrap();
        assert_eq!(
            pool.allocate_specific(ip("10.0.0.7")).unwrap(),
            ip("10.0.0.7")
        );
        assert!(pool.is_allocated(ip("10.0.0.7")));
        let e = pool.allocate_specific(ip("10.0.0.7")).unwrap_err();
        assert_eq!(e.to_string(), "Address already in use");
        assert!(matches!(
            pool.allocate_specific(ip("10.0.0.1")),
            Err(NetError::AddressInUse { .. })
        ));
        assert!(matches!(
            pool.allocate_specific(ip("10.0.0.0")),
            Err(NetError::AddressReserved { .. })
        ));
        assert!(matches!(
            pool.allocate_specific(ip("10.0.0.255")),
            Err(NetError::AddressReserved { .. })
        ));
        let e = pool.allocate_specific(ip("10.0.1.5")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no configured subnet or ip-range contain the IP address 10.0.1.5"
        );
    }

    #[test]
    fn allocate_skips_specifically_allocated_addresses() {
        let mut pool = Pool::new(net("10.0.0.0/24"), None, None).unwrap();
        pool.allocate_specific(ip("10.0.0.2")).unwrap();
        assert_eq!(pool.allocate().unwrap(), ip("10.0.0.3"));
        assert_eq!(
            pool.allocated().collect::<Vec<_>>(),
            vec![ip("10.0.0.2"), ip("10.0.0.3")]
        );
    }

    #[test]
    fn serialized_pool_continues_sequentially() {
        let mut pool = Pool::new(net("10.0.0.0/24"), None, None).unwrap();
        let a = pool.allocate().unwrap();
        pool.release(a);
        let json = serde_json::to_string(&pool).unwrap();
        let mut back: Pool = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pool);
        assert_eq!(back.allocate().unwrap(), ip("10.0.0.3"));
    }

    #[test]
    fn release_of_unknown_address_is_harmless() {
        let mut pool = Pool::new(net("10.0.0.0/24"), None, None).unwrap();
        pool.release(ip("10.0.0.9"));
        pool.release(ip("192.168.0.1"));
        assert_eq!(pool.allocated().count(), 0);
    }

    #[test]
    fn pick_subnet_skips_overlapping_networks() {
        let pools = [(net("10.78.0.0/15"), 24)];
        assert_eq!(pick_subnet(&pools, &[]), Some(net("10.78.0.0/24")));
        let used = [
            net("10.78.0.0/24"),
            net("10.78.1.128/25"),
            net("192.168.1.0/24"),
        ];
        assert_eq!(pick_subnet(&pools, &used), Some(net("10.78.2.0/24")));
        // A wider network in use covers many candidates.
        assert_eq!(
            pick_subnet(&pools, &[net("10.78.0.0/16")]),
            Some(net("10.79.0.0/24"))
        );
    }

    #[test]
    fn pick_subnet_moves_to_the_next_pool_when_one_is_full() {
        let pools = [(net("172.17.0.0/16"), 16), (net("172.18.0.0/15"), 16)];
        let used = [net("172.17.0.0/16"), net("172.18.5.0/24")];
        assert_eq!(pick_subnet(&pools, &used), Some(net("172.19.0.0/16")));
        assert_eq!(pick_subnet(&pools, &[net("172.16.0.0/12")]), None);
    }

    #[test]
    fn pick_subnet_skips_pools_with_impossible_sizes() {
        let pools = [
            (net("10.0.0.0/16"), 8),
            (net("10.1.0.0/16"), 33),
            (net("10.2.0.0/16"), 24),
        ];
        assert_eq!(pick_subnet(&pools, &[]), Some(net("10.2.0.0/24")));
    }

    #[test]
    fn pool6_allocates_serially_after_the_gateway() {
        let mut pool = Pool6::new("fd00:db8:1::/64".parse().unwrap(), None, None).unwrap();
        assert_eq!(pool.gateway, "fd00:db8:1::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(pool.allocate().unwrap(), "fd00:db8:1::2".parse::<Ipv6Addr>().unwrap());
        pool.allocate_specific("fd00:db8:1::3".parse().unwrap()).unwrap();
        assert_eq!(pool.allocate().unwrap(), "fd00:db8:1::4".parse::<Ipv6Addr>().unwrap());
        pool.release("fd00:db8:1::2".parse().unwrap());
        assert_eq!(pool.allocate().unwrap(), "fd00:db8:1::5".parse::<Ipv6Addr>().unwrap());
        let json = serde_json::to_string(&pool).unwrap();
        let back: Pool6 = serde_json::from_str(&json).unwrap();
        assert_eq!(back, pool);
    }

    #[test]
    fn pool6_specific_addresses_follow_dockerd() {
        let mut pool = Pool6::new("fd00:db8:1::/64".parse().unwrap(), None, None).unwrap();
        for taken in ["fd00:db8:1::", "fd00:db8:1::1"] {
            assert_eq!(pool.allocate_specific(taken.parse().unwrap()).unwrap_err().to_string(), "Address already in use");
        }
        pool.allocate_specific("fd00:db8:1::77".parse().unwrap()).unwrap();
        assert!(pool.allocate_specific("fd00:db8:1::77".parse().unwrap()).is_err());
        assert_eq!(
            pool.allocate_specific("fd00:db8:9::5".parse().unwrap()).unwrap_err().to_string(),
            "Invalid address fd00:db8:9::5: It does not belong to any of this network's subnets"
        );
    }

    #[test]
    fn pool6_small_ranges_fill_and_wrap() {
        let mut pool = Pool6::new("fd00::/125".parse().unwrap(), Some("fd00::7".parse().unwrap()), None).unwrap();
        let got: Vec<String> = (0..6).map(|_| pool.allocate().unwrap().to_string()).collect();
        assert_eq!(got, ["fd00::1", "fd00::2", "fd00::3", "fd00::4", "fd00::5", "fd00::6"]);
        assert!(pool.allocate().is_err());
        pool.release("fd00::3".parse().unwrap());
        assert_eq!(pool.allocate().unwrap().to_string(), "fd00::3");
        let mut ranged = Pool6::new("fd00::/64".parse().unwrap(), None, Some("fd00::100/126".parse().unwrap())).unwrap();
        let got: Vec<String> = (0..4).map(|_| ranged.allocate().unwrap().to_string()).collect();
        assert_eq!(got, ["fd00::100", "fd00::101", "fd00::102", "fd00::103"]);
        assert!(ranged.allocate().is_err());
        assert!(Pool6::new("fd00::1/64".parse().unwrap(), None, None).is_err());
        assert!(Pool6::new("fd00::/64".parse().unwrap(), Some("fd01::1".parse().unwrap()), None).is_err());
        assert!(Pool6::new("fd00::/64".parse().unwrap(), None, Some("fd01::/80".parse().unwrap())).is_err());
    }
}
