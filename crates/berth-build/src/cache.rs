//! The build cache: which layer a step produced, keyed by everything that determines it.
//!
//! A key is a sha256 over the parent step's key (rooted at the base image id), the instruction after
//! substitution, the build args in scope, and for `COPY`/`ADD` the digest of the exact layer content
//! the sources produce. A hit reuses the layer (still in the content store) without running the step.
//!
//! On-disk layout (root = [`crate::BuildOptions::cache_dir`]):
//! ```text
//! <cache_dir>/
//!   index.json        {"version": 1, "entries": {<key hex>: {"diff_id", "size", "last_used", "created",
//!                      "usage_count", "parent", "chain", "description", "labels"}},
//!                      "mounts": {<dir>: {"id", "created", "last_used", "usage_count"}}, "images": {…}}
//!   mounts/<dir>/     RUN --mount=type=cache directories (dir = sha256 of the mount id), kept between builds
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

/// One cached step result. It keeps its layer blob and its snapshot (`chain`) alive: both are
/// roots for the daemon's garbage collector until the entry is pruned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The layer the step produced.
    pub diff_id: Digest,
    /// Its size as the image store records it.
    pub size: u64,
    /// Unix seconds of the last build that used it.
    pub last_used: i64,
    /// Unix seconds of the build that made it.
    #[serde(default)]
    pub created: i64,
    /// Builds that used it, the one that made it included.
    #[serde(default)]
    pub usage_count: u64,
    /// The key (hex) of the step before, if that one was a cached layer step.
    #[serde(default)]
    pub parent: Option<String>,
    /// The committed snapshot (chain id) holding the step's result unpacked.
    #[serde(default)]
    pub chain: Option<String>,
    /// The instruction, as `docker buildx du` describes a record (`RUN apk add …`).
    #[serde(default)]
    pub description: String,
    /// The `--label`s of the build that made it (matched by `builder prune --filter label=`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A `RUN --mount=type=cache` directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntry {
    /// The mount's `id=` (its target when none was given).
    pub id: String,
    /// Unix seconds of the build that made it.
    pub created: i64,
    /// Unix seconds of the last build that used it.
    pub last_used: i64,
    /// Steps that used it.
    pub usage_count: u64,
}

/// Everything the cache holds (for `system df` and `builder prune`).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Step results by key (hex).
    pub entries: BTreeMap<String, CacheEntry>,
    /// Cache mounts by directory name, with the bytes each takes on disk.
    pub mounts: BTreeMap<String, (MountEntry, u64)>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    entries: BTreeMap<String, CacheEntry>,
    /// Image config content (all but its times) → the image built with it, so a rebuild that comes
    /// wholly from the cache answers the same image id, as Docker's classic builder does.
    #[serde(default)]
    images: BTreeMap<String, Digest>,
    #[serde(default)]
    mounts: BTreeMap<String, MountEntry>,
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

    /// Records (and persists) the result of a step; `created`, `last_used` and `usage_count` are
    /// set here.
    pub fn put(&mut self, key: &Digest, mut entry: CacheEntry) -> Result<(), BuildError> {
        let now = chrono::Utc::now().timestamp();
        entry.created = now;
        entry.last_used = now;
        entry.usage_count = 1;
        self.update(|i| {
            i.entries.insert(key.hex().to_string(), entry.clone());
        })
    }

    /// Records (and persists) that a build used the entry `key`.
    pub fn used(&mut self, key: &Digest) -> Result<(), BuildError> {
        let now = chrono::Utc::now().timestamp();
        self.update(|i| {
            if let Some(e) = i.entries.get_mut(key.hex()) {
                e.last_used = now;
                e.usage_count += 1;
            }
        })
    }

    /// Records (and persists) that a step used the cache mount `id`, stored in directory `dir`.
    pub fn used_mount(&mut self, dir: &str, id: &str) -> Result<(), BuildError> {
        let now = chrono::Utc::now().timestamp();
        self.update(|i| {
            let m = i.mounts.entry(dir.to_string()).or_insert_with(|| MountEntry { id: id.to_string(), created: now, ..Default::default() });
            m.last_used = now;
            m.usage_count += 1;
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

/// Serialises read-modify-write cycles of index files (builds and prunes share them).
static WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

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

/// Everything in the cache under `cache_dir`: step entries and cache mounts (with their sizes).
/// Cache mount directories the index does not know (made before it recorded them) are listed too.
pub fn list(cache_dir: &Path) -> Result<Listing, BuildError> {
    let index = read_index(&cache_dir.join("index.json"))?;
    let mut mounts = BTreeMap::new();
    let dir = cache_dir.join("mounts");
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = index.mounts.get(&name).cloned().unwrap_or_else(|| {
                let t = e.metadata().ok().and_then(|m| m.modified().ok()).map(|t| chrono::DateTime::<chrono::Utc>::from(t).timestamp()).unwrap_or(0);
                MountEntry { id: name.clone(), created: t, last_used: t, usage_count: 0 }
            });
            mounts.insert(name, (meta, berth_types::teardown::allocated_bytes(&e.path())));
        }
    }
    Ok(Listing { entries: index.entries, mounts })
}

/// Forgets the step entries `keys` and deletes the cache mounts `mounts` (directory names).
/// Returns the bytes the deleted mount directories took. Layers and snapshots the entries held are
/// left to the daemon's garbage collector (an image may still use them).
pub fn remove(cache_dir: &Path, keys: &[String], mounts: &[String]) -> Result<u64, BuildError> {
    {
        let _guard = WRITER.lock().unwrap_or_else(|e| e.into_inner());
        let path = cache_dir.join("index.json");
        let mut index = read_index(&path)?;
        for k in keys {
            index.entries.remove(k);
        }
        for m in mounts {
            index.mounts.remove(m);
        }
        if index.entries.is_empty() {
            // What a fully cached rebuild would answer is no longer known to be cached.
            index.images.clear();
        }
        if path.exists() || !keys.is_empty() || !mounts.is_empty() {
            atomic_write_json(&path, &index).map_err(BuildError::io("write", &path))?;
        }
    }
    let mut bytes = 0;
    for m in mounts {
        let p = cache_dir.join("mounts").join(m);
        bytes += berth_types::teardown::allocated_bytes(&p);
        match berth_types::teardown::remove_tree(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(BuildError::io("remove", &p)(e)),
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_and_remove_clears_them() {
        let d = tempfile::tempdir().unwrap();
        let key = Digest::of(b"k");
        let mut c = Cache::open(d.path()).unwrap();
        let entry = CacheEntry { diff_id: Digest::of(b"layer"), size: 7, last_used: 0, created: 0, usage_count: 0, parent: None, chain: Some("c".into()), description: "RUN x".into(), labels: BTreeMap::new() };
        c.put(&key, entry).unwrap();
        c.used(&key).unwrap();
        let c = Cache::open(d.path()).unwrap();
        let e = c.get(&key).unwrap();
        assert_eq!((e.size, e.usage_count, e.chain.as_deref()), (7, 2, Some("c")));
        let mut c = c;
        std::fs::create_dir_all(d.path().join("mounts/x")).unwrap();
        std::fs::write(d.path().join("mounts/x/f"), vec![1u8; 5000]).unwrap();
        c.used_mount("x", "/root/.cache").unwrap();
        let l = list(d.path()).unwrap();
        assert_eq!(l.entries.len(), 1);
        let (m, bytes) = &l.mounts["x"];
        assert_eq!((m.id.as_str(), m.usage_count), ("/root/.cache", 1));
        assert!(*bytes >= 5000, "{bytes}");
        let freed = remove(d.path(), &[key.hex().to_string()], &["x".to_string()]).unwrap();
        assert!(freed >= 5000);
        assert!(Cache::open(d.path()).unwrap().is_empty());
        assert!(list(d.path()).unwrap().mounts.is_empty());
    }
}
