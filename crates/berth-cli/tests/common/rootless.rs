//! The rootless tests' unprivileged user (made for the run, removed at the end, also on failure),
//! its daemon and its docker CLI; included by `rootless.rs` and `rootless_features.rs`.
#![allow(dead_code)]

use crate::common::*;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// useradd, usermod and userdel lock /etc/passwd and /etc/subuid and fail rather than wait when
/// another holds them: the tests of this file change users one at a time.
pub static USER_ADMIN: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn user_admin(c: &mut Command) -> Output {
    let _g = USER_ADMIN.lock().unwrap_or_else(|e| e.into_inner());
    // Another test binary (or helper) may hold the lock: try again for a while.
    let mut out = c.output().unwrap();
    for _ in 0..50 {
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        if out.status.success() || !(err.contains("lock") || err.contains("try again")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        out = c.output().unwrap();
    }
    out
}

/// The test's user and everything made for it; dropping it stops the daemon and removes the user.
pub struct RootlessUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// `(start, count)` of its subordinate uids.
    pub subuid: (u32, u32),
    /// Base directory (0755): `home/`, `run/` (XDG_RUNTIME_DIR), `bin/berth`.
    pub base: PathBuf,
    pub daemon: Option<Child>,
    pub daemon_log: PathBuf,
}

impl RootlessUser {
    pub fn create() -> RootlessUser {
        let name = format!("brl{}x{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() % 1000);
        let base = PathBuf::from(format!("/tmp/berth-rootless-{name}"));
        std::fs::create_dir_all(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = base.join("home");
        // useradd gives the new user the next free 65536-id ranges in /etc/subuid and /etc/subgid
        // (login.defs SUB_UID_*), as an administrator adding a user gets them.
        let added = user_admin(Command::new("useradd").args(["-M", "-d"]).arg(&home).args(["-s", "/bin/sh", &name]));
        assert!(added.status.success(), "useradd {name}: {}", stderr(&added));
        let mut user = RootlessUser { name: name.clone(), uid: 0, gid: 0, subuid: (0, 0), base: base.clone(), daemon: None, daemon_log: base.join("daemon.log") };
        user.uid = stdout(&run_ok(Command::new("id").args(["-u", &name]))).trim().parse().unwrap();
        user.gid = stdout(&run_ok(Command::new("id").args(["-g", &name]))).trim().parse().unwrap();
        let ranges = |file: &str| -> Vec<(u32, u32)> {
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() == 3 && f[0] == name).then(|| (f[1].parse().unwrap(), f[2].parse().unwrap()))
                })
                .collect()
        };
        let (uids, gids) = (ranges("/etc/subuid"), ranges("/etc/subgid"));
        assert_eq!(uids.len(), 1, "useradd gave {name} one subordinate uid range: {uids:?}");
        assert_eq!(gids.len(), 1, "{gids:?}");
        user.subuid = uids[0];
        for (dir, mode) in [(&home, 0o755), (&base.join("run"), 0o700), (&base.join("ctx"), 0o755)] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
            nix::unistd::chown(dir.as_path(), Some(user.uid.into()), Some(user.gid.into())).unwrap();
        }
        // The test's berth, where the user can run it (the build tree may not be reachable).
        std::fs::create_dir_all(base.join("bin")).unwrap();
        std::fs::copy(BERTH, base.join("bin/berth")).unwrap();
        user
    }

    pub fn run_dir(&self) -> PathBuf {
        self.base.join("run")
    }

    pub fn socket(&self) -> PathBuf {
        self.run_dir().join("berth.sock")
    }

    /// `program args…` as the user, with a clean login-like environment.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", &self.uid.to_string(), "--regid", &self.gid.to_string(), "--init-groups", "--"])
            .arg(program)
            .env_clear()
            .env("HOME", self.base.join("home"))
            .env("USER", &self.name)
            .env("LOGNAME", &self.name)
            .env("XDG_RUNTIME_DIR", self.run_dir())
            .env("PATH", format!("{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", self.base.join("bin").display()))
            .current_dir(self.base.join("home"));
        c
    }

    pub fn berth(&self, args: &[&str]) -> Output {
        self.command("berth").args(args).output().unwrap()
    }

    /// The stock docker CLI as the user, talking to the rootless daemon through DOCKER_HOST.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.command("docker").env("DOCKER_HOST", format!("unix://{}", self.socket().display())).args(args).output().unwrap()
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(o.status.success(), "docker {args:?}: {}{}\ndaemon log:\n{}", stdout(&o), stderr(&o), self.log());
        stdout(&o)
    }

    pub fn docker_stdin(&self, args: &[&str], input: &Path) -> Output {
        let mut c = self.command("docker").env("DOCKER_HOST", format!("unix://{}", self.socket().display())).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let data = std::fs::read(input).unwrap();
        c.stdin.take().unwrap().write_all(&data).unwrap();
        c.wait_with_output().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.daemon_log).unwrap_or_default()
    }

    /// `berth daemon` as the user (rootless by itself), waiting until its socket answers.
    pub fn start_daemon(&mut self) {
        self.start_daemon_wrapped(&[]);
    }

    /// [`Self::start_daemon`], run through `wrapper` (a program and its arguments, run as root,
    /// which ends by executing the rest of its command line: the `setpriv … berth daemon`), e.g.
    /// a shell that first puts itself in a cgroup, or `unshare -m` binding a file first.
    pub fn start_daemon_wrapped(&mut self, wrapper: &[&str]) {
        let log = std::fs::File::create(&self.daemon_log).unwrap();
        let mut inner = self.command("berth");
        inner.arg("daemon");
        let mut c = match wrapper.split_first() {
            None => inner,
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(inner.get_program()).args(inner.get_args()).env_clear();
                for (k, v) in inner.get_envs() {
                    if let Some(v) = v {
                        c.env(k, v);
                    }
                }
                c.current_dir(inner.get_current_dir().unwrap());
                c
            }
        };
        let child = c.stdout(Stdio::null()).stderr(log).spawn().unwrap();
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            if let Some(st) = self.daemon.as_mut().unwrap().try_wait().unwrap() {
                panic!("rootless daemon exited with {st}:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("rootless daemon never served {}:\n{}", self.socket().display(), self.log());
    }

    /// The pid of the daemon inside the namespaces (the parent's child; the one whose user
    /// namespace is not the host's).
    pub fn inner_daemon_pid(&self) -> i32 {
        let host_ns = std::fs::read_link("/proc/self/ns/user").unwrap();
        let inner: Vec<i32> = self
            .processes()
            .into_iter()
            .filter(|(_, _, c)| c.contains("berth daemon"))
            .map(|(p, _, _)| p)
            .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/user")).is_ok_and(|l| l != host_ns))
            .collect();
        assert_eq!(inner.len(), 1, "one daemon in the namespaces: {:?}", self.processes());
        inner[0]
    }

    /// Imports the busybox fixture as `image` (CMD sh) into the user's daemon.
    pub fn import_busybox(&self, image: &str) {
        let imported = self.docker_stdin(&["import", "-c", "CMD [\"/bin/sh\"]", "-", image], &busybox_tarball());
        assert!(imported.status.success(), "{}{}", stdout(&imported), stderr(&imported));
    }

    /// SIGTERM to the daemon (the namespaces' owner), as `systemctl --user stop` would.
    pub fn stop_daemon(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.daemon.take()?;
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(40);
        while Instant::now() < deadline {
            if let Some(st) = c.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }

    /// Processes running as the user or one of its subordinate uids.
    pub fn processes(&self) -> Vec<(i32, u32, String)> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
            let Some(uid) = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|u| u.parse::<u32>().ok()) else { continue };
            if uid == self.uid || (uid >= self.subuid.0 && uid < self.subuid.0 + self.subuid.1) {
                let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default().replace('\0', " ");
                out.push((pid, uid, cmd));
            }
        }
        out
    }
}

impl Drop for RootlessUser {
    fn drop(&mut self) {
        self.stop_daemon();
        // Whatever is left of the user's (a failed test's containers, pasta): killed, by pid.
        for _ in 0..50 {
            let left = self.processes();
            if left.is_empty() {
                break;
            }
            for (pid, _, _) in left {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let (s, n) = self.subuid;
        let range = format!("{s}-{}", s + n - 1);
        let _ = user_admin(Command::new("usermod").args(["--del-subuids", &range, "--del-subgids", &range, &self.name]));
        let _ = user_admin(Command::new("userdel").arg(&self.name));
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

pub fn run_ok(c: &mut Command) -> Output {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?}: {}{}", stdout(&o), stderr(&o));
    o
}

pub fn status_uid(pid: &str) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next()).unwrap().parse().unwrap()
}

pub fn get_page(port: u16) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// GET /index.html on 127.0.0.1:port, retried while pasta has not picked the port up yet (it scans
/// the namespace's bound ports every second).
pub fn fetch(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match get_page(port) {
            Ok(r) if r.starts_with("HTTP/1.") => return r,
            other if Instant::now() > deadline => panic!("127.0.0.1:{port} never served the container's page: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// /dev/net/tun open to users while a test needs it (pasta needs it; distributions' udev makes it
/// 0666, this test machine's is 0600), its mode restored when the last test of the binary using
/// it is done (tests run in parallel).
pub struct TunOpen;

static TUN_USERS: std::sync::Mutex<(usize, u32)> = std::sync::Mutex::new((0, 0));

impl TunOpen {
    pub fn new() -> TunOpen {
        let mut g = TUN_USERS.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 == 0 {
            g.1 = std::fs::metadata("/dev/net/tun").unwrap().mode() & 0o7777;
            std::fs::set_permissions("/dev/net/tun", std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        g.0 += 1;
        TunOpen
    }
}

impl Drop for TunOpen {
    fn drop(&mut self) {
        let mut g = TUN_USERS.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        if g.0 == 0 {
            let _ = std::fs::set_permissions("/dev/net/tun", std::fs::Permissions::from_mode(g.1));
        }
    }
}
