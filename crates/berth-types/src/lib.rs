//! Berth's layer-0 value types.
//!
//! Everything here is pure data plus parsing: content digests, image references as Docker parses them,
//! the error-kind taxonomy that every crate maps its errors onto, and the one crash-safe way Berth
//! persists a file. No crate below this one exists; every crate above may use it.

pub mod device;
pub mod digest;
pub mod error;
pub mod id;
pub mod idmap;
pub mod persist;
pub mod reference;
pub mod sched;
pub mod teardown;

pub use digest::{Algorithm, Digest, DigestError, DigestWriter, Digester, Sha256Writer};
pub use error::ErrorKind;
pub use id::random_id;
pub use reference::{Reference, ReferenceError};
