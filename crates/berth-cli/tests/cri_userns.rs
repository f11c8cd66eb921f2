//! CRI pods in user namespaces (`userns_options` mode POD) and supplementary group policies,
//! driven by crictl: what a process in the pod sees (`/proc/self/uid_map`, `id`), what the host
//! sees (the owners of the files it writes, the ids of its processes), the pod's containers
//! sharing the sandbox's user namespace, the maps containerd refuses, and `ContainerStatus.user`.

mod common;
mod cri_support;

use common::{stderr, stdout};
use cri_support::CriDaemon;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The host ids the pods' ids start at (outside any range a real user has here).
const BASE: u32 = 3_000_000;
const SIZE: u32 = 65536;

fn write_json(dir: &Path, name: &str, v: serde_json::Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    p.display().to_string()
}

/// `userns_options` of mode POD (CRI's NamespaceMode: 0 POD, 1 CONTAINER, 2 NODE, 3 TARGET).
fn userns(uids: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"mode": 0, "uids": uids, "gids": uids})
}

fn pod(work: &Path, name: &str, userns: serde_json::Value) -> String {
    write_json(
        work,
        &format!("{name}.json"),
        serde_json::json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "attempt": 0},
            "log_directory": work.join(name).display().to_string(),
            "linux": {"security_context": {"namespace_options": {"userns_options": userns}}}
        }),
    )
}

fn inspect(c: &CriDaemon, what: &str, id: &str) -> serde_json::Value {
    serde_json::from_str(&c.crictl_ok(&[what, "-o", "json", id])).unwrap()
}

/// The host-side ids of a process: (uid, gid) from `/proc/<pid>/status`.
fn host_ids(pid: i64) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |k: &str| status.lines().find(|l| l.starts_with(k)).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    (field("Uid:"), field("Gid:"))
}

#[test]
fn a_pod_in_a_user_namespace_sees_its_maps_and_the_host_sees_shifted_owners() {
    let c = CriDaemon::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let maps = serde_json::json!([{"container_id": 0, "host_id": BASE, "length": SIZE}]);
    let pod = pod(work.path(), "userns", userns(maps.clone()));
    let ctr = |name: &str, user: Option<i64>| {
        let mut sc = serde_json::json!({"namespace_options": {"userns_options": userns(maps.clone())}});
        if let Some(u) = user {
            sc["run_as_user"] = serde_json::json!({"value": u});
        }
        write_json(
            work.path(),
            &format!("{name}.json"),
            serde_json::json!({
                "metadata": {"name": name},
                "image": {"image": "busybox:latest"},
                "command": ["sh", "-c", "touch /tmp/made-in-pod && exec sleep 100000"],
                "linux": {"security_context": sc}
            }),
        )
    };
    let pod_id = c.crictl_ok(&["runp", &pod]).trim().to_string();
    let status = inspect(&c, "inspectp", &pod_id);
    assert_eq!(status["status"]["linux"]["namespaces"]["options"]["usernsOptions"]["mode"], "POD", "{status}");
    let sandbox_pid = status["info"]["pid"].as_i64().unwrap();
    // The sandbox's process is the pod's root: the host's BASE.
    assert_eq!(host_ids(sandbox_pid), (BASE, BASE));

    let root_id = c.crictl_ok(&["create", &pod_id, &ctr("root", None), &pod]).trim().to_string();
    let user_id = c.crictl_ok(&["create", &pod_id, &ctr("user", Some(1000)), &pod]).trim().to_string();
    c.crictl_ok(&["start", &root_id]);
    c.crictl_ok(&["start", &user_id]);

    // Inside: the pod's maps, root, and the image's files owned by root (idmapped layers).
    let uid_map = c.crictl_ok(&["exec", "-s", &root_id, "cat", "/proc/self/uid_map"]);
    assert_eq!(uid_map.split_whitespace().collect::<Vec<_>>(), ["0", &BASE.to_string(), &SIZE.to_string()], "{uid_map}");
    let gid_map = c.crictl_ok(&["exec", "-s", &root_id, "cat", "/proc/self/gid_map"]);
    assert_eq!(gid_map.split_whitespace().collect::<Vec<_>>(), ["0", &BASE.to_string(), &SIZE.to_string()], "{gid_map}");
    assert_eq!(c.crictl_ok(&["exec", "-s", &root_id, "id", "-u"]).trim(), "0");
    assert_eq!(c.crictl_ok(&["exec", "-s", &root_id, "stat", "-c", "%u:%g", "/bin/busybox"]).trim(), "0:0");
    assert_eq!(c.crictl_ok(&["exec", "-s", &user_id, "id", "-u"]).trim(), "1000");

    // The containers join the sandbox's user namespace (one per pod, as with containerd).
    let pod_ns = std::fs::read_link(format!("/proc/{sandbox_pid}/ns/user")).unwrap();
    assert_ne!(pod_ns, std::fs::read_link("/proc/self/ns/user").unwrap());
    for id in [&root_id, &user_id] {
        let seen = c.crictl_ok(&["exec", "-s", id, "readlink", "/proc/self/ns/user"]);
        assert_eq!(seen.trim(), pod_ns.to_str().unwrap(), "container {id} is not in the pod's user namespace");
    }

    // Outside: the processes and the files they made hold the shifted host ids.
    let root_pid = inspect(&c, "inspect", &root_id)["info"]["pid"].as_i64().unwrap();
    let user_pid = inspect(&c, "inspect", &user_id)["info"]["pid"].as_i64().unwrap();
    assert_eq!(host_ids(root_pid), (BASE, BASE));
    assert_eq!(host_ids(user_pid).0, BASE + 1000);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let made = Path::new(&format!("/proc/{root_pid}/root")).join("tmp/made-in-pod");
    while !made.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let m = std::fs::metadata(&made).unwrap();
    assert_eq!((m.uid(), m.gid()), (BASE, BASE));
    let theirs = Path::new(&format!("/proc/{user_pid}/root")).join("tmp/made-in-pod");
    while !theirs.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(std::fs::metadata(&theirs).unwrap().uid(), BASE + 1000);
    // The layers themselves are untouched: the image's busybox is still the host's root's.
    let busybox = Path::new(&format!("/proc/{root_pid}/root")).join("bin/busybox");
    assert_eq!(std::fs::metadata(&busybox).unwrap().uid(), BASE, "seen through the idmapped mount");

    c.crictl_ok(&["stopp", &pod_id]);
    c.crictl_ok(&["rmp", &pod_id]);
    assert!(c.crictl_ok(&["ps", "-a", "-q"]).trim().is_empty());
}

#[test]
fn user_namespace_maps_are_checked_as_containerd_checks_them() {
    let c = CriDaemon::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let refused = |name: &str, userns: serde_json::Value, want: &str| {
        let o = c.crictl(&["runp", &pod(work.path(), name, userns)]);
        assert!(!o.status.success(), "{name}: runp succeeded: {}", stdout(&o));
        assert!(stderr(&o).contains(want), "{name}: {}", stderr(&o));
    };
    let two = serde_json::json!([{"container_id": 0, "host_id": BASE, "length": 1000}, {"container_id": 1000, "host_id": BASE + 5000, "length": 1000}]);
    refused("two-lines", userns(two), "only one mapping line supported, got 2 mapping lines");
    refused("no-root", userns(serde_json::json!([{"container_id": 1, "host_id": BASE, "length": SIZE}])), "container ID 0 must be mapped");
    refused(
        "sizes",
        serde_json::json!({"mode": 0, "uids": [{"container_id": 0, "host_id": BASE, "length": SIZE}], "gids": [{"container_id": 0, "host_id": BASE, "length": 10}]}),
        "the UID and GID mappings must have the same length",
    );
    // (crictl quotes the message: the mode's own quotes come escaped.)
    refused("container", serde_json::json!({"mode": 1}), r#"unsupported user namespace mode: \"CONTAINER\""#);
    refused("target", serde_json::json!({"mode": 3}), r#"unsupported user namespace mode: \"TARGET\""#);
    refused("pod-no-maps", serde_json::json!({"mode": 0}), "without UID and GID mappings");
    // Nothing is left of the refused pods.
    assert!(c.crictl_ok(&["pods", "-q"]).trim().is_empty());

    // A container must have its pod's user namespace.
    let maps = serde_json::json!([{"container_id": 0, "host_id": BASE, "length": SIZE}]);
    let pod = pod(work.path(), "ok", userns(maps));
    let pod_id = c.crictl_ok(&["runp", &pod]).trim().to_string();
    let host = write_json(
        work.path(),
        "host.json",
        serde_json::json!({"metadata": {"name": "host"}, "image": {"image": "busybox:latest"}, "command": ["sleep", "1000"], "linux": {}}),
    );
    let o = c.crictl(&["create", &pod_id, &host, &pod]);
    assert!(!o.status.success() && stderr(&o).contains("user namespace config for sandbox is different from container"), "{}", stderr(&o));
    c.crictl_ok(&["rmp", "-f", &pod_id]);
}

#[test]
fn supplemental_groups_policies_merge_or_leave_out_the_image_groups() {
    let c = CriDaemon::start(&[]);
    let work = tempfile::tempdir().unwrap();
    // An image whose user 1000 belongs to group 50000 in its /etc/group.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:latest\nRUN echo 'user1000:x:1000:1000::/home:/bin/sh' >> /etc/passwd && echo 'user1000:x:1000:' >> /etc/group && echo 'group50000:x:50000:user1000' >> /etc/group\nUSER 1000\n",
    )
    .unwrap();
    c.d.berth_ok(&["build", "-q", "-t", "groups-test:latest", ctx.path().to_str().unwrap()]);
    let pod = write_json(
        work.path(),
        "pod.json",
        serde_json::json!({"metadata": {"name": "groups", "namespace": "default", "uid": "uid-groups", "attempt": 0}, "linux": {}}),
    );
    let pod_id = c.crictl_ok(&["runp", &pod]).trim().to_string();
    // CRI's SupplementalGroupsPolicy: 0 Merge, 1 Strict.
    let ctr = |name: &str, policy: i32| {
        write_json(
            work.path(),
            &format!("{name}.json"),
            serde_json::json!({
                "metadata": {"name": name},
                "image": {"image": "groups-test:latest"},
                "command": ["sleep", "100000"],
                "linux": {"security_context": {"run_as_user": {"value": 1000}, "supplemental_groups": [1234], "supplemental_groups_policy": policy}}
            }),
        )
    };
    for (name, policy, want) in [("merge", 0, vec![1000, 1234, 50000]), ("strict", 1, vec![1000, 1234])] {
        let id = c.crictl_ok(&["create", &pod_id, &ctr(name, policy), &pod]).trim().to_string();
        c.crictl_ok(&["start", &id]);
        let groups: Vec<u32> = c.crictl_ok(&["exec", "-s", &id, "id", "-G"]).split_whitespace().map(|g| g.parse().unwrap()).collect();
        assert_eq!(groups, want, "{policy}: id -G");
        // The first process has them too, as the host sees it.
        let pid = inspect(&c, "inspect", &id)["info"]["pid"].as_i64().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("Groups:")).unwrap();
        let host: Vec<u32> = line["Groups:".len()..].split_whitespace().map(|g| g.parse().unwrap()).collect();
        assert_eq!(host, want, "{policy}: the container's first process");
        let user = &inspect(&c, "inspect", &id)["status"]["user"]["linux"];
        assert_eq!(user["uid"], "1000", "{user}");
        assert_eq!(user["gid"], "1000", "{user}");
        let reported: Vec<u32> = user["supplementalGroups"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().parse().unwrap()).collect();
        assert_eq!(reported, want, "{policy}: ContainerStatus.user");
    }
    let info: serde_json::Value = serde_json::from_str(&c.crictl_ok(&["info", "-o", "json"])).unwrap();
    assert_eq!(info["features"]["supplemental_groups_policy"], true, "{info}");
    c.crictl_ok(&["rmp", "-f", &pod_id]);
}
