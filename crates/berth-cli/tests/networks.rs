//! Networks for real: bridges, veths, the embedded DNS server, published ports and iptables rules,
//! through berth's CLI and the stock docker CLI. Every daemon has its own bridge and /16 (see
//! `NetSlot`); traffic only goes to containers the test made and to the host's own addresses.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;


/// Runs a throwaway container; returns (exit code, stdout, stderr).
fn run(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["run", "--rm"];
    full.extend_from_slice(args);
    let o = d.berth(&full);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

/// An HTTP server in a detached container serving its /etc (GET /hostname answers its id).
fn web(d: &Daemon, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    d.berth_ok(&args).trim()[..12].to_string()
}

fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    write!(s, "GET {path} HTTP/1.0\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    d.berth_ok(&["inspect", "-f", format, name]).trim().to_string()
}

fn links() -> String {
    String::from_utf8_lossy(&std::process::Command::new("ip").args(["-br", "link"]).output().expect("ip").stdout).into_owned()
}

fn iptables_rules() -> String {
    let mut s = String::new();
    for t in ["filter", "nat"] {
        s.push_str(&String::from_utf8_lossy(&std::process::Command::new("iptables").args(["-w", "-t", t, "-S"]).output().expect("iptables").stdout));
    }
    s
}

#[test]
fn default_bridge_gives_an_address_a_route_and_hosts_files() {
    let d = with_busybox();
    let gw = format!("10.{}.0.1", d.net.octet);
    let (code, out, err) = run(&d, &["--hostname", "box", "busybox", "sh", "-c", "ip -4 addr show eth0; ip route; cat /etc/hosts; ping -c1 -W2 $0", &gw]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("inet 10.{}.0.", d.net.octet)), "{out}");
    assert!(out.contains(&format!("default via {gw} dev eth0")), "{out}");
    assert!(out.lines().any(|l| l.starts_with(&format!("10.{}.0.", d.net.octet)) && l.ends_with("\tbox")), "/etc/hosts names the container: {out}");
    assert!(out.contains("1 packets received"), "the gateway answers: {out}");
    // Docker's default: the bridge network, and the addresses show in inspect while running.
    let id = d.berth_ok(&["run", "-d", "busybox", "sleep", "60"]).trim().to_string();
    assert_eq!(inspect(&d, &id, "{{.HostConfig.NetworkMode}}"), "bridge");
    let ip = inspect(&d, &id, "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with(&format!("10.{}.0.", d.net.octet)), "{ip}");
    assert_eq!(inspect(&d, &id, "{{.NetworkSettings.Networks.bridge.Gateway}}"), gw);
    let mac = inspect(&d, &id, "{{.NetworkSettings.Networks.bridge.MacAddress}}");
    assert!(mac.starts_with("02:42:"), "{mac}");
    // Traffic shows in stats (eth0's counters from the container's namespace).
    d.berth_ok(&["exec", &id, "ping", "-c", "2", "-W", "2", &gw]);
    let netio = d.docker_ok(&["stats", "--no-stream", "--format", "{{.NetIO}}", &id]);
    assert!(!netio.trim().starts_with("0B /"), "{netio}");
    d.berth_ok(&["rm", "-f", &id]);
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias_but_not_across_networks() {
    let d = with_busybox();
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(1), "front"]);
    d.berth_ok(&["network", "create", "back"]);
    let id = web(&d, "api", &["--network", "front", "--network-alias", "service"]);
    let (code, out, err) = run(&d, &["--network", "front", "busybox", "sh", "-c", "cat /etc/resolv.conf; wget -qO- http://api/hostname; wget -qO- http://service/hostname; nslookup api"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert_eq!(out.matches(&id).count(), 2, "name and alias both answer: {out}");
    let api_ip = inspect(&d, "api", "{{.NetworkSettings.Networks.front.IPAddress}}");
    assert!(api_ip.starts_with(&format!("10.{}.1.", d.net.octet)), "{api_ip}");
    assert!(out.contains(&api_ip), "nslookup answers the address: {out}");
    // Another network: neither the name nor the address is reachable.
    let (code, out, _) = run(&d, &["--network", "back", "busybox", "sh", "-c", &format!("nslookup api; echo x | nc -w 2 {api_ip} 80 && echo REACHED")]);
    assert!(!out.contains("REACHED"), "networks are isolated: {out} ({code})");
    assert!(!out.contains(&format!("Address: {api_ip}")), "the other network's names are not resolvable: {out}");
    // The network lists its member; it cannot be removed while in use.
    let members = d.berth_ok(&["network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", "front"]);
    assert_eq!(members.trim(), format!("api {api_ip}/24"));
    let o = d.berth(&["network", "rm", "front"]);
    assert!(!o.status.success() && stderr(&o).contains("has active endpoints"), "{}", stderr(&o));
}

#[test]
fn internal_networks_have_no_route_out() {
    let d = with_busybox();
    d.berth_ok(&["network", "create", "--internal", "--subnet", &d.net.subnet(2), "sealed"]);
    let host_gw = format!("10.{}.0.1", d.net.octet);
    let (_, out, _) = run(&d, &["--network", "sealed", "busybox", "sh", "-c", &format!("ip route; echo x | nc -w 2 {host_gw} 1 ; ping -c1 -W1 {host_gw} && echo REACHED")]);
    assert!(!out.contains("default via"), "no default route: {out}");
    assert!(!out.contains("REACHED"), "nothing outside the network is reachable: {out}");
}

/// A static UDP echo server (busybox's nc has no UDP), bind-mounted into containers.
fn udp_echo_binary(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("udpecho.c");
    std::fs::write(
        &src,
        r#"#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
int main(int c, char **v) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(atoi(v[1]));
    if (bind(s, (struct sockaddr *)&a, sizeof a)) return 1;
    char b[2048]; struct sockaddr_in p; socklen_t l;
    for (;;) { l = sizeof p; ssize_t n = recvfrom(s, b, sizeof b, 0, (struct sockaddr *)&p, &l);
        if (n > 0) sendto(s, b, n, 0, (struct sockaddr *)&p, l); }
}
"#,
    )
    .unwrap();
    let bin = dir.join("udpecho");
    let o = std::process::Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&bin).arg(&src).output().expect("gcc (installed by scripts/setup.sh)");
    assert!(o.status.success(), "gcc: {}", String::from_utf8_lossy(&o.stderr));
    bin
}

fn udp_roundtrip(addr: &str) -> Option<String> {
    let s = UdpSocket::bind("0.0.0.0:0").ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    for _ in 0..10 {
        s.send_to(b"ping-udp", addr).ok()?;
        let mut buf = [0u8; 64];
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    None
}

#[test]
fn published_tcp_and_udp_ports_answer_on_loopback_and_the_bridge_address() {
    let d = with_busybox();
    let echo = udp_echo_binary(d.dir.path());
    let gw = format!("10.{}.0.1", d.net.octet);
    let id = web(&d, "pub", &["-p", "127.0.0.1::80", "-p", "0.0.0.0::80", "-p", "5353/udp", "-v", &format!("{}:/udpecho:ro", echo.display())]);
    d.berth_ok(&["exec", "-d", "pub", "/udpecho", "5353"]);
    // Ephemeral host ports, as inspect, `port` and `ps` report them.
    let tcp_ports: Vec<String> = d.berth_ok(&["port", "pub", "80"]).lines().map(str::to_string).collect();
    assert_eq!(tcp_ports.len(), 2, "{tcp_ports:?}");
    let loopback = tcp_ports.iter().find(|p| p.starts_with("127.0.0.1:")).expect("loopback binding").clone();
    let any = tcp_ports.iter().find(|p| p.starts_with("0.0.0.0:")).expect("wildcard binding").clone();
    let any_port = any.rsplit(':').next().unwrap().to_string();
    let ps = d.berth_ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!("{loopback}->80/tcp")), "{ps}");
    assert!(http_get(&loopback, "/hostname").unwrap().contains(&id));
    assert!(http_get(&format!("127.0.0.1:{any_port}"), "/hostname").unwrap().contains(&id));
    // The bridge's own address goes through the DNAT rules.
    assert!(http_get(&format!("{gw}:{any_port}"), "/hostname").unwrap().contains(&id));
    let udp = d.berth_ok(&["port", "pub", "5353/udp"]).trim().to_string();
    let udp_port = udp.rsplit(':').next().unwrap().to_string();
    assert_eq!(udp_roundtrip(&format!("127.0.0.1:{udp_port}")).as_deref(), Some("ping-udp"));
    assert_eq!(udp_roundtrip(&format!("{gw}:{udp_port}")).as_deref(), Some("ping-udp"));
    // A port in use fails the start with Docker's message; stopping releases the port.
    let fixed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    d.berth_ok(&["create", "--name", "first", "-p", &format!("127.0.0.1:{fixed}:80"), "busybox", "httpd", "-f", "-p", "80"]);
    d.berth_ok(&["create", "--name", "second", "-p", &format!("127.0.0.1:{fixed}:80"), "busybox", "httpd", "-f", "-p", "80"]);
    d.berth_ok(&["start", "first"]);
    let o = d.berth(&["start", "second"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("port is already allocated"), "{}", stderr(&o));
    assert_eq!(inspect(&d, "second", "{{.State.Status}}"), "created", "a failed start leaves it as it was");
    d.berth_ok(&["stop", "-t", "0", "first"]);
    d.berth_ok(&["start", "second"]);
    assert!(http_get(&format!("127.0.0.1:{fixed}"), "/").is_ok());
}

#[test]
fn publish_all_maps_every_exposed_port() {
    let d = with_busybox();
    d.berth_ok(&["run", "-d", "--name", "pall", "-P", "--expose", "80", "--expose", "81", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    let out = d.berth_ok(&["port", "pall"]);
    assert!(out.contains("80/tcp -> 0.0.0.0:") && out.contains("81/tcp -> 0.0.0.0:"), "{out}");
    let port80 = out.lines().find(|l| l.starts_with("80/tcp")).unwrap().rsplit(':').next().unwrap().to_string();
    assert!(http_get(&format!("127.0.0.1:{port80}"), "/passwd").unwrap().contains("root:"));
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let d = with_busybox();
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(3), "n1"]);
    let id = web(&d, "srv", &[]);
    d.berth_ok(&["run", "-d", "--name", "client", "--network", "n1", "busybox", "sleep", "120"]);
    let o = d.berth(&["exec", "client", "wget", "-qO-", "http://srv/hostname"]);
    assert!(!o.status.success(), "not yet on the same network");
    d.berth_ok(&["network", "connect", "--alias", "backend", "n1", "srv"]);
    let ip = inspect(&d, "srv", "{{.NetworkSettings.Networks.n1.IPAddress}}");
    assert!(ip.starts_with(&format!("10.{}.3.", d.net.octet)), "{ip}");
    let ifaces = d.berth_ok(&["exec", "srv", "ip", "-o", "-4", "addr"]);
    assert!(ifaces.contains("eth1") && ifaces.contains(&ip), "{ifaces}");
    assert!(d.berth_ok(&["exec", "client", "wget", "-qO-", "http://backend/hostname"]).contains(&id));
    // A rename is answered by the embedded DNS at once.
    d.berth_ok(&["rename", "client", "renamed"]);
    let (code, out, _) = run(&d, &["--network", "n1", "busybox", "nslookup", "renamed"]);
    assert!(code == 0 && out.contains(&format!("10.{}.3.", d.net.octet)), "{out}");
    d.berth_ok(&["network", "disconnect", "n1", "srv"]);
    let o = d.berth(&["exec", "renamed", "sh", "-c", &format!("echo x | nc -w 2 {ip} 80 && echo REACHED")]);
    assert!(!stdout(&o).contains("REACHED"));
    assert!(!d.berth_ok(&["exec", "srv", "ip", "-o", "link"]).contains("eth1"));
    assert_eq!(inspect(&d, "srv", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"), "bridge");
}

#[test]
fn a_killed_daemon_restarts_with_networks_addresses_and_ports() {
    let mut d = with_busybox();
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(4), "keep"]);
    let id = web(&d, "survivor", &["--network", "keep", "-p", "127.0.0.1::80"]);
    let ip = inspect(&d, "survivor", "{{.NetworkSettings.Networks.keep.IPAddress}}");
    let port = d.berth_ok(&["port", "survivor", "80"]).trim().to_string();
    d.kill9();
    d.restart();
    assert_eq!(inspect(&d, "survivor", "{{.NetworkSettings.Networks.keep.IPAddress}}"), ip);
    assert!(http_get(&port, "/hostname").unwrap().contains(&id), "the published port is served again");
    let (code, out, err) = run(&d, &["--network", "keep", "busybox", "wget", "-qO-", "http://survivor/hostname"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&id), "names resolve after the restart: {out}");
    // A new container never gets the survivor's address.
    let other = d.berth_ok(&["run", "-d", "--network", "keep", "busybox", "sleep", "60"]).trim().to_string();
    assert_ne!(inspect(&d, &other, "{{.NetworkSettings.Networks.keep.IPAddress}}"), ip);
}

#[test]
fn nothing_is_left_after_network_rm_and_daemon_stop() {
    let mut d = with_busybox();
    let bridge_opt = format!("com.docker.network.bridge.name=btu{}", d.net.octet);
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(5), "-o", &bridge_opt, "temp"]);
    let bridge = format!("btu{}", d.net.octet);
    assert!(links().contains(&bridge));
    let id = d.berth_ok(&["run", "-d", "--network", "temp", "-p", "127.0.0.1::80", "busybox", "sleep", "60"]).trim().to_string();
    // The host side of its veth is named after its endpoint (other tests add and remove veths
    // meanwhile: only this one's name says anything).
    let endpoint = inspect(&d, &id, "{{.NetworkSettings.Networks.temp.EndpointID}}");
    let veth = format!("veth{}", &endpoint[..7]);
    let present = || links().lines().any(|l| l.split_whitespace().next().and_then(|n| n.split('@').next()) == Some(veth.as_str()));
    assert!(present(), "the container's veth {veth} is on the host");
    d.berth_ok(&["rm", "-f", &id]);
    assert!(!present(), "the container's veth {veth} is gone");
    d.berth_ok(&["network", "rm", "temp"]);
    assert!(!links().contains(&bridge), "the network's bridge is gone");
    assert!(!iptables_rules().contains(&bridge), "its rules are gone");
    d.stop();
    assert!(!links().contains(&d.net.bridge()), "a clean stop with nothing running removes the default bridge");
    let chain = iptables_rules();
    assert!(!chain.lines().any(|l| l.contains(&format!("10.{}.", d.net.octet))), "no rule mentions the daemon's addresses: {chain}");
}

#[test]
fn hosts_resolv_and_links_as_docker_writes_them() {
    let d = with_busybox();
    let id = web(&d, "target", &[]);
    let gw = format!("10.{}.0.1", d.net.octet);
    let (code, out, err) = run(&d, &[
        "--link", "target:db", "--add-host", "gw.test:host-gateway", "--add-host", "fixed.test:192.0.2.7", "--dns", "192.0.2.53",
        "--dns-search", "example.test", "busybox", "sh", "-c", "cat /etc/hosts /etc/resolv.conf; wget -qO- http://db/hostname",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with(&format!("{gw}\tgw.test"))), "{out}");
    assert!(out.contains("192.0.2.7\tfixed.test"), "{out}");
    // dockerd's line: the alias, the linked container's hostname, its name.
    assert!(out.lines().any(|l| l.contains(&format!("\tdb {} target", &id[..12]))), "{out}");
    assert!(out.contains("nameserver 192.0.2.53") && out.contains("search example.test"), "{out}");
    assert!(out.contains(&id), "the link alias reaches the container: {out}");
}

#[test]
fn the_docker_cli_manages_networks_and_ports() {
    let d = with_busybox();
    let subnet = d.net.subnet(6);
    let id = d.docker_ok(&["network", "create", "--subnet", &subnet, "--label", "team=a", "dnet"]).trim().to_string();
    assert_eq!(id.len(), 64);
    let ls = d.docker_ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    for n in ["bridge bridge", "host host", "none null", "dnet bridge"] {
        assert!(ls.contains(n), "{ls}");
    }
    assert_eq!(d.docker_ok(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels.team}}", "dnet"]).trim(), format!("{subnet} a"));
    let fixed_ip = format!("10.{}.6.50", d.net.octet);
    let cid = d.docker_ok(&["run", "-d", "--name", "dweb", "--network", "dnet", "--ip", &fixed_ip, "-p", "127.0.0.1::80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.NetworkSettings.Networks.dnet.IPAddress}}", "dweb"]).trim(), fixed_ip);
    let port = d.docker_ok(&["port", "dweb", "80"]).trim().to_string();
    assert!(http_get(&port, "/hostname").unwrap().contains(&cid.trim()[..12]));
    let out = d.docker_ok(&["run", "--rm", "--network", "dnet", "busybox", "wget", "-qO-", "http://dweb/hostname"]);
    assert!(out.contains(&cid.trim()[..12]));
    let o = d.docker(&["network", "create", "--subnet", &subnet, "clash"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("overlaps"), "{}", String::from_utf8_lossy(&o.stderr));
    let o = d.docker(&["network", "rm", "bridge"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("pre-defined network"));
    d.docker_ok(&["rm", "-f", "dweb"]);
    d.docker_ok(&["network", "rm", "dnet"]);
    d.docker_ok(&["network", "create", "unused"]);
    assert!(d.docker_ok(&["network", "prune", "-f"]).contains("unused"));
}

#[test]
fn concurrent_starts_never_share_an_address_and_icc_false_isolates() {
    let d = with_busybox();
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(7), "busy"]);
    let ids: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8).map(|_| s.spawn(|| d.berth_ok(&["run", "-d", "--network", "busy", "busybox", "sleep", "60"]).trim().to_string())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips: Vec<String> = ids.iter().map(|id| inspect(&d, id, "{{.NetworkSettings.Networks.busy.IPAddress}}")).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 8, "eight distinct addresses: {ips:?}");
    // enable_icc=false: containers on the network cannot talk to each other.
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(8), "-o", "com.docker.network.bridge.enable_icc=false", "noicc"]);
    web(&d, "quiet", &["--network", "noicc"]);
    let ip = inspect(&d, "quiet", "{{.NetworkSettings.Networks.noicc.IPAddress}}");
    let (_, out, _) = run(&d, &["--network", "noicc", "busybox", "sh", "-c", &format!("echo x | nc -w 2 {ip} 80 && echo REACHED")]);
    assert!(!out.contains("REACHED"), "icc=false blocks container-to-container traffic: {out}");
}

#[test]
fn system_df_and_prune_cover_containers_networks_and_volumes() {
    let d = with_busybox();
    d.berth_ok(&["network", "create", "unused-net"]);
    d.berth_ok(&["volume", "create", "named-vol"]);
    d.berth_ok(&["run", "--name", "stopped", "-v", "/anon", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /anon/f"]);
    let df = d.berth_ok(&["system", "df"]);
    assert!(df.lines().any(|l| l.starts_with("Local Volumes") && l.split_whitespace().nth(2) == Some("2")), "{df}");
    assert!(df.lines().any(|l| l.starts_with("Containers") && l.split_whitespace().nth(1) == Some("1")), "{df}");
    let v = d.berth_ok(&["system", "df", "-v"]);
    assert!(v.contains("Local Volumes space usage") && v.contains("named-vol"), "{v}");
    let out = d.berth_ok(&["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Containers") && out.contains("unused-net"), "{out}");
    assert!(out.contains("Deleted Volumes"), "the stopped container's anonymous volume goes: {out}");
    assert_eq!(d.berth_ok(&["volume", "ls", "-q"]).trim(), "named-vol", "named volumes stay");
    assert!(!d.berth_ok(&["network", "ls"]).contains("unused-net"));
}

#[test]
fn network_and_volume_events_are_published() {
    let d = with_busybox();
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(11), "evnet"]);
    d.berth_ok(&["run", "--rm", "--network", "evnet", "-v", "evvol:/data", "busybox", "true"]);
    d.berth_ok(&["network", "rm", "evnet"]);
    d.berth_ok(&["volume", "rm", "evvol"]);
    let until = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string();
    let actions = |kind: &str| {
        d.docker_ok(&["events", "--since", &since, "--until", &until, "--filter", &format!("type={kind}"), "--format", "{{.Action}}"])
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(actions("network"), ["create", "connect", "disconnect", "destroy"]);
    assert_eq!(actions("volume"), ["create", "mount", "unmount", "destroy"]);
}

fn ip6tables_rules() -> String {
    let mut s = String::new();
    for t in ["filter", "nat"] {
        s.push_str(&String::from_utf8_lossy(&std::process::Command::new("ip6tables").args(["-w", "-t", t, "-S"]).output().expect("ip6tables").stdout));
    }
    s
}

/// A dual-stack network (`--ipv6`): IPv6 addresses and a default IPv6 route inside the
/// containers, `--ip6`, inspect's fields, AAAA answers of the embedded DNS, IPv6 traffic between
/// containers, ip6tables rules, the addresses kept over a daemon restart, and nothing left after.
#[test]
fn dual_stack_networks_give_ipv6_addresses_routes_names_and_rules() {
    let mut d = with_busybox();
    // A group unique to the daemon's slot, for its IPv6 subnet (fd00:db8:XX::/64).
    let o = format!("{:x}", d.net.octet);
    let v6 = format!("fd00:db8:{o}::/64");
    let bridge = format!("bt6{}", d.net.octet);
    // As dockerd 20.10: --ipv6 needs an IPv6 subnet (no default IPv6 pool).
    let out = d.berth(&["network", "create", "--ipv6", "nosubnet"]);
    assert!(!out.status.success() && stderr(&out).contains("could not find an available, non-overlapping IPv6 address pool"), "{}", stderr(&out));
    d.berth_ok(&["network", "create", "--ipv6", "--subnet", &d.net.subnet(6), "--subnet", &v6, "-o", &format!("com.docker.network.bridge.name={bridge}"), "six"]);
    assert_eq!(d.berth_ok(&["network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", "six"]).trim(), format!("true {} {v6}", d.net.subnet(6)));
    // An overlapping IPv6 subnet is refused.
    let out = d.berth(&["network", "create", "--ipv6", "--subnet", &format!("fd00:db8:{o}::/48"), "overlap"]);
    assert!(!out.status.success() && stderr(&out).contains("overlaps"), "{}", stderr(&out));
    // The bridge holds the gateway ::1.
    let addr = String::from_utf8_lossy(&std::process::Command::new("ip").args(["-6", "addr", "show", "dev", &bridge]).output().unwrap().stdout).into_owned();
    assert!(addr.contains(&format!("fd00:db8:{o}::1/64")), "{addr}");

    web(&d, "web6", &["--network", "six", "--network-alias", "www"]);
    let fixed = format!("fd00:db8:{o}::77");
    let id = d.berth_ok(&["run", "-d", "--name", "fixed6", "--network", "six", "--ip6", &fixed, "busybox", "sleep", "300"]).trim().to_string();
    let web_ip6 = inspect(&d, "web6", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}");
    assert_eq!(web_ip6, format!("fd00:db8:{o}::2"), "serial allocation after the gateway");
    assert_eq!(inspect(&d, "web6", "{{.NetworkSettings.Networks.six.GlobalIPv6PrefixLen}} {{.NetworkSettings.Networks.six.IPv6Gateway}}"), format!("64 fd00:db8:{o}::1"));
    assert_eq!(inspect(&d, &id, "{{.NetworkSettings.Networks.six.GlobalIPv6Address}} {{.NetworkSettings.Networks.six.IPAMConfig.IPv6Address}}"), format!("{fixed} {fixed}"));
    let members = d.berth_ok(&["network", "inspect", "-f", "{{range .Containers}}{{.Name}}={{.IPv6Address}} {{end}}", "six"]);
    assert!(members.contains(&format!("fixed6={fixed}/64")) && members.contains(&format!("web6={web_ip6}/64")), "{members}");
    // Inside: the address (usable at once, not tentative), the default route, AAAA, and traffic.
    let (code, out, err) = run(
        &d,
        &["--network", "six", "busybox", "sh", "-c", "ip -6 addr show eth0; ip -6 route; nslookup -type=AAAA web6 127.0.0.11; nslookup -type=AAAA www 127.0.0.11; ping -6 -c1 -W2 fixed6; wget -qO- http://[$0]/hostname", &web_ip6],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("inet6 fd00:db8:{o}::3/64 scope global")), "{out}");
    assert!(out.lines().any(|l| l.contains(&format!("fd00:db8:{o}::3/64")) && !l.contains("tentative")), "usable at once (nodad): {out}");
    assert!(out.contains(&format!("default via fd00:db8:{o}::1 dev eth0")), "{out}");
    assert_eq!(out.matches(&format!("Address: {web_ip6}")).count(), 2, "AAAA for name and alias: {out}");
    assert!(out.contains("1 packets received"), "{out}");
    assert!(out.contains(&inspect(&d, "web6", "{{.Id}}")[..12]), "HTTP over IPv6: {out}");
    // --ip6: refused where dockerd refuses it.
    let (code, _, err) = run(&d, &["--network", "six", "--ip6", "10.0.0.1", "busybox", "true"]);
    assert!(code != 0 && err.contains("invalid IPv6 address: 10.0.0.1"), "{err}");
    let (code, _, err) = run(&d, &["--network", "six", "--ip6", &fixed, "busybox", "true"]);
    assert!(code != 0 && err.contains("Address already in use"), "{err}");
    let (code, _, err) = run(&d, &["--network", "six", "--ip6", "fd00:db8:ffff::5", "busybox", "true"]);
    assert!(code != 0 && err.contains("does not belong to any of this network's subnets"), "{err}");
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(7), "four"]);
    let (code, _, err) = run(&d, &["--network", "four", "--ip6", &format!("fd00:db8:{o}::99"), "busybox", "true"]);
    assert!(code != 0 && err.contains("user specified IP address is supported only when connecting to networks with user configured subnets"), "{err}");
    let (code, _, err) = run(&d, &["--ip6", &format!("fd00:db8:{o}::99"), "busybox", "true"]);
    assert!(code != 0 && err.contains("user specified IP address is supported on user defined networks only"), "{err}");
    // network connect with an IPv6 address, then disconnect gives it back.
    let other = d.berth_ok(&["run", "-d", "--network", "four", "busybox", "sleep", "300"]).trim().to_string();
    let wanted = format!("fd00:db8:{o}::88");
    d.berth_ok(&["network", "connect", "--ip6", &wanted, "six", &other]);
    let seen = d.berth_ok(&["exec", &other, "ip", "-6", "addr", "show", "eth1"]);
    assert!(seen.contains(&format!("{wanted}/64")), "{seen}");
    d.berth_ok(&["network", "disconnect", "six", &other]);
    d.berth_ok(&["network", "connect", "--ip6", &wanted, "six", &other]);
    // ip6tables: isolation and masquerading of the IPv6 subnet.
    let rules = ip6tables_rules();
    assert!(rules.contains(&format!("-s fd00:db8:{o}::/64 ! -o {bridge} -j MASQUERADE")), "{rules}");
    assert!(rules.contains(&format!("-i {bridge} -o {bridge} -j ACCEPT")), "{rules}");
    // A killed daemon comes back with the same IPv6 addresses, and gives the next one on.
    d.kill9();
    d.restart();
    assert_eq!(inspect(&d, "fixed6", "{{.NetworkSettings.Networks.six.GlobalIPv6Address}}"), fixed);
    let (code, out, err) = run(&d, &["--network", "six", "busybox", "sh", "-c", "ip -6 -o addr show eth0 scope global; nslookup -type=AAAA fixed6 127.0.0.11"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("Address: {fixed}")), "{out}");
    for taken in [&web_ip6, &fixed, &wanted] {
        assert!(!out.contains(&format!("inet6 {taken}/")), "a held address is not given again: {out}");
    }
    // The stock docker CLI (API 1.47) makes and uses a dual-stack network the same way.
    let v6b = format!("fd00:db8:{o}:1::/64");
    d.docker_ok(&["network", "create", "--ipv6", "--subnet", &v6b, "dk6"]);
    let seen = d.docker_ok(&["run", "--rm", "--network", "dk6", "--ip6", &format!("fd00:db8:{o}:1::9"), "busybox", "ip", "-6", "-o", "addr", "show", "eth0", "scope", "global"]);
    assert!(seen.contains(&format!("fd00:db8:{o}:1::9/64")), "{seen}");
    let shown = d.docker_ok(&["network", "inspect", "-f", "{{.EnableIPv6}} {{.EnableIPv4}}", "dk6"]);
    assert_eq!(shown.trim(), "true true");
    d.docker_ok(&["network", "rm", "dk6"]);
    // Removal: containers, network, bridge, rules.
    d.berth_ok(&["rm", "-f", "web6", "fixed6", &other]);
    d.berth_ok(&["network", "rm", "six", "four"]);
    assert!(!links().contains(&bridge));
    assert!(!ip6tables_rules().contains(&bridge), "{}", ip6tables_rules());
    d.stop();
    let prefix = format!("BERTH-{}", &sha_prefix(&d.root()));
    assert!(!ip6tables_rules().contains(&prefix), "a clean stop removes the IPv6 chains: {}", ip6tables_rules());
}

fn sha_prefix(root: &std::path::Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(root.as_os_str().as_encoded_bytes()))[..6].to_string()
}

/// `berth daemon --ipv6 --fixed-cidr-v6`: the default bridge is dual-stack, its containers show
/// their IPv6 address in the top-level NetworkSettings fields too, as dockerd's do.
#[test]
fn the_default_bridge_takes_ipv6_from_fixed_cidr_v6() {
    // fd00:db8:fffe::/64 is this test's alone (the others take fd00:db8:<slot>::/64).
    let mut d = Daemon::start_with(&["--ipv6", "--fixed-cidr-v6", "fd00:db8:fffe::/64"]);
    d.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    let cfg = d.berth_ok(&["network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}", "bridge"]);
    assert_eq!(cfg.trim(), format!("true 10.{}.0.0/24=10.{}.0.1 fd00:db8:fffe::/64=fd00:db8:fffe::1", d.net.octet, d.net.octet));
    let id = d.berth_ok(&["run", "-d", "busybox", "sleep", "60"]).trim().to_string();
    assert_eq!(
        inspect(&d, &id, "{{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}} {{.NetworkSettings.IPv6Gateway}}"),
        "fd00:db8:fffe::2/64 fd00:db8:fffe::1"
    );
    let seen = d.berth_ok(&["exec", &id, "sh", "-c", "ip -6 addr show eth0; ip -6 route; ping -6 -c1 -W2 fd00:db8:fffe::1"]);
    assert!(seen.contains("inet6 fd00:db8:fffe::2/64 scope global"), "{seen}");
    assert!(seen.contains("default via fd00:db8:fffe::1 dev eth0"), "{seen}");
    assert!(seen.contains("1 packets received"), "the bridge answers over IPv6: {seen}");
    d.berth_ok(&["rm", "-f", &id]);
    d.stop();
    // Without --fixed-cidr-v6, --ipv6 is refused rather than ignored.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["daemon", "--validate", "--config-file"])
        .arg(write_config(dir.path(), r#"{"ipv6": true}"#))
        .output()
        .unwrap();
    assert!(!out.status.success() && stderr(&out).contains("needs fixed-cidr-v6"), "{}", stderr(&out));
}

fn write_config(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    let p = dir.join("daemon.json");
    std::fs::write(&p, text).unwrap();
    p
}
