//! The userland proxy behind published ports (Docker's `docker-proxy`, in-process on tokio).
//!
//! iptables DNAT handles traffic arriving from outside; connections to the host's own
//! addresses from the host itself (notably `127.0.0.1`, which DNAT cannot reach without
//! `route_localnet`) arrive at the socket this proxy holds on the published port. Holding that
//! socket also reserves the port, so a second publication of it fails the way Docker's does.
//!
//! - TCP: each accepted connection gets its own upstream connection; bytes are copied both ways
//!   and an EOF on one side shuts down writing on the other, so half-closed protocols work.
//! - UDP: each client address is a flow with its own upstream socket; replies go back to that
//!   client from the published socket. A flow idle for [`UDP_IDLE_TIMEOUT`] is dropped.
//!
//! An IPv6 host address is bound IPv6-only (`IPV6_V6ONLY`, as docker-proxy's `tcp6`/`udp6`
//! listeners): `[::]:P` then sits beside `0.0.0.0:P` instead of taking the IPv4 side too. Its
//! target may be an IPv4 address: dockerd 20.10 proxies `[::]:P` to a container without IPv6.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::poll_fn;
use tokio::io::ReadBuf;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};
use tracing::debug;

use crate::firewall::Proto;

/// How long a UDP flow lives without traffic (Docker's `UDPConnTrackTimeout`).
pub const UDP_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Copy buffer of each TCP direction; large buffers keep bulk transfers at memory speed.
const TCP_BUFFER: usize = 256 * 1024;
/// The largest UDP payload (Docker's `UDPBufSize`).
const UDP_BUFFER: usize = 65507;

/// A failure to start a proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Another socket holds the host port (Docker's wording, which clients show as is; an IPv6
    /// address unbracketed, `Bind for :::8080 failed`, as dockerd prints it).
    #[error("Bind for {}:{} failed: port is already allocated", .addr.ip(), .addr.port())]
    PortAllocated {
        /// The host address and port.
        addr: SocketAddr,
    },
    /// Binding the host port failed for another reason (permission, unknown address, …).
    #[error("Bind for {}:{} failed", .addr.ip(), .addr.port())]
    Bind {
        /// The host address and port.
        addr: SocketAddr,
        /// Why the bind failed.
        source: io::Error,
    },
    /// The userland proxy only carries TCP and UDP.
    #[error("userland proxy does not support protocol {proto}")]
    Unsupported {
        /// The refused protocol.
        proto: Proto,
    },
}

/// A running proxy. Stopping it (or dropping it) closes the published socket at once, so the
/// port is free when [`ProxyHandle::stop`] returns, and closes every live connection and flow.
#[derive(Debug)]
pub struct ProxyHandle {
    local_addr: SocketAddr,
    socket: Arc<Slot<Socket>>,
    task: JoinHandle<()>,
}

impl ProxyHandle {
    /// The bound host address (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the proxy; same as dropping the handle.
    pub fn stop(self) {}
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        // Closing the socket here rather than in the aborted task makes the release of the
        // port synchronous; aborting the task drops its JoinSet, which aborts every relay.
        self.socket.close();
        self.task.abort();
    }
}

/// Binds `host` (port 0 picks an ephemeral port) and forwards every TCP connection or UDP
/// flow arriving there to `target`. Must run inside a tokio runtime, which carries the relays.
pub async fn start(proto: Proto, host: SocketAddr, target: SocketAddr) -> Result<ProxyHandle, ProxyError> {
    start_with(proto, host, target, UDP_IDLE_TIMEOUT).await
}

async fn start_with(
    proto: Proto,
    host: SocketAddr,
    target: SocketAddr,
    udp_idle: Duration,
) -> Result<ProxyHandle, ProxyError> {
    let bind_error = |source: io::Error| match source.kind() {
        io::ErrorKind::AddrInUse => ProxyError::PortAllocated { addr: host },
        _ => ProxyError::Bind { addr: host, source },
    };
    let (local_addr, socket) = match proto {
        Proto::Tcp => {
            let listener = bind_tcp(host).map_err(bind_error)?;
            (listener.local_addr().map_err(bind_error)?, Socket::Tcp(listener))
        }
        Proto::Udp => {
            let socket = bind_udp(host).map_err(bind_error)?;
            (socket.local_addr().map_err(bind_error)?, Socket::Udp(socket))
        }
        Proto::Sctp => return Err(ProxyError::Unsupported { proto }),
    };
    let socket = Arc::new(Slot::new(socket));
    let task = match proto {
        Proto::Tcp => tokio::spawn(serve_tcp(socket.clone(), target)),
        _ => tokio::spawn(serve_udp(socket.clone(), target, udp_idle)),
    };
    debug!(proxy.proto = %proto, proxy.host = %local_addr, proxy.target = %target, "proxy started");
    Ok(ProxyHandle { local_addr, socket, task })
}

/// Whether this host can listen on IPv6 at all (not with `ipv6.disable=1`): dockerd's
/// `IsV6Listenable`, which decides whether a port published on every address gets its `::` half.
pub fn ipv6_listenable() -> bool {
    static LISTENABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LISTENABLE.get_or_init(|| std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok())
}

/// A TCP listener on `host` (with `SO_REUSEADDR`, as tokio's `bind`), IPv6-only for an IPv6 address.
fn bind_tcp(host: SocketAddr) -> io::Result<TcpListener> {
    let socket = match host {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => {
            let s = tokio::net::TcpSocket::new_v6()?;
            rustix::net::sockopt::set_ipv6_v6only(&s, true)?;
            s
        }
    };
    socket.set_reuseaddr(true)?;
    socket.bind(host)?;
    socket.listen(1024)
}

/// A UDP socket on `host`, IPv6-only for an IPv6 address.
fn bind_udp(host: SocketAddr) -> io::Result<UdpSocket> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let family = if host.is_ipv6() { AddressFamily::INET6 } else { AddressFamily::INET };
    let fd = rustix::net::socket_with(family, SocketType::DGRAM, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK, None)?;
    if host.is_ipv6() {
        rustix::net::sockopt::set_ipv6_v6only(&fd, true)?;
    }
    rustix::net::bind(&fd, &host)?;
    UdpSocket::from_std(std::net::UdpSocket::from(fd))
}

/// The published socket.
#[derive(Debug)]
enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// A socket that its owner can close synchronously while tasks are polling it. Tasks poll it
/// under the lock (never holding the lock across an await); once closed, every poll fails.
#[derive(Debug)]
struct Slot<T>(Mutex<Option<T>>);

impl<T> Slot<T> {
    fn new(value: T) -> Slot<T> {
        Slot(Mutex::new(Some(value)))
    }

    fn lock(&self) -> MutexGuard<'_, Option<T>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn close(&self) {
        let taken = self.lock().take();
        drop(taken);
    }

    fn poll_with<R>(&self, f: impl FnOnce(&T) -> Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match self.lock().as_ref() {
            Some(value) => f(value),
            None => Poll::Ready(Err(closed())),
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "proxy stopped")
}

fn is_closed(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotConnected
}

/// Calls `f` on the TCP listener or UDP socket inside the slot.
fn poll_tcp<R>(
    slot: &Slot<Socket>,
    cx: &mut Context<'_>,
    f: impl FnOnce(&TcpListener, &mut Context<'_>) -> Poll<io::Result<R>>,
) -> Poll<io::Result<R>> {
    slot.poll_with(|s| match s {
        Socket::Tcp(l) => f(l, cx),
        Socket::Udp(_) => Poll::Ready(Err(closed())),
    })
}

fn poll_udp<R>(
    slot: &Slot<Socket>,
    cx: &mut Context<'_>,
    f: impl FnOnce(&UdpSocket, &mut Context<'_>) -> Poll<io::Result<R>>,
) -> Poll<io::Result<R>> {
    slot.poll_with(|s| match s {
        Socket::Udp(u) => f(u, cx),
        Socket::Tcp(_) => Poll::Ready(Err(closed())),
    })
}

async fn serve_tcp(listener: Arc<Slot<Socket>>, target: SocketAddr) {
    let mut relays = JoinSet::new();
    loop {
        tokio::select! {
            accepted = poll_fn(|cx| poll_tcp(&listener, cx, |l, cx| l.poll_accept(cx))) => match accepted {
                Ok((client, peer)) => {
                    relays.spawn(relay_tcp(client, peer, target));
                }
                Err(e) if is_closed(&e) => return,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning on the listener.
                    debug!(error = %e, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = relays.join_next(), if !relays.is_empty() => {}
        }
    }
}

async fn relay_tcp(mut client: TcpStream, peer: SocketAddr, target: SocketAddr) {
    let mut upstream = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            debug!(proxy.client = %peer, proxy.target = %target, error = %e, "proxy connect failed");
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    // copy_bidirectional shuts down the write side of one stream when the other reaches EOF
    // and keeps copying the opposite direction: half-close is carried through.
    if let Err(e) = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut upstream, TCP_BUFFER, TCP_BUFFER).await {
        debug!(proxy.client = %peer, error = %e, "proxy connection ended with an error");
    }
}

/// One client's UDP flow: its upstream socket and when the client last sent.
struct Flow {
    upstream: Arc<UdpSocket>,
    state: Arc<FlowState>,
}

struct FlowState {
    epoch: Instant,
    /// Milliseconds since `epoch` of the last datagram in either direction.
    last_active: AtomicU64,
    /// Set by the flow's task when it ends, so a new datagram opens a new flow.
    ended: AtomicBool,
}

impl FlowState {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(ms, Ordering::Relaxed);
    }

    fn idle_deadline(&self, idle: Duration) -> tokio::time::Instant {
        let last = self.epoch + Duration::from_millis(self.last_active.load(Ordering::Relaxed));
        tokio::time::Instant::from_std(last + idle)
    }
}

async fn serve_udp(socket: Arc<Slot<Socket>>, target: SocketAddr, idle: Duration) {
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut tasks: JoinSet<SocketAddr> = JoinSet::new();
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let received = tokio::select! {
            // Reap ended flows first, so a datagram never goes to a flow that stopped reading.
            biased;
            Some(ended) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(client) = ended {
                    if flows.get(&client).is_some_and(|f| f.state.ended.load(Ordering::Relaxed)) {
                        flows.remove(&client);
                    }
                }
                continue;
            }
            received = recv_from(&socket, &mut buf) => received,
        };
        let (n, client) = match received {
            Ok(r) => r,
            Err(e) if is_closed(&e) => return,
            Err(e) => {
                debug!(error = %e, "proxy receive failed");
                continue;
            }
        };
        if flows.get(&client).is_some_and(|f| f.state.ended.load(Ordering::Relaxed)) {
            flows.remove(&client);
        }
        let flow = match flows.entry(client) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => match open_flow(target).await {
                Ok(upstream) => {
                    let state = Arc::new(FlowState {
                        epoch: Instant::now(),
                        last_active: AtomicU64::new(0),
                        ended: AtomicBool::new(false),
                    });
                    tasks.spawn(flow_replies(client, upstream.clone(), socket.clone(), state.clone(), idle));
                    entry.insert(Flow { upstream, state })
                }
                Err(e) => {
                    debug!(proxy.client = %client, proxy.target = %target, error = %e, "proxy flow open failed");
                    continue;
                }
            },
        };
        flow.state.touch();
        // ECONNREFUSED from an earlier ICMP error is reported here; the datagram is lost, as
        // UDP allows, and the flow stays.
        if let Err(e) = flow.upstream.send(&buf[..n]).await {
            debug!(proxy.client = %client, error = %e, "proxy send upstream failed");
        }
    }
}

fn recv_from<'a>(
    socket: &'a Slot<Socket>,
    buf: &'a mut [u8],
) -> impl Future<Output = io::Result<(usize, SocketAddr)>> + 'a {
    poll_fn(move |cx| {
        poll_udp(socket, cx, |s, cx| {
            let mut rb = ReadBuf::new(buf);
            s.poll_recv_from(cx, &mut rb).map_ok(|addr| (rb.filled().len(), addr))
        })
    })
}

async fn open_flow(target: SocketAddr) -> io::Result<Arc<UdpSocket>> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let upstream = UdpSocket::bind(local).await?;
    upstream.connect(target).await?;
    Ok(Arc::new(upstream))
}

/// Relays the upstream's replies to `client` until the flow has been idle for `idle`.
async fn flow_replies(
    client: SocketAddr,
    upstream: Arc<UdpSocket>,
    socket: Arc<Slot<Socket>>,
    state: Arc<FlowState>,
    idle: Duration,
) -> SocketAddr {
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let received = tokio::time::timeout_at(state.idle_deadline(idle), upstream.recv(&mut buf)).await;
        match received {
            Ok(Ok(n)) => {
                state.touch();
                let sent = poll_fn(|cx| poll_udp(&socket, cx, |s, cx| s.poll_send_to(cx, &buf[..n], client))).await;
                match sent {
                    Ok(_) => {}
                    Err(e) if is_closed(&e) => break,
                    Err(e) => debug!(proxy.client = %client, error = %e, "proxy reply failed"),
                }
            }
            // The target's port was closed when an earlier datagram arrived; keep the flow.
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {}
            Ok(Err(e)) => {
                debug!(proxy.client = %client, error = %e, "proxy flow receive failed");
                break;
            }
            // The deadline moves with client traffic; end only when it really passed.
            Err(_) if tokio::time::Instant::now() < state.idle_deadline(idle) => {}
            Err(_) => break,
        }
    }
    state.ended.store(true, Ordering::Relaxed);
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_udp_flow_is_dropped_and_reopened() {
        let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let echo_addr = echo.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let echo_task = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((n, from)) = echo.recv_from(&mut buf).await {
                seen2.lock().unwrap().push(from);
                let _ = echo.send_to(&buf[..n], from).await;
            }
        });
        let proxy = start_with(Proto::Udp, "127.0.0.1:0".parse().unwrap(), echo_addr, Duration::from_millis(200))
            .await
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..2 {
            client.send_to(b"ping", proxy.local_addr()).await.unwrap();
            let (n, _) =
                tokio::time::timeout(Duration::from_secs(5), client.recv_from(&mut buf)).await.unwrap().unwrap();
            assert_eq!(&buf[..n], b"ping");
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        assert_ne!(seen[0], seen[1], "the second datagram should come from a new upstream socket");
        echo_task.abort();
    }

    #[tokio::test]
    async fn sctp_is_refused() {
        let err = start(Proto::Sctp, "127.0.0.1:0".parse().unwrap(), "127.0.0.1:1".parse().unwrap()).await.unwrap_err();
        assert_eq!(err.to_string(), "userland proxy does not support protocol sctp");
    }
}
