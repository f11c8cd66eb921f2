//! API listeners: `unix:///path` (the default), `tcp://HOST:PORT` and `fd://` (sockets passed by
//! systemd's socket activation: `fd://` takes all of them, `fd://N` the one numbered N), and the
//! accept loop that hands each connection to hyper with upgrades enabled (attach and exec hijack
//! the connection).

use crate::api::Api;
use crate::DaemonError;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

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

/// Binds `addr` (for `fd://`, takes the passed sockets). A stale unix socket (nobody answering) is
/// replaced; a live one is an error.
pub async fn bind(addr: &ListenAddr) -> Result<Vec<Listener>, DaemonError> {
    let err = |source| DaemonError::Listen { addr: addr.to_string(), source };
    match addr {
        ListenAddr::Fd(n) => {
            let fds = crate::activation::take(*n).map_err(|m| err(std::io::Error::new(std::io::ErrorKind::NotFound, m)))?;
            fds.into_iter().map(|fd| from_passed(fd).map_err(err)).collect()
        }
        _ => Ok(vec![bind_one(addr).await?]),
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

async fn bind_one(addr: &ListenAddr) -> Result<Listener, DaemonError> {
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
            Ok(Listener::Unix(l))
        }
        ListenAddr::Tcp(a) => {
            if !a.ip().is_loopback() {
                tracing::warn!(addr = %a, "API served on a non-loopback TCP address without TLS: anyone who reaches it controls this host");
            }
            Ok(Listener::Tcp(TcpListener::bind(a).await.map_err(err)?))
        }
    }
}

/// Accepts connections until `stop` turns true.
pub async fn accept_loop(listener: Listener, api: Api, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            r = accept(&listener) => r,
        };
        match accepted {
            Ok(io) => {
                let api = api.clone();
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let api = api.clone();
                        async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
                    });
                    // Header names go out in Go's canonical case (`Api-Version`, `Ostype`), as dockerd sends them: some
                    // clients compare them case-sensitively.
                    let conn = hyper::server::conn::http1::Builder::new().title_case_headers(true).serve_connection(io, svc).with_upgrades();
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(e) = r {
                                tracing::debug!(error = %e, "connection ended with an error");
                            }
                        }
                        _ = stop.changed() => {}
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

type Io = TokioIo<Box<dyn ConnIo>>;

/// A connection's byte stream, whatever the socket type.
pub trait ConnIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> ConnIo for T {}

async fn accept(l: &Listener) -> std::io::Result<Io> {
    Ok(match l {
        Listener::Unix(u) => TokioIo::new(Box::new(u.accept().await?.0) as Box<dyn ConnIo>),
        Listener::Tcp(t) => {
            let (s, _) = t.accept().await?;
            let _ = s.set_nodelay(true);
            TokioIo::new(Box::new(s) as Box<dyn ConnIo>)
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
