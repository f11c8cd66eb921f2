//! A short soak (bench/load.sh `SOAK=1800` is the long one): concurrent clients drive a mixed workload
//! through the API for two equal rounds — containers created, started, waited for, their logs read and
//! removed; execs; `ps`, inspect, stats, `cp` out, events, image list — and the daemon's open files,
//! threads and memory come back down once the load stops: no leak a user would see grow over days.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 6;

#[derive(Debug, Clone, Copy)]
struct Sample {
    fds: usize,
    threads: usize,
    rss_kb: u64,
}

fn sample(pid: u32) -> Sample {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0);
    Sample { fds, threads, rss_kb }
}

/// Waits (up to 30 s) until the daemon's files and threads are back to `base`'s (the runtime's idle
/// blocking threads leave after 2 s), then samples.
fn settled(pid: u32, base: Option<Sample>) -> Sample {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = sample(pid);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = sample(pid);
        let quiet = match base {
            Some(b) => now.fds <= b.fds + 2 && now.threads <= b.threads + 1,
            None => now.fds == last.fds && now.threads == last.threads,
        };
        if (quiet && Instant::now() + Duration::from_secs(27) > deadline) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn call(sock: &Path, method: &str, path: &str, body: &Value) -> Result<(u16, Vec<u8>), String> {
    let body = if body.is_null() { Vec::new() } else { serde_json::to_vec(body).unwrap() };
    let (status, _, out) = std::panic::catch_unwind(|| http(sock, method, path, &body)).map_err(|_| format!("{method} {path}: connection failed"))?;
    Ok((status, out))
}

fn expect(sock: &Path, method: &str, path: &str, body: &Value, want: u16) -> Result<Vec<u8>, String> {
    let (status, out) = call(sock, method, path, body)?;
    if status != want {
        return Err(format!("{method} {path}: {status} {}", String::from_utf8_lossy(&out)));
    }
    Ok(out)
}

/// One round of the mix by client `n`; every answer is checked.
fn one_round(sock: &Path, n: usize, i: usize) -> Result<usize, String> {
    let word = format!("soak-{n}-{i}");
    let created: Value = serde_json::from_slice(&expect(sock, "POST", "/containers/create", &json!({"Image": "busybox", "Cmd": ["echo", word]}), 201)?).unwrap();
    let id = created["Id"].as_str().ok_or("create: no Id")?.to_string();
    expect(sock, "POST", &format!("/containers/{id}/start"), &Value::Null, 204)?;
    let waited: Value = serde_json::from_slice(&expect(sock, "POST", &format!("/containers/{id}/wait"), &Value::Null, 200)?).unwrap();
    if waited["StatusCode"] != json!(0) {
        return Err(format!("wait: {waited}"));
    }
    let logs = expect(sock, "GET", &format!("/containers/{id}/logs?stdout=1"), &Value::Null, 200)?;
    if !String::from_utf8_lossy(&logs).contains(&word) {
        return Err(format!("logs of {id} lack {word}"));
    }
    expect(sock, "DELETE", &format!("/containers/{id}"), &Value::Null, 204)?;

    let exec: Value = serde_json::from_slice(&expect(sock, "POST", "/containers/box/exec", &json!({"Cmd": ["true"]}), 201)?).unwrap();
    let eid = exec["Id"].as_str().ok_or("exec: no Id")?.to_string();
    expect(sock, "POST", &format!("/exec/{eid}/start"), &json!({"Detach": true}), 200)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st: Value = serde_json::from_slice(&expect(sock, "GET", &format!("/exec/{eid}/json"), &Value::Null, 200)?).unwrap();
        if st["Running"] == json!(false) && st["ExitCode"] == json!(0) {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("exec {eid} did not finish: {st}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    expect(sock, "GET", "/containers/json?all=1", &Value::Null, 200)?;
    expect(sock, "GET", "/containers/box/json", &Value::Null, 200)?;
    expect(sock, "GET", "/containers/box/stats?stream=false", &Value::Null, 200)?;
    expect(sock, "GET", "/containers/box/archive?path=/etc/hostname", &Value::Null, 200)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    expect(sock, "GET", &format!("/events?since={}&until={now}", now - 5), &Value::Null, 200)?;
    expect(sock, "GET", "/images/json", &Value::Null, 200)?;
    Ok(12)
}

/// `CLIENTS` clients for `secs`; answers (requests done, errors).
fn load(sock: &Path, secs: u64) -> (usize, Vec<String>) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (sock, stop, done): (PathBuf, _, _) = (sock.to_path_buf(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    match one_round(&sock, n, i) {
                        Ok(k) => {
                            done.fetch_add(k, Ordering::Relaxed);
                        }
                        Err(e) => errors.push(e),
                    }
                    i += 1;
                }
                errors
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let errors = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    (done.load(Ordering::Relaxed), errors)
}

/// The container shims of this daemon (their state root is under its data root).
fn shims(d: &Daemon) -> usize {
    let root = d.root().display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.contains("shim") && cmd.contains(&root)
        })
        .count()
}

fn mounts_under(root: &Path) -> usize {
    let root = root.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&root))).count()
}

#[test]
fn files_threads_and_memory_come_back_after_two_rounds_of_mixed_load() {
    let d = with_busybox();
    let pid = d.pid();
    d.berth_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "100000"]);
    // A first short round: what the daemon sets up on first use (pools, caches) is not a leak.
    let (_, errors) = load(&d.sock, 3);
    assert!(errors.is_empty(), "errors in the warm-up: {errors:?}");
    let base = settled(pid, None);
    let (mounts, shim_count) = (mounts_under(&d.root()), shims(&d));

    let mut after = Vec::new();
    for round in 1..=2 {
        let (ops, errors) = load(&d.sock, 12);
        assert!(errors.is_empty(), "round {round}: {} errors, first: {:?}", errors.len(), &errors[..errors.len().min(5)]);
        assert!(ops >= 12 * CLIENTS, "round {round}: only {ops} requests in 12 s");
        let s = settled(pid, Some(base));
        eprintln!("round {round}: {ops} requests; base {base:?}, after {s:?}");
        assert!(s.fds <= base.fds + 2, "round {round}: open files {} after the load, {} before", s.fds, base.fds);
        assert!(s.threads <= base.threads + 1, "round {round}: threads {} after the load, {} before", s.threads, base.threads);
        after.push(s);
    }
    // Memory is flat from one equal round to the next (the first may raise the allocator's
    // high-water mark once).
    assert!(after[1].rss_kb <= after[0].rss_kb + 4096, "RSS grew from {} kB to {} kB over an equal round", after[0].rss_kb, after[1].rss_kb);
    assert!(after[1].rss_kb <= base.rss_kb + 16 * 1024, "RSS {} kB after the load, {} kB before", after[1].rss_kb, base.rss_kb);
    // Nothing of the removed containers is left: shims and mounts as before the load.
    assert_eq!(shims(&d), shim_count, "shims after the load");
    assert_eq!(mounts_under(&d.root()), mounts, "mounts under the data root after the load");
    let ps: Value = serde_json::from_slice(&expect(&d.sock, "GET", "/containers/json?all=1", &Value::Null, 200).unwrap()).unwrap();
    assert_eq!(ps.as_array().map(Vec::len), Some(1), "only `box` is left: {ps}");
}
