//! Berth as a Kubernetes CRI runtime, driven by crictl as a cluster operator would: a pod with two
//! containers that talk over the pod's localhost, exec, logs in the kubelet's format, stats, stop
//! and remove, and nothing left behind (containers, namespaces, mounts, cgroups, veths).

mod common;
mod cri_support;

use common::stdout;
use cri_support::CriDaemon;
use std::path::Path;

fn write_json(dir: &Path, name: &str, v: serde_json::Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    p.display().to_string()
}

/// Mounts whose mount point or source lies under `root`.
fn mounts_under(root: &Path) -> Vec<String> {
    let root = root.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().filter(|l| l.contains(&root)).map(str::to_string).collect()
}

fn cgroups_of(id: &str) -> Vec<String> {
    let name = format!("berth-{id}");
    let mut found = vec![];
    let root = Path::new("/sys/fs/cgroup");
    if root.join(&name).exists() {
        found.push(root.join(&name).display().to_string());
    }
    for e in std::fs::read_dir(root).unwrap().flatten() {
        if e.path().join(&name).exists() {
            found.push(e.path().join(&name).display().to_string());
        }
    }
    found
}

#[test]
fn crictl_pod_lifecycle_two_containers_over_localhost() {
    let c = CriDaemon::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let logs = work.path().join("pods/default_web_uid1");
    let pod = write_json(
        work.path(),
        "pod.json",
        serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "uid1", "attempt": 0},
            "hostname": "web-pod",
            "log_directory": logs,
            "labels": {"app": "web"},
            "annotations": {"note": "kept as given"},
            "linux": {}
        }),
    );
    let server = write_json(
        work.path(),
        "server.json",
        serde_json::json!({
            "metadata": {"name": "server"},
            "image": {"image": "busybox:latest"},
            "command": ["sh", "-c", "mkdir -p /www && echo hello-from-server > /www/index.html && echo serving && exec httpd -f -p 8080 -h /www"],
            "log_path": "server/0.log",
            "labels": {"role": "server"},
            "linux": {}
        }),
    );
    let client = write_json(
        work.path(),
        "client.json",
        serde_json::json!({
            "metadata": {"name": "client"},
            "image": {"image": "docker.io/library/busybox:1.36"},
            "command": ["sh", "-c", "echo started; echo to-stderr >&2; exec sleep 100000"],
            "envs": [{"key": "GREETING", "value": "hi there"}],
            "working_dir": "/tmp",
            "log_path": "client/0.log",
            "linux": {}
        }),
    );

    // Runtime basics.
    let v = c.crictl_ok(&["version"]);
    assert!(v.contains("RuntimeName:  berth") && v.contains("RuntimeApiVersion:  v1"), "{v}");
    let info: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["info", "-o", "json"])).unwrap();
    let conds = info["status"]["conditions"].as_array().unwrap();
    assert!(conds.iter().all(|c| c["status"] == true), "{info}");

    let pod_id = c.crictl_ok(&["runp", &pod]).trim().to_string();
    let status: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["inspectp", "-o", "json", &pod_id])).unwrap();
    assert_eq!(status["status"]["state"], "SANDBOX_READY", "{status}");
    assert_eq!(status["status"]["labels"]["app"], "web");
    assert_eq!(status["status"]["annotations"]["note"], "kept as given");
    let pod_ip = status["status"]["network"]["ip"].as_str().unwrap().to_string();
    assert!(pod_ip.starts_with(&format!("10.{}.200.", c.d.net.octet)), "pod address {pod_ip} not on the test's CNI subnet");

    let server_id = c.crictl_ok(&["create", &pod_id, &server, &pod]).trim().to_string();
    let client_id = c.crictl_ok(&["create", &pod_id, &client, &pod]).trim().to_string();
    let listed = c.crictl_ok(&["ps", "-a", "-q", "--pod", &pod_id]);
    assert!(listed.contains(&server_id) && listed.contains(&client_id), "{listed}");
    c.crictl_ok(&["start", &server_id]);
    c.crictl_ok(&["start", &client_id]);
    let running = c.crictl_ok(&["ps", "-q", "--state", "Running", "--label", "role=server"]);
    assert_eq!(running.trim(), server_id);

    // The client reaches the server on the pod's localhost (one network namespace), and sees the
    // pod's hostname (one UTS namespace) and its own environment and working directory.
    let mut page = String::new();
    for _ in 0..50 {
        let o = c.crictl(&["exec", "-s", &client_id, "wget", "-qO-", "http://127.0.0.1:8080/"]);
        page = stdout(&o);
        if o.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(page.trim(), "hello-from-server");
    assert_eq!(c.crictl_ok(&["exec", "-s", &client_id, "hostname"]).trim(), "web-pod");
    assert_eq!(c.crictl_ok(&["exec", "-s", &client_id, "sh", "-c", "echo $GREETING; pwd"]).trim_end(), "hi there\n/tmp");
    // Exit codes come back; output is split by stream.
    let o = c.crictl(&["exec", "-s", &client_id, "sh", "-c", "echo out; echo err >&2; exit 3"]);
    // crictl reports a non-zero code with the command's stderr.
    assert!(!o.status.success(), "{o:?}");
    assert!(common::stderr(&o).contains("exited with 3: err"), "{o:?}");

    // Logs: crictl reads the kubelet's format from log_directory/log_path.
    let log = c.crictl(&["logs", &client_id]);
    assert!(stdout(&log).contains("started") && common::stderr(&log).contains("to-stderr"), "{log:?}");
    let raw = std::fs::read_to_string(logs.join("client/0.log")).unwrap();
    let re = regex::Regex::new(r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z stdout F started$").unwrap();
    assert!(re.is_match(&raw), "CRI log format: {raw}");
    assert!(raw.contains(" stderr F to-stderr\n"), "{raw}");
    // Stats of both containers and the pod.
    let stats: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["stats", "-o", "json", "--pod", &pod_id])).unwrap();
    let items = stats["stats"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{stats}");
    for s in items {
        assert!(s["memory"]["workingSetBytes"]["value"].as_str().unwrap_or("0").parse::<u64>().unwrap() > 0, "{s}");
        assert!(s["cpu"]["usageCoreNanoSeconds"]["value"].as_str().unwrap_or("0").parse::<u64>().unwrap() > 0, "{s}");
    }
    let podstats: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["statsp", "-o", "json", "--id", &pod_id])).unwrap();
    assert_eq!(podstats["stats"][0]["attributes"]["id"], pod_id.as_str(), "{podstats}");
    assert_eq!(podstats["stats"][0]["linux"]["containers"].as_array().map(Vec::len), Some(2), "{podstats}");

    // Docker clients see the same containers (one engine).
    let names = c.d.berth_ok(&["ps", "--format", "{{.Names}}"]);
    assert!(names.contains("k8s_POD_web_default_uid1_0") && names.contains("k8s_client_web_default_uid1_0"), "{names}");

    // Stop with a grace period: httpd ignores nothing, sleep is killed at the timeout.
    c.crictl_ok(&["stop", "--timeout", "1", &server_id, &client_id]);
    let st: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["inspect", "-o", "json", &client_id])).unwrap();
    assert_eq!(st["status"]["state"], "CONTAINER_EXITED", "{st}");
    c.crictl_ok(&["stopp", &pod_id]);
    let status: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["inspectp", "-o", "json", &pod_id])).unwrap();
    assert_eq!(status["status"]["state"], "SANDBOX_NOTREADY");
    c.crictl_ok(&["rmp", &pod_id]);

    // Nothing left: no CRI object, no container, no mount, cgroup, namespace or veth.
    assert_eq!(c.crictl_ok(&["pods", "-q"]).trim(), "");
    assert_eq!(c.crictl_ok(&["ps", "-a", "-q"]).trim(), "");
    assert_eq!(c.d.berth_ok(&["ps", "-aq"]).trim(), "");
    assert!(mounts_under(&c.d.root()).is_empty(), "mounts left: {:?}", mounts_under(&c.d.root()));
    for id in [&pod_id, &server_id, &client_id] {
        assert!(cgroups_of(id).is_empty(), "cgroups left: {:?}", cgroups_of(id));
    }
    for dir in ["netns", "cri/netns", "cri/cni"] {
        let left: Vec<_> = std::fs::read_dir(c.d.root().join(dir)).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        assert!(left.is_empty(), "network namespaces or attachments left in {dir}: {left:?}");
    }
    for bridge in [c.d.net.bridge(), c.cni_bridge()] {
        let brif = Path::new("/sys/class/net").join(&bridge).join("brif");
        let veths: Vec<_> = std::fs::read_dir(&brif).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        assert!(veths.is_empty(), "veths left on {bridge}: {veths:?}");
    }
}

#[test]
fn cri_images_share_the_engine_store() {
    let c = CriDaemon::start(&[]);
    let images = c.crictl_ok(&["images", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&images).unwrap();
    let tags: Vec<String> = v["images"].as_array().unwrap().iter().flat_map(|i| i["repoTags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string())).collect();
    assert!(tags.contains(&"docker.io/library/busybox:latest".to_string()), "{tags:?}");
    let st: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["inspecti", "-o", "json", "busybox"])).unwrap();
    assert!(st["status"]["id"].as_str().unwrap().starts_with("sha256:"), "{st}");
    // A missing image: crictl reports it, the runtime answers "no image" rather than failing.
    let o = c.crictl(&["inspecti", "no-such-image:1"]);
    assert!(!o.status.success());
    // A pull from nowhere fails with the registry client's error.
    let o = c.crictl(&["pull", "127.0.0.1:1/nothing:here"]);
    assert!(!o.status.success());
    // rmi removes every name of the image; Docker sees it gone too.
    c.d.berth_ok(&["tag", "busybox:latest", "extra:name"]);
    c.crictl_ok(&["rmi", "extra:name"]);
    assert!(!c.d.berth(&["image", "inspect", "busybox:latest"]).status.success());
    let fs: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["imagefsinfo", "-o", "json"])).unwrap();
    assert!(fs["status"]["imageFilesystems"][0]["fsId"]["mountpoint"].as_str().unwrap().ends_with("/snapshots"), "{fs}");
}

/// Removes a pod cgroup parent (and the ancestors this test made) from every hierarchy when
/// dropped: the kubelet owns the pod cgroup, so the runtime leaves it, as dockerd and containerd do.
struct CgroupTree(Vec<String>);

impl Drop for CgroupTree {
    fn drop(&mut self) {
        for rel in &self.0 {
            for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
                let _ = std::fs::remove_dir(h.path().join(rel));
            }
            let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(rel));
        }
    }
}

#[test]
fn crictl_pod_cgroup_parent_masked_paths_and_oom_score() {
    let top = format!("kubepods-berthtest-{}", std::process::id());
    let parent = format!("/{top}/besteffort/poduid2");
    // Deepest first.
    let _tree = CgroupTree(vec![parent[1..].to_string(), format!("{top}/besteffort"), top.clone()]);
    let c = CriDaemon::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let pod_json = |cgroup_parent: &str| {
        serde_json::json!({
            "metadata": {"name": "cg", "namespace": "default", "uid": "uid2", "attempt": 0},
            "log_directory": work.path().join("pods"),
            "linux": {"cgroup_parent": cgroup_parent}
        })
    };
    let pod = write_json(work.path(), "pod.json", pod_json(&parent));
    let ctr = write_json(
        work.path(),
        "ctr.json",
        serde_json::json!({
            "metadata": {"name": "app"},
            "image": {"image": "busybox:latest"},
            "command": ["sleep", "100000"],
            "linux": {
                "resources": {"oom_score_adj": 500, "hugepage_limits": [{"page_size": "2MB", "limit": 0}]},
                "security_context": {"masked_paths": ["/etc/passwd"], "readonly_paths": ["/tmp"]}
            }
        }),
    );

    // A systemd slice (a kubelet with cgroupDriver: systemd) is refused, naming the driver.
    let slice = write_json(work.path(), "slice.json", pod_json("kubepods-besteffort-poduid2.slice"));
    let o = c.crictl(&["runp", &slice]);
    assert!(!o.status.success() && common::stderr(&o).contains("cgroupfs"), "{o:?}");

    let pod_id = c.crictl_ok(&["runp", &pod]).trim().to_string();
    let id = c.crictl_ok(&["create", &pod_id, &ctr, &pod]).trim().to_string();
    c.crictl_ok(&["start", &id]);

    // Inside: the container's cgroup is <parent>/<id> in every v1 hierarchy it shows.
    let cg = c.crictl_ok(&["exec", "-s", &id, "cat", "/proc/self/cgroup"]);
    let memory = cg.lines().find(|l| l.split(':').nth(1) == Some("memory")).unwrap_or_else(|| panic!("{cg}"));
    assert_eq!(memory.split(':').nth(2), Some(format!("{parent}/{id}").as_str()), "{cg}");
    // On the host: the pod's cgroup holds the sandbox's and the container's, with their processes.
    let host = Path::new("/sys/fs/cgroup/memory").join(&parent[1..]);
    let procs = std::fs::read_to_string(host.join(&id).join("cgroup.procs")).unwrap();
    assert!(!procs.trim().is_empty(), "no process in {}", host.join(&id).display());
    assert!(host.join(&pod_id).join("cgroup.procs").exists(), "sandbox cgroup not under {}", host.display());
    assert!(!Path::new("/sys/fs/cgroup/memory").join(format!("berth-{id}")).exists());

    // oom_score_adj, masked and read-only paths of the security context apply.
    let st: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["inspect", "-o", "json", &id])).unwrap();
    let pid = st["info"]["pid"].as_i64().unwrap_or_else(|| panic!("{st}"));
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap().trim(), "500");
    assert_eq!(c.crictl_ok(&["exec", "-s", &id, "wc", "-c", "/etc/passwd"]).split_whitespace().next(), Some("0"));
    let o = c.crictl(&["exec", "-s", &id, "touch", "/tmp/x"]);
    assert!(!o.status.success() && common::stderr(&o).contains("Read-only file system"), "{o:?}");
    // Without masked paths the runtime's defaults apply (/proc/keys masked); with them, only those.
    let plain = write_json(
        work.path(),
        "plain.json",
        serde_json::json!({"metadata": {"name": "plain"}, "image": {"image": "busybox:latest"}, "command": ["sleep", "100000"], "linux": {}}),
    );
    let plain_id = c.crictl_ok(&["create", &pod_id, &plain, &pod]).trim().to_string();
    c.crictl_ok(&["start", &plain_id]);
    assert_ne!(c.crictl_ok(&["exec", "-s", &plain_id, "wc", "-c", "/etc/passwd"]).split_whitespace().next(), Some("0"));
    assert_eq!(c.crictl_ok(&["exec", "-s", &plain_id, "wc", "-c", "/proc/keys"]).split_whitespace().next(), Some("0"));
    assert_ne!(c.crictl_ok(&["exec", "-s", &id, "wc", "-c", "/proc/keys"]).split_whitespace().next(), Some("0"));

    // Fields Berth cannot apply are refused with a message naming them, and nothing is created.
    let refused = |name: &str, linux: serde_json::Value, want: &str| {
        let f = write_json(
            work.path(),
            &format!("{name}.json"),
            serde_json::json!({"metadata": {"name": name}, "image": {"image": "busybox:latest"}, "command": ["true"], "linux": linux}),
        );
        let o = c.crictl(&["create", &pod_id, &f, &pod]);
        assert!(!o.status.success() && common::stderr(&o).contains(want), "{name}: {o:?}");
    };
    refused("ambient", serde_json::json!({"security_context": {"capabilities": {"add_ambient_capabilities": ["CAP_NET_RAW"]}}}), "ambient");
    refused("huge", serde_json::json!({"resources": {"hugepage_limits": [{"page_size": "2MB", "limit": 2097152}]}}), "hugepage_limits");
    refused("unified", serde_json::json!({"resources": {"unified": {"memory.high": "1000000"}}}), "unified");
    refused("ownnet", serde_json::json!({"security_context": {"namespace_options": {"network": 1}}}), "network namespace");
    assert_eq!(c.crictl_ok(&["ps", "-a", "-q", "--pod", &pod_id]).lines().count(), 2);
    // An update applies the resources it names (the OOM score is not among crictl's, so it stays).
    c.crictl_ok(&["update", "--memory", "67108864", &id]);
    let limit = std::fs::read_to_string(host.join(&id).join("memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), "67108864");
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap().trim(), "500");

    c.crictl_ok(&["stopp", &pod_id]);
    c.crictl_ok(&["rmp", &pod_id]);
    // The containers' cgroups are gone; the pod cgroup is the kubelet's to remove.
    for x in [&pod_id, &id, &plain_id] {
        for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            assert!(!h.path().join(&parent[1..]).join(x).exists(), "cgroup left: {}", h.path().join(&parent[1..]).join(x).display());
        }
    }
}
