//! A small client for the daemon's API: connects over a unix socket or TCP, sends one request per
//! connection-less call, turns `{"message": …}` errors into [`ClientError::Api`], and reads the JSON
//! message streams of long operations.

use berth_api::progress::JsonMessage;
use bytes::Bytes;
use futures_util::TryStreamExt;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use std::io;
use std::path::PathBuf;

/// The socket the client uses when neither `-H` nor `BERTH_HOST` says otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// The API version the client speaks (the path prefix it sends).
pub const CLIENT_API_VERSION: &str = berth_api::version::API_VERSION;

/// Where the daemon listens.
#[derive(Debug, Clone)]
pub enum Host {
    /// Unix socket path.
    Unix(PathBuf),
    /// `host:port`.
    Tcp(String),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The host string is malformed.
    #[error("invalid host {0:?}: expected unix:///path or tcp://HOST:PORT")]
    BadHost(String),
    /// Nobody answers at the host.
    #[error("Cannot connect to the Berth daemon at {host}. Is the berth daemon running? ({source})")]
    Connect {
        /// Where we tried.
        host: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// The daemon answered with an error.
    #[error("Error response from daemon: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The daemon's message.
        message: String,
    },
    /// The connection broke or the daemon spoke something unexpected.
    #[error("talking to the daemon: {0}")]
    Protocol(String),
    /// A stream reported an error.
    #[error("{0}")]
    Stream(String),
}

/// A request body: empty, in memory, or streamed.
pub type ReqBody = BoxBody<Bytes, io::Error>;

/// An empty body.
pub fn empty() -> ReqBody {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed()
}

/// A body from bytes in memory.
pub fn bytes(b: impl Into<Bytes>) -> ReqBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

/// A body streamed from an async reader (a file, stdin).
pub fn reader(r: impl tokio::io::AsyncRead + Send + Sync + 'static) -> ReqBody {
    let s = tokio_util::io::ReaderStream::with_capacity(r, 256 * 1024).map_ok(Frame::data);
    BodyExt::boxed(StreamBody::new(s))
}

/// A client bound to one daemon address.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
}

impl Client {
    /// Parses `unix:///path`, `/path` or `tcp://host:port`.
    pub fn new(host: &str) -> Result<Client, ClientError> {
        let h = if let Some(p) = host.strip_prefix("unix://") {
            Host::Unix(PathBuf::from(p))
        } else if let Some(a) = host.strip_prefix("tcp://") {
            Host::Tcp(a.trim_end_matches('/').to_string())
        } else if host.starts_with('/') {
            Host::Unix(PathBuf::from(host))
        } else {
            return Err(ClientError::BadHost(host.to_string()));
        };
        Ok(Client { host: h })
    }

    /// The daemon's address.
    pub fn host(&self) -> &Host {
        &self.host
    }

    async fn connect(&self) -> Result<hyper::client::conn::http1::SendRequest<ReqBody>, ClientError> {
        let err = |source| ClientError::Connect { host: self.host.to_string(), source };
        macro_rules! handshake {
            ($stream:expr) => {{
                let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new($stream))
                    .await
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                tokio::spawn(async move {
                    let _ = conn.with_upgrades().await;
                });
                send
            }};
        }
        Ok(match &self.host {
            Host::Unix(p) => handshake!(tokio::net::UnixStream::connect(p).await.map_err(err)?),
            Host::Tcp(a) => handshake!(tokio::net::TcpStream::connect(a.as_str()).await.map_err(err)?),
        })
    }

    /// Sends one request to `/v{version}{path}?{query}`; error statuses become [`ClientError::Api`].
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: ReqBody,
        headers: &[(&str, &str)],
    ) -> Result<Response<Incoming>, ClientError> {
        let mut uri = format!("/v{CLIENT_API_VERSION}{path}");
        if !query.is_empty() {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in query {
                ser.append_pair(k, v);
            }
            uri.push('?');
            uri.push_str(&ser.finish());
        }
        let mut req = Request::builder().method(method).uri(uri).header("Host", "berth").header("User-Agent", "Berth-Client");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut send = self.connect().await?;
        let resp = send.send_request(req).await.map_err(|e| ClientError::Protocol(e.to_string()))?;
        if resp.status().is_client_error() || resp.status().is_server_error() {
            let status = resp.status();
            let body = resp.into_body().collect().await.map_err(|e| ClientError::Protocol(e.to_string()))?.to_bytes();
            let message = serde_json::from_slice::<berth_api::ErrorBody>(&body)
                .map(|b| b.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).trim().to_string());
            return Err(ClientError::Api { status, message });
        }
        Ok(resp)
    }

    /// GET and decode JSON.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T, ClientError> {
        let resp = self.request(Method::GET, path, query, empty(), &[]).await?;
        read_json(resp).await
    }

    /// Sends a request with an optional JSON body and decodes a JSON answer.
    pub async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let resp = self.request(method, path, query, empty(), &[]).await?;
        read_json(resp).await
    }
}

/// Reads a whole response as JSON.
pub async fn read_json<T: serde::de::DeserializeOwned>(resp: Response<Incoming>) -> Result<T, ClientError> {
    let body = resp.into_body().collect().await.map_err(|e| ClientError::Protocol(e.to_string()))?.to_bytes();
    serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("unexpected response: {e}")))
}

/// Calls `each` for every message of a JSON message stream; a message with an error ends the stream
/// with [`ClientError::Stream`].
pub async fn json_stream(resp: Response<Incoming>, mut each: impl FnMut(&JsonMessage)) -> Result<(), ClientError> {
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let frame = body.frame().await;
        let done = frame.is_none();
        if let Some(f) = frame {
            let f = f.map_err(|e| ClientError::Protocol(e.to_string()))?;
            if let Ok(d) = f.into_data() {
                buf.extend_from_slice(&d);
            }
        }
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<JsonMessage>();
        let mut consumed = 0;
        while let Some(item) = de.next() {
            match item {
                Ok(m) => {
                    consumed = de.byte_offset();
                    if let Some(e) = m.error_detail.as_ref().map(|d| d.message.clone()).or(m.error.clone()) {
                        return Err(ClientError::Stream(e));
                    }
                    each(&m);
                }
                Err(e) if e.is_eof() => break,
                Err(e) => return Err(ClientError::Protocol(format!("bad message in stream: {e}"))),
            }
        }
        buf.drain(..consumed);
        if done {
            return Ok(());
        }
    }
}

/// Streams a response body into an async writer (e.g. a file or stdout).
pub async fn copy_body(resp: Response<Incoming>, out: &mut (impl tokio::io::AsyncWrite + Unpin)) -> Result<u64, ClientError> {
    use tokio::io::AsyncWriteExt;
    let mut body = resp.into_body();
    let mut n = 0u64;
    while let Some(f) = body.frame().await {
        let f = f.map_err(|e| ClientError::Protocol(e.to_string()))?;
        if let Ok(d) = f.into_data() {
            out.write_all(&d).await.map_err(|e| ClientError::Protocol(e.to_string()))?;
            n += d.len() as u64;
        }
    }
    out.flush().await.map_err(|e| ClientError::Protocol(e.to_string()))?;
    Ok(n)
}

/// A hijacked connection (after `101 Switching Protocols`): raw bytes both ways.
pub type Hijacked = TokioIo<hyper::upgrade::Upgraded>;

impl Client {
    /// Sends a request asking to upgrade the connection (`Connection: Upgrade`, `Upgrade: tcp`), as
    /// attach and exec start do, and returns the raw duplex stream.
    pub async fn hijack(&self, path: &str, query: &[(&str, String)], body: ReqBody) -> Result<Hijacked, ClientError> {
        let resp = self
            .request(Method::POST, path, query, body, &[("Connection", "Upgrade"), ("Upgrade", "tcp"), ("Content-Type", "text/plain")])
            .await?;
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Protocol(format!("expected 101 Switching Protocols, got {}", resp.status())));
        }
        let up = hyper::upgrade::on(resp).await.map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok(TokioIo::new(up))
    }

    /// POST with a JSON body; decodes a JSON answer (or `null` for an empty body).
    pub async fn post_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &B,
    ) -> Result<T, ClientError> {
        let bytes_body = serde_json::to_vec(body).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let resp = self.request(Method::POST, path, query, bytes(bytes_body), &[("Content-Type", "application/json")]).await?;
        let body = resp.into_body().collect().await.map_err(|e| ClientError::Protocol(e.to_string()))?.to_bytes();
        let body = if body.is_empty() { Bytes::from_static(b"null") } else { body };
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(format!("unexpected response: {e}")))
    }
}
