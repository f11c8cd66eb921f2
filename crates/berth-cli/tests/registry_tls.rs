//! The daemon as a registry client over TLS (a CA of the test's own in Docker's certs.d layout) and
//! through a `--registry-mirror` for docker.io references. Only loopback registries are contacted.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Loopback registries are insecure by default (TLS unverified, then plain HTTP), as with Docker, so
/// the registry listens on the test daemon's own bridge address: a local address outside 127.0.0.0/8.
#[test]
fn tls_registry_trusted_through_certs_d() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let certs = t.join("certs.d");
    let trusting = Daemon::start_with(&["--certs-dir", certs.to_str().unwrap()]);
    let ip = format!("10.{}.0.1", trusting.net.octet);
    // A CA of our own and a server certificate for that address signed by it.
    openssl(t, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=berth test CA"]);
    openssl(t, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", &format!("/CN={ip}")]);
    std::fs::write(t.join("ext.cnf"), format!("subjectAltName=IP:{ip}\n")).unwrap();
    openssl(t, &["x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.crt", "-days", "2", "-extfile", "ext.cnf"]);
    let port = free_port();
    let _reg = Registry::opts().root(t).addr(&format!("{ip}:{port}")).args(&["--tls-cert", t.join("srv.crt").to_str().unwrap(), "--tls-key", t.join("srv.key").to_str().unwrap()]).start();
    let host = format!("{ip}:{port}");
    std::fs::create_dir_all(certs.join(&host)).unwrap();
    std::fs::copy(t.join("ca.crt"), certs.join(&host).join("ca.crt")).unwrap();

    trusting.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), &format!("{host}/tls/bb:1")]);
    trusting.berth_ok(&["push", &format!("{host}/tls/bb:1")]);
    trusting.berth_ok(&["rmi", &format!("{host}/tls/bb:1")]);
    trusting.berth_ok(&["pull", &format!("{host}/tls/bb:1")]);
    assert_eq!(trusting.berth_ok(&["run", "--rm", "--network", "none", &format!("{host}/tls/bb:1"), "echo", "over-tls"]).trim(), "over-tls");

    // Without the CA the registry's certificate is refused: the pull fails, says why, stores nothing.
    let stranger = Daemon::start();
    let o = stranger.berth(&["pull", &format!("{host}/tls/bb:1")]);
    assert!(!o.status.success(), "{}", stdout(&o));
    let err = stderr(&o).to_lowercase();
    assert!(err.contains("certificate") || err.contains("unknownissuer"), "{err}");
    assert!(!stranger.berth_ok(&["images"]).contains("tls/bb"), "nothing stored");
}

#[test]
fn docker_io_references_come_from_the_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _reg = Registry::opts().root(tmp.path()).addr(&format!("127.0.0.1:{port}")).start();
    let host = format!("127.0.0.1:{port}");
    // The mirror holds library/busybox, as a pull-through cache of Docker Hub would.
    let seed = with_busybox();
    seed.berth_ok(&["tag", "busybox:latest", &format!("{host}/library/busybox:latest")]);
    seed.berth_ok(&["push", &format!("{host}/library/busybox:latest")]);
    let d = Daemon::start_with(&["--registry-mirror", &format!("http://{host}")]);
    let out = d.berth_ok(&["pull", "busybox"]);
    assert!(out.contains("docker.io/library/busybox:latest"), "{out}");
    assert_eq!(d.berth_ok(&["run", "--rm", "--network", "none", "busybox", "echo", "mirrored"]).trim(), "mirrored");
    // The stock docker CLI through Berth gets it the same way.
    d.berth_ok(&["rmi", "busybox"]);
    d.docker_ok(&["pull", "busybox:latest"]);
    assert!(d.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).contains("busybox:latest"));
}
