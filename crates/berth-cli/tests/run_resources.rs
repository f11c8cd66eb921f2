//! `run`/`create` flags for cgroups, OOM, block IO, real-time CPU, runtime, storage and GPUs,
//! through the berth CLI against a real daemon: what reaches the container (its cgroup files,
//! /proc/self/oom_score_adj, /proc/self/cgroup), the host config inspect shows next to the one
//! the stock docker CLI (28) sends for the same flags, and the same refusals with the same words.
//! The cgroup paths read are cgroup v1's (the hosts the project tests on).

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

/// A cgroup parent for the test's containers, in every hierarchy; removed at the end with any
/// container cgroup a failed run left in it.
struct CgroupParent(String);

impl Drop for CgroupParent {
    fn drop(&mut self) {
        let root = Path::new("/sys/fs/cgroup");
        let hierarchies = std::fs::read_dir(root).into_iter().flatten().flatten().map(|h| h.path().join(&self.0));
        for d in std::iter::once(root.join(&self.0)).chain(hierarchies).filter(|d| d.is_dir()) {
            for c in std::fs::read_dir(&d).into_iter().flatten().flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(c.path());
            }
            let _ = std::fs::remove_dir(&d);
        }
    }
}

/// A disk of the host (not a loop or RAM device) and its `MAJOR:MINOR`.
fn block_device() -> (String, String) {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .expect("/sys/block")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram") && Path::new("/dev").join(n).exists())
        .collect();
    names.sort();
    let name = names.first().expect("a disk in /sys/block");
    let majmin = std::fs::read_to_string(format!("/sys/block/{name}/dev")).unwrap().trim().to_string();
    (format!("/dev/{name}"), majmin)
}

fn host_has(file: &str) -> bool {
    Path::new("/sys/fs/cgroup").join(file).exists()
}

#[test]
fn the_flags_reach_the_container() {
    assert!(host_has("blkio/blkio.throttle.read_bps_device"), "this test reads cgroup v1 files");
    let cg = CgroupParent(format!("berth-test-runres-{}", std::process::id()));
    let d = with_busybox();
    let (dev, majmin) = block_device();
    let script = "cat /proc/self/oom_score_adj; grep -w memory /proc/self/cgroup; cd /sys/fs/cgroup; \
        cat blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_bps_device blkio/blkio.throttle.read_iops_device \
        blkio/blkio.throttle.write_iops_device memory/memory.swappiness memory/memory.oom_control cpu/cpu.rt_period_us";
    let out = d.berth_ok(&[
        "run", "--rm", "--cgroup-parent", &cg.0, "--cgroupns", "host", "--oom-score-adj", "500",
        "--device-read-bps", &format!("{dev}:1mb"), "--device-write-bps", &format!("{dev}:2mb"),
        "--device-read-iops", &format!("{dev}:100"), "--device-write-iops", &format!("{dev}:200"),
        "-m", "64m", "--memory-swappiness", "30", "--oom-kill-disable", "--cpu-rt-period", "900000", "--runtime", "runc",
        "busybox", "sh", "-c", script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "500", "{out}");
    // The container's cgroup is <parent>/<id>, seen from the host's cgroup namespace.
    let (_, path) = lines[1].split_once(":memory:").unwrap_or_else(|| panic!("{out}"));
    let id = path.strip_prefix(&format!("/{}/", cg.0)).unwrap_or_else(|| panic!("not under the parent: {out}"));
    assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{out}");
    assert_eq!(lines[2..6], [format!("{majmin} 1048576"), format!("{majmin} 2097152"), format!("{majmin} 100"), format!("{majmin} 200")], "{out}");
    assert_eq!(lines[6], "30", "{out}");
    assert_eq!(lines[7], "oom_kill_disable 1", "{out}");
    assert_eq!(lines.last(), Some(&"900000"), "{out}");

    // Devices: a host node under another name, and a cgroup rule for a major number no driver has
    // (60, for local use): with the rule the open reaches the kernel (no such device), without it
    // the device cgroup refuses it.
    let probe = "mknod /dev/x c 60 60; cat /dev/x 2>&1 | sed 's/.*: //'";
    let out = d.berth_ok(&[
        "run", "--rm", "--device", "/dev/null:/dev/mynull:rw", "--device-cgroup-rule", "c 60:* rwm", "busybox", "sh", "-c",
        &format!("ls -l /dev/mynull | cut -c1; echo hi > /dev/mynull && echo written; {probe}"),
    ]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["c", "written", "No such device or address"], "{out}");
    let out = d.berth_ok(&["run", "--rm", "busybox", "sh", "-c", probe]);
    assert_eq!(out.trim(), "Operation not permitted", "{out}");

    // A private cgroup namespace: the container's cgroup is its root.
    let out = d.berth_ok(&["run", "--rm", "--cgroupns", "private", "busybox", "grep", "-w", "memory", "/proc/self/cgroup"]);
    assert!(out.trim().ends_with(":memory:/"), "{out}");
    // Host (the default on cgroup v1): the whole path.
    let out = d.berth_ok(&["run", "--rm", "busybox", "grep", "-w", "memory", "/proc/self/cgroup"]);
    assert!(out.trim().len() > ":memory:/".len() + 2 && out.contains(":memory:/berth-"), "{out}");
}

/// `create FLAGS busybox true` by berth and by the docker CLI: the host config fields the flags set,
/// as inspect shows them, and the warnings.
fn created_by_both(d: &Daemon, n: usize, flags: &[&str], keys: &[&str]) {
    let b = d.berth(&[&["create", "--name", &format!("b{n}")], flags, &["busybox", "true"]].concat());
    assert!(b.status.success(), "berth create {flags:?}: {}", stderr(&b));
    let o = d.docker(&[&["create", "--name", &format!("d{n}")], flags, &["busybox", "true"]].concat());
    assert!(o.status.success(), "docker create {flags:?}: {}", stderr(&o));
    let warnings = |s: &str| s.lines().filter(|l| l.starts_with("WARNING")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(warnings(&stderr(&b)), warnings(&stderr(&o)), "{flags:?}");
    let hc = |name: String| -> Value {
        let v: Value = serde_json::from_str(&d.berth_ok(&["inspect", &name])).unwrap();
        v[0]["HostConfig"].clone()
    };
    let (hb, hd) = (hc(format!("b{n}")), hc(format!("d{n}")));
    for k in keys {
        assert_eq!(hb[k], hd[k], "{flags:?}: HostConfig.{k}");
    }
    // What was set is there (not a default both happen to show).
    assert!(keys.iter().any(|k| !hb[k].is_null()), "{flags:?}: {hb}");
}

#[test]
fn berth_sends_what_the_docker_cli_sends() {
    let cg = CgroupParent(format!("berth-test-runres-cmp-{}", std::process::id()));
    let d = with_busybox();
    let (dev, _) = block_device();
    let (bps, wbps, iops, weight) = (format!("{dev}:1mb"), format!("{dev}:3gb"), format!("{dev}:1000"), format!("{dev}:200"));
    let keys = [
        "CgroupParent", "CgroupnsMode", "OomScoreAdj", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod", "CpuRealtimeRuntime", "Runtime", "MemorySwappiness",
        "OomKillDisable", "Memory", "DeviceRequests", "StorageOpt", "Devices", "DeviceCgroupRules", "Annotations", "VolumeDriver",
    ];
    let sets: Vec<Vec<&str>> = vec![
        vec![
            "--cgroup-parent", &cg.0, "--cgroupns", "private", "--oom-score-adj", "300", "--blkio-weight", "300", "--blkio-weight-device", &weight,
            "--device-read-bps", &bps, "--device-write-bps", &wbps, "--device-read-iops", &iops, "--device-write-iops", &iops,
            "--cpu-rt-period", "1000000", "--cpu-rt-runtime", "950000", "--runtime", "io.containerd.runc.v2", "--memory-swappiness", "10",
            "--oom-kill-disable", "-m", "64m",
        ],
        vec!["--cgroupns=host", "--oom-score-adj=-1000", "--memory-swappiness=-1", "--runtime=runc", "--blkio-weight=0"],
        vec!["--gpus", "all"],
        vec!["--gpus", "2"],
        vec![
            "--device", "/dev/null:/dev/mynull:rw", "--device", "/dev/zero", "--device", "/dev/full:r", "--device-cgroup-rule", "c 60:* rwm",
            "--device-cgroup-rule", "b *:* r", "--annotation", "com.example.k=v=w", "--annotation", "flag", "--volume-driver", "local",
        ],
        vec!["--gpus", "\"device=1,2\",driver=nvidia", "--gpus", "count=1,\"capabilities=compute,utility\",\"options=a=b,c\""],
    ];
    for (n, flags) in sets.iter().enumerate() {
        created_by_both(&d, n, flags, &keys);
    }
}

/// The first line the command printed on stderr, without the program's prefix: the message itself.
fn message(o: &std::process::Output) -> String {
    let err = stderr(o);
    let line = err.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    line.trim_start_matches("berth: ").trim_start_matches("docker: ").trim_end_matches('.').to_string()
}

#[test]
fn refusals_are_the_docker_clis() {
    let d = with_busybox();
    let cases: &[&[&str]] = &[
        // Checked by the client, as the flag's value or with the whole command line.
        &["--device-read-bps", "sda:1mb"],
        &["--device-write-iops", "/dev/sda:1k"],
        &["--blkio-weight-device", "/dev/sda:5"],
        &["--gpus", "bogus=1"],
        &["--gpus", "all,count=2"],
        &["--cgroupns", "bogus"],
        &["--memory-swappiness", "101"],
        &["--storage-opt", "size"],
        &["--device", "/dev/null:/dev/n:rwx"],
        &["--device", "/dev/null:rel"],
        &["--device", "a:b:c:d"],
        &["--device-cgroup-rule", "x 1:3 rwm"],
        // Checked by the daemon.
        &["--oom-score-adj", "1001"],
        &["--runtime", "nosuch"],
        &["--storage-opt", "size=1G"],
        &["--cpu-rt-period", "100000", "--cpu-rt-runtime", "200000"],
    ];
    for flags in cases {
        let b = d.berth(&[&["create"], *flags, &["busybox", "true"]].concat());
        let o = d.docker(&[&["create"], *flags, &["busybox", "true"]].concat());
        assert!(!o.status.success(), "docker accepted {flags:?}");
        assert_eq!(b.status.code(), Some(125), "berth create {flags:?}: {}", stderr(&b));
        assert_eq!(message(&b), message(&o), "{flags:?}\nberth: {}\ndocker: {}", stderr(&b), stderr(&o));
    }
    // A malformed device rule the API takes (no client check there): the start fails as dockerd's.
    let (code, _, body) = http(&d.sock, "POST", "/v1.47/containers/create?name=badrule", br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"DeviceCgroupRules":["x 1:3 rwm"]}}"#);
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&body));
    let b = d.berth(&["start", "badrule"]);
    assert!(!b.status.success());
    assert!(stderr(&b).contains("invalid device cgroup rule format: 'x 1:3 rwm'"), "{}", stderr(&b));
    // GPUs are asked for and there is no driver: the container is created, and start fails as with dockerd.
    let b = d.berth(&["run", "--gpus", "all", "busybox", "true"]);
    let o = d.docker(&["run", "--gpus", "all", "busybox", "true"]);
    assert_eq!((b.status.code(), o.status.code()), (Some(125), Some(125)), "berth: {}\ndocker: {}", stderr(&b), stderr(&o));
    assert_eq!(message(&b), message(&o));
    assert!(message(&b).contains("could not select device driver \"\" with capabilities: [[gpu]]"), "{}", stderr(&b));
}

/// `--annotation`: kept in the host config, written into the container's OCI spec, listed from API
/// 1.46 on, ignored by clients older than 1.43 as dockerd ignores them, an empty key refused.
#[test]
fn annotations_reach_the_spec_and_the_api() {
    let d = with_busybox();
    let id = d.berth_ok(&["create", "--annotation", "com.example.k=v", "--annotation", "flag", "busybox", "true"]).trim().to_string();
    let expect = serde_json::json!({"com.example.k": "v", "flag": ""});
    let v: Value = serde_json::from_str(&d.berth_ok(&["inspect", &id])).unwrap();
    assert_eq!(v[0]["HostConfig"]["Annotations"], expect);
    d.berth_ok(&["start", "-a", &id]);
    let spec: Value = serde_json::from_slice(&std::fs::read(d.root().join("containers").join(&id).join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["annotations"], expect);
    let listed = |version: &str| -> Value {
        let (code, _, body) = http(&d.sock, "GET", &format!("/{version}/containers/json?all=1&filters=%7B%22id%22%3A%5B%22{id}%22%5D%7D"), b"");
        assert_eq!(code, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
        v[0]["HostConfig"].clone()
    };
    assert_eq!(listed("v1.46")["Annotations"], expect);
    assert_eq!(listed("v1.45")["Annotations"], Value::Null);
    assert_eq!(listed("v1.45")["NetworkMode"], "bridge");

    let body = br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Annotations":{"a":"b"}}}"#;
    let (code, _, out) = http(&d.sock, "POST", "/v1.42/containers/create", body);
    assert_eq!(code, 201, "{}", String::from_utf8_lossy(&out));
    let old: Value = serde_json::from_slice(&out).unwrap();
    let v: Value = serde_json::from_str(&d.berth_ok(&["inspect", old["Id"].as_str().unwrap()])).unwrap();
    assert_eq!(v[0]["HostConfig"]["Annotations"], Value::Null, "API 1.42 has no annotations");

    let (code, _, out) = http(&d.sock, "POST", "/v1.47/containers/create", br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"Annotations":{"":"a"}}}"#);
    assert_eq!(code, 400);
    assert_eq!(serde_json::from_slice::<Value>(&out).unwrap()["message"], "invalid Annotations: the empty string is not permitted as an annotation key");
}
