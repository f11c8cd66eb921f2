//! iptables rules of `berth_network::firewall`, checked against `iptables -S`. Needs root; each
//! test uses its own chain prefix, so tests run in parallel beside each other (and beside any
//! Docker on the host) and tear their chains down even when they fail.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use berth_network::firewall::{Firewall, NetworkRules, PortRule, Proto};

/// A firewall with a unique prefix, torn down on drop.
struct Guard {
    fw: Firewall,
    prefix: String,
}

impl Guard {
    fn new() -> Guard {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u32(COUNTER.fetch_add(1, Ordering::Relaxed));
        let prefix = format!("BT-{:08x}", h.finish() as u32);
        Guard { fw: Firewall::new(&prefix), prefix }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.fw.teardown();
    }
}

fn iptables_s(table: &str, chain: &str) -> Vec<String> {
    let out = Command::new("iptables").args(["-w", "-t", table, "-S", chain]).output().unwrap();
    assert!(out.status.success(), "iptables -S {chain}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

fn whole_table(table: &str) -> String {
    let out = Command::new("iptables").args(["-w", "-t", table, "-S"]).output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

/// The rules of `chain` as `-A` lines without the `-A CHAIN ` head.
fn rules(table: &str, chain: &str) -> Vec<String> {
    let head = format!("-A {chain} ");
    iptables_s(table, chain).into_iter().filter_map(|l| l.strip_prefix(&head).map(str::to_owned)).collect()
}

fn count(lines: &[String], rule: &str) -> usize {
    lines.iter().filter(|l| l.as_str() == rule).count()
}

fn network(bridge: &str) -> NetworkRules {
    NetworkRules { bridge: bridge.into(), subnet: "10.213.0.0/24".parse().unwrap(), subnet6: None, internal: false, icc: true }
}

#[test]
fn init_twice_creates_chains_and_one_jump_each() {
    let g = Guard::new();
    let p = &g.prefix;
    g.fw.init().unwrap();
    g.fw.init().unwrap();

    assert_eq!(count(&rules("filter", "FORWARD"), &format!("-j {p}-FWD")), 1);
    assert_eq!(count(&rules("nat", "PREROUTING"), &format!("-m addrtype --dst-type LOCAL -j {p}-DNAT")), 1);
    assert_eq!(
        count(&rules("nat", "OUTPUT"), &format!("! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j {p}-DNAT")),
        1
    );
    assert_eq!(count(&rules("nat", "POSTROUTING"), &format!("-j {p}-POST")), 1);
    assert_eq!(rules("filter", &format!("{p}-FWD")), vec![format!("-j {p}-FWD-IN"), format!("-j {p}-FWD-OUT")]);
    assert!(rules("filter", &format!("{p}-FWD-IN")).is_empty());
    assert!(rules("filter", &format!("{p}-FWD-OUT")).is_empty());
    assert!(rules("nat", &format!("{p}-DNAT")).is_empty());
    assert!(rules("nat", &format!("{p}-POST")).is_empty());
    assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap().trim(), "1");
}

#[test]
fn init_flushes_rules_left_by_a_crashed_daemon() {
    let g = Guard::new();
    let p = &g.prefix;
    g.fw.init().unwrap();
    g.fw.add_network(&network("btbr-flush")).unwrap();
    assert_eq!(rules("filter", &format!("{p}-FWD-IN")).len(), 3);
    g.fw.init().unwrap();
    assert!(rules("filter", &format!("{p}-FWD-IN")).is_empty());
    assert!(rules("nat", &format!("{p}-POST")).is_empty());
    assert_eq!(rules("filter", &format!("{p}-FWD")).len(), 2);
}

#[test]
fn network_rules_are_added_once_and_removed() {
    let g = Guard::new();
    let p = &g.prefix;
    g.fw.init().unwrap();
    let n = network("btbr-net");
    g.fw.add_network(&n).unwrap();
    g.fw.add_network(&n).unwrap();

    assert_eq!(
        rules("filter", &format!("{p}-FWD-IN")),
        vec![
            "-o btbr-net -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT".to_owned(),
            "-i btbr-net -o btbr-net -j ACCEPT".to_owned(),
            "-o btbr-net -j DROP".to_owned(),
        ]
    );
    assert_eq!(rules("filter", &format!("{p}-FWD-OUT")), vec!["-i btbr-net ! -o btbr-net -j ACCEPT".to_owned()]);
    assert_eq!(rules("nat", &format!("{p}-DNAT")), vec!["-i btbr-net -j RETURN".to_owned()]);
    assert_eq!(rules("nat", &format!("{p}-POST")), vec!["-s 10.213.0.0/24 ! -o btbr-net -j MASQUERADE".to_owned()]);

    g.fw.remove_network(&n).unwrap();
    g.fw.remove_network(&n).unwrap();
    for (table, chain) in [("filter", "FWD-IN"), ("filter", "FWD-OUT"), ("nat", "DNAT"), ("nat", "POST")] {
        assert!(rules(table, &format!("{p}-{chain}")).is_empty(), "{chain} not empty");
    }
}

#[test]
fn internal_network_without_icc_drops_and_does_not_masquerade() {
    let g = Guard::new();
    let p = &g.prefix;
    g.fw.init().unwrap();
    let n = NetworkRules { internal: true, icc: false, ..network("btbr-int") };
    g.fw.add_network(&n).unwrap();
    let fwd_in = rules("filter", &format!("{p}-FWD-IN"));
    assert_eq!(fwd_in[1], "-i btbr-int -o btbr-int -j DROP");
    assert_eq!(rules("filter", &format!("{p}-FWD-OUT")), vec!["-i btbr-int ! -o btbr-int -j DROP".to_owned()]);
    assert!(rules("nat", &format!("{p}-POST")).is_empty());

    // A network re-added with other flags replaces its rules instead of keeping stale ones.
    g.fw.remove_network(&NetworkRules { internal: false, icc: true, ..n.clone() }).unwrap();
    assert!(rules("filter", &format!("{p}-FWD-IN")).is_empty());
}

#[test]
fn port_rules_are_added_once_and_removed() {
    let g = Guard::new();
    let p = &g.prefix;
    g.fw.init().unwrap();
    let any = PortRule {
        proto: Proto::Tcp,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port: 8080,
        container_ip: Ipv4Addr::new(10, 213, 0, 2),
        container_port: 80,
        bridge: "btbr-port".into(),
    };
    let one = PortRule {
        proto: Proto::Udp,
        host_ip: Ipv4Addr::new(127, 0, 0, 1),
        host_port: 5353,
        container_port: 53,
        ..any.clone()
    };
    g.fw.add_port(&any).unwrap();
    g.fw.add_port(&any).unwrap();
    g.fw.add_port(&one).unwrap();

    assert_eq!(
        rules("nat", &format!("{p}-DNAT")),
        vec![
            "! -i btbr-port -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.213.0.2:80".to_owned(),
            "-d 127.0.0.1/32 ! -i btbr-port -p udp -m udp --dport 5353 -j DNAT --to-destination 10.213.0.2:53"
                .to_owned(),
        ]
    );
    assert_eq!(
        rules("nat", &format!("{p}-POST")),
        vec![
            "-s 10.213.0.2/32 -d 10.213.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE".to_owned(),
            "-s 10.213.0.2/32 -d 10.213.0.2/32 -p udp -m udp --dport 53 -j MASQUERADE".to_owned(),
        ]
    );

    g.fw.remove_port(&any).unwrap();
    assert_eq!(rules("nat", &format!("{p}-DNAT")).len(), 1);
    g.fw.remove_port(&one).unwrap();
    g.fw.remove_port(&one).unwrap();
    assert!(rules("nat", &format!("{p}-DNAT")).is_empty());
    assert!(rules("nat", &format!("{p}-POST")).is_empty());
}

#[test]
fn teardown_leaves_nothing_and_is_idempotent() {
    let g = Guard::new();
    g.fw.init().unwrap();
    g.fw.add_network(&network("btbr-down")).unwrap();
    g.fw.add_port(&PortRule {
        proto: Proto::Tcp,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port: 8081,
        container_ip: Ipv4Addr::new(10, 213, 0, 3),
        container_port: 80,
        bridge: "btbr-down".into(),
    })
    .unwrap();
    g.fw.teardown().unwrap();
    g.fw.teardown().unwrap();
    assert!(!whole_table("filter").contains(&g.prefix));
    assert!(!whole_table("nat").contains(&g.prefix));
}

#[test]
fn invalid_prefix_is_refused_before_running_iptables() {
    let err = Firewall::new("THIS-PREFIX-IS-FAR-TOO-LONG").init().unwrap_err();
    assert!(err.to_string().starts_with("invalid iptables chain prefix"), "{err}");
}

/// Runs `ip ARGS…`, panicking with its error output on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A bridge with a "container" namespace behind it and an "outside" namespace routed through
/// the host, all removed on drop.
struct Topology {
    tag: String,
}

impl Topology {
    /// container ns: eth0 10.231.N.2/24 on bridge btb-TAG (10.231.N.1), default via the bridge;
    /// outside ns: eth0 10.232.N.2/24, host side btw-TAG 10.232.N.1, default via the host.
    fn new(tag: &str, n: u8) -> Topology {
        let t = Topology { tag: tag.to_owned() };
        let (c, o, br, vc, vo) = (t.ns("c"), t.ns("o"), t.bridge(), format!("btv-{tag}"), format!("btw-{tag}"));
        ip(&["netns", "add", &c]);
        ip(&["netns", "add", &o]);
        ip(&["link", "add", &br, "type", "bridge"]);
        ip(&["addr", "add", &format!("10.231.{n}.1/24"), "dev", &br]);
        ip(&["link", "set", &br, "up"]);
        ip(&["link", "add", &vc, "type", "veth", "peer", "name", "eth0", "netns", &c]);
        ip(&["link", "set", &vc, "master", &br, "up"]);
        ip(&["link", "add", &vo, "type", "veth", "peer", "name", "eth0", "netns", &o]);
        ip(&["addr", "add", &format!("10.232.{n}.1/24"), "dev", &vo]);
        ip(&["link", "set", &vo, "up"]);
        for (ns, net) in [(&c, 231), (&o, 232)] {
            ip(&["-n", ns, "addr", "add", &format!("10.{net}.{n}.2/24"), "dev", "eth0"]);
            ip(&["-n", ns, "link", "set", "eth0", "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "route", "add", "default", "via", &format!("10.{net}.{n}.1")]);
        }
        t
    }

    fn ns(&self, side: &str) -> String {
        format!("bt{side}-{}", self.tag)
    }

    fn bridge(&self) -> String {
        format!("btb-{}", self.tag)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [self.ns("c"), self.ns("o")] {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
        for link in [self.bridge(), format!("btv-{}", self.tag), format!("btw-{}", self.tag)] {
            let _ = Command::new("ip").args(["link", "del", &link]).output();
        }
    }
}

/// Runs `f` on a thread inside network namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        f()
    })
}

/// A server in `ns` on `port` that answers each connection with the peer address it sees.
fn peer_reporting_server(ns: &str, port: u16) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    in_netns(ns, move || {
        let listener = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
        ready_tx.send(()).unwrap();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let peer = stream.peer_addr().unwrap().ip().to_string();
            let _ = std::io::Write::write_all(&mut stream, peer.as_bytes());
        }
    });
    ready_rx.recv().unwrap();
}

/// Connects from `ns` to `addr` and returns what the server said, or the connect error.
fn client(ns: &str, addr: &str) -> Result<String, String> {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    in_netns(ns, move || {
        let mut s = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2))
            .map_err(|e| e.to_string())?;
        let mut reply = String::new();
        std::io::Read::read_to_string(&mut s, &mut reply).map_err(|e| e.to_string())?;
        Ok(reply)
    })
    .join()
    .unwrap()
}

#[test]
fn rules_really_forward_publish_masquerade_and_isolate() {
    let g = Guard::new();
    let tag = &g.prefix[3..];
    let n = u8::from_str_radix(&tag[..2], 16).unwrap();
    let topo = Topology::new(tag, n);
    let (container, outside) = (topo.ns("c"), topo.ns("o"));
    g.fw.init().unwrap();
    let net = NetworkRules {
        bridge: topo.bridge(),
        subnet: format!("10.231.{n}.0/24").parse().unwrap(),
        subnet6: None,
        internal: false,
        icc: true,
    };
    g.fw.add_network(&net).unwrap();
    g.fw.add_port(&PortRule {
        proto: Proto::Tcp,
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port: 18080,
        container_ip: Ipv4Addr::new(10, 231, n, 2),
        container_port: 80,
        bridge: topo.bridge(),
    })
    .unwrap();
    peer_reporting_server(&container, 80);
    peer_reporting_server(&outside, 81);

    // Published port: outside -> host:18080 -> DNAT -> container:80, source kept.
    assert_eq!(client(&outside, &format!("10.232.{n}.1:18080")), Ok(format!("10.232.{n}.2")));
    // Outbound: container -> outside, masqueraded to the host's address on that link.
    assert_eq!(client(&container, &format!("10.232.{n}.2:81")), Ok(format!("10.232.{n}.1")));
    // Isolation: the container is not reachable directly, only through the published port.
    assert!(client(&outside, &format!("10.231.{n}.2:80")).is_err());

    // An internal network lets nothing out.
    g.fw.remove_network(&net).unwrap();
    g.fw.add_network(&NetworkRules { internal: true, ..net.clone() }).unwrap();
    assert!(client(&container, &format!("10.232.{n}.2:81")).is_err());
    drop(topo);
}

fn ip6tables_s(table: &str) -> String {
    let out = Command::new("ip6tables").args(["-w", "-t", table, "-S"]).output().unwrap();
    assert!(out.status.success(), "ip6tables -S: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn dual_stack_network_rules_go_to_ip6tables_and_teardown_removes_them() {
    let g = Guard::new();
    let p = &g.prefix;
    g.fw.init().unwrap();
    g.fw.init_v6().unwrap();
    g.fw.init_v6().unwrap();
    let n = NetworkRules { subnet6: Some("fd00:db8:213::/64".parse().unwrap()), icc: false, ..network("btbr-six") };
    g.fw.add_network(&n).unwrap();
    g.fw.add_network(&n).unwrap();
    let nat = ip6tables_s("nat");
    let filter = ip6tables_s("filter");
    assert_eq!(nat.matches(&format!("-A {p}-POST -s fd00:db8:213::/64 ! -o btbr-six -j MASQUERADE")).count(), 1, "{nat}");
    assert_eq!(nat.matches(&format!("-A OUTPUT ! -d ::1/128 -m addrtype --dst-type LOCAL -j {p}-DNAT")).count(), 1, "{nat}");
    assert_eq!(filter.matches(&format!("-A {p}-FWD-IN -i btbr-six -o btbr-six -j DROP")).count(), 1, "{filter}");
    assert_eq!(filter.matches(&format!("-A FORWARD -j {p}-FWD")).count(), 1, "{filter}");
    // The IPv4 side is unchanged: no IPv6 address in iptables.
    assert!(!whole_table("nat").contains("fd00:db8:213"));
    g.fw.remove_network(&n).unwrap();
    assert!(!ip6tables_s("nat").contains("btbr-six"));
    assert!(!ip6tables_s("filter").contains("btbr-six"));
    g.fw.add_network(&n).unwrap();
    g.fw.teardown().unwrap();
    assert!(!ip6tables_s("nat").contains(p.as_str()), "{}", ip6tables_s("nat"));
    assert!(!ip6tables_s("filter").contains(p.as_str()), "{}", ip6tables_s("filter"));
}
