//! The container runtime layer (synchronous, no tokio).
//!
//! [`spec`] turns Berth's container configuration into an OCI runtime spec with Docker's security
//! defaults (capabilities, seccomp, masked and read-only paths, devices, mounts); [`user`] resolves
//! `-u name` inside a root filesystem without following its symlinks out; [`mount`] mounts the
//! snapshot a container runs on. The libcontainer calls that create containers live in
//! [`container`] and are only ever made from the single-threaded `berth shim` process.

pub mod cgroups;
pub mod config;
pub mod filter;
pub use berth_types::idmap;
pub mod idmapped;
pub mod container;
pub mod devices;
pub mod mount;
pub mod private_mounts;
pub mod seccomp;
pub mod spec;
pub mod user;

pub use config::RuntimeConfig;

/// Failures of the runtime layer.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The configuration cannot be expressed as a valid OCI spec.
    #[error("invalid container configuration: {0}")]
    Invalid(String),
    /// A user or group named by `-u` does not exist in the image.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoSuchUser(String),
    /// A group named by `-u user:group` does not exist in the image.
    #[error("unable to find group {0}: no matching entries in group file")]
    NoSuchGroup(String),
    /// libcontainer failed.
    #[error("runtime: {0}")]
    Libcontainer(String),
    /// A mount failed.
    #[error("mount {target}: {source}")]
    Mount {
        /// Where.
        target: std::path::PathBuf,
        /// Why.
        #[source]
        source: nix::Error,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}")]
    Io {
        /// What.
        op: &'static str,
        /// Where.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
