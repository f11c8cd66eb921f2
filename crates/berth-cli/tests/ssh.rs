//! `ssh://` hosts against a real OpenSSH server the test starts on a loopback port, with its own
//! host key, configuration and authorized key (nothing of the machine's own ssh setup is read or
//! changed). The client side runs `ssh … berth system dial-stdio`; the stock docker CLI runs
//! `ssh … docker system dial-stdio`, which on this server is Berth under the name `docker` (a
//! Berth-only host). The server side's environment (`SetEnv`) points both at the test's daemon.
//! Every command runs with a time limit (a hang fails the test), and the server goes with every
//! session and process it started when the test ends, pass or fail.

mod common;
use common::*;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The most any one client command here may take (they take a second or two).
const LIMIT: Duration = Duration::from_secs(90);

/// sshd on 127.0.0.1:port, and a client `ssh` wrapper (first on the client's PATH) that trusts
/// only its host key and logs in with the test's key. Dropped: the sessions and what runs in them
/// are killed, then the server.
struct Sshd {
    proc: Proc,
    dir: tempfile::TempDir,
    port: u16,
}

fn run_ok(cmd: &str, args: &[&str]) {
    let o = output_within(Command::new(cmd).args(args), None, LIMIT);
    assert!(o.status.success(), "{cmd} {args:?}: {}", stderr(&o));
}

/// The processes below `root` (children, theirs, …), from /proc.
fn descendants(root: u32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let Some(ppid) = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|p| p.parse::<i32>().ok()) else { continue };
        parent_of.push((pid, ppid));
    }
    let mut found = vec![root as i32];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.split_off(1)
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Sessions (and the `berth system dial-stdio` in each) are the server's descendants; a
        // second look catches one forked meanwhile. Then `proc` stops the server itself.
        for _ in 0..3 {
            let below = descendants(self.proc.0.id());
            if below.is_empty() {
                break;
            }
            for pid in below {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
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
        // Debian's sshd wants its privilege separation directory (made at boot by its package).
        std::fs::create_dir_all("/run/sshd").unwrap();
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(sshd.exists(), "sshd (openssh-server, installed by scripts/setup.sh)");
        // A free port can be taken by another test before sshd binds it: then sshd exits, and the
        // next port is tried. Ready is sshd saying it listens on our port (not merely something
        // answering there).
        let mut started = None;
        for _ in 0..5 {
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
            let child = Command::new(sshd)
                .args(["-D", "-e", "-f", &p("sshd_config")])
                .stdin(std::process::Stdio::null())
                .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
                .spawn()
                .unwrap();
            let mut proc = Proc(child);
            let listening = format!("Server listening on 127.0.0.1 port {port}");
            let log = || std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
            wait_for(Duration::from_secs(10), || log().contains(&listening) || !matches!(proc.0.try_wait(), Ok(None)));
            if log().contains(&listening) && matches!(proc.0.try_wait(), Ok(None)) {
                started = Some((proc, port));
                break;
            }
            eprintln!("sshd on port {port} did not come up, trying another: {}", log());
            terminate(&mut proc.0, Duration::from_secs(5));
        }
        let (proc, port) = started.expect("sshd did not start on any of 5 ports (see above)");
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
        Sshd { proc, dir, port }
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

    /// `PROGRAM ARGS` with the ssh wrapper on PATH, the test's docker config directory and no
    /// BERTH_HOST/DOCKER_HOST/contexts from the environment, within [`LIMIT`].
    fn command(&self, program: &str, args: &[&str]) -> Output {
        let mut c = Command::new(program);
        c.args(args)
            .env("PATH", self.path())
            .env("DOCKER_CONFIG", self.config_dir())
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_CONTEXT")
            .env_remove("DOCKER_CONTEXT");
        output_within(&mut c, None, LIMIT)
    }

    /// `PROGRAM -H ssh://USER@… ARGS`.
    fn client(&self, program: &str, user: &str, args: &[&str]) -> Output {
        let url = self.url(user);
        let all: Vec<&str> = ["-H", url.as_str()].into_iter().chain(args.iter().copied()).collect();
        self.command(program, &all)
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
    let o = sshd.command(BERTH, &["context", "create", "remote", "--docker", &format!("host={}", sshd.url("root"))]);
    assert!(o.status.success(), "{}", stderr(&o));
    for program in [BERTH, "docker"] {
        let o = sshd.command(program, &["--context", "remote", "images", "--format", "{{.Repository}}"]);
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
    let dial = |input: &[u8]| output_within(Command::new(BERTH).args(["system", "dial-stdio"]).env("BERTH_HOST", d.host()), Some(input), LIMIT);
    // The request, then the end of stdin: the daemon still answers (a half-closed connection), and
    // dial-stdio ends when the daemon closes.
    let ping = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n";
    for _ in 0..20 {
        let o = dial(ping);
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("OK"), "{out:?}");
    }
    // The daemon closes first (`Connection: close`) while stdin stays open: dial-stdio ends at once.
    let mut child = Command::new(BERTH)
        .args(["system", "dial-stdio"])
        .env("BERTH_HOST", d.host())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    if !wait_for(Duration::from_secs(20), || !matches!(child.try_wait(), Ok(None))) {
        terminate(&mut child, Duration::from_secs(1));
        panic!("dial-stdio did not end when the daemon closed the connection (its stdin still open)");
    }
    let status = child.wait().unwrap();
    drop(stdin);
    assert!(status.success(), "{status}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("OK"), "{out:?}");
    // Nothing listening: one line, exit 1.
    let o = output_within(Command::new(BERTH).args(["-H", "unix:///nonexistent/berth.sock", "system", "dial-stdio"]), None, LIMIT);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/berth.sock"), "{}", stderr(&o));
}
