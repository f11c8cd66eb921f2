//! Writing image archives.

use super::*;
use crate::store::{Image, ImageStore};
use crate::ImageError;
use berth_types::{Digest, Reference};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};

/// One image to save and the names to record for it (empty: saved by id, unnamed).
#[derive(Debug, Clone)]
pub struct SaveItem {
    /// The image.
    pub image: Image,
    /// Tags to record.
    pub refs: Vec<Reference>,
}

/// Writes `items` as one archive to `out`. The stream is deterministic for the same input.
pub fn save<W: Write>(store: &ImageStore, items: &[SaveItem], out: W) -> Result<(), ImageError> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    let w = |e: io::Error| ImageError::Read(e);
    dir(&mut tar, "blobs/").map_err(w)?;
    dir(&mut tar, "blobs/sha256/").map_err(w)?;
    let content = store.content();
    let mut written: HashSet<Digest> = HashSet::new();
    let mut index = Vec::new();
    let mut docker_manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for item in items {
        let img = &item.image;
        for d in img.layers.iter().map(|l| &l.diff_id).chain(std::iter::once(&img.id)) {
            if written.insert(d.clone()) {
                let size = content.size(d)?;
                let f = content.open_blob(d)?;
                file(&mut tar, &blob_path(d), size, f).map_err(w)?;
            }
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": img.id.to_string(), "size": content.size(&img.id)?},
            "layers": img.layers.iter().map(|l| Ok(json!({
                "mediaType": OCI_LAYER_TAR, "digest": l.diff_id.to_string(), "size": content.size(&l.diff_id)?
            }))).collect::<Result<Vec<Value>, ImageError>>()?,
        });
        let mbytes = serde_json::to_vec(&manifest).map_err(ImageError::BadConfig)?;
        let mdigest = Digest::of(&mbytes);
        if written.insert(mdigest.clone()) {
            file(&mut tar, &blob_path(&mdigest), mbytes.len() as u64, &mbytes[..]).map_err(w)?;
        }
        let desc = |annotations: Option<Value>| {
            let mut d = json!({"mediaType": OCI_MANIFEST, "digest": mdigest.to_string(), "size": mbytes.len()});
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if item.refs.is_empty() {
            index.push(desc(None));
        }
        for r in &item.refs {
            index.push(desc(Some(json!({
                ANNOTATION_IMAGE_NAME: r.to_string(),
                ANNOTATION_REF_NAME: r.tag().unwrap_or("latest"),
            }))));
            if let (Some(tag), Some(top)) = (r.tag(), img.layers.last()) {
                repositories.entry(r.familiar_name()).or_default().insert(tag.to_string(), top.diff_id.hex().to_string());
            }
        }
        let tags: Vec<String> = item.refs.iter().map(Reference::familiar).collect();
        docker_manifest.push(json!({
            "Config": blob_path(&img.id),
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "Layers": img.layers.iter().map(|l| blob_path(&l.diff_id)).collect::<Vec<_>>(),
        }));
    }
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index});
    for (name, value) in [
        ("index.json", index),
        ("manifest.json", Value::Array(docker_manifest)),
        ("oci-layout", json!({"imageLayoutVersion": "1.0.0"})),
        ("repositories", serde_json::to_value(&repositories).unwrap_or(Value::Null)),
    ] {
        let bytes = serde_json::to_vec(&value).map_err(ImageError::BadConfig)?;
        file(&mut tar, name, bytes.len() as u64, &bytes[..]).map_err(w)?;
    }
    tar.into_inner().map_err(w)?.flush().map_err(w)?;
    Ok(())
}

fn blob_path(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.hex())
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    tar.append_data(&mut h, path, io::empty())
}

fn file<W: Write, R: Read>(tar: &mut tar::Builder<W>, path: &str, size: u64, data: R) -> io::Result<()> {
    let mut h = header(tar::EntryType::Regular, size, 0o644);
    tar.append_data(&mut h, path, data)
}
