//! Processes of a test: free loopback ports, waiting for something to come up, stopping a child
//! (SIGTERM, a grace period, then SIGKILL; always reaped) and the `berth daemon` command line of a
//! test daemon, isolated from the host and from other tests.

use super::{NetSlot, BERTH};
use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `127.0.0.1:PORT` of a [`free_port`].
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// Polls `ready` every 20 ms for up to `timeout`; whether it became true.
pub fn wait_for(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether something accepts TCP connections on `addr` within `timeout`.
pub fn wait_tcp(addr: &str, timeout: Duration) -> bool {
    wait_for(timeout, || std::net::TcpStream::connect(addr).is_ok())
}

/// Whether something accepts connections on the unix socket `sock` within `timeout`.
pub fn wait_unix(sock: &Path, timeout: Duration) -> bool {
    wait_for(timeout, || std::os::unix::net::UnixStream::connect(sock).is_ok())
}

/// Sends SIGTERM and waits up to `grace` for the process to exit; kills it with SIGKILL if it has
/// not. Always reaps it. The exit status when it stopped within the grace period.
pub fn terminate(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(st)) = child.try_wait() {
        return Some(st);
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// The flags of a test's `berth daemon`: built up, then turned into a [`Command`] (or an argument
/// list, for a wrapper such as `systemd-socket-activate`).
#[derive(Clone, Default)]
pub struct DaemonArgs {
    args: Vec<OsString>,
}

impl DaemonArgs {
    /// `--data-root ROOT`.
    pub fn new(root: &Path) -> DaemonArgs {
        DaemonArgs::default().arg("--data-root").arg(root)
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> DaemonArgs {
        self.args.push(a.into());
        self
    }

    pub fn args<A: Into<OsString> + Clone>(mut self, a: &[A]) -> DaemonArgs {
        self.args.extend(a.iter().cloned().map(Into::into));
        self
    }

    /// `-H unix://SOCK`.
    pub fn unix(self, sock: &Path) -> DaemonArgs {
        self.host(&format!("unix://{}", sock.display()))
    }

    /// `-H HOST`.
    pub fn host(self, host: &str) -> DaemonArgs {
        self.arg("-H").arg(host)
    }

    /// The slot's bridge and address space: `--bridge --bip --default-address-pool`.
    pub fn net(self, net: &NetSlot) -> DaemonArgs {
        self.args(&["--bridge", &net.bridge(), "--bip", &net.bip(), "--default-address-pool", &net.pool()])
    }

    /// `--certs-dir DIR` (never the host's /etc/berth/certs.d).
    pub fn certs_dir(self, dir: &Path) -> DaemonArgs {
        self.arg("--certs-dir").arg(dir)
    }

    /// `--config-file FILE` (never the host's /etc/berth/daemon.json).
    pub fn config(self, file: &Path) -> DaemonArgs {
        self.arg("--config-file").arg(file)
    }

    pub fn log_level(self, level: &str) -> DaemonArgs {
        self.args(&["--log-level", level])
    }

    pub fn to_args(&self) -> Vec<OsString> {
        self.args.clone()
    }

    /// `berth daemon FLAGS` with stdin from /dev/null.
    pub fn command(&self) -> Command {
        let mut c = Command::new(BERTH);
        c.arg("daemon").args(&self.args).stdin(Stdio::null());
        c
    }
}

/// A child process stopped with [`terminate`] (10 s grace) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        terminate(&mut self.0, Duration::from_secs(10));
    }
}

/// Panics unless something listens on 127.0.0.1:`port` within 10 s.
pub fn wait_port(port: u16) {
    assert!(wait_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(10)), "nothing listens on {port}");
}

/// Runs `cmd` to its end with `input` on its stdin (then closed; /dev/null without input) and
/// its output collected, as [`Command::output`], but for at most `limit`: a command still running
/// then is killed with everything in its process group (it gets one of its own), and the test
/// fails saying so, with what the command had written, instead of hanging.
pub fn output_within(cmd: &mut Command, input: Option<&[u8]>, limit: Duration) -> std::process::Output {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    // The readers get their ends at once, so a command writing much is never blocked on them.
    let reader = |mut r: Box<dyn Read + Send>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    };
    let out = reader(Box::new(child.stdout.take().expect("stdout")));
    let err = reader(Box::new(child.stderr.take().expect("stderr")));
    if let (Some(data), Some(mut w)) = (input, child.stdin.take()) {
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = w.write_all(&data);
        });
    }
    // Polled without reaping (WNOWAIT): until it is reaped the pid, and so the group id, cannot be
    // another process's.
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + limit;
    let timed_out = loop {
        match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT) {
            Ok(WaitStatus::StillAlive) => {}
            _ => break false,
        }
        if Instant::now() > deadline {
            break true;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Whatever the command left behind in its group (an `ssh` it started) goes too.
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
    let status = child.wait().expect("wait");
    // Output is complete once every holder of the pipes has gone; one outside the group must not
    // hang the test either.
    let collect = |rx: std::sync::mpsc::Receiver<Vec<u8>>| rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    let (stdout, stderr) = (collect(out), collect(err));
    assert!(
        !timed_out,
        "{what} did not finish within {limit:?}; stdout: {}; stderr: {}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    std::process::Output { status, stdout, stderr }
}
