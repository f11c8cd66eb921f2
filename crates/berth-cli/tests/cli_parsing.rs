//! The command line parses like docker's: flags before the image are checked, everything after it
//! goes to the container; docker's run/create flags take effect through the API; one error style.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `berth ARGS` against a socket nobody serves: parse errors must come before any connection.
fn offline(args: &[&str]) -> std::process::Output {
    Command::new(BERTH).args(args).env("BERTH_HOST", "unix:///nonexistent/berth.sock").stdin(Stdio::null()).output().unwrap()
}

#[test]
fn an_unknown_flag_before_the_image_is_an_error_naming_it() {
    for verb in [&["run"][..], &["create"], &["container", "run"]] {
        let args: Vec<&str> = verb.iter().copied().chain(["--bogus", "busybox", "true"]).collect();
        let o = offline(&args);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).lines().next(), Some("berth: unknown flag: --bogus"), "{}", stderr(&o));
        assert!(stderr(&o).contains(&format!("See 'berth {} --help'.", verb.join(" "))), "{}", stderr(&o));
    }
    let o = offline(&["run", "--env-file"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let o = offline(&["run", "--use-api-socket", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).starts_with("berth: --use-api-socket is not supported: "), "{}", stderr(&o));
    let o = offline(&["run", "--pull", "sometimes", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("sometimes"), "{}", stderr(&o));
    let o = offline(&["run", "--disable-content-trust=false", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("Content Trust"), "{}", stderr(&o));
    let o = offline(&["run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("berth: 'berth run' requires"), "{}", stderr(&o));
}

#[test]
fn help_is_grouped_as_dockers_and_run_keeps_h_for_hostname() {
    let o = offline(&["--help"]);
    assert!(o.status.success());
    let help = stdout(&o);
    let at = |s: &str| help.find(s).unwrap_or_else(|| panic!("{s} missing from:\n{help}"));
    assert!(at("Common Commands:") < at("Management Commands:") && at("Management Commands:") < at("\nCommands:"), "{help}");
    assert!(!help.contains("[env:"), "no empty environment hint: {help}");
    assert!(!help.to_lowercase().contains("swarm"));
    let o = offline(&["run", "--help"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("-h, --hostname"), "{}", stdout(&o));
    for flag in ["--env-file", "--label-file", "--cidfile", "--detach-keys", "--pull", "--platform", "--quiet", "--sig-proxy", "--attach"] {
        assert!(stdout(&o).contains(flag), "{flag} missing from run --help");
    }
    let o = offline(&["network"]);
    assert!(o.status.success(), "a bare group prints its help: {}", stderr(&o));
    assert!(stdout(&o).contains("connect"));
}

#[test]
fn one_error_style_and_docker_exit_codes() {
    let d = with_busybox();
    let o = d.berth(&["run", "--rm", "--pull", "never", "nosuch:1", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o), "berth: Error response from daemon: No such image: nosuch:1\n");
    let o = d.berth(&["run", "--rm", "Bad Name", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stderr(&o), "berth: invalid reference format: repository name (library/Bad Name) must be lowercase\n");
    let o = d.berth(&["rm", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "Error response from daemon: No such container: nosuch\n");
    let o = d.berth(&["run", "--rm", "busybox", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "the container's code: {}", stderr(&o));
    let o = offline(&["ps"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("Cannot connect to the Berth daemon at unix:///nonexistent/berth.sock"), "{}", stderr(&o));
}

#[test]
fn words_after_the_image_go_to_the_container_untouched() {
    let d = with_busybox();
    let out = d.berth_ok(&["run", "--rm", "busybox", "echo", "--bogus", "-h", "-e", "X=1", "--", "--rm"]);
    assert_eq!(out, "--bogus -h -e X=1 -- --rm\n");
    let out = d.berth_ok(&["run", "--rm", "-h", "box1", "-e", "A=1", "busybox", "sh", "-c", "hostname; echo $A"]);
    assert_eq!(out, "box1\n1\n");
    let o = d.berth(&["exec", "nosuch", "ls", "--bogus"]);
    assert!(!stderr(&o).contains("unknown flag"), "exec's command keeps its flags: {}", stderr(&o));
}

#[test]
fn env_file_and_label_file_are_read_as_docker_reads_them() {
    let d = with_busybox();
    let env = d.dir.path().join("app.env");
    std::fs::write(&env, "# settings\nA=from-file\nB=file\n  C=spaced value \nBERTH_TEST_PASSTHROUGH\nNOT_SET_ANYWHERE\n").unwrap();
    let labels = d.dir.path().join("labels");
    std::fs::write(&labels, "team=storage\n# no\nbare\n").unwrap();
    let o = Command::new(BERTH)
        .args(["run", "--rm", "--env-file"])
        .arg(&env)
        .args(["-e", "B=flag", "busybox", "env"])
        .env("BERTH_HOST", d.host())
        .env("BERTH_TEST_PASSTHROUGH", "from-client")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in ["A=from-file", "B=flag", "C=spaced value ", "BERTH_TEST_PASSTHROUGH=from-client"] {
        assert!(out.lines().any(|l| l == want), "{want} missing from:\n{out}");
    }
    assert!(!out.contains("NOT_SET_ANYWHERE") && !out.contains("B=file"), "{out}");
    let id = d.berth_ok(&["create", "--label-file", labels.to_str().unwrap(), "-l", "team=web", "busybox"]);
    let l = d.berth_ok(&["inspect", "-f", "{{json .Config.Labels}}", id.trim()]);
    assert_eq!(l.trim(), r#"{"bare":"","team":"web"}"#);
    let o = d.berth(&["run", "--rm", "--env-file", "/nonexistent/env", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).starts_with("berth: open /nonexistent/env"), "{}", stderr(&o));
}

#[test]
fn cidfile_gets_the_id_and_is_never_shared() {
    let d = with_busybox();
    let cid = d.dir.path().join("web.cid");
    let id = d.berth_ok(&["run", "-d", "--cidfile", cid.to_str().unwrap(), "busybox", "sleep", "100"]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim());
    let before = d.berth_ok(&["ps", "-aq"]).lines().count();
    let o = d.berth(&["run", "-d", "--cidfile", cid.to_str().unwrap(), "busybox", "sleep", "100"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("container ID file found"), "{}", stderr(&o));
    assert_eq!(d.berth_ok(&["ps", "-aq"]).lines().count(), before, "no container was created");
    let failed = d.dir.path().join("failed.cid");
    let o = d.berth(&["create", "--cidfile", failed.to_str().unwrap(), "--pull", "never", "nosuch:2"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(!failed.exists(), "a failed create leaves no cidfile");
}

#[test]
fn attach_picks_the_streams() {
    let d = with_busybox();
    let script = "echo out; echo err >&2";
    let o = d.berth(&["run", "--rm", "-a", "stdout", "busybox", "sh", "-c", script]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("out\n", ""));
    let o = d.berth(&["run", "--rm", "-a", "STDERR", "busybox", "sh", "-c", script]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", "err\n"));
    let o = d.berth(&["run", "-d", "-a", "stdout", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125), "-a and -d conflict: {}", stderr(&o));
}

#[test]
fn pull_never_and_platform_are_checked_against_the_local_image() {
    let d = with_busybox();
    let arch = d.berth_ok(&["image", "inspect", "-f", "{{.Architecture}}", "busybox"]).trim().to_string();
    let out = d.berth_ok(&["run", "--rm", "--pull", "never", "--platform", &format!("linux/{arch}"), "busybox", "echo", "ok"]);
    assert_eq!(out, "ok\n");
    let other = if arch == "arm64" { "amd64" } else { "arm64" };
    let o = d.berth(&["run", "--rm", "--pull", "never", "--platform", &format!("linux/{other}"), "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(
        stderr(&o),
        format!("berth: image with reference busybox was found but does not match the specified platform: wanted linux/{other}, actual: linux/{arch}\n")
    );
}

#[test]
fn quiet_and_pull_always_for_a_missing_image() {
    let d = with_busybox();
    let reg = Registry::opts().args(&["--gc-interval", "0"]).start();
    let remote = format!("127.0.0.1:{}/quiet/busybox:1", reg.port);
    d.berth_ok(&["tag", "busybox", &remote]);
    d.berth_ok(&["push", &remote]);
    d.berth_ok(&["rmi", &remote]);
    let o = d.berth(&["run", "--rm", "-q", &remote, "echo", "quiet"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("quiet\n", ""), "-q: no pull output");
    d.berth_ok(&["rmi", &remote]);
    let o = d.berth(&["run", "--rm", &remote, "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).starts_with(&format!("Unable to find image '{remote}' locally")), "{}", stderr(&o));
    // --pull always pulls an image that is here.
    let o = d.berth(&["run", "--rm", "--pull", "always", &remote, "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("Unable to find") && stderr(&o).contains("Status: Image is up to date"), "{}", stderr(&o));
}

#[test]
fn signals_are_proxied_to_the_container_unless_sig_proxy_false() {
    let d = with_busybox();
    let script = "trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.1; done";
    let run = |extra: &[&str], name: &str| {
        Command::new(BERTH)
            .args(["run", "--name", name])
            .args(extra)
            .args(["busybox", "sh", "-c", script])
            .env("BERTH_HOST", d.host())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let wait_running = |name: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while stdout(&d.berth(&["logs", name])) != "ready\n" {
            assert!(Instant::now() < deadline, "{name} never got ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let term = |c: &std::process::Child| nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let child = run(&[], "proxied");
    wait_running("proxied");
    term(&child);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(3), "the container's exit code: {}", stderr(&o));
    assert_eq!(stdout(&o), "ready\ngot TERM\n");
    let child = run(&["--sig-proxy=false"], "unproxied");
    wait_running("unproxied");
    term(&child);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), None, "the client died of the signal");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.Running}}", "unproxied"]).trim(), "true");
}

#[test]
fn detach_keys_leave_the_container_running() {
    use std::io::Write;
    let d = with_busybox();
    let mut child = Command::new(BERTH)
        .args(["run", "-it", "--name", "detachable", "--detach-keys", "ctrl-a,a", "busybox", "sh"])
        .env("BERTH_HOST", d.host())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stdout(&d.berth(&["inspect", "-f", "{{.State.Running}}", "detachable"])).trim() != "true" {
        assert!(Instant::now() < deadline, "never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // ctrl-p ctrl-q is no longer the sequence: it reaches the shell; ctrl-a then a detaches.
    stdin.write_all(b"echo one\n\x10\x11\x01a").unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "run did not return after the detach keys");
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    assert!(status.success(), "{status:?}");
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.Running}}", "detachable"]).trim(), "true", "the container runs on");
    let o = d.berth(&["run", "-it", "--rm", "--detach-keys", "ctrl-1", "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(stderr(&o).contains("Invalid detach keys (ctrl-1) provided"), "{}", stderr(&o));
}

/// Spawns `berth ARGS` with piped stdin, writes `input`, and waits (at most 10 s) for it to exit.
fn run_with_input(d: &Daemon, args: &[&str], input: &[u8]) -> std::process::ExitStatus {
    use std::io::Write;
    let mut child = Command::new(BERTH).args(args).env("BERTH_HOST", d.host()).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stdin.write_all(input).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth {args:?} did not return");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exec_and_attach_take_docker_flags() {
    let d = with_busybox();
    d.berth_ok(&["run", "-dit", "--name", "box", "busybox", "sh"]);
    let env = d.dir.path().join("exec.env");
    std::fs::write(&env, "FROM_FILE=yes\n").unwrap();
    let out = d.berth_ok(&["exec", "--env-file", env.to_str().unwrap(), "box", "env"]);
    assert!(out.lines().any(|l| l == "FROM_FILE=yes"), "{out}");
    // exec -it with other detach keys: the shell keeps running, exec returns 0.
    let st = run_with_input(&d, &["exec", "-it", "--detach-keys", "ctrl-a,a", "box", "sh"], b"\x01a");
    assert!(st.success(), "{st:?}");
    // attach with other detach keys leaves the container running.
    let st = run_with_input(&d, &["attach", "--detach-keys", "ctrl-a,a", "box"], b"\x01a");
    assert!(st.success(), "{st:?}");
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.Running}}", "box"]).trim(), "true");
    // attach proxies signals to a container without a TTY.
    d.berth_ok(&["run", "-d", "--name", "trapper", "busybox", "sh", "-c", "trap 'exit 4' TERM; while :; do sleep 0.1; done"]);
    let child = Command::new(BERTH).args(["attach", "trapper"]).env("BERTH_HOST", d.host()).stdin(Stdio::null()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(4), "the container's exit code after the proxied SIGTERM");
}
