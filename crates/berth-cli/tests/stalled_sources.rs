//! Sources that stall (issue 15, item 2): an `import` from a URL whose server stops answering fails
//! with a clear error once the download's read timeout passes, and leaves nothing; a pull whose
//! every client went away stops and leaves no partial blob, while a pull another client still waits
//! for goes on and completes for it. The servers are made here, on loopback.

mod common;
use common::*;
use sha2::Digest as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The import's per-read timeout (the `ADD` fetcher's, `READ_TIMEOUT` in berth-daemon).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads one request head; returns its method and path. A TLS handshake (a client trying HTTPS
/// first, as registry clients do with a loopback registry) gets the connection closed.
fn read_request(s: &mut TcpStream) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 || (head.is_empty() && b[0] == 0x16) {
            return None;
        }
        head.push(b[0]);
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
    let mut parts = line.split_whitespace();
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

/// Every file under `dir`s of the data root, for a before/after comparison.
fn files(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["content", "image", "tmp"] {
        let o = std::process::Command::new("find").arg(root.join(sub)).args(["-type", "f"]).output().unwrap();
        out.extend(stdout(&o).lines().map(str::to_string));
    }
    out.sort();
    out
}

#[test]
fn an_import_from_a_stalled_url_fails_at_the_read_timeout_and_leaves_nothing() {
    let d = Daemon::start();
    let before = files(&d.root());
    // One server answers with headers and part of the body, then stalls; the other accepts and
    // never answers. Both hold their connections until the test ends.
    let held = Arc::new(Mutex::new(Vec::new()));
    let serve = |answer: bool| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let held = held.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                if answer && read_request(&mut s).is_some() {
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: 1048576\r\n\r\n");
                    let _ = s.write_all(&[0u8; 4096]);
                }
                held.lock().unwrap().push(s);
            }
        });
        port
    };
    let ports = [serve(true), serve(false)];
    let imports: Vec<_> = ports
        .into_iter()
        .enumerate()
        .map(|(i, port)| {
            let sock = d.sock.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let path = format!("/images/create?fromSrc=http://127.0.0.1:{port}/rootfs.tar&repo=stalled{i}&tag=1");
                let r = http(&sock, "POST", &path, b"");
                (r, t.elapsed())
            })
        })
        .collect();
    for (i, t) in imports.into_iter().enumerate() {
        let ((status, _, body), took) = t.join().unwrap();
        let body = String::from_utf8_lossy(&body).into_owned();
        let what = if i == 0 { "headers then silence" } else { "no answer" };
        assert!(status >= 400, "{what}: the import answered {status}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: not a JSON error ({e}): {body}"));
        let msg = v["message"].as_str().unwrap_or_default().to_lowercase();
        assert!(msg.contains("timed out") || msg.contains("timeout"), "{what}: no clear reason: {body}");
        assert!(took >= READ_TIMEOUT - Duration::from_secs(2), "{what}: failed after {took:?}, before the timeout: {body}");
        assert!(took < READ_TIMEOUT + Duration::from_secs(30), "{what}: took {took:?}");
        assert!(!d.berth(&["image", "inspect", &format!("stalled{i}:1")]).status.success(), "{what}: an image was made");
    }
    assert_eq!(files(&d.root()), before, "the failed imports left files");
    let (status, _, _) = http(&d.sock, "GET", "/_ping", b"");
    assert_eq!(status, 200);
}

/// A registry of one image whose only layer is sent a little at a time until `release` is set.
struct SlowRegistry {
    port: u16,
    layer: String,
    /// Requests for the layer blob.
    layer_gets: Arc<AtomicUsize>,
    /// Bytes of the layer sent so far (all connections).
    sent: Arc<AtomicUsize>,
    /// A layer download ended because the client closed the connection.
    dropped: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
}

impl SlowRegistry {
    fn start(repo: &str) -> SlowRegistry {
        // A layer of 300 kB of random bytes (gzip cannot shrink it).
        let mut data = vec![0u8; 300_000];
        let mut x: u64 = 0x9e3779b97f4a7c15 ^ repo.len() as u64 ^ std::process::id() as u64;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "payload", &data[..]).unwrap();
        let tar = tar.into_inner().unwrap();
        let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar)));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let layer_bytes = gz.finish().unwrap();
        let digest = |b: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)));
        let layer = digest(&layer_bytes);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {"Cmd": ["/payload"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .unwrap();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": digest(&config)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": layer_bytes.len(), "digest": layer}],
        }))
        .unwrap();
        let (config_digest, manifest_digest) = (digest(&config), digest(&manifest));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let reg = SlowRegistry {
            port,
            layer: layer.clone(),
            layer_gets: Default::default(),
            sent: Default::default(),
            dropped: Default::default(),
            release: Default::default(),
        };
        let (gets, sent, dropped, release) = (reg.layer_gets.clone(), reg.sent.clone(), reg.dropped.clone(), reg.release.clone());
        let repo = repo.to_string();
        let docs = Arc::new((manifest, manifest_digest, config, config_digest, layer_bytes));
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                let (docs, layer, repo) = (docs.clone(), layer.clone(), repo.clone());
                let (gets, sent, dropped, release) = (gets.clone(), sent.clone(), dropped.clone(), release.clone());
                std::thread::spawn(move || {
                    let Some((method, path)) = read_request(&mut s) else { return };
                    let (manifest, manifest_digest, config, config_digest, layer_bytes) = &*docs;
                    let reply = |s: &mut TcpStream, status: &str, ctype: &str, extra: &str, body: &[u8]| {
                        let head = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n", body.len());
                        let _ = s.write_all(head.as_bytes());
                        if method != "HEAD" {
                            let _ = s.write_all(body);
                        }
                    };
                    if path == "/v2/" {
                        reply(&mut s, "200 OK", "application/json", "", b"{}");
                    } else if path == format!("/v2/{repo}/manifests/1") || path == format!("/v2/{repo}/manifests/{manifest_digest}") {
                        let extra = format!("Docker-Content-Digest: {manifest_digest}\r\n");
                        reply(&mut s, "200 OK", "application/vnd.docker.distribution.manifest.v2+json", &extra, manifest);
                    } else if path == format!("/v2/{repo}/blobs/{config_digest}") {
                        reply(&mut s, "200 OK", "application/octet-stream", "", config);
                    } else if path == format!("/v2/{repo}/blobs/{layer}") && method == "GET" {
                        gets.fetch_add(1, Ordering::SeqCst);
                        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", layer_bytes.len());
                        if s.write_all(head.as_bytes()).is_err() {
                            return;
                        }
                        // 64 kB at once, then 512 bytes every 50 ms until released, then the rest.
                        let mut at = 0;
                        while at < layer_bytes.len() {
                            let n = if at == 0 { 65536 } else if release.load(Ordering::SeqCst) { layer_bytes.len() - at } else { 512 };
                            let n = n.min(layer_bytes.len() - at);
                            if s.write_all(&layer_bytes[at..at + n]).and_then(|()| s.flush()).is_err() {
                                dropped.store(true, Ordering::SeqCst);
                                return;
                            }
                            at += n;
                            sent.fetch_add(n, Ordering::SeqCst);
                            if !release.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    } else {
                        reply(&mut s, "404 Not Found", "application/json", "", br#"{"errors":[{"code":"NOT_FOUND","message":"not here"}]}"#);
                    }
                });
            }
        });
        reg
    }

    /// Waits until the layer has started to flow.
    fn wait_flowing(&self) {
        assert!(
            wait_for(Duration::from_secs(30), || self.sent.load(Ordering::SeqCst) > 65536),
            "the layer download never started ({} requests)",
            self.layer_gets.load(Ordering::SeqCst)
        );
    }
}

/// A client of `POST /images/create` on a connection of its own; dropping it is the client going.
struct PullClient {
    stream: std::os::unix::net::UnixStream,
}

impl PullClient {
    fn start(d: &Daemon, port: u16, repo: &str) -> PullClient {
        let mut stream = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
        let req = format!("POST /images/create?fromImage=127.0.0.1:{port}/{repo}&tag=1 HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        stream.write_all(req.as_bytes()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        PullClient { stream }
    }

    /// Reads until the response has started (its status line and first progress message).
    fn wait_started(&mut self) {
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("Pulling") {
            let n = self.stream.read(&mut b).unwrap();
            assert!(n > 0, "the pull ended early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&b[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got));
    }

    /// Reads the rest of the response.
    fn finish(mut self) -> String {
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest).unwrap();
        String::from_utf8_lossy(&rest).into_owned()
    }
}

#[test]
fn a_pull_goes_on_while_a_client_waits_for_it_and_stops_when_none_does() {
    let d = Daemon::start();
    let blobs = blob_count(&d.root());
    let reg = SlowRegistry::start("slow/shared");
    let mut first = PullClient::start(&d, reg.port, "slow/shared");
    first.wait_started();
    reg.wait_flowing();
    // A second client of the same image joins the pull in flight; the first one goes.
    let mut second = PullClient::start(&d, reg.port, "slow/shared");
    second.wait_started();
    drop(first);
    let sent = reg.sent.load(Ordering::SeqCst);
    assert!(wait_for(Duration::from_secs(5), || reg.sent.load(Ordering::SeqCst) > sent + 4096), "the layer stopped flowing when one of two clients went");
    assert!(!reg.dropped.load(Ordering::SeqCst), "the download was dropped while a client still waited for it");
    reg.release.store(true, Ordering::SeqCst);
    let out = second.finish();
    assert!(out.contains("Downloaded newer image for 127.0.0.1"), "{out}");
    assert!(!out.contains("\"error\""), "{out}");
    assert_eq!(reg.layer_gets.load(Ordering::SeqCst), 1, "the two clients did not share one download");
    d.berth_ok(&["image", "inspect", &format!("127.0.0.1:{}/slow/shared:1", reg.port)]);
    let with_image = blob_count(&d.root());
    assert!(with_image > blobs);

    // Alone, a client that goes takes its pull with it: the download stops, and no blob, ingest
    // file or image of it stays.
    let reg = SlowRegistry::start("slow/alone");
    let mut only = PullClient::start(&d, reg.port, "slow/alone");
    only.wait_started();
    reg.wait_flowing();
    drop(only);
    // (The daemon learns that a client went when it writes to it: a keep-alive every 3 s at most.)
    assert!(wait_for(Duration::from_secs(20), || reg.dropped.load(Ordering::SeqCst)), "the download went on after its only client went");
    let ingest = d.root().join("content").join("ingest");
    let leftovers = || std::fs::read_dir(&ingest).map(|r| r.flatten().map(|e| e.path()).collect::<Vec<_>>()).unwrap_or_default();
    assert!(wait_for(Duration::from_secs(10), || leftovers().is_empty()), "partial blobs left: {:?}", leftovers());
    assert!(!d.berth(&["image", "inspect", &format!("127.0.0.1:{}/slow/alone:1", reg.port)]).status.success());
    assert!(wait_for(Duration::from_secs(10), || blob_count(&d.root()) == with_image), "a blob of the cancelled pull stayed");
    let tmp: Vec<_> = std::fs::read_dir(d.root().join("tmp")).map(|r| r.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
    assert!(reg.layer.starts_with("sha256:"));
    // The same pull again, with the layer released, completes (nothing of the cancelled one is in the way).
    reg.release.store(true, Ordering::SeqCst);
    let again = PullClient::start(&d, reg.port, "slow/alone").finish();
    assert!(again.contains("Downloaded newer image for 127.0.0.1"), "{again}");
}
