//! Rootless Berth beyond the basic workflow (`rootless.rs`), each test with a real unprivileged
//! user made for it and the stock docker CLI:
//! - a delegated cgroup v2 subtree, made as systemd's `Delegate=yes` makes one (the directory and
//!   its `cgroup.procs`, `cgroup.subtree_control`, `cgroup.threads` the user's): the daemon moves
//!   into a leaf, containers get child cgroups with the delegated controllers (hugetlb: the one
//!   controller this host's cgroup2 has), limits of missing controllers are refused naming them,
//!   `--cgroupns private|host`, and `rm` removes the child cgroups;
//! - user-defined networks (containers resolve and reach each other by name), `--network host`
//!   (the daemon's network namespace, as with rootless Docker), `--privileged` (every capability,
//!   within the user namespace only), and DNS through a resolver on the host's loopback (the test's
//!   own, named by a `/etc/resolv.conf` bound in a mount namespace the daemon is started in);
//! - `berth rootless setup --install-unit`: the systemd user unit, checked by `systemd-analyze`.

mod common;
#[path = "common/rootless.rs"]
mod rootless_user;

use common::*;
use rootless_user::*;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The host's cgroup2 mount (this host is hybrid: v1 controllers, cgroup2 on `unified`).
fn cgroup2_mount() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let m = mounts.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()).find(|f| f.len() > 2 && f[2] == "cgroup2").expect("a cgroup2 mount on the host");
    PathBuf::from(m[1])
}

/// A cgroup v2 directory delegated to a user as systemd's `Delegate=yes` delegates one; removed
/// (its processes killed by pid, its children first) when dropped.
struct DelegatedCgroup(PathBuf);

impl DelegatedCgroup {
    fn new(user: &RootlessUser) -> DelegatedCgroup {
        let root = cgroup2_mount();
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap();
        assert!(controllers.split_whitespace().any(|c| c == "hugetlb"), "this host's cgroup2 has hugetlb: {controllers}");
        // What the host enables for its children (systemd does it for user@.service's parents).
        // Left enabled afterwards: other cgroups may use it by then.
        std::fs::write(root.join("cgroup.subtree_control"), "+hugetlb").unwrap();
        let dir = root.join(format!("berth-test-{}", user.name));
        std::fs::create_dir(&dir).unwrap();
        for f in ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] {
            nix::unistd::chown(&dir.join(f), Some(user.uid.into()), Some(user.gid.into())).unwrap();
        }
        DelegatedCgroup(dir)
    }

    /// The cgroup directories under it, deepest first.
    fn descendants(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path(), out);
                    out.push(e.path());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &mut out);
        out
    }
}

impl Drop for DelegatedCgroup {
    fn drop(&mut self) {
        for _ in 0..100 {
            let mut dirs = self.descendants();
            dirs.push(self.0.clone());
            for d in &dirs {
                for pid in std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().split_whitespace() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid.parse().unwrap()), nix::sys::signal::Signal::SIGKILL);
                }
                let _ = std::fs::remove_dir(d);
            }
            if !self.0.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn procs(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("cgroup.procs")).unwrap().split_whitespace().map(str::to_string).collect()
}

#[test]
fn a_delegated_cgroup_v2_subtree_gives_containers_their_own_cgroups() {
    let _tun = TunOpen::new();
    let mut user = RootlessUser::create();
    let cg = DelegatedCgroup::new(&user);
    let procs_file = cg.0.join("cgroup.procs");
    // Outside the delegated cgroup, setup says there is no delegation; inside, what was delegated.
    let outside = user.berth(&["rootless", "setup"]);
    assert!(stdout(&outside).contains("cgroup is not delegated to it"), "{}{}", stdout(&outside), stderr(&outside));
    let mut inside = user.command("berth");
    inside.args(["rootless", "setup"]);
    let setup = Command::new("sh").args(["-c", "echo $$ > \"$0\" && exec \"$@\"", procs_file.to_str().unwrap()]).arg(inside.get_program()).args(inside.get_args()).env_clear().envs(inside.get_envs().filter_map(|(k, v)| Some((k, v?)))).output().unwrap();
    assert!(setup.status.success(), "{}{}", stdout(&setup), stderr(&setup));
    assert!(stdout(&setup).contains("delegated to this user with the controllers hugetlb: limits needing cpu, memory, pids, io, cpuset are refused"), "{}", stdout(&setup));
    // The daemon starts in the delegated cgroup, as systemd starts a Delegate=yes service in it.
    user.start_daemon_wrapped(&["sh", "-c", "echo $$ > \"$0\" && exec \"$@\"", procs_file.to_str().unwrap()]);

    // Both daemon processes moved to the leaf; the controllers are enabled for children.
    let leaf = cg.0.join("berth-daemon");
    assert!(procs(&cg.0).is_empty(), "processes left in the delegated cgroup itself: {:?}", procs(&cg.0));
    let daemons: Vec<String> = user.processes().into_iter().filter(|(_, _, c)| c.contains("berth daemon")).map(|(p, _, _)| p.to_string()).collect();
    assert_eq!(daemons.len(), 2, "{daemons:?}");
    let in_leaf = procs(&leaf);
    assert!(daemons.iter().all(|p| in_leaf.contains(p)), "daemons {daemons:?}, leaf {in_leaf:?}");
    assert_eq!(std::fs::read_to_string(cg.0.join("cgroup.subtree_control")).unwrap().trim(), "hugetlb");
    // The missing controllers are named at start, in dockerd's words; hugetlb is not missing.
    let log = user.log();
    assert!(log.contains("Unable to find memory controller") && log.contains("Unable to find pids controller") && log.contains("delegated: hugetlb"), "{log}");

    user.import_busybox("bb");
    // A container gets its own cgroup under the delegated one, with the delegated controller.
    let id = user.docker_ok(&["run", "-d", "--name", "c1", "bb", "sleep", "600"]).trim().to_string();
    let pid = user.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "c1"]).trim().to_string();
    let own = cg.0.join(format!("berth-{id}"));
    let host_cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = own.strip_prefix(cgroup2_mount()).unwrap();
    assert!(host_cgroup.lines().any(|l| l == format!("0::/{}", rel.display())), "{host_cgroup}");
    assert!(procs(&own).contains(&pid), "{:?}", procs(&own));
    assert!(own.join("hugetlb.2MB.max").exists(), "the container's cgroup has the delegated hugetlb controller");
    assert!(!own.join("memory.max").exists() && !own.join("pids.max").exists());
    // Inside: its cgroup namespace (private, the cgroup v2 default) is rooted at its own cgroup.
    let v2_line = |text: &str| text.lines().find(|l| l.starts_with("0::")).map(str::to_string).unwrap_or_default();
    assert_eq!(v2_line(&user.docker_ok(&["exec", "c1", "cat", "/proc/self/cgroup"])), "0::/");
    assert!(user.docker_ok(&["exec", "c1", "ls", "/sys/fs/cgroup"]).contains("hugetlb.2MB.max"));
    // --cgroupns host: the daemon's cgroup namespace, rooted at the delegated cgroup.
    let seen = v2_line(&user.docker_ok(&["run", "--rm", "--cgroupns", "host", "bb", "cat", "/proc/self/cgroup"]));
    assert!(seen.starts_with("0::/berth-") && seen.len() == "0::/berth-".len() + 64, "{seen}");

    // Limits of controllers the user was not given are refused, naming the controller.
    for (args, controller) in [(&["--pids-limit", "10"][..], "pids controller"), (&["--memory", "64m"][..], "memory controller"), (&["--cpus", "0.5"][..], "cpu controller")] {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend(["bb", "true"]);
        let out = user.docker(&all);
        assert!(!out.status.success() && stderr(&out).contains(controller), "{args:?}: {}", stderr(&out));
    }

    // rm removes the container's cgroup.
    user.docker_ok(&["rm", "-f", "c1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while own.exists() {
        assert!(Instant::now() < deadline, "{} left after rm", own.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<PathBuf> = cg.descendants().into_iter().filter(|d| d != &leaf).collect();
    assert!(left.is_empty(), "{left:?}");
    let st = user.stop_daemon().expect("the daemon stopped on SIGTERM");
    assert!(st.success(), "{st}\n{}", user.log());
    // Everything the daemon started (pasta last) leaves its cgroup.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !procs(&leaf).is_empty() {
        let left: Vec<String> = procs(&leaf).iter().map(|p| std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default().replace('\0', " ")).collect();
        assert!(Instant::now() < deadline, "left in {}: {left:?}", leaf.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A DNS server for the test on a host loopback address: A records for `outside.berth.test`
/// (198.51.100.7), NXDOMAIN for other names; counts the queries it answered.
struct TinyDns {
    addr: Ipv4Addr,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TinyDns {
    fn start() -> TinyDns {
        // A loopback address of its own (127.53.x.y), like systemd-resolved's 127.0.0.53.
        let n = std::process::id();
        let addr = Ipv4Addr::new(127, 53, (n >> 8) as u8, (n as u8).max(1));
        let sock = UdpSocket::bind((addr, 53)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let (queries, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (q, s) = (queries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else { continue };
                if let Some(reply) = dns_answer(&buf[..n]) {
                    q.fetch_add(1, Ordering::Relaxed);
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        TinyDns { addr, queries, stop, thread: Some(thread) }
    }
}

impl Drop for TinyDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one query: the question echoed, an A record for `outside.berth.test`.
fn dns_answer(q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    let (mut i, mut labels) = (12, Vec::new());
    while *q.get(i)? != 0 {
        let len = q[i] as usize;
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + len)?).to_lowercase());
        i += 1 + len;
    }
    let qend = i + 5;
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    let known = labels.join(".") == "outside.berth.test";
    let answer = known && qtype == 1;
    let mut r = Vec::from(&q[..2]);
    r.extend([0x81, if known { 0x80 } else { 0x83 }, 0, 1, 0, answer as u8, 0, 0, 0, 0]);
    r.extend(q.get(12..qend)?);
    if answer {
        r.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7]);
    }
    Some(r)
}

/// `MAJ MIN NAME` of a block device of the host's (a disk, not a loop or ram device).
fn host_disk() -> (String, String, String) {
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram") || name.starts_with("nbd") {
            continue;
        }
        let dev = std::fs::read_to_string(e.path().join("dev")).unwrap();
        let (maj, min) = dev.trim().split_once(':').unwrap();
        return (maj.into(), min.into(), name);
    }
    panic!("no disk in /sys/block");
}

fn cap_eff(pid: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    u64::from_str_radix(status.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap().trim(), 16).unwrap()
}

#[test]
fn networks_dns_host_network_and_privileged_work_rootless() {
    let _tun = TunOpen::new();
    let dns = TinyDns::start();
    let mut user = RootlessUser::create();
    let setup = user.berth(&["rootless", "setup"]);
    assert!(setup.status.success(), "{}{}", stdout(&setup), stderr(&setup));
    // The host's resolver is on its loopback (as systemd-resolved's 127.0.0.53): the daemon is
    // started in a mount namespace whose /etc/resolv.conf says so.
    let resolv = user.base.join("host-resolv.conf");
    std::fs::write(&resolv, format!("nameserver {}\nsearch berth.test\n", dns.addr)).unwrap();
    user.start_daemon_wrapped(&["unshare", "-m", "--propagation", "slave", "sh", "-c", "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"", resolv.to_str().unwrap()]);
    user.import_busybox("bb");

    // Default bridge: the container's resolv.conf names no loopback address (which would be its
    // own), but pasta's forwarder, and a name resolves through the host's loopback resolver.
    let conf = user.docker_ok(&["run", "--rm", "bb", "cat", "/etc/resolv.conf"]);
    assert!(conf.contains("nameserver 169.254.1.1") && !conf.contains("nameserver 127.") && conf.contains("search berth.test"), "{conf}");
    let looked = user.docker_ok(&["run", "--rm", "bb", "nslookup", "outside.berth.test"]);
    assert!(looked.contains("198.51.100.7"), "{looked}");
    let before = dns.queries.load(Ordering::Relaxed);
    assert!(before > 0);

    // A user-defined network: the embedded DNS server answers containers' names, and forwards
    // the rest to the host's resolver.
    user.docker_ok(&["network", "create", "appnet"]);
    user.docker_ok(&["run", "-d", "--name", "alpha", "--network", "appnet", "bb", "sh", "-c", "mkdir -p /www && echo page-of-a > /www/index.html && exec httpd -f -p 8080 -h /www"]);
    user.docker_ok(&["run", "-d", "--name", "beta", "--network", "appnet", "bb", "sleep", "600"]);
    let b_ip = user.docker_ok(&["inspect", "-f", "{{.NetworkSettings.Networks.appnet.IPAddress}}", "beta"]).trim().to_string();
    assert!(!b_ip.is_empty());
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let o = user.docker(&["exec", "beta", "wget", "-qO-", "http://alpha:8080/"]);
        if o.status.success() || Instant::now() > deadline {
            break stdout(&o) + &stderr(&o);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(page.trim(), "page-of-a");
    let b_from_a = user.docker_ok(&["exec", "alpha", "nslookup", "beta."]);
    assert!(b_from_a.contains(&b_ip), "{b_from_a}");
    assert!(user.docker_ok(&["exec", "alpha", "cat", "/etc/resolv.conf"]).contains("nameserver 127.0.0.11"));
    let outside = user.docker_ok(&["exec", "alpha", "nslookup", "outside.berth.test"]);
    assert!(outside.contains("198.51.100.7"), "{outside}");
    assert!(dns.queries.load(Ordering::Relaxed) > before, "the embedded server forwarded to the host's resolver");
    user.docker_ok(&["rm", "-f", "alpha", "beta"]);
    user.docker_ok(&["network", "rm", "appnet"]);

    // --network host: the daemon's network namespace (not the host's), whose bound ports pasta
    // forwards from the host, as with rootless Docker.
    let port = free_port();
    let script = format!("mkdir -p /www && echo host-network > /www/index.html && exec httpd -f -p {port} -h /www");
    user.docker_ok(&["run", "-d", "--name", "hostnet", "--network", "host", "bb", "sh", "-c", &script]);
    let pid = user.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "hostnet"]).trim().to_string();
    let daemon = user.inner_daemon_pid();
    let ns = |p: &str, kind: &str| std::fs::read_link(format!("/proc/{p}/ns/{kind}")).unwrap();
    assert_eq!(ns(&pid, "net"), ns(&daemon.to_string(), "net"), "the container shares the daemon's network namespace");
    assert_ne!(ns(&pid, "net"), ns("self", "net"), "never the host's");
    assert!(fetch(port).contains("host-network"));
    assert!(!user.docker_ok(&["exec", "hostnet", "cat", "/etc/resolv.conf"]).contains("nameserver 127."));
    user.docker_ok(&["rm", "-f", "hostnet"]);

    // --privileged: every capability, but in the daemon's user namespace; host devices stay out
    // of reach (no mknod, and the host's disk is not readable even where /dev shows it).
    user.docker_ok(&["run", "-d", "--name", "priv", "--privileged", "bb", "sleep", "600"]);
    let pid = user.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "priv"]).trim().to_string();
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap().trim().parse().unwrap();
    assert_eq!(cap_eff(&pid), (1u64 << (last + 1)) - 1, "all capabilities");
    assert_eq!(ns(&pid, "user"), ns(&daemon.to_string(), "user"));
    assert_ne!(ns(&pid, "user"), ns("self", "user"));
    assert_eq!(status_uid(&pid), user.uid, "root in it is the user on the host");
    let (maj, min, name) = host_disk();
    let probe = format!(
        "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo MOUNTED; mknod /tmp/d b {maj} {min} && echo MKNOD; dd if=/tmp/d of=/dev/null bs=512 count=1 2>/dev/null && echo READ-MKNOD; dd if=/dev/{name} of=/dev/null bs=512 count=1 2>/dev/null && echo READ-DEV; true"
    );
    let out = user.docker_ok(&["exec", "priv", "sh", "-c", &probe]);
    assert!(out.contains("MOUNTED"), "CAP_SYS_ADMIN over its own mounts: {out}");
    assert!(!out.contains("READ-MKNOD") && !out.contains("READ-DEV"), "a host disk was readable: {out}");
    // Without --privileged, none of that.
    let plain = user.docker_ok(&["run", "--rm", "bb", "sh", "-c", "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && echo MOUNTED; true"]);
    assert!(!plain.contains("MOUNTED"), "{plain}");
    assert_ne!(cap_eff(&pid), 0xa80425fb);
    user.docker_ok(&["rm", "-f", "priv"]);
    let st = user.stop_daemon().expect("the daemon stopped on SIGTERM");
    assert!(st.success(), "{st}\n{}", user.log());
}

#[test]
fn setup_installs_a_systemd_user_unit() {
    let _tun = TunOpen::new();
    let user = RootlessUser::create();
    let out = user.berth(&["rootless", "setup", "--install-unit"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let unit = user.base.join("home/.config/systemd/user/berth.service");
    assert!(stdout(&out).contains(unit.to_str().unwrap()) && stdout(&out).contains("systemctl --user enable --now berth"), "{}", stdout(&out));
    let text = std::fs::read_to_string(&unit).unwrap();
    let berth = user.base.join("bin/berth");
    assert!(text.lines().any(|l| l == format!("ExecStart={} daemon", berth.display())), "{text}");
    for line in ["Delegate=yes", "Type=notify", "NotifyAccess=all", "KillMode=mixed", "WantedBy=default.target"] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert_eq!(std::fs::metadata(&unit).unwrap().uid(), user.uid);
    // systemd's own check of the unit (no running user manager needed); as the user, who can run
    // the ExecStart binary. `--man=no`: berth(1) comes with the Debian package, not installed here.
    let verify = user.command("systemd-analyze").args(["verify", "--user", "--man=no"]).arg(&unit).output().unwrap();
    let err = stderr(&verify);
    assert!(verify.status.success(), "systemd-analyze verify: {}{err}", stdout(&verify));
    assert!(!err.to_lowercase().contains("berth.service:"), "systemd-analyze complained about the unit: {err}");
    // Run again: the unit is replaced, not duplicated or refused.
    let again = user.berth(&["rootless", "setup", "--install-unit"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(&unit).unwrap(), text);
}
