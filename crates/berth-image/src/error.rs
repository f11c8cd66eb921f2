use berth_content::ContentError;
use berth_types::error::{ErrorKind, HasKind};
use berth_types::{Digest, ReferenceError};
use std::io;
use std::path::PathBuf;

/// Failures of image operations.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image matches the name or id.
    #[error("No such image: {0}")]
    NotFound(String),
    /// An id prefix matches several images.
    #[error("ambiguous image id prefix {0}: more than one image matches")]
    Ambiguous(String),
    /// The reference is malformed.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// An archive entry tries to escape the tree it is unpacked into.
    #[error("refusing archive entry {path:?}: {reason}")]
    HostileEntry {
        /// The entry's path as written in the archive.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The archive ended before its end-of-archive marker.
    #[error("archive is truncated or empty")]
    Truncated,
    /// The incoming stream could not be read or decoded.
    #[error("reading archive: {0}")]
    Read(#[source] io::Error),
    /// The archive has no `manifest.json` or `index.json`.
    #[error("invalid image archive: neither manifest.json nor index.json found")]
    NoManifest,
    /// A manifest or index in the archive is malformed.
    #[error("invalid image archive: {what}: {source}")]
    BadManifest {
        /// Which file.
        what: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A document (manifest, index, config) is larger than Berth reads.
    #[error("invalid image archive: {what} is {size} bytes, more than the {limit}-byte limit for such a document")]
    DocumentTooLarge {
        /// Which file.
        what: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A manifest names a file the archive does not hold.
    #[error("invalid image archive: {0} is referenced but missing")]
    MissingBlob(String),
    /// A blob's content does not match the digest it is named by.
    #[error("invalid image archive: {path} does not match its digest {expected}")]
    BlobDigest {
        /// The path in the archive.
        path: String,
        /// The digest its name claims.
        expected: Digest,
    },
    /// A layer does not match the diff id the image config lists for it.
    #[error("layer digest mismatch: config lists {expected}, layer is {actual}")]
    LayerMismatch {
        /// Diff id from the config.
        expected: Digest,
        /// Digest of the uncompressed layer.
        actual: Digest,
    },
    /// The manifest and the config disagree on the number of layers.
    #[error("image config lists {config} layers but the manifest has {manifest}")]
    LayerCount {
        /// Layers in the config.
        config: usize,
        /// Layers in the manifest.
        manifest: usize,
    },
    /// The image config is malformed.
    #[error("invalid image config: {0}")]
    BadConfig(#[source] serde_json::Error),
    /// A `changes` instruction is not valid.
    #[error("invalid change: {0}")]
    BadChange(String),
    /// A `changes` line whose instruction cannot be a change (dockerd's wording, the instruction
    /// lowercased).
    #[error("{0} is not a valid change command")]
    UnknownChange(String),
    /// An operation conflicts with the image's state (Docker's rmi conflicts).
    #[error("{0}")]
    Conflict(String),
    /// A filesystem operation on the store failed.
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
}

impl HasKind for ImageError {
    fn kind(&self) -> ErrorKind {
        use ImageError::*;
        match self {
            NotFound(_) => ErrorKind::NotFound,
            Conflict(_) => ErrorKind::Conflict,
            Content(e) => e.kind(),
            Io { .. } => ErrorKind::Internal,
            Ambiguous(_) | Reference(_) | HostileEntry { .. } | Truncated | Read(_) | NoManifest | BadManifest { .. }
            | DocumentTooLarge { .. }
            | MissingBlob(_) | BlobDigest { .. } | LayerMismatch { .. } | LayerCount { .. } | BadConfig(_)
            | BadChange(_) | UnknownChange(_) => ErrorKind::InvalidArgument,
        }
    }
}
