//! The image store: which images exist, which references point at them, and their layers.
//!
//! On-disk layout (root injected, e.g. `<data-root>/image`):
//! ```text
//! <root>/
//!   images.json      {"version": 1, "images": {<id>: record}, "refs": {<full reference>: <id>}}
//! ```
//! Config and layer bytes live in the content store; `images.json` is replaced atomically on every
//! change while the store's lock is held, so readers never see a half-applied change.

use crate::config::ImageConfig;
use crate::ImageError;
use berth_content::ContentStore;
use berth_types::persist::atomic_write_json;
use berth_types::{Digest, Reference};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

const FORMAT_VERSION: u32 = 1;

/// One layer of an image as the store records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the uncompressed layer tar; its blob name in the content store.
    pub diff_id: Digest,
    /// Bytes of file content in the layer.
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    layers: Vec<LayerRecord>,
    #[serde(default)]
    parent: Option<Digest>,
    #[serde(default)]
    last_tag_time: Option<String>,
    #[serde(skip)]
    config: Arc<ImageConfig>,
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    version: u32,
    images: BTreeMap<Digest, Record>,
    refs: BTreeMap<String, Digest>,
}

/// A read-only view of one image.
#[derive(Debug, Clone)]
pub struct Image {
    /// The image id: the digest of its config.
    pub id: Digest,
    /// The parsed config.
    pub config: Arc<ImageConfig>,
    /// Layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// The image this one was built on, if known locally.
    pub parent: Option<Digest>,
    /// `name:tag` references, sorted.
    pub tags: Vec<Reference>,
    /// `name@sha256:…` references, sorted.
    pub digests: Vec<Reference>,
    /// When a reference last moved to this image.
    pub last_tag_time: Option<String>,
}

impl Image {
    /// Total bytes of the image's layers.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// The store. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct ImageStore {
    path: PathBuf,
    content: ContentStore,
    state: Mutex<State>,
}

impl ImageStore {
    /// Opens (creating if needed) the store whose metadata lives under `root`.
    pub fn open(root: impl Into<PathBuf>, content: ContentStore) -> Result<ImageStore, ImageError> {
        let root = root.into();
        std::fs::create_dir_all(&root).map_err(|source| ImageError::Io { op: "create", path: root.clone(), source })?;
        let path = root.join("images.json");
        let mut state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<State>(&bytes)
                .map_err(|source| ImageError::BadManifest { what: path.display().to_string(), source })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State { version: FORMAT_VERSION, ..Default::default() },
            Err(source) => return Err(ImageError::Io { op: "read", path, source }),
        };
        if state.version > FORMAT_VERSION {
            return Err(ImageError::Io {
                op: "read",
                path,
                source: std::io::Error::other(format!("image store format {} is newer than this berth understands ({FORMAT_VERSION})", state.version)),
            });
        }
        // A record whose config blob is gone or unreadable cannot be served; keep the daemon up and
        // say so, rather than refusing to start over one damaged image.
        state.images.retain(|id, rec| match content.read(id).map_err(ImageError::from).and_then(|b| ImageConfig::parse(&b)) {
            Ok(c) => {
                rec.config = Arc::new(c);
                true
            }
            Err(e) => {
                tracing::error!(image.id = %id, error = %e, "image config unreadable; image skipped");
                false
            }
        });
        Ok(ImageStore { path, content, state: Mutex::new(state) })
    }

    /// The content store holding this store's blobs.
    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a torn file (writes are atomic), so the
        // in-memory state is still the last persisted one: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn persist(&self, state: &State) -> Result<(), ImageError> {
        atomic_write_json(&self.path, state).map_err(|source| ImageError::Io { op: "write", path: self.path.clone(), source })
    }

    fn view(state: &State, id: &Digest) -> Option<Image> {
        let rec = state.images.get(id)?;
        let mut tags = Vec::new();
        let mut digests = Vec::new();
        for (r, target) in &state.refs {
            if target == id {
                if let Ok(parsed) = Reference::parse(r) {
                    if parsed.digest().is_some() {
                        digests.push(parsed);
                    } else {
                        tags.push(parsed);
                    }
                }
            }
        }
        Some(Image {
            id: id.clone(),
            config: rec.config.clone(),
            layers: rec.layers.clone(),
            parent: rec.parent.clone(),
            tags,
            digests,
            last_tag_time: rec.last_tag_time.clone(),
        })
    }

    /// Every image.
    pub fn list(&self) -> Vec<Image> {
        let st = self.lock();
        st.images.keys().filter_map(|id| Self::view(&st, id)).collect()
    }

    /// The image with exactly this id.
    pub fn by_id(&self, id: &Digest) -> Option<Image> {
        Self::view(&self.lock(), id)
    }

    /// Finds an image the way Docker does: full id, then reference (`name`, `name:tag`,
    /// `name@digest`), then unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Image, ImageError> {
        let st = self.lock();
        let not_found = || ImageError::NotFound(name_or_id.to_string());
        if let Ok(d) = name_or_id.parse::<Digest>() {
            return Self::view(&st, &d).ok_or_else(not_found);
        }
        if let Ok(r) = Reference::parse_tagged(name_or_id) {
            if let Some(id) = st.refs.get(&r.to_string()) {
                return Self::view(&st, id).ok_or_else(not_found);
            }
            if let Some(d) = r.digest() {
                // `name@sha256:<id>` also names an image by its id when that image has this name.
                if let Some(img) = Self::view(&st, d) {
                    if img.tags.iter().chain(&img.digests).any(|t| t.name() == r.name()) {
                        return Ok(img);
                    }
                }
            }
        }
        let prefix = name_or_id.strip_prefix("sha256:").unwrap_or(name_or_id);
        if !prefix.is_empty() && prefix.len() <= 64 && prefix.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
            let mut hits = st.images.keys().filter(|id| id.hex().starts_with(prefix));
            if let Some(first) = hits.next() {
                if hits.next().is_some() {
                    return Err(ImageError::Ambiguous(prefix.to_string()));
                }
                return Self::view(&st, first).ok_or_else(not_found);
            }
        }
        Err(ImageError::NotFound(
            Reference::parse_tagged(name_or_id).map(|r| r.familiar()).unwrap_or_else(|_| name_or_id.to_string()),
        ))
    }

    /// Records an image whose layers are already in the content store; stores `config_bytes`.
    /// Returns the image id and whether the image is new.
    pub fn register(
        &self,
        config_bytes: &[u8],
        layers: Vec<LayerRecord>,
        parent: Option<Digest>,
    ) -> Result<(Digest, bool), ImageError> {
        let config = ImageConfig::parse(config_bytes)?;
        if config.rootfs.diff_ids.len() != layers.len() {
            return Err(ImageError::LayerCount { config: config.rootfs.diff_ids.len(), manifest: layers.len() });
        }
        for (want, got) in config.rootfs.diff_ids.iter().zip(&layers) {
            if *want != got.diff_id {
                return Err(ImageError::LayerMismatch { expected: want.clone(), actual: got.diff_id.clone() });
            }
            if !self.content.contains(&got.diff_id) {
                return Err(ImageError::MissingBlob(got.diff_id.to_string()));
            }
        }
        let id = self.content.put(config_bytes, None)?;
        let mut st = self.lock();
        if st.images.contains_key(&id) {
            return Ok((id, false));
        }
        st.images.insert(id.clone(), Record { layers, parent, last_tag_time: None, config: Arc::new(config) });
        if let Err(e) = self.persist(&st) {
            st.images.remove(&id);
            return Err(e);
        }
        tracing::info!(image.id = %id, "image registered");
        Ok((id, true))
    }

    /// Points `reference` at image `id`. Returns the image the reference pointed at before, if it
    /// pointed elsewhere.
    pub fn tag(&self, id: &Digest, reference: &Reference) -> Result<Option<Digest>, ImageError> {
        let mut st = self.lock();
        if !st.images.contains_key(id) {
            return Err(ImageError::NotFound(id.to_string()));
        }
        let key = reference.to_string();
        let old = st.refs.insert(key.clone(), id.clone());
        let old_tag_time = st.images.get(id).and_then(|r| r.last_tag_time.clone());
        if let Some(rec) = st.images.get_mut(id) {
            rec.last_tag_time = Some(now_rfc3339());
        }
        if let Err(e) = self.persist(&st) {
            match &old {
                Some(o) => st.refs.insert(key, o.clone()),
                None => st.refs.remove(&key),
            };
            if let Some(rec) = st.images.get_mut(id) {
                rec.last_tag_time = old_tag_time;
            }
            return Err(e);
        }
        Ok(old.filter(|o| o != id))
    }

    /// Removes `reference`; returns the image it pointed at.
    pub fn untag(&self, reference: &Reference) -> Result<Digest, ImageError> {
        let mut st = self.lock();
        let key = reference.to_string();
        let id = st.refs.remove(&key).ok_or_else(|| ImageError::NotFound(reference.familiar()))?;
        if let Err(e) = self.persist(&st) {
            st.refs.insert(key, id);
            return Err(e);
        }
        Ok(id)
    }

    /// Images whose parent is `id`.
    pub fn children(&self, id: &Digest) -> Vec<Digest> {
        let st = self.lock();
        st.images.iter().filter(|(_, r)| r.parent.as_ref() == Some(id)).map(|(k, _)| k.clone()).collect()
    }

    /// Deletes an image's record and every reference to it. Returns the diff ids of its layers that
    /// no other image uses. The blobs themselves (config, layers) are left to the daemon's garbage
    /// collector, which also knows the other holders (build cache, operations in flight).
    pub fn remove(&self, id: &Digest) -> Result<Vec<Digest>, ImageError> {
        let mut st = self.lock();
        let rec = st.images.remove(id).ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        let removed_refs: Vec<(String, Digest)> =
            st.refs.iter().filter(|(_, v)| *v == id).map(|(k, v)| (k.clone(), v.clone())).collect();
        st.refs.retain(|_, v| v != id);
        if let Err(e) = self.persist(&st) {
            st.images.insert(id.clone(), rec);
            st.refs.extend(removed_refs);
            return Err(e);
        }
        let in_use: HashSet<&Digest> = st.images.values().flat_map(|r| r.layers.iter().map(|l| &l.diff_id)).collect();
        let mut unshared = Vec::new();
        for l in &rec.layers {
            if !in_use.contains(&l.diff_id) && !unshared.contains(&l.diff_id) {
                unshared.push(l.diff_id.clone());
            }
        }
        tracing::info!(image.id = %id, layers.unshared = unshared.len(), "image removed");
        Ok(unshared)
    }

    /// Every blob the store's images reference (configs and layers).
    pub fn referenced_blobs(&self) -> HashSet<Digest> {
        let st = self.lock();
        let mut set = HashSet::new();
        for (id, r) in &st.images {
            set.insert(id.clone());
            set.extend(r.layers.iter().map(|l| l.diff_id.clone()));
        }
        set
    }

    /// Bytes taken by distinct layers across all images.
    pub fn layers_size(&self) -> u64 {
        let st = self.lock();
        let mut seen = HashSet::new();
        st.images.values().flat_map(|r| r.layers.iter()).filter(|l| seen.insert(l.diff_id.clone())).map(|l| l.size).sum()
    }
}

/// The current time as Docker writes it (RFC 3339 with nanoseconds, UTC).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::ingest_layer;

    pub(crate) fn setup() -> (tempfile::TempDir, ImageStore) {
        let d = tempfile::tempdir().unwrap();
        let content = ContentStore::open(d.path().join("content")).unwrap();
        let store = ImageStore::open(d.path().join("image"), content).unwrap();
        (d, store)
    }

    fn add_image(store: &ImageStore, file: &[u8], cmd: &str) -> Digest {
        let tar = crate::layer::tests::raw_tar(&[("f", tar::EntryType::Regular, "", file)]);
        let l = ingest_layer(store.content(), &tar[..]).unwrap();
        let cfg = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["{cmd}"]}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            l.diff_id
        );
        store.register(cfg.as_bytes(), vec![LayerRecord { diff_id: l.diff_id, size: l.size }], None).unwrap().0
    }

    #[test]
    fn get_resolves_ids_prefixes_and_references() {
        let (_d, s) = setup();
        let id = add_image(&s, b"a", "x");
        s.tag(&id, &Reference::parse_tagged("busybox").unwrap()).unwrap();
        assert_eq!(s.get("busybox").unwrap().id, id);
        assert_eq!(s.get("busybox:latest").unwrap().id, id);
        assert_eq!(s.get("docker.io/library/busybox:latest").unwrap().id, id);
        assert_eq!(s.get(&id.to_string()).unwrap().id, id);
        assert_eq!(s.get(id.hex()).unwrap().id, id);
        assert_eq!(s.get(&id.hex()[..12]).unwrap().id, id);
        assert!(matches!(s.get("busybox:other"), Err(ImageError::NotFound(m)) if m == "busybox:other"));
        assert!(matches!(s.get("nothere"), Err(ImageError::NotFound(_))));
    }

    #[test]
    fn state_survives_reopen() {
        let (d, s) = setup();
        let id = add_image(&s, b"a", "x");
        s.tag(&id, &Reference::parse_tagged("app:1").unwrap()).unwrap();
        drop(s);
        let content = ContentStore::open(d.path().join("content")).unwrap();
        let s = ImageStore::open(d.path().join("image"), content).unwrap();
        let img = s.get("app:1").unwrap();
        assert_eq!(img.id, id);
        assert_eq!(img.config.container_config().cmd.unwrap(), vec!["x"]);
        assert_eq!(img.tags[0].familiar(), "app:1");
    }

    #[test]
    fn tag_moves_and_reports_previous_owner() {
        let (_d, s) = setup();
        let a = add_image(&s, b"a", "a");
        let b = add_image(&s, b"b", "b");
        let r = Reference::parse_tagged("app").unwrap();
        assert_eq!(s.tag(&a, &r).unwrap(), None);
        assert_eq!(s.tag(&b, &r).unwrap(), Some(a.clone()));
        assert!(s.by_id(&a).unwrap().tags.is_empty());
        assert_eq!(s.untag(&r).unwrap(), b);
        assert!(s.untag(&r).is_err());
    }

    #[test]
    fn remove_keeps_shared_layers() {
        let (_d, s) = setup();
        let a = add_image(&s, b"same", "a");
        let b = add_image(&s, b"same", "b");
        let layer = s.by_id(&a).unwrap().layers[0].diff_id.clone();
        assert!(s.remove(&a).unwrap().is_empty());
        assert!(s.referenced_blobs().contains(&layer));
        assert!(!s.referenced_blobs().contains(&a));
        assert_eq!(s.remove(&b).unwrap(), vec![layer.clone()]);
        assert!(s.referenced_blobs().is_empty());
        assert!(s.list().is_empty());
    }

    #[test]
    fn register_rejects_config_that_disagrees_with_layers() {
        let (_d, s) = setup();
        let cfg = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
        let bogus = LayerRecord { diff_id: Digest::of(b"x"), size: 1 };
        assert!(matches!(s.register(cfg, vec![bogus], None), Err(ImageError::LayerCount { .. })));
        assert!(s.content().list().unwrap().is_empty());
    }
}
