//! What images really take on disk, for `system df`: each image's config blob, layer blobs and the
//! snapshots its layers are unpacked into (allocated blocks, as `du` counts them), with the part it
//! shares with other images, and the total of all images with each blob and snapshot counted once.

use berth_image::ImageStore;
use berth_snapshot::{chain_id, OverlaySnapshotter, Snapshotter};
use berth_types::Digest;
use std::collections::HashMap;

/// One image's footprint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImageUsage {
    /// Bytes of everything the image uses.
    pub size: u64,
    /// The part of `size` other images use too.
    pub shared: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Unit {
    Blob(Digest),
    Snapshot(String),
}

/// Every image's footprint by id, and the bytes all images take together. Blocking (walks
/// snapshots).
pub fn images(store: &ImageStore, snapshots: &OverlaySnapshotter) -> (u64, HashMap<Digest, ImageUsage>) {
    let content = store.content();
    let mut size_of: HashMap<Unit, u64> = HashMap::new();
    let mut users: HashMap<Unit, usize> = HashMap::new();
    let mut units_of: Vec<(Digest, Vec<Unit>)> = Vec::new();
    for img in store.list() {
        let mut units = vec![Unit::Blob(img.id.clone())];
        let diff_ids: Vec<Digest> = img.layers.iter().map(|l| l.diff_id.clone()).collect();
        for (n, d) in diff_ids.iter().enumerate() {
            units.push(Unit::Blob(d.clone()));
            units.push(Unit::Snapshot(chain_id(&diff_ids[..=n]).to_string()));
        }
        units.sort_by_key(|u| format!("{u:?}"));
        units.dedup();
        for u in &units {
            *users.entry(u.clone()).or_default() += 1;
            size_of.entry(u.clone()).or_insert_with(|| match u {
                Unit::Blob(d) => content.disk_usage(d).unwrap_or(0),
                Unit::Snapshot(name) => snapshots.usage(name).map(|u| u.size).unwrap_or(0),
            });
        }
        units_of.push((img.id.clone(), units));
    }
    let total = size_of.values().sum();
    let per_image = units_of
        .into_iter()
        .map(|(id, units)| {
            let mut u = ImageUsage::default();
            for unit in &units {
                let n = size_of[unit];
                u.size += n;
                if users[unit] > 1 {
                    u.shared += n;
                }
            }
            (id, u)
        })
        .collect();
    (total, per_image)
}
