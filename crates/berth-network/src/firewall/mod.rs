//! Berth's iptables rules: masquerading, isolation between networks and published ports.
//!
//! There is no netlink API for iptables, so every change runs the `iptables` binary with `-w 10`
//! (wait for the xtables lock, at most 10 s), one command per rule. Each daemon owns the chains of its own
//! prefix, so daemons (and parallel tests) never touch each other's rules:
//!
//! ```text
//! filter FORWARD (rule 1)          -j {P}-FWD
//!   {P}-FWD                        -j {P}-FWD-IN, -j {P}-FWD-OUT
//!   {P}-FWD-IN   per network       -o BR ctstate RELATED,ESTABLISHED,DNAT ACCEPT;
//!                                  -i BR -o BR ACCEPT (DROP without icc); -o BR DROP
//!   {P}-FWD-OUT  per network       -i BR ! -o BR ACCEPT (DROP when internal)
//! nat PREROUTING   (dst LOCAL)     -j {P}-DNAT
//! nat OUTPUT (dst LOCAL, not lo)   -j {P}-DNAT
//!   {P}-DNAT     per network       -i BR RETURN
//!                per port          [-d HOST] ! -i BR -p P --dport HP DNAT to CIP:CP
//! nat POSTROUTING                  -j {P}-POST
//!   {P}-POST     per network       -s SUBNET ! -o BR MASQUERADE (not when internal)
//!                per port          -s CIP -d CIP -p P --dport CP MASQUERADE (hairpin)
//! ```
//!
//! A dual-stack network (one with an IPv6 subnet) gets the same chains, jumps and per-network
//! rules in ip6tables (the nat OUTPUT jump excludes `::1/128`), its IPv6 subnet masqueraded when
//! it leaves the bridge, as dockerd does with `ip6tables` on. Published ports get IPv4 DNAT rules
//! only: IPv6 clients reach them through the userland proxy's `::` sockets ([`crate::proxy`]), as
//! dockerd 20.10's do with `ip6tables` off (its default).
//!
//! The FORWARD jump sits at position 1 because Docker sets the FORWARD policy to DROP; the
//! isolation rules then decide everything about traffic entering or leaving Berth's bridges.
//! Loopback access to published ports goes through the userland proxy, so `route_localnet`
//! stays off (CVE-2020-8558).

use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

mod listing;
pub use listing::ListedRule;

/// Longest iptables chain name (`XT_EXTENSION_MAXNAMELEN` minus the NUL).
const MAX_CHAIN_LEN: usize = 28;
/// Longest chain suffix Berth appends to a prefix.
const LONGEST_SUFFIX: &str = "-FWD-OUT";
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const IP6_FORWARD: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

/// A failure while programming iptables.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// The chain prefix would make invalid or over-long chain names.
    #[error("invalid iptables chain prefix {prefix:?}: use 1 to 20 characters of A-Z, a-z, 0-9, '-' and '_'")]
    InvalidPrefix {
        /// The prefix given to [`Firewall::new`].
        prefix: String,
    },
    /// The `iptables` (or `ip6tables`) binary could not be started.
    #[error("run iptables")]
    Spawn {
        /// Why the process could not be started.
        source: io::Error,
    },
    /// `iptables` ran and reported a failure.
    #[error("iptables {args} failed: {stderr}")]
    Command {
        /// The arguments, space-separated.
        args: String,
        /// The first line of iptables' standard error.
        stderr: String,
    },
    /// Enabling IPv4 forwarding failed.
    #[error("write {path}")]
    Sysctl {
        /// The sysctl file.
        path: PathBuf,
        /// Why it could not be written.
        source: io::Error,
    },
}

/// A transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP (iptables only; the userland proxy refuses it, as Docker's does without sctp support).
    Sctp,
}

impl Proto {
    /// The lowercase name iptables and Docker's API use: `tcp`, `udp` or `sctp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Proto`] from anything but `tcp`, `udp` or `sctp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid protocol {0:?}: expected tcp, udp or sctp")]
pub struct ParseProtoError(pub String);

impl FromStr for Proto {
    type Err = ParseProtoError;

    /// Parses `tcp`, `udp` or `sctp` (case-insensitive, as Docker accepts `80/TCP`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Proto::Tcp),
            "udp" => Ok(Proto::Udp),
            "sctp" => Ok(Proto::Sctp),
            _ => Err(ParseProtoError(s.to_owned())),
        }
    }
}

/// What the firewall needs to know of one bridge network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkRules {
    /// The bridge interface name, e.g. `br-1a2b3c4d5e6f`.
    pub bridge: String,
    /// The network's IPv4 subnet (masqueraded when leaving the bridge).
    pub subnet: Ipv4Net,
    /// The network's IPv6 subnet on a dual-stack network: the same rules in ip6tables.
    pub subnet6: Option<Ipv6Net>,
    /// `--internal`: no traffic leaves the bridge and nothing is masqueraded.
    pub internal: bool,
    /// Inter-container communication on the bridge (`com.docker.network.bridge.enable_icc`).
    pub icc: bool,
}

/// One published port: `HOST_IP:HOST_PORT -> CONTAINER_IP:CONTAINER_PORT/PROTO`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRule {
    /// The transport protocol.
    pub proto: Proto,
    /// The host address the port is published on; `0.0.0.0` means every local address.
    pub host_ip: Ipv4Addr,
    /// The published host port.
    pub host_port: u16,
    /// The container's address on `bridge`.
    pub container_ip: Ipv4Addr,
    /// The port inside the container.
    pub container_port: u16,
    /// The bridge the container is attached to.
    pub bridge: String,
}

/// Which iptables table a rule lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Table {
    Filter,
    Nat,
}

impl Table {
    fn as_str(self) -> &'static str {
        match self {
            Table::Filter => "filter",
            Table::Nat => "nat",
        }
    }
}

/// Which address family a rule is for: `iptables` or `ip6tables`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (`iptables`).
    V4,
    /// IPv6 (`ip6tables`).
    V6,
}

impl Family {
    fn binary(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }
}

/// One rule: its family, table, chain and match/target arguments.
#[derive(Clone, Debug)]
struct Rule {
    family: Family,
    table: Table,
    chain: String,
    spec: Vec<String>,
}

impl Rule {
    fn new(table: Table, chain: &str, spec: &[&str]) -> Rule {
        Rule { family: Family::V4, table, chain: chain.to_owned(), spec: spec.iter().map(|s| (*s).to_owned()).collect() }
    }

    /// The same rule in ip6tables.
    fn v6(mut self) -> Rule {
        self.family = Family::V6;
        self
    }
}

/// Berth's iptables chains of one daemon, named `{prefix}-FWD`, `{prefix}-FWD-IN`,
/// `{prefix}-FWD-OUT`, `{prefix}-DNAT` and `{prefix}-POST`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firewall {
    prefix: String,
}

impl Firewall {
    /// A firewall whose chains start with `prefix` (e.g. `BERTH`). The prefix is checked by every
    /// operation: 1 to 20 characters of `A-Za-z0-9-_`, not starting with `-`.
    pub fn new(prefix: &str) -> Firewall {
        Firewall { prefix: prefix.to_owned() }
    }

    /// The chain prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn chain(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.prefix)
    }

    fn fwd(&self) -> String {
        self.chain("FWD")
    }
    fn fwd_in(&self) -> String {
        self.chain("FWD-IN")
    }
    fn fwd_out(&self) -> String {
        self.chain("FWD-OUT")
    }
    fn dnat(&self) -> String {
        self.chain("DNAT")
    }
    fn post(&self) -> String {
        self.chain("POST")
    }

    /// All chains, parents before the chains they jump to.
    fn chains(&self) -> [(Table, String); 5] {
        [
            (Table::Filter, self.fwd()),
            (Table::Filter, self.fwd_in()),
            (Table::Filter, self.fwd_out()),
            (Table::Nat, self.dnat()),
            (Table::Nat, self.post()),
        ]
    }

    fn check_prefix(&self) -> Result<(), FirewallError> {
        let p = &self.prefix;
        let valid = !p.is_empty()
            && p.len() + LONGEST_SUFFIX.len() <= MAX_CHAIN_LEN
            && !p.starts_with('-')
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(())
        } else {
            Err(FirewallError::InvalidPrefix { prefix: p.clone() })
        }
    }

    /// The jumps from the built-in chains into Berth's chains (FORWARD's is handled apart,
    /// since it must be the first rule).
    fn nat_jumps(&self) -> Vec<Rule> {
        let dnat = self.dnat();
        let post = self.post();
        vec![
            Rule::new(Table::Nat, "PREROUTING", &["-m", "addrtype", "--dst-type", "LOCAL", "-j", &dnat]),
            Rule::new(
                Table::Nat,
                "OUTPUT",
                &["!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", &dnat],
            ),
            Rule::new(Table::Nat, "POSTROUTING", &["-j", &post]),
        ]
    }

    fn forward_jump(&self) -> Rule {
        Rule::new(Table::Filter, "FORWARD", &["-j", &self.fwd()])
    }

    /// Creates the chains if missing and flushes them (the caller rebuilds the state after a
    /// crash), inserts each jump rule exactly once, and turns on IPv4 forwarding. Idempotent.
    pub fn init(&self) -> Result<(), FirewallError> {
        self.check_prefix()?;
        for (table, chain) in self.chains() {
            if chain_exists(table, &chain) {
                run(table, &["-F", &chain])?;
            } else {
                run(table, &["-N", &chain])?;
            }
        }
        let fwd = self.fwd();
        append(&Rule::new(Table::Filter, &fwd, &["-j", &self.fwd_in()]))?;
        append(&Rule::new(Table::Filter, &fwd, &["-j", &self.fwd_out()]))?;
        self.ensure_forward_jump_first()?;
        for jump in self.nat_jumps() {
            ensure(&jump)?;
        }
        std::fs::write(IP_FORWARD, "1")
            .map_err(|source| FirewallError::Sysctl { path: PathBuf::from(IP_FORWARD), source })
    }

    /// The IPv6 half of [`Firewall::init`]: the same chains and jumps in ip6tables (the nat
    /// OUTPUT jump excludes `::1/128`). Separate because a host without ip6tables' nat table
    /// still runs IPv4 networks; dual-stack networks then fail to install with its error.
    pub fn init_v6(&self) -> Result<(), FirewallError> {
        self.check_prefix()?;
        let v6 = Family::V6;
        for (table, chain) in self.chains() {
            if chain_exists_in(v6, table, &chain) {
                run_in(v6, table, &["-F", &chain])?;
            } else {
                run_in(v6, table, &["-N", &chain])?;
            }
        }
        let fwd = self.fwd();
        append(&Rule::new(Table::Filter, &fwd, &["-j", &self.fwd_in()]).v6())?;
        append(&Rule::new(Table::Filter, &fwd, &["-j", &self.fwd_out()]).v6())?;
        let jump = self.forward_jump().v6();
        let listing = run_in(v6, Table::Filter, &["-S", "FORWARD"])?;
        let wanted = format!("-A FORWARD -j {}", self.fwd());
        let rules: Vec<&str> = listing.lines().filter(|l| l.starts_with("-A ")).collect();
        if !(rules.iter().filter(|l| l.trim() == wanted).count() == 1 && rules.first().map(|l| l.trim()) == Some(wanted.as_str())) {
            delete_all(&jump)?;
            let mut args = vec!["-I", "FORWARD", "1"];
            args.extend(jump.spec.iter().map(String::as_str));
            run_in(v6, Table::Filter, &args)?;
        }
        for jump in self.nat_jumps_v6() {
            ensure(&jump)?;
        }
        Ok(())
    }

    fn nat_jumps_v6(&self) -> Vec<Rule> {
        let dnat = self.dnat();
        vec![
            Rule::new(Table::Nat, "PREROUTING", &["-m", "addrtype", "--dst-type", "LOCAL", "-j", &dnat]).v6(),
            Rule::new(Table::Nat, "OUTPUT", &["!", "-d", "::1/128", "-m", "addrtype", "--dst-type", "LOCAL", "-j", &dnat]).v6(),
            Rule::new(Table::Nat, "POSTROUTING", &["-j", &self.post()]).v6(),
        ]
    }

    /// Makes `-j {P}-FWD` the first rule of FORWARD, exactly once. Docker (re)inserts its own
    /// jumps at position 1 when it starts, so a jump found lower is moved up again.
    fn ensure_forward_jump_first(&self) -> Result<(), FirewallError> {
        let jump = self.forward_jump();
        let wanted = format!("-A FORWARD -j {}", self.fwd());
        let listing = run(Table::Filter, &["-S", "FORWARD"])?;
        let rules: Vec<&str> = listing.lines().filter(|l| l.starts_with("-A ")).collect();
        let count = rules.iter().filter(|l| l.trim() == wanted).count();
        if count == 1 && rules.first().map(|l| l.trim()) == Some(wanted.as_str()) {
            return Ok(());
        }
        delete_all(&jump)?;
        let mut args = vec!["-I", "FORWARD", "1"];
        args.extend(jump.spec.iter().map(String::as_str));
        run(Table::Filter, &args).map(drop)
    }

    fn network_rules(&self, n: &NetworkRules) -> Vec<Rule> {
        let br = n.bridge.as_str();
        let fwd_in = self.fwd_in();
        let fwd_out = self.fwd_out();
        let icc = if n.icc { "ACCEPT" } else { "DROP" };
        let out = if n.internal { "DROP" } else { "ACCEPT" };
        let subnet = n.subnet.trunc().to_string();
        let mut rules = vec![
            Rule::new(
                Table::Filter,
                &fwd_in,
                &["-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED,DNAT", "-j", "ACCEPT"],
            ),
            Rule::new(Table::Filter, &fwd_in, &["-i", br, "-o", br, "-j", icc]),
            Rule::new(Table::Filter, &fwd_in, &["-o", br, "-j", "DROP"]),
            Rule::new(Table::Filter, &fwd_out, &["-i", br, "!", "-o", br, "-j", out]),
            Rule::new(Table::Nat, &self.dnat(), &["-i", br, "-j", "RETURN"]),
        ];
        if !n.internal {
            rules.push(Rule::new(Table::Nat, &self.post(), &["-s", &subnet, "!", "-o", br, "-j", "MASQUERADE"]));
        }
        if let Some(subnet6) = n.subnet6 {
            // The same isolation in ip6tables, and the IPv6 subnet masqueraded going out.
            let mut v6: Vec<Rule> = rules.iter().filter(|r| r.chain != self.post()).map(|r| r.clone().v6()).collect();
            if !n.internal {
                let s6 = subnet6.trunc().to_string();
                v6.push(Rule::new(Table::Nat, &self.post(), &["-s", &s6, "!", "-o", br, "-j", "MASQUERADE"]).v6());
            }
            rules.extend(v6);
        }
        rules
    }

    /// Adds the isolation, forwarding and masquerading rules of one bridge network.
    /// Idempotent; a partial set (an interrupted earlier call) is replaced as a whole, since
    /// the order of the FWD-IN rules matters.
    pub fn add_network(&self, n: &NetworkRules) -> Result<(), FirewallError> {
        self.check_prefix()?;
        let rules = self.network_rules(n);
        let mut present = 0;
        for rule in &rules {
            if exists(rule)? {
                present += 1;
            }
        }
        if present == rules.len() {
            return Ok(());
        }
        for rule in &rules {
            delete_all(rule)?;
        }
        for rule in &rules {
            append(rule)?;
        }
        if n.subnet6.is_some() {
            std::fs::write(IP6_FORWARD, "1")
                .map_err(|source| FirewallError::Sysctl { path: PathBuf::from(IP6_FORWARD), source })?;
        }
        Ok(())
    }

    /// Removes the rules [`Firewall::add_network`] added (both the internal and the external
    /// variants, so a changed flag cannot leave rules behind). Succeeds when they are absent.
    pub fn remove_network(&self, n: &NetworkRules) -> Result<(), FirewallError> {
        self.check_prefix()?;
        let mut variants = Vec::new();
        for internal in [false, true] {
            for icc in [false, true] {
                variants.extend(self.network_rules(&NetworkRules { internal, icc, ..n.clone() }));
            }
        }
        for rule in &variants {
            delete_all(rule)?;
        }
        Ok(())
    }

    fn port_rules(&self, p: &PortRule) -> [Rule; 2] {
        let proto = p.proto.as_str();
        let host_port = p.host_port.to_string();
        let to = format!("{}:{}", p.container_ip, p.container_port);
        let mut dnat: Vec<String> = Vec::new();
        if !p.host_ip.is_unspecified() {
            dnat.extend(["-d".to_owned(), format!("{}/32", p.host_ip)]);
        }
        dnat.extend(
            [
                "!",
                "-i",
                &p.bridge,
                "-p",
                proto,
                "-m",
                proto,
                "--dport",
                &host_port,
                "-j",
                "DNAT",
                "--to-destination",
                &to,
            ]
            .map(str::to_owned),
        );
        let cip = format!("{}/32", p.container_ip);
        let cport = p.container_port.to_string();
        [
            Rule { family: Family::V4, table: Table::Nat, chain: self.dnat(), spec: dnat },
            Rule::new(
                Table::Nat,
                &self.post(),
                &["-s", &cip, "-d", &cip, "-p", proto, "-m", proto, "--dport", &cport, "-j", "MASQUERADE"],
            ),
        ]
    }

    /// Adds the DNAT rule of a published port and its hairpin MASQUERADE rule. Idempotent.
    pub fn add_port(&self, p: &PortRule) -> Result<(), FirewallError> {
        self.check_prefix()?;
        for rule in &self.port_rules(p) {
            ensure(rule)?;
        }
        Ok(())
    }

    /// Removes the rules [`Firewall::add_port`] added. Succeeds when they are absent.
    pub fn remove_port(&self, p: &PortRule) -> Result<(), FirewallError> {
        self.check_prefix()?;
        for rule in &self.port_rules(p) {
            delete_all(rule)?;
        }
        Ok(())
    }

    /// Removes the jump rules and deletes all of this prefix's chains (clean daemon shutdown).
    /// Succeeds when they are already gone.
    pub fn teardown(&self) -> Result<(), FirewallError> {
        self.check_prefix()?;
        delete_all(&self.forward_jump())?;
        for jump in self.nat_jumps() {
            delete_all(&jump)?;
        }
        for family in [Family::V4, Family::V6] {
            if family == Family::V6 {
                if !ip6tables_works() {
                    continue;
                }
                delete_all(&self.forward_jump().v6())?;
                for jump in self.nat_jumps_v6() {
                    delete_all(&jump)?;
                }
            }
            let existing: Vec<(Table, String)> =
                self.chains().into_iter().filter(|(table, chain)| chain_exists_in(family, *table, chain)).collect();
            // Flush everything first: {P}-FWD refers to FWD-IN and FWD-OUT, and a referenced chain
            // cannot be deleted.
            for (table, chain) in &existing {
                run_in(family, *table, &["-F", chain])?;
            }
            for (table, chain) in &existing {
                run_in(family, *table, &["-X", chain])?;
            }
        }
        Ok(())
    }
}

/// How long one `iptables` call waits for the xtables lock another program holds before it fails
/// (as dockerd's `--wait` calls do): a stuck firewall tool must not hold up a container start forever.
const LOCK_WAIT_SECS: &str = "10";

/// Runs `iptables -w SECS -t TABLE ARGS…` and returns its standard output.
fn run(table: Table, args: &[&str]) -> Result<String, FirewallError> {
    run_in(Family::V4, table, args)
}

/// Whether `ip6tables` runs and has its filter table (teardown skips IPv6 otherwise).
fn ip6tables_works() -> bool {
    run_in(Family::V6, Table::Filter, &["-S", "FORWARD"]).is_ok()
}

/// Runs `iptables` or `ip6tables` (`-w SECS -t TABLE ARGS…`) and returns its standard output.
fn run_in(family: Family, table: Table, args: &[&str]) -> Result<String, FirewallError> {
    let output = Command::new(family.binary())
        .args(["-w", LOCK_WAIT_SECS, "-t", table.as_str()])
        .args(args)
        .output()
        .map_err(|source| FirewallError::Spawn { source })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let v6 = if family == Family::V6 { "(ip6tables) " } else { "" };
    Err(FirewallError::Command {
        args: format!("{v6}-t {} {}", table.as_str(), args.join(" ")),
        stderr: stderr.lines().next().unwrap_or("").trim().to_owned(),
    })
}

/// Runs `iptables` with an operation (`-C`, `-A`, `-D`) applied to `rule`.
fn run_rule(op: &str, rule: &Rule) -> Result<String, FirewallError> {
    let mut args = vec![op, rule.chain.as_str()];
    args.extend(rule.spec.iter().map(String::as_str));
    run_in(rule.family, rule.table, &args)
}

fn chain_exists(table: Table, chain: &str) -> bool {
    chain_exists_in(Family::V4, table, chain)
}

fn chain_exists_in(family: Family, table: Table, chain: &str) -> bool {
    run_in(family, table, &["-S", chain]).is_ok()
}

/// Whether `rule` is present. A failing check (absent rule or chain) counts as absent; an
/// `iptables` that cannot be started is an error.
fn exists(rule: &Rule) -> Result<bool, FirewallError> {
    match run_rule("-C", rule) {
        Ok(_) => Ok(true),
        Err(FirewallError::Command { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

fn append(rule: &Rule) -> Result<(), FirewallError> {
    run_rule("-A", rule).map(drop)
}

/// Appends `rule` unless it is present.
fn ensure(rule: &Rule) -> Result<(), FirewallError> {
    if exists(rule)? {
        return Ok(());
    }
    append(rule)
}

/// Deletes every copy of `rule`.
fn delete_all(rule: &Rule) -> Result<(), FirewallError> {
    while exists(rule)? {
        run_rule("-D", rule)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_parses_and_prints_docker_names() {
        for (s, p) in [("tcp", Proto::Tcp), ("udp", Proto::Udp), ("sctp", Proto::Sctp)] {
            assert_eq!(s.parse::<Proto>(), Ok(p));
            assert_eq!(p.as_str(), s);
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{s}\""));
        }
        assert_eq!("TCP".parse::<Proto>(), Ok(Proto::Tcp));
        assert!("icmp".parse::<Proto>().is_err());
    }

    #[test]
    fn prefix_must_fit_chain_names() {
        assert!(Firewall::new("BERTH").check_prefix().is_ok());
        assert!(Firewall::new("BERTH-1a2b3c4d5e6f7a").check_prefix().is_ok());
        assert!(Firewall::new("BERTH-1a2b3c4d5e6f7a8").check_prefix().is_err());
        assert!(Firewall::new("").check_prefix().is_err());
        assert!(Firewall::new("-X").check_prefix().is_err());
        assert!(Firewall::new("A B").check_prefix().is_err());
    }

    #[test]
    fn port_rule_omits_unspecified_host_ip() {
        let fw = Firewall::new("T");
        let mut p = PortRule {
            proto: Proto::Udp,
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 5353,
            container_ip: Ipv4Addr::new(172, 18, 0, 2),
            container_port: 53,
            bridge: "br-x".into(),
        };
        let [dnat, hairpin] = fw.port_rules(&p);
        assert_eq!(dnat.chain, "T-DNAT");
        assert_eq!(dnat.spec.join(" "), "! -i br-x -p udp -m udp --dport 5353 -j DNAT --to-destination 172.18.0.2:53");
        assert_eq!(hairpin.spec.join(" "), "-s 172.18.0.2/32 -d 172.18.0.2/32 -p udp -m udp --dport 53 -j MASQUERADE");
        p.host_ip = Ipv4Addr::new(10, 0, 0, 1);
        assert!(fw.port_rules(&p)[0].spec.join(" ").starts_with("-d 10.0.0.1/32 ! -i br-x"));
    }

    #[test]
    fn internal_network_is_not_masqueraded() {
        let fw = Firewall::new("T");
        let mut n = NetworkRules {
            bridge: "br-x".into(),
            subnet: "172.18.0.1/16".parse().unwrap(),
            subnet6: None,
            internal: false,
            icc: true,
        };
        let rules = fw.network_rules(&n);
        assert!(rules.iter().any(|r| r.spec.join(" ") == "-s 172.18.0.0/16 ! -o br-x -j MASQUERADE"));
        n.internal = true;
        let rules = fw.network_rules(&n);
        assert!(rules.iter().all(|r| r.chain != "T-POST"));
        assert!(rules.iter().any(|r| r.spec.join(" ") == "-i br-x ! -o br-x -j DROP"));
    }

    #[test]
    fn dual_stack_network_mirrors_its_rules_in_ip6tables() {
        let fw = Firewall::new("T");
        let mut n = NetworkRules {
            bridge: "br-x".into(),
            subnet: "172.18.0.0/16".parse().unwrap(),
            subnet6: Some("fd00:db8:1::/64".parse().unwrap()),
            internal: false,
            icc: false,
        };
        let rules = fw.network_rules(&n);
        let v6: Vec<String> = rules.iter().filter(|r| r.family == Family::V6).map(|r| format!("{} {}", r.chain, r.spec.join(" "))).collect();
        assert!(v6.contains(&"T-FWD-IN -i br-x -o br-x -j DROP".to_string()), "{v6:?}");
        assert!(v6.contains(&"T-FWD-OUT -i br-x ! -o br-x -j ACCEPT".to_string()), "{v6:?}");
        assert!(v6.contains(&"T-POST -s fd00:db8:1::/64 ! -o br-x -j MASQUERADE".to_string()), "{v6:?}");
        assert!(!v6.iter().any(|r| r.contains("172.18.")), "{v6:?}");
        n.internal = true;
        let rules = fw.network_rules(&n);
        assert!(!rules.iter().any(|r| r.chain == "T-POST"));
    }
}
