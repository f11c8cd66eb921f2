//! The API over mutual TLS, as dockerd serves it: the stock docker CLI, docker-py and Berth's own
//! client connect with certificates made here by openssl; a client without a certificate, with
//! one from another CA, or speaking plain HTTP is refused; a client refuses a daemon whose
//! certificate another CA signed; a non-loopback TCP listener without TLS is refused unless
//! `--tls=false` says so; the unix socket gets the `--group` asked for.

mod common;

use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl (scripts/setup.sh installs it)");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

/// A CA (`NAME-ca.pem`, `NAME-ca-key.pem`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &format!("{name}-ca-key.pem")]);
    openssl(
        dir,
        &[
            "req", "-x509", "-new", "-key", &format!("{name}-ca-key.pem"), "-days", "2", "-subj", &format!("/CN={name} test CA"),
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", &format!("{name}-ca.pem"),
        ],
    );
}

/// A certificate `OUT-cert.pem` / `OUT-key.pem` signed by CA `ca`, for a server (SANs 127.0.0.1 and
/// localhost) or a client.
fn make_cert(dir: &Path, ca: &str, out: &str, server: bool) {
    openssl(dir, &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", &format!("{out}-key.pem")]);
    openssl(dir, &["req", "-new", "-key", &format!("{out}-key.pem"), "-subj", &format!("/CN={out}"), "-out", &format!("{out}.csr")]);
    let ext = if server {
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
    } else {
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
    };
    std::fs::write(dir.join(format!("{out}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509", "-req", "-in", &format!("{out}.csr"), "-CA", &format!("{ca}-ca.pem"), "-CAkey", &format!("{ca}-ca-key.pem"), "-CAcreateserial",
            "-days", "2", "-extfile", &format!("{out}.ext"), "-out", &format!("{out}-cert.pem"),
        ],
    );
}

/// A DOCKER_CERT_PATH directory `name` holding `ca.pem` and, when given, `cert.pem`/`key.pem`.
fn cert_path(dir: &Path, name: &str, ca: &str, client: Option<&str>) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::copy(dir.join(format!("{ca}-ca.pem")), p.join("ca.pem")).unwrap();
    if let Some(c) = client {
        std::fs::copy(dir.join(format!("{c}-cert.pem")), p.join("cert.pem")).unwrap();
        std::fs::copy(dir.join(format!("{c}-key.pem")), p.join("key.pem")).unwrap();
    }
    p
}

fn wait_port(port: u16) {
    assert!(wait_tcp(&format!("127.0.0.1:{port}"), Duration::from_secs(20)), "nothing listens on 127.0.0.1:{port}");
}

/// The stock docker CLI against `tcp://127.0.0.1:PORT` with the given environment.
fn docker_at(d: &Daemon, port: u16, env: &[(&str, &Path)], verify: bool, args: &[&str]) -> std::process::Output {
    let mut c = Command::new("docker");
    c.env_remove("DOCKER_TLS_VERIFY").env_remove("DOCKER_CERT_PATH").env_remove("DOCKER_CONTEXT");
    c.env("DOCKER_HOST", format!("tcp://127.0.0.1:{port}")).env("DOCKER_CONFIG", d.dir.path().join("docker-config"));
    if verify {
        c.env("DOCKER_TLS_VERIFY", "1");
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).stdin(Stdio::null()).output().expect("docker CLI")
}

struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn make() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        make_ca(p, "good");
        make_ca(p, "rogue");
        make_cert(p, "good", "server", true);
        make_cert(p, "good", "client", false);
        make_cert(p, "rogue", "intruder", false);
        make_cert(p, "rogue", "fakeserver", true);
        Certs { dir }
    }

    fn path(&self, f: &str) -> String {
        self.dir.path().join(f).display().to_string()
    }
}

#[test]
fn mutual_tls_serves_docker_cli_docker_py_and_berth_and_refuses_everyone_else() {
    let certs = Certs::make();
    let port = free_port();
    let (ca, cert, key) = (certs.path("good-ca.pem"), certs.path("server-cert.pem"), certs.path("server-key.pem"));
    let host = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&["-H", &host, "--tlsverify", "--tlscacert", &ca, "--tlscert", &cert, "--tlskey", &key]);
    wait_port(port);
    d.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    let good = cert_path(certs.dir.path(), "good", "good", Some("client"));

    // The stock docker CLI with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as `docker-machine env` sets them,
    // including a hijacked attach (run without -d) over the TLS stream.
    let o = docker_at(&d, port, &[("DOCKER_CERT_PATH", &good)], true, &["version", "--format", "{{.Server.Os}}"]);
    assert!(o.status.success(), "docker over mTLS: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "linux");
    let o = docker_at(&d, port, &[("DOCKER_CERT_PATH", &good)], true, &["run", "--rm", "busybox", "echo", "over-tls"]);
    assert!(o.status.success(), "docker run over mTLS: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "over-tls");
    // The same with flags instead of the environment.
    let flags = ["--tlsverify", "--tlscacert", &ca, "--tlscert", &certs.path("client-cert.pem"), "--tlskey", &certs.path("client-key.pem"), "ps", "-q"];
    let o = docker_at(&d, port, &[], false, &flags);
    assert!(o.status.success(), "docker --tlsverify flags: {}", stderr(&o));

    // Berth's client: flags, and DOCKER_/BERTH_ environment.
    let o = Command::new(BERTH)
        .args(["-H", &host, "--tlsverify", "--tlscacert", &ca, "--tlscert", &certs.path("client-cert.pem"), "--tlskey", &certs.path("client-key.pem")])
        .args(["version", "--format", "{{.Server.Os}}"])
        .env_remove("BERTH_HOST")
        .output()
        .unwrap();
    assert!(o.status.success(), "berth --tlsverify: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "linux");
    let o = Command::new(BERTH).args(["run", "--rm", "busybox", "echo", "berth-tls"]).env("DOCKER_HOST", &host).env_remove("BERTH_HOST").env("BERTH_TLS_VERIFY", "1").env("DOCKER_CERT_PATH", &good).output().unwrap();
    assert!(o.status.success(), "berth with BERTH_TLS_VERIFY/DOCKER_CERT_PATH: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "berth-tls");

    // docker-py (python3-docker) with a TLSConfig, as its documentation shows.
    let script = format!(
        r#"
import docker, sys
tls = docker.tls.TLSConfig(client_cert=("{c}", "{k}"), ca_cert="{ca}", verify=True)
cl = docker.DockerClient(base_url="https://127.0.0.1:{port}", tls=tls)
assert cl.ping()
out = cl.containers.run("busybox", ["echo", "py-tls"], remove=True)
print(out.decode().strip())
try:
    docker.DockerClient(base_url="https://127.0.0.1:{port}", tls=docker.tls.TLSConfig(ca_cert="{ca}", verify=True)).ping()
    print("certless client served")
except Exception as e:
    print("refused")
"#,
        c = certs.path("client-cert.pem"),
        k = certs.path("client-key.pem"),
    );
    // requests lets REQUESTS_CA_BUNDLE override the CA docker-py passes (psf/requests#3829).
    let o = Command::new("/usr/bin/python3").arg("-c").arg(&script).env_remove("REQUESTS_CA_BUNDLE").env_remove("CURL_CA_BUNDLE").output().expect("python3 with python3-docker");
    assert!(o.status.success(), "docker-py over mTLS: {}{}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o).trim(), "py-tls\nrefused");

    // No client certificate: the handshake fails.
    let bare = cert_path(certs.dir.path(), "bare", "good", None);
    let o = docker_at(&d, port, &[("DOCKER_CERT_PATH", &bare)], true, &["version"]);
    assert!(!o.status.success(), "a client without a certificate was served");
    assert!(!stdout(&o).contains("Server:\n Engine") || stderr(&o).contains("certificate"), "{}", stderr(&o));
    let o = d.berth(&["ps"]); // the unix socket is unaffected
    assert!(o.status.success());
    // A client certificate from another CA.
    let intruder = cert_path(certs.dir.path(), "intruder", "good", Some("intruder"));
    let o = docker_at(&d, port, &[("DOCKER_CERT_PATH", &intruder)], true, &["ps"]);
    assert!(!o.status.success(), "a client with a foreign CA's certificate was served: {}", stdout(&o));
    let o = Command::new(BERTH)
        .args(["-H", &host, "--tlsverify", "--tlscacert", &ca, "--tlscert", &certs.path("intruder-cert.pem"), "--tlskey", &certs.path("intruder-key.pem"), "ps"])
        .env_remove("BERTH_HOST")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("TLS"), "berth names the TLS failure: {}", stderr(&o));
    // The client side: a daemon certificate the client's CA did not sign is refused.
    let rogue_ca = cert_path(certs.dir.path(), "rogueca", "rogue", Some("client"));
    let o = docker_at(&d, port, &[("DOCKER_CERT_PATH", &rogue_ca)], true, &["ps"]);
    assert!(!o.status.success(), "docker trusted a daemon its CA did not sign");
    assert!(stderr(&o).contains("certificate"), "{}", stderr(&o));

    // Plain HTTP to the TLS port: Go's answer, which the docker CLI shows as is.
    let o = docker_at(&d, port, &[], false, &["version"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Client sent an HTTP request to an HTTPS server"), "{}", stderr(&o));
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.0 400 Bad Request"), "{answer:?}");
    let o = Command::new(BERTH).args(["-H", &host, "ps"]).env_remove("BERTH_HOST").env_remove("DOCKER_TLS_VERIFY").env_remove("BERTH_TLS_VERIFY").output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("Client sent an HTTP request to an HTTPS server"), "{}", stderr(&o));
}

#[test]
fn tls_without_verify_encrypts_without_asking_for_client_certificates() {
    let certs = Certs::make();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&["-H", &host, "--tls", "--tlscert", &certs.path("server-cert.pem"), "--tlskey", &certs.path("server-key.pem")]);
    wait_port(port);
    // docker --tls: encrypted, the daemon not verified (its CA file is one that did not sign the
    // daemon's certificate), no client certificate needed.
    let rogue = cert_path(certs.dir.path(), "rogue", "rogue", None);
    let empty = tempfile::tempdir().unwrap();
    let o = docker_at(&d, port, &[("DOCKER_CERT_PATH", &rogue)], false, &["--tls", "version", "--format", "{{.Server.Os}}"]);
    assert!(o.status.success(), "docker --tls: {}", stderr(&o));
    let o = Command::new(BERTH).args(["-H", &host, "--tls", "info", "--format", "{{.OSType}}"]).env_remove("BERTH_HOST").env("DOCKER_CERT_PATH", empty.path()).output().unwrap();
    assert!(o.status.success(), "berth --tls: {}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "linux");
    // With verification the client checks who it talks to: a CA that did not sign the daemon's certificate.
    let o = Command::new(BERTH).args(["-H", &format!("tcp://localhost:{port}"), "--tlsverify", "--tlscacert", &certs.path("rogue-ca.pem"), "ps"]).env_remove("BERTH_HOST").output().unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("TLS"), "{}", stderr(&o));
}

#[test]
fn daemon_refuses_bad_tls_files_and_plain_non_loopback_tcp() {
    let certs = Certs::make();
    let dir = tempfile::tempdir().unwrap();
    // Its own bridge, should a refusal come after the networks are set up.
    let net = NetSlot::claim();
    let run = |args: &[&str]| {
        Command::new(BERTH)
            .args(["daemon", "--data-root"])
            .arg(dir.path().join("root"))
            .args(["--bridge", &net.bridge(), "--bip", &net.bip()])
            .args(["--config-file", "/dev/null", "-H"])
            .arg(format!("unix://{}", dir.path().join("s.sock").display()))
            .args(args)
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // Not a loopback address and no TLS: refused before anything is set up (nothing is bound).
    let o = run(&["-H", "tcp://0.0.0.0:1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("without TLS") && stderr(&o).contains("--tls=false"), "{}", stderr(&o));
    assert!(!dir.path().join("root").exists(), "the refused daemon touched its data root");
    // A key that does not belong to the certificate, and missing default files (~/.docker/*.pem).
    let o = run(&["-H", "tcp://127.0.0.1:1", "--tls", "--tlscert", &certs.path("server-cert.pem"), "--tlskey", &certs.path("client-key.pem")]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("client-key.pem"), "{}", stderr(&o));
    let o = run(&["-H", "tcp://127.0.0.1:1", "--tlsverify"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(".docker/cert.pem"), "{}", stderr(&o));
    // TLS files without TLS are not silently ignored.
    let o = run(&["--tlscert", &certs.path("server-cert.pem")]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("need --tls"), "{}", stderr(&o));
    // An explicit group that does not exist.
    let o = run(&["--group", "no-such-group-berth-test"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("group \"no-such-group-berth-test\" not found"), "{}", stderr(&o));
}

#[test]
fn plain_non_loopback_tcp_with_tls_false_starts_and_warns_loudly() {
    // In a network namespace of its own, where 0.0.0.0 reaches nothing but this namespace's loopback.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = format!(
        "ip link set lo up && exec {berth} daemon --data-root {root} --config-file /dev/null -H unix://{sock} -H tcp://0.0.0.0:{port} --tls=false --bridge btdtls0 --bip 10.127.250.1/24 --log-level warn",
        berth = BERTH,
        root = dir.path().join("root").display(),
        sock = dir.path().join("s.sock").display(),
    );
    let mut child = Command::new("unshare").args(["--net", "sh", "-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.path().join("s.sock").exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let served = dir.path().join("s.sock").exists();
    let mut stderr_pipe = child.stderr.take().unwrap();
    let st = terminate(&mut child, Duration::from_secs(10)).expect("the daemon stops on SIGTERM");
    let mut err = String::new();
    stderr_pipe.read_to_string(&mut err).unwrap();
    assert!(served, "the daemon did not start with --tls=false: {err}");
    assert!(st.success(), "{st:?} {err}");
    assert!(err.matches("WITHOUT TLS").count() >= 3, "the warning is not loud enough: {err}");
}

#[test]
fn unix_socket_gets_the_group_and_mode_asked_for() {
    let d = Daemon::start_with(&["--group", "4242"]);
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(&d.sock).unwrap();
    assert_eq!(m.gid(), 4242);
    assert_eq!(m.uid(), 0);
    assert_eq!(m.mode() & 0o777, 0o660);
}
