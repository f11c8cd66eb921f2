//! The userland proxy against echo servers on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use berth_network::firewall::Proto;
use berth_network::proxy::{self, ProxyError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const WAIT: Duration = Duration::from_secs(10);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A TCP server that reads everything until EOF, then answers with the length it read and the
/// bytes in reverse, then closes: only a proxy that carries half-close lets it answer.
async fn half_close_server() -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut all = Vec::new();
                s.read_to_end(&mut all).await.unwrap();
                all.reverse();
                s.write_all(format!("{}:", all.len()).as_bytes()).await.unwrap();
                s.write_all(&all).await.unwrap();
            });
        }
    });
    addr
}

/// A TCP echo server.
async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn tcp_round_trip_and_half_close() {
    let proxy = proxy::start(Proto::Tcp, loopback(), half_close_server().await).await.unwrap();
    assert_ne!(proxy.local_addr().port(), 0);
    let mut c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    c.write_all(b"hello ").await.unwrap();
    c.write_all(b"berth").await.unwrap();
    c.shutdown().await.unwrap();
    let mut reply = String::new();
    tokio::time::timeout(WAIT, c.read_to_string(&mut reply)).await.unwrap().unwrap();
    assert_eq!(reply, "11:htreb olleh");
}

#[tokio::test]
async fn tcp_echo_of_bulk_data_is_exact() {
    let proxy = proxy::start(Proto::Tcp, loopback(), echo_server().await).await.unwrap();
    let c = TcpStream::connect(proxy.local_addr()).await.unwrap();
    let (mut r, mut w) = c.into_split();
    let data: Vec<u8> = (0..8u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let sent = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&sent).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, r.read_to_end(&mut got)).await.unwrap().unwrap();
    writer.await.unwrap();
    assert!(got == data, "echoed data differs ({} of {} bytes)", got.len(), data.len());
}

#[tokio::test]
async fn udp_flows_reply_to_the_right_client() {
    let echo = UdpSocket::bind(loopback()).await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = echo.recv_from(&mut buf).await {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(&buf[..n]);
            let _ = echo.send_to(&reply, from).await;
        }
    });
    let proxy = proxy::start(Proto::Udp, loopback(), echo_addr).await.unwrap();
    let a = UdpSocket::bind(loopback()).await.unwrap();
    let b = UdpSocket::bind(loopback()).await.unwrap();
    let mut buf = [0u8; 1500];
    for round in 0..3 {
        a.send_to(format!("a{round}").as_bytes(), proxy.local_addr()).await.unwrap();
        b.send_to(format!("b{round}").as_bytes(), proxy.local_addr()).await.unwrap();
        let (n, from) = tokio::time::timeout(WAIT, a.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!(from, proxy.local_addr());
        assert_eq!(&buf[..n], format!("echo:a{round}").as_bytes());
        let (n, _) = tokio::time::timeout(WAIT, b.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!(&buf[..n], format!("echo:b{round}").as_bytes());
    }
}

#[tokio::test]
async fn stop_releases_the_port_and_closes_connections() {
    for proto in [Proto::Tcp, Proto::Udp] {
        let proxy = proxy::start(proto, loopback(), echo_server().await).await.unwrap();
        let addr = proxy.local_addr();
        let mut live = match proto {
            Proto::Tcp => {
                let mut c = TcpStream::connect(addr).await.unwrap();
                c.write_all(b"x").await.unwrap();
                let mut one = [0u8; 1];
                c.read_exact(&mut one).await.unwrap();
                Some(c)
            }
            _ => None,
        };
        proxy.stop();
        // Released synchronously: binding right away must succeed.
        match proto {
            Proto::Tcp => drop(std::net::TcpListener::bind(addr).unwrap()),
            _ => drop(std::net::UdpSocket::bind(addr).unwrap()),
        }
        if let Some(c) = live.as_mut() {
            let mut rest = Vec::new();
            // EOF or a reset both mean closed; only a hang would be wrong.
            let _ = tokio::time::timeout(WAIT, c.read_to_end(&mut rest)).await.expect("live connection closed");
        }
    }
}

#[tokio::test]
async fn bind_conflict_uses_dockers_message() {
    let taken = std::net::TcpListener::bind(loopback()).unwrap();
    let addr = taken.local_addr().unwrap();
    let err = proxy::start(Proto::Tcp, addr, "127.0.0.1:9".parse().unwrap()).await.unwrap_err();
    assert!(matches!(err, ProxyError::PortAllocated { .. }));
    assert_eq!(err.to_string(), format!("Bind for 127.0.0.1:{} failed: port is already allocated", addr.port()));

    let taken = std::net::UdpSocket::bind(loopback()).unwrap();
    let addr = taken.local_addr().unwrap();
    let err = proxy::start(Proto::Udp, addr, "127.0.0.1:9".parse().unwrap()).await.unwrap_err();
    assert_eq!(err.to_string(), format!("Bind for 127.0.0.1:{} failed: port is already allocated", addr.port()));
}

/// `[::]:P` is bound IPv6-only beside `0.0.0.0:P` (as docker-proxy's `tcp6`/`udp6` listeners),
/// carries IPv6 clients to an IPv4 target, and a second `[::]:P` fails with dockerd's wording.
#[tokio::test]
async fn ipv6_wildcard_binds_beside_the_ipv4_one_and_reaches_an_ipv4_target() {
    assert!(proxy::ipv6_listenable(), "this host listens on IPv6 (::1)");
    let target = echo_server().await;
    let v4 = proxy::start(Proto::Tcp, "0.0.0.0:0".parse().unwrap(), target).await.unwrap();
    let port = v4.local_addr().port();
    let v6 = proxy::start(Proto::Tcp, SocketAddr::new("::".parse().unwrap(), port), target).await.unwrap();
    assert_eq!(v6.local_addr().port(), port);
    for addr in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"over both").await.unwrap();
        let mut got = [0u8; 9];
        tokio::time::timeout(WAIT, c.read_exact(&mut got)).await.unwrap().unwrap();
        assert_eq!(&got, b"over both", "{addr}");
    }
    let err = proxy::start(Proto::Tcp, SocketAddr::new("::".parse().unwrap(), port), target).await.unwrap_err();
    assert_eq!(err.to_string(), format!("Bind for :::{port} failed: port is already allocated"));
    drop(v6);
    drop(v4);

    // UDP the same way: both halves on one port, an IPv6 client answered from the IPv6 socket.
    let echo = UdpSocket::bind(loopback()).await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        while let Ok((n, from)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..n], from).await;
        }
    });
    let v4 = proxy::start(Proto::Udp, "0.0.0.0:0".parse().unwrap(), echo_addr).await.unwrap();
    let port = v4.local_addr().port();
    let v6 = proxy::start(Proto::Udp, SocketAddr::new("::".parse().unwrap(), port), echo_addr).await.unwrap();
    let client = UdpSocket::bind("[::1]:0").await.unwrap();
    client.send_to(b"six", ("::1", port)).await.unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = tokio::time::timeout(WAIT, client.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"six");
    assert_eq!(from.port(), port);
    drop((v4, v6));
}
