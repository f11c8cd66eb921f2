//! The filesystem driver: one file per path under a root directory.

use super::{check_path, ByteReader, ByteWriter, FileInfo, StorageDriver};
use crate::errors::StorageError;
use bytes::Bytes;
use std::io;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncSeekExt, AsyncWrite};

/// Stores each path as a file below `root`; see the module doc of `storage` for the layout.
#[derive(Debug, Clone)]
pub struct FsDriver {
    root: PathBuf,
}

impl FsDriver {
    /// A driver rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> FsDriver {
        FsDriver { root: root.into() }
    }

    /// Removes directory `path` and then its parents, up to `levels` directories in all, each only
    /// if it is empty: what GC calls after removing a blob, so `blobs/<alg>/<hh>/` directories do not
    /// pile up. A writer that creates a file in one of them meanwhile retries once its directory is
    /// gone (see [`retry_if_dir_vanished`]).
    pub async fn prune_empty_dirs(&self, path: &str, levels: usize) -> Result<(), StorageError> {
        let mut p = self.full(path, false)?;
        let root = self.root.clone();
        blocking("prune", path, move || {
            for _ in 0..levels {
                if p == root {
                    break;
                }
                match std::fs::remove_dir(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    // Not empty (or anything else): the directory stays, and so do its parents.
                    Err(_) => break,
                }
                if !p.pop() {
                    break;
                }
            }
            Ok(())
        })
        .await
    }

    fn full(&self, path: &str, allow_root: bool) -> Result<PathBuf, StorageError> {
        check_path(path, allow_root)?;
        Ok(if path.is_empty() { self.root.clone() } else { self.root.join(path) })
    }
}

fn map_err<'a>(op: &'static str, path: &'a str) -> impl FnOnce(io::Error) -> StorageError + 'a {
    move |source| {
        if source.kind() == io::ErrorKind::NotFound {
            StorageError::NotFound { path: path.to_string() }
        } else {
            StorageError::Io { op, path: path.to_string(), source }
        }
    }
}

/// Runs `op` (which creates its parent directories, then a file in them) again when it failed with
/// `NotFound` because GC pruned a directory between the two steps; a few tries settle it, since GC
/// removes only empty directories.
fn retry_if_dir_vanished<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut tries = 0;
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 => tries += 1,
            r => return r,
        }
    }
}

async fn blocking<T: Send + 'static>(
    op: &'static str,
    path: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(map_err(op, path)),
        Err(e) => Err(StorageError::Io { op, path: path.to_string(), source: io::Error::other(e) }),
    }
}

impl StorageDriver for FsDriver {
    async fn get_content(&self, path: &str) -> Result<Bytes, StorageError> {
        let p = self.full(path, false)?;
        let v = tokio::fs::read(&p).await.map_err(map_err("read", path))?;
        Ok(Bytes::from(v))
    }

    async fn put_content(&self, path: &str, content: Bytes) -> Result<(), StorageError> {
        let p = self.full(path, false)?;
        blocking("write", path, move || retry_if_dir_vanished(|| berth_types::persist::atomic_write(&p, &content))).await
    }

    async fn reader(&self, path: &str, offset: u64) -> Result<ByteReader, StorageError> {
        let p = self.full(path, false)?;
        let mut f = tokio::fs::File::open(&p).await.map_err(map_err("open", path))?;
        if offset > 0 {
            f.seek(io::SeekFrom::Start(offset)).await.map_err(map_err("seek", path))?;
        }
        Ok(Box::pin(f))
    }

    async fn writer(&self, path: &str) -> Result<ByteWriter, StorageError> {
        let p = self.full(path, false)?;
        let dir = p.parent().map(PathBuf::from).unwrap_or_default();
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // A dot name: `list` never shows it, and the rename at shutdown makes the whole object appear.
        let tmp = dir.join(format!(".{name}.{}.tmp", &berth_types::random_id()[..12]));
        let t = tmp.clone();
        // One blocking-pool hop for both steps: this runs for every chunk of every upload.
        let f = blocking("open", path, move || {
            retry_if_dir_vanished(|| {
                std::fs::create_dir_all(&dir)?;
                std::fs::OpenOptions::new().create_new(true).write(true).open(&t)
            })
        })
        .await?;
        // Large buffer: hyper hands us small frames and each tokio file write is a blocking-pool hop.
        let file = tokio::io::BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(f));
        Ok(Box::pin(AtomicWriter { file, tmp: Some(tmp), dest: p, rename: None }))
    }

    async fn stat(&self, path: &str) -> Result<FileInfo, StorageError> {
        let p = self.full(path, true)?;
        let m = tokio::fs::metadata(&p).await.map_err(map_err("stat", path))?;
        let modified = m.modified().map_err(map_err("stat", path))?;
        Ok(FileInfo { size: if m.is_dir() { 0 } else { m.len() }, modified, is_dir: m.is_dir() })
    }

    async fn list(&self, path: &str) -> Result<Vec<String>, StorageError> {
        let p = self.full(path, true)?;
        blocking("list", path, move || {
            let mut names = Vec::new();
            for e in std::fs::read_dir(&p)? {
                let name = e?.file_name();
                if let Some(n) = name.to_str() {
                    // Temp files of atomic writes start with '.', and no stored name does.
                    if !n.starts_with('.') {
                        names.push(n.to_string());
                    }
                }
            }
            names.sort();
            Ok(names)
        })
        .await
    }

    async fn move_to(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let src = self.full(from, false)?;
        let dst = self.full(to, false)?;
        blocking("rename", from, move || {
            std::fs::File::open(&src)?.sync_all()?;
            let dir = dst.parent().map(PathBuf::from).unwrap_or_default();
            // New parents (a repository's first tag, a blob's first link) must survive a host crash
            // as much as the rename into them. `src` exists (opened above), so a NotFound is `dir`
            // pruned by GC in between.
            retry_if_dir_vanished(|| {
                berth_types::persist::create_dir_all_synced(&dir)?;
                std::fs::rename(&src, &dst)
            })?;
            berth_types::persist::sync_dir(&dir)
        })
        .await
    }

    async fn delete(&self, path: &str) -> Result<(), StorageError> {
        let p = self.full(path, false)?;
        blocking("delete", path, move || {
            let m = std::fs::symlink_metadata(&p)?;
            if m.is_dir() {
                berth_types::teardown::remove_tree(&p)
            } else {
                std::fs::remove_file(&p)
            }
        })
        .await
    }
}

/// Writes a temp file beside the destination and renames it over the destination at shutdown; a
/// writer dropped before that removes its temp file.
struct AtomicWriter {
    file: tokio::io::BufWriter<tokio::fs::File>,
    tmp: Option<PathBuf>,
    dest: PathBuf,
    rename: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

impl AsyncWrite for AtomicWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.file).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.rename.is_none() {
            ready!(Pin::new(&mut self.file).poll_shutdown(cx))?;
            let Some(tmp) = self.tmp.clone() else { return Poll::Ready(Ok(())) };
            let dest = self.dest.clone();
            self.rename = Some(tokio::task::spawn_blocking(move || std::fs::rename(&tmp, &dest)));
        }
        let r = ready!(Pin::new(self.rename.as_mut().expect("set above")).poll(cx));
        self.rename = None;
        self.tmp = None;
        Poll::Ready(r.unwrap_or_else(|e| Err(io::Error::other(e))))
    }
}

impl Drop for AtomicWriter {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            // Off the async worker when there is a runtime to hand it to.
            match tokio::runtime::Handle::try_current() {
                Ok(h) => drop(h.spawn_blocking(move || std::fs::remove_file(tmp))),
                Err(_) => drop(std::fs::remove_file(tmp)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fs_driver_passes_the_shared_suite() {
        let dir = tempfile::tempdir().unwrap();
        crate::storage::suite::run(FsDriver::new(dir.path())).await;
    }

    #[tokio::test]
    async fn fs_driver_rejects_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        let d = FsDriver::new(dir.path());
        assert!(matches!(d.get_content("../etc/passwd").await, Err(StorageError::InvalidPath { .. })));
        assert!(matches!(d.put_content("/abs", Bytes::new()).await, Err(StorageError::InvalidPath { .. })));
    }
}
