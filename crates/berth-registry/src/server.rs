//! The connection loop: plain TCP or rustls, HTTP/1.1 via hyper with a header-read timeout (which
//! also closes idle keep-alive connections) and a write timeout (clients that stop reading a
//! response), graceful drain on shutdown (stop accepting, let in-flight requests finish up to a
//! deadline), and the periodic GC sweep. Stalled request bodies time out in `routes`.

use crate::errors::RegistryError;
use crate::gc::{self, GcOptions};
use crate::sendfile::{Jobs, SendfileStream};
use crate::service::Registry;
use crate::write_timeout::WriteTimeout;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds a TLS acceptor from PEM files.
pub(crate) fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, RegistryError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_err = |path: &Path, reason: String| RegistryError::Tls { path: path.to_path_buf(), reason };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(tls_err(cert, "no certificate in file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| tls_err(key, e.to_string()))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Per-connection timeouts (see [`crate::RegistryConfig`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnTimeouts {
    /// Request headers must arrive within this (slowloris); also the keep-alive idle limit.
    pub(crate) header: Duration,
    /// A response write blocked this long (the client stopped reading) drops the connection.
    pub(crate) write: Duration,
}

/// Serves HTTP/1.1 on `io`. `jobs` is the queue of a plain TCP connection that sends blob bodies with
/// `sendfile` (see `sendfile`): handlers find it in the request's extensions.
async fn serve_conn<I>(io: I, jobs: Option<Jobs>, app: Router, timeouts: ConnTimeouts, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = TowerToHyperService::new(app.map_request(move |mut req: http::Request<hyper::body::Incoming>| {
        if let Some(j) = &jobs {
            req.extensions_mut().insert(j.clone());
        }
        req
    }));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header)
        // Body buffers reach the socket uncopied (queued, written with writev): `sendfile` relies on it.
        .writev(true)
        .serve_connection(TokioIo::new(WriteTimeout::new(io, timeouts.write)), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Parameters of the accept loop.
pub(crate) struct Loop {
    pub(crate) listener: TcpListener,
    pub(crate) app: Router,
    pub(crate) tls: Option<TlsAcceptor>,
    pub(crate) drain_timeout: Duration,
    pub(crate) timeouts: ConnTimeouts,
    pub(crate) registry: Arc<Registry>,
    pub(crate) gc_interval: Option<Duration>,
    /// A pull-through cache's content TTL: the scheduler expires older content.
    pub(crate) proxy_ttl: Option<Duration>,
    /// The debug listener for Prometheus metrics and its path.
    pub(crate) debug: Option<(TcpListener, String)>,
}

impl Loop {
    /// Accepts until `shutdown` resolves, then drains.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), RegistryError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut conns: JoinSet<()> = JoinSet::new();
        let gc_task = self.gc_interval.map(|every| tokio::spawn(sweep_periodically(self.registry.clone(), every, stop_rx.clone())));
        let expiry_task = self.proxy_ttl.map(|ttl| tokio::spawn(expire_periodically(self.registry.clone(), ttl, stop_rx.clone())));
        let debug_task = self.debug.map(|(l, path)| tokio::spawn(crate::metrics::serve(l, path, stop_rx.clone())));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // EMFILE and friends: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let app = self.app.clone();
                    let stop = stop_rx.clone();
                    let timeouts = self.timeouts;
                    match &self.tls {
                        None => {
                            let (io, jobs) = SendfileStream::new(stream, timeouts.write);
                            conns.spawn(serve_conn(io, Some(jobs), app, timeouts, stop));
                        }
                        Some(acc) => {
                            let acc = acc.clone();
                            conns.spawn(async move {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acc.accept(stream)).await {
                                    Ok(Ok(tls)) => serve_conn(tls, None, app, timeouts, stop).await,
                                    Ok(Err(e)) => tracing::debug!(peer = %peer, error = %e, "tls handshake failed"),
                                    Err(_) => tracing::debug!(peer = %peer, "tls handshake timed out"),
                                }
                            });
                        }
                    }
                }
            }
        }
        tracing::info!(connections = conns.len(), "registry draining");
        drop(self.listener);
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(self.drain_timeout, async { while conns.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(connections = conns.len(), "drain deadline passed, closing remaining connections");
            conns.abort_all();
            while conns.join_next().await.is_some() {}
        }
        if let Some(t) = debug_task {
            let _ = t.await;
        }
        if let Some(t) = gc_task {
            let _ = t.await;
        }
        if let Some(t) = expiry_task {
            let _ = t.await;
        }
        tracing::info!("registry stopped");
        Ok(())
    }
}

async fn sweep_periodically(reg: Arc<Registry>, every: Duration, mut stop: watch::Receiver<bool>) {
    let opts = GcOptions { dry_run: false, grace: reg.limits.gc_grace, upload_ttl: reg.limits.upload_ttl, ..GcOptions::default() };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped(&mut stop) => return,
        }
        match gc::collect(&reg, &opts).await {
            Ok(r) => tracing::info!(
                blobs_removed = r.blobs_removed.len(), bytes_freed = r.bytes_freed,
                uploads_removed = r.uploads_removed, "gc sweep finished"
            ),
            Err(e) => tracing::warn!(error = %e, "gc sweep failed"),
        }
    }
}

async fn expire_periodically(reg: Arc<Registry>, ttl: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(crate::proxy::expiry::period(ttl)) => {}
            _ = stopped(&mut stop) => return,
        }
        crate::proxy::expiry::pass(&reg, ttl).await;
    }
}

/// A bound listener address, for logs and tests.
pub(crate) fn describe(addr: SocketAddr, tls: bool) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}

/// Resolves once the stop flag is set (or its sender is gone); holds no borrow of the channel after.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
