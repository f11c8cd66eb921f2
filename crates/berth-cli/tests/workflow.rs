//! The workflow that must always work: build → tag → push → pull (on another data root) → run,
//! with berth's CLI and with the stock docker CLI, against `berth registry`.

mod common;
use common::*;

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
    // `berth run` of an image that is only in the registry pulls it first.
    let fresh = Daemon::start();
    let o = fresh.berth(&["run", "--rm", &name]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("Hello from Berth"), "{}", stdout(&o));
    assert!(stderr(&o).contains("Unable to find image") && stderr(&o).contains("Pull complete"), "{}", stderr(&o));
    let up = b.berth_ok(&["pull", &name]);
    assert!(up.contains("Image is up to date"), "{up}");
    // A build whose base image is only in the registry pulls it first.
    let c = Daemon::start();
    let ctx = c.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), format!("FROM {name}\nRUN echo child > /child\nCMD cat /child\n")).unwrap();
    let out = c.berth_ok(&["build", "-t", "child:1", ctx.to_str().unwrap()]);
    assert!(out.contains("Pull complete") && out.contains("Successfully tagged child:1"), "{out}");
    assert_eq!(c.berth_ok(&["run", "--rm", "child:1"]).trim(), "child");
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

#[test]
fn private_registry_requires_login() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{}\n", bcrypt::hash("right-pass", 4).unwrap())).unwrap();
    let reg = Registry::opts().root(dir.path()).args(&["--auth", &format!("htpasswd:{}", htpasswd.display())]).start();
    let port = reg.port;
    let d = Daemon::start();
    d.berth_ok(&["import", busybox_tarball().to_str().unwrap(), &format!("127.0.0.1:{port}/private/bb:1")]);
    let cfg = d.dir.path().join("cfg");
    let server = format!("127.0.0.1:{port}");
    let name = format!("{server}/private/bb:1");
    let o = berth_with_config(&d, &cfg, &["push", &name], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unauthorized"), "{}", stderr(&o));
    let o = berth_with_config(&d, &cfg, &["login", "-u", "alice", "--password-stdin", &server], "wrong\n");
    assert_eq!(o.status.code(), Some(1), "a wrong password is refused");
    assert!(stderr(&o).contains("unauthorized"), "{}", stderr(&o));
    let o = berth_with_config(&d, &cfg, &["login", "-u", "alice", "--password-stdin", &server], "right-pass\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = berth_with_config(&d, &cfg, &["push", &name], "");
    assert!(o.status.success(), "{}", stderr(&o));
    let other = Daemon::start();
    let o = berth_with_config(&other, &cfg, &["pull", &name], "");
    assert!(o.status.success(), "{}", stderr(&o));
    berth_with_config(&d, &cfg, &["logout", &server], "");
    other.berth_ok(&["rmi", &name]);
    let o = berth_with_config(&other, &cfg, &["pull", &name], "");
    assert_eq!(o.status.code(), Some(1), "logout forgets the credentials");
}

#[test]
fn interop_with_distribution_registry_and_skopeo() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!("version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n", dir.path().join("data").display()),
    )
    .unwrap();
    let _reg = Proc(
        std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry (distribution 2.8) must be installed (.ci/run installs it)"),
    );
    wait_port(port);
    let a = Daemon::start();
    a.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    let name = format!("127.0.0.1:{port}/interop/hello:1");
    let id = a.berth_ok(&["build", "-q", "-t", &name, &hello_example()]).trim().to_string();
    a.berth_ok(&["push", &name]);
    let b = Daemon::start();
    b.berth_ok(&["pull", &name]);
    assert_eq!(b.berth_ok(&["image", "inspect", "-f", "{{.Id}}", &name]).trim(), id);
    assert!(b.berth_ok(&["run", "--rm", &name]).starts_with("Hello from Berth"));

    // skopeo copies an OCI layout (what `berth save` writes) into the registry; Berth pulls and runs it.
    let archive = dir.path().join("saved.tar");
    a.berth_ok(&["save", "-o", archive.to_str().unwrap(), &name]);
    let layout = dir.path().join("layout");
    std::fs::create_dir_all(&layout).unwrap();
    let st = std::process::Command::new("tar").arg("xf").arg(&archive).arg("-C").arg(&layout).status().unwrap();
    assert!(st.success());
    let dest = format!("docker://127.0.0.1:{port}/skopeo/hello:2");
    let o = std::process::Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false"])
        .arg(format!("oci:{}", layout.display()))
        .arg(&dest)
        .output()
        .expect("skopeo must be installed (.ci/run installs it)");
    assert!(o.status.success(), "skopeo copy: {}", stderr(&o));
    let c = Daemon::start();
    let skopeo_name = format!("127.0.0.1:{port}/skopeo/hello:2");
    c.berth_ok(&["pull", &skopeo_name]);
    assert!(c.berth_ok(&["run", "--rm", &skopeo_name]).starts_with("Hello from Berth"));
}

#[test]
fn dockerd_pushes_to_and_pulls_from_berth_registry() {
    let reg = Registry::start();
    let dir = tempfile::Builder::new().prefix("dockerd-").tempdir().unwrap();
    let sock = dir.path().join("docker.sock");
    let _dockerd = Proc(
        std::process::Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.path().join("root"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .args(["--storage-driver", "vfs", "--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-masq=false", "--ip-forward=false"])
            .args(["--containerd-namespace", "berth-test", "--containerd-plugins-namespace", "berth-test-plugins"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dockerd (docker.io) must be installed (.ci/run installs it)"),
    );
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .env("DOCKER_CONFIG", dir.path().join("cfg"))
            .output()
            .unwrap()
    };
    let mut up = false;
    for _ in 0..300 {
        if docker(&["version"]).status.success() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(up, "dockerd did not start");
    let name = format!("127.0.0.1:{}/fromdocker/bb:1", reg.port);
    let o = docker(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), &name]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = docker(&["push", &name]);
    assert!(o.status.success() && stdout(&o).contains("digest: sha256:"), "{}{}", stdout(&o), stderr(&o));
    assert!(docker(&["rmi", &name]).status.success());
    let o = docker(&["pull", &name]);
    assert!(o.status.success(), "{}", stderr(&o));
    // What dockerd pushed, Berth pulls and runs.
    let d = Daemon::start();
    d.berth_ok(&["pull", &name]);
    assert_eq!(d.berth_ok(&["run", "--rm", &name, "echo", "ok"]).trim(), "ok");
}
