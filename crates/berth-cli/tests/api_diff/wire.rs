//! Raw HTTP/1.1 over a unix socket, keeping what a client library would hide: header names exactly
//! as sent (dockerd sends Go's canonical case), chunked vs length framing, and the body's bytes.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// One response, as it came off the wire.
pub struct Resp {
    pub status: u16,
    /// Header names as sent (case kept), in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Whether the body came chunked.
    pub chunked: bool,
}

impl Resp {
    /// A header's value by its exact (case-sensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Sends one request (`Connection: close`) and reads the whole response (60 s at most).
pub fn request(sock: &Path, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Resp {
    send(sock, method, path, content_type, body, false)
}

/// Sends one request, asking to upgrade the connection (`Upgrade: tcp`, as the docker CLI does for
/// attach and exec) when `upgrade`, and reads until the server closes it (60 s at most).
pub fn send(sock: &Path, method: &str, path: &str, content_type: Option<&str>, body: &[u8], upgrade: bool) -> Resp {
    let mut s = match std::os::unix::net::UnixStream::connect(sock) {
        Ok(s) => s,
        Err(e) => return Resp { status: 0, headers: vec![], body: format!("connect: {e}").into_bytes(), chunked: false },
    };
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let connection = if upgrade { "Upgrade\r\nUpgrade: tcp" } else { "close" };
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: api\r\nUser-Agent: berth-api-diff\r\nConnection: {connection}\r\n");
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let _ = s.write_all(req.as_bytes());
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse(&raw)
}

fn parse(raw: &[u8]) -> Resp {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Resp { status: 0, headers: vec![], body: raw.to_vec(), chunked: false };
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v == "chunked");
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body);
    }
    Resp { status, headers, body, chunked }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = std::str::from_utf8(&b[..eol]).ok().and_then(|s| usize::from_str_radix(s.trim(), 16).ok()).unwrap_or(0);
        if n == 0 || b.len() < eol + 2 + n {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[(eol + 4 + n).min(b.len())..];
    }
    out
}

/// Docker's multiplexed stream (8-byte headers) split into (stream, payload) frames; `None` if the
/// bytes are not a well-formed sequence of frames.
pub fn frames(mut b: &[u8]) -> Option<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 8 || b[0] > 2 || b[1..4] != [0, 0, 0] {
            return None;
        }
        let n = u32::from_be_bytes([b[4], b[5], b[6], b[7]]) as usize;
        if b.len() < 8 + n {
            return None;
        }
        out.push((b[0], b[8..8 + n].to_vec()));
        b = &b[8 + n..];
    }
    Some(out)
}

/// One step of a WebSocket exchange.
pub enum WsStep {
    /// Sends a binary message.
    Send(&'static str),
    /// Reads messages until the data received so far contains this (10 s at most).
    Expect(&'static str),
}

/// Opens a WebSocket at `path` (RFC 6455 handshake over the unix socket), runs `steps`, then reads
/// until the server closes. The response's body is the transcript: the data received (runs of
/// binary or text messages joined, as how output is cut into messages is the sender's business),
/// one `binary: …`/`text: …` line each, then `close <code>` or `eof`. A refused handshake answers
/// as an HTTP response.
pub fn ws(sock: &Path, path: &str, steps: &[WsStep]) -> Resp {
    use tungstenite::client::IntoClientRequest;
    use tungstenite::Message;
    let s = match std::os::unix::net::UnixStream::connect(sock) {
        Ok(s) => s,
        Err(e) => return Resp { status: 0, headers: vec![], body: format!("connect: {e}").into_bytes(), chunked: false },
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let req = format!("ws://localhost{path}").into_client_request().expect("request");
    let (mut sock, resp) = match tungstenite::client::client(req, s) {
        Ok(x) => x,
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            let headers = r.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
            return Resp { status: r.status().as_u16(), headers, body: r.body().clone().unwrap_or_default(), chunked: false };
        }
        Err(e) => return Resp { status: 0, headers: vec![], body: format!("handshake: {e}").into_bytes(), chunked: false },
    };
    // The client library lowercases names; those that vary by moment and body are left out, and
    // the accept key (random per request) was checked by the client.
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "content-length" | "sec-websocket-accept"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let mut runs: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut end = String::from("eof");
    let mut closed = false;
    let mut read_one = |sock: &mut tungstenite::WebSocket<std::os::unix::net::UnixStream>, runs: &mut Vec<(&'static str, Vec<u8>)>| -> bool {
        let (kind, data) = match sock.read() {
            Ok(Message::Binary(b)) => ("binary", b.to_vec()),
            Ok(Message::Text(t)) => ("text", t.as_bytes().to_vec()),
            Ok(Message::Close(f)) => {
                end = format!("close {}", f.map(|f| u16::from(f.code)).unwrap_or(0));
                return false;
            }
            Ok(_) => return true,
            Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                end = "timeout".into();
                return false;
            }
            Err(_) => return false,
        };
        match runs.last_mut() {
            Some((k, d)) if *k == kind => d.extend_from_slice(&data),
            _ => runs.push((kind, data)),
        }
        true
    };
    let received = |runs: &Vec<(&'static str, Vec<u8>)>| runs.iter().flat_map(|(_, d)| d.clone()).collect::<Vec<u8>>();
    for step in steps {
        match step {
            WsStep::Send(s) => {
                let _ = sock.send(Message::Binary(s.as_bytes().to_vec().into()));
            }
            WsStep::Expect(want) => {
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while !closed && !String::from_utf8_lossy(&received(&runs)).contains(want) && std::time::Instant::now() < deadline {
                    closed = !read_one(&mut sock, &mut runs);
                }
            }
        }
    }
    while !closed {
        closed = !read_one(&mut sock, &mut runs);
    }
    let mut body = String::new();
    for (kind, data) in &runs {
        body.push_str(&format!("{kind}: {:?}\n", String::from_utf8_lossy(data)));
    }
    body.push_str(&end);
    Resp { status: resp.status().as_u16(), headers, body: body.into_bytes(), chunked: false }
}
