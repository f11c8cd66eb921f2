//! Slow and hostile clients: what they send is refused with Docker's `{"message": …}` and a 4xx,
//! and whatever they do, the daemon keeps serving everyone else.

mod common;
use common::*;
use std::time::Duration;

/// The daemon still answers (no task or thread of it died on the way).
fn alive(d: &Daemon) {
    let (status, _, body) = http(&d.sock, "GET", "/_ping", b"");
    assert_eq!((status, body.as_slice()), (200, &b"OK"[..]));
}

fn message(body: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)));
    v["message"].as_str().unwrap_or_else(|| panic!("no message: {v}")).to_string()
}

#[test]
fn event_times_beyond_any_clock_are_answered_not_panicked_on() {
    use std::io::{Read, Write};
    let d = Daemon::start();
    // `until` far in the future: the stream stays open (it used to panic its task, which ended
    // the response at once).
    for q in ["until=1e300", "since=0&until=1e308"] {
        let mut s = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
        write!(s, "GET /events?{q} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break,
                Err(e) => panic!("{q}: {e}"),
            }
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200"), "{q}: {text}");
        assert!(!text.ends_with("0\r\n\r\n"), "{q}: the stream ended at once: {text}");
    }
    for q in ["until=NaN", "until=inf", "since=-inf", "until=1e400"] {
        let (status, _, body) = http(&d.sock, "GET", &format!("/events?{q}"), b"");
        assert_eq!(status, 400, "{q}: {}", String::from_utf8_lossy(&body));
        // dockerd's words: the value read as seconds by Go's strconv.
        assert!(message(&body).contains("invalid syntax"), "{q}: {}", message(&body));
    }
    alive(&d);
}

/// Sends `raw` on a fresh unix connection and reads until the daemon closes it or `wait` passes.
/// Returns what came back and whether the daemon closed the connection.
/// A write the daemon cut short (it answered before reading everything) is not an error.
fn exchange(sock: &std::path::Path, raw: &[u8], wait: Duration) -> (String, bool) {
    use std::io::Write;
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    let _ = s.write_all(raw);
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    read_for(&mut s, wait)
}

fn read_for(s: &mut impl std::io::Read, wait: Duration) -> (String, bool) {
    let deadline = std::time::Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if std::time::Instant::now() >= deadline {
                    return (String::from_utf8_lossy(&got).into_owned(), false);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (String::from_utf8_lossy(&got).into_owned(), true),
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn status_of(resp: &str) -> u16 {
    resp.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {resp:?}"))
}

fn body_of(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
}

#[test]
fn slow_headers_and_stalled_bodies_are_cut_off_while_others_are_served() {
    use std::io::Write;
    let d = Daemon::start_with(&["--api-read-timeout", "2"]);
    // A slowloris: half a request's headers, then nothing. The daemon closes it after the read
    // timeout (2 s here), and serves everyone else meanwhile.
    let mut slow = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    slow.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let t0 = std::time::Instant::now();
    alive(&d);
    let (got, closed) = read_for(&mut slow, Duration::from_secs(15));
    assert!(closed, "a connection stuck in its headers was kept open for 15 s: {got:?}");
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(1500), "closed after {took:?}, before the read timeout");
    // A body that stops halfway: a 400 with Docker's shape once the body stalls for the timeout.
    let mut stalled = std::os::unix::net::UnixStream::connect(&d.sock).unwrap();
    stalled.write_all(b"POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"Image\":").unwrap();
    stalled.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    alive(&d);
    let (got, _) = read_for(&mut stalled, Duration::from_secs(15));
    assert_eq!(status_of(&got), 400, "{got}");
    assert!(message(body_of(&got).as_bytes()).contains("not received within the designated timeout"), "{got}");
    alive(&d);
}

#[test]
fn connections_beyond_the_cap_get_a_503_and_one_tcp_peer_gets_only_its_share() {
    use std::io::Write;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let d = Daemon::start_with(&["--max-connections", "8", "-H", &tcp]);
    // One TCP address holds at most a quarter of the slots (2 of 8): a third connection from it
    // is refused while unix clients are still served.
    let held: Vec<std::net::TcpStream> = (0..2).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut third = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    third.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    third.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let (got, closed) = read_for(&mut third, Duration::from_secs(10));
    assert_eq!(status_of(&got), 503, "{got}");
    assert!(message(body_of(&got).as_bytes()).contains("too many connections from 127.0.0.1"), "{got}");
    assert!(closed, "the refused connection stays open");
    alive(&d);
    // Idle unix connections up to the cap: the next client gets a 503 with Docker's error shape.
    let idle: Vec<std::os::unix::net::UnixStream> = (0..6).map(|_| std::os::unix::net::UnixStream::connect(&d.sock).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let (got, closed) = exchange(&d.sock, b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n", Duration::from_secs(10));
    assert_eq!(status_of(&got), 503, "{got}");
    assert!(message(body_of(&got).as_bytes()).contains("too many connections"), "{got}");
    assert!(closed);
    // Slots come back when their connections go.
    drop(idle);
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = http(&d.sock, "GET", "/_ping", b"");
        if status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slots were not released: still {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn oversized_headers_get_431_and_oversized_or_malformed_bodies_a_400() {
    let d = Daemon::start();
    // Headers beyond dockerd's limit (Go's 1 MiB): 431, as dockerd answers.
    let big = format!("GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(1100 << 10));
    let (got, _) = exchange(&d.sock, big.as_bytes(), Duration::from_secs(10));
    assert_eq!(status_of(&got), 431, "{got}");
    // Many headers within the size are served (hyper's default would refuse more than 100).
    let many: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (got, _) = exchange(&d.sock, format!("GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{many}\r\n").as_bytes(), Duration::from_secs(10));
    assert_eq!(status_of(&got), 200, "{got}");
    // A JSON body beyond the limit: a 400 in Docker's shape, not the framework's plain 413.
    let mut body = br#"{"Image":"busybox","Env":["A="#.to_vec();
    body.extend(std::iter::repeat_n(b'x', 5 << 20));
    body.extend_from_slice(br#""]}"#);
    let mut raw = format!("POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    raw.extend_from_slice(&body);
    let (got, _) = exchange(&d.sock, &raw, Duration::from_secs(10));
    assert_eq!(status_of(&got), 400, "{got}");
    assert!(got.contains("Content-Type: application/json"), "{got}");
    assert!(message(body_of(&got).as_bytes()).contains("larger than"), "{got}");
    for bad in [&b"{"[..], b"[1,2", b"\xff\xfe", b"{\"Image\": 5}"] {
        let (status, _, resp) = http(&d.sock, "POST", "/containers/create", bad);
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(&resp));
        message(&resp);
    }
    // What the router refuses by itself (a wrong method) also comes as JSON.
    let (status, headers, resp) = http(&d.sock, "PUT", "/containers/json", b"");
    assert!(status == 404 || status == 405, "{status}");
    assert_eq!(header(&headers, "content-type"), Some("application/json"), "{}", String::from_utf8_lossy(&resp));
    alive(&d);
}
