//! The control path never waits behind the data path: while the slowest operations a user can start
//! run at once (several `system df -v`, removing a volume of 150,000 files, `container prune` of
//! containers with big writable layers, page cache cold), `/_ping` keeps answering promptly.
//! Also the daemon's answers to slow and hostile clients (timeouts, connection cap, bad bodies).

mod common;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `/_ping` over a fresh connection (as the docker CLI does), timed.
fn ping(sock: &std::path::Path) -> Duration {
    let t = Instant::now();
    let (status, _, body) = http(sock, "GET", "/_ping", b"");
    assert_eq!((status, body.as_slice()), (200, &b"OK"[..]));
    t.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// Fills `dir` with `n` one-byte files in subdirectories of 1,000.
fn fill(dir: &std::path::Path, n: usize) {
    for i in 0..n {
        let sub = dir.join(format!("d{}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("f{i}")), b"x").unwrap();
    }
}

#[test]
fn ping_stays_fast_while_slow_operations_run() {
    let d = with_busybox();
    // Stopped containers whose writable layers hold many files: what prune and df walk.
    let files = "mkdir /w && cd /w && seq 1 30000 | xargs touch";
    for i in 0..3 {
        d.berth_ok(&["run", "--name", &format!("walk{i}"), "busybox", "sh", "-c", files]);
    }
    // A running one too: `changes` walks it, prune leaves it.
    let keep = d.berth_ok(&["run", "-d", "busybox", "sh", "-c", &format!("{files} && touch /ready && exec sleep 600")]).trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.berth(&["exec", &keep, "test", "-e", "/ready"]).status.success() {
        assert!(Instant::now() < deadline, "the container did not write its files");
        std::thread::sleep(Duration::from_millis(200));
    }
    d.berth_ok(&["volume", "create", "big"]);
    fill(&d.root().join("volumes/big/_data"), 150_000);
    // Cold dentry and inode caches, as on a host that has been busy with something else.
    std::fs::write("/proc/sys/vm/drop_caches", "2").unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(Mutex::new(Vec::new()));
    let pinger = {
        let (sock, done, samples) = (d.sock.clone(), done.clone(), samples.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let t = ping(&sock);
                samples.lock().unwrap().push(t);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let mut work = Vec::new();
    for _ in 0..3 {
        let sock = d.sock.clone();
        work.push(std::thread::spawn(move || {
            let (status, _, body) = http(&sock, "GET", "/system/df?verbose=1", b"");
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let big = v["Volumes"].as_array().unwrap().iter().find(|v| v["Name"] == "big").cloned();
            // Sized before or after the removal, never a torn answer.
            if let Some(big) = big {
                assert!(big["UsageData"]["Size"].as_i64().unwrap() >= 0);
            }
            "df"
        }));
    }
    let sock = d.sock.clone();
    work.push(std::thread::spawn(move || {
        let (status, _, body) = http(&sock, "DELETE", "/volumes/big", b"");
        assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
        "volume rm"
    }));
    let (sock, id) = (d.sock.clone(), keep.clone());
    work.push(std::thread::spawn(move || {
        let (status, _, body) = http(&sock, "GET", &format!("/containers/{id}/changes"), b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v.as_array().unwrap().len() > 30_000, "{}", v.as_array().unwrap().len());
        "changes"
    }));
    let sock = d.sock.clone();
    work.push(std::thread::spawn(move || {
        let (status, _, body) = http(&sock, "POST", "/containers/prune", b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["ContainersDeleted"].as_array().unwrap().len(), 3, "{v}");
        "prune"
    }));
    for w in work {
        let what = w.join().expect("a slow operation failed");
        eprintln!("{what} done after {:?}", started.elapsed());
    }
    done.store(true, Ordering::SeqCst);
    pinger.join().unwrap();
    let mut s = samples.lock().unwrap().clone();
    s.sort();
    let (p50, p99, max) = (percentile(&s, 0.5), percentile(&s, 0.99), *s.last().unwrap());
    eprintln!("/_ping under load: {} samples over {:?}, p50 {p50:?}, p99 {p99:?}, max {max:?}", s.len(), started.elapsed());
    assert!(!d.root().join("volumes/big").exists());
    assert_eq!(d.berth_ok(&["ps", "-aq", "--no-trunc"]).trim(), keep);
    assert!(s.len() >= 10, "too few pings: {}", s.len());
    // The pinger waits for each answer, so one stall is one sample: the bound is on the worst one.
    assert!(max < Duration::from_secs(1), "/_ping took {max:?} (p50 {p50:?}, p99 {p99:?}) while slow operations ran");
}

/// The scheduler shares the CPU among autogroups (sessions) before nice values order threads within
/// one: a daemon leading its own session — as a service manager or `setsid` starts it — raises its
/// autogroup to its runtime threads' priority; one started inside another's session (this test's)
/// leaves that session's priority alone.
#[test]
fn a_daemon_leading_its_session_raises_its_autogroup() {
    // `/autogroup-N nice V`; empty for a task in init's session (the root task group, no
    // autogroup of its own: CI runs its tests there), which is None.
    let autogroup_nice = |pid: u32| {
        let g = std::fs::read_to_string(format!("/proc/{pid}/autogroup")).expect("autogroup (CONFIG_SCHED_AUTOGROUP)");
        g.split_whitespace().last().map(|n| n.parse::<i32>().unwrap())
    };
    let ours = autogroup_nice(std::process::id());
    let plain = Daemon::start();
    assert_eq!(autogroup_nice(plain.pid()), ours, "the test's session is left as it was");
    drop(plain);
    assert_eq!(autogroup_nice(std::process::id()), ours);

    let dir = tempfile::Builder::new().prefix("berth-test-").tempdir().unwrap();
    let (root, sock, config) = (dir.path().join("root"), dir.path().join("berth.sock"), dir.path().join("daemon.json"));
    std::fs::write(&config, "{}\n").unwrap();
    let net = NetSlot::claim();
    let args = DaemonArgs::new(&root).unix(&sock).net(&net).certs_dir(&dir.path().join("certs.d")).config(&config).log_level("warn");
    // setsid(1) execs the daemon in the same process (the test's child leads no process group).
    let child = std::process::Command::new("setsid").arg(BERTH).arg("daemon").args(args.to_args()).stdin(std::process::Stdio::null()).spawn().unwrap();
    let daemon = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "daemon did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = daemon.0.id();
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim(), "berth");
    // The daemon inherits the test's nice value (CI may run everything niced) and raises its
    // threads twenty levels above it, at most to -20.
    // Fields of /proc/PID/stat after the command name: [3] session id, [16] nice.
    let stat_field = |pid: &str, n: usize| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(n).unwrap().parse::<i32>().unwrap()
    };
    let own_nice = stat_field("self", 16);
    let threads_nice = (own_nice - 20).max(-20);
    assert_eq!(
        autogroup_nice(pid),
        Some(threads_nice),
        "a root daemon leading its session raises it to its threads' nice (test at nice {own_nice}; daemon pid {pid}, session {}, nice {})",
        stat_field(&pid.to_string(), 3),
        stat_field(&pid.to_string(), 16)
    );
    assert_eq!(autogroup_nice(std::process::id()), ours);
}
