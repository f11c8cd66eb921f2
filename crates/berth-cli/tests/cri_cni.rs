//! CRI pod networking through CNI, with Debian's plugins (bridge, host-local, firewall, portmap)
//! on a bridge and subnet of the test's own: pods get addresses from the subnet and reach each
//! other, a hostPort reaches a server in a pod, StopPodSandbox runs DEL (address back in
//! host-local's store, veth, namespace and port mapping rules gone), a daemon SIGKILLed during an
//! ADD tears the pod down at its next start, and a hung or missing plugin is a clear error.

mod common;
mod cri_support;

use common::{free_port, stderr, wait_for};
use cri_support::CriDaemon;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn write_json(dir: &Path, name: &str, v: Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    p.display().to_string()
}

fn pod_config(dir: &Path, name: &str, ports: Value) -> String {
    write_json(
        dir,
        &format!("{name}.json"),
        json!({
            "metadata": {"name": name, "namespace": "cni", "uid": format!("uid-{name}"), "attempt": 0},
            "log_directory": dir.join(name),
            "port_mappings": ports,
            "linux": {}
        }),
    )
}

fn inspectp(c: &CriDaemon, id: &str) -> Value {
    serde_json::from_str(&c.crictl_ok(&["inspectp", "-o", "json", id])).unwrap()
}

/// The addresses host-local holds in the test's store.
fn ipam_held(c: &CriDaemon) -> Vec<String> {
    std::fs::read_dir(c.ipam_dir()).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("10.")).collect()).unwrap_or_default()
}

/// Ports on the test's CNI bridge.
fn bridge_ports(c: &CriDaemon) -> Vec<String> {
    std::fs::read_dir(Path::new("/sys/class/net").join(c.cni_bridge()).join("brif")).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default()
}

/// The firewall rules (both tables) that name a sandbox (portmap and firewall comment theirs with
/// the container id).
fn rules_of(id: &str) -> Vec<String> {
    let mut out = vec![];
    for table in ["nat", "filter"] {
        let o = Command::new("iptables").args(["-w", "10", "-t", table, "-S"]).output().unwrap();
        out.extend(String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains(id)).map(str::to_string));
    }
    out
}

/// The firewall plugin's rules for addresses of the test's subnet (they name the address only).
fn forward_rules(c: &CriDaemon) -> Vec<String> {
    let o = Command::new("iptables").args(["-w", "10", "-S", "CNI-FORWARD"]).output().unwrap();
    let prefix = format!(" 10.{}.200.", c.d.net.octet);
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| l.contains(&prefix)).map(str::to_string).collect()
}

/// The pinned network namespaces of the daemon's pods.
fn pod_netns(c: &CriDaemon) -> Vec<PathBuf> {
    std::fs::read_dir(c.d.root().join("cri/netns")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

fn http_get(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn cni_pods_get_addresses_reach_each_other_and_host_ports_and_stop_runs_del() {
    let c = CriDaemon::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let info: Value = serde_json::from_str(&c.crictl_ok(&["info", "-o", "json"])).unwrap();
    let ready = info["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "NetworkReady").cloned().unwrap();
    assert_eq!(ready["status"], true, "{info}");

    let host_port = free_port();
    let a_cfg = pod_config(work.path(), "a", json!([{"container_port": 8080, "host_port": host_port, "protocol": 0}]));
    let b_cfg = pod_config(work.path(), "b", json!([]));
    let a = c.crictl_ok(&["runp", &a_cfg]).trim().to_string();
    let b = c.crictl_ok(&["runp", &b_cfg]).trim().to_string();
    let prefix = format!("10.{}.200.", c.d.net.octet);
    let ip_a = inspectp(&c, &a)["status"]["network"]["ip"].as_str().unwrap().to_string();
    let ip_b = inspectp(&c, &b)["status"]["network"]["ip"].as_str().unwrap().to_string();
    assert!(ip_a.starts_with(&prefix) && ip_b.starts_with(&prefix) && ip_a != ip_b, "{ip_a} {ip_b} not distinct addresses of {}", c.cni_subnet());
    let mut held = ipam_held(&c);
    held.sort();
    let mut want = vec![ip_a.clone(), ip_b.clone()];
    want.sort();
    assert_eq!(held, want, "host-local's store");
    assert_eq!(bridge_ports(&c).len(), 2, "one veth per pod on {}", c.cni_bridge());
    assert!(!rules_of(&a).is_empty(), "no port mapping rules for pod a");
    assert_eq!(pod_netns(&c).len(), 2);

    // A server in pod a, a client in pod b.
    let server = write_json(
        work.path(),
        "server.json",
        json!({"metadata": {"name": "server"}, "image": {"image": "busybox:latest"}, "log_path": "server.log", "linux": {},
               "command": ["sh", "-c", "mkdir -p /www && echo hello-from-a > /www/index.html && exec httpd -f -p 8080 -h /www"]}),
    );
    let client = write_json(
        work.path(),
        "client.json",
        json!({"metadata": {"name": "client"}, "image": {"image": "busybox:latest"}, "log_path": "client.log", "linux": {}, "command": ["sleep", "100000"]}),
    );
    let s = c.crictl_ok(&["create", &a, &server, &a_cfg]).trim().to_string();
    c.crictl_ok(&["start", &s]);
    let cl = c.crictl_ok(&["create", &b, &client, &b_cfg]).trim().to_string();
    c.crictl_ok(&["start", &cl]);
    let mut page = String::new();
    let reached = wait_for(Duration::from_secs(10), || {
        let o = c.crictl(&["exec", "-s", &cl, "wget", "-qO-", &format!("http://{ip_a}:8080/")]);
        page = format!("{}{}", common::stdout(&o), stderr(&o));
        o.status.success()
    });
    if !reached {
        let diag = c.crictl(&["exec", "-s", &cl, "sh", "-c", "ip addr; ip route; cat /proc/net/dev"]);
        eprintln!("pod b's network: {}{}", common::stdout(&diag), stderr(&diag));
    }
    assert!(reached && page.trim() == "hello-from-a", "pod b did not reach pod a at {ip_a}: {page}");

    // The host port, on the bridge's address and on loopback (portmap's DNAT for local traffic).
    for addr in [format!("{}:{host_port}", c.cni_gateway()), format!("127.0.0.1:{host_port}")] {
        let mut body = None;
        wait_for(Duration::from_secs(10), || {
            body = http_get(&addr);
            body.as_deref().is_some_and(|b| b.contains("hello-from-a"))
        });
        assert!(body.as_deref().is_some_and(|b| b.contains("hello-from-a")), "hostPort {addr}: {body:?}");
    }

    // StopPodSandbox runs DEL: the address goes back, the veth, the namespace and the rules go.
    c.crictl_ok(&["stopp", &a]);
    assert_eq!(ipam_held(&c), vec![ip_b.clone()], "host-local still holds pod a's address");
    assert_eq!(bridge_ports(&c).len(), 1, "pod a's veth is left");
    assert!(rules_of(&a).is_empty(), "pod a's rules are left: {:?}", rules_of(&a));
    assert_eq!(pod_netns(&c).len(), 1, "pod a's namespace is left");
    assert_eq!(inspectp(&c, &a)["status"]["network"]["ip"], "", "a stopped pod has no address");
    assert!(http_get(&format!("127.0.0.1:{host_port}")).is_none_or(|b| !b.contains("hello-from-a")), "the host port still forwards");
    // Repeated stops are fine (DEL is not run twice).
    c.crictl_ok(&["stopp", &a]);
    c.crictl_ok(&["rmp", &a]);
    // RemovePodSandbox of a running pod stops it and runs DEL too.
    c.crictl_ok(&["rmp", "--force", &b]);
    assert!(ipam_held(&c).is_empty(), "{:?}", ipam_held(&c));
    assert!(bridge_ports(&c).is_empty() && pod_netns(&c).is_empty() && rules_of(&b).is_empty());
    assert!(forward_rules(&c).is_empty(), "firewall rules left: {:?}", forward_rules(&c));
    let left: Vec<_> = std::fs::read_dir(c.d.root().join("cri/cni")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "attachments left: {left:?}");
}

/// A plugin chained after the test's list whose ADD hangs (its pid in `pidfile`), DEL and CHECK
/// succeed.
fn hanging_plugin(c: &CriDaemon, pidfile: &Path) -> Value {
    c.write_plugin("berth-test-hang", &format!("cat > /dev/null\n[ \"$CNI_COMMAND\" = ADD ] || exit 0\necho $$ > {}\nexec sleep 3600", pidfile.display()));
    let mut list = c.default_conflist();
    list["plugins"].as_array_mut().unwrap().push(json!({"type": "berth-test-hang"}));
    list
}

fn kill_pidfile(pidfile: &Path) {
    if let Ok(pid) = std::fs::read_to_string(pidfile).unwrap_or_default().trim().parse::<i32>() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

#[test]
fn cni_pod_of_a_daemon_killed_during_add_is_torn_down_at_the_next_start() {
    let mut c = CriDaemon::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let pidfile = work.path().join("hang.pid");
    c.write_conflist(&hanging_plugin(&c, &pidfile));
    let cfg = pod_config(work.path(), "crashed", json!([{"container_port": 80, "host_port": free_port(), "protocol": 0}]));
    // RunPodSandbox in the background: it hangs in the last plugin, after bridge and portmap
    // made their veth, address and rules.
    let mut runp = Command::new(cri_support::tool("crictl")).arg("--config").arg(c.cri.with_file_name("crictl.yaml")).args(["--timeout", "120s", "runp", &cfg]).spawn().unwrap();
    let _ = c.crictl(&["version"]); // writes crictl.yaml if runp raced ahead of it
    assert!(wait_for(Duration::from_secs(60), || pidfile.exists()), "the ADD never reached the hanging plugin");
    let attachments: Vec<_> = std::fs::read_dir(c.d.root().join("cri/cni")).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(attachments.len(), 1, "the attachment is saved before the ADD");
    let sandbox = attachments[0].file_stem().unwrap().to_string_lossy().into_owned();
    assert_eq!(ipam_held(&c).len(), 1);
    assert_eq!(bridge_ports(&c).len(), 1);
    assert!(!rules_of(&sandbox).is_empty(), "portmap made no rules before the hang");
    assert_eq!(forward_rules(&c).len(), 2, "the firewall plugin's rules before the hang");

    c.d.kill9();
    kill_pidfile(&pidfile);
    let _ = runp.kill();
    let _ = runp.wait();
    // The configuration changes meanwhile: the DEL must use the one the ADD used.
    c.write_conflist(&c.default_conflist());
    c.d.restart();
    assert!(
        wait_for(Duration::from_secs(30), || !c.d.root().join("cri/cni").join(format!("{sandbox}.json")).exists()),
        "the next start did not tear the pod's network down"
    );
    assert!(ipam_held(&c).is_empty(), "address still held: {:?}", ipam_held(&c));
    assert!(bridge_ports(&c).is_empty(), "veth left: {:?}", bridge_ports(&c));
    assert!(rules_of(&sandbox).is_empty(), "rules left: {:?}", rules_of(&sandbox));
    assert!(pod_netns(&c).is_empty(), "namespace left: {:?}", pod_netns(&c));
    assert!(forward_rules(&c).is_empty(), "firewall rules left: {:?}", forward_rules(&c));
    // The sandbox that never started is NotReady with no address; removing it is clean.
    let pods = c.crictl_ok(&["pods", "-q"]);
    for id in pods.split_whitespace() {
        assert_eq!(inspectp(&c, id)["status"]["network"]["ip"], "");
        c.crictl_ok(&["rmp", id]);
    }
}

#[test]
fn cni_hung_and_missing_plugins_are_clear_errors_and_leave_nothing() {
    let c = CriDaemon::start(&["--cni-plugin-timeout", "2"]);
    let work = tempfile::tempdir().unwrap();
    let pidfile = work.path().join("hang.pid");
    c.write_conflist(&hanging_plugin(&c, &pidfile));
    let cfg = pod_config(work.path(), "hangs", json!([]));
    let t = std::time::Instant::now();
    let o = c.crictl(&["runp", &cfg]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("CNI plugin berth-test-hang ADD timed out after 2s"), "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    // The hung plugin was killed, and the plugins before it were undone (DEL).
    let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
    assert!(wait_for(Duration::from_secs(5), || !Path::new(&format!("/proc/{pid}")).exists()), "the hung plugin still runs");
    assert!(ipam_held(&c).is_empty() && bridge_ports(&c).is_empty() && pod_netns(&c).is_empty());
    assert_eq!(c.crictl_ok(&["pods", "-q"]).trim(), "", "a failed RunPodSandbox leaves no sandbox");
    assert!(forward_rules(&c).is_empty(), "firewall rules left after the failed ADD: {:?}", forward_rules(&c));

    // A plugin that is not installed: not ready, and RunPodSandbox says which.
    let mut list = c.default_conflist();
    list["plugins"][1]["type"] = json!("no-such-plugin");
    c.write_conflist(&list);
    let info: Value = serde_json::from_str(&c.crictl_ok(&["info", "-o", "json"])).unwrap();
    let ready = info["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "NetworkReady").cloned().unwrap();
    assert_eq!(ready["status"], false, "{info}");
    assert_eq!(ready["reason"], "NetworkPluginNotReady");
    assert!(ready["message"].as_str().unwrap().contains("CNI plugin \"no-such-plugin\" not found in"), "{ready}");
    let o = c.crictl(&["runp", &cfg]);
    assert!(!o.status.success() && stderr(&o).contains("no-such-plugin") && stderr(&o).contains("not found in"), "{}", stderr(&o));

    // No configuration at all: not ready (as containerd), host-network pods still run.
    std::fs::remove_dir_all(c.cni.join("net.d")).unwrap();
    let info: Value = serde_json::from_str(&c.crictl_ok(&["info", "-o", "json"])).unwrap();
    let ready = info["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "NetworkReady").cloned().unwrap();
    assert_eq!(ready["status"], false, "{info}");
    assert!(ready["message"].as_str().unwrap().contains("no CNI network config found in"), "{ready}");
    let o = c.crictl(&["runp", &cfg]);
    assert!(!o.status.success() && stderr(&o).contains("no CNI network config found in"), "{}", stderr(&o));
    let host = write_json(
        work.path(),
        "host.json",
        json!({"metadata": {"name": "host", "namespace": "cni", "uid": "uid-host"}, "linux": {"security_context": {"namespace_options": {"network": 2}}}}),
    );
    let id = c.crictl_ok(&["runp", &host]).trim().to_string();
    assert_eq!(inspectp(&c, &id)["status"]["state"], "SANDBOX_READY");
    c.crictl_ok(&["rmp", "--force", &id]);
    assert!(ipam_held(&c).is_empty() && bridge_ports(&c).is_empty() && pod_netns(&c).is_empty());
}
