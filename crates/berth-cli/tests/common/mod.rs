//! A real daemon per test: its own data root in a temp dir and its own socket, stopped with
//! SIGTERM (and reaped) when the test ends, pass or fail.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod process;
mod registry;
mod tcp_http;
pub use process::*;
#[allow(unused_imports)]
pub use registry::*;
#[allow(unused_imports)]
pub use tcp_http::*;

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub sock: PathBuf,
    child: Option<Child>,
    /// This daemon's own address space and bridge (see [`NetSlot`]).
    pub net: NetSlot,
    /// Extra `berth daemon` flags, kept for restarts.
    extra: Vec<String>,
}

/// A /16 of 10.128.0.0/9 and a bridge name no other test daemon uses at the same time: the default
/// bridge gets the first /24, user-defined networks the rest. Claimed with a lock file holding the
/// owner's pid (stale ones, of dead processes, are taken over).
pub struct NetSlot {
    pub octet: u8,
    lock: PathBuf,
}

impl NetSlot {
    pub fn claim() -> NetSlot {
        let dir = Path::new("/tmp/berth-test-netslots");
        std::fs::create_dir_all(dir).expect("netslot dir");
        let start = (std::process::id() as usize * 7 + Instant::now().elapsed().subsec_nanos() as usize) % 64;
        for i in 0..64 {
            let octet = 128 + ((start + i) % 64) as u8;
            let lock = dir.join(octet.to_string());
            let mine = std::process::id().to_string();
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&lock) {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = f.write_all(mine.as_bytes());
                    // A daemon of an earlier run (or a leaked one) may still hold this slot's bridge.
                    if bridge_held(octet) {
                        let _ = std::fs::remove_file(&lock);
                        continue;
                    }
                    return NetSlot { octet, lock };
                }
                Err(_) => {
                    let owner = std::fs::read_to_string(&lock).unwrap_or_default();
                    let stale = match owner.trim().parse::<i32>() {
                        Ok(p) => !Path::new(&format!("/proc/{p}")).exists(),
                        // Empty: its claimer is writing its pid right now (two tests once shared a
                        // slot this way), or died between the two steps long ago.
                        Err(_) => std::fs::metadata(&lock)
                            .and_then(|m| m.modified())
                            .is_ok_and(|t| t.elapsed().unwrap_or_default() > std::time::Duration::from_secs(60)),
                    };
                    if stale && !bridge_held(octet) && std::fs::remove_file(&lock).is_ok() {
                        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).create_new(true).open(&lock) {
                            use std::io::Write;
                            let _ = f.write_all(mine.as_bytes());
                            return NetSlot { octet, lock };
                        }
                    }
                }
            }
        }
        panic!("no free test network slot");
    }

    pub fn bridge(&self) -> String {
        format!("btd{}", self.octet)
    }

    pub fn bip(&self) -> String {
        format!("10.{}.0.1/24", self.octet)
    }

    pub fn pool(&self) -> String {
        format!("base=10.{}.0.0/16,size=24", self.octet)
    }

    /// A /24 of this slot for a network a test creates explicitly (n ≥ 1; 0 is the default bridge).
    pub fn subnet(&self, n: u8) -> String {
        format!("10.{}.{n}.0/24", self.octet)
    }
}

/// Whether a running berth daemon holds bridge `btd<octet>` (its flock on /run/berth/bridges/<name>).
fn bridge_held(octet: u8) -> bool {
    let path = Path::new("/run/berth/bridges").join(format!("btd{octet}"));
    let Ok(f) = std::fs::OpenOptions::new().read(true).open(&path) else { return false };
    // Taken and dropped at once: only asks whether someone else holds it.
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_err()
}

impl Drop for NetSlot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

impl Daemon {
    pub fn start() -> Daemon {
        Daemon::start_with(&[])
    }

    /// A daemon with extra `berth daemon` flags.
    pub fn start_with(extra: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new().prefix("berth-test-").tempdir().expect("tempdir");
        Daemon::start_in(dir, extra)
    }

    /// A daemon with `--userns-remap default` (and `extra`): its temp dir is searchable by others
    /// (0711), as the remapped root must reach its containers' files under the data root.
    pub fn start_remapped(extra: &[&str]) -> Daemon {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new().prefix("berth-test-").tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod the test dir");
        let mut args = vec!["--userns-remap", "default"];
        args.extend_from_slice(extra);
        Daemon::start_in(dir, &args)
    }

    /// A daemon whose data root is `dir/root` (a `dir/daemon.json` already there is its
    /// configuration file, else an empty one is written).
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Daemon {
        let sock = dir.path().join("berth.sock");
        let net = NetSlot::claim();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn_daemon(&dir.path().join("root"), &sock, &net, &extra);
        let d = Daemon { dir, sock, child: Some(child), net, extra };
        d.wait_ready();
        d
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon is running").id()
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.sock.display())
    }

    fn wait_ready(&self) {
        assert!(wait_unix(&self.sock, Duration::from_secs(20)), "daemon did not come up on {}", self.sock.display());
    }

    /// Runs `berth ARGS` against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(BERTH).args(args).env("BERTH_HOST", self.host()).stdin(Stdio::null()).output().expect("run berth")
    }

    /// Runs `berth ARGS` and asserts success; returns stdout.
    pub fn berth_ok(&self, args: &[&str]) -> String {
        let o = self.berth(args);
        assert!(o.status.success(), "berth {args:?} failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs `berth ARGS` with `input` on its stdin (closed afterwards).
    pub fn berth_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = Command::new(BERTH)
            .args(args)
            .env("BERTH_HOST", self.host())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run berth");
        child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
        child.wait_with_output().expect("wait for berth")
    }

    /// Runs the stock docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null())
            .output()
            .expect("the docker CLI must be installed (.ci/run installs it)")
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(o.status.success(), "docker {args:?} failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Sends SIGTERM and waits; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("daemon already stopped");
        terminate(&mut c, Duration::from_secs(10)).expect("daemon did not stop within 10s of SIGTERM")
    }

    /// Kills the daemon with SIGKILL (no cleanup at all) and reaps it.
    pub fn kill9(&mut self) {
        let mut c = self.child.take().expect("daemon already stopped");
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Whether the daemon process is running (not stopped or killed by the test).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the daemon again on the same data root and socket.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.child = Some(spawn_daemon(&self.root(), &self.sock, &self.net, &self.extra));
        self.wait_ready();
    }
}

pub fn spawn_daemon(root: &Path, sock: &Path, net: &NetSlot, extra: &[String]) -> Child {
    // Never the host's /etc/berth/daemon.json: an empty configuration file of the test's own.
    let config = root.with_file_name("daemon.json");
    if !config.exists() {
        std::fs::write(&config, "{}\n").expect("write the test's daemon.json");
    }
    let mut args = DaemonArgs::new(root).unix(sock).net(net);
    // Never the host's /etc/berth/certs.d: a test that needs one passes its own.
    if !extra.iter().any(|a| a == "--certs-dir") {
        args = args.certs_dir(&root.with_file_name("certs.d"));
    }
    args.args(extra).log_level("warn").config(&config).command().stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("spawn berth daemon")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A daemon the test killed or stopped and did not start again still has containers, a
        // bridge and firewall chains: it is started once more, recovers them, and they are removed
        // as below (also when the test failed in between).
        if self.child.is_none() && self.root().exists() {
            let mut c = spawn_daemon(&self.root(), &self.sock, &self.net, &self.extra);
            let deadline = Instant::now() + Duration::from_secs(20);
            while std::os::unix::net::UnixStream::connect(&self.sock).is_err() && Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.child = Some(c);
        }
        if self.child.is_some() {
            // Containers outlive the daemon by design: remove them, or they would leak.
            let ids = self.berth(&["ps", "-aq", "--no-trunc"]);
            for id in stdout(&ids).split_whitespace() {
                let _ = self.berth(&["rm", "-f", id]);
            }
        }
        if let Some(mut c) = self.child.take() {
            // Not a clean shutdown (killed after the grace, or a failed start): what it made in
            // the host's network stack goes here.
            if !terminate(&mut c, Duration::from_secs(10)).is_some_and(|st| st.success()) {
                remove_network_leftovers(&self.root(), &self.net.bridge());
                // A `--userns-remap` daemon's chains are named after its data root `<root>/<uid>.<gid>`.
                for e in std::fs::read_dir(self.root()).into_iter().flatten().flatten() {
                    if e.file_name().to_string_lossy().split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
                        remove_network_leftovers(&e.path(), &self.net.bridge());
                    }
                }
            }
        }
    }
}

/// What a daemon on `root` that did not shut down cleanly leaves in the host's network stack: its
/// default bridge and its firewall chains (named from the data root, as the daemon names them).
pub fn remove_network_leftovers(root: &Path, bridge: &str) {
    use sha2::Digest;
    let prefix = format!("BERTH-{}-", &hex::encode(sha2::Sha256::digest(root.as_os_str().as_encoded_bytes()))[..6]);
    let _ = Command::new("ip").args(["link", "del", bridge]).stderr(Stdio::null()).status();
    // Dual-stack networks leave the same chains in ip6tables.
    for (bin, table) in [("iptables", "filter"), ("iptables", "nat"), ("ip6tables", "filter"), ("ip6tables", "nat")] {
        let ipt = |table: &str, args: &[&str]| Command::new(bin).args(["-w", "10", "-t", table]).args(args).stderr(Stdio::null()).output();
        let Ok(o) = ipt(table, &["-S"]) else { continue };
        let listing = String::from_utf8_lossy(&o.stdout).into_owned();
        for jump in listing.lines().filter(|l| l.starts_with("-A ") && !l.starts_with(&format!("-A {prefix}")) && l.contains(&format!("-j {prefix}"))) {
            let mut args: Vec<&str> = jump.split_whitespace().collect();
            args[0] = "-D";
            let _ = ipt(table, &args);
        }
        let chains: Vec<&str> = listing.lines().filter_map(|l| l.strip_prefix("-N ")).filter(|c| c.starts_with(&prefix)).collect();
        for c in &chains {
            let _ = ipt(table, &["-F", c]);
        }
        for c in &chains {
            let _ = ipt(table, &["-X", c]);
        }
    }
}

/// A daemon with the BusyBox rootfs imported as `busybox:latest`.
pub fn with_busybox() -> Daemon {
    let d = Daemon::start();
    d.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    d
}

/// The BusyBox root filesystem tarball (gzip) made by `scripts/fixtures.sh`, as a user would import it.
pub fn busybox_tarball() -> PathBuf {
    berth_fixtures::busybox_rootfs()
}

/// A small root filesystem made in the test: a few files, a dir, a symlink.
pub fn tiny_rootfs(dir: &Path, marker: &str) -> PathBuf {
    let path = dir.join(format!("rootfs-{marker}.tar"));
    let f = std::fs::File::create(&path).unwrap();
    let mut b = tar::Builder::new(f);
    let mut add = |name: &str, data: &[u8], kind: tar::EntryType, link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
        h.set_mtime(1_700_000_000);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, name, data).unwrap();
    };
    add("etc/", b"", tar::EntryType::Directory, None);
    add("etc/marker", marker.as_bytes(), tar::EntryType::Regular, None);
    add("etc/link", b"", tar::EntryType::Symlink, Some("marker"));
    b.into_inner().unwrap();
    path
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file under the content store's blob directory.
pub fn blob_count(root: &Path) -> usize {
    std::fs::read_dir(root.join("content/blobs/sha256")).map(|d| d.count()).unwrap_or(0)
}

/// A raw HTTP/1.1 request over the daemon's unix socket; returns status, lower-cased headers, body.
pub fn http(sock: &Path, method: &str, path: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).expect("connect");
    let req = format!("{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len());
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v == "chunked") {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
    out
}

pub fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The Debian bookworm minbase root filesystem tarball (xz) made by `scripts/fixtures.sh`.
pub fn debian_tarball() -> PathBuf {
    berth_fixtures::debian_rootfs()
}

/// Runs `berth ARGS` against `d` with `BERTH_CONFIG=cfg` (its own credential store), `stdin` fed in.
pub fn berth_with_config(d: &Daemon, cfg: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = std::process::Command::new(BERTH)
        .args(args)
        .env("BERTH_HOST", d.host())
        .env("BERTH_CONFIG", cfg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Serves HTTP/1.0 on 127.0.0.1 until the test process ends: `answer` maps a request's path (its
/// query string removed) to a body and extra header lines (each ending in `\r\n`); `None` is a 404.
pub fn serve_http(answer: impl Fn(&str) -> Option<(Vec<u8>, String)> + Send + 'static) -> u16 {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            // Drain the request headers.
            let mut h = String::new();
            while r.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").split('?').next().unwrap_or("/").to_string();
            let resp = match answer(&path) {
                Some((body, headers)) => {
                    let mut head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n", body.len()).into_bytes();
                    head.extend_from_slice(&body);
                    head
                }
                None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            };
            let _ = conn.write_all(&resp);
        }
    });
    port
}
