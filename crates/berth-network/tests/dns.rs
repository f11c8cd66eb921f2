//! The embedded DNS server on loopback, with a fake upstream (never a real resolver).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth_network::dns::{self, DnsHandle, Resolver};
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const WAIT: Duration = Duration::from_secs(10);
const UPSTREAM_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);

struct Names {
    a: HashMap<&'static str, Vec<Ipv4Addr>>,
    ptr: HashMap<Ipv4Addr, &'static str>,
}

impl Resolver for Names {
    fn lookup_a(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.a.get(name).cloned()
    }
    fn lookup_ptr(&self, ip: Ipv4Addr) -> Option<String> {
        self.ptr.get(&ip).map(|n| (*n).to_owned())
    }
}

fn names() -> Arc<dyn Resolver> {
    Arc::new(Names {
        a: HashMap::from([
            ("web", vec![Ipv4Addr::new(172, 18, 0, 2)]),
            ("db", vec![Ipv4Addr::new(172, 18, 0, 3), Ipv4Addr::new(172, 18, 0, 4)]),
        ]),
        ptr: HashMap::from([(Ipv4Addr::new(172, 18, 0, 2), "web.mynet")]),
    })
}

struct Dns {
    udp: SocketAddr,
    tcp: SocketAddr,
    _handle: DnsHandle,
}

fn start(upstreams: Vec<SocketAddr>) -> Dns {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
    let handle = dns::serve(udp, tcp, names(), upstreams).unwrap();
    Dns { udp: udp_addr, tcp: tcp_addr, _handle: handle }
}

fn query(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m
}

async fn ask_udp(server: SocketAddr, q: &Message) -> Message {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(&q.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(WAIT, s.recv_from(&mut buf)).await.expect("dns answer").unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(reply.metadata.id, q.metadata.id);
    reply
}

async fn ask_tcp(stream: &mut TcpStream, q: &Message) -> Message {
    let bytes = q.to_vec().unwrap();
    stream.write_all(&(bytes.len() as u16).to_be_bytes()).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let len = tokio::time::timeout(WAIT, stream.read_u16()).await.expect("dns answer").unwrap();
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await.unwrap();
    let reply = Message::from_vec(&buf).unwrap();
    assert_eq!(reply.metadata.id, q.metadata.id);
    reply
}

fn a_answers(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(A(ip)) => Some(*ip),
            _ => None,
        })
        .collect()
}

/// The answer a fake upstream gives to any query: one A record of `UPSTREAM_IP`.
fn upstream_answer(q: &Message) -> Vec<u8> {
    let mut reply = Message::response(q.metadata.id, q.metadata.op_code);
    reply.queries = q.queries.clone();
    let name = q.queries[0].name.clone();
    reply.add_answer(Record::from_rdata(name, 60, RData::A(A(UPSTREAM_IP))));
    reply.to_vec().unwrap()
}

/// A fake upstream on loopback answering over UDP and TCP (same port), counting queries.
async fn fake_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    // A free UDP port whose TCP twin is free too (another test's connection may hold it): retry.
    let mut attempt = 0;
    let (udp, tcp, addr) = loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        match TcpListener::bind(addr).await {
            Ok(tcp) => break (udp, tcp, addr),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempt < 50 => attempt += 1,
            Err(e) => panic!("binding the fake upstream's TCP port: {e}"),
        }
    };
    let seen = Arc::new(AtomicUsize::new(0));
    let seen_udp = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65535];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            seen_udp.fetch_add(1, Ordering::SeqCst);
            let q = Message::from_vec(&buf[..n]).unwrap();
            udp.send_to(&upstream_answer(&q), from).await.unwrap();
        }
    });
    let seen_tcp = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = tcp.accept().await {
            seen_tcp.fetch_add(1, Ordering::SeqCst);
            let len = s.read_u16().await.unwrap();
            let mut buf = vec![0u8; usize::from(len)];
            s.read_exact(&mut buf).await.unwrap();
            let answer = upstream_answer(&Message::from_vec(&buf).unwrap());
            s.write_all(&(answer.len() as u16).to_be_bytes()).await.unwrap();
            s.write_all(&answer).await.unwrap();
        }
    });
    (addr, seen)
}

/// A loopback UDP socket that never answers (kept open so no ICMP error cuts the wait short).
async fn silent_upstream() -> (SocketAddr, UdpSocket) {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    (s.local_addr().unwrap(), s)
}

#[tokio::test]
async fn known_names_answer_a_preserving_case() {
    let dns = start(Vec::new());
    let reply = ask_udp(dns.udp, &query("WeB.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.recursion_available);
    assert_eq!(a_answers(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
    assert_eq!(reply.answers[0].name.to_ascii(), "WeB.");
    assert_eq!(reply.answers[0].ttl, 600);
    assert_eq!(reply.queries, query("WeB.", RecordType::A).queries);

    let reply = ask_udp(dns.udp, &query("db", RecordType::A)).await;
    assert_eq!(a_answers(&reply), vec![Ipv4Addr::new(172, 18, 0, 3), Ipv4Addr::new(172, 18, 0, 4)]);
}

#[tokio::test]
async fn other_types_of_known_names_are_empty_noerror() {
    let dns = start(Vec::new());
    for rtype in [RecordType::AAAA, RecordType::MX, RecordType::TXT] {
        let reply = ask_udp(dns.udp, &query("web.", rtype)).await;
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError, "{rtype}");
        assert!(reply.answers.is_empty(), "{rtype}");
    }
}

#[tokio::test]
async fn ptr_of_a_container_address() {
    let dns = start(Vec::new());
    let reply = ask_udp(dns.udp, &query("2.0.18.172.in-addr.arpa.", RecordType::PTR)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    match &reply.answers[..] {
        [record] => match &record.data {
            RData::PTR(ptr) => assert_eq!(ptr.0.to_ascii(), "web.mynet."),
            other => panic!("not a PTR: {other:?}"),
        },
        other => panic!("expected one answer, got {other:?}"),
    }
}

#[tokio::test]
async fn tcp_serves_several_queries_per_connection() {
    let (upstream, _) = fake_upstream().await;
    let dns = start(vec![upstream]);
    let mut s = TcpStream::connect(dns.tcp).await.unwrap();
    let reply = ask_tcp(&mut s, &query("web.", RecordType::A)).await;
    assert_eq!(a_answers(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);
    let reply = ask_tcp(&mut s, &query("example.test.", RecordType::A)).await;
    assert_eq!(a_answers(&reply), vec![UPSTREAM_IP]);
}

#[tokio::test]
async fn unknown_names_are_forwarded_and_relayed() {
    let (upstream, seen) = fake_upstream().await;
    let dns = start(vec![upstream]);
    let reply = ask_udp(dns.udp, &query("example.test.", RecordType::A)).await;
    assert_eq!(a_answers(&reply), vec![UPSTREAM_IP]);
    // A PTR outside the containers' addresses is forwarded too.
    let reply = ask_udp(dns.udp, &query("9.9.9.10.in-addr.arpa.", RecordType::PTR)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_silent_upstream_is_skipped_after_its_timeout() {
    let (silent, _keep) = silent_upstream().await;
    let (upstream, _) = fake_upstream().await;
    let dns = start(vec![silent, upstream]);
    let reply = ask_udp(dns.udp, &query("example.test.", RecordType::A)).await;
    assert_eq!(a_answers(&reply), vec![UPSTREAM_IP]);
}

#[tokio::test]
async fn no_upstream_or_all_failing_gives_servfail() {
    let dns = start(Vec::new());
    let reply = ask_udp(dns.udp, &query("example.test.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    let mut s = TcpStream::connect(dns.tcp).await.unwrap();
    let reply = ask_tcp(&mut s, &query("example.test.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);

    let (silent, _keep) = silent_upstream().await;
    let dns = start(vec![silent]);
    let reply = ask_udp(dns.udp, &query("example.test.", RecordType::A)).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
}

#[tokio::test]
async fn garbage_is_dropped_and_later_queries_still_answered() {
    let dns = start(Vec::new());
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for garbage in [&b""[..], b"\x00", b"not a dns packet at all", &[0xff; 600]] {
        s.send_to(garbage, dns.udp).await.unwrap();
    }
    let reply = ask_udp(dns.udp, &query("web.", RecordType::A)).await;
    assert_eq!(a_answers(&reply), vec![Ipv4Addr::new(172, 18, 0, 2)]);

    // Over TCP a malformed message closes the connection; the listener keeps serving.
    let mut bad = TcpStream::connect(dns.tcp).await.unwrap();
    bad.write_all(&[0, 5, 1, 2, 3, 4, 5]).await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, bad.read_to_end(&mut rest)).await.expect("connection closed");
    assert!(rest.is_empty());
    let mut good = TcpStream::connect(dns.tcp).await.unwrap();
    let reply = ask_tcp(&mut good, &query("db.", RecordType::A)).await;
    assert_eq!(a_answers(&reply).len(), 2);
}

#[tokio::test]
async fn stop_closes_the_sockets() {
    let dns = start(Vec::new());
    let Dns { udp, tcp, _handle } = dns;
    _handle.stop();
    // The aborted tasks drop their sockets as the runtime cancels them.
    for _ in 0..100 {
        let udp_free = std::net::UdpSocket::bind(udp).is_ok();
        let tcp_free = std::net::TcpListener::bind(tcp).is_ok();
        if udp_free && tcp_free {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("sockets still bound after stop");
}

#[test]
fn serve_outside_a_runtime_is_an_error() {
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = dns::serve(udp, tcp, names(), Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), "the embedded DNS server must be started inside a tokio runtime");
}
