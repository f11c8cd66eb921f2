//! `ssh://` hosts against a real OpenSSH server the test starts on a loopback port, with its own
//! host key, configuration and authorized key (nothing of the machine's own ssh setup is read or
//! changed). The client side runs `ssh … berth system dial-stdio`; the stock docker CLI runs
//! `ssh … docker system dial-stdio`, which on this server is Berth under the name `docker` (a
//! Berth-only host). The server side's environment (`SetEnv`) points both at the test's daemon.

mod common;
use common::*;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// sshd on 127.0.0.1:port, and a client `ssh` wrapper (first on the client's PATH) that trusts
/// only its host key and logs in with the test's key.
struct Sshd {
    _proc: Proc,
    dir: tempfile::TempDir,
    port: u16,
}

fn run_ok(cmd: &str, args: &[&str]) {
    let o = Command::new(cmd).args(args).stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(o.status.success(), "{cmd} {args:?}: {}", stderr(&o));
}

impl Sshd {
    fn start(daemon: &Daemon) -> Sshd {
        let dir = tempfile::Builder::new().prefix("berth-test-ssh-").tempdir().unwrap();
        let d = dir.path();
        let p = |n: &str| d.join(n).display().to_string();
        run_ok("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", &p("host_key")]);
        run_ok("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-f", &p("client_key")]);
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        // The server's PATH: berth, also as `docker` (what the docker CLI runs on the far side).
        let remote_bin = d.join("remote-bin");
        std::fs::create_dir(&remote_bin).unwrap();
        symlink(BERTH, remote_bin.join("berth")).unwrap();
        symlink(BERTH, remote_bin.join("docker")).unwrap();
        let port = free_port();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\nAuthorizedKeysFile {ak}\nPermitRootLogin prohibit-password\n\
                 AllowUsers root\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n\
                 SetEnv PATH={bin}:/usr/bin:/bin BERTH_HOST={host}\n",
                hk = p("host_key"),
                pid = p("sshd.pid"),
                ak = p("authorized_keys"),
                bin = remote_bin.display(),
                host = daemon.host(),
            ),
        )
        .unwrap();
        // Debian's sshd wants its privilege separation directory (made at boot by its package).
        std::fs::create_dir_all("/run/sshd").unwrap();
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(sshd.exists(), "sshd (openssh-server, installed by scripts/setup.sh)");
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f", &p("sshd_config")])
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
            .spawn()
            .unwrap();
        let proc = Proc(child);
        assert!(wait_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(10)), "sshd did not listen: {}", std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default());
        // The client: known_hosts with the server's key only, the test's identity, no prompts.
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n",
                p("client_key"),
                p("known_hosts")
            ),
        )
        .unwrap();
        let client_bin = d.join("client-bin");
        std::fs::create_dir(&client_bin).unwrap();
        let wrapper = client_bin.join("ssh");
        std::fs::write(&wrapper, format!("#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n", p("ssh_config"))).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Sshd { _proc: proc, dir, port }
    }

    fn url(&self, user: &str) -> String {
        format!("ssh://{user}@127.0.0.1:{}", self.port)
    }

    /// PATH with the ssh wrapper first.
    fn path(&self) -> String {
        format!("{}:{}", self.dir.path().join("client-bin").display(), std::env::var("PATH").unwrap_or_default())
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }

    /// `PROGRAM -H ssh://… ARGS` with no BERTH_HOST/DOCKER_HOST in the environment.
    fn client(&self, program: &str, user: &str, args: &[&str]) -> Output {
        Command::new(program)
            .args(["-H", &self.url(user)])
            .args(args)
            .env("PATH", self.path())
            .env("DOCKER_CONFIG", self.config_dir())
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_CONTEXT")
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, program: &str, args: &[&str]) -> String {
        let o = self.client(program, "root", args);
        assert!(o.status.success(), "{program} -H {} {args:?}: {}{}\nsshd log:\n{}", self.url("root"), stdout(&o), stderr(&o), self.log());
        stdout(&o)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

#[test]
fn berth_and_docker_reach_the_daemon_over_ssh() {
    let d = with_busybox();
    let sshd = Sshd::start(&d);
    // berth: run (create, attach through the upgraded connection, start, wait), ps, logs.
    assert_eq!(sshd.ok(BERTH, &["run", "--name", "over-ssh", "busybox", "echo", "hello over ssh"]), "hello over ssh\n");
    let ps = sshd.ok(BERTH, &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.lines().any(|l| l.starts_with("over-ssh Exited (0)")), "{ps}");
    assert_eq!(sshd.ok(BERTH, &["logs", "over-ssh"]), "hello over ssh\n");
    // It is the same daemon: what went over ssh is there locally.
    assert!(d.berth_ok(&["ps", "-a", "--format", "{{.Names}}"]).lines().any(|l| l == "over-ssh"));
    let v = sshd.ok(BERTH, &["info", "--format", "{{.DockerRootDir}}"]);
    assert_eq!(v.trim(), d.root().display().to_string());

    // The stock docker CLI through the same server.
    assert_eq!(sshd.ok("docker", &["run", "--rm", "busybox", "echo", "docker over ssh"]), "docker over ssh\n");
    let ps = sshd.ok("docker", &["ps", "-a", "--format", "{{.Names}}"]);
    assert!(ps.lines().any(|l| l == "over-ssh"), "{ps}");
    assert_eq!(sshd.ok("docker", &["logs", "over-ssh"]), "hello over ssh\n");
    sshd.ok(BERTH, &["rm", "over-ssh"]);

    // A context holding the ssh host, used by name.
    let o = Command::new(BERTH)
        .args(["context", "create", "remote", "--docker", &format!("host={}", sshd.url("root"))])
        .env("DOCKER_CONFIG", sshd.config_dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for program in [BERTH, "docker"] {
        let o = Command::new(program)
            .args(["--context", "remote", "images", "--format", "{{.Repository}}"])
            .env("PATH", sshd.path())
            .env("DOCKER_CONFIG", sshd.config_dir())
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .output()
            .unwrap();
        assert!(o.status.success(), "{program}: {}", stderr(&o));
        assert_eq!(stdout(&o).trim(), "busybox");
    }
}

#[test]
fn a_refused_login_is_one_clear_line() {
    let d = Daemon::start();
    let sshd = Sshd::start(&d);
    let o = sshd.client(BERTH, "nobody", &["ps"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("Permission denied") && err.contains("ssh -o ConnectTimeout=30 -T -l nobody"), "{err}");
}

#[test]
fn dial_stdio_joins_stdin_and_stdout_to_the_daemon() {
    let d = Daemon::start();
    let o = d.berth_stdin(&["system", "dial-stdio"], b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("OK"), "{out}");
    // Nothing listening: one line, exit 1.
    let o = Command::new(BERTH).args(["-H", "unix:///nonexistent/berth.sock", "system", "dial-stdio"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/berth.sock"), "{}", stderr(&o));
}
