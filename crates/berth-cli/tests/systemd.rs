//! systemd integration without systemd as PID 1: the units pass `systemd-analyze verify`, socket
//! activation is driven by `systemd-socket-activate` (systemd's own tool: it listens, and on the first
//! connection execs the daemon with `LISTEN_FDS`/`LISTEN_PID` set), and `sd_notify` messages arrive on
//! a datagram socket the test binds as `NOTIFY_SOCKET`. Only loopback addresses are used.

mod common;
use common::*;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn units_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/systemd")
}

#[test]
fn units_verify_and_keep_containers_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let service = std::fs::read_to_string(units_dir().join("berth.service")).unwrap();
    let socket = std::fs::read_to_string(units_dir().join("berth.socket")).unwrap();
    // The unit names the installed path; verify it against the binary under test.
    std::fs::write(tmp.path().join("berth.service"), service.replace("/usr/bin/berth", BERTH)).unwrap();
    std::fs::write(tmp.path().join("berth.socket"), &socket).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(tmp.path().join("berth.service"))
        .arg(tmp.path().join("berth.socket"))
        .output()
        .expect("systemd-analyze (package systemd, installed by scripts/setup.sh)");
    assert!(o.status.success() && o.stderr.is_empty(), "systemd-analyze verify: {}{}", stdout(&o), stderr(&o));
    let lines: Vec<&str> = service.lines().map(str::trim).collect();
    for want in ["Type=notify", "ExecStart=/usr/bin/berth daemon -H fd://", "ExecReload=/bin/kill -s HUP $MAINPID", "KillMode=process", "Delegate=yes", "Requires=berth.socket"] {
        assert!(lines.contains(&want), "berth.service lacks {want}");
    }
    assert!(socket.lines().any(|l| l.trim() == "ListenStream=/run/berth/berth.sock"));
}

/// `systemd-socket-activate -l …` running `berth daemon ARGS` (a data root, bridge and empty config
/// of the test's own), with `NOTIFY_SOCKET` pointing at the test's datagram socket.
struct Activated {
    child: Option<Child>,
    _net: NetSlot,
    _tmp: tempfile::TempDir,
    notify: UnixDatagram,
}

impl Activated {
    fn start(tmp: tempfile::TempDir, listen: &[String], hosts: &[&str]) -> Activated {
        let net = NetSlot::claim();
        let config = tmp.path().join("daemon.json");
        std::fs::write(&config, "{}").unwrap();
        let notify_path = tmp.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut cmd = Command::new("systemd-socket-activate");
        for l in listen {
            cmd.args(["-l", l]);
        }
        cmd.arg("-E").arg(format!("NOTIFY_SOCKET={}", notify_path.display()));
        cmd.args([BERTH, "daemon"]);
        let mut daemon = DaemonArgs::default();
        for h in hosts {
            daemon = daemon.host(h);
        }
        let daemon = daemon.config(&config).arg("--data-root").arg(tmp.path().join("root")).certs_dir(&tmp.path().join("certs.d")).net(&net).log_level("warn");
        let child = cmd
            .args(daemon.to_args())
            .stdin(Stdio::null())
            .spawn()
            .expect("systemd-socket-activate (package systemd, installed by scripts/setup.sh)");
        // It listens before it execs anything; wait for its sockets.
        let deadline = Instant::now() + Duration::from_secs(10);
        for l in listen {
            while !(Path::new(l).exists() || (!l.starts_with('/') && std::net::TcpStream::connect(l.as_str()).is_ok())) {
                assert!(Instant::now() < deadline, "systemd-socket-activate did not listen on {l}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Activated { child: Some(child), _net: net, _tmp: tmp, notify }
    }

    /// The next sd_notify datagram.
    fn next_notification(&self) -> String {
        let mut buf = [0u8; 4096];
        let n = self.notify.recv(&mut buf).expect("an sd_notify message within 20 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        terminate(&mut c, Duration::from_secs(10)).expect("daemon did not stop")
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            terminate(&mut c, Duration::from_secs(10));
        }
    }
}

fn berth_at(host: &str, args: &[&str]) -> std::process::Output {
    Command::new(BERTH).args(["-H", host]).args(args).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn fd_serves_every_activated_socket_and_notifies_ready_and_stopping() {
    let tmp = tempfile::Builder::new().prefix("berth-test-").tempdir().unwrap();
    let sock = tmp.path().join("api.sock");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tcp = format!("127.0.0.1:{port}");
    let mut d = Activated::start(tmp, &[sock.display().to_string(), tcp.clone()], &["fd://"]);
    // The first connection starts the daemon; it is answered once the daemon serves.
    let (status, _, body) = http(&sock, "GET", "/_ping", b"");
    assert_eq!((status, body.as_slice()), (200, b"OK".as_slice()));
    let ready = d.next_notification();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready}");
    // Both passed sockets serve the API.
    let v = berth_at(&format!("unix://{}", sock.display()), &["version", "--format", "{{.Server.Version}}"]);
    assert!(v.status.success() && !stdout(&v).trim().is_empty(), "{}", stderr(&v));
    let i = berth_at(&format!("tcp://{tcp}"), &["info", "--format", "{{.DockerRootDir}}"]);
    assert!(i.status.success() && stdout(&i).trim().ends_with("/root"), "{}{}", stdout(&i), stderr(&i));
    assert!(d.stop().success());
    assert_eq!(d.next_notification().trim(), "STOPPING=1");
    // The socket file is the service manager's: the daemon leaves it.
    assert!(sock.exists());
}

#[test]
fn fd_n_takes_only_that_socket() {
    let tmp = tempfile::Builder::new().prefix("berth-test-").tempdir().unwrap();
    let sock = tmp.path().join("api.sock");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tcp = format!("127.0.0.1:{port}");
    // fd 3 is the unix socket, fd 4 the TCP one.
    let d = Activated::start(tmp, &[sock.display().to_string(), tcp.clone()], &["fd://4"]);
    let i = berth_at(&format!("tcp://{tcp}"), &["info", "--format", "{{.ID}}"]);
    assert!(i.status.success(), "{}", stderr(&i));
    assert!(d.next_notification().contains("READY=1"));
    // fd 3 was closed: nobody answers on the unix socket.
    assert!(UnixStream::connect(&sock).is_err());
}

#[test]
fn fd_without_activation_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("daemon.json");
    std::fs::write(&config, "{}").unwrap();
    let o = DaemonArgs::default()
        .host("fd://")
        .config(&config)
        .arg("--data-root")
        .arg(tmp.path().join("root"))
        .args(&["--bridge", "btdnone", "--bip", "10.127.255.1/30"])
        .certs_dir(&tmp.path().join("certs.d"))
        .command()
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no sockets found via socket activation"), "{}", stderr(&o));
    // It stopped before setting anything up.
    assert!(!Path::new("/sys/class/net/btdnone").exists());
}
