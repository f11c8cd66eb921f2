//! The content-addressed blob store.
//!
//! Every blob lives under the digest of its bytes (sha256, or sha512 for content pulled or pushed under
//! sha512 digests). Writers hash while they write into a private
//! ingest file; [`BlobWriter::commit`] verifies the digest (and size, when known), fsyncs and renames
//! the file into place, so no reader can ever see a blob under a wrong or partial name, and a crash
//! leaves at most an orphaned ingest file that the next [`ContentStore::open`] removes.
//!
//! On-disk layout (root is injected, e.g. `<data-root>/content`):
//! ```text
//! <root>/
//!   blobs/sha256/<hex>     committed blobs, read-only (0444)
//!   blobs/sha512/<hex>     the same for sha512 content (created at its first blob)
//!   ingest/<random>        blobs being written; removed on drop, on failure and at open
//! ```
//!
//! Garbage collection: the store does not know what references a blob; the daemon's collector
//! does. What the store keeps is *when each blob was last used* in this process (committed,
//! found by [`ContentStore::contains`], opened, read). [`ContentStore::collect`] deletes a blob only
//! if it was not used since the collector's horizon (the start of the oldest operation in flight),
//! checked under the same lock the uses take, so an operation that found a blob can count on it
//! until it ends: a pull that saw a layer as "Already exists" never loses it to a concurrent sweep.

use berth_types::error::{ErrorKind, HasKind};
use berth_types::{Algorithm, Digest, DigestWriter};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

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

/// A blob store rooted at one directory. Clones share the record of uses.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
    /// When each blob was last used by this process (see the module doc on garbage collection).
    used: Arc<Mutex<HashMap<Digest, Instant>>>,
}

/// What [`ContentStore::collect`] did with a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collected {
    /// Deleted; the disk space it took (allocated blocks).
    Deleted(u64),
    /// Kept: used since the horizon.
    InUse,
    /// Not stored (already gone).
    Absent,
}

impl ContentStore {
    /// Opens (creating if needed) the store at `root` and removes ingest files left by a crash.
    pub fn open(root: impl Into<PathBuf>) -> Result<ContentStore, ContentError> {
        let root = root.into();
        let store = ContentStore { root, used: Arc::default() };
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

    fn uses(&self) -> MutexGuard<'_, HashMap<Digest, Instant>> {
        // The map is only a record of times; a panicking holder cannot leave it inconsistent.
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that an operation relies on `digest` now (see [`ContentStore::collect`]).
    pub fn touch(&self, digest: &Digest) {
        self.uses().insert(digest.clone(), Instant::now());
    }

    /// Whether the blob is stored. A hit counts as a use: the caller is about to rely on it.
    pub fn contains(&self, digest: &Digest) -> bool {
        let mut used = self.uses();
        let found = self.blob_path(digest).is_file();
        if found {
            used.insert(digest.clone(), Instant::now());
        }
        found
    }

    /// Whether the blob is stored, without counting as a use (for inspection: `system check`).
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Deletes `digest` unless it was used at or after `horizon`. The check and the unlink happen
    /// under the lock every use takes, so a blob an operation found is never swept under it.
    pub fn collect(&self, digest: &Digest, horizon: Instant) -> Result<Collected, ContentError> {
        let mut used = self.uses();
        if used.get(digest).is_some_and(|t| *t >= horizon) {
            return Ok(Collected::InUse);
        }
        let p = self.blob_path(digest);
        let bytes = match fs::symlink_metadata(&p) {
            Ok(m) => m.blocks() * 512,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Collected::Absent),
            Err(e) => return Err(io_err("stat", &p)(e)),
        };
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Collected::Absent),
            Err(e) => return Err(io_err("remove", &p)(e)),
        }
        used.remove(digest);
        Ok(Collected::Deleted(bytes))
    }

    /// Forgets uses older than `horizon`: they can no longer keep anything (called after a sweep).
    pub fn forget_uses_before(&self, horizon: Instant) {
        self.uses().retain(|_, t| *t >= horizon);
    }

    /// The disk space (allocated blocks) a stored blob takes.
    pub fn disk_usage(&self, digest: &Digest) -> Result<u64, ContentError> {
        let p = self.blob_path(digest);
        match fs::symlink_metadata(&p) {
            Ok(m) => Ok(m.blocks() * 512),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::NotFound(digest.clone())),
            Err(e) => Err(io_err("stat", &p)(e)),
        }
    }

    /// Bytes (allocated blocks) of the ingest directory: writes in flight or interrupted.
    pub fn ingest_usage(&self) -> u64 {
        let dir = self.ingest_dir();
        fs::read_dir(&dir)
            .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.blocks() * 512).sum())
            .unwrap_or(0)
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

    /// Opens a stored blob for reading (a use: an open file survives a sweep anyway, but the
    /// caller may open it again).
    pub fn open_blob(&self, digest: &Digest) -> Result<File, ContentError> {
        let p = self.blob_path(digest);
        let mut used = self.uses();
        let f = File::open(&p);
        if f.is_ok() {
            used.insert(digest.clone(), Instant::now());
        }
        f.map_err(|e| {
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
        let mut w = self.writer_with(expected.map_or(Algorithm::Sha256, Digest::alg))?;
        w.write_all(bytes).map_err(io_err("write", &w.path.clone()))?;
        Ok(w.commit(expected, Some(bytes.len() as u64))?.0)
    }

    /// Starts writing a new blob (hashed sha256).
    pub fn writer(&self) -> Result<BlobWriter, ContentError> {
        self.writer_with(Algorithm::Sha256)
    }

    /// Starts writing a new blob stored under its `alg` digest: a blob pulled by a sha512 digest is
    /// verified and named by that digest.
    pub fn writer_with(&self, alg: Algorithm) -> Result<BlobWriter, ContentError> {
        let path = self.ingest_dir().join(berth_types::random_id());
        let file = fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_err("create", &path))?;
        Ok(BlobWriter { store: self.clone(), path, inner: Some(DigestWriter::with_algorithm(BufWriter::with_capacity(256 * 1024, file), alg)) })
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
        let mut out = Vec::new();
        for alg in Algorithm::ALL {
            let dir = self.root.join("blobs").join(alg.name());
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound && alg != Algorithm::Sha256 => continue,
                Err(e) => return Err(io_err("list", &dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io_err("list", &dir))?;
                if let Some(d) = entry.file_name().to_str().and_then(|n| Digest::from_parts(alg, n).ok()) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

/// A blob being written. Dropping it without [`commit`](BlobWriter::commit) discards the bytes.
pub struct BlobWriter {
    store: ContentStore,
    path: PathBuf,
    inner: Option<DigestWriter<BufWriter<File>>>,
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
        let synced = !target.is_file();
        if synced {
            file.sync_all().map_err(io_err("fsync", &self.path))?;
        }
        drop(file);
        // Held from the check until the blob is in place: a sweep cannot delete a stored copy
        // between the check and the caller's use, and a new blob is recorded as used the moment it
        // becomes visible.
        let mut used = self.store.uses();
        used.insert(digest.clone(), Instant::now());
        if target.is_file() {
            // Same bytes are already stored; the ingest file is removed on drop.
            return Ok((digest, written));
        }
        if !synced {
            // The stored copy was swept between the two checks: this one must be durable now.
            File::open(&self.path).and_then(|f| f.sync_all()).map_err(io_err("fsync", &self.path))?;
        }
        let _ = fs::set_permissions(&self.path, std::os::unix::fs::PermissionsExt::from_mode(0o444));
        if let Some(dir) = target.parent().filter(|d| !d.is_dir()) {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        }
        fs::rename(&self.path, &target).map_err(io_err("commit", &target))?;
        drop(used);
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
    fn collect_spares_blobs_used_since_the_horizon() {
        let (_d, s) = store();
        let old = s.put(b"old", None).unwrap();
        let horizon = Instant::now();
        let fresh = s.put(b"fresh", None).unwrap();
        assert_eq!(s.collect(&fresh, horizon).unwrap(), Collected::InUse);
        assert!(matches!(s.collect(&old, horizon).unwrap(), Collected::Deleted(n) if n > 0));
        assert!(!s.exists(&old));
        assert_eq!(s.collect(&old, horizon).unwrap(), Collected::Absent);
        // A use after the horizon (an operation found the blob) keeps an old blob.
        let again = s.put(b"again", None).unwrap();
        let later = Instant::now();
        assert!(s.contains(&again));
        assert_eq!(s.collect(&again, later).unwrap(), Collected::InUse);
        s.forget_uses_before(Instant::now());
        assert!(matches!(s.collect(&again, Instant::now()).unwrap(), Collected::Deleted(_)));
        assert!(s.exists(&fresh));
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
