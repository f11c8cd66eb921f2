//! The CRI streaming server over HTTPS (`--cri-stream-tls-cert`/`--cri-stream-tls-key`): crictl's
//! exec goes through it (the Exec URL is `https://`), a plain HTTP request to its port
//! gets Go's answer. (A certificate without its key is refused: `daemon_config`'s unit tests.)

mod common;
mod cri_support;

use common::{stderr, stdout};
use cri_support::CriDaemon;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl (scripts/setup.sh installs it)");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

fn write_json(dir: &Path, name: &str, v: serde_json::Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    p.display().to_string()
}

#[test]
fn crictl_exec_goes_through_the_https_streaming_server() {
    let certs = tempfile::tempdir().unwrap();
    openssl(certs.path(), &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem"]);
    openssl(
        certs.path(),
        &["req", "-x509", "-new", "-key", "key.pem", "-days", "2", "-subj", "/CN=berth-stream", "-addext", "subjectAltName=IP:127.0.0.1", "-out", "cert.pem"],
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let port_s = port.to_string();
    let c = CriDaemon::start(&["--cri-stream-port", &port_s, "--cri-stream-tls-cert", cert.to_str().unwrap(), "--cri-stream-tls-key", key.to_str().unwrap()]);

    let work = tempfile::tempdir().unwrap();
    let pod = write_json(work.path(), "pod.json", serde_json::json!({"metadata": {"name": "tls", "namespace": "default", "uid": "uid-tls", "attempt": 0}, "linux": {}}));
    let ctr = write_json(
        work.path(),
        "ctr.json",
        serde_json::json!({"metadata": {"name": "c"}, "image": {"image": "busybox:latest"}, "command": ["sleep", "100000"], "linux": {}}),
    );
    let pod_id = c.crictl_ok(&["runp", &pod]).trim().to_string();
    let id = c.crictl_ok(&["create", &pod_id, &ctr, &pod]).trim().to_string();
    c.crictl_ok(&["start", &id]);
    // Not -s (ExecSync over gRPC): the streaming Exec, whose URL is https://127.0.0.1:PORT/exec/….
    let o = c.crictl(&["exec", &id, "sh", "-c", "echo over-tls; exit 3"]);
    assert_eq!(stdout(&o).trim(), "over-tls", "{}", stderr(&o));
    // crictl reports the command's exit code from the stream's status and exits 1 itself.
    assert!(!o.status.success() && stderr(&o).contains("command terminated with exit code 3"), "{}", stderr(&o));

    // A plain HTTP client is told it reached an HTTPS server.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /exec/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.0 400 Bad Request") && answer.contains("Client sent an HTTP request to an HTTPS server."), "{answer}");
    // Over TLS, an unknown token is the streaming server's 404.
    let curl = Command::new("curl").args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", &format!("https://127.0.0.1:{port}/exec/unknown")]).output().unwrap();
    assert_eq!(stdout(&curl), "404", "{}", stderr(&curl));
    c.crictl_ok(&["rmp", "-f", &pod_id]);
}
