//! The pod's addresses in an `ADD` result (spec section 5: `ips`, each with an `interface` index
//! into `interfaces`; the 0.1/0.2 shape had `ip4`/`ip6`).

use serde_json::Value;

/// The addresses of interface `ifname` in the pod (containerd's choice: the IPs whose interface
/// is the pod's `ifname` with a sandbox; IPs that name no interface count too), IPv4 first, without
/// their prefix length. The first is the pod's IP, the rest its additional IPs.
pub fn pod_ips(result: &Value, ifname: &str) -> Vec<String> {
    let ifaces = result.get("interfaces").and_then(Value::as_array).cloned().unwrap_or_default();
    let mine = |ip: &Value| match ip.get("interface").and_then(Value::as_u64) {
        None => true,
        Some(i) => ifaces.get(i as usize).is_some_and(|f| {
            f.get("name").and_then(Value::as_str) == Some(ifname) && f.get("sandbox").and_then(Value::as_str).is_some_and(|s| !s.is_empty())
        }),
    };
    let mut addrs: Vec<String> = match result.get("ips").and_then(Value::as_array) {
        Some(ips) => ips.iter().filter(|ip| mine(ip)).filter_map(|ip| ip.get("address").and_then(Value::as_str)).map(strip_prefix_len).collect(),
        None => ["ip4", "ip6"].iter().filter_map(|k| result.get(*k)?.get("ip")?.as_str()).map(strip_prefix_len).collect(),
    };
    addrs.sort_by_key(|a| a.contains(':'));
    addrs
}

fn strip_prefix_len(cidr: &str) -> String {
    cidr.split('/').next().unwrap_or(cidr).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_pod_interfaces_addresses_v4_first() {
        let r = serde_json::json!({
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "cni0", "mac": "x"}, {"name": "veth1", "mac": "y"}, {"name": "eth0", "mac": "z", "sandbox": "/run/netns/p"}],
            "ips": [{"address": "fd00::5/64", "interface": 2}, {"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 2}, {"address": "10.9.0.1/24", "interface": 0}],
        });
        assert_eq!(pod_ips(&r, "eth0"), ["10.1.0.5", "fd00::5"]);
        assert_eq!(pod_ips(&serde_json::json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.2.0.7/16"}}), "eth0"), ["10.2.0.7"]);
        assert!(pod_ips(&serde_json::json!({"cniVersion": "1.0.0"}), "eth0").is_empty());
    }
}
