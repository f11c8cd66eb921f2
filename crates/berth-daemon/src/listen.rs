//! API listeners: `unix:///path` (the default), `tcp://HOST:PORT` and `fd://` (sockets passed by
//! systemd's socket activation: `fd://` takes all of them, `fd://N` the one numbered N), and the
//! accept loop that hands each connection to hyper with upgrades enabled (attach and exec hijack
//! the connection), within [`Limits`]: a connection cap, header and body read timeouts, a header
//! size limit. TCP listeners serve TLS when the daemon has it (`crate::tls`); the unix socket is
//! guarded by its owner, group and mode (root:GROUP 0660, dockerd's `-G/--group`).

use crate::api::Api;
use crate::DaemonError;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::path::PathBuf;
use std::str::FromStr;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Where the API is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP address.
    Tcp(SocketAddr),
    /// Socket-activated sockets: all of them (None), or the one with this fd number.
    Fd(Option<i32>),
}

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(p) = s.strip_prefix("unix://") {
            if p.is_empty() {
                return Err(format!("invalid host {s:?}: empty socket path"));
            }
            return Ok(ListenAddr::Unix(PathBuf::from(p)));
        }
        if let Some(a) = s.strip_prefix("tcp://") {
            let a = a.trim_end_matches('/');
            return a.parse().map(ListenAddr::Tcp).map_err(|_| format!("invalid host {s:?}: expected tcp://IP:PORT"));
        }
        if let Some(n) = s.strip_prefix("fd://") {
            if n.is_empty() || n == "*" {
                return Ok(ListenAddr::Fd(None));
            }
            return match n.parse::<i32>() {
                Ok(fd) if fd >= crate::activation::LISTEN_FDS_START => Ok(ListenAddr::Fd(Some(fd))),
                _ => Err(format!("invalid host {s:?}: expected fd:// or fd://N (N >= 3)")),
            };
        }
        if s.starts_with('/') {
            return Ok(ListenAddr::Unix(PathBuf::from(s)));
        }
        Err(format!("invalid host {s:?}: expected unix:///path, tcp://IP:PORT or fd://"))
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Unix(p) => write!(f, "unix://{}", p.display()),
            ListenAddr::Tcp(a) => write!(f, "tcp://{a}"),
            ListenAddr::Fd(None) => write!(f, "fd://"),
            ListenAddr::Fd(Some(n)) => write!(f, "fd://{n}"),
        }
    }
}

impl ListenAddr {
    /// Removes what serving left behind (the socket file; a socket-activated one stays, it is the
    /// service manager's).
    pub fn cleanup(&self) {
        if let ListenAddr::Unix(p) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A bound listener.
pub enum Listener {
    /// Unix socket.
    Unix(UnixListener),
    /// TCP socket.
    Tcp(TcpListener),
}

/// Who may use the unix socket besides its owner: a group by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SocketGroup {
    /// The default group (`berth`) when it exists, else the owner's alone (dockerd falls back the
    /// same way when its `docker` group is missing).
    #[default]
    Default,
    /// A group the operator named (`--group`): must exist.
    Named(String),
}

/// The default `--group`. Not dockerd's `docker`: Berth may run beside dockerd, and members of
/// docker's group should not get Berth's socket without being asked for.
pub const DEFAULT_SOCKET_GROUP: &str = "berth";

impl SocketGroup {
    pub(crate) fn resolve(&self) -> Result<Option<nix::unistd::Gid>, String> {
        let (name, required) = match self {
            SocketGroup::Default => (DEFAULT_SOCKET_GROUP, false),
            SocketGroup::Named(n) => (n.as_str(), true),
        };
        if let Ok(gid) = name.parse::<u32>() {
            return Ok(Some(nix::unistd::Gid::from_raw(gid)));
        }
        match nix::unistd::Group::from_name(name) {
            Ok(Some(g)) => Ok(Some(g.gid)),
            Ok(None) | Err(_) if !required => Ok(None),
            Ok(None) => Err(format!("group {name:?} not found")),
            Err(e) => Err(format!("looking up group {name:?}: {e}")),
        }
    }
}

/// Refuses listening on a non-loopback TCP address without TLS unless the operator allowed it
/// explicitly (`--tls=false`): dockerd refuses to start so since v27, because the API is root on
/// this host to anyone who reaches the port. When allowed, says so loudly.
pub fn check_plain_tcp(addrs: impl IntoIterator<Item = SocketAddr>, tls: bool, plain_tcp_allowed: bool) -> Result<(), DaemonError> {
    if tls {
        return Ok(());
    }
    for addr in addrs {
        if addr.ip().is_loopback() {
            tracing::warn!(addr = %addr, "API served on TCP without TLS: every local user, and scripts in a browser, can reach it; it grants root on this host");
            continue;
        }
        if !plain_tcp_allowed {
            return Err(DaemonError::Listen {
                addr: format!("tcp://{addr}"),
                source: std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    "serving the API on a non-loopback address without TLS gives root on this host to everyone who can reach it: use --tlsverify with --tlscacert, --tlscert and --tlskey, or pass --tls=false to accept the risk explicitly",
                ),
            });
        }
        for _ in 0..3 {
            tracing::warn!(addr = %addr, "SECURITY: the API is served on a non-loopback TCP address WITHOUT TLS (--tls=false): ANYONE WHO CAN REACH THIS PORT IS ROOT ON THIS HOST");
        }
    }
    Ok(())
}

/// The TCP addresses of bound listeners.
pub fn tcp_addrs(listeners: &[Listener]) -> Vec<SocketAddr> {
    listeners.iter().filter_map(|l| if let Listener::Tcp(t) = l { t.local_addr().ok() } else { None }).collect()
}

/// Binds `addr` (for `fd://`, takes the passed sockets). A stale unix socket (nobody answering) is
/// replaced; a live one is an error. A unix socket Berth binds gets mode 0660 and `group`.
pub async fn bind(addr: &ListenAddr, group: &SocketGroup) -> Result<Vec<Listener>, DaemonError> {
    let err = |source| DaemonError::Listen { addr: addr.to_string(), source };
    match addr {
        ListenAddr::Fd(n) => {
            let fds = crate::activation::take(*n).map_err(|m| err(std::io::Error::new(std::io::ErrorKind::NotFound, m)))?;
            fds.into_iter().map(|fd| from_passed(fd).map_err(err)).collect()
        }
        _ => Ok(vec![bind_one(addr, group).await?]),
    }
}

/// A listener from a passed socket: unix or TCP, whichever its address is.
fn from_passed(fd: std::os::fd::OwnedFd) -> std::io::Result<Listener> {
    let unix = std::os::unix::net::UnixListener::from(fd);
    if unix.local_addr().is_ok() {
        unix.set_nonblocking(true)?;
        return Ok(Listener::Unix(UnixListener::from_std(unix)?));
    }
    let tcp = std::net::TcpListener::from(std::os::fd::OwnedFd::from(unix));
    if tcp.local_addr().is_ok() {
        tcp.set_nonblocking(true)?;
        return Ok(Listener::Tcp(TcpListener::from_std(tcp)?));
    }
    Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "a passed fd is neither a unix nor a TCP stream socket"))
}

async fn bind_one(addr: &ListenAddr, group: &SocketGroup) -> Result<Listener, DaemonError> {
    let err = |source| DaemonError::Listen { addr: addr.to_string(), source };
    match addr {
        ListenAddr::Fd(_) => unreachable!("bind takes passed sockets"),
        ListenAddr::Unix(p) => {
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            if p.exists() {
                if tokio::net::UnixStream::connect(p).await.is_ok() {
                    return Err(err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "socket is in use by another process")));
                }
                std::fs::remove_file(p).map_err(err)?;
            }
            let l = UnixListener::bind(p).map_err(err)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
            let gid = group.resolve().map_err(|m| err(std::io::Error::new(std::io::ErrorKind::NotFound, m)))?;
            if let Some(gid) = gid {
                nix::unistd::chown(p, None, Some(gid)).map_err(|e| err(e.into()))?;
            }
            Ok(Listener::Unix(l))
        }
        ListenAddr::Tcp(a) => Ok(Listener::Tcp(TcpListener::bind(a).await.map_err(err)?)),
    }
}

/// What one listener lets a client hold: connections at once, and how long a request's headers, or
/// the gap between two pieces of its body, may take. dockerd has no connection cap and gives headers
/// 5 minutes; Berth caps both so that a slow or hostile client cannot hold the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once, over all listeners; beyond it a client gets a 503 and is closed.
    pub max_connections: usize,
    /// Time for a request's headers, and the longest wait for the next piece of its body.
    pub read_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: 2048, read_timeout: std::time::Duration::from_secs(60) }
    }
}

/// Header bytes a request may carry: Go's `http.DefaultMaxHeaderBytes` plus its 4 KiB slack, as
/// dockerd accepts. Beyond it the answer is 431, as dockerd's.
const MAX_HEADER_BYTES: usize = (1 << 20) + 4096;
/// Header lines a request may carry (Go has no count limit; hyper's default is 100).
const MAX_HEADERS: usize = 1024;

/// The connection slots all listeners share, and per TCP peer address: one peer holds at most a
/// quarter of them, so a slowloris from one address cannot take them all.
#[derive(Clone)]
pub struct Slots {
    limits: Limits,
    total: Arc<tokio::sync::Semaphore>,
    per_peer: PeerCounts,
}

/// Connections held per TCP peer address.
type PeerCounts = Arc<std::sync::Mutex<HashMap<IpAddr, usize>>>;

/// A connection's hold on its slots, released when the connection ends.
struct Slot {
    _total: tokio::sync::OwnedSemaphorePermit,
    peer: Option<(IpAddr, PeerCounts)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((ip, map)) = &self.peer {
            let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(ip);
                }
            }
        }
    }
}

impl Slots {
    /// Slots for `limits`.
    pub fn new(limits: Limits) -> Slots {
        Slots { limits, total: Arc::new(tokio::sync::Semaphore::new(limits.max_connections)), per_peer: Default::default() }
    }

    fn per_peer_max(&self) -> usize {
        (self.limits.max_connections / 4).max(1)
    }

    /// A slot for a connection from `peer` (None: a unix socket), or why there is none.
    fn take(&self, peer: Option<IpAddr>) -> Result<Slot, String> {
        let total = self.total.clone().try_acquire_owned().map_err(|_| {
            format!("too many connections: the daemon serves at most {} at once; try again later", self.limits.max_connections)
        })?;
        let Some(ip) = peer else { return Ok(Slot { _total: total, peer: None }) };
        let mut m = self.per_peer.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= self.per_peer_max() {
            return Err(format!("too many connections from {ip}: one address may hold at most {} at once", self.per_peer_max()));
        }
        *n += 1;
        Ok(Slot { _total: total, peer: Some((ip, self.per_peer.clone())) })
    }
}

/// Accepts connections until `stop` turns true, each within `slots`. TCP connections go through
/// `tls` when given (the handshake runs in the connection's task, so a slow client holds up no one).
pub async fn accept_loop(listener: Listener, api: Api, slots: Slots, tls: Option<TlsAcceptor>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            r = accept(&listener) => r,
        };
        match accepted {
            Ok((conn, peer)) => match slots.take(peer) {
                Ok(slot) => {
                    let (api, limits, stop, tls) = (api.clone(), slots.limits, stop.clone(), tls.clone());
                    tokio::spawn(async move {
                        let io = match (conn, tls) {
                            (Accepted::Tcp(s), Some(tls)) => match crate::tls::handshake(&tls, s).await {
                                Some(s) => TokioIo::new(Box::new(s) as Box<dyn ConnIo>),
                                None => return,
                            },
                            (c, _) => c.into_io(),
                        };
                        serve(io, api, limits, slot, stop).await
                    });
                }
                Err(why) => {
                    tracing::warn!(peer = ?peer, "{why}");
                    tokio::spawn(refuse(conn.into_io(), why));
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves HTTP on one accepted connection (a TLS stream slots in here as any other `ConnIo`).
async fn serve(io: Io, api: Api, limits: Limits, slot: Slot, mut stop: watch::Receiver<bool>) {
    let _slot = slot;
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let api = api.clone();
        // A body that stalls longer than the read timeout between two pieces ends in an error.
        let req = req.map(|b| tower_http::timeout::TimeoutBody::new(limits.read_timeout, b));
        // hyper refuses headers beyond its buffer only when they come in several reads; ones that
        // arrive in one are parsed whole. Go's limit (1 MiB) is checked here too, so the answer does not
        // depend on how the bytes were split.
        let too_large = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>() > MAX_HEADER_BYTES;
        async move {
            if too_large {
                let mut r = hyper::Response::new(axum::body::Body::empty());
                *r.status_mut() = hyper::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                return Ok::<_, std::convert::Infallible>(r);
            }
            Ok::<_, std::convert::Infallible>(api.handle(req).await)
        }
    });
    // Header names go out in Go's canonical case (`Api-Version`, `Ostype`), as dockerd sends them: some
    // clients compare them case-sensitively.
    // A client may half-close after its request and still wait for the answer (`berth system
    // dial-stdio` passes on the end of its stdin, as docker's does; Go's server answers it): hyper
    // would otherwise drop the connection at that EOF without responding.
    let conn = hyper::server::conn::http1::Builder::new()
        .half_close(true)
        .title_case_headers(true)
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.read_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS)
        .serve_connection(io, svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = stop.changed() => {}
    }
}

/// Answers a connection beyond the cap with a 503 and Docker's error shape, then closes it.
async fn refuse(mut io: Io, why: String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::to_vec(&berth_api::ErrorBody { message: why }).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nApi-Version: {}\r\n\r\n",
        body.len(),
        berth_api::version::API_VERSION
    );
    let io = io.inner_mut();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        io.write_all(head.as_bytes()).await?;
        io.write_all(&body).await?;
        io.shutdown().await?;
        // Read what the client sent (briefly, boundedly) so that closing does not reset the
        // connection before it reads the answer.
        let mut sink = [0u8; 4096];
        let mut left = 64 << 10;
        while left > 0 {
            let n = io.read(&mut sink).await?;
            if n == 0 {
                break;
            }
            left -= n.min(left);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

type Io = TokioIo<Box<dyn ConnIo>>;

/// A connection's byte stream, whatever the socket type.
pub trait ConnIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> ConnIo for T {}

/// An accepted connection, before any TLS.
enum Accepted {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

impl Accepted {
    /// The connection as it is, without TLS.
    fn into_io(self) -> Io {
        match self {
            Accepted::Unix(s) => TokioIo::new(Box::new(s) as Box<dyn ConnIo>),
            Accepted::Tcp(s) => TokioIo::new(Box::new(s) as Box<dyn ConnIo>),
        }
    }
}

/// The next connection and, for TCP, its peer's address.
async fn accept(l: &Listener) -> std::io::Result<(Accepted, Option<IpAddr>)> {
    Ok(match l {
        Listener::Unix(u) => (Accepted::Unix(u.accept().await?.0), None),
        Listener::Tcp(t) => {
            let (s, peer) = t.accept().await?;
            let _ = s.set_nodelay(true);
            (Accepted::Tcp(s), Some(peer.ip()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_strings_parse() {
        assert_eq!("unix:///run/b.sock".parse::<ListenAddr>().unwrap(), ListenAddr::Unix("/run/b.sock".into()));
        assert_eq!("tcp://127.0.0.1:2375".parse::<ListenAddr>().unwrap(), ListenAddr::Tcp("127.0.0.1:2375".parse().unwrap()));
        assert!("http://x".parse::<ListenAddr>().is_err());
        assert!("unix://".parse::<ListenAddr>().is_err());
        assert!("tcp://nohost".parse::<ListenAddr>().is_err());
        assert_eq!("fd://".parse::<ListenAddr>().unwrap(), ListenAddr::Fd(None));
        assert_eq!("fd://4".parse::<ListenAddr>().unwrap(), ListenAddr::Fd(Some(4)));
        assert!("fd://2".parse::<ListenAddr>().is_err());
        assert!("fd://x".parse::<ListenAddr>().is_err());
    }
}
