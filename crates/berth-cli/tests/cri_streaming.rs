//! The CRI streaming server driven by crictl as an operator would: `crictl exec -i` with stdin
//! (SPDY, and the WebSocket transport whose v5 close signal ends stdin), `crictl exec -it` on a
//! terminal that is resized, `crictl attach` feeding a container's stdin, and `crictl
//! port-forward` (SPDY, and SPDY tunnelled in a WebSocket) to a server in a pod, checking output,
//! exit codes and the forwarded bytes; then the pod is removed and nothing is left (no streaming
//! connections in the daemon, no containers, no exec processes).

mod common;
mod cri_support;

use common::{stderr, stdout};
use cri_support::CriDaemon;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn write_json(dir: &Path, name: &str, v: serde_json::Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    p.display().to_string()
}

/// `crictl ARGS` with `input` on its stdin.
fn crictl_stdin(c: &CriDaemon, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(cri_support::tool("crictl"))
        .arg("--config")
        .arg(c.cri.with_file_name("crictl.yaml"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The command's exit code as crictl reports it: 0 when crictl succeeds, else the code of its
/// "command terminated with exit code N" (crictl itself then exits 1).
fn exit_code(o: &std::process::Output) -> Option<i32> {
    if o.status.success() {
        return Some(0);
    }
    let e = stderr(o);
    let at = e.find("command terminated with exit code ")? + "command terminated with exit code ".len();
    e[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The daemon's open sockets (its streaming connections among them).
fn socket_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.flatten().filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))).count()).unwrap_or(0)
}

/// A running `crictl port-forward`, stopped (by its pid) when dropped.
struct Forward(std::process::Child);

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0.id() as i32), nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `crictl port-forward [--transport T] POD LOCAL:REMOTE` and waits until it listens.
fn port_forward(c: &CriDaemon, pod: &str, remote: u16, transport: &str) -> (Forward, u16) {
    let local = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(cri_support::tool("crictl"))
        .arg("--config")
        .arg(c.cri.with_file_name("crictl.yaml"))
        .args(["port-forward", "--transport", transport, pod, &format!("{local}:{remote}")])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(std::env::temp_dir().join(format!("berth-port-forward-{}-{transport}-{remote}.log", std::process::id()))).unwrap())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let fwd = Forward(child);
    let mut out = BufReader::new(out);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // Keep reading: crictl writes a line per connection and dies of a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    assert!(line.contains(&format!("Forwarding from 127.0.0.1:{local} -> {remote}")), "crictl port-forward said {line:?}");
    (fwd, local)
}

/// `GET path` through a forwarded port; the body.
fn http_get(port: u16, path: &str) -> Vec<u8> {
    let resp = try_get(port, path).unwrap();
    let at = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(&resp)));
    assert!(resp.starts_with(b"HTTP/1.0 200") || resp.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&resp[..at]));
    resp[at + 4..].to_vec()
}

/// The raw response to `GET path` through a forwarded port.
fn try_get(port: u16, path: &str) -> std::io::Result<Vec<u8>> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n")?;
    let mut resp = vec![];
    s.read_to_end(&mut resp)?;
    Ok(resp)
}

#[test]
fn crictl_exec_attach_and_port_forward_through_the_streaming_server() {
    let c = CriDaemon::start(&[]);
    let work = tempfile::tempdir().unwrap();
    let pod = write_json(
        work.path(),
        "pod.json",
        serde_json::json!({"metadata": {"name": "streams", "namespace": "default", "uid": "uid-streams", "attempt": 0}, "log_directory": work.path().join("logs"), "linux": {}}),
    );
    let server = write_json(
        work.path(),
        "server.json",
        serde_json::json!({
            "metadata": {"name": "server"},
            "image": {"image": "busybox:latest"},
            "command": ["sh", "-c", "mkdir -p /www && echo hello-from-server > /www/index.html && dd if=/dev/urandom of=/www/big bs=1024 count=2048 2>/dev/null && exec httpd -f -p 8080 -h /www"],
            "log_path": "server.log",
            "linux": {}
        }),
    );
    let reader = write_json(
        work.path(),
        "reader.json",
        serde_json::json!({
            "metadata": {"name": "reader"},
            "image": {"image": "busybox:latest"},
            "command": ["sh", "-c", "while read l; do echo \"got:$l\"; done; echo bye"],
            "stdin": true,
            "stdin_once": true,
            "log_path": "reader.log",
            "linux": {}
        }),
    );
    let pod_id = c.crictl_ok(&["runp", &pod]).trim().to_string();
    let server_id = c.crictl_ok(&["create", &pod_id, &server, &pod]).trim().to_string();
    c.crictl_ok(&["start", &server_id]);
    let daemon_pid = c.d.pid();
    let sockets_before = socket_count(daemon_pid);

    // exec -i over SPDY (crictl's default): stdin reaches the command, its end ends `cat`; output
    // split by stream; the exit code comes back through the v4 Status.
    let o = crictl_stdin(&c, &["exec", "-i", &server_id, "sh", "-c", "cat; echo to-stderr >&2; exit 3"], b"line one\nline two\n");
    assert_eq!(stdout(&o), "line one\nline two\n", "{o:?}");
    assert!(stderr(&o).contains("to-stderr"), "{o:?}");
    assert_eq!(exit_code(&o), Some(3), "crictl reports the command's code: {o:?}");
    let o = c.crictl(&["exec", &server_id, "echo", "plain"]);
    assert_eq!((stdout(&o).as_str(), exit_code(&o)), ("plain\n", Some(0)), "{o:?}");
    // The same over the WebSocket transport (v5.channel.k8s.io): stdin's end is the close signal.
    let o = crictl_stdin(&c, &["exec", "-i", "--transport", "websocket", &server_id, "sh", "-c", "wc -c; exit 4"], &vec![b'x'; 300_000]);
    assert_eq!(stdout(&o).trim(), "300000", "{o:?}");
    assert_eq!(exit_code(&o), Some(4), "{o:?}");
    // A command that cannot start: runc's message and Docker's 126.
    let o = c.crictl(&["exec", &server_id, "/no/such/binary"]);
    assert_eq!(exit_code(&o), Some(126), "{o:?}");

    // exec -it on a terminal: the terminal's size, and its new size after a resize, reach the
    // command's pty.
    let tty = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cri_support/tty_exec.py"))
        .arg(cri_support::tool("crictl"))
        .arg(c.cri.with_file_name("crictl.yaml"))
        .arg(&server_id)
        .output()
        .unwrap();
    let t: serde_json::Value = serde_json::from_str(stdout(&tty).trim()).unwrap_or_else(|e| panic!("{e}: {tty:?}"));
    assert_eq!(t["first_size"], true, "the initial size 30x100 never showed: {t}");
    assert_eq!(t["second_size"], true, "the resize to 40x120 never showed: {t}");
    assert!(t["output"].as_str().unwrap_or("").contains("command terminated with exit code 5"), "{t}");

    // attach: what crictl reads on stdin goes to the container's stdin; its end (stdin_once)
    // ends the container's input, so the command finishes and the attach with it.
    let reader_id = c.crictl_ok(&["create", &pod_id, &reader, &pod]).trim().to_string();
    c.crictl_ok(&["start", &reader_id]);
    let o = crictl_stdin(&c, &["attach", "-i", &reader_id], b"hello\nworld\n");
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stdout(&o), "got:hello\ngot:world\nbye\n", "{o:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c.crictl_ok(&["inspect", "-o", "go-template", "--template", "{{.status.state}}", &reader_id]).contains("EXITED") {
        assert!(Instant::now() < deadline, "the attached container did not exit after its stdin closed");
        std::thread::sleep(Duration::from_millis(100));
    }

    // port-forward to httpd in the pod: a page, then 2 MiB whose digest matches the file's.
    let want_digest = c.crictl_ok(&["exec", "-s", &server_id, "sha256sum", "/www/big"]);
    let want_digest = want_digest.split_whitespace().next().unwrap().to_string();
    for transport in ["spdy", "websocket"] {
        let (fwd, local) = port_forward(&c, &pod_id, 8080, transport);
        // The first connection may beat crictl's own set-up.
        for _ in 0..50 {
            if try_get(local, "/index.html").is_ok_and(|r| !r.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let page = http_get(local, "/index.html");
        assert_eq!(String::from_utf8_lossy(&page), "hello-from-server\n", "{transport}");
        let big = http_get(local, "/big");
        assert_eq!(big.len(), 2048 * 1024, "{transport}");
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(&big)), want_digest, "{transport}: the forwarded bytes differ");
        // Two connections at once through one forward.
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| http_get(local, "/index.html"));
            let b = s.spawn(|| http_get(local, "/big").len());
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!((a.as_slice(), b), (&b"hello-from-server\n"[..], 2048 * 1024), "{transport}");
        drop(fwd);
    }
    // A port nothing listens on: the connection is closed and crictl reports the error.
    let (fwd, local) = port_forward(&c, &pod_id, 9, "spdy");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = vec![];
    let _ = s.read_to_end(&mut buf);
    assert!(buf.is_empty());
    drop(fwd);

    // Nothing is left: no streaming connection in the daemon, no exec process in the container.
    let deadline = Instant::now() + Duration::from_secs(10);
    while socket_count(daemon_pid) > sockets_before {
        assert!(Instant::now() < deadline, "the daemon holds {} sockets, {} before streaming", socket_count(daemon_pid), sockets_before);
        std::thread::sleep(Duration::from_millis(100));
    }
    let ps = c.crictl_ok(&["exec", "-s", &server_id, "ps", "-o", "comm"]);
    let procs: Vec<&str> = ps.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "COMMAND").collect();
    // The pod shares one PID namespace: its pause process (the stand-in's sleep), httpd, ps.
    assert!(procs.iter().all(|p| ["sleep", "httpd", "ps"].contains(p)), "processes left in the pod: {ps}");
    c.crictl_ok(&["stopp", &pod_id]);
    c.crictl_ok(&["rmp", &pod_id]);
    assert!(c.crictl_ok(&["pods", "-q"]).trim().is_empty());
    assert!(c.crictl_ok(&["ps", "-a", "-q"]).trim().is_empty());
}
