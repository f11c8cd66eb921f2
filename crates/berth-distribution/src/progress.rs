//! Progress events of pull and push, one variant per line Docker's JSON progress stream shows.
//!
//! `id` fields are the 12-hex short form Docker prints: the compressed blob digest for pulls, the
//! diff id for pushes (see /work/shared/reference/docker-wire/pull.txt and push.txt).

use berth_types::Digest;

/// One progress event. The daemon renders each as `{"status": …, "id": …, "progressDetail": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `Pulling from <repo>` with id = tag (or digest), the first line of a pull.
    PullingFrom {
        /// The familiar repository name, as Docker shows it (`library/busybox` → `library/busybox`).
        repository: String,
        /// The tag or digest being pulled.
        tag: String,
    },
    /// `Pulling fs layer`.
    PullingFsLayer {
        /// Short blob digest.
        id: String,
    },
    /// `Waiting`: queued behind the parallel download/upload limit.
    Waiting {
        /// Short blob digest (pull) or diff id (push).
        id: String,
    },
    /// `Downloading` with byte counts.
    Downloading {
        /// Short blob digest.
        id: String,
        /// Bytes received so far.
        current: u64,
        /// Compressed size from the manifest.
        total: u64,
    },
    /// `Verifying Checksum`.
    VerifyingChecksum {
        /// Short blob digest.
        id: String,
    },
    /// `Download complete`.
    DownloadComplete {
        /// Short blob digest.
        id: String,
    },
    /// `Extracting` with compressed bytes consumed so far.
    Extracting {
        /// Short blob digest.
        id: String,
        /// Compressed bytes unpacked.
        current: u64,
        /// Compressed size.
        total: u64,
    },
    /// `Pull complete`.
    PullComplete {
        /// Short blob digest.
        id: String,
    },
    /// `Already exists`: the layer's diff id is in the store already.
    AlreadyExists {
        /// Short blob digest.
        id: String,
    },
    /// `Digest: sha256:…` (the manifest or index digest the tag resolved to).
    Digest(Digest),
    /// `Status: Downloaded newer image for X` (`newer` true) or `Status: Image is up to date for X`.
    Status {
        /// The familiar reference (`127.0.0.1:5000/app:1`).
        reference: String,
        /// Whether the reference moved to a new image.
        newer: bool,
    },
    /// `The push refers to repository [X]`.
    PushRefersTo {
        /// The full repository name as Docker prints it (`127.0.0.1:5000/app`, `docker.io/library/x`).
        repository: String,
    },
    /// `Preparing`.
    Preparing {
        /// Short diff id.
        id: String,
    },
    /// `Pushing` with byte counts of the compressed blob.
    Pushing {
        /// Short diff id.
        id: String,
        /// Bytes sent so far.
        current: u64,
        /// Compressed size.
        total: u64,
    },
    /// `Pushed`.
    Pushed {
        /// Short diff id.
        id: String,
    },
    /// `Layer already exists`: the registry has the blob in this repository.
    LayerAlreadyExists {
        /// Short diff id.
        id: String,
    },
    /// `Mounted from <repo>`: the blob was mounted from another repository of the same registry.
    MountedFrom {
        /// Short diff id.
        id: String,
        /// The repository path it came from.
        repository: String,
    },
    /// `TAG: digest: sha256:… size: N`, plus Docker's `aux` record with the same three fields.
    PushDigest {
        /// The tag pushed.
        tag: String,
        /// Manifest digest.
        digest: Digest,
        /// Manifest size in bytes.
        size: u64,
    },
}

impl Progress {
    /// The `status` text Docker shows for this event.
    pub fn status(&self) -> String {
        use Progress::*;
        match self {
            PullingFrom { repository, .. } => format!("Pulling from {repository}"),
            PullingFsLayer { .. } => "Pulling fs layer".into(),
            Waiting { .. } => "Waiting".into(),
            Downloading { .. } => "Downloading".into(),
            VerifyingChecksum { .. } => "Verifying Checksum".into(),
            DownloadComplete { .. } => "Download complete".into(),
            Extracting { .. } => "Extracting".into(),
            PullComplete { .. } => "Pull complete".into(),
            AlreadyExists { .. } => "Already exists".into(),
            Digest(d) => format!("Digest: {d}"),
            Status {
                reference,
                newer: true,
            } => format!("Status: Downloaded newer image for {reference}"),
            Status {
                reference,
                newer: false,
            } => format!("Status: Image is up to date for {reference}"),
            PushRefersTo { repository } => format!("The push refers to repository [{repository}]"),
            Preparing { .. } => "Preparing".into(),
            Pushing { .. } => "Pushing".into(),
            Pushed { .. } => "Pushed".into(),
            LayerAlreadyExists { .. } => "Layer already exists".into(),
            MountedFrom { repository, .. } => format!("Mounted from {repository}"),
            PushDigest { tag, digest, size } => format!("{tag}: digest: {digest} size: {size}"),
        }
    }

    /// The `id` Docker attaches (layer short id, or the tag for `Pulling from`); `None` for image-wide lines.
    pub fn id(&self) -> Option<&str> {
        use Progress::*;
        match self {
            PullingFrom { tag, .. } => Some(tag),
            PullingFsLayer { id }
            | Waiting { id }
            | Downloading { id, .. }
            | VerifyingChecksum { id }
            | DownloadComplete { id }
            | Extracting { id, .. }
            | PullComplete { id }
            | AlreadyExists { id }
            | Preparing { id }
            | Pushing { id, .. }
            | Pushed { id }
            | LayerAlreadyExists { id }
            | MountedFrom { id, .. } => Some(id),
            Digest(_) | Status { .. } | PushRefersTo { .. } | PushDigest { .. } => None,
        }
    }

    /// `(current, total)` for the events that carry a progress bar.
    pub fn detail(&self) -> Option<(u64, u64)> {
        match self {
            Progress::Downloading { current, total, .. }
            | Progress::Extracting { current, total, .. }
            | Progress::Pushing { current, total, .. } => Some((*current, *total)),
            _ => None,
        }
    }
}
