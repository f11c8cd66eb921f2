//! Dual-stack details as dockerd 20.10 has them: the containers' IPv6 addresses in their
//! `/etc/hosts`, published ports over IPv6 on the host (the `::` half of a port published on every
//! address, and IPv6 host addresses), and `--link-local-ip`. Each test has its own daemon, bridge
//! and subnets (its `NetSlot`, `fd00:db8:<slot>::/64`); traffic goes only to the host's loopback
//! and to the test's containers.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    d.berth_ok(&["inspect", "-f", format, name]).trim().to_string()
}

/// A dual-stack network `six` on `subnet(6)` and `fd00:db8:<slot>::/64`; returns the IPv6 group.
fn dual_stack(d: &Daemon) -> String {
    let o = format!("{:x}", d.net.octet);
    d.berth_ok(&["network", "create", "--ipv6", "--subnet", &d.net.subnet(6), "--subnet", &format!("fd00:db8:{o}::/64"), "six"]);
    o
}

fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    let addr: std::net::SocketAddr = addr.parse().expect("addr");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// A busybox httpd whose `/cgi-bin/peer` answers the address the connection came from (the
/// proxy's side of the bridge: which family reached the container; httpd listens on `[::]`, so an
/// IPv4 peer shows as `[::ffff:A.B.C.D]`) and `/hostname` its id.
fn peer_server(d: &Daemon, name: &str, extra: &[&str]) -> String {
    let script = "mkdir -p /www/cgi-bin && hostname > /www/hostname && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho \"peer=$REMOTE_ADDR\"\\n' > /www/cgi-bin/peer && chmod +x /www/cgi-bin/peer && exec httpd -f -p 80 -h /www";
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    d.berth_ok(&args).trim()[..12].to_string()
}

/// `GET` retried for a moment: the server in a just-started container may not listen yet.
fn get_when_up(addr: &str, path: &str) -> String {
    for _ in 0..50 {
        if let Ok(r) = http_get(addr, path) {
            if r.contains("200 OK") {
                return r;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no answer from {addr}{path}");
}

/// `NetworkSettings.Ports["80/tcp"]` as (HostIp, HostPort) pairs.
fn bindings(d: &Daemon, name: &str, key: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(&inspect(d, name, "{{json .NetworkSettings.Ports}}")).expect("ports JSON");
    v[key].as_array().into_iter().flatten().map(|b| (b["HostIp"].as_str().unwrap_or("").to_string(), b["HostPort"].as_str().unwrap_or("").to_string())).collect()
}

/// dockerd's /etc/hosts on dual-stack networks: the standard IPv6 lines, and on every network the
/// container is on, its IPv4 address and then its IPv6 one with the hostname (FQDN first). A
/// disconnect takes that network's lines away, a connect adds them.
#[test]
fn etc_hosts_lists_every_networks_ipv4_and_ipv6_address() {
    let d = with_busybox();
    let o = dual_stack(&d);
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(7), "four"]);
    d.berth_ok(&["create", "--name", "hostsbox", "--hostname", "box", "--domainname", "example.com", "--network", "four", "busybox", "sleep", "300"]);
    d.berth_ok(&["network", "connect", "six", "hostsbox"]);
    d.berth_ok(&["start", "hostsbox"]);
    let ip4 = inspect(&d, "hostsbox", "{{.NetworkSettings.Networks.four.IPAddress}}");
    let six4 = inspect(&d, "hostsbox", "{{.NetworkSettings.Networks.six.IPAddress}}");
    let six6 = inspect(&d, "hostsbox", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}");
    assert!(six6.starts_with(&format!("fd00:db8:{o}::")), "{six6}");
    let standard = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
    let hosts = d.berth_ok(&["exec", "hostsbox", "cat", "/etc/hosts"]);
    assert_eq!(hosts, format!("{standard}{ip4}\tbox.example.com box\n{six4}\tbox.example.com box\n{six6}\tbox.example.com box\n"));
    // The names resolve to the IPv6 address inside (busybox's resolver reads /etc/hosts).
    let seen = d.berth_ok(&["exec", "hostsbox", "ping", "-6", "-c1", "-W2", "box"]);
    assert!(seen.contains(&six6) && seen.contains("1 packets received"), "{seen}");
    d.berth_ok(&["network", "disconnect", "six", "hostsbox"]);
    assert_eq!(d.berth_ok(&["exec", "hostsbox", "cat", "/etc/hosts"]), format!("{standard}{ip4}\tbox.example.com box\n"));
    d.berth_ok(&["network", "connect", "six", "hostsbox"]);
    let again6 = inspect(&d, "hostsbox", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}");
    let hosts = d.berth_ok(&["exec", "hostsbox", "cat", "/etc/hosts"]);
    assert!(hosts.ends_with(&format!("\tbox.example.com box\n{again6}\tbox.example.com box\n")), "{hosts}");
    // A container without a hostname of its own: its short id, as dockerd.
    let out = d.berth_ok(&["run", "--rm", "--network", "six", "--ip6", &format!("fd00:db8:{o}::77"), "busybox", "sh", "-c", "tail -1 /etc/hosts; hostname"]);
    let (last, hostname) = out.trim().split_once('\n').expect("two lines");
    assert_eq!(last, format!("fd00:db8:{o}::77\t{hostname}"));
    d.berth_ok(&["rm", "-f", "hostsbox"]);
}

/// `-p 80` publishes on `0.0.0.0` and `::` (dockerd 20.10 with its userland proxy): `[::1]:PORT`
/// from the host reaches the container, over IPv6 to its IPv6 address on a dual-stack network and
/// to its IPv4 one elsewhere; `-p [::1]::80` binds that address alone; the IPv6 half taken fails
/// the start with dockerd's message and leaves nothing bound; a daemon restart binds both again; a
/// stop frees both.
#[test]
fn published_ports_answer_over_ipv6_on_the_host() {
    let mut d = with_busybox();
    let o = dual_stack(&d);
    let id6 = peer_server(&d, "web6", &["--network", "six", "-p", "80"]);
    let b = bindings(&d, "web6", "80/tcp");
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!((b[0].0.as_str(), b[1].0.as_str()), ("0.0.0.0", "::"), "{b:?}");
    assert_eq!(b[0].1, b[1].1, "both halves on one port: {b:?}");
    let port = b[0].1.clone();
    assert!(get_when_up(&format!("[::1]:{port}"), "/hostname").contains(&id6));
    // Over IPv6 the proxy reaches the container's IPv6 address (the peer is the bridge's IPv6 side).
    let peer = get_when_up(&format!("[::1]:{port}"), "/cgi-bin/peer");
    assert!(peer.contains(&format!("peer=[fd00:db8:{o}::1]")), "{peer}");
    let peer = get_when_up(&format!("127.0.0.1:{port}"), "/cgi-bin/peer");
    assert!(peer.contains(&format!("peer=[::ffff:10.{}.6.1]", d.net.octet)), "{peer}");
    // As the CLIs show it.
    let shown = d.berth_ok(&["port", "web6", "80"]);
    assert_eq!(shown, format!("0.0.0.0:{port}\n[::]:{port}\n"));
    let ps = d.berth_ok(&["ps", "--filter", "name=web6", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), format!("0.0.0.0:{port}->80/tcp, [::]:{port}->80/tcp"));
    let shown = d.docker_ok(&["port", "web6", "80"]);
    assert_eq!(shown, format!("0.0.0.0:{port}\n[::]:{port}\n"));

    // A container without IPv6: its `::` half goes to its IPv4 address.
    let id4 = peer_server(&d, "web4", &["-p", "80"]);
    let b = bindings(&d, "web4", "80/tcp");
    assert_eq!(b.iter().map(|(ip, _)| ip.as_str()).collect::<Vec<_>>(), ["0.0.0.0", "::"], "{b:?}");
    let port4 = b[1].1.clone();
    assert!(get_when_up(&format!("[::1]:{port4}"), "/hostname").contains(&id4));
    let peer = get_when_up(&format!("[::1]:{port4}"), "/cgi-bin/peer");
    assert!(peer.contains(&format!("peer=[::ffff:10.{}.0.1]", d.net.octet)), "{peer}");

    // An IPv6 host address: that address alone.
    peer_server(&d, "web1", &["--network", "six", "-p", "[::1]::80"]);
    let b = bindings(&d, "web1", "80/tcp");
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0].0, "::1");
    assert!(get_when_up(&format!("[::1]:{}", b[0].1), "/cgi-bin/peer").contains(&format!("peer=[fd00:db8:{o}::1]")));
    assert!(http_get(&format!("127.0.0.1:{}", b[0].1), "/").is_err(), "not published on IPv4");

    // The IPv6 half taken by another program: the start fails as dockerd's, and the IPv4 half is
    // given back (bindable again at once).
    let holder = std::net::TcpListener::bind("[::1]:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    let out = d.berth(&["run", "-d", "--name", "clash", "-p", &format!("{taken}:80"), "busybox", "httpd", "-f", "-p", "80"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("Bind for :::{taken} failed: port is already allocated")), "{}", stderr(&out));
    drop(std::net::TcpListener::bind(("0.0.0.0", taken)).expect("the IPv4 half was released"));
    drop(holder);
    d.berth_ok(&["start", "clash"]);
    assert_eq!(bindings(&d, "clash", "80/tcp"), [("0.0.0.0".to_string(), taken.to_string()), ("::".to_string(), taken.to_string())]);

    // A killed daemon comes back with both halves on the same ports.
    d.kill9();
    d.restart();
    assert_eq!(bindings(&d, "web6", "80/tcp"), [("0.0.0.0".to_string(), port.clone()), ("::".to_string(), port.clone())]);
    assert!(get_when_up(&format!("[::1]:{port}"), "/cgi-bin/peer").contains(&format!("peer=[fd00:db8:{o}::1]")));
    assert!(get_when_up(&format!("[::1]:{port4}"), "/hostname").contains(&id4));

    // A stop closes both halves.
    d.berth_ok(&["stop", "-t", "0", "web6", "clash"]);
    assert!(http_get(&format!("[::1]:{port}"), "/").is_err());
    drop(std::net::TcpListener::bind(("::1", taken)).expect("the IPv6 half was released"));
    d.berth_ok(&["rm", "-f", "web6", "web4", "web1", "clash"]);
}

/// `--link-local-ip` (`IPAMConfig.LinkLocalIPs`) on run and `network connect`: the addresses are
/// on the interface (IPv4 /16, IPv6 /64), reachable from a neighbour, and shown in inspect; bad
/// ones fail the start with dockerd's messages.
#[test]
fn link_local_ips_are_added_and_shown() {
    let d = with_busybox();
    dual_stack(&d);
    d.berth_ok(&["run", "-d", "--name", "ll", "--network", "six", "--link-local-ip", "169.254.7.7", "--link-local-ip", "fe80::77", "busybox", "sleep", "300"]);
    let addrs = d.berth_ok(&["exec", "ll", "ip", "-o", "addr", "show", "eth0"]);
    assert!(addrs.contains("inet 169.254.7.7/16"), "{addrs}");
    assert!(addrs.contains("inet6 fe80::77/64 scope link"), "{addrs}");
    assert_eq!(inspect(&d, "ll", "{{json .NetworkSettings.Networks.six.IPAMConfig}}"), r#"{"LinkLocalIPs":["169.254.7.7","fe80::77"]}"#);
    // A neighbour on the bridge reaches both.
    let out = d.berth_ok(&["run", "--rm", "--network", "six", "--link-local-ip", "169.254.7.8", "busybox", "sh", "-c", "ping -c1 -W2 169.254.7.7 && ping -6 -c1 -W2 fe80::77%eth0"]);
    assert_eq!(out.matches("1 packets received").count(), 2, "{out}");
    // network connect, and the default bridge (dockerd allows link-local addresses there).
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(7), "four"]);
    d.berth_ok(&["network", "connect", "--link-local-ip", "169.254.8.8", "four", "ll"]);
    let addrs = d.berth_ok(&["exec", "ll", "ip", "-o", "-4", "addr", "show", "eth1"]);
    assert!(addrs.contains("inet 169.254.8.8/16"), "{addrs}");
    let out = d.berth_ok(&["run", "--rm", "--link-local-ip", "169.254.9.9", "busybox", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert!(out.contains("inet 169.254.9.9/16"), "{out}");
    // Refused where dockerd refuses them, when the endpoint is made.
    for (ips, msg) in [
        (&["bogus"][..], "Invalid link-local IP address: [bogus]"),
        (&["169.254.1.1", "x"][..], "Invalid link-local IP address: [169.254.1.1 x]"),
        (&["10.1.2.3"][..], "invalid link local IP address: 10.1.2.3"),
        (&["fd00::1"][..], "invalid link local IP address: fd00::1"),
    ] {
        let mut args = vec!["run", "--rm", "--network", "six"];
        for ip in ips {
            args.extend(["--link-local-ip", ip]);
        }
        args.extend(["busybox", "true"]);
        let o = d.berth(&args);
        assert!(!o.status.success() && stderr(&o).contains(msg), "{ips:?}: {}", stderr(&o));
    }
    d.berth_ok(&["rm", "-f", "ll"]);
}

/// Several subnets of one family, as dockerd 20.10: each is checked first (overlaps with other
/// networks and with each other), then the bridge driver refuses them (403); several IPv6 subnets
/// without `--ipv6` give no addresses and are kept and shown.
#[test]
fn several_subnets_of_one_family_are_refused_as_dockerd_refuses_them() {
    let d = with_busybox();
    let o = dual_stack(&d);
    let refused = |args: &[&str], msg: &str| {
        let out = d.berth(args);
        assert!(!out.status.success() && stderr(&out).contains(msg), "{args:?}: {}", stderr(&out));
    };
    let (a, b) = (d.net.subnet(8), d.net.subnet(9));
    refused(&["network", "create", "--subnet", &a, "--subnet", &b, "two"], "bridge driver doesn't support multiple subnets");
    refused(&["network", "create", "--subnet", &a, "--subnet", &d.net.subnet(6), "two"], "Pool overlaps with other one on this address space");
    refused(&["network", "create", "--subnet", &a, "--subnet", &format!("10.{}.8.0/25", d.net.octet), "two"], "Pool overlaps with other one on this address space");
    let (v6a, v6b) = (format!("fd00:db8:{o}:2::/64"), format!("fd00:db8:{o}:3::/64"));
    refused(&["network", "create", "--ipv6", "--subnet", &a, "--subnet", &v6a, "--subnet", &v6b, "two"], "bridge driver doesn't support multiple subnets");
    // The stock docker CLI (API 1.47) is told the same.
    let out = d.docker(&["network", "create", "--subnet", &a, "--subnet", &b, "two"]);
    assert!(!out.status.success() && stderr(&out).contains("bridge driver doesn't support multiple subnets"), "{}", stderr(&out));
    assert!(!d.berth_ok(&["network", "ls", "--format", "{{.Name}}"]).lines().any(|l| l == "two"), "nothing was made");
    // Without --ipv6 both IPv6 subnets are kept, in order, and give no addresses.
    d.berth_ok(&["network", "create", "--subnet", &a, "--subnet", &v6a, "--subnet", &v6b, "kept"]);
    let shown = d.berth_ok(&["network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", "kept"]);
    assert_eq!(shown.trim(), format!("false {a} {v6a} {v6b}"));
    let out = d.berth_ok(&["run", "--rm", "--network", "kept", "busybox", "ip", "-6", "-o", "addr", "show", "eth0", "scope", "global"]);
    assert_eq!(out.trim(), "", "no IPv6 address: {out}");
    d.berth_ok(&["network", "rm", "kept", "six"]);
}
