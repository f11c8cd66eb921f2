//! Port-forward (the kubelet's `portforward` server): each forwarded connection is a TCP
//! connection made inside the pod's network namespace to `localhost:PORT` (IPv4, then IPv6, as
//! containerd dials), joined to the client's data stream. Over SPDY the client opens an error
//! and a data stream per connection, paired by their `requestID` header and naming the `port`;
//! a failure is written as text on the error stream, and both streams end when the connection
//! inside the pod does. Over a WebSocket each port of the URL has a data and an error channel
//! for one connection.

use super::spdy::{NewStream, Session};
use super::ws::Channels;
use super::{Tx, STREAM_CREATION_TIMEOUT};
use crate::meta;
use crate::proto::PortForwardRequest;
use crate::Cri;
use berth_daemon::service::containers::Status;
use bytes::Bytes;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// How long connecting inside the pod may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to `port` made inside the network namespace of the pod's sandbox.
async fn connect(cri: &Cri, sandbox: &str, port: u16) -> Result<TcpStream, String> {
    let (_, rec) = cri.object(meta::KIND_SANDBOX, sandbox).map_err(|e| e.message().to_string())?;
    if rec.state.status != Status::Running || rec.state.pid <= 0 {
        return Err(format!("pod sandbox {} is not running", rec.id));
    }
    let ns = format!("/proc/{}/ns/net", rec.state.pid);
    let sock = berth_types::sched::spawn_blocking(move || -> Result<std::net::TcpStream, String> {
        let netns = berth_network::netns::NetNs::open(std::path::Path::new(&ns)).map_err(|e| e.to_string())?;
        netns
            .run(move || {
                let v4 = std::net::TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), CONNECT_TIMEOUT);
                match v4 {
                    Ok(s) => Ok(s),
                    Err(e4) => std::net::TcpStream::connect_timeout(&SocketAddr::from((Ipv6Addr::LOCALHOST, port)), CONNECT_TIMEOUT)
                        .map_err(|_| format!("dial tcp 127.0.0.1:{port}: {e4}")),
                }
            })
            .map_err(|e| e.to_string())?
    })
    .await
    .map_err(|e| e.to_string())??;
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    TcpStream::from_std(sock).map_err(|e| e.to_string())
}

/// Forwards one connection: what the client sends goes to `port` in the pod and back. Ends when
/// the pod's side closes; a failure is reported on `error`. Both streams are ended.
async fn forward(cri: Cri, sandbox: String, port: u16, rx: mpsc::Receiver<Bytes>, data: Tx, error: Tx) {
    match connect(&cri, &sandbox, port).await {
        Ok(conn) => relay(conn, rx, &data).await,
        Err(e) => {
            error.send(Bytes::from(format!("error forwarding port {port} to pod {sandbox}, uid : {e}"))).await;
        }
    }
    data.fin().await;
    error.fin().await;
}

/// Copies both ways until the pod's side ends; the client's end of input half-closes the
/// connection, and what it still sends after the pod's side ended is dropped after a second
/// (containerd's grace).
async fn relay(conn: TcpStream, mut rx: mpsc::Receiver<Bytes>, data: &Tx) {
    let (mut r, mut w) = conn.into_split();
    let mut to_pod = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if w.write_all(&b).await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    let mut buf = vec![0u8; 32 << 10];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if !data.send(Bytes::copy_from_slice(&buf[..n])).await {
                    break;
                }
            }
        }
    }
    if tokio::time::timeout(Duration::from_secs(1), &mut to_pod).await.is_err() {
        to_pod.abort();
    }
}

/// One forwarded connection's streams as they arrive over SPDY.
#[derive(Default)]
struct Pair {
    data: Option<NewStream>,
    error: Option<NewStream>,
    since: Option<tokio::time::Instant>,
}

/// Port-forward over a SPDY session (direct, or tunnelled in a WebSocket).
pub(super) async fn over_spdy(cri: Cri, req: PortForwardRequest, mut session: Session) {
    let allowed: Vec<u16> = req.port.iter().filter_map(|p| u16::try_from(*p).ok()).collect();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let s = tokio::select! {
            s = session.incoming.recv() => match s { Some(s) => s, None => break },
            _ = tick.tick() => {
                expire(&mut pairs).await;
                continue;
            }
        };
        let kind = s.header("streamtype").unwrap_or("").to_ascii_lowercase();
        // Clients before requestID paired an error stream with the data stream after it.
        let key = match s.header("requestid") {
            Some(r) => r.to_string(),
            None if kind == "error" => s.id.to_string(),
            None => s.id.saturating_sub(2).to_string(),
        };
        let pair = pairs.entry(key.clone()).or_default();
        pair.since.get_or_insert_with(tokio::time::Instant::now);
        match kind.as_str() {
            "data" => pair.data = Some(s),
            "error" => pair.error = Some(s),
            _ => {
                // Not part of port-forward: ended at once.
                s.tx.fin().await;
                continue;
            }
        }
        if pair.data.is_some() && pair.error.is_some() {
            let Some(Pair { data: Some(data), error: Some(error), .. }) = pairs.remove(&key) else { continue };
            let port = data.header("port").and_then(|p| p.parse::<u16>().ok()).filter(|p| *p > 0);
            match port {
                Some(port) if allowed.is_empty() || allowed.contains(&port) => {
                    tokio::spawn(forward(cri.clone(), req.pod_sandbox_id.clone(), port, data.rx, data.tx, error.tx));
                }
                _ => {
                    let what = data.header("port").unwrap_or("").to_string();
                    let msg = if port.is_some() { format!("port {what} was not requested in PortForward") } else { format!("invalid port header {what:?}") };
                    error.tx.send(Bytes::from(msg)).await;
                    error.tx.fin().await;
                    data.tx.fin().await;
                }
            }
        }
    }
    session.close(Duration::from_secs(5)).await;
}

/// Ends pairs whose second stream did not come in time (kubelet: "timed out waiting for streams").
async fn expire(pairs: &mut HashMap<String, Pair>) {
    let late: Vec<String> = pairs.iter().filter(|(_, p)| p.since.is_some_and(|t| t.elapsed() > STREAM_CREATION_TIMEOUT)).map(|(k, _)| k.clone()).collect();
    for k in late {
        if let Some(p) = pairs.remove(&k) {
            if let Some(e) = &p.error {
                e.tx.send(Bytes::from_static(b"timed out waiting for streams")).await;
                e.tx.fin().await;
            }
            if let Some(d) = &p.data {
                d.tx.fin().await;
            }
        }
    }
}

/// Port-forward over a WebSocket: channel 2i is the data of `ports[i]`, 2i+1 its errors; each
/// starts with the port in two little-endian bytes.
pub(super) async fn over_websocket(cri: Cri, req: PortForwardRequest, ports: Vec<u16>, mut ch: Channels) {
    let allowed: Vec<u16> = req.port.iter().filter_map(|p| u16::try_from(*p).ok()).collect();
    let mut tasks = vec![];
    for (i, port) in ports.iter().copied().enumerate() {
        let (d, e) = ((2 * i) as u8, (2 * i + 1) as u8);
        let (data, error) = (ch.tx(d), ch.tx(e));
        data.send(Bytes::copy_from_slice(&port.to_le_bytes())).await;
        error.send(Bytes::copy_from_slice(&port.to_le_bytes())).await;
        let rx = ch.inbound.remove(&d).unwrap_or_else(|| mpsc::channel(1).1);
        if !allowed.is_empty() && !allowed.contains(&port) {
            error.send(Bytes::from(format!("port {port} was not requested in PortForward"))).await;
            continue;
        }
        tasks.push(tokio::spawn(forward(cri.clone(), req.pod_sandbox_id.clone(), port, rx, data, error)));
    }
    let mut closed = ch.closed.clone();
    tokio::select! {
        _ = futures_util::future::join_all(tasks) => {}
        _ = super::until_true(&mut closed) => {}
    }
    ch.close(Duration::from_secs(5)).await;
}
