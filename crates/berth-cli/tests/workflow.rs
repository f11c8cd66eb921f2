//! The workflow that must always work: build → tag → push → pull (on another data root) → run,
//! with berth's CLI and with the stock docker CLI, against `berth registry`.

mod common;
use common::*;

struct Registry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(BERTH)
            .args(["registry", "--listen", &format!("127.0.0.1:{port}"), "--root"])
            .arg(dir.path().join("reg"))
            .args(["--log-level", "warn"])
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        Registry { child, port, _dir: dir }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

fn hello_example() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello").display().to_string()
}

#[test]
fn build_push_pull_run_with_berth() {
    let reg = Registry::start();
    let a = Daemon::start();
    a.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    let name = format!("127.0.0.1:{}/team/app:1", reg.port);
    let id = a.berth_ok(&["build", "-q", "-t", &name, &hello_example()]).trim().to_string();
    let out = a.berth_ok(&["push", &name]);
    assert!(out.contains("Pushed") && out.contains("1: digest: sha256:"), "{out}");
    let again = a.berth_ok(&["push", &name]);
    assert!(again.contains("Layer already exists"), "{again}");

    let b = Daemon::start();
    let out = b.berth_ok(&["pull", &name]);
    assert!(out.contains("Pull complete") && out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(b.berth_ok(&["image", "inspect", "-f", "{{.Id}}", &name]).trim(), id, "same image id after push and pull");
    let digests = b.berth_ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &name]);
    assert!(digests.contains("team/app@sha256:"), "{digests}");
    let run = b.berth_ok(&["run", "--rm", &name]);
    assert!(run.starts_with("Hello from Berth"), "{run}");
    let up = b.berth_ok(&["pull", &name]);
    assert!(up.contains("Image is up to date"), "{up}");
    let o = b.berth(&["pull", &format!("127.0.0.1:{}/nothing:1", reg.port)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
}

#[test]
fn docker_cli_push_pull_and_run_pulls_missing_images() {
    let reg = Registry::start();
    let a = Daemon::start();
    a.docker_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    let name = format!("127.0.0.1:{}/lib/hello:2", reg.port);
    a.docker_ok(&["build", "-t", &name, &hello_example()]);
    let out = a.docker_ok(&["push", &name]);
    assert!(out.contains("digest: sha256:"), "{out}");
    let b = Daemon::start();
    // `docker run` of an image that is not there: the CLI pulls it, then runs it.
    let o = b.docker(&["run", "--rm", &name]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("Hello from Berth"), "{}", stdout(&o));
    assert!(stderr(&o).contains("Unable to find image") && stderr(&o).contains("Pull complete"), "{}", stderr(&o));
}

#[test]
fn login_and_logout_keep_credentials_in_a_private_file() {
    let reg = Registry::start();
    let d = Daemon::start();
    let cfg = d.dir.path().join("berth-config");
    let server = format!("127.0.0.1:{}", reg.port);
    let mut child = std::process::Command::new(BERTH)
        .args(["login", "-u", "alice", "--password-stdin", &server])
        .env("BERTH_HOST", d.host())
        .env("BERTH_CONFIG", &cfg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Login Succeeded"));
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(cfg.join("config.json")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(cfg.join("config.json")).unwrap();
    assert!(text.contains(&server) && text.contains("auths"), "{text}");
    let out = std::process::Command::new(BERTH).args(["logout", &server]).env("BERTH_CONFIG", &cfg).output().unwrap();
    assert!(stdout(&out).contains("Removing login credentials"));
    assert!(!std::fs::read_to_string(cfg.join("config.json")).unwrap().contains(&server));
}
