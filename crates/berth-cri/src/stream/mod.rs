//! The CRI streaming server: `Exec`, `Attach` and `PortForward` answer a one-time URL on this
//! server (its own TCP listener, `--cri-stream-address`/`--cri-stream-port`, loopback and a free
//! port by default, like containerd's `stream_server_address`/`stream_server_port`), and the
//! client (kubelet, crictl, critest) connects there and upgrades to the protocols of the
//! kubelet's streaming library:
//!
//! ```text
//! GET|POST /exec/TOKEN, /attach/TOKEN, /portforward/TOKEN   (token from cache.rs, used once, 1 min)
//!   Upgrade: SPDY/3.1 + X-Stream-Protocol-Version ──▶ spdy/ (one SPDY stream per std stream)
//!        remotecommand v4 (v3, v2, channel.k8s.io)   ─┐
//!        portforward.k8s.io (data+error stream pairs) │
//!   Upgrade: websocket + Sec-WebSocket-Protocol ──▶ ws.rs (one channel byte per message)
//!        v5/v4.channel.k8s.io (+base64), channel.k8s.io ─┤
//!        portforward.k8s.io / v4 (2 channels per port)   │
//!        SPDY/3.1+portforward.k8s.io (SPDY tunnelled)    │
//!                                                         ▼
//!   remotecommand.rs: exec/attach through the container service (shim), resize to the pty
//!   portforward.rs:   a TCP connection made inside the pod's network namespace
//! ```

pub mod cache;
mod portforward;
mod remotecommand;
pub mod spdy;
mod ws;

use crate::Cri;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::sync::mpsc;

/// Where the streaming server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    /// The address to bind and to put in the URLs (an unspecified address binds every interface
    /// and puts the loopback address of its family in URLs: the kubelet, on the same node,
    /// proxies the streams).
    pub address: IpAddr,
    /// The port; 0 picks a free one.
    pub port: u16,
    /// Serve HTTPS with this certificate and key (`--cri-stream-tls-cert`/`-key`, containerd's
    /// `enable_tls_streaming` with `x509_key_pair_streaming`): the URLs are then `https://`.
    pub tls: Option<berth_daemon::tls::ServerTls>,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig { address: IpAddr::V4(Ipv4Addr::LOCALHOST), port: 0, tls: None }
    }
}

/// How long a client may take to open the streams of a request (kubelet's
/// `StreamCreationTimeout`).
pub const STREAM_CREATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What goes to the client on one stream (SPDY stream id or WebSocket channel), or to the
/// connection.
#[derive(Debug)]
pub enum Out {
    /// Bytes on a stream.
    Data(u32, Bytes),
    /// The end of a stream (SPDY `FIN`; nothing on a WebSocket, whose channels end with it).
    Fin(u32),
    /// SPDY `SYN_REPLY`.
    Reply(u32),
    /// SPDY `PING` answer.
    Ping(u32),
    /// SPDY `RST_STREAM`.
    Reset(u32, u32),
    /// Close the connection after what is queued.
    Close,
}

/// The sending side of one stream.
#[derive(Clone)]
pub struct Tx {
    id: u32,
    out: mpsc::Sender<Out>,
}

impl Tx {
    /// Sends `data` (in frames of at most 32 KiB); false once the connection is gone.
    pub async fn send(&self, mut data: Bytes) -> bool {
        while !data.is_empty() {
            let chunk = data.split_to(data.len().min(32 << 10));
            if self.out.send(Out::Data(self.id, chunk)).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Sends an empty message (the WebSocket "connected" signal).
    async fn send_empty(&self) {
        let _ = self.out.send(Out::Data(self.id, Bytes::new())).await;
    }

    /// Ends the stream.
    pub async fn fin(&self) {
        let _ = self.out.send(Out::Fin(self.id)).await;
    }
}

/// The server's state shared with the gRPC handlers: the token store and the URL base.
pub struct StreamServer {
    cache: cache::Cache,
    base: String,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Why the streaming server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The address cannot be bound.
    #[error("{0}")]
    Listen(#[from] std::io::Error),
    /// The certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] berth_daemon::tls::TlsFileError),
}

impl StreamServer {
    /// Binds the listener (synchronously, so a taken address fails the daemon's start).
    pub fn bind(config: &StreamConfig) -> Result<(StreamServer, tokio::net::TcpListener), BindError> {
        let tls = config.tls.as_ref().map(berth_daemon::tls::acceptor).transpose()?;
        let sock = std::net::TcpListener::bind(SocketAddr::new(config.address, config.port))?;
        sock.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(sock)?;
        let local = listener.local_addr()?;
        let host = match local.ip() {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok((StreamServer { cache: cache::Cache::default(), base: format!("{scheme}://{}", SocketAddr::new(host, local.port())), tls }, listener))
    }

    /// The listener's base URL (`http://127.0.0.1:PORT`, `https://` with TLS).
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Stores a request; its URL.
    pub fn url_for(&self, req: cache::Pending) -> Result<String, tonic::Status> {
        let verb = match req {
            cache::Pending::Exec(_) => "exec",
            cache::Pending::Attach(_) => "attach",
            cache::Pending::PortForward(_) => "portforward",
        };
        let token = self.cache.insert(req).map_err(|e| tonic::Status::resource_exhausted(e.to_string()))?;
        Ok(format!("{}/{verb}/{token}", self.base))
    }
}

/// Serves the streaming listener until `stop`.
pub async fn serve(cri: Cri, listener: tokio::net::TcpListener, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let (conn, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(error) => {
                    tracing::warn!(%error, "CRI streaming server: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = until_true(&mut stop) => return,
        };
        let cri = cri.clone();
        tokio::spawn(async move {
            let tls = cri.stream.tls.clone();
            let svc = hyper::service::service_fn(move |req| {
                let cri = cri.clone();
                async move { Ok::<_, std::convert::Infallible>(route(cri, req).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                // A plain request, a failed or slow handshake is answered or logged there.
                Some(acceptor) => {
                    if let Some(conn) = berth_daemon::tls::handshake(&acceptor, conn).await {
                        let _ = http.serve_connection(TokioIo::new(conn), svc).with_upgrades().await;
                    }
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(conn), svc).with_upgrades().await;
                }
            }
        });
    }
}

/// Waits until `rx` holds true (or its sender is gone), holding no borrow of it afterwards.
pub(crate) async fn until_true(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await.map(|_| ());
}

type Resp = Response<Full<Bytes>>;

/// A plain-text answer (what the kubelet's library answers before an upgrade).
fn text(status: StatusCode, msg: impl Into<String>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(msg.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Every value of a header that may be repeated or comma separated.
fn header_list(req: &Request<Incoming>, name: &str) -> Vec<String> {
    req.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn has_token(req: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().filter_map(|v| v.to_str().ok()).any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// The SPDY subprotocols of remote commands, in the server's order (kubelet's
/// `SupportedStreamingProtocols`); port-forward has one.
const REMOTECOMMAND_SPDY: &[&str] = &["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"];
const PORTFORWARD_SPDY: &[&str] = &["portforward.k8s.io"];

async fn route(cri: Cri, mut req: Request<Incoming>) -> Resp {
    let path = req.uri().path().trim_start_matches('/').to_string();
    let Some((verb, token)) = path.split_once('/') else { return text(StatusCode::NOT_FOUND, "404 page not found") };
    let pending = match (verb, cri.stream.cache.consume(token)) {
        (v, Some(p)) if v == verb_of(&p) => p,
        _ => return text(StatusCode::NOT_FOUND, "404 page not found"),
    };
    if has_token(&req, header::CONNECTION, "upgrade") && has_token(&req, header::UPGRADE, "websocket") {
        return ws::upgrade(cri, req, pending).await;
    }
    if !has_token(&req, header::CONNECTION, "upgrade") || !has_token(&req, header::UPGRADE, "SPDY/3.1") {
        return text(StatusCode::BAD_REQUEST, "unable to upgrade: missing upgrade headers in request");
    }
    let server: &[&str] = if matches!(pending, cache::Pending::PortForward(_)) { PORTFORWARD_SPDY } else { REMOTECOMMAND_SPDY };
    let client = header_list(&req, "x-stream-protocol-version");
    if client.is_empty() {
        return text(StatusCode::BAD_REQUEST, "unable to upgrade: X-Stream-Protocol-Version is required");
    }
    let Some(protocol) = client.iter().find(|c| server.contains(&c.as_str())).cloned() else {
        let mut r = text(StatusCode::FORBIDDEN, format!("unable to upgrade: unable to negotiate protocol: client supports {client:?}, server accepts {server:?}"));
        for s in server {
            r.headers_mut().append("X-Accepted-Stream-Protocol-Versions", HeaderValue::from_static(s));
        }
        return r;
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let version = protocol.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let session = spdy::Session::start(TokioIo::new(upgraded));
        match pending {
            cache::Pending::PortForward(r) => portforward::over_spdy(cri, r, session).await,
            p => remotecommand::over_spdy(cri, p, &version, session).await,
        }
    });
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    if let Ok(v) = HeaderValue::from_str(&protocol) {
        h.insert("X-Stream-Protocol-Version", v);
    }
    r
}

fn verb_of(p: &cache::Pending) -> &'static str {
    match p {
        cache::Pending::Exec(_) => "exec",
        cache::Pending::Attach(_) => "attach",
        cache::Pending::PortForward(_) => "portforward",
    }
}
