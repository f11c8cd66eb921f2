//! Image archives: `docker save` writes, `docker load` reads.
//!
//! Berth writes the layout Docker 25+ writes, which is at once a Docker archive and an OCI image
//! layout, so both Docker and OCI tools (skopeo, containerd) read it:
//! ```text
//! oci-layout                     {"imageLayoutVersion": "1.0.0"}
//! index.json                     OCI index, one manifest per (image, name), names in annotations
//! manifest.json                  Docker: [{"Config", "RepoTags", "Layers"}] with blob paths
//! repositories                   legacy {"name": {"tag": "<top layer>"}}
//! blobs/sha256/<hex>             configs, uncompressed layer tars, OCI manifests
//! ```
//! Loading accepts that layout, classic Docker archives (`<id>/layer.tar`, `<id>.json`), and plain
//! OCI layouts with gzip or zstd layers.

mod load;
mod save;

pub use load::{load, Loaded};
pub use save::{save, SaveItem};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Annotation containerd and Docker use for the full image name.
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// OCI's annotation for the reference (tag) of a manifest in an index.
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
