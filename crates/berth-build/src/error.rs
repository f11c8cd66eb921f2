//! Build failures: one error for Dockerfile syntax ([`ParseError`]) and one for the build ([`BuildError`]).

use berth_types::error::{ErrorKind, HasKind};
use std::io;
use std::path::PathBuf;

/// A Dockerfile syntax error, naming file and line: `Dockerfile:7: unknown instruction: RUNN`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    /// The Dockerfile's name as given to [`crate::parse`].
    pub file: String,
    /// 1-based line of the offending instruction (0 for whole-file errors).
    pub line: usize,
    /// What is wrong, naming the instruction.
    pub message: String,
}

impl HasKind for ParseError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// An instruction is valid syntax but cannot be carried out as written (bad substitution, bad
    /// `--chown`, missing source file, unknown stage, …).
    #[error("{file}:{line}: {message}")]
    Instruction {
        /// The Dockerfile's name.
        file: String,
        /// The instruction's line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// `FROM` names an image the store does not have. The daemon pulls it and retries the build.
    #[error("pull access needed: image {reference} is not present locally")]
    BaseImageMissing {
        /// The image as named in the Dockerfile (after substitution).
        reference: String,
        /// The platform asked for (`FROM --platform` or `--platform`), if any.
        platform: Option<String>,
    },
    /// Another stage of the build failed, so this one stopped.
    #[error("build stopped: another stage failed")]
    Aborted,
    /// A stage asked for a platform (`FROM --platform`, `--platform`) the local image is not for.
    /// The daemon pulls that platform's image and retries the build once.
    #[error("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    PlatformMismatch {
        /// The image as named in the Dockerfile.
        reference: String,
        /// `os/arch[/variant]` asked for.
        wanted: String,
        /// `os/arch[/variant]` of the local image.
        actual: String,
    },
    /// `--target` names no stage.
    #[error("failed to reach build target {0} in Dockerfile")]
    TargetNotFound(String),
    /// A RUN step exited non-zero (Docker's exact wording).
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        /// The command as Docker prints it (`/bin/sh -c false`).
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// The step runner could not run the step at all.
    #[error("run step: {0}")]
    Runner(String),
    /// `ADD` of a remote URL when the build has no [`crate::Fetcher`] to download it with.
    #[error("ADD from a remote URL needs a URL fetcher, which this build was given none of: {url}")]
    RemoteAdd {
        /// The URL.
        url: String,
    },
    /// `ADD <url>`: the download failed (unreachable host, HTTP error status, too large, cut short).
    #[error("ADD failed: GET {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// The fetcher's one-line reason.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{op} {path:?}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    /// The snapshotter failed.
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::SnapshotError),
    /// Unpacking base layers failed.
    #[error(transparent)]
    Unpack(#[from] berth_snapshot::UnpackError),
    /// Writing a layer from a snapshot failed.
    #[error(transparent)]
    Diff(#[from] berth_snapshot::DiffError),
    /// Copying files into a snapshot failed.
    #[error(transparent)]
    Apply(#[from] berth_snapshot::ApplyError),
    /// The content store failed.
    #[error(transparent)]
    Content(#[from] berth_content::ContentError),
}

impl BuildError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io { op, path, source }
    }
}

impl HasKind for BuildError {
    fn kind(&self) -> ErrorKind {
        match self {
            BuildError::Parse(_) | BuildError::Instruction { .. } | BuildError::TargetNotFound(_) => ErrorKind::InvalidArgument,
            BuildError::BaseImageMissing { .. } => ErrorKind::NotFound,
            BuildError::PlatformMismatch { .. } => ErrorKind::InvalidArgument,
            BuildError::RunFailed { .. } => ErrorKind::InvalidArgument,
            BuildError::RemoteAdd { .. } | BuildError::Fetch { .. } => ErrorKind::Unavailable,
            BuildError::Runner(_) | BuildError::Io { .. } => ErrorKind::Internal,
            BuildError::Aborted => ErrorKind::Internal,
            BuildError::Image(e) => e.kind(),
            BuildError::Snapshot(e) => e.kind(),
            BuildError::Unpack(e) => e.kind(),
            BuildError::Diff(e) => e.kind(),
            BuildError::Apply(e) => e.kind(),
            BuildError::Content(e) => e.kind(),
        }
    }
}
