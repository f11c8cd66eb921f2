//! The build cache: which layer a step produced, keyed by everything that determines it.
//!
//! A key is a sha256 over the parent step's key (rooted at the base image id), the instruction after
//! substitution, the build args in scope, and for `COPY`/`ADD` the digest of the exact layer content
//! the sources produce. A hit reuses the layer (still in the content store) without running the step.
//!
//! On-disk layout (root = [`crate::BuildOptions::cache_dir`]):
//! ```text
//! <cache_dir>/
//!   index.json        {"version": 1, "entries": {<key hex>: {"diff_id", "size", "last_used"}}}
//!   mounts/<id>/      RUN --mount=type=cache directories, kept between builds
//!   tmp/              scratch files of running builds (layer tars being written, view mountpoints)
//! ```
//! `index.json` is replaced atomically (house rule 11), so a crash keeps either the old or new index.

use crate::BuildError;
use berth_types::persist::atomic_write_json;
use berth_types::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FORMAT_VERSION: u32 = 1;

/// One cached step result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The layer the step produced.
    pub diff_id: Digest,
    /// Its size as the image store records it.
    pub size: u64,
    /// Unix seconds of the last build that used it.
    pub last_used: i64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    entries: BTreeMap<String, CacheEntry>,
    /// Image config content (all but its times) → the image built with it, so a rebuild that comes
    /// wholly from the cache answers the same image id, as Docker's classic builder does.
    #[serde(default)]
    images: BTreeMap<String, Digest>,
}

/// The persisted step cache of one cache directory.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    index: Index,
}

impl Cache {
    /// Opens (or starts) the cache under `dir`. A corrupt or newer-format index is started afresh:
    /// the cache only ever saves time, so losing it is safe.
    pub fn open(dir: &Path) -> Result<Cache, BuildError> {
        std::fs::create_dir_all(dir).map_err(BuildError::io("create", dir))?;
        let path = dir.join("index.json");
        let index = read_index(&path)?;
        Ok(Cache { path, index })
    }

    /// The entry for `key`, if any.
    pub fn get(&self, key: &Digest) -> Option<&CacheEntry> {
        self.index.entries.get(key.hex())
    }

    /// Records (and persists) the result of a step.
    pub fn put(&mut self, key: &Digest, diff_id: Digest, size: u64) -> Result<(), BuildError> {
        let entry = CacheEntry { diff_id, size, last_used: chrono::Utc::now().timestamp() };
        self.update(|i| {
            i.entries.insert(key.hex().to_string(), entry.clone());
        })
    }

    /// The image earlier built with this content key.
    pub fn image(&self, key: &Digest) -> Option<&Digest> {
        self.index.images.get(key.hex())
    }

    /// Records (and persists) the image built with this content key.
    pub fn put_image(&mut self, key: &Digest, id: Digest) -> Result<(), BuildError> {
        self.update(|i| {
            i.images.insert(key.hex().to_string(), id.clone());
        })
    }

    /// Applies `change` to the index on disk (merged with what other builds wrote since this one
    /// read it: builds share the cache directory) and to this copy, and persists it atomically.
    fn update(&mut self, change: impl Fn(&mut Index)) -> Result<(), BuildError> {
        static WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = WRITER.lock().unwrap_or_else(|e| e.into_inner());
        let mut disk = read_index(&self.path)?;
        change(&mut disk);
        change(&mut self.index);
        atomic_write_json(&self.path, &disk).map_err(BuildError::io("write", &self.path))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.index.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.index.entries.is_empty()
    }
}

/// Reads an index; a missing, corrupt or newer-format one reads as empty.
fn read_index(path: &Path) -> Result<Index, BuildError> {
    Ok(match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<Index>(&bytes) {
            Ok(i) if i.version == FORMAT_VERSION => i,
            _ => {
                tracing::warn!(path = %path.display(), "build cache index unreadable; starting empty");
                Index { version: FORMAT_VERSION, ..Default::default() }
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index { version: FORMAT_VERSION, ..Default::default() },
        Err(e) => return Err(BuildError::io("read", path)(e)),
    })
}

/// What [`prune_cache`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Cache index entries dropped.
    pub entries: usize,
    /// Bytes of `RUN --mount=type=cache` directories deleted.
    pub mount_bytes: u64,
}

/// `berth builder prune`: forgets every cached step and deletes the `RUN --mount=type=cache` directories.
/// Layers stay in the content store while images use them; the image store's GC owns them.
pub fn prune_cache(cache_dir: &Path) -> Result<PruneReport, BuildError> {
    let mut cache = Cache::open(cache_dir)?;
    let entries = cache.index.entries.len();
    cache.index.entries.clear();
    cache.index.images.clear();
    atomic_write_json(&cache.path, &cache.index).map_err(BuildError::io("write", &cache.path))?;
    let mounts = cache_dir.join("mounts");
    let mount_bytes = du(&mounts);
    match berth_types::teardown::remove_tree(&mounts) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BuildError::io("remove", &mounts)(e)),
    }
    Ok(PruneReport { entries, mount_bytes })
}

fn du(p: &Path) -> u64 {
    let Ok(md) = std::fs::symlink_metadata(p) else { return 0 };
    if !md.is_dir() {
        return md.len();
    }
    std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| du(&e.path())).sum()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_and_prune_clears_them() {
        let d = tempfile::tempdir().unwrap();
        let key = Digest::of(b"k");
        let mut c = Cache::open(d.path()).unwrap();
        c.put(&key, Digest::of(b"layer"), 7).unwrap();
        let c = Cache::open(d.path()).unwrap();
        assert_eq!(c.get(&key).unwrap().size, 7);
        std::fs::create_dir_all(d.path().join("mounts/x")).unwrap();
        std::fs::write(d.path().join("mounts/x/f"), b"12345").unwrap();
        let r = prune_cache(d.path()).unwrap();
        assert_eq!(r, PruneReport { entries: 1, mount_bytes: 5 });
        assert!(Cache::open(d.path()).unwrap().is_empty());
    }
}
