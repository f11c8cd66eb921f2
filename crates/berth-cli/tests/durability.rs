//! Crash safety: a daemon killed with SIGKILL at the worst moments, then started again, loses no
//! user data, leaves nothing mounted and finishes or rolls back what it was doing.

mod common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Mount points at or below `dir`, as the test (the host's namespace) sees them.
fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| *p == prefix || p.starts_with(&format!("{prefix}/")))
        .map(str::to_string)
        .collect()
}

/// Detaches whatever is still mounted under a directory when the test ends, pass or fail.
struct Unmounter(PathBuf);

impl Drop for Unmounter {
    fn drop(&mut self) {
        let mut points = mounts_under(&self.0);
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = Command::new("umount").arg("-l").arg(&p).status();
        }
    }
}

/// A host directory holding a canary file, as a user's bind source.
fn canary_dir(d: &Daemon, name: &str) -> PathBuf {
    let dir = d.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("canary"), format!("user data {name}")).unwrap();
    dir
}

fn assert_canary(dir: &Path, name: &str) {
    let got = std::fs::read_to_string(dir.join("canary")).unwrap_or_else(|e| panic!("the canary in {} is gone: {e}", dir.display()));
    assert_eq!(got, format!("user data {name}"));
}

fn bind(source: &Path, target: &Path) {
    std::fs::create_dir_all(target).unwrap();
    let st = Command::new("mount").arg("--bind").arg(source).arg(target).status().unwrap();
    assert!(st.success(), "mount --bind {} {}", source.display(), target.display());
}

fn container_id(d: &Daemon, name: &str) -> String {
    d.berth_ok(&["inspect", "-f", "{{.Id}}", name]).trim().to_string()
}

/// Rewrites a stopped daemon's record of container `id` (what it would hold at a crash point).
fn edit_record(d: &Daemon, id: &str, f: impl FnOnce(&mut serde_json::Value)) {
    let p = d.root().join("containers").join(id).join("container.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| !r.starts_with('Z')))
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cp_into_a_stopped_container_killed_midway_keeps_the_bind_data() {
    let mut d = with_busybox();
    let _u = Unmounter(d.root());
    let host = canary_dir(&d, "bind");
    d.berth_ok(&["create", "--name", "box", "-v", &format!("{}:/data", host.display()), "busybox", "true"]);
    // A copy that never ends: a tar whose one big file keeps arriving.
    let mut cp = Command::new(BERTH)
        .args(["cp", "-", "box:/"])
        .env("BERTH_HOST", d.host())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = cp.stdin.take().unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_path("big").unwrap();
    h.set_size(1 << 30);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    stdin.write_all(h.as_bytes()).unwrap();
    stdin.write_all(&vec![7u8; 1 << 20]).unwrap();
    // The copy is under way once the file shows in the container's upper layer.
    wait_until("the copy to start writing", 20, || {
        std::fs::read_dir(d.root().join("snapshots/snapshots")).is_ok_and(|r| r.flatten().any(|e| e.path().join("fs/big").exists()))
    });
    stdin.write_all(&vec![7u8; 1 << 20]).expect("the copy is still running");
    d.kill9();
    drop(stdin);
    let _ = cp.kill();
    let _ = cp.wait();
    // The copy's mounts lived in a private namespace: nothing of them outlives the daemon.
    assert_eq!(mounts_under(&d.root()), Vec::<String>::new(), "mounts left under the data root");
    d.restart();
    assert_canary(&host, "bind");
    let o = d.berth(&["cp", "box:/data/canary", "-"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("user data bind"));
}

#[test]
fn start_detaches_what_a_dead_daemon_left_mounted_and_never_follows_it() {
    let mut d = Daemon::start();
    let _u = Unmounter(d.root());
    d.kill9();
    let root = d.root();
    let planted = [
        ("tmp", root.join("tmp/rootfs-0123456789ab/data")),
        ("buildview", root.join("build-cache/tmp/view-0123456789ab")),
        ("buildstep", root.join("builds/build-0123456789abcdef/rootfs/mnt")),
        ("removing", root.join("containers/.removing-0123456789ab/rootfs/data")),
        ("volume", root.join("volumes/half-created/_data")),
    ];
    let mut sources = vec![];
    for (name, target) in &planted {
        let src = canary_dir(&d, name);
        bind(&src, target);
        sources.push((name, src));
    }
    // A bind nested in a bind: deepest first.
    let nested = canary_dir(&d, "nested");
    bind(&nested, &root.join("tmp/rootfs-0123456789ab/data/inner"));
    d.restart();
    for (name, src) in &sources {
        assert_canary(src, name);
    }
    assert_canary(&nested, "nested");
    assert_eq!(mounts_under(&root), Vec::<String>::new(), "mounts left under the data root");
    for (_, target) in &planted {
        let top: PathBuf = target.iter().take(root.iter().count() + 2).collect();
        assert!(!top.exists(), "{} was not removed", top.display());
    }
}

#[test]
fn a_start_the_daemon_never_recorded_is_rolled_back() {
    let mut d = with_busybox();
    d.berth_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let id = container_id(&d, "box");
    let pid: i32 = d.berth_ok(&["inspect", "-f", "{{.State.Pid}}", "box"]).trim().parse().unwrap();
    assert!(alive(pid));
    d.kill9();
    // What the record holds when the daemon dies between spawning the shim and recording the start.
    edit_record(&d, &id, |v| {
        v["state"]["status"] = "created".into();
        v["state"]["pid"] = 0.into();
    });
    d.restart();
    wait_until("the unrecorded container process to be killed", 10, || !alive(pid));
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.Status}}", "box"]).trim(), "created");
    wait_until("its network namespace to go", 10, || !d.root().join("netns").join(&id).exists());
    assert_eq!(mounts_under(&d.root().join("containers").join(&id)), Vec::<String>::new());
    // It starts again as if the first start had never happened.
    d.berth_ok(&["start", "box"]);
    assert_eq!(d.berth_ok(&["exec", "box", "echo", "ok"]).trim(), "ok");
    d.berth_ok(&["rm", "-f", "box"]);
}

#[test]
fn a_removal_cut_short_is_finished_at_start() {
    let mut d = with_busybox();
    let _u = Unmounter(d.root());
    let host = canary_dir(&d, "rmbind");
    d.berth_ok(&["run", "-d", "--name", "box", "-v", &format!("{}:/data", host.display()), "busybox", "sleep", "1000"]);
    let id = container_id(&d, "box");
    let pid: i32 = d.berth_ok(&["inspect", "-f", "{{.State.Pid}}", "box"]).trim().parse().unwrap();
    d.kill9();
    // `rm -f` had recorded its intent when the daemon died.
    edit_record(&d, &id, |v| v["state"]["status"] = "removing".into());
    d.restart();
    wait_until("the removal to finish", 15, || !d.root().join("containers").join(&id).exists());
    assert!(!alive(pid), "the container's process survived its removal");
    let o = d.berth(&["inspect", "box"]);
    assert!(!o.status.success());
    assert_canary(&host, "rmbind");
    assert_eq!(mounts_under(&d.root()), Vec::<String>::new());
    // The name is free again.
    d.berth_ok(&["create", "--name", "box", "busybox", "true"]);
}

#[test]
fn a_second_daemon_refuses_a_bridge_another_daemon_owns() {
    let d = with_busybox();
    let other = tempfile::Builder::new().prefix("berth-test-").tempdir().unwrap();
    let out = DaemonArgs::new(&other.path().join("root"))
        .unix(&other.path().join("s.sock"))
        .net(&d.net)
        .certs_dir(&other.path().join("certs.d"))
        .command()
        .output()
        .unwrap();
    assert!(!out.status.success(), "a second daemon started on {}", d.net.bridge());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("bridge {} is in use by the berth daemon with data root {}", d.net.bridge(), d.root().display())), "{err}");
    // The first daemon's bridge and containers are untouched.
    assert!(Command::new("ip").args(["link", "show", &d.net.bridge()]).output().unwrap().status.success());
    let ip = d.berth_ok(&["run", "--rm", "busybox", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(ip.contains(&format!("10.{}.0.", d.net.octet)), "{ip}");
}

#[test]
fn rm_v_killed_midway_still_removes_the_anonymous_volumes() {
    let mut d = with_busybox();
    let _u = Unmounter(d.root());
    // A writable layer of many files, so deleting it (after the intent is recorded, before the
    // volumes go) takes long enough to be killed in.
    d.berth_ok(&["run", "--name", "box", "-v", "/vol", "busybox", "sh", "-c", "echo keep > /vol/f; mkdir /w; cd /w; seq 1 40000 | xargs touch"]);
    let id = container_id(&d, "box");
    let vol = d.berth_ok(&["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "box"]).trim().to_string();
    assert_eq!(vol.len(), 64, "an anonymous volume: {vol}");
    let record = d.root().join("containers").join(&id).join("container.json");
    let mut rm = Command::new(BERTH).args(["rm", "-v", "box"]).env("BERTH_HOST", d.host()).stdin(Stdio::null()).spawn().unwrap();
    // SIGKILL as soon as the removal is recorded.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = std::fs::read(&record).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).map(|v| v["state"]["status"].clone());
        if status.as_ref().and_then(|s| s.as_str()) == Some("removing") {
            break;
        }
        assert!(Instant::now() < deadline && status.is_some(), "the removal was never recorded (status {status:?})");
        std::thread::sleep(Duration::from_micros(200));
    }
    d.kill9();
    let _ = rm.kill();
    let _ = rm.wait();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).expect("the kill came after the record was gone")).unwrap();
    assert_eq!(v["remove_volumes"], true, "rm -v's intent is recorded with the removal: {v}");
    assert!(d.root().join("volumes").join(&vol).join("volume.json").exists(), "the kill came after the volume was removed");
    d.restart();
    wait_until("the removal to finish", 20, || !d.berth(&["inspect", "box"]).status.success());
    assert!(!d.root().join("containers").join(&id).exists());
    assert!(!d.berth_ok(&["volume", "ls", "-q"]).contains(&vol), "the anonymous volume is still listed");
    assert!(!d.root().join("volumes").join(&vol).exists(), "the volume's data is left");
    // A named volume of a container removed without -v stays, as with Docker.
    d.berth_ok(&["run", "--name", "keep", "-v", "named:/vol", "-v", "/anon", "busybox", "true"]);
    d.berth_ok(&["rm", "-v", "keep"]);
    assert_eq!(d.berth_ok(&["volume", "ls", "-q"]).trim(), "named");
}

#[test]
fn a_connect_or_disconnect_cut_short_is_rolled_back_or_finished_at_start() {
    let mut d = with_busybox();
    let _u = Unmounter(d.root());
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(4), "half"]);
    d.berth_ok(&["network", "create", "--subnet", &d.net.subnet(5), "gone"]);
    d.berth_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    d.berth_ok(&["network", "connect", "gone", "box"]);
    let id = container_id(&d, "box");
    let endpoint = |net: &str| d.berth_ok(&["inspect", "-f", &format!("{{{{(index .NetworkSettings.Networks \"{net}\").EndpointID}}}}"), "box"]).trim().to_string();
    let veth = |ep: &str| format!("veth{}", &ep[..7]);
    let link = |name: &str| Path::new("/sys/class/net").join(name).exists();
    let gone_ep = endpoint("gone");
    // `network connect half` cut short once its veth was made: a real connect, then the container
    // record from before it put back (the daemon died before saving it).
    let record = d.root().join("containers").join(&id).join("container.json");
    let before = std::fs::read(&record).unwrap();
    d.berth_ok(&["network", "connect", "half", "box"]);
    let half_ep = endpoint("half");
    let half_ip = d.berth_ok(&["inspect", "-f", "{{(index .NetworkSettings.Networks \"half\").IPAddress}}", "box"]).trim().to_string();
    d.kill9();
    std::fs::write(&record, &before).unwrap();
    // `network disconnect gone` cut short once its veth was deleted (the record still has it).
    assert!(Command::new("ip").args(["link", "del", &veth(&gone_ep)]).status().unwrap().success());
    assert!(link(&veth(&half_ep)), "the unrecorded connect's veth is there before the restart");
    d.restart();
    wait_until("the half connect to be rolled back", 10, || !link(&veth(&half_ep)));
    let nets = d.berth_ok(&["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "box"]);
    assert_eq!(nets.trim(), "bridge", "the disconnect is finished, the connect rolled back");
    let addrs = d.berth_ok(&["exec", "box", "ip", "-o", "-4", "addr", "show"]);
    assert_eq!(addrs.lines().filter(|l| l.contains(" eth")).count(), 1, "{addrs}");
    assert!(!d.root().join("endpoints").join(format!("{half_ep}.json")).exists() && !d.root().join("endpoints").join(format!("{gone_ep}.json")).exists());
    let o = d.berth(&["system", "check", "--quick"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // The address the rolled-back connect held is free again.
    d.berth_ok(&["network", "connect", "--ip", &half_ip, "half", "box"]);
    d.berth_ok(&["network", "connect", "gone", "box"]);
    let addrs = d.berth_ok(&["exec", "box", "ip", "-o", "-4", "addr", "show"]);
    assert!(addrs.contains(&format!(" {half_ip}/")), "{addrs}");
}
