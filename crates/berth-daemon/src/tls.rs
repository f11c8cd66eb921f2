//! TLS on the API's TCP listeners, as dockerd serves it (`--tls`, `--tlsverify`, `--tlscacert`,
//! `--tlscert`, `--tlskey`): the server's certificate and key from PEM files, and with `--tlsverify`
//! only clients presenting a certificate signed by the CA are served (dockerd's
//! `tls.RequireAndVerifyClientCert` with an exclusive root pool: the system's CAs are not trusted).
//! Unix sockets stay plain: their file mode and group are their access control.
//!
//! A plain HTTP request to a TLS port gets what Go's server answers (`400 Bad Request`, "Client sent
//! an HTTP request to an HTTPS server."), so `docker` and curl users see what went wrong instead of
//! a reset.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What Go's `net/http` server writes when a plain HTTP request reaches a TLS listener.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The API's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// With `Some`, clients must present a certificate signed by this CA (PEM): `--tlsverify`.
    pub client_ca: Option<PathBuf>,
}

/// A TLS file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("could not load TLS file {path}: {reason}")]
pub struct TlsFileError {
    /// The certificate, key or CA file.
    pub path: PathBuf,
    /// What was wrong.
    pub reason: String,
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let err = |reason: String| TlsFileError { path: path.to_path_buf(), reason };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))?.collect::<Result<_, _>>().map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    Ok(certs)
}

/// Builds the acceptor: fails on a missing or unreadable file, a key that does not match the
/// certificate, or a CA file without a usable certificate.
pub fn acceptor(tls: &ServerTls) -> Result<TlsAcceptor, TlsFileError> {
    let chain = certs(&tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| TlsFileError { path: tls.key.clone(), reason: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFileError { path: tls.cert.clone(), reason: e.to_string() })?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots.add(c).map_err(|e| TlsFileError { path: ca.clone(), reason: e.to_string() })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsFileError { path: ca.clone(), reason: e.to_string() })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder.with_single_cert(chain, key).map_err(|e| TlsFileError { path: tls.key.clone(), reason: e.to_string() })?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Completes the TLS handshake on an accepted TCP connection. `None` when the client spoke plain
/// HTTP (answered as Go's server does), failed the handshake (no or a foreign client certificate)
/// or took too long; a failed handshake is logged, as dockerd logs `http: TLS handshake error`.
pub async fn handshake(acceptor: &TlsAcceptor, stream: TcpStream) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let peer = stream.peer_addr().ok();
    let mut first = [0u8; 1];
    // A TLS connection opens with a handshake record (content type 22); an HTTP request with a
    // method name in ASCII.
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0].is_ascii_uppercase() => {
            let mut stream = stream;
            let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.write_all(PLAIN_HTTP_ANSWER)).await;
            let _ = stream.shutdown().await;
            tracing::debug!(peer = ?peer, "plain HTTP request on the TLS listener refused");
            return None;
        }
        Ok(Ok(1)) => {}
        _ => return None,
    }
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::info!(peer = ?peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(peer = ?peer, "TLS handshake timed out");
            None
        }
    }
}
