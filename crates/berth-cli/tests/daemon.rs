//! The daemon process: API negotiation and headers, errors, locking, shutdown, client errors.

mod common;
use common::*;

#[test]
fn ping_answers_with_docker_headers_on_head_and_get() {
    let d = Daemon::start();
    for method in ["GET", "HEAD"] {
        let (status, h, body) = http(&d.sock, method, "/_ping", b"");
        assert_eq!(status, 200);
        assert_eq!(header(&h, "api-version"), Some("1.47"));
        assert_eq!(header(&h, "builder-version"), Some("1"));
        assert_eq!(header(&h, "ostype"), Some("linux"));
        assert_eq!(header(&h, "docker-experimental"), Some("false"));
        assert!(header(&h, "server").unwrap().starts_with("Berth/"));
        assert_eq!(body, if method == "GET" { b"OK".to_vec() } else { vec![] });
    }
}

#[test]
fn versioned_and_unversioned_paths_and_version_bounds() {
    let d = Daemon::start();
    for path in ["/version", "/v1.47/version", "/v1.24/version", "/v1.41/version"] {
        let (status, h, body) = http(&d.sock, "GET", path, b"");
        assert_eq!(status, 200, "{path}");
        assert!(header(&h, "server").is_some());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["ApiVersion"], "1.47");
        assert_eq!(v["MinAPIVersion"], "1.24");
    }
    let (status, h, body) = http(&d.sock, "GET", "/v1.99/version", b"");
    assert_eq!(status, 400);
    assert_eq!(header(&h, "api-version"), Some("1.47"));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["message"], "client version 1.99 is too new. Maximum supported API version is 1.47");
    let (status, _, body) = http(&d.sock, "GET", "/v1.12/version", b"");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("too old"));
}

#[test]
fn errors_are_json_messages_with_docker_statuses() {
    let d = Daemon::start();
    let (status, h, body) = http(&d.sock, "GET", "/v1.47/images/nosuch/json", b"");
    assert_eq!(status, 404);
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["message"], "No such image: nosuch:latest");
    let (status, _, body) = http(&d.sock, "GET", "/v1.47/nowhere", b"");
    assert_eq!(status, 404);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["message"], "page not found");
    let (status, _, body) = http(&d.sock, "GET", "/images/json?filters=notjson", b"");
    assert_eq!(status, 400);
    // dockerd's words for filters that are not JSON: Go's decoder error (tests/api_diff compares them).
    assert!(String::from_utf8_lossy(&body).contains("invalid character"), "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = http(&d.sock, "POST", "/images/create?fromSrc=-&repo=BadName", b"");
    assert_eq!(status, 400);
}

#[test]
fn second_daemon_on_same_root_fails_clearly() {
    let d = Daemon::start();
    let other_sock = d.dir.path().join("other.sock");
    let out = DaemonArgs::new(&d.root()).unix(&other_sock).command().output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("already running"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line expected: {err}");
    assert!(!other_sock.exists());
}

#[test]
fn sigterm_stops_cleanly_and_removes_socket_and_state_survives() {
    let mut d = Daemon::start();
    let tar = tiny_rootfs(d.dir.path(), "persist");
    let id = d.berth_ok(&["import", tar.to_str().unwrap(), "keep:1"]).trim().to_string();
    let st = d.stop();
    assert!(st.success(), "daemon exit status {st:?}");
    assert!(!d.sock.exists(), "socket left behind after SIGTERM");
    d.restart();
    let out = d.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert_eq!(out.trim(), format!("keep:1 {}", &id[7..19]));
}

#[test]
fn unreachable_daemon_gives_one_line_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("none.sock");
    let out = std::process::Command::new(BERTH)
        .args(["-H", &format!("unix://{}", sock.display()), "images"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&sock.display().to_string()) && err.contains("Is the berth daemon running?"), "{err}");
    // BERTH_HOST is honoured when -H is absent.
    let out = std::process::Command::new(BERTH).env("BERTH_HOST", format!("unix://{}", sock.display())).args(["version"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&sock.display().to_string()));
}

#[test]
fn info_and_df_report_the_store() {
    let d = Daemon::start();
    let tar = tiny_rootfs(d.dir.path(), "info");
    d.berth_ok(&["import", tar.to_str().unwrap(), "info:1"]);
    let (_, _, body) = http(&d.sock, "GET", "/info", b"");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["Images"], 1);
    assert_eq!(v["DockerRootDir"], d.root().display().to_string());
    assert_eq!(v["OSType"], "linux");
    let (_, _, body) = http(&d.sock, "GET", "/system/df", b"");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["Images"].as_array().unwrap().len(), 1);
    // Real disk usage: the image's config and layer blobs (not unpacked yet: no container).
    use std::os::unix::fs::MetadataExt;
    let blobs: u64 = std::fs::read_dir(d.root().join("content/blobs/sha256")).unwrap().map(|e| e.unwrap().metadata().unwrap().blocks() * 512).sum();
    assert_eq!(v["LayersSize"], blobs);
    assert_eq!(v["Images"][0]["Size"], blobs);
    assert_eq!(v["BuildCache"], serde_json::json!([]));
    let out = d.berth_ok(&["system", "df"]);
    assert!(out.starts_with("TYPE") && out.contains("Images          1"), "{out}");
    assert_eq!(d.berth_ok(&["info", "--format", "{{.Images}}"]).trim(), "1");
}

#[test]
fn tcp_listener_serves_the_same_api() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let net = NetSlot::claim();
    let mut child = DaemonArgs::new(&dir.path().join("root"))
        .host(&format!("tcp://127.0.0.1:{port}"))
        .unix(&dir.path().join("s.sock"))
        .net(&net)
        .command()
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let host = format!("tcp://127.0.0.1:{port}");
    let mut ok = false;
    for _ in 0..200 {
        let o = std::process::Command::new(BERTH).args(["-H", &host, "version", "--format", "{{.Server.ApiVersion}}"]).output().unwrap();
        if o.status.success() {
            assert_eq!(stdout(&o).trim(), "1.47");
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT);
    let status = child.wait().unwrap();
    assert!(ok, "daemon never answered on {host}");
    assert!(status.success(), "SIGINT must stop the daemon cleanly: {status:?}");
    assert!(!dir.path().join("s.sock").exists());
}

/// A start that fails once the services are open (here a taken TCP address, bound after them) undoes
/// what it set up: no bridge, no firewall chain set naming it, no socket file it had bound.
#[test]
fn a_failed_start_leaves_no_bridge_rules_or_socket() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let net = NetSlot::claim();
    let sock = dir.path().join("s.sock");
    let out = DaemonArgs::new(&dir.path().join("root")).unix(&sock).host(&format!("tcp://{addr}")).net(&net).command().output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(&addr), "the error names the taken address: {err}");
    assert!(!sock.exists(), "the socket bound before the failure is removed");
    let links = std::process::Command::new("ip").args(["-o", "link", "show", "dev", &net.bridge()]).output().unwrap();
    assert!(!links.status.success(), "bridge {} left: {}", net.bridge(), stdout(&links));
    for table in ["filter", "nat"] {
        let rules = std::process::Command::new("iptables").args(["-w", "10", "-t", table, "-S"]).output().unwrap();
        let left: Vec<String> = stdout(&rules).lines().filter(|l| l.split_whitespace().any(|w| w == net.bridge())).map(String::from).collect();
        assert!(left.is_empty(), "rules naming {} left in {table}: {left:?}", net.bridge());
    }
}

#[test]
fn import_from_url_and_unreachable_url() {
    let d = Daemon::start();
    let tar = std::fs::read(tiny_rootfs(d.dir.path(), "url")).unwrap();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let serve = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = server.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        write!(s, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", tar.len()).unwrap();
        s.write_all(&tar).unwrap();
    });
    let url = format!("http://127.0.0.1:{port}/rootfs.tar");
    let id = d.berth_ok(&["import", &url, "fromurl:1"]);
    serve.join().unwrap();
    assert!(id.trim().starts_with("sha256:"));
    let comment = d.berth_ok(&["image", "inspect", "--format", "{{.Comment}}", "fromurl:1"]);
    assert_eq!(comment.trim(), format!("Imported from {url}"));
    // Nothing listens on this port any more.
    let o = d.berth(&["import", &url, "fromurl:2"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("Error response from daemon") && err.contains(&url), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}
