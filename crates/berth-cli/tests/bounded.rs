//! Bounded memory for every input (issue 15, item 2): what a client, an archive or a registry sends
//! is read up to a cap and refused beyond it, `logs --tail` reads from the end, records of finished
//! work are released, and work whose client went away stops and leaves nothing behind.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    v["message"].as_str().unwrap_or_else(|| panic!("no message: {v}")).to_string()
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

#[test]
fn an_exec_record_goes_with_its_container() {
    let d = with_busybox();
    let id = d.berth_ok(&["run", "-d", "busybox", "sleep", "100"]).trim().to_string();
    let (status, _, body) = http(&d.sock, "POST", &format!("/containers/{id}/exec"), br#"{"Cmd":["true"]}"#);
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let exec = json(&body)["Id"].as_str().unwrap().to_string();
    let (status, _, body) = http(&d.sock, "POST", &format!("/exec/{exec}/start"), br#"{"Detach":true}"#);
    assert!(status < 300, "{}", String::from_utf8_lossy(&body));
    // A finished exec stays inspectable (dockerd keeps it until its collector's second pass).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = http(&d.sock, "GET", &format!("/exec/{exec}/json"), b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v = json(&body);
        if v["Running"] == false && v["ExitCode"] == 0 {
            assert_eq!(v["CanRemove"], false);
            break;
        }
        assert!(Instant::now() < deadline, "the exec did not finish: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A second exec, created and never started.
    let (_, _, body) = http(&d.sock, "POST", &format!("/containers/{id}/exec"), br#"{"Cmd":["true"]}"#);
    let idle = json(&body)["Id"].as_str().unwrap().to_string();
    d.berth_ok(&["rm", "-f", &id]);
    for e in [&exec, &idle] {
        let (status, _, body) = http(&d.sock, "GET", &format!("/exec/{e}/json"), b"");
        assert_eq!(status, 404, "the exec record outlived its container: {}", String::from_utf8_lossy(&body));
        assert!(message(&body).contains("No such exec instance"));
    }
}

/// The daemon's pid: the `berth daemon` process serving this test's socket.
fn daemon_pid(d: &Daemon) -> i32 {
    let want = d.sock.display().to_string();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.iter().any(|a| a == "daemon") && args.iter().any(|a| a.ends_with(&want)) {
            return pid;
        }
    }
    panic!("no daemon process for {want}");
}

/// A field of /proc/PID/status in kB (VmRSS, VmHWM).
fn status_kb(pid: i32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.split_whitespace().next()?.parse().ok()).unwrap()
}

/// A tar archive of one file.
fn tar_of(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, content).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn a_huge_manifest_in_a_load_archive_is_refused_without_being_held() {
    let d = Daemon::start();
    let pid = daemon_pid(&d);
    let blobs = blob_count(&d.root());
    // A valid JSON manifest.json of 100 MB (whitespace inside): read whole, it would cost the
    // daemon 100 MB and more to parse.
    let mut manifest = br#"[{"Config":"c.json","RepoTags":["big:1"],"Layers":[]}"#.to_vec();
    manifest.extend(std::iter::repeat_n(b' ', 100 << 20));
    manifest.push(b']');
    let size = manifest.len();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("big.tar");
    std::fs::write(&archive, tar_of("manifest.json", &manifest)).unwrap();
    drop(manifest);
    let before = status_kb(pid, "VmRSS");
    let o = d.berth(&["load", "-i", archive.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("manifest.json is {size} bytes, more than the 8388608-byte limit")), "{err}");
    // The daemon's peak memory did not take the document in (its peak includes everything before).
    let peak = status_kb(pid, "VmHWM");
    assert!(peak < before + 40 * 1024, "the daemon's peak RSS went from {before} kB to {peak} kB");
    // And nothing of the archive stays.
    assert_eq!(blob_count(&d.root()), blobs);
    let (status, _, _) = http(&d.sock, "GET", "/_ping", b"");
    assert_eq!(status, 200);
}

#[test]
fn logs_tail_reads_the_last_lines_across_rotated_files() {
    let d = with_busybox();
    // 30,000 lines through 100 kB files, 5 kept: the tail comes from the newest file and the
    // ones before it.
    d.berth_ok(&["run", "--name", "talk", "--log-opt", "max-size=100k", "--log-opt", "max-file=5", "busybox", "sh", "-c", "i=0; while [ $i -lt 30000 ]; do echo line-$i; i=$((i+1)); done"]);
    let dir = d.root().join("containers");
    let cdir = std::fs::read_dir(&dir).unwrap().flatten().find(|e| e.path().join("container.log.1").exists()).expect("a rotated log").path();
    assert!(cdir.join("container.log.4").exists(), "the log did not rotate through 5 files");
    for n in [1usize, 3, 2000, 4000] {
        let out = d.berth_ok(&["logs", "--tail", &n.to_string(), "talk"]);
        let want: Vec<String> = (30000 - n..30000).map(|i| format!("line-{i}")).collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), want, "--tail {n}");
    }
    assert_eq!(d.berth_ok(&["logs", "--tail", "0", "talk"]), "");
    // Without --tail: every line kept, oldest first, ending with the last.
    let all = d.berth_ok(&["logs", "talk"]);
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.last(), Some(&"line-29999"));
    let first: usize = lines[0].strip_prefix("line-").unwrap().parse().unwrap();
    assert_eq!(lines.len(), 30000 - first, "a line is missing or doubled");
}

/// Processes whose command line is exactly `args`.
fn processes(args: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<i32>().ok()?;
            (std::fs::read(e.path().join("cmdline")).ok()? == want).then_some(pid)
        })
        .collect()
}

#[test]
fn a_build_whose_client_is_killed_stops_and_leaves_nothing() {
    let d = with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    // A sleep of a length no other test uses, to find the step's process.
    std::fs::write(ctx.path().join("Dockerfile"), "FROM busybox\nRUN sleep 987\n").unwrap();
    let mut client = std::process::Command::new(BERTH)
        .args(["build", "-t", "never:1", ctx.path().to_str().unwrap()])
        .env("BERTH_HOST", d.host())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let step = loop {
        let steps: Vec<_> = std::fs::read_dir(d.root().join("builds")).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default();
        if let (Some(dir), false) = (steps.first(), processes(&["sleep", "987"]).is_empty()) {
            break dir.clone();
        }
        assert!(Instant::now() < deadline, "the RUN step did not start");
        std::thread::sleep(Duration::from_millis(100));
    };
    let step_id = step.file_name().unwrap().to_string_lossy().into_owned();
    client.kill().unwrap();
    client.wait().unwrap();
    // The build ends: its step's process, directory, scratch context, mounts and cgroup go.
    let root = d.root().display().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let procs = processes(&["sleep", "987"]);
        let step_left = step.exists();
        let scratch: Vec<_> = std::fs::read_dir(d.root().join("tmp")).map(|r| r.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("build-")).map(|e| e.path()).collect()).unwrap_or_default();
        let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().filter(|l| l.contains(&root)).map(str::to_string).collect();
        let cgroups = std::process::Command::new("find").args(["/sys/fs/cgroup", "-maxdepth", "3", "-type", "d", "-name", &format!("*{step_id}*")]).output().unwrap();
        let cgroups = String::from_utf8_lossy(&cgroups.stdout).trim().to_string();
        if procs.is_empty() && !step_left && scratch.is_empty() && mounts.is_empty() && cgroups.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the build outlived its client: processes {procs:?}, step dir {step_left}, scratch {scratch:?}, mounts {mounts:?}, cgroups {cgroups:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // No image, and no container of the step.
    assert!(!d.berth(&["image", "inspect", "never:1"]).status.success());
    assert_eq!(d.berth_ok(&["ps", "-aq"]), "");
}
