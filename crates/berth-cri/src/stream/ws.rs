//! The WebSocket side of the streaming server (the kubelet's `wsstream`): every message is one
//! channel byte and its payload (`channel.k8s.io`, `v4.channel.k8s.io`, `v5.channel.k8s.io`;
//! the `base64.` variants send text: an ASCII digit and base64). v5 adds the close signal, a
//! message `[255, channel]` that half-closes a client channel (stdin). Port-forward is either
//! two channels per port (`portforward.k8s.io`, `v4.channel.k8s.io`: the ports come from the
//! `port` query parameters, each channel starts with the port in two little-endian bytes) or a
//! SPDY session tunnelled in binary messages (`SPDY/3.1+portforward.k8s.io`, what client-go's
//! WebSocket port-forward dialer and `crictl port-forward --transport websocket` use).

use super::{cache::Pending, portforward, remotecommand, spdy, text, Out, Resp, Tx};
use base64::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, Message, Role};
use tokio_tungstenite::WebSocketStream;

/// The close signal's channel byte (v5).
const CLOSE_SIGNAL: u8 = 255;
/// The tunnelling subprotocol of WebSocket port-forward.
const TUNNEL: &str = "SPDY/3.1+portforward.k8s.io";

/// How a negotiated WebSocket subprotocol frames messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Framing {
    /// Text messages with a digit and base64 instead of binary ones.
    pub base64: bool,
    /// The v5 close signal is understood.
    pub v5: bool,
    /// The error channel carries a v4 `Status` (JSON) rather than a message.
    pub v4_status: bool,
}

/// The subprotocols of remote commands: (name, framing).
const REMOTECOMMAND: &[(&str, Framing)] = &[
    ("v5.channel.k8s.io", Framing { base64: false, v5: true, v4_status: true }),
    ("v4.channel.k8s.io", Framing { base64: false, v5: false, v4_status: true }),
    ("v4.base64.channel.k8s.io", Framing { base64: true, v5: false, v4_status: true }),
    ("channel.k8s.io", Framing { base64: false, v5: false, v4_status: false }),
    ("base64.channel.k8s.io", Framing { base64: true, v5: false, v4_status: false }),
];
const PORTFORWARD: &[(&str, Framing)] = &[
    ("portforward.k8s.io", Framing { base64: false, v5: false, v4_status: false }),
    ("v4.channel.k8s.io", Framing { base64: false, v5: false, v4_status: false }),
    ("v4.base64.channel.k8s.io", Framing { base64: true, v5: false, v4_status: false }),
];

/// Answers a WebSocket upgrade and runs the request on the socket.
pub(super) async fn upgrade(cri: crate::Cri, mut req: Request<Incoming>, pending: Pending) -> Resp {
    let Some(key) = req.headers().get("sec-websocket-key").map(|k| k.as_bytes().to_vec()) else {
        return text(StatusCode::BAD_REQUEST, "unable to upgrade: Sec-WebSocket-Key is missing");
    };
    let asked = super::header_list(&req, "sec-websocket-protocol");
    let table = if matches!(pending, Pending::PortForward(_)) { PORTFORWARD } else { REMOTECOMMAND };
    // No subprotocol asked: the binary channel protocol (the kubelet's "" entry).
    let chosen: Option<(String, Option<Framing>)> = if asked.is_empty() {
        Some((String::new(), Some(Framing { base64: false, v5: false, v4_status: false })))
    } else {
        asked.iter().find_map(|a| {
            if a == TUNNEL && matches!(pending, Pending::PortForward(_)) {
                return Some((a.clone(), None));
            }
            table.iter().find(|(n, _)| n == a).map(|(n, f)| (n.to_string(), Some(*f)))
        })
    };
    let Some((protocol, framing)) = chosen else {
        return text(StatusCode::BAD_REQUEST, format!("unable to upgrade: none of the requested subprotocols {asked:?} is supported"));
    };
    let ports = query_ports(req.uri().query().unwrap_or(""));
    let ports = match (&pending, ports) {
        (Pending::PortForward(_), Err(bad)) => return text(StatusCode::BAD_REQUEST, format!("invalid port query parameter {bad:?}")),
        (Pending::PortForward(r), Ok(p)) if p.is_empty() && framing.is_some() => {
            let from_request: Vec<u16> = r.port.iter().filter_map(|p| u16::try_from(*p).ok()).filter(|p| *p > 0).collect();
            if from_request.is_empty() {
                return text(StatusCode::BAD_REQUEST, "query parameter \"port\" is required");
            }
            from_request
        }
        (_, p) => p.unwrap_or_default(),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        match (pending, framing) {
            (Pending::PortForward(r), None) => portforward::over_spdy(cri, r, spdy::Session::start(tunnel(socket))).await,
            (Pending::PortForward(r), Some(f)) => {
                let inbound = ports_inbound(ports.len());
                portforward::over_websocket(cri, r, ports, Channels::start(socket, f, &inbound)).await
            }
            (p, Some(f)) => {
                let (stdin, tty) = match &p {
                    Pending::Exec(e) => (e.stdin, e.tty),
                    Pending::Attach(a) => (a.stdin, a.tty),
                    Pending::PortForward(_) => (false, false),
                };
                let mut inbound = vec![];
                if stdin {
                    inbound.push(0);
                }
                if tty {
                    inbound.push(4);
                }
                remotecommand::over_websocket(cri, p, f, Channels::start(socket, f, &inbound)).await
            }
            (_, None) => {}
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&tokio_tungstenite::tungstenite::handshake::derive_accept_key(&key)) {
        h.insert("Sec-WebSocket-Accept", v);
    }
    if !protocol.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&protocol) {
            h.insert("Sec-WebSocket-Protocol", v);
        }
    }
    r
}

/// The client-to-server channels of port-forward: the data channel of each port.
fn ports_inbound(n: usize) -> Vec<u8> {
    (0..n).map(|i| (2 * i) as u8).collect()
}

/// The `port` query parameters (repeatable, also comma separated).
fn query_ports(q: &str) -> Result<Vec<u16>, String> {
    let mut ports = vec![];
    for (k, v) in q.split('&').filter_map(|kv| kv.split_once('=')) {
        if k != "port" {
            continue;
        }
        for p in v.split(',') {
            match p.trim().parse::<u16>() {
                Ok(n) if n > 0 => ports.push(n),
                _ => return Err(p.to_string()),
            }
        }
    }
    if ports.len() > 127 {
        return Err("more than 127 ports".into());
    }
    Ok(ports)
}

/// A WebSocket split into channels.
pub(super) struct Channels {
    /// Inbound channels: data until the client half-closes (v5) or the connection ends.
    pub inbound: HashMap<u8, mpsc::Receiver<Bytes>>,
    out: mpsc::Sender<Out>,
    /// True once the connection is gone.
    pub closed: watch::Receiver<bool>,
    writer: tokio::task::JoinHandle<()>,
    reader: tokio::task::JoinHandle<()>,
}

impl Channels {
    fn start<S>(socket: WebSocketStream<S>, framing: Framing, inbound_ids: &[u8]) -> Channels
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sink, mut stream) = socket.split();
        let (out, mut out_rx) = mpsc::channel::<Out>(256);
        let (closed_tx, closed) = watch::channel(false);
        let mut senders = HashMap::new();
        let mut inbound = HashMap::new();
        for id in inbound_ids {
            let (tx, rx) = mpsc::channel(64);
            senders.insert(*id, tx);
            inbound.insert(*id, rx);
        }
        let writer = tokio::spawn(async move {
            while let Some(msg) = out_rx.recv().await {
                let m = match msg {
                    Out::Data(ch, data) => encode(framing, ch as u8, &data),
                    Out::Close => {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
                        let _ = sink.close().await;
                        return;
                    }
                    Out::Fin(_) | Out::Reply(_) | Out::Ping(_) | Out::Reset(..) => continue,
                };
                if sink.send(m).await.is_err() {
                    return;
                }
            }
        });
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let raw = match msg {
                    Message::Binary(b) if !framing.base64 => b,
                    Message::Text(t) if framing.base64 => Bytes::copy_from_slice(t.as_bytes()),
                    Message::Close(_) => break,
                    _ => continue,
                };
                let Some((ch, payload)) = decode(framing, raw) else { continue };
                if framing.v5 && ch == CLOSE_SIGNAL {
                    if let Some(&target) = payload.first() {
                        senders.remove(&target);
                    }
                    continue;
                }
                if payload.is_empty() {
                    continue;
                }
                if let Some(tx) = senders.get(&ch) {
                    if tx.send(payload).await.is_err() {
                        senders.remove(&ch);
                    }
                }
            }
            drop(senders);
            let _ = closed_tx.send(true);
        });
        Channels { inbound, out, closed, writer, reader }
    }

    /// The sending side of channel `id`.
    pub fn tx(&self, id: u8) -> Tx {
        Tx { id: id as u32, out: self.out.clone() }
    }

    /// Sends the "connected" empty message on channel `id`.
    pub async fn hello(&self, id: u8) {
        self.tx(id).send_empty().await;
    }

    /// Closes the socket after what is queued; a client that does not close its side is cut off
    /// after `grace`.
    pub async fn close(self, grace: std::time::Duration) {
        let _ = self.out.send(Out::Close).await;
        drop(self.out);
        let _ = self.writer.await;
        let mut reader = self.reader;
        if tokio::time::timeout(grace, &mut reader).await.is_err() {
            reader.abort();
        }
    }
}

fn encode(f: Framing, ch: u8, data: &[u8]) -> Message {
    if f.base64 {
        let mut s = String::with_capacity(1 + data.len() * 4 / 3 + 4);
        s.push((b'0' + ch) as char);
        s.push_str(&base64::engine::general_purpose::STANDARD.encode(data));
        Message::Text(s.into())
    } else {
        let mut b = Vec::with_capacity(1 + data.len());
        b.push(ch);
        b.extend_from_slice(data);
        Message::Binary(b.into())
    }
}

fn decode(f: Framing, raw: Bytes) -> Option<(u8, Bytes)> {
    let (&first, rest) = raw.split_first()?;
    if !f.base64 {
        return Some((first, raw.slice(1..)));
    }
    let ch = first.checked_sub(b'0')?;
    let data = base64::engine::general_purpose::STANDARD.decode(rest).ok()?;
    Some((ch, Bytes::from(data)))
}

/// A WebSocket carrying a byte stream in binary messages (the SPDY tunnel), as a duplex pipe.
fn tunnel<S>(socket: WebSocketStream<S>) -> tokio::io::DuplexStream
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(256 << 10);
    let (mut pipe_r, mut pipe_w) = tokio::io::split(ours);
    let (mut sink, mut stream) = socket.split();
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) if pipe_w.write_all(&b).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
        let _ = pipe_w.shutdown().await;
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match pipe_r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.send(Message::Binary(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
        let _ = sink.close().await;
    });
    theirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_messages_both_framings() {
        let bin = Framing { base64: false, v5: true, v4_status: true };
        assert_eq!(encode(bin, 1, b"hi"), Message::Binary(Bytes::from_static(&[1, b'h', b'i'])));
        assert_eq!(decode(bin, Bytes::from_static(&[0, b'x'])), Some((0, Bytes::from_static(b"x"))));
        assert_eq!(decode(bin, Bytes::from_static(&[255, 0])), Some((255, Bytes::from_static(&[0]))));
        let b64 = Framing { base64: true, v5: false, v4_status: true };
        assert_eq!(encode(b64, 2, b"hi"), Message::Text("2aGk=".into()));
        assert_eq!(decode(b64, Bytes::from_static(b"0aGk=")), Some((0, Bytes::from_static(b"hi"))));
        assert_eq!(decode(b64, Bytes::from_static(b"0!!")), None);
    }

    #[test]
    fn port_query_parameters() {
        assert_eq!(query_ports("port=80&port=8080,9090&x=1"), Ok(vec![80, 8080, 9090]));
        assert_eq!(query_ports(""), Ok(vec![]));
        assert_eq!(query_ports("port=0"), Err("0".into()));
        assert_eq!(query_ports("port=http"), Err("http".into()));
    }
}
