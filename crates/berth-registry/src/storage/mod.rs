//! Storage: a small driver trait over a tree of named byte strings, and where the registry keeps what.
//!
//! The driver knows nothing about blobs or manifests; it stores bytes at `/`-separated paths, so a
//! filesystem ([`FsDriver`], the default), memory ([`MemDriver`], for tests) or an S3-compatible object
//! store ([`S3Driver`]) can back it: every operation is a whole-object get/put, a streamed read from an
//! offset, a writer of a whole new object (no appends: object stores have none), a stat, a one-level
//! list, a move and a recursive delete.
//!
//! On-disk layout (paths below the registry root; distribution's `paths.go`, simplified):
//!
//! ```text
//! <root>/
//! ├── format                                        layout version ("1")
//! ├── _gc/lease                                     the collector holding the GC lease, and until when
//! ├── _gc/trash/<alg>/<hex>                         a blob the running collection is about to remove
//! ├── blobs/<alg>/<hh>/<hex>/data                   blob bytes, stored ONCE per digest for all repos
//! │                                                 (<alg> is sha256 or sha512, as in distribution)
//! ├── blobs/<alg>/<hh>/<hex>/used                   rewritten by every writer that references the blob:
//! │                                                 its mtime tells the collector of the last reference
//! └── repositories/<name>/                          one directory level per `/` component of the name
//!     ├── _layers/<alg>/<hex>/link                  "this repo has that blob" (content: the digest)
//!     ├── _manifests/
//!     │   ├── revisions/<alg>/<hex>/link            manifest in this repo (content: its media type);
//!     │   │                                         the manifest bytes are the blob of that digest
//!     │   └── tags/<tag>                            content: the digest the tag points at
//!     ├── _referrers/<alg>/<subject hex>/<hex>      descriptor JSON of a manifest whose subject it is
//!     └── _uploads/<uuid>/
//!         ├── startedat                             when the upload began (it exists from the start)
//!         └── parts/<offset, 20 digits>             the bytes one request brought, from that offset;
//!                                                   invisible until committed; the newest mtime is the
//!                                                   last write (uploads expire after a TTL)
//! ```
//!
//! An upload's state lives only here, never in one process's memory, so any replica sharing the store
//! can continue it. Small files (links, tags) are written atomically (temp + fsync + rename on the
//! filesystem, one `PutObject` on S3); an upload becomes a blob by one move (or a concatenation of its
//! parts written as a new object) after its digest and length were verified, so a crash leaves either
//! no blob or a whole one.

mod fs;
mod mem;
mod s3;
#[doc(hidden)]
pub mod suite;

pub use fs::FsDriver;
pub use mem::MemDriver;
pub use s3::{S3Config, S3ConfigError, S3Driver};

use crate::errors::StorageError;
use berth_types::Digest;
use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;
use tokio::io::{AsyncRead, AsyncWrite};

/// A streamed reader over a stored object.
pub type ByteReader = Pin<Box<dyn AsyncRead + Send>>;
/// A writer of a whole new object: its bytes appear at once, replacing what was there, when `shutdown`
/// returns; a writer dropped before that leaves nothing behind. On the filesystem the object is scratch
/// (not fsynced): what must be durable is moved into place by [`StorageDriver::apply`].
pub type ByteWriter = Pin<Box<dyn AsyncWrite + Send>>;

/// What [`StorageDriver::stat`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Last modification time.
    pub modified: SystemTime,
    /// Whether the path is a directory (a prefix of other paths).
    pub is_dir: bool,
}

/// A store of byte strings at `/`-separated paths. Paths never start or end with `/` and have no empty,
/// `.` or `..` components; drivers reject others with [`StorageError::InvalidPath`].
pub trait StorageDriver: Send + Sync + 'static {
    /// The whole content at `path`, or `NotFound`.
    fn get_content(&self, path: &str) -> impl Future<Output = Result<Bytes, StorageError>> + Send;
    /// Replaces the content at `path` atomically: readers see the old or the new bytes, never a mix.
    fn put_content(&self, path: &str, content: Bytes) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// A reader from byte `offset` of `path` to its end, or `NotFound`.
    fn reader(&self, path: &str, offset: u64) -> impl Future<Output = Result<ByteReader, StorageError>> + Send;
    /// A reader of at most `len` bytes from byte `offset` of `path`, or `NotFound`.
    fn range_reader(
        &self,
        path: &str,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<ByteReader, StorageError>> + Send {
        async move {
            let r = self.reader(path, offset).await?;
            Ok(Box::pin(tokio::io::AsyncReadExt::take(r, len)) as ByteReader)
        }
    }
    /// A writer of a new object at `path` (see [`ByteWriter`]): stores have no append, so content that
    /// arrives in pieces is stored as several objects (uploads keep one per request).
    fn writer(&self, path: &str) -> impl Future<Output = Result<ByteWriter, StorageError>> + Send;
    /// Size, modification time and kind of `path`, or `NotFound`.
    fn stat(&self, path: &str) -> impl Future<Output = Result<FileInfo, StorageError>> + Send;
    /// The names of the direct children of directory `path` (`""` is the root), sorted; `NotFound` if
    /// the directory does not exist.
    fn list(&self, path: &str) -> impl Future<Output = Result<Vec<String>, StorageError>> + Send;
    /// Moves `from` to `to` durably and atomically, replacing `to`.
    fn move_to(&self, from: &str, to: &str) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Deletes `path` and everything below it; `NotFound` if nothing was there.
    fn delete(&self, path: &str) -> impl Future<Output = Result<(), StorageError>> + Send;
    /// Replaces the content at `path` atomically like [`StorageDriver::put_content`], but need not be
    /// durable when it returns (nor the directories it creates): for scratch state whose loss in a
    /// host crash costs a client a retry, never stored content (an upload's start marker).
    fn put_scratch(&self, path: &str, content: Bytes) -> impl Future<Output = Result<(), StorageError>> + Send {
        self.put_content(path, content)
    }
    /// Applies `groups` of writes in order, each group's writes in order, and returns once all of them
    /// are durable. A group's writes become durable together: none of the next group's is visible
    /// before all of this group's are durable, so a later group may name what an earlier one stored (a
    /// tag after its manifest). A driver may make a group cheaper than its writes one by one (the
    /// filesystem fsyncs a group's files, then its directories, each once and in parallel).
    fn apply(&self, groups: Vec<Vec<Write>>) -> impl Future<Output = Result<(), StorageError>> + Send {
        async move {
            for w in groups.into_iter().flatten() {
                match w {
                    Write::Put(path, content) => self.put_content(&path, content).await?,
                    Write::Move(from, to) => self.move_to(&from, &to).await?,
                    Write::Mark(path) => self.put_scratch(&path, Bytes::new()).await?,
                    Write::Concat(parts, to) => {
                        let mut w = self.writer(&to).await?;
                        for p in &parts {
                            let mut r = self.reader(p, 0).await?;
                            tokio::io::copy(&mut r, &mut w)
                                .await
                                .map_err(|source| StorageError::Io { op: "concatenate", path: p.clone(), source })?;
                        }
                        tokio::io::AsyncWriteExt::shutdown(&mut w)
                            .await
                            .map_err(|source| StorageError::Io { op: "write", path: to.clone(), source })?;
                    }
                }
            }
            Ok(())
        }
    }
}

/// One write of a [`StorageDriver::apply`] batch.
#[derive(Debug, Clone)]
pub enum Write {
    /// Replaces the content at the path, as [`StorageDriver::put_content`].
    Put(String, Bytes),
    /// Moves the first path to the second, as [`StorageDriver::move_to`].
    Move(String, String),
    /// Stores the concatenation of the objects at the paths as a new object at the last path.
    Concat(Vec<String>, String),
    /// Rewrites an empty marker whose modification time is what matters to the running processes
    /// (a blob's reference marker, see `gc`): visible when `apply` returns, not necessarily durable,
    /// but a directory it creates is, since durable writes may go into it.
    Mark(String),
}

/// The closed set of drivers the registry can run on.
#[derive(Debug, Clone)]
pub enum Driver {
    /// Files under a root directory.
    Fs(FsDriver),
    /// Process memory (tests).
    Mem(MemDriver),
    /// An S3-compatible object store.
    S3(S3Driver),
}

macro_rules! delegate {
    ($self:ident, $d:ident => $e:expr) => {
        match $self {
            Driver::Fs($d) => $e.await,
            Driver::Mem($d) => $e.await,
            Driver::S3($d) => $e.await,
        }
    };
}

impl StorageDriver for Driver {
    async fn get_content(&self, path: &str) -> Result<Bytes, StorageError> {
        delegate!(self, d => d.get_content(path))
    }
    async fn put_content(&self, path: &str, content: Bytes) -> Result<(), StorageError> {
        delegate!(self, d => d.put_content(path, content))
    }
    async fn reader(&self, path: &str, offset: u64) -> Result<ByteReader, StorageError> {
        delegate!(self, d => d.reader(path, offset))
    }
    async fn range_reader(&self, path: &str, offset: u64, len: u64) -> Result<ByteReader, StorageError> {
        delegate!(self, d => d.range_reader(path, offset, len))
    }
    async fn writer(&self, path: &str) -> Result<ByteWriter, StorageError> {
        delegate!(self, d => d.writer(path))
    }
    async fn stat(&self, path: &str) -> Result<FileInfo, StorageError> {
        delegate!(self, d => d.stat(path))
    }
    async fn list(&self, path: &str) -> Result<Vec<String>, StorageError> {
        delegate!(self, d => d.list(path))
    }
    async fn move_to(&self, from: &str, to: &str) -> Result<(), StorageError> {
        delegate!(self, d => d.move_to(from, to))
    }
    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        delegate!(self, d => d.delete(path))
    }
    async fn put_scratch(&self, path: &str, content: Bytes) -> Result<(), StorageError> {
        delegate!(self, d => d.put_scratch(path, content))
    }
    async fn apply(&self, groups: Vec<Vec<Write>>) -> Result<(), StorageError> {
        delegate!(self, d => d.apply(groups))
    }
}

impl Driver {
    /// A URL a client may fetch `path` from directly instead of through the registry (a pre-signed
    /// object URL), when the driver can give one and redirects are on.
    pub fn redirect_url(&self, path: &str) -> Option<String> {
        match self {
            Driver::S3(d) => d.redirect_url(path),
            Driver::Fs(_) | Driver::Mem(_) => None,
        }
    }

    /// The file holding `path`, opened for reading, when the store is a local filesystem (`None` for
    /// the others): what a plain-HTTP blob response sends with `sendfile`.
    pub async fn open_file(&self, path: &str) -> Option<Result<std::fs::File, StorageError>> {
        match self {
            Driver::Fs(d) => Some(d.open_file(path).await),
            Driver::Mem(_) | Driver::S3(_) => None,
        }
    }

    /// Whether several registry processes may share this storage (the S3 driver).
    pub fn shared(&self) -> bool {
        matches!(self, Driver::S3(_))
    }
}

/// Rejects paths a driver must not accept (see [`StorageDriver`]).
pub(crate) fn check_path(path: &str, allow_root: bool) -> Result<(), StorageError> {
    let ok = if path.is_empty() {
        allow_root
    } else {
        path.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
    };
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidPath { path: path.to_string() })
    }
}

/// The paths of the layout drawn in the module doc. `<alg>` is the digest's algorithm (`sha256` or
/// `sha512`); referrer files are named by the referrer's bare hex, whose length tells its algorithm.
pub mod paths {
    use super::Digest;
    use berth_types::Algorithm;

    /// The layout version file.
    pub const FORMAT: &str = "format";
    /// The root of all repositories.
    pub const REPOSITORIES: &str = "repositories";

    /// The directory of all blobs of algorithm `alg`.
    pub fn blobs(alg: Algorithm) -> String {
        format!("blobs/{}", alg.name())
    }
    /// A blob's directory (what GC deletes).
    pub fn blob_dir(d: &Digest) -> String {
        format!("blobs/{}/{}/{}", d.algorithm(), &d.hex()[..2], d.hex())
    }
    /// A blob's bytes.
    pub fn blob_data(d: &Digest) -> String {
        format!("{}/data", blob_dir(d))
    }
    /// A repository's directory.
    pub fn repo(name: &str) -> String {
        format!("repositories/{name}")
    }
    /// The link saying `name` has blob `d`.
    pub fn layer_link(name: &str, d: &Digest) -> String {
        format!("repositories/{name}/_layers/{}/{}/link", d.algorithm(), d.hex())
    }
    /// The directory of a repository's blob links of algorithm `alg`.
    pub fn layers(name: &str, alg: Algorithm) -> String {
        format!("repositories/{name}/_layers/{}", alg.name())
    }
    /// The link saying `name` has manifest `d`.
    pub fn revision_link(name: &str, d: &Digest) -> String {
        format!("repositories/{name}/_manifests/revisions/{}/{}/link", d.algorithm(), d.hex())
    }
    /// The directory of a repository's manifest revisions of algorithm `alg`.
    pub fn revisions(name: &str, alg: Algorithm) -> String {
        format!("repositories/{name}/_manifests/revisions/{}", alg.name())
    }
    /// The directory of a repository's tags.
    pub fn tags(name: &str) -> String {
        format!("repositories/{name}/_manifests/tags")
    }
    /// A tag file.
    pub fn tag(name: &str, tag: &str) -> String {
        format!("repositories/{name}/_manifests/tags/{tag}")
    }
    /// The directory of referrers of `subject`.
    pub fn referrers(name: &str, subject: &Digest) -> String {
        format!("repositories/{name}/_referrers/{}/{}", subject.algorithm(), subject.hex())
    }
    /// The descriptor file of referrer `d` of `subject`.
    pub fn referrer(name: &str, subject: &Digest, d: &Digest) -> String {
        format!("{}/{}", referrers(name, subject), d.hex())
    }
    /// The digest a referrer file named `hex` stands for (its algorithm told by its length).
    pub fn referrer_digest(hex: &str) -> Option<Digest> {
        Algorithm::ALL.into_iter().find(|a| a.hex_len() == hex.len()).and_then(|a| Digest::from_parts(a, hex).ok())
    }
    /// The directory of a repository's uploads.
    pub fn uploads(name: &str) -> String {
        format!("repositories/{name}/_uploads")
    }
    /// An upload's directory.
    pub fn upload(name: &str, id: &str) -> String {
        format!("repositories/{name}/_uploads/{id}")
    }
    /// The marker an upload has from its start.
    pub fn upload_started(name: &str, id: &str) -> String {
        format!("repositories/{name}/_uploads/{id}/startedat")
    }
    /// The directory of an upload's parts.
    pub fn upload_parts(name: &str, id: &str) -> String {
        format!("repositories/{name}/_uploads/{id}/parts")
    }
    /// The part of an upload starting at byte `offset`.
    pub fn upload_part(name: &str, id: &str, offset: u64) -> String {
        format!("repositories/{name}/_uploads/{id}/parts/{offset:020}")
    }
    /// A blob's reference marker (see the layout).
    pub fn blob_used(d: &Digest) -> String {
        format!("{}/used", blob_dir(d))
    }
    /// The GC lease.
    pub const GC_LEASE: &str = "_gc/lease";
    /// Where a collection parks a blob between its last check and its removal.
    pub fn gc_trash(d: &Digest) -> String {
        format!("_gc/trash/{}/{}", d.algorithm(), d.hex())
    }
}

/// The digests named by the children of `dir_of(alg)` for every algorithm (link directories such as
/// [`paths::layers`] and [`paths::revisions`]); entries that are not a digest's hex are skipped.
pub(crate) async fn list_digests<D: StorageDriver>(
    d: &D,
    dir_of: impl Fn(berth_types::Algorithm) -> String,
) -> Result<Vec<Digest>, StorageError> {
    let mut out = Vec::new();
    for alg in berth_types::Algorithm::ALL {
        match d.list(&dir_of(alg)).await {
            Ok(names) => out.extend(names.iter().filter_map(|h| Digest::from_parts(alg, h).ok())),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Every stored blob's digest (the two-level `blobs/<alg>/<hh>/<hex>` walk).
pub(crate) async fn blob_digests<D: StorageDriver>(d: &D) -> Result<Vec<Digest>, StorageError> {
    let mut out = Vec::new();
    for alg in berth_types::Algorithm::ALL {
        let top = paths::blobs(alg);
        let prefixes = match d.list(&top).await {
            Ok(p) => p,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        for hh in prefixes {
            match d.list(&format!("{top}/{hh}")).await {
                Ok(names) => out.extend(names.iter().filter_map(|h| Digest::from_parts(alg, h).ok())),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}
