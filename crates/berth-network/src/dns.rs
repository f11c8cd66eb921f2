//! The embedded DNS server: Docker's `127.0.0.11` inside containers on user-defined networks.
//!
//! The daemon binds a UDP socket and a TCP listener inside the container's network namespace
//! and hands them to [`serve`]; the server itself runs on the daemon's tokio runtime, so its
//! forwarded queries leave from the daemon's namespace (the host's resolvers, as Docker's do).
//!
//! Answers follow Docker's resolver (`libnetwork/resolver.go`):
//! - A for a name the [`Resolver`] knows: its addresses, TTL 600;
//! - AAAA for a known name: its IPv6 addresses on dual-stack networks (none: NOERROR without
//!   answers);
//! - any other type for a known name: NOERROR without answers, so the client does not go
//!   looking elsewhere for a container name;
//! - PTR for a known `in-addr.arpa` address: the container's name;
//! - anything else is forwarded verbatim to the upstreams in order (2 s each; UDP queries over
//!   UDP, TCP queries over TCP) and the first answer relayed; with none left, SERVFAIL.
//!
//! Malformed UDP packets are dropped and malformed TCP messages close the connection.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};
use tracing::debug;

/// TTL of local answers (Docker's `respTTL`).
const TTL: u32 = 600;
/// How long one upstream gets to answer before the next is tried.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);
/// Forwarded queries in flight at once (Docker's `maxConcurrent`); more get SERVFAIL.
const MAX_IN_FLIGHT: usize = 1024;
/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// UDP payload accepted without EDNS (RFC 1035 section 4.2.1).
const CLASSIC_UDP_SIZE: usize = 512;
/// Largest UDP answer built locally, whatever the client's EDNS size.
const MAX_UDP_SIZE: u16 = 4096;
/// Receive buffer: the largest UDP datagram.
const RECV_BUFFER: usize = 65535;

/// The names the server answers itself: the containers and aliases visible on the querying
/// container's networks.
pub trait Resolver: Send + Sync + 'static {
    /// IPv4 addresses of `name` (already lowercased, without trailing dot) on the container's
    /// networks; `None` when unknown (then the query is forwarded). `Some` of an empty list
    /// marks a known name without IPv4 addresses.
    fn lookup_a(&self, name: &str) -> Option<Vec<Ipv4Addr>>;
    /// IPv6 addresses of `name` on the container's networks (dual-stack ones); `None` when
    /// unknown, `Some` of an empty list for a known name without IPv6 addresses. By default
    /// every known name has none.
    fn lookup_aaaa(&self, name: &str) -> Option<Vec<Ipv6Addr>> {
        self.lookup_a(name).map(|_| Vec::new())
    }
    /// Name for a reverse lookup of `ip` (PTR), `None` when unknown.
    fn lookup_ptr(&self, ip: Ipv4Addr) -> Option<String>;
}

/// A failure to start the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// [`serve`] was called outside a tokio runtime.
    #[error("the embedded DNS server must be started inside a tokio runtime")]
    NoRuntime,
    /// A socket handed to [`serve`] could not be made non-blocking or registered.
    #[error("prepare the DNS {socket} socket")]
    Socket {
        /// `udp` or `tcp`.
        socket: &'static str,
        /// Why it failed.
        source: io::Error,
    },
}

/// A running DNS server. [`DnsHandle::stop`] or dropping it stops serving; the sockets and
/// every connection are closed as the runtime cancels the server's tasks.
#[derive(Debug)]
pub struct DnsHandle {
    tasks: Vec<JoinHandle<()>>,
}

impl DnsHandle {
    /// Stops serving; same as dropping the handle.
    pub fn stop(self) {}
}

impl Drop for DnsHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Serves DNS queries arriving on `udp` and `tcp` (both already bound, possibly in another
/// network namespace) on the current tokio runtime. Names `resolver` does not know are
/// forwarded to `upstreams` in order; an empty list answers them with SERVFAIL.
pub fn serve(
    udp: std::net::UdpSocket,
    tcp: std::net::TcpListener,
    resolver: Arc<dyn Resolver>,
    upstreams: Vec<SocketAddr>,
) -> Result<DnsHandle, DnsError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| DnsError::NoRuntime)?;
    let _entered = runtime.enter();
    let udp = udp
        .set_nonblocking(true)
        .and_then(|()| UdpSocket::from_std(udp))
        .map_err(|source| DnsError::Socket { socket: "udp", source })?;
    let tcp = tcp
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(tcp))
        .map_err(|source| DnsError::Socket { socket: "tcp", source })?;
    let server = Arc::new(Server { resolver, upstreams });
    let tasks = vec![runtime.spawn(serve_udp(Arc::new(udp), server.clone())), runtime.spawn(serve_tcp(tcp, server))];
    Ok(DnsHandle { tasks })
}

/// What the server shares between its tasks.
struct Server {
    resolver: Arc<dyn Resolver>,
    upstreams: Vec<SocketAddr>,
}

/// What to do with one query.
#[derive(Debug)]
enum Action {
    /// Not a query: ignore it.
    Drop,
    /// Answer with this message.
    Reply(Message),
    /// The name is not ours: ask the upstreams.
    Forward,
}

impl Server {
    fn decide(&self, query: &Message) -> Action {
        if query.metadata.message_type != MessageType::Query {
            return Action::Drop;
        }
        if query.metadata.op_code != OpCode::Query {
            return Action::Reply(response(query, ResponseCode::NotImp, Vec::new()));
        }
        let [question] = query.queries.as_slice() else {
            return Action::Reply(response(query, ResponseCode::FormErr, Vec::new()));
        };
        if question.query_class != DNSClass::IN {
            return Action::Forward;
        }
        let asked = question.name.to_ascii().to_ascii_lowercase();
        let name = asked.trim_end_matches('.');
        let answers = match question.query_type {
            RecordType::A => match self.resolver.lookup_a(name) {
                Some(ips) => {
                    ips.into_iter().map(|ip| Record::from_rdata(question.name.clone(), TTL, RData::A(A(ip)))).collect()
                }
                None => return Action::Forward,
            },
            RecordType::AAAA => match self.resolver.lookup_aaaa(name) {
                Some(ips) => {
                    ips.into_iter().map(|ip| Record::from_rdata(question.name.clone(), TTL, RData::AAAA(AAAA(ip)))).collect()
                }
                None => return Action::Forward,
            },
            RecordType::PTR => {
                let Some(ip) = parse_reverse_v4(name) else {
                    return Action::Forward;
                };
                let Some(target) = self.resolver.lookup_ptr(ip) else {
                    return Action::Forward;
                };
                match Name::from_ascii(&target) {
                    Ok(mut target) => {
                        target.set_fqdn(true);
                        vec![Record::from_rdata(question.name.clone(), TTL, RData::PTR(PTR(target)))]
                    }
                    Err(_) => return Action::Reply(response(query, ResponseCode::ServFail, Vec::new())),
                }
            }
            // MX, TXT, … of a container name: no such records, but the name exists.
            _ => match self.resolver.lookup_a(name) {
                Some(_) => Vec::new(),
                None => return Action::Forward,
            },
        };
        Action::Reply(response(query, ResponseCode::NoError, answers))
    }
}

/// A response to `query` carrying its question, `code` and `answers`.
fn response(query: &Message, code: ResponseCode, answers: Vec<Record>) -> Message {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata = Metadata::response_from_request(&query.metadata);
    reply.metadata.recursion_available = true;
    reply.metadata.response_code = code;
    reply.queries = query.queries.clone();
    reply.answers = answers;
    // RFC 6891 section 6.1.1: a query with OPT gets an OPT back.
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_SIZE);
        reply.edns = Some(edns);
    }
    reply
}

/// The IPv4 address of a reverse name such as `4.0.18.172.in-addr.arpa`.
fn parse_reverse_v4(name: &str) -> Option<Ipv4Addr> {
    let reversed = name.strip_suffix(".in-addr.arpa")?;
    let mut octets = [0u8; 4];
    let mut labels = reversed.split('.');
    for octet in octets.iter_mut().rev() {
        *octet = labels.next()?.parse().ok()?;
    }
    match labels.next() {
        Some(_) => None,
        None => Some(Ipv4Addr::from(octets)),
    }
}

/// Encodes `reply` for UDP, truncated (TC set) when it exceeds what the client accepts.
fn encode_udp(query: &Message, reply: &Message) -> Option<Vec<u8>> {
    let limit = match &query.edns {
        Some(edns) => usize::from(edns.max_payload().clamp(CLASSIC_UDP_SIZE as u16, MAX_UDP_SIZE)),
        None => CLASSIC_UDP_SIZE,
    };
    let bytes = reply.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    reply.truncate().to_vec().ok()
}

async fn serve_udp(socket: Arc<UdpSocket>, server: Arc<Server>) {
    let mut forwards = JoinSet::new();
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let received = tokio::select! {
            Some(_) = forwards.join_next(), if !forwards.is_empty() => continue,
            received = socket.recv_from(&mut buf) => received,
        };
        let (n, client) = match received {
            Ok(r) => r,
            Err(e) => {
                // ICMP errors of earlier replies surface here; the socket itself stays usable.
                debug!(error = %e, "dns receive failed");
                continue;
            }
        };
        let packet = &buf[..n];
        let Ok(query) = Message::from_vec(packet) else {
            debug!(dns.client = %client, "dns dropped a malformed packet");
            continue;
        };
        let reply = match server.decide(&query) {
            Action::Drop => continue,
            Action::Reply(reply) => reply,
            Action::Forward if forwards.len() >= MAX_IN_FLIGHT || server.upstreams.is_empty() => {
                response(&query, ResponseCode::ServFail, Vec::new())
            }
            Action::Forward => {
                let (socket, server, packet) = (socket.clone(), server.clone(), packet.to_vec());
                forwards.spawn(async move {
                    let answer = match forward_udp(&packet, query.metadata.id, &server.upstreams).await {
                        Some(answer) => Some(answer),
                        None => encode_udp(&query, &response(&query, ResponseCode::ServFail, Vec::new())),
                    };
                    if let Some(answer) = answer {
                        send_reply(&socket, &answer, client).await;
                    }
                });
                continue;
            }
        };
        if let Some(bytes) = encode_udp(&query, &reply) {
            send_reply(&socket, &bytes, client).await;
        }
    }
}

async fn send_reply(socket: &UdpSocket, bytes: &[u8], client: SocketAddr) {
    if let Err(e) = socket.send_to(bytes, client).await {
        debug!(dns.client = %client, error = %e, "dns reply failed");
    }
}

fn unspecified_for(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Whether `answer` is a response (QR set) with the query's id.
fn answers_query(answer: &[u8], id: u16) -> bool {
    answer.len() >= 12 && u16::from_be_bytes([answer[0], answer[1]]) == id && answer[2] & 0x80 != 0
}

/// Sends `packet` to each upstream in turn; the first matching answer, verbatim.
async fn forward_udp(packet: &[u8], id: u16, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for &upstream in upstreams {
        match tokio::time::timeout(FORWARD_TIMEOUT, exchange_udp(packet, id, upstream)).await {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(e)) => debug!(dns.upstream = %upstream, error = %e, "dns upstream failed"),
            Err(_) => debug!(dns.upstream = %upstream, "dns upstream timed out"),
        }
    }
    None
}

async fn exchange_udp(packet: &[u8], id: u16, upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let socket = UdpSocket::bind(unspecified_for(upstream)).await?;
    socket.connect(upstream).await?;
    socket.send(packet).await?;
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let n = socket.recv(&mut buf).await?;
        // A connected socket only hears the upstream; still skip stray or spoofed ids.
        if answers_query(&buf[..n], id) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn serve_tcp(listener: TcpListener, server: Arc<Server>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, server.clone()));
                }
                Err(e) => {
                    debug!(error = %e, "dns accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Reads a 2-byte length prefixed message (RFC 1035 section 4.2.2); `None` on EOF or timeout.
async fn read_framed(stream: &mut TcpStream, timeout: Duration) -> Option<Vec<u8>> {
    let read = async {
        let len = stream.read_u16().await?;
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await?;
        Ok::<_, io::Error>(buf)
    };
    tokio::time::timeout(timeout, read).await.ok()?.ok()
}

async fn write_framed(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    let len = u16::try_from(bytes.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    let mut framed = Vec::with_capacity(bytes.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(bytes);
    stream.write_all(&framed).await
}

async fn serve_connection(mut stream: TcpStream, server: Arc<Server>) {
    while let Some(packet) = read_framed(&mut stream, TCP_IDLE_TIMEOUT).await {
        let Ok(query) = Message::from_vec(&packet) else {
            debug!("dns closed a connection after a malformed message");
            return;
        };
        let servfail = || response(&query, ResponseCode::ServFail, Vec::new()).to_vec().ok();
        let answer = match server.decide(&query) {
            Action::Drop => return,
            Action::Reply(reply) => reply.to_vec().ok(),
            Action::Forward => match forward_tcp(&packet, query.metadata.id, &server.upstreams).await {
                Some(answer) => Some(answer),
                None => servfail(),
            },
        };
        let Some(answer) = answer else { return };
        if write_framed(&mut stream, &answer).await.is_err() {
            return;
        }
    }
}

/// Sends `packet` over TCP to each upstream in turn; the first matching answer, verbatim.
async fn forward_tcp(packet: &[u8], id: u16, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for &upstream in upstreams {
        let exchange = async {
            let mut stream = TcpStream::connect(upstream).await?;
            write_framed(&mut stream, packet).await?;
            read_framed(&mut stream, FORWARD_TIMEOUT).await.ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))
        };
        match tokio::time::timeout(FORWARD_TIMEOUT, exchange).await {
            Ok(Ok(answer)) if answers_query(&answer, id) => return Some(answer),
            Ok(Ok(_)) => debug!(dns.upstream = %upstream, "dns upstream answered another query"),
            Ok(Err(e)) => debug!(dns.upstream = %upstream, error = %e, "dns upstream failed"),
            Err(_) => debug!(dns.upstream = %upstream, "dns upstream timed out"),
        }
    }
    None
}

/// What a `resolv.conf` says: the upstreams for the embedded server and the lines a
/// container's own `resolv.conf` keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` addresses in order (IPv6 zone suffixes such as `%eth0` are not kept).
    pub nameservers: Vec<IpAddr>,
    /// Search domains of the last `search` or `domain` line (as glibc: the last one wins).
    pub search: Vec<String>,
    /// Every option of all `options` lines, in order.
    pub options: Vec<String>,
}

/// Parses a `resolv.conf` text. Comment lines (`#`, `;`) and unknown or malformed lines are
/// skipped, as the C library does.
pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf::default();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("nameserver") => {
                let Some(addr) = fields.next() else { continue };
                let addr = addr.split('%').next().unwrap_or(addr);
                if let Ok(ip) = addr.parse() {
                    conf.nameservers.push(ip);
                }
            }
            Some("search") | Some("domain") => {
                conf.search = fields.map(str::to_owned).collect();
            }
            Some("options") => conf.options.extend(fields.map(str::to_owned)),
            _ => {}
        }
    }
    conf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_keeps_nameservers_search_and_options() {
        let conf = parse_resolv_conf(
            "# generated\n; also a comment\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n\
             nameserver bogus\nsearch a.example b.example\ndomain corp.example\n\
             options ndots:2 timeout:1\noptions edns0\nsortlist 10.0.0.0\n  nameserver 1.1.1.1  # cf\n",
        );
        assert_eq!(
            conf.nameservers,
            vec!["10.0.0.2".parse::<IpAddr>().unwrap(), "fe80::1".parse().unwrap(), "1.1.1.1".parse().unwrap()]
        );
        assert_eq!(conf.search, vec!["corp.example"]);
        assert_eq!(conf.options, vec!["ndots:2", "timeout:1", "edns0"]);
        assert_eq!(parse_resolv_conf(""), ResolvConf::default());
    }

    #[test]
    fn reverse_names_parse_only_full_ipv4() {
        assert_eq!(parse_reverse_v4("4.0.18.172.in-addr.arpa"), Some(Ipv4Addr::new(172, 18, 0, 4)));
        assert_eq!(parse_reverse_v4("0.18.172.in-addr.arpa"), None);
        assert_eq!(parse_reverse_v4("1.4.0.18.172.in-addr.arpa"), None);
        assert_eq!(parse_reverse_v4("x.0.18.172.in-addr.arpa"), None);
        assert_eq!(parse_reverse_v4("4.0.18.172.ip6.arpa"), None);
    }

    #[test]
    fn oversized_udp_answer_is_truncated() {
        struct Many;
        impl Resolver for Many {
            fn lookup_a(&self, _: &str) -> Option<Vec<Ipv4Addr>> {
                Some((0..100).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect())
            }
            fn lookup_ptr(&self, _: Ipv4Addr) -> Option<String> {
                None
            }
        }
        let server = Server { resolver: Arc::new(Many), upstreams: Vec::new() };
        let mut query = Message::query();
        query.add_query(hickory_proto::op::Query::query(Name::from_ascii("big.").unwrap(), RecordType::A));
        let Action::Reply(reply) = server.decide(&query) else { panic!("expected a reply") };
        let bytes = encode_udp(&query, &reply).unwrap();
        assert!(bytes.len() <= CLASSIC_UDP_SIZE);
        let decoded = Message::from_vec(&bytes).unwrap();
        assert!(decoded.metadata.truncation);
        assert_eq!(decoded.metadata.id, query.metadata.id);
    }
}
