//! Images: the store of image records and tags, layer ingestion (with hostile-archive checks),
//! `docker import`, and `docker save`/`docker load` in both the Docker archive format and the OCI
//! image layout.
//!
//! Layers are kept in the content store as uncompressed tars addressed by their diff id, the image
//! config is kept as the exact bytes it arrived as (its digest is the image id), and the records
//! that tie them together live in one JSON file written atomically (see [`store`]).

pub mod archive;
pub mod changes;
pub mod compression;
pub mod config;
mod error;
pub mod import;
pub mod layer;
pub mod store;

pub use config::{History, ImageConfig, RootFs};
pub use error::ImageError;
pub use store::{Image, ImageStore, LayerRecord};

/// The platform architecture name of this host, in OCI terms (`amd64`, `arm64`, …).
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}
