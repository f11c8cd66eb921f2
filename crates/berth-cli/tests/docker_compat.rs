//! Container behaviour a Docker user relies on, through the stock docker CLI and the raw API: the
//! cases a compatibility sweep with docker, docker-py and Compose found different from dockerd.

mod common;
use common::*;
use std::time::Duration;

fn names(d: &Daemon, args: &[&str]) -> Vec<String> {
    let mut a = vec!["ps", "-a", "--format", "{{.Names}}"];
    a.extend_from_slice(args);
    let mut v: Vec<String> = d.docker_ok(&a).lines().map(str::to_string).collect();
    v.sort();
    v
}

/// The container's cgroup (in the pids hierarchy).
fn pids_cgroup(d: &Daemon, name: &str) -> std::path::PathBuf {
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", name]).trim().to_string();
    std::path::Path::new("/sys/fs/cgroup/pids").join(format!("berth-{id}"))
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..100 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn auto_remove_follows_stop_but_not_restart() {
    let d = with_busybox();
    d.docker_ok(&["run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "100"]);
    d.docker_ok(&["stop", "-t", "1", "gone"]);
    wait_until("the stopped --rm container to go", || names(&d, &[]).is_empty());

    // `restart` cycles an auto-remove container without removing it, and leaks nothing.
    d.docker_ok(&["run", "-d", "--rm", "--name", "cycled", "busybox", "sleep", "100"]);
    let first = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "cycled"]);
    d.docker_ok(&["restart", "-t", "1", "cycled"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "cycled"]).trim(), "running");
    assert_ne!(d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "cycled"]), first);
    let cg = pids_cgroup(&d, "cycled");
    d.docker_ok(&["rm", "-f", "cycled"]);
    wait_until("the restarted container's cgroup to go", || !cg.exists());
}

#[test]
fn start_attach_reruns_a_stopped_container() {
    let d = with_busybox();
    let o = d.docker(&["run", "--name", "again", "busybox", "sh", "-c", "echo hi; exit 3"]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(3), "hi\n"));
    let o = d.docker(&["start", "-a", "again"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hi\n");
}

#[test]
fn paused_containers_can_be_stopped_killed_and_removed() {
    let d = with_busybox();
    d.docker_ok(&["run", "-d", "--name", "p1", "busybox", "sleep", "1000"]);
    d.docker_ok(&["pause", "p1"]);
    let o = d.docker(&["exec", "p1", "true"]);
    assert!(stderr(&o).contains("is paused, unpause the container before exec"), "{}", stderr(&o));
    // As with dockerd, `kill` answers once SIGKILL has stopped the container.
    d.docker_ok(&["kill", "p1"]);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "p1"]).trim(), "exited");
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.ExitCode}}", "p1"]).trim(), "137");

    d.docker_ok(&["run", "-d", "--name", "p2", "busybox", "sleep", "1000"]);
    d.docker_ok(&["pause", "p2"]);
    d.docker_ok(&["stop", "-t", "1", "p2"]);
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "p2"]).trim(), "exited 137");

    d.docker_ok(&["run", "-d", "--name", "p3", "busybox", "sleep", "1000"]);
    d.docker_ok(&["pause", "p3"]);
    let cg = pids_cgroup(&d, "p3");
    assert!(cg.exists());
    d.docker_ok(&["rm", "-f", "p3"]);
    wait_until("the removed paused container's processes and cgroup to go", || !cg.exists());

    // As dockerd: a kill that stops the container by hand — any signal when it sets no stop
    // signal, else its stop signal — resumes a paused one, so the signal is handled; another
    // signal waits for `unpause`.
    let trap = "trap 'echo got-$((40+2))' HUP; while true; do sleep 0.1; done";
    d.docker_ok(&["run", "-d", "--name", "p4", "busybox", "sh", "-c", trap]);
    d.docker_ok(&["run", "-d", "--name", "p5", "--stop-signal", "USR1", "busybox", "sh", "-c", trap]);
    for c in ["p4", "p5"] {
        d.docker_ok(&["pause", c]);
        d.docker_ok(&["kill", "-s", "HUP", c]);
    }
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "p4"]).trim(), "running");
    wait_until("p4 to handle its SIGHUP", || d.docker_ok(&["logs", "p4"]).contains("got-42"));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}}", "p5"]).trim(), "paused");
    assert!(!d.docker_ok(&["logs", "p5"]).contains("got-42"));
    d.docker_ok(&["unpause", "p5"]);
    wait_until("p5 to handle its SIGHUP once resumed", || d.docker_ok(&["logs", "p5"]).contains("got-42"));
    d.docker_ok(&["rm", "-f", "p4", "p5"]);
}

#[test]
fn environment_exec_failures_and_changes_look_like_docker() {
    let d = with_busybox();
    let env = d.docker_ok(&["run", "--rm", "-h", "myhost", "busybox", "env"]);
    assert!(env.lines().any(|l| l == "HOSTNAME=myhost"), "{env}");
    d.docker_ok(&["run", "-d", "--name", "box", "busybox", "sleep", "100"]);
    let short = d.docker_ok(&["inspect", "-f", "{{.Id}}", "box"])[..12].to_string();
    assert!(d.docker_ok(&["exec", "box", "env"]).lines().any(|l| l == format!("HOSTNAME={short}")));

    // A command that cannot start: the message in the stream, exit code 126.
    let o = d.docker(&["exec", "box", "nosuch"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(stdout(&o).contains("executable file not found in $PATH"), "{}", stdout(&o));

    // Docker's /.dockerenv marker, and the runtime's /etc/hostname, /etc/hosts and /etc/resolv.conf
    // stubs, are no changes.
    assert!(d.docker(&["exec", "box", "test", "-f", "/.dockerenv"]).status.success());
    assert_eq!(d.docker_ok(&["diff", "box"]), "");
    d.docker_ok(&["exec", "box", "sh", "-c", "echo x > /etc/foo"]);
    assert_eq!(d.docker_ok(&["diff", "box"]), "C /etc\nA /etc/foo\n");
    d.docker_ok(&["commit", "box", "committed:1"]);
    let listing = d.docker_ok(&["run", "--rm", "--entrypoint", "", "committed:1", "ls", "/etc"]);
    assert!(listing.contains("foo"), "{listing}");
    let out = d.dir.path().join("committed.tar");
    d.docker_ok(&["save", "-o", out.to_str().unwrap(), "committed:1"]);
    let entries = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("cd {0} && mkdir -p x && tar -xf committed.tar -C x && python3 -c \"import json,tarfile; m=json.load(open('x/manifest.json'))[0]; print(sorted(t.name for t in tarfile.open('x/'+m['Layers'][-1])))\"", d.dir.path().display()))
        .output()
        .unwrap();
    assert_eq!(stdout(&entries).trim(), "['etc', 'etc/foo']", "{}", stderr(&entries));
}

#[test]
fn list_and_prune_filters_follow_docker() {
    let d = with_busybox();
    for n in ["s1", "s22", "other"] {
        d.docker_ok(&["run", "-d", "--name", n, "busybox", "sleep", "100"]);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(names(&d, &["--filter", "name=^s1$"]), ["s1"]);
    assert_eq!(names(&d, &["--filter", "name=s[12]"]), ["s1", "s22"]);
    assert_eq!(names(&d, &["--filter", "name=^/other$"]), ["other"]);
    assert_eq!(names(&d, &["--filter", "before=s22"]), ["s1"]);
    assert_eq!(names(&d, &["--filter", "since=s1"]), ["other", "s22"]);
    assert_eq!(names(&d, &["--filter", "health=none"]).len(), 3);
    let o = d.docker(&["ps", "--filter", "status=bogus"]);
    assert!(stderr(&o).contains("invalid filter 'status=bogus'"), "{}", stderr(&o));
    let o = d.docker(&["ps", "--filter", "before=nosuch"]);
    assert!(stderr(&o).contains("No such container: nosuch"), "{}", stderr(&o));
    d.docker_ok(&["rm", "-f", "s1", "s22", "other"]);

    d.docker_ok(&["run", "--name", "kept", "-l", "keep=1", "busybox", "true"]);
    d.docker_ok(&["run", "--name", "dropped", "busybox", "true"]);
    // Created less than an hour ago: `until=1h` keeps both.
    d.docker_ok(&["container", "prune", "-f", "--filter", "until=1h"]);
    assert_eq!(names(&d, &[]), ["dropped", "kept"]);
    d.docker_ok(&["container", "prune", "-f", "--filter", "label!=keep"]);
    assert_eq!(names(&d, &[]), ["kept"]);
    let o = d.docker(&["container", "prune", "-f", "--filter", "bogus=1"]);
    assert!(stderr(&o).contains("invalid filter 'bogus'"), "{}", stderr(&o));
    assert_eq!(names(&d, &[]), ["kept"]);
}

#[test]
fn boolean_parameters_are_read_as_dockerd_reads_them() {
    let d = with_busybox();
    d.docker_ok(&["run", "-d", "--name", "st", "busybox", "sleep", "100"]);
    // docker-py sends `stream=False`: one sample, then the response ends.
    let (code, _, body) = http(&d.sock, "GET", "/v1.47/containers/st/stats?stream=False", b"");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("one JSON document");
    assert!(v["cpu_stats"].is_object(), "{v}");
    // Detached exec: its exit code is in its inspect.
    let (_, _, body) = http(&d.sock, "POST", "/v1.47/containers/st/exec", br#"{"Cmd":["sh","-c","exit 3"]}"#);
    let exec: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = exec["Id"].as_str().unwrap().to_string();
    let (code, _, _) = http(&d.sock, "POST", &format!("/v1.47/exec/{id}/start"), br#"{"Detach":true}"#);
    assert_eq!(code, 200);
    wait_until("the detached exec's exit code", || {
        let (_, _, b) = http(&d.sock, "GET", &format!("/v1.47/exec/{id}/json"), b"");
        serde_json::from_slice::<serde_json::Value>(&b).unwrap()["ExitCode"] == 3
    });
}

#[test]
fn bad_values_fail_create_with_dockerd_messages() {
    let d = with_busybox();
    let fails = |args: &[&str], msg: &str| {
        let mut a = vec!["create"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["busybox", "true"]);
        let o = d.docker(&a);
        assert!(!o.status.success(), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
    };
    fails(&["--restart", "bogus"], "invalid restart policy 'bogus'");
    fails(&["-w", "rel"], "the working directory 'rel' is invalid, it needs to be an absolute path");
    fails(&["--memory-swap", "128m"], "You should always set the Memory limit when using Memoryswap limit");
    fails(&["-m", "64m", "--memory-swap", "32m"], "Minimum memoryswap limit should be larger than memory limit");
    fails(&["-m", "1k"], "Minimum memory limit allowed is 6MB");
    fails(&["--cpus", "1000"], "Range of CPUs is from 0.01 to");
    let (code, _, body) = http(&d.sock, "POST", "/v1.47/containers/create", br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}"#);
    assert_eq!(code, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("can't create 'AutoRemove' container with restart policy"));
    assert_eq!(names(&d, &[]), Vec::<String>::new(), "nothing is left behind");
}

#[test]
fn inspect_and_ps_show_what_dockerd_shows() {
    let d = with_busybox();
    assert_eq!(d.docker(&["run", "--name", "q1", "-m", "64m", "busybox", "sh", "-c", "exit 2"]).status.code(), Some(2));
    let hc: serde_json::Value = serde_json::from_str(&d.docker_ok(&["inspect", "-f", "{{json .HostConfig}}", "q1"])).unwrap();
    assert_eq!(hc["MemorySwap"], 2 * 64 * 1024 * 1024, "{hc}");
    assert_eq!(hc["ShmSize"], 67108864, "{hc}");
    assert_eq!(hc["IpcMode"], "private", "{hc}");
    assert!(hc["MaskedPaths"].as_array().is_some_and(|m| m.iter().any(|p| p == "/proc/kcore")), "{hc}");
    assert!(hc["ReadonlyPaths"].as_array().is_some_and(|m| m.iter().any(|p| p == "/proc/sys")), "{hc}");
    assert_eq!(d.docker_ok(&["ps", "-a", "--no-trunc", "--format", "{{.Command}}"]).trim(), "\"sh -c 'exit 2'\"");
}

#[test]
fn group_add_applies_to_the_container_and_its_execs() {
    let d = with_busybox();
    let groups = |out: String| out.trim().rsplit_once("groups=").map(|(_, g)| g.to_string()).unwrap_or_default();
    let out = d.docker_ok(&["run", "--rm", "--group-add", "4242", "--group-add", "nogroup", "busybox", "id"]);
    assert!(groups(out.clone()).contains("4242") && groups(out.clone()).contains("65534(nogroup)"), "{out}");
    d.docker_ok(&["run", "-d", "--name", "grp", "--group-add", "4242", "busybox", "sleep", "100"]);
    assert!(groups(d.docker_ok(&["exec", "grp", "id"])).contains("4242"));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.HostConfig.GroupAdd}}", "grp"]).trim(), "[4242]");
    let o = d.docker(&["run", "--rm", "--group-add", "nosuchgroup", "busybox", "id"]);
    assert!(stderr(&o).contains("unable to find group nosuchgroup"), "{}", stderr(&o));
}

#[test]
fn a_start_that_fails_leaves_a_created_container_with_dockers_exit_code() {
    let d = with_busybox();
    let o = d.docker(&["run", "--name", "nf", "busybox", "/no/such"]);
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "nf"]).trim(), "created 127");
    assert!(d.docker_ok(&["inspect", "-f", "{{.State.Error}}", "nf"]).contains("executable file not found"));
    let o = d.docker(&["run", "--name", "np", "busybox", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(stderr(&o).contains("permission denied"), "{}", stderr(&o));
    assert_eq!(d.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "np"]).trim(), "created 126");
}

#[test]
fn exec_events_name_the_command() {
    let d = with_busybox();
    d.docker_ok(&["run", "-d", "--name", "ev", "busybox", "sleep", "100"]);
    let since = d.docker_ok(&["inspect", "-f", "{{.Created}}", "ev"]).trim().to_string();
    d.docker_ok(&["exec", "ev", "echo", "hi"]);
    let until = unix_now_plus_one();
    let actions = d.docker_ok(&["events", "--since", &since, "--until", &until, "--filter", "event=exec_create", "--filter", "event=exec_die", "--format", "{{.Action}}"]);
    assert_eq!(actions.lines().collect::<Vec<_>>(), ["exec_create: echo hi", "exec_die"], "{actions}");
}

/// Now as Unix seconds (with a second's margin), for `--until`.
fn unix_now_plus_one() -> String {
    (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1).to_string()
}
