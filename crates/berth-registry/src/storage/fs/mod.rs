//! The filesystem driver: one file per path under a root directory.

mod apply;

use super::{check_path, ByteReader, ByteWriter, FileInfo, StorageDriver, Write};
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

    /// The file at `path`, opened for reading (on the blocking pool), or `NotFound`.
    pub async fn open_file(&self, path: &str) -> Result<std::fs::File, StorageError> {
        let p = self.full(path, false)?;
        blocking("open", path, move || std::fs::File::open(&p)).await
    }

    /// The directories below `root` that hold a child named one of `markers`, as `/`-separated paths
    /// relative to `root`, sorted; only children not starting with `_` are descended into (a
    /// repository's own `_manifests`, `_layers`, `_uploads` are not). Repositories nest, so a found
    /// directory is descended into too. One blocking call for the whole walk; an empty list if `root`
    /// does not exist.
    pub async fn find_repositories(&self, root: &str, markers: &[&str]) -> Result<Vec<String>, StorageError> {
        let top = self.full(root, false)?;
        let markers: Vec<String> = markers.iter().map(|m| m.to_string()).collect();
        blocking("list", root, move || {
            let mut found = Vec::new();
            let mut stack = vec![(top, String::new())];
            while let Some((dir, name)) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    // Removed meanwhile (GC prunes empty directories), or the root not made yet.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                let mut marked = false;
                for e in entries {
                    let e = e?;
                    let Some(child) = e.file_name().to_str().map(str::to_string) else { continue };
                    marked |= markers.contains(&child);
                    // Temp files of atomic writes start with '.', and no stored name does.
                    if child.starts_with('_') || child.starts_with('.') || !e.file_type()?.is_dir() {
                        continue;
                    }
                    let path = if name.is_empty() { child } else { format!("{name}/{child}") };
                    stack.push((e.path(), path));
                }
                if marked && !name.is_empty() {
                    found.push(name);
                }
            }
            found.sort();
            Ok(found)
        })
        .await
    }

    fn full(&self, path: &str, allow_root: bool) -> Result<PathBuf, StorageError> {
        check_path(path, allow_root)?;
        Ok(if path.is_empty() { self.root.clone() } else { self.root.join(path) })
    }

    /// A path under the root as the store names it, for errors.
    fn relative(&self, p: &std::path::Path) -> String {
        p.strip_prefix(&self.root).unwrap_or(p).to_string_lossy().into_owned()
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

/// Creates `dir` for content that need not survive a host crash (upload state, a writer's object
/// until its owner commits it elsewhere): `dir` itself without fsync, but its missing parents durably,
/// since durable writes may go into them later (a repository's directory made by its first upload).
fn create_scratch_dir(dir: &std::path::Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        berth_types::persist::create_dir_all_synced(parent)?;
    }
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

async fn blocking<T: Send + 'static>(
    op: &'static str,
    path: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, StorageError> {
    match berth_types::sched::spawn_blocking(f).await {
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
                create_scratch_dir(&dir)?;
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
                // Temp files of atomic writes start with '.', and no stored name does.
                if let Ok(n) = e?.file_name().into_string() {
                    if !n.starts_with('.') {
                        names.push(n);
                    }
                }
            }
            names.sort_unstable();
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

    async fn put_scratch(&self, path: &str, content: Bytes) -> Result<(), StorageError> {
        let p = self.full(path, false)?;
        blocking("write", path, move || {
            retry_if_dir_vanished(|| {
                let dir = p.parent().map(PathBuf::from).unwrap_or_default();
                create_scratch_dir(&dir)?;
                let (tmp, mut f) = apply::temp_file(&dir, &p)?;
                let r = std::io::Write::write_all(&mut f, &content).and_then(|()| std::fs::rename(&tmp, &p));
                if r.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                r
            })
        })
        .await
    }

    async fn apply(&self, groups: Vec<Vec<Write>>) -> Result<(), StorageError> {
        let mut resolved = Vec::with_capacity(groups.len());
        for g in groups {
            let mut ops = Vec::with_capacity(g.len());
            for w in g {
                ops.push(match w {
                    Write::Put(p, content) => apply::Op::Put(self.full(&p, false)?, content),
                    Write::Move(from, to) => apply::Op::Move(self.full(&from, false)?, self.full(&to, false)?),
                    Write::Mark(p) => apply::Op::Mark(self.full(&p, false)?),
                    Write::Concat(parts, to) => apply::Op::Concat(
                        parts.iter().map(|p| self.full(p, false)).collect::<Result<_, _>>()?,
                        self.full(&to, false)?,
                    ),
                });
            }
            resolved.push(ops);
        }
        let me = self.clone();
        match berth_types::sched::spawn_blocking(move || apply::apply(resolved).map_err(|(p, e)| (me.relative(&p), e))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err((path, source))) => Err(map_err("apply", &path)(source)),
            Err(e) => Err(StorageError::Io { op: "apply", path: String::new(), source: io::Error::other(e) }),
        }
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
            self.rename = Some(berth_types::sched::spawn_blocking(move || std::fs::rename(&tmp, &dest)));
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
                Ok(_) => drop(berth_types::sched::spawn_blocking(move || std::fs::remove_file(tmp))),
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
    async fn repositories_are_found_nested_by_their_markers_in_one_walk() {
        let dir = tempfile::tempdir().unwrap();
        let d = FsDriver::new(dir.path());
        assert!(d.find_repositories("repositories", &["_manifests"]).await.unwrap().is_empty());
        for f in [
            "repositories/a/_manifests/tags/t",
            "repositories/a/b/_layers/sha256/x/link",
            "repositories/c/d/e/_manifests/revisions/sha256/y/link",
            "repositories/up/_uploads/u1/startedat",
            "repositories/plain/notarepo",
            "repositories/a/_manifests/x/_layers/deep",
        ] {
            d.put_content(f, Bytes::from_static(b"x")).await.unwrap();
        }
        let content = d.find_repositories("repositories", &["_manifests", "_layers"]).await.unwrap();
        assert_eq!(content, vec!["a", "a/b", "c/d/e"]);
        let all = d.find_repositories("repositories", &["_manifests", "_layers", "_uploads"]).await.unwrap();
        assert_eq!(all, vec!["a", "a/b", "c/d/e", "up"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_return_every_byte_from_any_offset() {
        use tokio::io::AsyncReadExt;
        let dir = tempfile::tempdir().unwrap();
        let d = FsDriver::new(dir.path());
        const MIB: usize = 1 << 20;
        for len in [0, 3, MIB, 2 * MIB, 2 * MIB + 3] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            d.put_content("r/blob", Bytes::from(data.clone())).await.unwrap();
            for offset in [0, 5, MIB, len] {
                if offset > len {
                    continue;
                }
                let mut got = Vec::new();
                d.reader("r/blob", offset as u64).await.unwrap().read_to_end(&mut got).await.unwrap();
                assert!(got == data[offset..], "length {len} from {offset}: {} bytes read", got.len());
            }
        }
    }

    #[tokio::test]
    async fn a_failed_group_removes_its_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = FsDriver::new(dir.path());
        d.put_content("g/keep", Bytes::from_static(b"k")).await.unwrap();
        let e = d
            .apply(vec![vec![Write::Put("g/link".into(), Bytes::from_static(b"x")), Write::Move("g/missing".into(), "g/data".into())]])
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e}");
        let names: Vec<_> = std::fs::read_dir(dir.path().join("g")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("keep")], "nothing of the failed group may stay");
    }

    #[tokio::test]
    async fn fs_driver_rejects_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        let d = FsDriver::new(dir.path());
        assert!(matches!(d.get_content("../etc/passwd").await, Err(StorageError::InvalidPath { .. })));
        assert!(matches!(d.put_content("/abs", Bytes::new()).await, Err(StorageError::InvalidPath { .. })));
    }
}
