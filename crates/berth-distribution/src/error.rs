//! The failures of registry operations, worded the way Docker words them so the daemon can pass
//! `to_string()` straight to the user as one line.

use berth_content::ContentError;
use berth_image::ImageError;
use berth_types::error::{ErrorKind, HasKind};
use berth_types::Digest;
use std::io;
use std::path::PathBuf;

/// Failures of pull, push and login.
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    /// No endpoint of the registry answered (`Get "http://h/v2/": dial tcp h: connect: connection refused`).
    #[error("Get \"{url}\": {reason}")]
    Unreachable {
        /// The URL tried last.
        url: String,
        /// Why the connection failed, in Go's words where they are known.
        reason: String,
    },
    /// The registry refused the credentials, or asked for some and none were given.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The credentials are valid but do not allow this action.
    #[error("denied: {0}")]
    Denied(String),
    /// The tag or digest does not exist in the repository.
    #[error("manifest for {reference} not found: manifest unknown")]
    ManifestNotFound {
        /// The reference as the user wrote it (familiar form).
        reference: String,
    },
    /// The repository does not exist or the caller may not see it.
    #[error("repository {repository} not found: does not exist or no pull access")]
    RepositoryNotFound {
        /// The familiar repository name.
        repository: String,
    },
    /// The registry rate-limits this client (HTTP 429).
    #[error("toomanyrequests: {0}")]
    TooManyRequests(String),
    /// Any other error response of the registry (`<code>: <message>`).
    #[error("{code}: {message}")]
    Registry {
        /// HTTP status.
        status: u16,
        /// The registry error code, lower case (`blob_unknown`, …) or the status text.
        code: String,
        /// The message.
        message: String,
    },
    /// The connection failed while a request or response body was in flight.
    #[error("{method} \"{url}\": {reason}")]
    Transfer {
        /// HTTP method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The registry served a manifest kind Berth does not pull (e.g. schema 1).
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedManifest(String),
    /// The registry served a layer media type Berth cannot unpack.
    #[error("unsupported layer media type {0:?}")]
    UnsupportedLayer(String),
    /// A manifest, index or config could not be parsed.
    #[error("invalid {what}: {reason}")]
    BadDocument {
        /// Which document.
        what: &'static str,
        /// The parse error.
        reason: String,
    },
    /// No entry of a manifest list / index matches the requested platform.
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform {
        /// The platform asked for.
        platform: String,
    },
    /// A platform string is not `os[/arch[/variant]]`.
    #[error("invalid platform {0:?}: expected os[/arch[/variant]]")]
    BadPlatform(String),
    /// Downloaded content does not hash to the digest it was requested by.
    #[error("filesystem layer verification failed for digest {expected}")]
    DigestMismatch {
        /// The digest the manifest or config names.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// Downloaded content is longer or shorter than its descriptor says.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// Size in the descriptor.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// The image to push does not exist locally.
    #[error("An image does not exist locally with the tag: {0}")]
    NoSuchLocalImage(String),
    /// The image store refused an operation.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The content store refused an operation.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A local file operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// To what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// A TLS certificate or key under `certs.d` is unusable.
    #[error("invalid certificate {path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A blocking worker task panicked or was cancelled.
    #[error("layer worker failed: {0}")]
    Worker(String),
}

impl HasKind for DistributionError {
    fn kind(&self) -> ErrorKind {
        use DistributionError::*;
        match self {
            Unreachable { .. } | TooManyRequests(_) | Transfer { .. } => ErrorKind::Unavailable,
            Unauthorized(_) | Denied(_) => ErrorKind::Forbidden,
            ManifestNotFound { .. }
            | RepositoryNotFound { .. }
            | NoSuchLocalImage(_)
            | NoMatchingPlatform { .. } => ErrorKind::NotFound,
            UnsupportedManifest(_)
            | UnsupportedLayer(_)
            | BadDocument { .. }
            | BadPlatform(_)
            | DigestMismatch { .. }
            | SizeMismatch { .. } => ErrorKind::InvalidArgument,
            Registry { status, .. } => match status {
                404 => ErrorKind::NotFound,
                400..=499 => ErrorKind::InvalidArgument,
                _ => ErrorKind::Unavailable,
            },
            Image(e) => e.kind(),
            Content(e) => e.kind(),
            Io { .. } | Certificate { .. } | Worker(_) => ErrorKind::Internal,
        }
    }
}

/// Turns a reqwest connection error into Go's wording (`dial tcp ADDR: connect: connection refused`),
/// which is what users of Docker search for.
pub fn describe_transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "i/o timeout".to_string();
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            let what = match io.kind() {
                io::ErrorKind::ConnectionRefused => "connect: connection refused".to_string(),
                io::ErrorKind::ConnectionReset => "read: connection reset by peer".to_string(),
                io::ErrorKind::TimedOut => "i/o timeout".to_string(),
                io::ErrorKind::UnexpectedEof => "unexpected EOF".to_string(),
                _ => io.to_string(),
            };
            return match e
                .url()
                .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
            {
                Some(addr) if e.is_connect() => format!("dial tcp {addr}: {what}"),
                _ => what,
            };
        }
        src = s.source();
    }
    // No I/O error underneath (TLS, HTTP framing): the innermost message is the most specific.
    let mut last = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        last = s.to_string();
        src = s.source();
    }
    last
}
