//! The content-addressed blob store.
//!
//! Every blob lives under the sha256 of its bytes. Writers hash while they write into a private
//! ingest file; [`BlobWriter::commit`] verifies the digest (and size, when known), fsyncs and renames
//! the file into place, so no reader can ever see a blob under a wrong or partial name, and a crash
//! leaves at most an orphaned ingest file that the next [`ContentStore::open`] removes.
//!
//! On-disk layout (root is injected, e.g. `<data-root>/content`):
//! ```text
//! <root>/
//!   blobs/sha256/<hex>     committed blobs, read-only (0444)
//!   ingest/<random>        blobs being written; removed on drop, on failure and at open
//! ```

use berth_types::error::{ErrorKind, HasKind};
use berth_types::{Digest, Sha256Writer};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Failures of the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// No blob with that digest is stored.
    #[error("content {0} not found")]
    NotFound(Digest),
    /// The bytes written hash to another digest than the caller expected.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What the caller said the content is.
        expected: Digest,
        /// What the bytes hash to.
        actual: Digest,
    },
    /// The bytes written have another length than the caller expected.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// Digest of the content.
        digest: Digest,
        /// Length the caller declared.
        expected: u64,
        /// Length actually written.
        actual: u64,
    },
    /// An I/O operation on a store path failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl HasKind for ContentError {
    fn kind(&self) -> ErrorKind {
        match self {
            ContentError::NotFound(_) => ErrorKind::NotFound,
            ContentError::DigestMismatch { .. } | ContentError::SizeMismatch { .. } => ErrorKind::InvalidArgument,
            ContentError::Io { .. } => ErrorKind::Internal,
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ContentError + 'a {
    move |source| ContentError::Io { op, path: path.to_path_buf(), source }
}

/// A blob store rooted at one directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store at `root` and removes ingest files left by a crash.
    pub fn open(root: impl Into<PathBuf>) -> Result<ContentStore, ContentError> {
        let root = root.into();
        let store = ContentStore { root };
        let blobs = store.root.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_err("create", &blobs))?;
        let ingest = store.ingest_dir();
        if ingest.exists() {
            berth_types::teardown::remove_tree(&ingest).map_err(io_err("clean", &ingest))?;
        }
        fs::create_dir_all(&ingest).map_err(io_err("create", &ingest))?;
        Ok(store)
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }

    /// Where the blob `digest` lives (whether or not it is stored).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join(digest.algorithm()).join(digest.hex())
    }

    /// Whether the blob is stored.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The size in bytes of a stored blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        let p = self.blob_path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound(digest.clone())),
            Err(e) => Err(io_err("stat", &p)(e)),
        }
    }

    /// Opens a stored blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ContentError::NotFound(digest.clone())
            } else {
                io_err("open", &p)(e)
            }
        })
    }

    /// Reads a whole stored blob into memory (for small blobs: configs, manifests).
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let mut f = self.open_blob(digest)?;
        let mut v = Vec::new();
        io::Read::read_to_end(&mut f, &mut v).map_err(io_err("read", &self.blob_path(digest)))?;
        Ok(v)
    }

    /// Stores `bytes`, verifying them against `expected` when given, and returns their digest.
    pub fn put(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest, ContentError> {
        let mut w = self.writer()?;
        w.write_all(bytes).map_err(io_err("write", &w.path.clone()))?;
        Ok(w.commit(expected, Some(bytes.len() as u64))?.0)
    }

    /// Starts writing a new blob.
    pub fn writer(&self) -> Result<BlobWriter, ContentError> {
        let path = self.ingest_dir().join(berth_types::random_id());
        let file = fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_err("create", &path))?;
        Ok(BlobWriter { store: self.clone(), path, inner: Some(Sha256Writer::new(BufWriter::with_capacity(256 * 1024, file))) })
    }

    /// Removes a stored blob; removing an absent blob is not an error.
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", &p)(e)),
        }
    }

    /// Every stored blob's digest.
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("list", &dir))? {
            let entry = entry.map_err(io_err("list", &dir))?;
            if let Some(d) = entry.file_name().to_str().and_then(|n| Digest::from_hex(n).ok()) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// A blob being written. Dropping it without [`commit`](BlobWriter::commit) discards the bytes.
pub struct BlobWriter {
    store: ContentStore,
    path: PathBuf,
    inner: Option<Sha256Writer<BufWriter<File>>>,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.inner.as_ref().map(|w| w.written()).unwrap_or(0)
    }

    /// Verifies the bytes written against `expected` digest and `size` (when given) and makes the blob
    /// visible under its digest. Returns the digest and size. On any failure nothing becomes visible.
    pub fn commit(mut self, expected: Option<&Digest>, size: Option<u64>) -> Result<(Digest, u64), ContentError> {
        let Some(w) = self.inner.take() else {
            return Err(ContentError::Io { op: "commit", path: self.path.clone(), source: io::Error::other("writer already finished") });
        };
        let (buf, digest, written) = w.finish();
        let file = buf.into_inner().map_err(|e| io_err("flush", &self.path)(e.into_error()))?;
        if let Some(exp) = expected {
            if *exp != digest {
                return Err(ContentError::DigestMismatch { expected: exp.clone(), actual: digest });
            }
        }
        if let Some(n) = size {
            if n != written {
                return Err(ContentError::SizeMismatch { digest, expected: n, actual: written });
            }
        }
        let target = self.store.blob_path(&digest);
        if target.is_file() {
            // Same bytes are already stored; the ingest file is removed on drop.
            return Ok((digest, written));
        }
        file.sync_all().map_err(io_err("fsync", &self.path))?;
        drop(file);
        let _ = fs::set_permissions(&self.path, std::os::unix::fs::PermissionsExt::from_mode(0o444));
        fs::rename(&self.path, &target).map_err(io_err("commit", &target))?;
        if let Some(dir) = target.parent() {
            berth_types::persist::sync_dir(dir).map_err(io_err("fsync", dir))?;
        }
        tracing::debug!(digest = %digest, size = written, "blob committed");
        Ok((digest, written))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("writer already finished")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ContentStore::open(d.path().join("content")).unwrap();
        (d, s)
    }

    fn ingest_count(s: &ContentStore) -> usize {
        fs::read_dir(s.ingest_dir()).unwrap().count()
    }

    #[test]
    fn put_then_read_round_trips() {
        let (_d, s) = store();
        let dg = s.put(b"hello", None).unwrap();
        assert_eq!(dg, Digest::of(b"hello"));
        assert_eq!(s.read(&dg).unwrap(), b"hello");
        assert_eq!(s.size(&dg).unwrap(), 5);
        assert_eq!(s.list().unwrap(), vec![dg]);
        assert_eq!(ingest_count(&s), 0);
    }

    #[test]
    fn commit_rejects_digest_mismatch_and_leaves_nothing() {
        let (_d, s) = store();
        let wrong = Digest::of(b"other");
        let err = s.put(b"hello", Some(&wrong)).unwrap_err();
        assert!(matches!(err, ContentError::DigestMismatch { .. }));
        assert!(!s.contains(&wrong));
        assert!(!s.contains(&Digest::of(b"hello")));
        assert_eq!(ingest_count(&s), 0);
    }

    #[test]
    fn commit_rejects_size_mismatch() {
        let (_d, s) = store();
        let mut w = s.writer().unwrap();
        w.write_all(b"abc").unwrap();
        assert!(matches!(w.commit(None, Some(4)), Err(ContentError::SizeMismatch { .. })));
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn dropped_writer_leaves_no_trace() {
        let (_d, s) = store();
        let mut w = s.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(ingest_count(&s), 0);
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn open_removes_orphaned_ingest_files() {
        let (d, s) = store();
        fs::write(s.ingest_dir().join("crashed"), b"torn").unwrap();
        let s2 = ContentStore::open(d.path().join("content")).unwrap();
        assert_eq!(ingest_count(&s2), 0);
    }

    #[test]
    fn missing_blob_is_not_found() {
        let (_d, s) = store();
        let dg = Digest::of(b"nope");
        assert!(matches!(s.open_blob(&dg), Err(ContentError::NotFound(_))));
        assert_eq!(ContentError::NotFound(dg).kind(), ErrorKind::NotFound);
    }

    #[test]
    fn duplicate_put_is_idempotent() {
        let (_d, s) = store();
        let a = s.put(b"same", None).unwrap();
        let b = s.put(b"same", None).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.list().unwrap().len(), 1);
        assert_eq!(ingest_count(&s), 0);
    }
}
