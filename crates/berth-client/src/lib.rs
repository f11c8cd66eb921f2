//! A small client for the daemon's API: connects over a unix socket, TCP (plain or TLS, see
//! [`tls`]) or ssh (see [`transport`]), sends one request per
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

pub mod context;
pub mod tls;
mod transport;
pub use tls::ClientTls;
use transport::dial;
pub use transport::{CommandConn, Dialed, Host, Io, SshTarget};

/// The socket the client uses when neither `-H`, `BERTH_HOST` nor a context says otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// The API version the client speaks (the path prefix it sends).
pub const CLIENT_API_VERSION: &str = berth_api::version::API_VERSION;

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The host string is malformed.
    #[error("invalid host {0:?}: expected unix:///path, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]")]
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
    /// The command of a command transport (`ssh`) ended the connection.
    #[error("error during connect: command [{command}] ended the connection to {host}: {stderr}")]
    Command {
        /// Where we tried.
        host: String,
        /// The command line.
        command: String,
        /// What it wrote on stderr.
        stderr: String,
    },
    /// The daemon answered with an error.
    #[error("Error response from daemon: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The daemon's message.
        message: String,
    },
    /// TLS settings that cannot be used, or a failed TLS handshake.
    #[error("TLS: {0}")]
    Tls(String),
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

/// An open connection: the request sender, the connection's error when it fails, and a command
/// transport's stderr.
struct Connected {
    send: hyper::client::conn::http1::SendRequest<ReqBody>,
    conn_err: tokio::sync::oneshot::Receiver<String>,
    diagnostics: Option<transport::CommandStderr>,
}

/// A client bound to one daemon address.
#[derive(Debug, Clone)]
pub struct Client {
    host: Host,
    tls: Option<tls::Connector>,
}

/// The port of `tcp://HOST` without one, as the docker CLI picks it: 2376 with TLS, 2375 without.
fn with_default_port(addr: &str, tls: bool) -> String {
    let has_port = match addr.rsplit_once(':') {
        Some((h, p)) => !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']')),
        None => false,
    };
    if has_port {
        addr.to_string()
    } else {
        format!("{addr}:{}", if tls { 2376 } else { 2375 })
    }
}

impl Client {
    /// Like [`Client::new`]; a `tcp://` host is reached over TLS when `tls` is given (a unix socket
    /// or an ssh host never is: as the docker CLI, TLS settings apply to tcp only).
    pub fn with_tls(host: &str, tls: Option<&ClientTls>) -> Result<Client, ClientError> {
        let mut c = Client::new(host)?;
        if let Host::Tcp(a) = &mut c.host {
            *a = with_default_port(a, tls.is_some());
            if let Some(t) = tls {
                let name = a.rsplit_once(':').map_or(a.as_str(), |(h, _)| h);
                c.tls = Some(tls::connector(t, name)?);
            }
        }
        Ok(c)
    }

    /// Parses `unix:///path`, `/path`, `tcp://host:port` or `ssh://[user@]host[:port]`.
    pub fn new(host: &str) -> Result<Client, ClientError> {
        Ok(Client { host: Host::parse(host)?, tls: None })
    }

    /// The daemon's address.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Opens one byte stream to the daemon (over TLS when configured), for a caller that speaks
    /// on it itself (`berth system dial-stdio`).
    pub async fn dial(&self) -> Result<Dialed, ClientError> {
        dial(&self.host, self.tls.as_ref()).await
    }

    /// Connects and returns the request sender, a channel that carries the connection's error if it
    /// fails (with TLS 1.3 a daemon refusing the client certificate says so only then), and for a
    /// command transport (ssh) what the command wrote on stderr.
    async fn connect(&self) -> Result<Connected, ClientError> {
        let (err_tx, err_rx) = tokio::sync::oneshot::channel();
        let Dialed { io, diagnostics } = self.dial().await?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| ClientError::Protocol(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.with_upgrades().await {
                let _ = err_tx.send(error_chain(&e));
            }
        });
        Ok(Connected { send, conn_err: err_rx, diagnostics })
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
        let Connected { mut send, conn_err, diagnostics } = self.connect().await?;
        let resp = match send.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                // A command transport that failed (ssh refused, no berth on the far side) says why on stderr.
                if let Some(d) = diagnostics {
                    let command = d.command.clone();
                    let stderr = d.text().await;
                    let stderr = if stderr.is_empty() { error_chain(&e) } else { stderr };
                    return Err(ClientError::Command { host: self.host.to_string(), command, stderr });
                }
                // The connection's own error says why (a TLS alert from a daemon refusing the client
                // certificate); when it is not in yet, the request's error carries it too.
                let why = tokio::time::timeout(std::time::Duration::from_secs(2), conn_err).await.ok().and_then(Result::ok);
                let why = why.unwrap_or_else(|| error_chain(&e));
                return Err(if self.tls.is_some() {
                    ClientError::Tls(format!("the daemon ended the connection: {why}"))
                } else {
                    ClientError::Protocol(why)
                });
            }
        };
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

/// An error and its sources joined with `: `, skipping sources already in the message.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
        cur = c.source();
    }
    s
}

/// A failed handshake in words a user can act on.
pub(crate) fn tls_failure(e: &io::Error) -> String {
    let text = e.to_string();
    if text.contains("corrupt message") || text.contains("InvalidContentType") {
        return format!("the daemon did not answer in TLS (is it serving plain HTTP on this port?): {text}");
    }
    format!("handshake with the daemon failed: {text}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_hosts_without_a_port_get_dockers_default() {
        assert_eq!(with_default_port("10.0.0.1", true), "10.0.0.1:2376");
        assert_eq!(with_default_port("example.org", false), "example.org:2375");
        assert_eq!(with_default_port("example.org:1234", true), "example.org:1234");
        assert_eq!(with_default_port("[::1]:99", true), "[::1]:99");
        assert_eq!(with_default_port("[::1]", true), "[::1]:2376");
    }
}
