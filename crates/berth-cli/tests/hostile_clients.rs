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
        assert!(message(&body).contains("invalid timestamp"), "{q}");
    }
    alive(&d);
}
