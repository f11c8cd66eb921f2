//! Containers for real: namespaces, cgroups, seccomp, capabilities, the shim, through berth's CLI.

mod common;
use common::*;


fn run(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["run", "--rm"];
    full.extend_from_slice(args);
    let o = d.berth(&full);
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

fn status_line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines().find(|l| l.starts_with(key)).map(|l| l[key.len()..].trim()).unwrap_or("")
}

#[test]
fn run_streams_output_and_exit_code() {
    let d = with_busybox();
    let (code, out, err) = run(&d, &["busybox", "sh", "-c", "echo to-out; echo to-err >&2; exit 7"]);
    assert_eq!(code, 7);
    assert_eq!(out, "to-out\n");
    assert_eq!(err, "to-err\n");
    let (code, _, err) = run(&d, &["busybox", "/no/such/binary"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("Error response from daemon"), "{err}");
    assert_eq!(d.berth_ok(&["ps", "-aq"]), "", "--rm containers must be gone");
}

#[test]
fn default_isolation_matches_docker() {
    let d = with_busybox();
    let script = "grep -E '^(CapPrm|CapEff|CapBnd|Seccomp|NoNewPrivs):' /proc/self/status; echo pid=$$; hostname; \
                  cat /proc/kcore | wc -c; (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo sys-writable || echo sys-ro; \
                  mount | grep -c ' /dev/shm '; df -k /dev/shm | tail -1";
    let (code, out, err) = run(&d, &["--name", "iso", "busybox", "sh", "-c", script]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status_line(&out, "CapEff:"), "00000000a80425fb", "Docker's 14 default capabilities: {out}");
    // Nothing more in any set (the runtime's loading of the filter leaves no trace).
    assert_eq!(status_line(&out, "CapPrm:"), "00000000a80425fb", "{out}");
    assert_eq!(status_line(&out, "CapBnd:"), "00000000a80425fb", "{out}");
    assert_eq!(status_line(&out, "Seccomp:"), "2", "seccomp filter mode: {out}");
    assert_eq!(status_line(&out, "NoNewPrivs:"), "0");
    assert!(out.contains("pid=1\n"), "own pid namespace: {out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[7].trim(), "0", "/proc/kcore must be masked: {out}");
    assert!(out.contains("sys-ro"), "/proc/sys must be read-only: {out}");
    assert!(out.contains(" 65536 "), "/dev/shm is 64 MiB: {out}");
}

#[test]
fn uts_host_keeps_the_hosts_name() {
    // dockerd leaves the name alone in the host's UTS namespace (the runtime refuses to set one there).
    let d = with_busybox();
    let host = nix::unistd::gethostname().unwrap().to_string_lossy().into_owned();
    let (code, out, err) = run(&d, &["--uts", "host", "busybox", "hostname"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), host);
    let (code, out, err) = run(&d, &["--uts", "host", "--network", "none", "busybox", "sh", "-c", "readlink /proc/self/ns/uts"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), std::fs::read_link("/proc/self/ns/uts").unwrap().display().to_string());
}

#[test]
fn security_options_change_what_the_process_gets() {
    let d = with_busybox();
    let caps = |extra: &[&str]| {
        let mut a = extra.to_vec();
        a.extend_from_slice(&["busybox", "grep", "-E", "^(CapEff|Seccomp|NoNewPrivs):", "/proc/self/status"]);
        let (code, out, err) = run(&d, &a);
        assert_eq!(code, 0, "{extra:?}: {err}");
        out
    };
    // Privileged gets every capability the host lets the daemon hold.
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(status_line(&caps(&["--privileged"]), "CapEff:"), status_line(&host, "CapBnd:"));
    assert_eq!(status_line(&caps(&["--cap-drop", "ALL"]), "CapEff:"), "0000000000000000");
    assert_eq!(status_line(&caps(&["--cap-add", "NET_ADMIN"]), "CapEff:"), "00000000a80435fb");
    assert_eq!(status_line(&caps(&["--security-opt", "no-new-privileges"]), "NoNewPrivs:"), "1");
    assert_eq!(status_line(&caps(&["--security-opt", "seccomp=unconfined"]), "Seccomp:"), "0");
    // The default profile refuses what needs CAP_SYS_ADMIN, such as unshare.
    let (code, _, _) = run(&d, &["busybox", "unshare", "-m", "true"]);
    assert_ne!(code, 0);
    let (code, _, err) = run(&d, &["--privileged", "busybox", "unshare", "-m", "true"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn users_rootfs_and_tmpfs() {
    let d = with_busybox();
    let (_, out, _) = run(&d, &["-u", "nobody", "busybox", "id"]);
    assert!(out.starts_with("uid=65534(nobody) gid=65534"), "{out}");
    let (_, out, _) = run(&d, &["-u", "1234:5678", "busybox", "id"]);
    assert!(out.starts_with("uid=1234 gid=5678"), "{out}");
    let (code, _, err) = run(&d, &["-u", "ghost", "busybox", "id"]);
    assert_ne!(code, 0);
    assert!(err.contains("unable to find user ghost"), "{err}");
    let (code, _, _) = run(&d, &["--read-only", "busybox", "touch", "/newfile"]);
    assert_ne!(code, 0, "--read-only must refuse writes");
    let (code, out, err) = run(&d, &["--read-only", "--tmpfs", "/scratch:size=1m", "busybox", "sh", "-c", "touch /scratch/x && df -k /scratch | tail -1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(" 1024 "), "tmpfs size: {out}");
    let (_, out, _) = run(&d, &["-e", "FOO=bar", "-w", "/tmp", "busybox", "sh", "-c", "echo $FOO $(pwd) $HOME"]);
    assert_eq!(out.trim(), "bar /tmp /root");
}

#[test]
fn cgroup_limits_and_oom() {
    let d = with_busybox();
    let (code, out, err) = run(&d, &["-m", "32m", "--pids-limit", "20", "--cpus", "0.5", "busybox", "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max"]);
    assert_eq!(code, 0, "{err}");
    let v: Vec<&str> = out.split_whitespace().collect();
    assert!(v.contains(&"33554432"), "memory limit: {out}");
    assert!(v.contains(&"20"), "pids limit: {out}");
    assert!(v.contains(&"50000"), "cpu quota: {out}");
    let o = d.berth(&["run", "--name", "oom", "-m", "16m", "--memory-swap", "16m", "busybox", "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom"]).trim(), "true 137");
}

#[test]
fn lifecycle_detached_logs_stop_kill_restart_wait_rm() {
    let d = with_busybox();
    let id = d.berth_ok(&["run", "-d", "--name", "svc", "busybox", "sh", "-c", "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done"]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let o = d.berth(&["run", "-d", "--name", "svc", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("is already in use"), "{}", stderr(&o));
    let ps = d.berth_ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), "svc running");
    wait_for(|| d.berth_ok(&["logs", "svc"]).contains("ready"));
    let inspect = d.berth_ok(&["container", "inspect", "-f", "{{.State.Running}} {{.State.Pid}} {{.Name}}", "svc"]);
    assert!(inspect.starts_with("true ") && inspect.trim().ends_with("/svc"), "{inspect}");
    d.berth_ok(&["stop", "svc"]);
    assert!(d.berth_ok(&["logs", "svc"]).contains("got-term"), "stop sends SIGTERM first");
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "svc"]).trim(), "exited 0");
    d.berth_ok(&["start", "svc"]);
    assert_eq!(d.berth_ok(&["ps", "-q"]).trim(), &id[..12]);
    d.berth_ok(&["kill", "svc"]);
    assert_eq!(d.berth_ok(&["wait", "svc"]).trim(), "137");
    let o = d.berth(&["kill", "svc"]);
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));
    d.berth_ok(&["restart", "svc"]);
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}}", "svc"]).trim(), "running");
    let o = d.berth(&["rm", "svc"]);
    assert!(!o.status.success() && stderr(&o).contains("container is running"), "{}", stderr(&o));
    d.berth_ok(&["rm", "-f", "svc"]);
    assert_eq!(d.berth_ok(&["ps", "-aq"]), "");
    assert!(!std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(id), "rootfs mount leaked");
    assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/memory/berth-{id}")).exists(), "cgroup leaked");
}

#[test]
fn stdin_is_passed_and_closed() {
    let d = with_busybox();
    let out = d.berth_stdin(&["run", "-i", "--rm", "busybox", "sh", "-c", "wc -c; echo done"], b"twelve bytes");
    assert!(out.status.success());
    assert_eq!(stdout(&out).split_whitespace().collect::<Vec<_>>(), ["12", "done"]);
}

#[test]
fn containers_survive_a_daemon_restart() {
    let mut d = with_busybox();
    d.berth_ok(&["run", "-d", "--name", "long", "busybox", "sh", "-c", "echo started; sleep 300"]);
    d.berth_ok(&["run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 42"]);
    wait_for(|| d.berth_ok(&["logs", "long"]).contains("started"));
    d.stop();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    d.restart();
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}}", "long"]).trim(), "running");
    wait_for(|| d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}}", "short"]).trim() == "exited");
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.ExitCode}}", "short"]).trim(), "42");
    assert!(d.berth_ok(&["logs", "long"]).contains("started"));
    let t = std::time::Instant::now();
    d.berth_ok(&["stop", "-t", "1", "long"]);
    assert!(t.elapsed() < std::time::Duration::from_secs(8));
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.ExitCode}}", "long"]).trim(), "137");
}

fn wait_for(mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("condition not reached in 10s");
}

#[test]
fn exec_runs_in_the_container_with_options() {
    let d = with_busybox();
    d.berth_ok(&["run", "-d", "--name", "host", "-e", "BASE=1", "busybox", "sleep", "300"]);
    let o = d.berth(&["exec", "host", "sh", "-c", "echo $BASE $(cat /proc/1/cmdline | tr '\\0' ' '); echo e >&2; exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stdout(&o).trim(), "1 sleep 300");
    assert_eq!(stderr(&o), "e\n");
    assert_eq!(d.berth_ok(&["exec", "-u", "nobody", "-w", "/tmp", "-e", "X=2", "host", "sh", "-c", "id -u; pwd; echo $X"]).split_whitespace().collect::<Vec<_>>(), ["65534", "/tmp", "2"]);
    // An exec gets the container's seccomp filter and exactly its capabilities.
    let status = d.berth_ok(&["exec", "host", "grep", "-E", "^(CapPrm|CapEff|CapBnd|Seccomp):", "/proc/self/status"]);
    for key in ["CapPrm:", "CapEff:", "CapBnd:"] {
        assert_eq!(status_line(&status, key), "00000000a80425fb", "{status}");
    }
    assert_eq!(status_line(&status, "Seccomp:"), "2", "{status}");
    let status = d.berth_ok(&["exec", "-u", "nobody", "host", "grep", "-E", "^(CapPrm|CapEff|Seccomp):", "/proc/self/status"]);
    assert_eq!(status_line(&status, "CapPrm:"), "0000000000000000", "{status}");
    assert_eq!(status_line(&status, "CapEff:"), "0000000000000000", "{status}");
    assert_eq!(status_line(&status, "Seccomp:"), "2", "{status}");
    let out = d.berth_stdin(&["exec", "-i", "host", "sh", "-c", "cat > /tmp/f; wc -c < /tmp/f"], b"12345");
    assert_eq!(stdout(&out).trim(), "5");
    // As with dockerd: the failure comes in the stream, the exit code is 126.
    let o = d.berth(&["exec", "host", "/no/such"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(stdout(&o).contains("OCI runtime exec failed") && stdout(&o).contains("/no/such"), "{}", stdout(&o));
    let o = d.docker(&["exec", "host", "sh", "-c", "echo via-docker; exit 9"]);
    assert_eq!(o.status.code(), Some(9));
    assert_eq!(stdout(&o), "via-docker\n");
    d.berth_ok(&["exec", "-d", "host", "sh", "-c", "echo detached > /tmp/d"]);
    for _ in 0..100 {
        if d.berth(&["exec", "host", "cat", "/tmp/d"]).status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(d.berth_ok(&["exec", "host", "cat", "/tmp/d"]).trim(), "detached");
    d.berth_ok(&["stop", "-t", "0", "host"]);
    let o = d.berth(&["exec", "host", "true"]);
    assert!(stderr(&o).contains("is not running"), "{}", stderr(&o));
}

#[test]
fn pause_rename_top_stats() {
    let d = with_busybox();
    d.berth_ok(&["run", "-d", "--name", "p1", "-m", "64m", "busybox", "sh", "-c", "while true; do echo tick; sleep 0.05; done"]);
    d.berth_ok(&["pause", "p1"]);
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "p1"]).trim(), "paused true");
    let before = d.berth_ok(&["logs", "p1"]).lines().count();
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(d.berth_ok(&["logs", "p1"]).lines().count(), before, "a paused container makes no progress");
    d.berth_ok(&["unpause", "p1"]);
    d.berth_ok(&["rename", "p1", "p2"]);
    let top = d.berth_ok(&["top", "p2"]);
    assert!(top.starts_with("UID") && top.contains("sh -c while true"), "{top}");
    let o = d.berth(&["top", "p1"]);
    assert!(stderr(&o).contains("No such container: p1"), "{}", stderr(&o));
    let stats = d.berth_ok(&["stats", "--no-stream", "p2"]);
    assert!(stats.starts_with("CONTAINER ID") && stats.contains("p2") && stats.contains("/ 64MiB"), "{stats}");
    let docker = d.docker_ok(&["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "p2"]);
    assert!(docker.starts_with("p2 ") && docker.contains("64MiB"), "{docker}");
    assert!(d.docker_ok(&["top", "p2"]).contains("sleep"), "docker top");
}

#[test]
fn restart_policies_apply_at_exit_and_at_daemon_start() {
    let mut d = with_busybox();
    d.berth_ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1"]);
    wait_for(|| d.berth_ok(&["container", "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky"]).trim() == "2 exited");
    assert_eq!(d.berth_ok(&["logs", "flaky"]).lines().count(), 3, "first run plus two restarts");
    // A start by hand counts restarts from zero again (dockerd resets its restart manager): two more.
    d.berth_ok(&["start", "flaky"]);
    wait_for(|| d.berth_ok(&["logs", "flaky"]).lines().count() == 6);
    wait_for(|| d.berth_ok(&["container", "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky"]).trim() == "2 exited");
    d.berth_ok(&["run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "300"]);
    d.berth_ok(&["run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "300"]);
    // on-failure at daemon start, as dockerd's restore: a failed last run (stopped by hand too)
    // with retries left is started; a clean exit is not, nor a container out of retries (flaky).
    d.berth_ok(&["run", "-d", "--name", "failed", "--restart", "on-failure", "busybox", "sleep", "300"]);
    d.berth_ok(&["run", "--name", "clean", "--restart", "on-failure", "busybox", "true"]);
    d.berth_ok(&["stop", "-t", "0", "always", "unless", "failed"]);
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.ExitCode}}", "failed"]).trim(), "137");
    d.restart();
    wait_for(|| d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}}", "always"]).trim() == "running");
    wait_for(|| d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}}", "failed"]).trim() == "running");
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}}", "unless"]).trim(), "exited", "unless-stopped stays stopped");
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}}", "clean"]).trim(), "exited", "on-failure after a clean exit");
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "flaky"]).trim(), "2 exited", "on-failure:2 out of retries");
}

#[test]
fn logs_rotate_by_size() {
    let d = with_busybox();
    d.berth_ok(&["run", "--name", "chatty", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"]);
    let id = d.berth_ok(&["ps", "-aq", "--no-trunc"]).trim().to_string();
    let dir = d.root().join("containers").join(&id);
    let logs: Vec<String> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).filter(|n| n.starts_with("container.log")).collect();
    assert_eq!(logs.len(), 2, "max-file=2 keeps two files: {logs:?}");
    for l in &logs {
        assert!(std::fs::metadata(dir.join(l)).unwrap().len() < 4096, "{l} exceeds max-size");
    }
    let out = d.berth_ok(&["logs", "chatty"]);
    assert!(out.trim_end().ends_with("line-299"), "the newest lines survive rotation");
    assert!(!out.contains("line-0\n"), "the oldest lines were rotated away");
    let o = d.berth(&["run", "--log-driver", "gelf", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("not supported"), "{}", stderr(&o));
    // syslog without an address wants the host's /dev/log, which this test host has not: the start
    // fails as dockerd's does (tests/log_drivers.rs drives syslog against listeners).
    let o = d.berth(&["run", "--network", "none", "--log-driver", "syslog", "busybox", "true"]);
    let socket = |p: &&str| std::fs::metadata(p).is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()));
    if ["/dev/log", "/var/run/syslog", "/var/run/log"].iter().any(socket) {
        assert!(o.status.success(), "{}", stderr(&o));
    } else {
        assert!(stderr(&o).contains("failed to initialize logging driver: Unix syslog delivery error"), "{}", stderr(&o));
    }
}

#[test]
fn attach_and_detach_keys_leave_the_container_running() {
    let d = with_busybox();
    d.berth_ok(&["run", "-d", "-i", "-t", "--name", "tty", "busybox", "sh"]);
    let mut child = std::process::Command::new(BERTH)
        .args(["attach", "tty"])
        .env("BERTH_HOST", d.host())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    let mut sin = child.stdin.take().unwrap();
    sin.write_all(b"echo attached-$((40+2))\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    sin.write_all(&[0x10, 0x11]).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("attached-42"), "{}", stdout(&out));
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.Running}}", "tty"]).trim(), "true", "detaching leaves it running");
    // Exiting the shell through a new attach ends it with its exit code.
    let out = d.berth_stdin(&["attach", "tty"], b"exit 6\n");
    assert_eq!(out.status.code(), Some(6));
}

#[test]
fn tty_gets_the_terminal_size() {
    let d = with_busybox();
    // `script` gives the client a real terminal of a known size; the container's TTY follows it.
    let cmd = format!("stty rows 33 cols 111; {BERTH} run -it --rm busybox sh -c 'sleep 0.5; stty size'");
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("BERTH_HOST", d.host())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) must be installed");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("33 111"), "{:?}", stdout(&o));
}

#[test]
fn commit_and_diff_capture_the_writable_layer() {
    let d = with_busybox();
    d.berth_ok(&["run", "--name", "work", "busybox", "sh", "-c", "echo data > /new.txt; rm /bin/vi; echo x >> /etc/passwd"]);
    let diff = d.berth_ok(&["diff", "work"]);
    assert!(diff.lines().any(|l| l == "A /new.txt"), "{diff}");
    assert!(diff.lines().any(|l| l == "D /bin/vi"), "{diff}");
    assert!(diff.lines().any(|l| l == "C /etc/passwd"), "{diff}");
    let id = d.berth_ok(&["commit", "-m", "snapshot", "-c", "CMD [\"cat\", \"/new.txt\"]", "work", "saved:1"]);
    assert!(id.trim().starts_with("sha256:"));
    assert_eq!(d.berth_ok(&["run", "--rm", "saved:1"]).trim(), "data");
    let o = d.berth(&["run", "--rm", "saved:1", "ls", "/bin/vi"]);
    assert_ne!(o.status.code(), Some(0), "the deletion is part of the image");
    assert_eq!(d.berth_ok(&["image", "inspect", "-f", "{{.Comment}} {{len .RootFS.Layers}}", "saved:1"]).trim(), "snapshot 2");
    // Export of the stopped container: the whole filesystem, changes included.
    let tarball = d.dir.path().join("export.tar");
    d.berth_ok(&["export", "-o", tarball.to_str().unwrap(), "work"]);
    let list = stdout(&std::process::Command::new("tar").arg("tf").arg(&tarball).output().unwrap());
    assert!(list.lines().any(|l| l.trim_start_matches("./") == "new.txt") && list.lines().any(|l| l.trim_start_matches("./") == "bin/busybox"), "{list}");
    assert!(!list.lines().any(|l| l.trim_start_matches("./") == "bin/vi"), "deleted files are not exported");
    // The stock docker CLI sees the same.
    assert!(d.docker_ok(&["diff", "work"]).contains("A /new.txt"));
    let o = std::process::Command::new("docker").args(["export", "work"]).env("DOCKER_HOST", d.host()).output().unwrap();
    assert!(o.status.success() && o.stdout.len() > 1_000_000, "docker export: {}", stderr(&o));
    d.docker_ok(&["commit", "work", "saved:docker"]);
    assert_eq!(d.docker_ok(&["run", "--rm", "saved:docker", "cat", "/new.txt"]).trim(), "data");
}

#[test]
fn health_checks_run_through_exec_and_report() {
    let d = with_busybox();
    d.berth_ok(&["run", "-d", "--name", "svc", "--health-cmd", "test -f /tmp/ready", "--health-interval", "200ms", "--health-retries", "2", "busybox", "sleep", "300"]);
    wait_for(|| d.berth_ok(&["container", "inspect", "-f", "{{.State.Health.Status}}", "svc"]).trim() == "unhealthy");
    assert!(d.berth_ok(&["ps", "--format", "{{.Status}}"]).contains("(unhealthy)"));
    d.berth_ok(&["exec", "svc", "touch", "/tmp/ready"]);
    wait_for(|| d.berth_ok(&["container", "inspect", "-f", "{{.State.Health.Status}}", "svc"]).trim() == "healthy");
    let log = d.berth_ok(&["container", "inspect", "-f", "{{json .State.Health.Log}}", "svc"]);
    assert!(log.contains("\"ExitCode\":0"), "{log}");
    let events = d.berth_ok(&["events", "--since", "1h", "--until", "0s", "--filter", "type=container", "--format", "{{.Action}}"]);
    assert!(events.contains("health_status: unhealthy") && events.contains("health_status: healthy"), "{events}");
    // The image's HEALTHCHECK applies too, and --no-healthcheck turns it off.
    let ctx = d.dir.path().join("hc");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nHEALTHCHECK --interval=200ms CMD true\nCMD [\"sleep\", \"300\"]\n").unwrap();
    d.berth_ok(&["build", "-q", "-t", "hc:1", ctx.to_str().unwrap()]);
    d.berth_ok(&["run", "-d", "--name", "img-hc", "hc:1"]);
    wait_for(|| d.berth_ok(&["container", "inspect", "-f", "{{.State.Health.Status}}", "img-hc"]).trim() == "healthy");
    d.berth_ok(&["run", "-d", "--name", "no-hc", "--no-healthcheck", "hc:1"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{json .State.Health}}", "no-hc"]).trim(), "null");
}

/// `--health-start-interval` (API 1.44): within the start period a container still starting is
/// checked at the start interval; once healthy, at `--health-interval` again.
#[test]
fn health_checks_run_at_the_start_interval_until_healthy() {
    let d = with_busybox();
    d.berth_ok(&[
        "run", "-d", "--name", "warm", "--health-cmd", "test -f /tmp/ready", "--health-interval", "1h", "--health-start-period", "1h",
        "--health-start-interval", "200ms", "busybox", "sleep", "300",
    ]);
    let inspect = |f: &str| d.berth_ok(&["container", "inspect", "-f", f, "warm"]).trim().to_string();
    let last_start = || {
        let log: serde_json::Value = serde_json::from_str(&inspect("{{json .State.Health.Log}}")).unwrap();
        log.as_array().and_then(|l| l.last()).map(|e| e["Start"].as_str().unwrap_or_default().to_string())
    };
    // Failing checks every 200 ms (the interval is an hour), not counted in the start period.
    wait_for(|| serde_json::from_str::<serde_json::Value>(&inspect("{{json .State.Health.Log}}")).unwrap().as_array().is_some_and(|l| l.len() >= 3));
    assert_eq!(inspect("{{.State.Health.Status}}"), "starting");
    d.berth_ok(&["exec", "warm", "touch", "/tmp/ready"]);
    wait_for(|| inspect("{{.State.Health.Status}}") == "healthy");
    let at = last_start();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(last_start(), at, "healthy: checked at the hour's interval again");
}

#[test]
fn containers_survive_the_daemon_being_killed() {
    let mut d = with_busybox();
    d.berth_ok(&["run", "-d", "--name", "survivor", "busybox", "sh", "-c", "echo alive; sleep 300"]);
    wait_for(|| d.berth_ok(&["logs", "survivor"]).contains("alive"));
    d.kill9();
    assert!(d.sock.exists(), "a killed daemon leaves its socket behind");
    d.restart();
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.Status}}", "survivor"]).trim(), "running");
    assert_eq!(d.berth_ok(&["exec", "survivor", "echo", "still-here"]).trim(), "still-here");
    d.berth_ok(&["stop", "-t", "1", "survivor"]);
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.State.ExitCode}}", "survivor"]).trim(), "137");
}

#[test]
fn ps_size_reports_the_writable_layer() {
    let d = with_busybox();
    d.berth_ok(&["run", "--name", "writer", "busybox", "sh", "-c", "head -c 300000 /dev/zero > /blob"]);
    let out = d.berth_ok(&["ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}"]);
    assert!(out.starts_with("writer 3") && out.contains("kB (virtual 2."), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&http(&d.sock, "GET", "/containers/json?all=1&size=1", b"").2).unwrap();
    let rw = v[0]["SizeRw"].as_u64().unwrap();
    assert!((300_000..400_000).contains(&rw), "the 300 kB written, plus the layer's own directories: {rw}");
    assert!(v[0]["SizeRootFs"].as_u64().unwrap() > rw + 1_900_000);
}

#[test]
fn update_changes_limits_live() {
    let d = with_busybox();
    d.berth_ok(&["run", "-d", "--name", "upd", "-m", "64m", "busybox", "sleep", "300"]);
    d.berth_ok(&["update", "--memory", "48m", "--pids-limit", "30", "--restart", "always", "upd"]);
    let out = d.berth_ok(&["exec", "upd", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["50331648", "30"]);
    assert_eq!(d.berth_ok(&["container", "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}", "upd"]).trim(), "50331648 always");
    assert!(d.docker(&["update", "--cpus", "0.5", "upd"]).status.success());
}

/// A block device of the host (`/dev/vda`) and its `major:minor`, for the block IO lists.
fn host_block_device() -> (String, String) {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let name = names
        .into_iter()
        .find(|n| {
            !["loop", "ram", "zram", "nbd"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .expect("a block device on the host");
    let dev = std::fs::read_to_string(format!("/sys/block/{name}/dev")).unwrap();
    (format!("/dev/{name}"), dev.trim().to_string())
}

fn update(d: &Daemon, name: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let (status, _, out) = http(
        &d.sock,
        "POST",
        &format!("/containers/{name}/update"),
        body.to_string().as_bytes(),
    );
    (
        status,
        serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null),
    )
}

/// Every field of an update is applied (dockerd 20.10 ignores all but the CPU, memory, pids and
/// restart ones): live where the cgroup or the processes allow, and at the next start otherwise.
#[test]
fn update_applies_every_field() {
    let d = with_busybox();
    let (dev, majmin) = host_block_device();
    d.berth_ok(&[
        "run", "-d", "--name", "upd", "-m", "64m", "busybox", "sleep", "300",
    ]);
    let (status, v) = update(
        &d,
        "upd",
        serde_json::json!({
            "BlkioDeviceReadBps": [{"Path": dev, "Rate": 1048576}], "BlkioDeviceWriteIOps": [{"Path": dev, "Rate": 200}],
            "MemorySwappiness": 20, "OomKillDisable": true, "KernelMemoryTCP": 16777216,
            "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}], "DeviceCgroupRules": ["c 60:* rwm"],
            "Devices": [{"PathOnHost": "/dev/zero", "PathInContainer": "/dev/myzero", "CgroupPermissions": "rwm"}], "Init": true,
        }),
    );
    assert_eq!(status, 200, "{v}");
    let warnings = v["Warnings"].to_string();
    assert!(
        warnings.contains("Devices: applied when the container next starts")
            && warnings.contains("Init: applied"),
        "{v}"
    );
    // Live: in the cgroup and on the running process.
    let read = "cd /sys/fs/cgroup; cat blkio/blkio.throttle.read_bps_device blkio/blkio.throttle.write_iops_device memory/memory.swappiness \
        memory/memory.kmem.tcp.limit_in_bytes; grep oom_kill_disable memory/memory.oom_control; grep 'open files' /proc/1/limits; \
        mknod /c60 c 60 0; cat /c60 2>&1; ulimit -n";
    let out = d.berth_ok(&["exec", "upd", "sh", "-c", read]);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        lines[..5],
        [
            format!("{majmin} 1048576"),
            format!("{majmin} 200"),
            "20".into(),
            "16777216".into(),
            "oom_kill_disable 1".into()
        ],
        "{out}"
    );
    assert_eq!(
        lines[5], "Max open files 100 200 files",
        "the running process's limits: {out}"
    );
    assert!(
        lines[6].contains("No such device or address"),
        "the device rule allows major 60 (ENXIO, not EPERM): {out}"
    );
    assert_eq!(lines[7], "100", "a new exec gets the new limits: {out}");
    let hc = d.berth_ok(&["inspect", "-f", "{{json .HostConfig}}", "upd"]);
    let hc: serde_json::Value = serde_json::from_str(&hc).unwrap();
    assert_eq!(
        (
            hc["MemorySwappiness"].as_i64(),
            hc["KernelMemoryTCP"].as_i64(),
            hc["OomKillDisable"].as_bool(),
            hc["Init"].as_bool()
        ),
        (Some(20), Some(16777216), Some(true), Some(true))
    );
    assert_eq!(
        hc["Ulimits"],
        serde_json::json!([{"Name": "nofile", "Soft": 100, "Hard": 200}])
    );
    // What a running container cannot take, and what no device driver can satisfy.
    let (status, v) = update(&d, "upd", serde_json::json!({"CgroupParent": "/elsewhere"}));
    assert_eq!(status, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("cgroup parent of a running container cannot change"),
        "{v}"
    );
    let (status, v) = update(
        &d,
        "upd",
        serde_json::json!({"DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]}),
    );
    assert_eq!(
        (status, v["message"].as_str()),
        (
            500,
            Some("could not select device driver \"\" with capabilities: [[gpu]]")
        )
    );
    let (status, v) = update(
        &d,
        "upd",
        serde_json::json!({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}),
    );
    assert_eq!(
        (status, v["message"].as_str()),
        (400, Some("invalid ulimit type: bogus"))
    );
    // Emptying a list lifts its limits live.
    assert_eq!(
        update(&d, "upd", serde_json::json!({"BlkioDeviceReadBps": []})).0,
        200
    );
    assert_eq!(
        d.berth_ok(&[
            "exec",
            "upd",
            "cat",
            "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device"
        ])
        .trim(),
        ""
    );
    // The next start applies the rest, and keeps what was live.
    d.berth_ok(&["restart", "-t", "0", "upd"]);
    let out = d.berth_ok(&["exec", "upd", "sh", "-c", "test -c /dev/myzero && echo device; tr '\\0' ' ' </proc/1/cmdline; echo; \
        grep 'open files' /proc/1/limits; cat /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device /sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes"]);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines[0], "device", "{out}");
    assert!(
        lines[1].starts_with("/sbin/docker-init -- sleep 300"),
        "{out}"
    );
    assert_eq!(
        lines[2..],
        [
            "Max open files 100 200 files".to_string(),
            format!("{majmin} 200"),
            "16777216".into()
        ],
        "{out}"
    );
    // A stopped container takes a new cgroup parent for its next start.
    d.berth_ok(&["stop", "-t", "0", "upd"]);
    let parent = format!("berth-test-{}", std::process::id());
    assert_eq!(
        update(
            &d,
            "upd",
            serde_json::json!({"CgroupParent": format!("/{parent}")})
        )
        .0,
        200
    );
    d.berth_ok(&["start", "upd"]);
    let cg = d.berth_ok(&["exec", "upd", "cat", "/proc/self/cgroup"]);
    assert!(
        cg.lines().any(|l| l.contains(&format!(":/{parent}/"))),
        "{cg}"
    );
    d.berth_ok(&["rm", "-f", "upd"]);
    for c in [
        "memory", "pids", "cpu", "blkio", "devices", "cpuset", "freezer", "cpuacct", "systemd",
        "unified", "",
    ] {
        let _ = std::fs::remove_dir(std::path::Path::new("/sys/fs/cgroup").join(c).join(&parent));
    }
}

#[test]
fn init_runs_as_pid_one_and_forwards_signals() {
    let d = with_busybox();
    let (code, out, err) = run(&d, &["--init", "busybox", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("/sbin/docker-init -- sh -c"), "PID 1 is the init: {out}");
    assert_ne!(out.lines().nth(1), Some("1"), "the command is not PID 1: {out}");
    // sleep as PID 1 ignores SIGTERM; under the init it gets it and the stop is quick.
    d.berth_ok(&["run", "-d", "--init", "--name", "sleeper", "busybox", "sleep", "300"]);
    let t = std::time::Instant::now();
    d.berth_ok(&["stop", "-t", "20", "sleeper"]);
    assert!(t.elapsed() < std::time::Duration::from_secs(10), "SIGTERM reached the command through the init");
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.ExitCode}} {{.HostConfig.Init}} {{.Path}}", "sleeper"]).trim(), "143 true sleep");
}
