//! What Berth knows about the compressed forms of its layers (dockerd's "v2 metadata service"):
//! for each diff id, the compressed blobs it was pulled as or pushed as, their media type, and the
//! repositories of which registries hold them. Push uses it to skip uploads (`HEAD`), to mount
//! across repositories, and to reuse a gzip blob compressed earlier; pull records the unpacked
//! size so a resumed pull need not re-read a layer it already ingested.
//!
//! On-disk layout (root injected through [`crate::ClientOptions::root`]):
//! ```text
//! <root>/
//!   blob-index.json   {"version": 1, "layers": {<diff id>: {"size": N, "blobs": [
//!                        {"digest", "media_type", "size", "sources": [{"registry", "repository"}]}]}}}
//! ```
//! The file is replaced atomically on every change.

use crate::DistributionError;
use berth_types::persist::atomic_write_json;
use berth_types::Digest;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

const FORMAT_VERSION: u32 = 1;

/// Where a compressed blob is known to live.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Source {
    /// Registry host as references name it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// Repository path inside the registry.
    pub repository: String,
}

/// A compressed form of a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobInfo {
    /// Digest of the compressed bytes.
    pub digest: Digest,
    /// Layer media type.
    pub media_type: String,
    /// Compressed size.
    pub size: u64,
    /// Repositories that hold it.
    #[serde(default)]
    pub sources: Vec<Source>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LayerInfo {
    /// Unpacked file bytes (the store's `LayerRecord::size`), when known.
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    blobs: Vec<BlobInfo>,
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    version: u32,
    layers: BTreeMap<Digest, LayerInfo>,
}

/// The persisted index. All methods take `&self`; the lock is never held across an `.await`.
pub struct BlobIndex {
    path: PathBuf,
    state: Mutex<State>,
}

impl BlobIndex {
    /// Opens (creating on first write) the index under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<BlobIndex, DistributionError> {
        let path = root.into().join("blob-index.json");
        let state = match std::fs::read(&path) {
            Ok(b) => {
                serde_json::from_slice::<State>(&b).map_err(|e| DistributionError::BadDocument {
                    what: "blob index",
                    reason: e.to_string(),
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State {
                version: FORMAT_VERSION,
                ..State::default()
            },
            Err(source) => {
                return Err(DistributionError::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        Ok(BlobIndex {
            path,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut State) -> bool) -> Result<(), DistributionError> {
        let mut st = self.lock();
        if !f(&mut st) {
            return Ok(());
        }
        st.version = FORMAT_VERSION;
        atomic_write_json(&self.path, &*st).map_err(|source| DistributionError::Io {
            op: "write",
            path: self.path.clone(),
            source,
        })
    }

    /// The compressed blobs known for `diff_id`.
    pub fn blobs(&self, diff_id: &Digest) -> Vec<BlobInfo> {
        self.lock()
            .layers
            .get(diff_id)
            .map(|l| l.blobs.clone())
            .unwrap_or_default()
    }

    /// The size recorded for the compressed blob `digest` (under whichever layer lists it).
    pub fn compressed_size(&self, digest: &Digest) -> Option<u64> {
        self.lock().layers.values().flat_map(|l| &l.blobs).find(|b| b.digest == *digest).map(|b| b.size)
    }

    /// The unpacked size recorded for `diff_id`.
    pub fn layer_size(&self, diff_id: &Digest) -> Option<u64> {
        self.lock().layers.get(diff_id).and_then(|l| l.size)
    }

    /// Records that `diff_id` is available compressed as `blob`, optionally held by `source`, and
    /// (when given) its unpacked size.
    pub fn record(
        &self,
        diff_id: &Digest,
        blob: BlobInfo,
        source: Option<Source>,
        size: Option<u64>,
    ) -> Result<(), DistributionError> {
        self.update(|st| {
            let layer = st.layers.entry(diff_id.clone()).or_default();
            let mut changed = false;
            if size.is_some() && layer.size != size {
                layer.size = size;
                changed = true;
            }
            let entry = match layer.blobs.iter_mut().position(|b| b.digest == blob.digest) {
                Some(i) => &mut layer.blobs[i],
                None => {
                    changed = true;
                    layer.blobs.push(BlobInfo {
                        sources: Vec::new(),
                        ..blob
                    });
                    layer.blobs.last_mut().expect("just pushed")
                }
            };
            if let Some(s) = source {
                if !entry.sources.contains(&s) {
                    entry.sources.push(s);
                    entry.sources.sort();
                    changed = true;
                }
            }
            changed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_persist_and_merge_sources() {
        let dir = tempfile::tempdir().unwrap();
        let diff = Digest::of(b"tar");
        let blob = BlobInfo {
            digest: Digest::of(b"gz"),
            media_type: "gz".into(),
            size: 2,
            sources: vec![],
        };
        let src = |r: &str| Source {
            registry: "h:1".into(),
            repository: r.into(),
        };
        {
            let idx = BlobIndex::open(dir.path()).unwrap();
            idx.record(&diff, blob.clone(), Some(src("a")), Some(3))
                .unwrap();
            idx.record(&diff, blob.clone(), Some(src("b")), None)
                .unwrap();
            idx.record(&diff, blob.clone(), Some(src("a")), None)
                .unwrap();
        }
        let idx = BlobIndex::open(dir.path()).unwrap();
        let got = idx.blobs(&diff);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].sources, vec![src("a"), src("b")]);
        assert_eq!(idx.layer_size(&diff), Some(3));
    }
}
