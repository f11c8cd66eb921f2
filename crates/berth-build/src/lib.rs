//! Berth's builder (layer 3, synchronous; the daemon calls it from `spawn_blocking`).
//!
//! - [`parse`]: Dockerfile text → [`Dockerfile`] (pure; every syntax error before any step runs).
//! - [`expand`]: Docker's variable substitution rules.
//! - [`dockerignore`]: `.dockerignore` matching.
//! - [`build()`]: runs a parsed Dockerfile stage by stage on a [`berth_snapshot::Snapshotter`], with RUN
//!   steps executed by a [`StepRunner`] (the daemon's shim; a chroot runner in tests), producing an
//!   image in a [`berth_image::ImageStore`]. A persistent layer cache lives under
//!   [`BuildOptions::cache_dir`] (see [`cache`]). `ADD <http(s) URL>` downloads through the
//!   [`Fetcher`] the caller injects in [`BuildOptions::fetcher`]; this crate has no HTTP client.

pub mod build;
pub mod cache;
pub mod dockerignore;
mod error;
pub mod expand;
pub mod parser;

pub use build::{build, BuildEvent, BuildOptions, Fetched, Fetcher, RunMount, RunMountKind, RunStep, StepRunner, RUNNER_MOUNTS};
pub use cache::{CacheEntry, Listing as CacheListing, MountEntry};
pub use dockerignore::IgnoreMatcher;
pub use error::{BuildError, ParseError};
pub use parser::{parse, CmdLine, Command, Dockerfile, Instruction, Stage};
