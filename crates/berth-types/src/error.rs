//! The error-kind taxonomy (containerd's errdefs): every library error maps onto one of these kinds,
//! and the daemon's API layer turns kinds into HTTP statuses in exactly one place.

/// What class of failure an error is, independent of which crate raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named object does not exist (HTTP 404).
    NotFound,
    /// An object with that name already exists (HTTP 409).
    AlreadyExists,
    /// The caller's input is malformed or out of range (HTTP 400).
    InvalidArgument,
    /// The request conflicts with the current state, e.g. an image still in use (HTTP 409).
    Conflict,
    /// A dependency is not reachable right now (HTTP 503).
    Unavailable,
    /// The caller is not allowed to do this (HTTP 403).
    Forbidden,
    /// A fault inside Berth or the host: I/O errors, corrupted state (HTTP 500).
    Internal,
}

/// Implemented by every library error so the API layer can pick a status without matching on variants.
pub trait HasKind {
    /// The class of this error.
    fn kind(&self) -> ErrorKind;
}
