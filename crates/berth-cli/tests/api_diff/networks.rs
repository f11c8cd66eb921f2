//! Networks beyond the basics: create options (driver, internal, driver options, config-only
//! networks and networks made from them, IPv6), inspect's `verbose` and `scope`, connecting and
//! disconnecting containers (with endpoint settings, read back from inside the container), dual-stack
//! networks (IPv6 subnets, `IPv6Address`, what the container sees), and prune filters.

use crate::cases::{enc, Case};
use crate::compare::Cmp;

fn c(name: &'static str, method: &'static str, path: &str, ep: &'static str, params: &'static [&'static str], cmp: Cmp) -> Case {
    Case::new(name, method, path, ep, params, cmp)
}

const CREATE: &str = "POST /networks/create";
const INSPECT: &str = "GET /networks/{id}";
const CONNECT: &str = "POST /networks/{id}/connect";
const DISCONNECT: &str = "POST /networks/{id}/disconnect";

pub fn all() -> Vec<Case> {
    let f = |j: &str| enc(j);
    let mut v = vec![
        // An internal bridge with driver options.
        c("net-create-opts", "POST", "/networks/create", CREATE, &["b:Driver", "b:Internal", "b:Options", "b:EnableIPv6"], Cmp::Json)
            .json(
                r#"{"Name":"ad-n2","Driver":"bridge","Internal":true,"EnableIPv6":false,"IPAM":{"Driver":"default","Config":[{"Subnet":"{net}.51.0/24","Gateway":"{net}.51.254","IPRange":"{net}.51.128/25"}]},
                "Options":{"com.docker.network.driver.mtu":"1400","com.docker.network.bridge.enable_icc":"true"}}"#,
            )
            .ignore(&["Id"]),
        c("net-inspect-opts", "GET", "/networks/ad-n2", INSPECT, &["p:id", "b:Driver", "b:Internal", "b:Options", "b:EnableIPv6"], Cmp::Json).ignore(&["Id"]),
        c("net-inspect-verbose", "GET", "/networks/ad-n2?verbose=1&scope=local", INSPECT, &["q:verbose", "q:scope"], Cmp::Json).ignore(&["Id"]),
        c("net-inspect-verbose-bad", "GET", "/networks/ad-n2?verbose=maybe", INSPECT, &["q:verbose"], Cmp::Status),
        c("net-inspect-scope-swarm", "GET", "/networks/ad-n2?scope=swarm", INSPECT, &["q:scope"], Cmp::Status),
        c("net-inspect-scope-global", "GET", "/networks/ad-n2?scope=global", INSPECT, &["q:scope"], Cmp::Status),
        c("net-inspect-scope-bad", "GET", "/networks/ad-n2?scope=bogus", INSPECT, &["q:scope"], Cmp::Status),
        // A container on it: the internal network gives no default route; the range and MTU apply.
        crate::cases::create(
            "net-internal-run",
            "ad-nint",
            r#"{"Image":"busybox","Cmd":["sh","-c","ip route | grep -c default; cat /sys/class/net/eth0/mtu; ip -4 -o addr show eth0 | awk '{print $4}' | cut -d. -f4"],"HostConfig":{"NetworkMode":"ad-n2"}}"#,
            &["b:Internal", "b:Options"],
        ),
        c("net-internal-start", "POST", "/containers/ad-nint/start", "POST /containers/{id}/start", &["b:Internal"], Cmp::Headers),
        c("net-internal-wait", "POST", "/containers/ad-nint/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        c("net-internal-logs", "GET", "/containers/ad-nint/logs?stdout=1&stderr=1", "GET /containers/{id}/logs", &["b:Internal", "b:Options"], Cmp::Frames),
        c("net-internal-rm", "DELETE", "/containers/ad-nint?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        // Bad create requests.
        c("net-create-bad-driver", "POST", "/networks/create", CREATE, &["b:Driver"], Cmp::Status).json(r#"{"Name":"ad-nbad","Driver":"nosuch"}"#),
        c("net-create-host-driver", "POST", "/networks/create", CREATE, &["b:Driver"], Cmp::Status).json(r#"{"Name":"ad-nbad","Driver":"host"}"#),
        c("net-create-null-driver", "POST", "/networks/create", CREATE, &["b:Driver"], Cmp::Status).json(r#"{"Name":"ad-nbad","Driver":"null"}"#),
        c("net-create-bad-mtu", "POST", "/networks/create", CREATE, &["b:Options"], Cmp::Status)
            .json(r#"{"Name":"ad-nbad","Options":{"com.docker.network.driver.mtu":"lots"},"IPAM":{"Config":[{"Subnet":"{net}.52.0/24"}]}}"#),
        c("net-create-ipv6-no-subnet", "POST", "/networks/create", CREATE, &["b:EnableIPv6"], Cmp::Status)
            .json(r#"{"Name":"ad-nbad","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"{net}.52.0/24"}]}}"#),
        // `EnableIPv4` came with API 1.47: at 1.41 it is ignored, the network is IPv4.
        c("net-create-ipv4-off-141", "POST", "/networks/create", CREATE, &["b:EnableIPv4"], Cmp::Json)
            .json(r#"{"Name":"ad-n4","EnableIPv4":false,"IPAM":{"Config":[{"Subnet":"{net}.58.0/24"}]}}"#)
            .ignore(&["Id"]),
        c("net-inspect-ipv4-off-141", "GET", "/networks/ad-n4", INSPECT, &["b:EnableIPv4"], Cmp::Json).pick("/IPAM/Config/0/Subnet"),
        c("net-rm-ipv4-off-141", "DELETE", "/networks/ad-n4", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
        c("net-create-no-name", "POST", "/networks/create", CREATE, &["b:Name"], Cmp::Status).json(r#"{"Driver":"bridge"}"#),
        c("net-create-bad-json", "POST", "/networks/create", CREATE, &["b:Name"], Cmp::Status).json("{"),
        // Config-only networks, and a network made from one.
        c("net-create-config-only", "POST", "/networks/create", CREATE, &["b:ConfigOnly"], Cmp::Json)
            .json(r#"{"Name":"ad-ncfg","ConfigOnly":true,"IPAM":{"Config":[{"Subnet":"{net}.53.0/24"}]},"Options":{"com.docker.network.driver.mtu":"1300"}}"#)
            .ignore(&["Id"]),
        c("net-inspect-config-only", "GET", "/networks/ad-ncfg", INSPECT, &["b:ConfigOnly"], Cmp::Json).ignore(&["Id"]),
        c("net-config-only-run", "POST", "/containers/create", "POST /containers/create", &["b:ConfigOnly"], Cmp::Status)
            .json(r#"{"Image":"busybox","HostConfig":{"NetworkMode":"ad-ncfg"}}"#),
        c("net-create-config-from", "POST", "/networks/create", CREATE, &["b:ConfigFrom"], Cmp::Json)
            .json(r#"{"Name":"ad-nfrom","ConfigFrom":{"Network":"ad-ncfg"}}"#)
            .ignore(&["Id"]),
        c("net-inspect-config-from", "GET", "/networks/ad-nfrom", INSPECT, &["b:ConfigFrom"], Cmp::Json).ignore(&["Id"]),
        c("net-config-from-with-ipam", "POST", "/networks/create", CREATE, &["b:ConfigFrom"], Cmp::Status)
            .json(r#"{"Name":"ad-nbad","ConfigFrom":{"Network":"ad-ncfg"},"IPAM":{"Config":[{"Subnet":"{net}.54.0/24"}]}}"#),
        c("net-config-from-missing", "POST", "/networks/create", CREATE, &["b:ConfigFrom"], Cmp::Status).json(r#"{"Name":"ad-nbad","ConfigFrom":{"Network":"nosuch"}}"#),
        c("net-config-only-delete-used", "DELETE", "/networks/ad-ncfg", "DELETE /networks/{id}", &["b:ConfigOnly"], Cmp::Status),
        c("net-config-from-delete", "DELETE", "/networks/ad-nfrom", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
        c("net-config-only-delete", "DELETE", "/networks/ad-ncfg", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
    ];
    v.extend(connect());
    v.extend(ipv6());
    v.extend([
        // Prune by label: only the labelled, unused network goes.
        c("net-prune-a", "POST", "/networks/create", CREATE, &["b:Labels"], Cmp::Status).json(r#"{"Name":"ad-np1","Labels":{"prune":"yes"},"IPAM":{"Config":[{"Subnet":"{net}.55.0/24"}]}}"#),
        c("net-prune-b", "POST", "/networks/create", CREATE, &["b:Labels"], Cmp::Status).json(r#"{"Name":"ad-np2","Labels":{"prune":"no"},"IPAM":{"Config":[{"Subnet":"{net}.56.0/24"}]}}"#),
        c("net-prune-label", "POST", &format!("/networks/prune?filters={}", f(r#"{"label":["prune=yes"]}"#)), "POST /networks/prune", &["q:filters"], Cmp::Json),
        c("net-prune-label-not", "POST", &format!("/networks/prune?filters={}", f(r#"{"label!":["prune=no"]}"#)), "POST /networks/prune", &["q:filters"], Cmp::Json),
        c("net-prune-until", "POST", &format!("/networks/prune?filters={}", f(r#"{"until":["1h"],"label":["prune"]}"#)), "POST /networks/prune", &["q:filters"], Cmp::Json),
        c("net-prune-bad-filter", "POST", &format!("/networks/prune?filters={}", f(r#"{"nosuch":["x"]}"#)), "POST /networks/prune", &["q:filters"], Cmp::Status),
        c("net-prune-bad-until", "POST", &format!("/networks/prune?filters={}", f(r#"{"until":["soon"]}"#)), "POST /networks/prune", &["q:filters"], Cmp::Status),
        c("net-prune-left", "GET", &format!("/networks?filters={}", f(r#"{"label":["prune"]}"#)), "GET /networks", &["q:filters"], Cmp::Json).pick("/0/Name"),
        c("net-prune-rm", "DELETE", "/networks/ad-np2", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
    ]);
    v
}

/// A container connected to a second network with endpoint settings, then disconnected.
fn connect() -> Vec<Case> {
    // The addresses' last octets (the fixed one, .10, among them), not which interface is which.
    let cmd = r#"ip -4 -o addr show | grep -v ' lo ' | awk '{split($4,a,"[./]"); print a[4]==10 ? "fixed" : "other", a[5]}' | sort; grep -c ad-alias /etc/hosts; nslookup ad-alias 127.0.0.11 >/dev/null 2>&1; echo dns=$?"#;
    let read = format!(r#"{{"Cmd":["sh","-c",{}],"AttachStdout":true,"AttachStderr":true}}"#, serde_json::Value::String(cmd.into()));
    vec![
        c("nc-net", "POST", "/networks/create", CREATE, &["b:Name"], Cmp::Status).json(r#"{"Name":"ad-nc","IPAM":{"Config":[{"Subnet":"{net}.57.0/24"}]}}"#),
        crate::cases::create("nc-create", "ad-ncc", r#"{"Image":"busybox","Cmd":["sleep","60"]}"#, &["b:Cmd"]),
        c("nc-connect", "POST", "/networks/ad-nc/connect", CONNECT, &["p:id", "b:Container", "b:EndpointConfig"], Cmp::Status)
            .json(r#"{"Container":"ad-ncc","EndpointConfig":{"Aliases":["ad-alias"],"IPAMConfig":{"IPv4Address":"{net}.57.10"}}}"#),
        c("nc-connect-again", "POST", "/networks/ad-nc/connect", CONNECT, &["b:Container"], Cmp::Status).json(r#"{"Container":"ad-ncc"}"#),
        c("nc-inspect-stopped", "GET", "/containers/ad-ncc/json", "GET /containers/{id}/json", &["b:EndpointConfig"], Cmp::Json)
            .pick("/NetworkSettings/Networks/ad-nc")
            .ignore(&["NetworkID", "EndpointID"]),
        c("nc-start", "POST", "/containers/ad-ncc/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        c("nc-inspect", "GET", "/containers/ad-ncc/json", "GET /containers/{id}/json", &["b:EndpointConfig"], Cmp::Json)
            .pick("/NetworkSettings/Networks/ad-nc")
            .ignore(&["NetworkID", "EndpointID"]),
        c("nc-net-inspect", "GET", "/networks/ad-nc", INSPECT, &["b:Container"], Cmp::Json).pick("/Containers").ignore(&["EndpointID"]),
        c("nc-exec", "POST", "/containers/ad-ncc/exec", "POST /containers/{id}/exec", &["b:Cmd"], Cmp::Status).json(&read).save("ncexec", "Id"),
        c("nc-exec-start", "POST", "/exec/{ncexec}/start", "POST /exec/{id}/start", &["b:EndpointConfig"], Cmp::Frames).json(r#"{"Detach":false,"Tty":false}"#).upgrade(),
        c("nc-connect-running-ip-taken", "POST", "/networks/ad-nc/connect", CONNECT, &["b:EndpointConfig"], Cmp::Status)
            .json(r#"{"Container":"ad-ncc","EndpointConfig":{"IPAMConfig":{"IPv4Address":"{net}.57.10"}}}"#),
        c("nc-connect-missing-container", "POST", "/networks/ad-nc/connect", CONNECT, &["b:Container"], Cmp::Status).json(r#"{"Container":"nosuch"}"#),
        c("nc-connect-missing-network", "POST", "/networks/nosuch/connect", CONNECT, &["p:id"], Cmp::Status).json(r#"{"Container":"ad-ncc"}"#),
        c("nc-connect-bad-ip", "POST", "/networks/bridge/connect", CONNECT, &["b:EndpointConfig"], Cmp::Status)
            .json(r#"{"Container":"ad-ncc","EndpointConfig":{"IPAMConfig":{"IPv4Address":"{net}.57.11"}}}"#),
        c("nc-connect-host", "POST", "/networks/host/connect", CONNECT, &["p:id"], Cmp::Status).json(r#"{"Container":"ad-ncc"}"#),
        c("nc-disconnect", "POST", "/networks/ad-nc/disconnect", DISCONNECT, &["p:id", "b:Container"], Cmp::Status).json(r#"{"Container":"ad-ncc"}"#),
        c("nc-disconnect-again", "POST", "/networks/ad-nc/disconnect", DISCONNECT, &["b:Container"], Cmp::Status).json(r#"{"Container":"ad-ncc"}"#),
        c("nc-disconnect-again-force", "POST", "/networks/ad-nc/disconnect", DISCONNECT, &["b:Force"], Cmp::Status).json(r#"{"Container":"ad-ncc","Force":true}"#),
        c("nc-disconnect-missing-force", "POST", "/networks/ad-nc/disconnect", DISCONNECT, &["b:Force"], Cmp::Status).json(r#"{"Container":"nosuch","Force":true}"#),
        c("nc-disconnect-missing", "POST", "/networks/ad-nc/disconnect", DISCONNECT, &["b:Container"], Cmp::Status).json(r#"{"Container":"nosuch"}"#),
        c("nc-disconnect-missing-network", "POST", "/networks/nosuch/disconnect", DISCONNECT, &["p:id"], Cmp::Status).json(r#"{"Container":"ad-ncc"}"#),
        c("nc-inspect-after", "GET", "/containers/ad-ncc/json", "GET /containers/{id}/json", &["b:Container"], Cmp::Json).pick("/NetworkSettings/Networks/ad-nc"),
        c("nc-rm", "DELETE", "/containers/ad-ncc?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("nc-net-rm", "DELETE", "/networks/ad-nc", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
        c("net-rm-n2", "DELETE", "/networks/ad-n2", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
    ]
}

/// A dual-stack network (`EnableIPv6` with an IPv6 subnet, `{v6}` a group unique to each side), a
/// container on it with a fixed IPv6 address (its /etc/hosts), published ports over IPv6,
/// link-local addresses, and the refusals of `IPv6Address` and `LinkLocalIPs`.
fn ipv6() -> Vec<Case> {
    let cmd = r#"ip -6 -o addr show eth0 scope global | awk '{print $4}'; ip -6 route | grep default | awk '{print $1, $2, $3}'; nslookup -type=AAAA ad-n6c 127.0.0.11 | grep -c 'Address: fd00'"#;
    let read = format!(r#"{{"Cmd":["sh","-c",{}],"AttachStdout":true,"AttachStderr":true}}"#, serde_json::Value::String(cmd.into()));
    let ll = |net: &str, ips: &str| format!(r#"{{"Image":"busybox","Cmd":["sleep","60"],"HostConfig":{{"NetworkMode":"{net}"}},"NetworkingConfig":{{"EndpointsConfig":{{"{net}":{{"IPAMConfig":{{"LinkLocalIPs":{ips}}}}}}}}}}}"#);
    // The link-local addresses asked for (not the kernel's own fe80:: one, made from the MAC).
    let ll_cmd = r#"ip -o addr show eth0 | awk '{print $4}' | grep -E '^(169[.]254[.]|fe80::1:2/)'"#;
    let ll_read = format!(r#"{{"Cmd":["sh","-c",{}],"AttachStdout":true,"AttachStderr":true}}"#, serde_json::Value::String(ll_cmd.into()));
    let on = |net: &str, ip6: &str| format!(r#"{{"Image":"busybox","Cmd":["sleep","60"],"HostConfig":{{"NetworkMode":"{net}"}},"NetworkingConfig":{{"EndpointsConfig":{{"{net}":{{"IPAMConfig":{{"IPv6Address":"{ip6}"}}}}}}}}}}"#);
    vec![
        c("n6-create", "POST", "/networks/create", CREATE, &["b:EnableIPv6", "b:IPAM"], Cmp::Json)
            .json(r#"{"Name":"ad-n6","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"{net}.59.0/24","Gateway":"{net}.59.1"},{"Subnet":"fd00:db8:{v6}::/64","Gateway":"fd00:db8:{v6}::1"}]}}"#)
            .ignore(&["Id"]),
        c("n6-inspect", "GET", "/networks/ad-n6", INSPECT, &["b:EnableIPv6", "b:IPAM"], Cmp::Json).ignore(&["Id"]),
        c("n6-create-overlap", "POST", "/networks/create", CREATE, &["b:EnableIPv6"], Cmp::Status)
            .json(r#"{"Name":"ad-nbad","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"{net}.61.0/24"},{"Subnet":"fd00:db8:{v6}::/48"}]}}"#),
        crate::cases::create("n6-ctr-create", "ad-n6c", &on("ad-n6", "fd00:db8:{v6}::77"), &["b:EndpointConfig"]),
        c("n6-ctr-start", "POST", "/containers/ad-n6c/start", "POST /containers/{id}/start", &["b:EndpointConfig"], Cmp::Headers),
        c("n6-ctr-inspect", "GET", "/containers/ad-n6c/json", "GET /containers/{id}/json", &["b:EndpointConfig"], Cmp::Json)
            .pick("/NetworkSettings/Networks/ad-n6")
            // `DNSNames` is the documented difference of `nc-inspect`.
            .ignore(&["NetworkID", "EndpointID", "DNSNames"]),
        c("n6-net-containers", "GET", "/networks/ad-n6", INSPECT, &["b:EnableIPv6"], Cmp::Json).pick("/Containers").ignore(&["EndpointID"]),
        c("n6-exec", "POST", "/containers/ad-n6c/exec", "POST /containers/{id}/exec", &["b:Cmd"], Cmp::Status).json(&read).save("n6exec", "Id"),
        c("n6-exec-start", "POST", "/exec/{n6exec}/start", "POST /exec/{id}/start", &["b:EnableIPv6"], Cmp::Frames).json(r#"{"Detach":false,"Tty":false}"#).upgrade(),
        // Its /etc/hosts: its IPv4 and IPv6 addresses with its hostname.
        c("n6-hosts-exec", "POST", "/containers/ad-n6c/exec", "POST /containers/{id}/exec", &["b:Cmd"], Cmp::Status)
            .json(r#"{"Cmd":["tail","-2","/etc/hosts"],"AttachStdout":true,"AttachStderr":true}"#)
            .save("n6hosts", "Id"),
        c("n6-hosts-exec-start", "POST", "/exec/{n6hosts}/start", "POST /exec/{id}/start", &["b:EnableIPv6"], Cmp::Frames).json(r#"{"Detach":false,"Tty":false}"#).upgrade(),
        // Published ports: `0.0.0.0` and `::` for a port without a host address, one address
        // otherwise (the ephemeral host ports differ).
        crate::cases::create(
            "n6-ports-create",
            "ad-n6p",
            r#"{"Image":"busybox","Cmd":["sleep","60"],"ExposedPorts":{"80/tcp":{},"81/tcp":{},"82/udp":{}},"HostConfig":{"NetworkMode":"ad-n6","PortBindings":{"80/tcp":[{"HostPort":""}],"81/tcp":[{"HostIp":"::1","HostPort":""}],"82/udp":[{"HostIp":"127.0.0.1","HostPort":""}]}}}"#,
            &["b:HostConfig.PortBindings"],
        ),
        c("n6-ports-start", "POST", "/containers/ad-n6p/start", "POST /containers/{id}/start", &["b:HostConfig.PortBindings"], Cmp::Headers),
        c("n6-ports-inspect", "GET", "/containers/ad-n6p/json", "GET /containers/{id}/json", &["b:HostConfig.PortBindings"], Cmp::Json).pick("/NetworkSettings/Ports").ignore(&["HostPort"]),
        // On the default bridge (IPv4 only) the `::` half is there too (the proxy carries it to IPv4).
        crate::cases::create(
            "n4-ports-create",
            "ad-n4p",
            r#"{"Image":"busybox","Cmd":["sleep","60"],"ExposedPorts":{"80/tcp":{}},"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":""}]}}}"#,
            &["b:HostConfig.PortBindings"],
        ),
        c("n4-ports-start", "POST", "/containers/ad-n4p/start", "POST /containers/{id}/start", &["b:HostConfig.PortBindings"], Cmp::Headers),
        c("n4-ports-inspect", "GET", "/containers/ad-n4p/json", "GET /containers/{id}/json", &["b:HostConfig.PortBindings"], Cmp::Json).pick("/NetworkSettings/Ports").ignore(&["HostPort"]),
        // Link-local addresses: on the interface and in inspect; bad ones fail the start.
        crate::cases::create("n6-ll-create", "ad-n6l", &ll("ad-n6", r#"["169.254.10.10","fe80::1:2"]"#), &["b:NetworkingConfig"]),
        c("n6-ll-start", "POST", "/containers/ad-n6l/start", "POST /containers/{id}/start", &["b:NetworkingConfig"], Cmp::Headers),
        c("n6-ll-inspect", "GET", "/containers/ad-n6l/json", "GET /containers/{id}/json", &["b:NetworkingConfig"], Cmp::Json).pick("/NetworkSettings/Networks/ad-n6/IPAMConfig"),
        c("n6-ll-exec", "POST", "/containers/ad-n6l/exec", "POST /containers/{id}/exec", &["b:Cmd"], Cmp::Status).json(&ll_read).save("n6ll", "Id"),
        c("n6-ll-exec-start", "POST", "/exec/{n6ll}/start", "POST /exec/{id}/start", &["b:NetworkingConfig"], Cmp::Frames).json(r#"{"Detach":false,"Tty":false}"#).upgrade(),
        crate::cases::create("n6-ll-bad-create", "ad-n6lb", &ll("ad-n6", r#"["169.254.1.1","bogus"]"#), &["b:NetworkingConfig"]),
        c("n6-ll-bad-start", "POST", "/containers/ad-n6lb/start", "POST /containers/{id}/start", &["b:NetworkingConfig"], Cmp::Status),
        crate::cases::create("n6-ll-global-create", "ad-n6lg", &ll("ad-n6", r#"["10.1.2.3"]"#), &["b:NetworkingConfig"]),
        c("n6-ll-global-start", "POST", "/containers/ad-n6lg/start", "POST /containers/{id}/start", &["b:NetworkingConfig"], Cmp::Status),
        // The same address again: the second container does not start.
        crate::cases::create("n6-taken-create", "ad-n6t", &on("ad-n6", "fd00:db8:{v6}::77"), &["b:EndpointConfig"]),
        c("n6-taken-start", "POST", "/containers/ad-n6t/start", "POST /containers/{id}/start", &["b:EndpointConfig"], Cmp::Status),
        c("n6-bad-ip6", "POST", "/containers/create", "POST /containers/create", &["b:EndpointConfig"], Cmp::Status).json(&on("ad-n6", "10.0.0.1")),
        // A network with an IPv6 subnet but without EnableIPv6: shown, and no IPv6 address given.
        c("n6-off-create", "POST", "/networks/create", CREATE, &["b:EnableIPv6"], Cmp::Json)
            .json(r#"{"Name":"ad-n6off","IPAM":{"Config":[{"Subnet":"{net}.60.0/24","Gateway":"{net}.60.1"},{"Subnet":"fd00:db8:{v6}:1::/64","Gateway":"fd00:db8:{v6}:1::1"}]}}"#)
            .ignore(&["Id"]),
        c("n6-off-inspect", "GET", "/networks/ad-n6off", INSPECT, &["b:EnableIPv6"], Cmp::Json).ignore(&["Id"]),
        crate::cases::create("n6-off-ctr-create", "ad-n6o", &on("ad-n6off", "fd00:db8:{v6}:1::5"), &["b:EndpointConfig"]),
        c("n6-off-ctr-start", "POST", "/containers/ad-n6o/start", "POST /containers/{id}/start", &["b:EndpointConfig"], Cmp::Headers),
        c("n6-off-ctr-inspect", "GET", "/containers/ad-n6o/json", "GET /containers/{id}/json", &["b:EndpointConfig"], Cmp::Json)
            .pick("/NetworkSettings/Networks/ad-n6off")
            // `DNSNames` is the documented difference of `nc-inspect`.
            .ignore(&["NetworkID", "EndpointID", "DNSNames"]),
        // Several subnets of one family: each is checked (overlaps first), then the bridge driver
        // refuses them; several IPv6 subnets without EnableIPv6 are kept and shown.
        c("net-multi-v4", "POST", "/networks/create", CREATE, &["b:IPAM"], Cmp::Status)
            .json(r#"{"Name":"ad-nbad","IPAM":{"Config":[{"Subnet":"{net}.63.0/24"},{"Subnet":"{net}.64.0/24"}]}}"#),
        c("net-multi-v4-overlap", "POST", "/networks/create", CREATE, &["b:IPAM"], Cmp::Status)
            .json(r#"{"Name":"ad-nbad","IPAM":{"Config":[{"Subnet":"{net}.63.0/24"},{"Subnet":"{net}.59.0/25"}]}}"#),
        c("net-multi-v4-each-other", "POST", "/networks/create", CREATE, &["b:IPAM"], Cmp::Status)
            .json(r#"{"Name":"ad-nbad","IPAM":{"Config":[{"Subnet":"{net}.63.0/24"},{"Subnet":"{net}.63.0/25"}]}}"#),
        c("net-v4-overlap", "POST", "/networks/create", CREATE, &["b:IPAM"], Cmp::Status).json(r#"{"Name":"ad-nbad","IPAM":{"Config":[{"Subnet":"{net}.59.128/25"}]}}"#),
        c("n6-multi-v6", "POST", "/networks/create", CREATE, &["b:EnableIPv6", "b:IPAM"], Cmp::Status)
            .json(r#"{"Name":"ad-nbad","EnableIPv6":true,"IPAM":{"Config":[{"Subnet":"{net}.63.0/24"},{"Subnet":"fd00:db8:{v6}:2::/64"},{"Subnet":"fd00:db8:{v6}:3::/64"}]}}"#),
        c("n6-multi-v6-off", "POST", "/networks/create", CREATE, &["b:EnableIPv6", "b:IPAM"], Cmp::Json)
            .json(r#"{"Name":"ad-n6m","IPAM":{"Config":[{"Subnet":"{net}.63.0/24","Gateway":"{net}.63.1"},{"Subnet":"fd00:db8:{v6}:2::/64","Gateway":"fd00:db8:{v6}:2::1"},{"Subnet":"fd00:db8:{v6}:3::/64","Gateway":"fd00:db8:{v6}:3::1"}]}}"#)
            .ignore(&["Id"]),
        c("n6-multi-v6-off-inspect", "GET", "/networks/ad-n6m", INSPECT, &["b:IPAM"], Cmp::Json).pick("/IPAM"),
        c("n6-multi-v6-off-rm", "DELETE", "/networks/ad-n6m", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
        // IPv6Address on a network without an IPv6 subnet: the start is refused.
        c("n6-v4-net", "POST", "/networks/create", CREATE, &["b:Name"], Cmp::Status).json(r#"{"Name":"ad-n6v4","IPAM":{"Config":[{"Subnet":"{net}.62.0/24"}]}}"#),
        crate::cases::create("n6-v4-ctr-create", "ad-n6v", &on("ad-n6v4", "fd00:db8:{v6}::99"), &["b:EndpointConfig"]),
        c("n6-v4-ctr-start", "POST", "/containers/ad-n6v/start", "POST /containers/{id}/start", &["b:EndpointConfig"], Cmp::Status),
        c("n6-rm-c", "DELETE", "/containers/ad-n6c?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("n6-rm-t", "DELETE", "/containers/ad-n6t?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("n6-rm-o", "DELETE", "/containers/ad-n6o?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("n6-rm-v", "DELETE", "/containers/ad-n6v?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("n6-rm-p", "DELETE", "/containers/ad-n6p?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("n4-rm-p", "DELETE", "/containers/ad-n4p?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("n6-rm-l", "DELETE", "/containers/ad-n6l?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("n6-rm-lb", "DELETE", "/containers/ad-n6lb?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("n6-rm-lg", "DELETE", "/containers/ad-n6lg?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        c("n6-net-rm", "DELETE", "/networks/ad-n6", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
        c("n6-off-net-rm", "DELETE", "/networks/ad-n6off", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
        c("n6-v4-net-rm", "DELETE", "/networks/ad-n6v4", "DELETE /networks/{id}", &["p:id"], Cmp::Status),
    ]
}
