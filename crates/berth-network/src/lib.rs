//! Container networking for Berth (layer 1: depends on nothing of Berth's).
//!
//! - [`netns`]: network namespaces kept alive by a bind mount, and running code inside one.
//! - [`link`]: bridges, veth pairs, addresses, routes and MTU through rtnetlink (never `ip`).
//! - [`ipam`]: address allocation within a subnet, and subnet choice from address pools.
//! - [`firewall`]: Berth's own iptables chains (NAT, isolation, published ports).
//! - [`proxy`]: the userland TCP/UDP proxy behind published ports on the host's own addresses.
//! - [`dns`]: the embedded DNS server answering on 127.0.0.11 inside containers.

pub mod dns;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod netns;
pub mod proxy;
