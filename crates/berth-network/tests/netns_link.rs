//! Root tests: real network namespaces, bridges and veth pairs. Each test uses its own bridge
//! name, its own 10.x.y.0/24 subnet (from a /16 base no other test uses, avoiding the host's own
//! networks) and namespaces under a temp dir; a drop guard removes everything even on failure.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use berth_network::ipam::pick_subnet;
use berth_network::link::{
    attach_endpoint, delete_link, detach_endpoint, ensure_bridge, format_mac, host_networks,
    link_exists, mac_for_ip, BridgeConfig, EndpointConfig,
};
use berth_network::netns::{NetError, NetNs};
use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use netlink_packet_route::link::{LinkAttribute, LinkFlags};
use netlink_packet_route::route::{RouteAddress, RouteAttribute};
use rtnetlink::RouteMessageBuilder;

/// A short unique name: `prefix` + 8 hex digits from the pid, the time and a counter.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = std::process::id().wrapping_mul(2_654_435_761)
        ^ nanos
        ^ COUNTER.fetch_add(1, Ordering::Relaxed) << 24;
    format!("{prefix}{n:08x}")
}

/// A /24 inside 10.`second`.0.0/16 that collides with nothing on the host.
async fn free_subnet(second: u8) -> Ipv4Net {
    let base = Ipv4Net::new(Ipv4Addr::new(10, second, 0, 0), 16).unwrap();
    let used = host_networks().await.unwrap();
    pick_subnet(&[(base, 24)], &used).expect("a free /24 in the test's base")
}

fn host(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()) + n)
}

/// Removes what a test made, also when it panics.
struct Cleanup {
    _dir: tempfile::TempDir,
    links: Vec<String>,
    netns: Vec<PathBuf>,
}

impl Cleanup {
    fn new() -> Cleanup {
        Cleanup {
            _dir: tempfile::tempdir().unwrap(),
            links: Vec::new(),
            netns: Vec::new(),
        }
    }

    fn dir(&self) -> &Path {
        self._dir.path()
    }

    fn netns(&mut self, name: &str) -> NetNs {
        let path = self.dir().join("netns").join(name);
        self.netns.push(path.clone());
        NetNs::create(&path).unwrap()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let links = std::mem::take(&mut self.links);
        // Drop may run on a runtime worker: do the async deletes on a thread of their own.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            for link in links.iter().rev() {
                if let Err(e) = rt.block_on(delete_link(link)) {
                    eprintln!("cleanup: {e}");
                }
            }
        })
        .join()
        .unwrap();
        for path in &self.netns {
            if let Err(e) = NetNs::remove(path) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// What a test checks of one link inside a namespace.
#[derive(Debug)]
struct LinkInfo {
    mac: Vec<u8>,
    mtu: u32,
    up: bool,
}

/// Runs `f` with an rtnetlink handle whose socket lives in `ns`.
fn in_ns<T: Send + 'static, F>(
    ns: &NetNs,
    f: impl FnOnce(rtnetlink::Handle) -> F + Send + 'static,
) -> T
where
    F: std::future::Future<Output = T>,
{
    ns.run(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (conn, handle, _) = rtnetlink::new_connection().unwrap();
            tokio::spawn(conn);
            f(handle).await
        })
    })
    .unwrap()
}

fn link_in(ns: &NetNs, name: &str) -> Option<LinkInfo> {
    let name = name.to_string();
    in_ns(ns, move |h| async move {
        let link = match h.link().get().match_name(name).execute().try_next().await {
            Ok(link) => link?,
            Err(_) => return None,
        };
        let mut info = LinkInfo {
            mac: Vec::new(),
            mtu: 0,
            up: link.header.flags.contains(LinkFlags::Up),
        };
        for a in link.attributes {
            match a {
                LinkAttribute::Address(mac) => info.mac = mac,
                LinkAttribute::Mtu(mtu) => info.mtu = mtu,
                _ => {}
            }
        }
        Some(info)
    })
}

/// The gateway of the namespace's IPv4 default route.
fn default_gateway_in(ns: &NetNs) -> Option<Ipv4Addr> {
    in_ns(ns, |h| async move {
        let mut routes = h
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute();
        while let Some(r) = routes.try_next().await.unwrap() {
            if r.header.destination_prefix_length != 0 || r.header.table != 254 {
                continue;
            }
            for a in r.attributes {
                if let RouteAttribute::Gateway(RouteAddress::Inet(gw)) = a {
                    return Some(gw);
                }
            }
        }
        None
    })
}

fn sys(ifname: &str, file: &str) -> String {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/{file}"))
        .unwrap()
        .trim()
        .to_string()
}

/// Connects to `addr` from inside `ns`, sends "ping" and returns the reply.
fn exchange_from(ns: &NetNs, addr: SocketAddr) -> std::io::Result<String> {
    ns.run(move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"ping")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply)
    })
    .unwrap()
}

/// Accepts one connection on `listener` (on a thread), answers "pong:" + what it read.
fn serve_once(listener: TcpListener) -> std::thread::JoinHandle<std::io::Result<()>> {
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept()?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)?;
        s.write_all(b"pong:")?;
        s.write_all(&buf)
    })
}

#[test]
fn netns_create_run_open_and_remove() {
    let mut c = Cleanup::new();
    let ns = c.netns(&unique("ns"));
    let host_ns = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    let inner = ns
        .run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
        .unwrap();
    assert_ne!(host_ns, inner, "run must execute inside the new namespace");
    // The calling thread is untouched.
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
        host_ns
    );

    // lo is up inside: a listener on 127.0.0.1 there is reachable from there.
    let listener = ns
        .run(|| TcpListener::bind("127.0.0.1:0").unwrap())
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve_once(listener);
    assert_eq!(exchange_from(&ns, addr).unwrap(), "pong:ping");
    server.join().unwrap().unwrap();

    // Reopening the file reaches the same namespace.
    let again = NetNs::open(ns.path()).unwrap();
    let inner2 = again
        .run(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap())
        .unwrap();
    assert_eq!(inner, inner2);
    NetNs::open(Path::new("/proc/self/ns/net")).unwrap();

    // A second create on the same path fails and leaves the first intact.
    let err = NetNs::create(ns.path()).unwrap_err();
    assert!(err.to_string().contains("File exists"), "{err}");
    NetNs::open(ns.path()).unwrap();

    let path = ns.path().to_path_buf();
    NetNs::remove(&path).unwrap();
    assert!(!path.exists());
    assert!(!std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(path.to_str().unwrap()));
    NetNs::remove(&path).unwrap();
    assert!(matches!(NetNs::open(&path), Err(NetError::Sys { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_bridge_is_idempotent_and_refuses_non_bridges() {
    let mut c = Cleanup::new();
    let subnet = free_subnet(201).await;
    let name = unique("bt");
    c.links.push(name.clone());
    let gateway = Ipv4Net::new(host(subnet, 1), 24).unwrap();
    let cfg = BridgeConfig {
        name: name.clone(),
        gateway: Some(gateway),
        gateway6: None,
        mtu: Some(1400),
    };
    ensure_bridge(&cfg).await.unwrap();
    ensure_bridge(&cfg).await.unwrap();
    assert!(link_exists(&name).await.unwrap());
    assert_eq!(sys(&name, "mtu"), "1400");
    assert!(std::path::Path::new(&format!("/sys/class/net/{name}/bridge")).exists());
    let flags = u32::from_str_radix(sys(&name, "flags").trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "IFF_UP");
    assert!(host_networks().await.unwrap().contains(&subnet));

    // A changed MTU is applied; the address is not added twice.
    ensure_bridge(&BridgeConfig {
        mtu: Some(1450),
        ..cfg.clone()
    })
    .await
    .unwrap();
    assert_eq!(sys(&name, "mtu"), "1450");

    // A veth of the name asked for is not a bridge.
    let ns = c.netns(&unique("ns"));
    let veth = unique("vt");
    c.links.push(veth.clone());
    attach_endpoint(
        &ns,
        &EndpointConfig {
            bridge: name.clone(),
            host_ifname: veth.clone(),
            container_ifname: "eth0".into(),
            address: Ipv4Net::new(host(subnet, 2), 24).unwrap(),
            gateway: None,
            address6: None,
            gateway6: None,
            link_local: vec![],
            mac: mac_for_ip(host(subnet, 2)),
            mtu: None,
        },
    )
    .await
    .unwrap();
    let err = ensure_bridge(&BridgeConfig {
        name: veth.clone(),
        gateway: None,
        gateway6: None,
        mtu: None,
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("network interface {veth} exists and is not a bridge")
    );

    delete_link(&name).await.unwrap();
    assert!(!link_exists(&name).await.unwrap());
    delete_link(&name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_on_one_bridge_reach_each_other_and_detach_cleanly() {
    let mut c = Cleanup::new();
    let subnet = free_subnet(202).await;
    let bridge = unique("bt");
    c.links.push(bridge.clone());
    let gw = host(subnet, 1);
    ensure_bridge(&BridgeConfig {
        name: bridge.clone(),
        gateway: Some(Ipv4Net::new(gw, 24).unwrap()),
        gateway6: None,
        mtu: Some(1450),
    })
    .await
    .unwrap();

    let mut ends = Vec::new();
    for n in [2, 3] {
        let ns = c.netns(&unique("ns"));
        let ip = host(subnet, n);
        let cfg = EndpointConfig {
            bridge: bridge.clone(),
            host_ifname: unique("vt"),
            container_ifname: "eth0".into(),
            address: Ipv4Net::new(ip, 24).unwrap(),
            gateway: Some(gw),
            address6: None,
            gateway6: None,
            link_local: vec![],
            mac: mac_for_ip(ip),
            mtu: Some(1450),
        };
        c.links.push(cfg.host_ifname.clone());
        attach_endpoint(&ns, &cfg).await.unwrap();
        ends.push((ns, cfg));
    }

    for (ns, cfg) in &ends {
        let eth0 = link_in(ns, "eth0").expect("eth0 inside the namespace");
        assert_eq!(
            format_mac(eth0.mac.as_slice().try_into().unwrap()),
            format_mac(&cfg.mac)
        );
        assert_eq!(eth0.mtu, 1450);
        assert!(eth0.up);
        assert!(link_in(ns, "lo").unwrap().up);
        assert_eq!(default_gateway_in(ns), Some(gw));
        let h = &cfg.host_ifname;
        let master = std::fs::read_link(format!("/sys/class/net/{h}/master")).unwrap();
        assert_eq!(master.file_name().unwrap().to_str().unwrap(), bridge);
        assert_eq!(sys(h, "mtu"), "1450");
        // The kernel's link watcher sets the operational state asynchronously (up to a second
        // later on a busy host): wait for it rather than read it once.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while sys(h, "operstate") != "up" && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(sys(h, "operstate"), "up");
    }

    // Container to container, across the bridge.
    let (ns_a, cfg_a) = &ends[0];
    let (ns_b, _) = &ends[1];
    let listen = SocketAddr::from((cfg_a.address.addr(), 0));
    let listener = ns_a
        .run(move || TcpListener::bind(listen).unwrap())
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve_once(listener);
    assert_eq!(exchange_from(ns_b, addr).unwrap(), "pong:ping");
    server.join().unwrap().unwrap();

    // Container to the host through the gateway address on the test's own bridge.
    let listener = TcpListener::bind((gw, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve_once(listener);
    assert_eq!(exchange_from(ns_b, addr).unwrap(), "pong:ping");
    server.join().unwrap().unwrap();

    for (ns, cfg) in &ends {
        detach_endpoint(&cfg.host_ifname).await.unwrap();
        assert!(!link_exists(&cfg.host_ifname).await.unwrap());
        assert!(
            link_in(ns, "eth0").is_none(),
            "the peer dies with the host end"
        );
        detach_endpoint(&cfg.host_ifname).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attach_leaves_no_veth() {
    let mut c = Cleanup::new();
    let subnet = free_subnet(203).await;
    let bridge = unique("bt");
    c.links.push(bridge.clone());
    let gw = host(subnet, 1);
    ensure_bridge(&BridgeConfig {
        name: bridge.clone(),
        gateway: Some(Ipv4Net::new(gw, 24).unwrap()),
        gateway6: None,
        mtu: None,
    })
    .await
    .unwrap();
    let ns = c.netns(&unique("ns"));
    let ip = host(subnet, 2);
    let good = EndpointConfig {
        bridge: bridge.clone(),
        host_ifname: unique("vt"),
        container_ifname: "eth0".into(),
        address: Ipv4Net::new(ip, 24).unwrap(),
        gateway: Some(gw),
        address6: None,
        gateway6: None,
        link_local: vec![],
        mac: mac_for_ip(ip),
        mtu: None,
    };
    c.links.push(good.host_ifname.clone());

    // Failure after the pair exists: a gateway the address cannot reach.
    let unreachable = EndpointConfig {
        gateway: Some(Ipv4Addr::new(10, 255, 255, 254)),
        address6: None,
        gateway6: None,
        ..good.clone()
    };
    let err = attach_endpoint(&ns, &unreachable).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("adding default route via 10.255.255.254 on eth0: "),
        "{err}"
    );
    assert!(
        !link_exists(&good.host_ifname).await.unwrap(),
        "veth leaked"
    );
    assert!(link_in(&ns, "eth0").is_none());

    // Failure creating the pair: the container name is taken; nothing of ours to remove.
    attach_endpoint(&ns, &good).await.unwrap();
    let second = EndpointConfig {
        host_ifname: unique("vt"),
        ..good.clone()
    };
    c.links.push(second.host_ifname.clone());
    let err = attach_endpoint(&ns, &second).await.unwrap_err();
    assert!(err.to_string().contains("File exists"), "{err}");
    assert!(!link_exists(&second.host_ifname).await.unwrap());
    assert!(
        link_exists(&good.host_ifname).await.unwrap(),
        "the existing endpoint is untouched"
    );

    // A missing bridge.
    let orphan = EndpointConfig {
        bridge: unique("bt"),
        host_ifname: unique("vt"),
        ..good.clone()
    };
    let err = attach_endpoint(&ns, &orphan).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("no such network interface: {}", orphan.bridge)
    );
    detach_endpoint(&good.host_ifname).await.unwrap();
}
