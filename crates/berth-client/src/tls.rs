//! TLS to a daemon's TCP address, as the docker CLI does it (`--tls`, `--tlsverify`,
//! `--tlscacert`, `--tlscert`, `--tlskey`): with `verify`, the daemon's certificate must chain to
//! the given CA (only that CA: the system's roots are not used, as Go's `tlsconfig` with
//! `ExclusiveRootPools`) and name the host the client dialled; without it (`--tls` alone) the
//! connection is encrypted but the daemon is not authenticated. A client certificate is presented
//! when one is configured.

use crate::ClientError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The client's TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientTls {
    /// Verify the daemon's certificate against `ca` (`--tlsverify`).
    pub verify: bool,
    /// The CA that signed the daemon's certificate (PEM).
    pub ca: Option<PathBuf>,
    /// The client's certificate (PEM), presented to a daemon that asks for one.
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key: Option<PathBuf>,
}

/// A ready TLS connector and the name the daemon's certificate must carry.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) connector: tokio_rustls::TlsConnector,
    pub(crate) server_name: ServerName<'static>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

fn file_err(path: &Path, reason: impl std::fmt::Display) -> ClientError {
    ClientError::Tls(format!("could not load {}: {reason}", path.display()))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path).map_err(|e| file_err(path, e))?.collect::<Result<_, _>>().map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// Builds the connector for `host` (the host part of `tcp://HOST:PORT`).
pub(crate) fn connector(tls: &ClientTls, host: &str) -> Result<Connector, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().map_err(|e| ClientError::Tls(e.to_string()))?;
    let builder = if tls.verify {
        let ca = tls.ca.as_ref().ok_or_else(|| ClientError::Tls("--tlsverify needs a CA certificate (--tlscacert or ca.pem in DOCKER_CERT_PATH)".into()))?;
        let mut roots = rustls::RootCertStore::empty();
        for c in certs(ca)? {
            roots.add(c).map_err(|e| file_err(ca, e))?;
        }
        builder.with_root_certificates(roots)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(Unverified(provider)))
    };
    let mut cfg = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e))?;
            builder.with_client_auth_cert(certs(cert)?, key_der).map_err(|e| file_err(key, e))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) | (None, Some(_)) => return Err(ClientError::Tls("a client certificate needs its key and a key its certificate (--tlscert with --tlskey)".into())),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = ServerName::try_from(name.to_string()).map_err(|_| ClientError::Tls(format!("{host:?} is not a valid server name for TLS")))?;
    Ok(Connector { connector: tokio_rustls::TlsConnector::from(Arc::new(cfg)), server_name })
}

/// `--tls` without `--tlsverify`: any certificate is accepted (the docker CLI's
/// `InsecureSkipVerify`), but the handshake's signatures are still checked, so the connection is
/// at least encrypted to whoever holds the presented key.
#[derive(Debug)]
struct Unverified(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(&self, _: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
