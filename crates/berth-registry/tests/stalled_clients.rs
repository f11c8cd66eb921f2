//! Stalled clients are dropped after their timeout while the registry keeps serving everyone else:
//! a request body that stops arriving (upload `PATCH`/`PUT`, manifest `PUT`), a response the client
//! stops reading (a large blob `GET`), request headers that never finish, and idle keep-alive
//! connections. Raw TCP clients, so the stall is exactly where the test puts it.

mod common;

use berth_registry::GcOptions;
use berth_types::Digest;
use common::*;
use reqwest::StatusCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The timeout under test; long enough that a loaded CI machine serves a normal request well within it.
const LIMIT: Duration = Duration::from_millis(1000);

/// Reads until the server closes the connection; returns what arrived. Fails the test if the
/// connection is still open after `within`.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let res = tokio::time::timeout(within, async {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                // A reset is a close too.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
                Err(e) => panic!("read: {e}"),
            }
        }
    })
    .await;
    assert!(res.is_ok(), "the server kept the stalled connection open for {within:?}");
    out
}

/// Asserts the server has sent nothing on `s` yet (the connection is still held open).
async fn assert_still_open(s: &mut TcpStream) {
    let mut b = [0u8; 1];
    let r = tokio::time::timeout(Duration::from_millis(20), s.peek(&mut b)).await;
    assert!(r.is_err(), "the stalled connection got an answer before its timeout: {r:?}");
}

/// A normal request, timed: it must be served while the stalled clients are held.
async fn served_promptly(c: &reqwest::Client, url: &str) {
    let t = Instant::now();
    let r = c.get(format!("{url}/v2/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(t.elapsed() < LIMIT, "a normal request took {:?} while clients stalled", t.elapsed());
}

/// Sends `head` plus a body of which only the first 10 of the declared 100 bytes arrive.
async fn stall_mid_body(addr: std::net::SocketAddr, method: &str, path: &str, extra: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: 100\r\n\r\n0123456789");
    s.write_all(req.as_bytes()).await.unwrap();
    s
}

#[tokio::test]
async fn stalled_request_bodies_are_answered_and_dropped_and_uploads_expire() {
    let reg = TestRegistry::start(|c, _| c.idle_timeout = LIMIT).await;
    let c = client();
    let start_upload = || async {
        let r = c.post(format!("{}/v2/a/blobs/uploads/", reg.url)).send().await.unwrap();
        r.headers()["location"].to_str().unwrap().to_string()
    };
    let (patch_loc, put_loc) = (start_upload().await, start_upload().await);
    let never = Digest::of(b"never arrives");
    let stalled_at = Instant::now();
    let mut stalled = [
        ("PATCH", stall_mid_body(reg.addr, "PATCH", &patch_loc, "").await, "BLOB_UPLOAD_INVALID"),
        ("PUT upload", stall_mid_body(reg.addr, "PUT", &format!("{put_loc}?digest={never}"), "").await, "BLOB_UPLOAD_INVALID"),
        (
            "PUT manifest",
            stall_mid_body(reg.addr, "PUT", "/v2/a/manifests/t", &format!("Content-Type: {OCI_MANIFEST}\r\n")).await,
            "MANIFEST_INVALID",
        ),
    ];
    // Meanwhile the registry serves others, and still holds the stalled ones.
    served_promptly(&c, &reg.url).await;
    push_image(&c, &reg.url, "b", "v1", "meanwhile").await;
    for (_, s, _) in stalled.iter_mut() {
        assert_still_open(s).await;
    }
    for (what, s, code) in stalled.iter_mut() {
        let got = read_until_closed(s, LIMIT * 5).await;
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 400"), "{what}: {text}");
        assert!(text.contains(*code), "{what}: {text}");
    }
    assert!(stalled_at.elapsed() >= LIMIT, "dropped before the idle timeout: {:?}", stalled_at.elapsed());
    // Nothing became visible: no blob, no manifest. The partial chunk waits in its upload for expiry.
    let r = c.head(format!("{}/v2/a/blobs/{never}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.get(format!("{}/v2/a/manifests/t", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.get(format!("{}{patch_loc}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["range"], "0-9");
    // Expiry removes the abandoned uploads.
    let opts = GcOptions { upload_ttl: Duration::ZERO, ..GcOptions::default() };
    let report = berth_registry::gc_with(&reg.root(), &opts).unwrap();
    assert!(report.uploads_removed >= 2, "{report:?}");
    let r = c.get(format!("{}{patch_loc}", reg.url)).send().await.unwrap();
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn client_that_stops_reading_a_blob_is_dropped_while_others_are_served() {
    let reg = TestRegistry::start(|c, _| c.write_timeout = LIMIT).await;
    let c = client();
    // Larger than what the kernel buffers on both ends (4 MiB send buffer at most by default).
    let size = 16 << 20;
    let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    let d = push_blob(&c, &reg.url, "big", &data).await;
    // A client with a tiny receive window that asks for the blob and never reads.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut s = sock.connect(reg.addr).await.unwrap();
    s.write_all(format!("GET /v2/big/blobs/{d} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let stalled_at = Instant::now();
    // Meanwhile others are served, the same blob included.
    served_promptly(&c, &reg.url).await;
    let got = c.get(format!("{}/v2/big/blobs/{d}", reg.url)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(got.len(), size);
    // Past the timeout the server gives up on the reader: what it had queued arrives, then EOF.
    tokio::time::sleep(LIMIT * 2).await;
    let got = read_until_closed(&mut s, LIMIT * 5).await;
    assert!(String::from_utf8_lossy(&got[..12]).starts_with("HTTP/1.1 200"));
    assert!(got.len() < size, "the whole blob arrived ({} bytes): the stalled reader was not dropped", got.len());
    assert!(stalled_at.elapsed() >= LIMIT);
    served_promptly(&c, &reg.url).await;
    reg.stop().await;
}

#[tokio::test]
async fn unfinished_headers_and_idle_keep_alive_connections_are_closed() {
    let reg = TestRegistry::start(|c, _| c.header_timeout = LIMIT).await;
    let c = client();
    let mut slow = TcpStream::connect(reg.addr).await.unwrap();
    slow.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut idle = TcpStream::connect(reg.addr).await.unwrap();
    idle.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let t = Instant::now();
    served_promptly(&c, &reg.url).await;
    assert_still_open(&mut slow).await;
    let got = read_until_closed(&mut slow, LIMIT * 5).await;
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"), "{}", String::from_utf8_lossy(&got));
    read_until_closed(&mut idle, LIMIT * 5).await;
    assert!(t.elapsed() >= LIMIT / 2);
    reg.stop().await;
}
