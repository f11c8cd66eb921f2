//! `berth registry --proxy-remote-url`: a pull-through cache in front of another registry. Two real
//! `berth registry` processes on loopback (an upstream with token auth, and the cache), pulls with
//! the stock docker CLI through a Berth daemon, the upstream stopped; and a stub upstream in this
//! test for what a real registry never does (corrupt blobs, held responses) and to count fetches.

mod common;
use common::*;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

#[test]
fn docker_pulls_through_a_cache_of_a_token_auth_upstream_and_from_cache_when_it_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{}\n", bcrypt::hash("right-pass", 4).unwrap())).unwrap();
    let mut upstream = Registry::opts().root(&dir.path().join("up")).args(&["--auth", &format!("token:{}", htpasswd.display())]).start();
    let a = Daemon::start();
    let up_name = format!("127.0.0.1:{}/lib/bb:1", upstream.port);
    a.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), &up_name]);
    let cfg = a.dir.path().join("cfg");
    let o = berth_with_config(&a, &cfg, &["login", "-u", "alice", "--password-stdin", &upstream.addr], "right-pass\n");
    assert!(o.status.success(), "{}", stderr(&o));
    let o = berth_with_config(&a, &cfg, &["push", &up_name], "");
    assert!(o.status.success(), "{}", stderr(&o));
    let id = a.berth_ok(&["image", "inspect", "-f", "{{.Id}}", &up_name]).trim().to_string();

    // Without credentials for the upstream, the cache cannot fetch: a clear 503, not a hang.
    let anon = Registry::opts().root(&dir.path().join("anon")).args(&["--proxy-remote-url", &upstream.url()]).start();
    let r = request(anon.port, "GET", "/v2/lib/bb/manifests/1", &[], b"");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("UNAVAILABLE") && r.text().contains("authentication"), "{}", r.text());

    let proxy = Registry::opts()
        .root(&dir.path().join("cache"))
        .args(&["--proxy-remote-url", &upstream.url(), "--proxy-username", "alice", "--proxy-password", "right-pass"])
        .start();
    let b = Daemon::start();
    let name = format!("127.0.0.1:{}/lib/bb:1", proxy.port);
    b.docker_ok(&["pull", &name]);
    assert_eq!(b.berth_ok(&["image", "inspect", "-f", "{{.Id}}", &name]).trim(), id);
    assert_eq!(b.berth_ok(&["run", "--rm", &name, "echo", "through-the-cache"]).trim(), "through-the-cache");
    let digest = b.berth_ok(&["image", "inspect", "-f", "{{index .RepoDigests 0}}", &name]).trim().rsplit('@').next().unwrap().to_string();

    // Pushes and deletes are refused as distribution refuses them.
    let r = request(proxy.port, "POST", "/v2/lib/bb/blobs/uploads/", &[], b"");
    assert_eq!(r.status, 405, "{}", r.text());
    assert!(r.text().contains("UNSUPPORTED"), "{}", r.text());
    let r = request(proxy.port, "DELETE", &format!("/v2/lib/bb/manifests/{digest}"), &[], b"");
    assert_eq!(r.status, 405, "{}", r.text());

    // The upstream goes away: what was cached still pulls, by tag and by digest, with the stock CLI.
    assert!(upstream.stop().is_some());
    let c = Daemon::start();
    c.docker_ok(&["pull", &name]);
    assert_eq!(c.berth_ok(&["image", "inspect", "-f", "{{.Id}}", &name]).trim(), id);
    c.docker_ok(&["pull", &format!("127.0.0.1:{}/lib/bb@{digest}", proxy.port)]);
    assert_eq!(c.berth_ok(&["run", "--rm", &name, "echo", "offline"]).trim(), "offline");
    // What was never cached fails with the upstream's unavailability, in one line.
    let o = c.docker(&["pull", &format!("127.0.0.1:{}/lib/other:1", proxy.port)]);
    assert!(!o.status.success());
    let r = request(proxy.port, "GET", "/v2/lib/other/manifests/1", &[], b"");
    assert_eq!(r.status, 503, "{}", r.text());
}

/// The daemon's `--registry-mirror` pointed at a pull-through cache: `docker pull NAME` (a docker.io
/// reference) goes daemon → cache → upstream (the stub, which counts what it serves), once; the next
/// pull comes from the cache alone; and the cache's tag list is the upstream's, not just what it cached.
#[test]
fn daemon_mirror_pulls_through_the_cache_and_tag_lists_come_from_upstream() {
    let stub = Stub::start();
    // A real image: the BusyBox rootfs as its one layer.
    let layer = std::fs::read(busybox_tarball()).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer[..]).read_to_end(&mut tar).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": [sha256(&tar)] },
    })
    .to_string()
    .into_bytes();
    let (layer_d, config_d) = (sha256(&layer), sha256(&config));
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d, "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_d, "size": layer.len() }],
    })
    .to_string()
    .into_bytes();
    let repo = "library/mirrored";
    stub.blob(repo, &layer_d, layer.clone(), None);
    stub.blob(repo, &config_d, config.clone(), None);
    stub.manifest(repo, "1.0", &manifest);
    stub.manifest(repo, &sha256(&manifest), &manifest);
    let upstream_tags = br#"{"name":"library/mirrored","tags":["1.0","2.0","latest"]}"#.to_vec();
    let json = vec![("Content-Type".to_string(), "application/json".to_string())];
    stub.set(&format!("/v2/{repo}/tags/list"), Reply { status: 200, headers: json.clone(), body: upstream_tags, hold_at: None });

    let dir = tempfile::tempdir().unwrap();
    let cache = Registry::opts().root(dir.path()).args(&["--proxy-remote-url", &stub.url()]).start();
    let mirror = format!("http://127.0.0.1:{}", cache.port);
    let a = Daemon::start_with(&["--registry-mirror", &mirror]);
    let out = a.docker_ok(&["pull", "mirrored:1.0"]);
    assert!(out.contains("docker.io/library/mirrored:1.0"), "{out}");
    assert_eq!(a.berth_ok(&["run", "--rm", "--network", "none", "mirrored:1.0", "echo", "via-mirror"]).trim(), "via-mirror");
    let (layer_path, config_path) = (format!("/v2/{repo}/blobs/{layer_d}"), format!("/v2/{repo}/blobs/{config_d}"));
    assert_eq!((stub.gets(&layer_path), stub.gets(&config_path)), (1, 1), "the cache fetched each blob from the upstream once");
    assert!(blob_file(&dir.path().join("reg"), &layer_d).exists() || wait_for_file(&blob_file(&dir.path().join("reg"), &layer_d)));

    // Another daemon with the same mirror: the blobs come from the cache alone.
    let b = Daemon::start_with(&["--registry-mirror", &mirror]);
    b.docker_ok(&["pull", "mirrored:1.0"]);
    assert_eq!(b.berth_ok(&["image", "inspect", "-f", "{{.Id}}", "mirrored:1.0"]).trim(), config_d);
    assert_eq!((stub.gets(&layer_path), stub.gets(&config_path)), (1, 1), "a cached image is not fetched again");

    // The cache holds one tag; its tag list is the upstream's, as distribution's proxy forwards it.
    let r = request(cache.port, "GET", &format!("/v2/{repo}/tags/list"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let tags: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["1.0", "2.0", "latest"]), "{}", r.text());
    // Paged as the client asks, over the upstream's list.
    let r = request(cache.port, "GET", &format!("/v2/{repo}/tags/list?n=1&last=1.0"), &[], b"");
    let tags: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["2.0"]), "{}", r.text());
    assert!(r.header("Link").is_some_and(|l| l.contains("last=2.0")), "{:?}", r.header("Link"));
    // The upstream fails: the cache lists what it holds.
    stub.set(&format!("/v2/{repo}/tags/list"), Reply { status: 500, headers: json, body: vec![], hold_at: None });
    let r = request(cache.port, "GET", &format!("/v2/{repo}/tags/list"), &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let tags: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["1.0"]), "{}", r.text());
}

fn wait_for_file(p: &std::path::Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// What the stub upstream answers for a path.
#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send only this many body bytes, then wait for the gate to open.
    hold_at: Option<usize>,
}

#[derive(Default)]
struct StubState {
    replies: HashMap<String, Reply>,
    gets: HashMap<String, usize>,
}

/// A tiny HTTP/1.1 upstream: one request per connection, replies from a table, GETs counted.
struct Stub {
    port: u16,
    state: Arc<Mutex<StubState>>,
    gate: Arc<(Mutex<bool>, Condvar)>,
}

impl Stub {
    fn start() -> Stub {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(StubState::default()));
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let (st, g) = (state.clone(), gate.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { return };
                let (st, g) = (st.clone(), g.clone());
                std::thread::spawn(move || serve_stub(conn, &st, &g));
            }
        });
        Stub { port, state, gate }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set(&self, path: &str, r: Reply) {
        self.state.lock().unwrap().replies.insert(path.to_string(), r);
    }

    fn gets(&self, path: &str) -> usize {
        self.state.lock().unwrap().gets.get(path).copied().unwrap_or(0)
    }

    fn open_gate(&self) {
        *self.gate.0.lock().unwrap() = true;
        self.gate.1.notify_all();
    }

    fn blob(&self, name: &str, digest: &str, body: Vec<u8>, hold_at: Option<usize>) {
        let headers = vec![("Docker-Content-Digest".to_string(), digest.to_string()), ("Content-Type".into(), "application/octet-stream".into())];
        self.set(&format!("/v2/{name}/blobs/{digest}"), Reply { status: 200, headers, body, hold_at });
    }

    fn manifest(&self, name: &str, reference: &str, body: &[u8]) {
        let headers = vec![("Docker-Content-Digest".to_string(), sha256(body)), ("Content-Type".into(), "application/vnd.oci.image.manifest.v1+json".into())];
        self.set(&format!("/v2/{name}/manifests/{reference}"), Reply { status: 200, headers, body: body.to_vec(), hold_at: None });
    }
}

fn serve_stub(conn: TcpStream, st: &Mutex<StubState>, gate: &(Mutex<bool>, Condvar)) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
    }
    let reply = {
        let mut s = st.lock().unwrap();
        if method == "GET" {
            *s.gets.entry(path.clone()).or_default() += 1;
        }
        s.replies.get(&path).cloned()
    };
    let reply = reply.unwrap_or(Reply { status: 404, headers: vec![("Content-Type".into(), "application/json".into())], body: br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}"#.to_vec(), hold_at: None });
    let mut w = conn;
    let mut head = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n", reply.status, reply.body.len());
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if w.write_all(head.as_bytes()).is_err() || method == "HEAD" {
        return;
    }
    let cut = reply.hold_at.unwrap_or(reply.body.len()).min(reply.body.len());
    let _ = w.write_all(&reply.body[..cut]);
    let _ = w.flush();
    if cut < reply.body.len() {
        let mut open = gate.0.lock().unwrap();
        while !*open {
            open = gate.1.wait(open).unwrap();
        }
        drop(open);
        let _ = w.write_all(&reply.body[cut..]);
    }
}

/// A GET whose body is read as it comes: status, declared length, and a reader positioned at the body.
fn open_get(port: u16, path: &str) -> (u16, Option<usize>, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut len = None;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok();
            }
        }
    }
    (status, len, r)
}

/// Reads what is left of a body until EOF or an error (a cut connection).
fn read_rest(r: &mut BufReader<TcpStream>, into: &mut Vec<u8>) {
    let mut buf = [0u8; 65536];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => into.extend_from_slice(&buf[..n]),
        }
    }
}

fn blob_file(root: &std::path::Path, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    root.join("blobs/sha256").join(&hex[..2]).join(hex).join("data")
}

#[test]
fn cache_streams_fetches_once_verifies_digests_and_refreshes_tags() {
    let stub = Stub::start();
    let dir = tempfile::tempdir().unwrap();
    let proxy = Registry::opts().root(dir.path()).args(&["--proxy-remote-url", &stub.url()]).start();
    let root = dir.path().join("reg");

    // A 4 MiB blob the stub sends half of, then holds until the gate opens.
    let big: Vec<u8> = (0..4u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let big_d = sha256(&big);
    stub.blob("lib/app", &big_d, big.clone(), Some(big.len() / 2));
    let path = format!("/v2/lib/app/blobs/{big_d}");
    // Four concurrent pulls: each gets the first half while the upstream still holds the rest
    // (streamed, not buffered), and the upstream saw one GET.
    let (tx, rx) = std::sync::mpsc::channel();
    let pulls: Vec<_> = (0..4)
        .map(|_| {
            let (path, tx) = (path.clone(), tx.clone());
            let port = proxy.port;
            std::thread::spawn(move || {
                let (status, len, mut r) = open_get(port, &path);
                let mut got = vec![0u8; 1 << 20];
                r.read_exact(&mut got).unwrap();
                tx.send(()).unwrap();
                read_rest(&mut r, &mut got);
                (status, len, got)
            })
        })
        .collect();
    for _ in 0..4 {
        rx.recv_timeout(Duration::from_secs(30)).expect("a client got no bytes while the upstream held the blob");
    }
    assert_eq!(stub.gets(&path), 1, "concurrent pulls of one blob fetch it once");
    assert!(!blob_file(&root, &big_d).exists(), "not stored before it is complete and verified");
    stub.open_gate();
    for p in pulls {
        let (status, len, got) = p.join().unwrap();
        assert_eq!((status, len), (200, Some(big.len())));
        assert_eq!(sha256(&got), big_d);
    }
    // Cached: served without the upstream.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !blob_file(&root, &big_d).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(blob_file(&root, &big_d).exists());
    let r = request(proxy.port, "GET", &path, &[("Range", "bytes=10-19")], b"");
    assert_eq!((r.status, &r.body[..]), (206, &big[10..20]));
    assert_eq!(stub.gets(&path), 1);

    // An upstream that sends bytes not matching the digest: the client's download fails (cut
    // short of its Content-Length), nothing is stored, and the next pull asks the upstream again.
    let good: Vec<u8> = b"the real layer ".repeat(20_000);
    let good_d = sha256(&good);
    let mut corrupt = good.clone();
    corrupt[1000] ^= 0xff;
    stub.blob("lib/app", &good_d, corrupt, None);
    let bad_path = format!("/v2/lib/app/blobs/{good_d}");
    for attempt in 1..=2 {
        let (status, len, mut r) = open_get(proxy.port, &bad_path);
        let mut got = Vec::new();
        read_rest(&mut r, &mut got);
        assert!(status != 200 || Some(got.len()) != len, "attempt {attempt}: a corrupt blob was served whole");
        assert!(!blob_file(&root, &good_d).exists(), "a corrupt blob must not be cached");
        assert_eq!(stub.gets(&bad_path), attempt);
    }
    stub.blob("lib/app", &good_d, good.clone(), None);
    let r = request(proxy.port, "GET", &bad_path, &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(sha256(&r.body), good_d);

    // Manifests: a tag follows the upstream (tag TTL 0), falls back to the cache when the upstream
    // fails, and a manifest whose bytes do not match the upstream's digest is refused.
    let m1 = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    let m2 = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"annotations":{"v":"2"}}"#;
    let accept = [("Accept", "application/vnd.oci.image.manifest.v1+json")];
    stub.manifest("lib/app", "v1", m1);
    let r = request(proxy.port, "GET", "/v2/lib/app/manifests/v1", &accept, b"");
    assert_eq!((r.status, r.header("Docker-Content-Digest").map(str::to_string)), (200, Some(sha256(m1))), "{}", r.text());
    stub.manifest("lib/app", "v1", m2);
    let r = request(proxy.port, "GET", "/v2/lib/app/manifests/v1", &accept, b"");
    assert_eq!(r.header("Docker-Content-Digest").map(str::to_string), Some(sha256(m2)), "the tag moved upstream");
    stub.set("/v2/lib/app/manifests/v1", Reply { status: 500, headers: vec![], body: vec![], hold_at: None });
    let r = request(proxy.port, "GET", "/v2/lib/app/manifests/v1", &accept, b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &m2[..]), "stale tag served while the upstream fails");
    let r = request(proxy.port, "GET", &format!("/v2/lib/app/manifests/{}", sha256(m1)), &accept, b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &m1[..]), "cached by digest");
    let mut lying = m2.to_vec();
    lying.extend_from_slice(b" ");
    let claimed = sha256(b"what the upstream claims");
    stub.set("/v2/lib/app/manifests/v3", Reply { status: 200, headers: vec![("Docker-Content-Digest".into(), claimed), ("Content-Type".into(), "application/vnd.oci.image.manifest.v1+json".into())], body: lying, hold_at: None });
    let r = request(proxy.port, "GET", "/v2/lib/app/manifests/v3", &accept, b"");
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("invalid content"), "{}", r.text());
}

#[test]
fn expired_cache_content_is_removed_and_fetched_again() {
    let stub = Stub::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("registry.yml");
    std::fs::write(
        &cfg,
        format!("storage:\n  filesystem: {{rootdirectory: {}}}\nproxy:\n  remoteurl: {}\n  ttl: 2s\ngc:\n  interval: 0\n  grace: 0s\n", dir.path().join("reg").display(), stub.url()),
    )
    .unwrap();
    let proxy = Registry::opts().root(dir.path()).args(&["--config", cfg.to_str().unwrap()]).start();
    let root = dir.path().join("reg");
    let layer = b"expiring layer".repeat(1000);
    let d = sha256(&layer);
    stub.blob("lib/x", &d, layer.clone(), None);
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{d}","size":{}}},"layers":[]}}"#,
        layer.len()
    );
    stub.manifest("lib/x", "t", m.as_bytes());
    assert_eq!(request(proxy.port, "GET", "/v2/lib/x/manifests/t", &[], b"").status, 200);
    assert_eq!(request(proxy.port, "GET", &format!("/v2/lib/x/blobs/{d}"), &[], b"").status, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !blob_file(&root, &d).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(blob_file(&root, &d).exists(), "cached");
    assert!(blob_file(&root, &sha256(m.as_bytes())).exists(), "manifest cached");
    // After the TTL the scheduler unlinks it and the collection removes the bytes.
    let deadline = Instant::now() + Duration::from_secs(20);
    while (blob_file(&root, &d).exists() || blob_file(&root, &sha256(m.as_bytes())).exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!blob_file(&root, &d).exists(), "expired blob removed");
    assert!(!blob_file(&root, &sha256(m.as_bytes())).exists(), "expired manifest removed");
    let r = request(proxy.port, "GET", &format!("/v2/lib/x/blobs/{d}"), &[], b"");
    assert_eq!((r.status, sha256(&r.body)), (200, d.clone()));
    assert_eq!(stub.gets(&format!("/v2/lib/x/blobs/{d}")), 2, "fetched again after expiry");
}
