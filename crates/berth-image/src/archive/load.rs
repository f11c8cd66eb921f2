//! Reading image archives (`docker load`).
//!
//! The archive is streamed once: every regular file goes into the content store (digest computed on
//! the way), links are remembered as aliases, and small JSON files are read back afterwards to find
//! the images. Every layer is then checked as hostile input and matched against the diff ids its
//! config lists. On any failure the images and blobs this load added are removed again.

use super::*;
use crate::compression::{decompress, Compression};
use crate::config::ImageConfig;
use crate::layer::{ingest_layer, normalize, verify_layer};
use crate::store::{ImageStore, LayerRecord};
use crate::ImageError;
use berth_types::{Digest, Reference};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

/// An image found in an archive and now in the store.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Its id.
    pub id: Digest,
    /// The names the archive gives it.
    pub refs: Vec<Reference>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: Digest,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize, Clone)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    #[serde(default)]
    media_type: Option<String>,
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// What the archive's files are: path → blob digest, and link path → target path.
#[derive(Default)]
struct Files {
    blobs: HashMap<String, Digest>,
    links: HashMap<String, String>,
}

impl Files {
    fn lookup(&self, path: &str) -> Option<&Digest> {
        let mut p = normalize(path.as_bytes()).ok()?.join("/");
        for _ in 0..16 {
            if let Some(d) = self.blobs.get(&p) {
                return Some(d);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

struct Plan {
    config: Digest,
    layers: Vec<(String, Digest)>,
    refs: Vec<Reference>,
}

/// Loads every image in the archive read from `reader` into `store`.
pub fn load<R: Read>(store: &ImageStore, reader: R) -> Result<Vec<Loaded>, ImageError> {
    let content = store.content();
    // Blobs that exist before this load are never ours to remove, whatever happens.
    let existing: HashSet<Digest> = content.list()?.into_iter().collect();
    let mut created: Vec<Digest> = Vec::new();
    let mut registered: Vec<Digest> = Vec::new();
    let result = (|| {
        let files = stream_files(store, reader, &existing, &mut created)?;
        let plans = plan(store, &files)?;
        let mut out = Vec::new();
        for p in plans {
            let config_bytes = read_document(store, &p.config, || "the image config".into())?;
            let config = ImageConfig::parse(&config_bytes)?;
            if config.rootfs.diff_ids.len() != p.layers.len() {
                return Err(ImageError::LayerCount { config: config.rootfs.diff_ids.len(), manifest: p.layers.len() });
            }
            let mut layers = Vec::new();
            for ((path, blob), want) in p.layers.iter().zip(&config.rootfs.diff_ids) {
                let stats = layer_from_blob(store, blob, path, &existing, &mut created)?;
                if stats.diff_id != *want {
                    return Err(ImageError::LayerMismatch { expected: want.clone(), actual: stats.diff_id });
                }
                layers.push(LayerRecord { diff_id: stats.diff_id, size: stats.size });
            }
            let (id, new) = store.register(&config_bytes, layers, None)?;
            if new {
                registered.push(id.clone());
            }
            out.push(Loaded { id, refs: p.refs });
        }
        Ok(out)
    })();
    if result.is_err() {
        for id in &registered {
            let _ = store.remove(id);
        }
    }
    // Blobs this load brought in that no image uses (manifests, compressed layers, stray files, or
    // everything after a failure) are removed again.
    let keep = store.referenced_blobs();
    for d in created.iter().filter(|d| !keep.contains(d)) {
        let _ = content.delete(d);
    }
    result
}

fn stream_files<R: Read>(store: &ImageStore, reader: R, existing: &HashSet<Digest>, created: &mut Vec<Digest>) -> Result<Files, ImageError> {
    let (_, reader) = decompress(reader).map_err(ImageError::Read)?;
    let mut archive = tar::Archive::new(reader);
    let mut files = Files::default();
    let mut saw_any = false;
    for entry in archive.entries().map_err(ImageError::Read)? {
        let mut entry = entry.map_err(crate::layer::map_tar_err)?;
        saw_any = true;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let comps = normalize(&raw).map_err(|reason| ImageError::HostileEntry { path: shown.clone(), reason })?;
        let path = comps.join("/");
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut w = store.content().writer()?;
                std::io::copy(&mut entry, &mut w).map_err(crate::layer::map_tar_err)?;
                if w.written() != entry.size() {
                    return Err(ImageError::Truncated);
                }
                let (d, _) = w.commit(None, None)?;
                if !created.contains(&d) && !existing.contains(&d) {
                    created.push(d.clone());
                }
                files.blobs.insert(path, d);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let link = entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default();
                let link = String::from_utf8_lossy(&link).into_owned();
                let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                    comps[..comps.len().saturating_sub(1)].join("/")
                } else {
                    String::new()
                };
                let target = resolve_within(&base, &link)
                    .ok_or(ImageError::HostileEntry { path: shown, reason: "link points outside the archive" })?;
                files.links.insert(path, target);
            }
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {}
            _ => return Err(ImageError::HostileEntry { path: shown, reason: "unsupported entry type" }),
        }
    }
    if !saw_any {
        return Err(ImageError::Truncated);
    }
    Ok(files)
}


/// Resolves a link target relative to `base` inside the archive; `None` if it climbs out.
fn resolve_within(base: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// The largest manifest, index or config read from an archive (a registry's manifests are capped
/// at 4 MiB; configs with long histories are larger): anything bigger is refused, not held.
pub const MAX_DOCUMENT: u64 = 8 << 20;

/// A JSON document of the archive (already in the content store), refused beyond [`MAX_DOCUMENT`].
fn read_document(store: &ImageStore, d: &Digest, what: impl FnOnce() -> String) -> Result<Vec<u8>, ImageError> {
    let size = store.content().size(d)?;
    if size > MAX_DOCUMENT {
        return Err(ImageError::DocumentTooLarge { what: what(), size, limit: MAX_DOCUMENT });
    }
    Ok(store.content().read(d)?)
}

fn read_json<T: for<'de> Deserialize<'de>>(store: &ImageStore, files: &Files, path: &str) -> Result<Option<T>, ImageError> {
    let Some(d) = files.lookup(path) else { return Ok(None) };
    let bytes = read_document(store, d, || path.to_string())?;
    serde_json::from_slice(&bytes).map(Some).map_err(|source| ImageError::BadManifest { what: path.to_string(), source })
}

fn plan(store: &ImageStore, files: &Files) -> Result<Vec<Plan>, ImageError> {
    if let Some(entries) = read_json::<Vec<DockerEntry>>(store, files, "manifest.json")? {
        let mut plans = Vec::new();
        for e in entries {
            let config = files.lookup(&e.config).cloned().ok_or_else(|| ImageError::MissingBlob(e.config.clone()))?;
            check_blob_name(&e.config, &config)?;
            let layers = e
                .layers
                .iter()
                .map(|l| {
                    let d = files.lookup(l).cloned().ok_or_else(|| ImageError::MissingBlob(l.clone()))?;
                    check_blob_name(l, &d)?;
                    Ok((l.clone(), d))
                })
                .collect::<Result<Vec<_>, ImageError>>()?;
            let refs = e.repo_tags.unwrap_or_default().iter().map(|t| Reference::parse_tagged(t)).collect::<Result<_, _>>()?;
            plans.push(Plan { config, layers, refs });
        }
        return Ok(plans);
    }
    let Some(index) = read_json::<Index>(store, files, "index.json")? else {
        return Err(ImageError::NoManifest);
    };
    let mut plans: Vec<Plan> = Vec::new();
    for desc in index.manifests {
        let manifest = resolve_manifest(store, files, &desc, 0)?;
        let config = oci_blob(files, &manifest.config.digest)?;
        let layers = manifest
            .layers
            .iter()
            .map(|l| Ok((blob_path(&l.digest), oci_blob(files, &l.digest)?)))
            .collect::<Result<Vec<_>, ImageError>>()?;
        let name = desc.annotations.get(ANNOTATION_IMAGE_NAME).cloned().or_else(|| {
            desc.annotations.get(ANNOTATION_REF_NAME).filter(|n| n.contains(['/', ':', '@'])).cloned()
        });
        let refs: Vec<Reference> = name.map(|n| Reference::parse_tagged(&n)).transpose()?.into_iter().collect();
        match plans.iter_mut().find(|p| p.config == config) {
            Some(p) => p.refs.extend(refs),
            None => plans.push(Plan { config, layers, refs }),
        }
    }
    Ok(plans)
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.hex())
}

/// The blob at `blobs/sha256/<hex>`, which must hash to `<hex>`.
fn oci_blob(files: &Files, d: &Digest) -> Result<Digest, ImageError> {
    let path = blob_path(d);
    let got = files.lookup(&path).cloned().ok_or_else(|| ImageError::MissingBlob(path.clone()))?;
    if got != *d {
        return Err(ImageError::BlobDigest { path, expected: d.clone() });
    }
    Ok(got)
}

/// A file named `blobs/sha256/<hex>` (or `<hex>.json`) must hash to that name.
fn check_blob_name(path: &str, got: &Digest) -> Result<(), ImageError> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = name.strip_suffix(".json").unwrap_or(name);
    if path.starts_with("blobs/") || name.ends_with(".json") {
        if let Ok(want) = Digest::from_hex(stem) {
            if want != *got {
                return Err(ImageError::BlobDigest { path: path.to_string(), expected: want });
            }
        }
    }
    Ok(())
}

fn resolve_manifest(store: &ImageStore, files: &Files, desc: &Descriptor, depth: u8) -> Result<Manifest, ImageError> {
    let blob = oci_blob(files, &desc.digest)?;
    let what = || blob_path(&desc.digest);
    let bytes = read_document(store, &blob, what)?;
    let is_index = desc.media_type == OCI_INDEX || desc.media_type == DOCKER_MANIFEST_LIST;
    if is_index && depth < 4 {
        let idx: Index = serde_json::from_slice(&bytes).map_err(|source| ImageError::BadManifest { what: what(), source })?;
        let arch = crate::host_architecture();
        let pick = idx
            .manifests
            .iter()
            .find(|m| m.platform.as_ref().is_some_and(|p| p.os == "linux" && p.architecture == arch))
            .or_else(|| idx.manifests.iter().find(|m| m.platform.is_none()))
            .ok_or_else(|| ImageError::MissingBlob(format!("manifest for linux/{arch} in {}", what())))?;
        return resolve_manifest(store, files, pick, depth + 1);
    }
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|source| ImageError::BadManifest { what: what(), source })?;
    if m.media_type.as_deref().is_some_and(|t| t == OCI_INDEX || t == DOCKER_MANIFEST_LIST) {
        return Err(ImageError::MissingBlob(format!("image manifest at {}", what())));
    }
    Ok(m)
}

/// Turns a layer blob (any compression) into an uncompressed, checked layer in the store.
fn layer_from_blob(
    store: &ImageStore,
    blob: &Digest,
    path: &str,
    existing: &HashSet<Digest>,
    created: &mut Vec<Digest>,
) -> Result<crate::layer::LayerStats, ImageError> {
    let content = store.content();
    let f = content.open_blob(blob)?;
    let (kind, reader) = decompress(f).map_err(ImageError::Read)?;
    if kind == Compression::None {
        return verify_layer(reader);
    }
    let stats = ingest_layer(content, reader).map_err(|e| match e {
        ImageError::Truncated => ImageError::MissingBlob(format!("complete layer at {path}")),
        e => e,
    })?;
    if !created.contains(&stats.diff_id) && !existing.contains(&stats.diff_id) {
        created.push(stats.diff_id.clone());
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::{save, SaveItem};
    use crate::import::{import_rootfs, ImportOptions};
    use berth_content::ContentStore;
    use std::io::Write;
    use tar::EntryType as T;

    fn store(d: &tempfile::TempDir, name: &str) -> ImageStore {
        ImageStore::open(d.path().join(name).join("image"), ContentStore::open(d.path().join(name).join("c")).unwrap()).unwrap()
    }

    fn busybox_like(s: &ImageStore) -> Digest {
        let tar = crate::layer::tests::raw_tar(&[("bin/", T::Directory, "", b""), ("bin/sh", T::Regular, "", b"elf")]);
        let id = import_rootfs(s, &tar[..], &ImportOptions { source: "-".into(), ..Default::default() }).unwrap();
        s.tag(&id, &Reference::parse_tagged("bb:1").unwrap()).unwrap();
        id
    }

    #[test]
    fn save_then_load_keeps_id_and_tags() {
        let d = tempfile::tempdir().unwrap();
        let a = store(&d, "a");
        let id = busybox_like(&a);
        let img = a.by_id(&id).unwrap();
        let mut buf = Vec::new();
        save(&a, &[SaveItem { refs: img.tags.clone(), image: img }], &mut buf).unwrap();
        let b = store(&d, "b");
        let loaded = load(&b, &buf[..]).unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].id, id);
        assert_eq!(loaded[0].refs[0].familiar(), "bb:1");
        // Only the config and the layer remain; the manifest and JSON files were cleaned up.
        assert_eq!(b.content().list().unwrap().len(), 2);
    }

    #[test]
    fn oci_layout_with_gzip_layer_loads() {
        let d = tempfile::tempdir().unwrap();
        let a = store(&d, "a");
        let id = busybox_like(&a);
        let img = a.by_id(&id).unwrap();
        let layer_tar = a.content().read(&img.layers[0].diff_id).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer_tar).unwrap();
        let gz = gz.finish().unwrap();
        let config = a.content().read(&id).unwrap();
        let manifest = serde_json::json!({"schemaVersion":2,"mediaType":OCI_MANIFEST,
            "config":{"mediaType":OCI_CONFIG,"digest":id.to_string(),"size":config.len()},
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":Digest::of(&gz).to_string(),"size":gz.len()}]});
        let mbytes = serde_json::to_vec(&manifest).unwrap();
        let index = serde_json::json!({"schemaVersion":2,"manifests":[{"mediaType":OCI_MANIFEST,"digest":Digest::of(&mbytes).to_string(),"size":mbytes.len(),
            "annotations":{ANNOTATION_IMAGE_NAME:"example.com/x/y:2"}}]});
        let ib = serde_json::to_vec(&index).unwrap();
        let mut files: Vec<(String, Vec<u8>)> = vec![("oci-layout".into(), b"{}".to_vec()), ("index.json".into(), ib)];
        for b in [config.clone(), gz.clone(), mbytes.clone()] {
            files.push((blob_path(&Digest::of(&b)), b));
        }
        let entries: Vec<(&str, T, &str, &[u8])> = files.iter().map(|(p, b)| (p.as_str(), T::Regular, "", &b[..])).collect();
        let archive = crate::layer::tests::raw_tar(&entries);
        let b = store(&d, "b");
        let loaded = load(&b, &archive[..]).unwrap();
        assert_eq!(loaded[0].id, id);
        assert_eq!(loaded[0].refs[0].to_string(), "example.com/x/y:2");
        assert!(b.content().contains(&img.layers[0].diff_id));
        assert!(!b.content().contains(&Digest::of(&gz)), "compressed blob should not be kept");
    }

    fn expect_load_err(archive: &[u8]) -> ImageError {
        let d = tempfile::tempdir().unwrap();
        let b = store(&d, "b");
        let err = load(&b, archive).unwrap_err();
        assert!(b.list().is_empty());
        assert!(b.content().list().unwrap().is_empty(), "blobs left after failed load: {err}");
        err
    }

    #[test]
    fn hostile_or_broken_archives_leave_nothing() {
        let d = tempfile::tempdir().unwrap();
        let a = store(&d, "a");
        let id = busybox_like(&a);
        let img = a.by_id(&id).unwrap();
        let mut good = Vec::new();
        save(&a, &[SaveItem { refs: vec![], image: img.clone() }], &mut good).unwrap();

        // Truncated stream.
        let err = expect_load_err(&good[..good.len() / 2]);
        assert!(matches!(err, ImageError::Truncated | ImageError::MissingBlob(_) | ImageError::NoManifest), "{err}");
        // Path traversal in the outer archive.
        let err = expect_load_err(&crate::layer::tests::raw_tar(&[("../x", T::Regular, "", b"1")]));
        assert!(matches!(err, ImageError::HostileEntry { .. }));
        // A link that climbs out.
        let err = expect_load_err(&crate::layer::tests::raw_tar(&[("l", T::Symlink, "../../etc/passwd", b"")]));
        assert!(matches!(err, ImageError::HostileEntry { .. }));
        // manifest.json names a missing layer.
        let cfg = a.content().read(&id).unwrap();
        let m = r#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["nope/layer.tar"]}]"#.to_string();
        let err = expect_load_err(&crate::layer::tests::raw_tar(&[("c.json", T::Regular, "", &cfg), ("manifest.json", T::Regular, "", m.as_bytes())]));
        assert!(matches!(err, ImageError::MissingBlob(_)), "{err}");
        // A layer whose content does not match the config's diff id.
        let other = crate::layer::tests::raw_tar(&[("evil", T::Regular, "", b"x")]);
        let m = r#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]"#;
        let err = expect_load_err(&crate::layer::tests::raw_tar(&[
            ("c.json", T::Regular, "", &cfg),
            ("l/layer.tar", T::Regular, "", &other),
            ("manifest.json", T::Regular, "", m.as_bytes()),
        ]));
        assert!(matches!(err, ImageError::LayerMismatch { .. }), "{err}");
        // A blob whose name does not match its content.
        let bad = format!("blobs/sha256/{}", Digest::of(b"other").hex());
        let m = format!(r#"[{{"Config":"{bad}","Layers":[]}}]"#);
        let err = expect_load_err(&crate::layer::tests::raw_tar(&[(&bad, T::Regular, "", &cfg), ("manifest.json", T::Regular, "", m.as_bytes())]));
        assert!(matches!(err, ImageError::BlobDigest { .. }), "{err}");
        // A layer with a path traversal inside.
        let evil_layer = crate::layer::tests::raw_tar(&[("../../../tmp/pwn", T::Regular, "", b"x")]);
        let evil_cfg = format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#, Digest::of(&evil_layer));
        let m = r#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]"#;
        let err = expect_load_err(&crate::layer::tests::raw_tar(&[
            ("c.json", T::Regular, "", evil_cfg.as_bytes()),
            ("l/layer.tar", T::Regular, "", &evil_layer),
            ("manifest.json", T::Regular, "", m.as_bytes()),
        ]));
        assert!(matches!(err, ImageError::HostileEntry { .. }), "{err}");
        // No manifest at all.
        let err = expect_load_err(&crate::layer::tests::raw_tar(&[("hello", T::Regular, "", b"x")]));
        assert!(matches!(err, ImageError::NoManifest));
    }
}
