//! Errors: the distribution API's error codes (the wire contract clients match on), the storage and
//! startup failure domains, and the one place where a code becomes an HTTP status.

use axum::response::{IntoResponse, Response};
use berth_types::error::{ErrorKind, HasKind};
use http::{HeaderValue, StatusCode};
use std::path::PathBuf;

/// An error code of the OCI Distribution Spec (§ error codes) or of the Docker registry API V2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN`: the blob is not in the repository.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID`: the upload cannot continue (bad chunk, busy, wrong state).
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`: no such upload session.
    BlobUploadUnknown,
    /// `DIGEST_INVALID`: a digest is malformed or does not match the content.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN`: a manifest references a blob or manifest the repository lacks.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID`: the manifest failed validation.
    ManifestInvalid,
    /// `MANIFEST_UNKNOWN`: no such manifest or tag.
    ManifestUnknown,
    /// `NAME_INVALID`: the repository name is malformed.
    NameInvalid,
    /// `NAME_UNKNOWN`: the repository does not exist.
    NameUnknown,
    /// `SIZE_INVALID`: a declared length does not match the content.
    SizeInvalid,
    /// `SIZE_INVALID` with 413: the body is over the registry's limit (OCI spec § pushing manifests).
    PayloadTooLarge,
    /// `TAG_INVALID`: the tag is malformed.
    TagInvalid,
    /// `UNAUTHORIZED`: authentication is required or failed.
    Unauthorized,
    /// `DENIED`: authenticated, but not allowed this action.
    Denied,
    /// `UNSUPPORTED`: the operation is not supported (e.g. writes on a read-only registry).
    Unsupported,
    /// `RANGE_INVALID`: a chunk or a byte range is out of order or unsatisfiable (416).
    RangeInvalid,
    /// `UNAVAILABLE` (503): a service the request needs, such as a pull-through cache's upstream,
    /// cannot answer (distribution's `errcode.ErrorCodeUnavailable`).
    Unavailable,
    /// `UNKNOWN`: an internal failure.
    Unknown,
}

impl ErrorCode {
    /// The code string on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid | ErrorCode::PayloadTooLarge => "SIZE_INVALID",
            ErrorCode::TagInvalid => "TAG_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::RangeInvalid => "RANGE_INVALID",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }

    /// The HTTP status for this code (distribution's `errcode` registrations). The only such mapping.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown => StatusCode::NOT_FOUND,
            ErrorCode::BlobUploadInvalid
            | ErrorCode::DigestInvalid
            | ErrorCode::ManifestBlobUnknown
            | ErrorCode::ManifestInvalid
            | ErrorCode::NameInvalid
            | ErrorCode::SizeInvalid
            | ErrorCode::TagInvalid => StatusCode::BAD_REQUEST,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Denied => StatusCode::FORBIDDEN,
            ErrorCode::Unsupported => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::RangeInvalid => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unknown => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error as the API reports it: `{"errors":[{"code","message","detail"}]}` plus response headers
/// some codes need (`WWW-Authenticate` on 401, `Range` on 416).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The spec's error code.
    pub code: ErrorCode,
    /// A human-readable message.
    pub message: String,
    /// Optional structured detail.
    pub detail: Option<serde_json::Value>,
    /// Extra response headers, as (name, value) strings.
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), detail: None, headers: Vec::new() }
    }

    /// Adds a detail value.
    pub fn with_detail(mut self, detail: serde_json::Value) -> ApiError {
        self.detail = Some(detail);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &'static str, value: String) -> ApiError {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut entry = serde_json::json!({ "code": self.code.as_str(), "message": self.message });
        if let Some(d) = self.detail {
            entry["detail"] = d;
        }
        let body = serde_json::json!({ "errors": [entry] }).to_string();
        let mut resp = (self.code.status(), body).into_response();
        let h = resp.headers_mut();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.append(name, v);
            }
        }
        resp
    }
}

/// A storage driver failure.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The path does not exist.
    #[error("path not found: {path}")]
    NotFound {
        /// The driver path.
        path: String,
    },
    /// The path is not acceptable to the driver (empty component, `..`).
    #[error("invalid storage path: {path:?}")]
    InvalidPath {
        /// The driver path.
        path: String,
    },
    /// An I/O operation failed.
    #[error("storage {op} failed at {path}")]
    Io {
        /// The operation: read, write, rename, list, delete, stat.
        op: &'static str,
        /// The driver path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    /// Whether this is [`StorageError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
}

impl HasKind for StorageError {
    fn kind(&self) -> ErrorKind {
        match self {
            StorageError::NotFound { .. } => ErrorKind::NotFound,
            StorageError::InvalidPath { .. } => ErrorKind::InvalidArgument,
            StorageError::Io { .. } => ErrorKind::Internal,
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        // Storage failures are ours, not the client's: the detail stays in the log.
        tracing::error!(error = %e, source = ?std::error::Error::source(&e), "storage failure");
        ApiError::new(ErrorCode::Unknown, "internal storage error")
    }
}

/// Why the registry could not start, serve or collect garbage.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The S3 storage configuration is unusable.
    #[error(transparent)]
    S3Config(#[from] crate::storage::S3ConfigError),
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A TLS certificate or key could not be read or used.
    #[error("invalid TLS configuration ({path})")]
    Tls {
        /// The certificate or key file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The htpasswd file could not be read.
    #[error("cannot read htpasswd file {path}")]
    Htpasswd {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The token signing key in the root could not be read or written.
    #[error("cannot use the token signing key {path}")]
    TokenKey {
        /// The key file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An `--auth` value could not be parsed.
    #[error("invalid auth setting {0:?}: expected none, htpasswd:FILE or token:FILE[,realm=URL][,service=NAME]")]
    AuthSpec(String),
    /// The pull-through cache configuration is unusable.
    #[error("invalid proxy configuration: {0}")]
    Proxy(String),
    /// The storage root could not be used.
    #[error("storage failure")]
    Storage(#[from] StorageError),
}

impl HasKind for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Bind { .. } => ErrorKind::Unavailable,
            RegistryError::Tls { .. } | RegistryError::AuthSpec(_) | RegistryError::Htpasswd { .. } | RegistryError::TokenKey { .. } => {
                ErrorKind::InvalidArgument
            }
            RegistryError::Storage(e) => e.kind(),
            RegistryError::S3Config(_) | RegistryError::Proxy(_) => ErrorKind::InvalidArgument,
        }
    }
}
