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
