//! Berth's snapshotters and layer applier (layer 1, synchronous).
//!
//! - [`Snapshotter`] is the role: copy-on-write trees by key, returned as [`Mount`] data. Following
//!   containerd's rule, nothing here mounts anything; the runtime does.
//! - [`OverlaySnapshotter`] is the overlayfs implementation (its on-disk layout is drawn in
//!   [`overlay`]).
//! - [`apply`] unpacks an OCI layer tar into an overlay upper directory (whiteouts converted, hostile
//!   paths refused) and writes an upper directory back out as a layer tar.
//! - [`copy`] is `docker cp` inside a container's root: stat, archive and extract, every lookup
//!   confined to the root.
//! - [`unpack`] turns an image's layers into a chain of committed snapshots named by ChainID.

pub mod apply;
pub mod copy;
mod error;
mod mount;
pub mod overlay;
mod snapshotter;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;
pub mod unpack;

#[cfg(test)]
mod test_support;

pub use apply::{apply_layer, chown_to_container, chown_to_host, write_diff, write_diff_except, ApplyError, ApplyStats, DiffError};
pub use copy::{ArchiveOptions, CopyError, ExtractOptions, PathStat};
pub use error::SnapshotError;
pub use mount::{overlay_options, Mount, MAX_MOUNT_DATA};
pub use overlay::{OverlaySnapshotter, Removal};
pub use snapshotter::{Info, Kind, Labels, Snapshotter, Usage};
pub use unpack::{chain_id, unpack_layers, LayerOpener, UnpackError};
