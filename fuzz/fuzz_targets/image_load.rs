//! `docker load` (`berth_image::archive::load`) of hostile image archives: Docker's `manifest.json`
//! and OCI's `index.json` layouts, their configs and the layers inside, into a fresh store per input.
//! A failed load must leave the store as it found it (no image, no blob); a successful one must have
//! registered every image it reports, with the layers its config lists. Input: a tar (seeds are real
//! `berth save` output); header checksums, also of nested layer tars, are repaired before use.
#![no_main]

use berth_content::ContentStore;
use berth_fuzz::{fix_tar_checksums, remove_tree, scratch_dir};
use berth_image::ImageStore;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| scratch_dir("image-load"))
}

fuzz_target!(|data: &[u8]| {
    let mut tar = data.to_vec();
    fix_tar_checksums(&mut tar);
    let root = scratch().join("store");
    let content = ContentStore::open(root.join("content")).expect("open content store");
    let store = ImageStore::open(root.join("image"), content).expect("open image store");
    match berth_image::archive::load(&store, &tar[..]) {
        Ok(loaded) => {
            for l in &loaded {
                let img = store.by_id(&l.id).unwrap_or_else(|| panic!("loaded image {} is not in the store", l.id));
                assert_eq!(img.layers.len(), img.config.rootfs.diff_ids.len());
                for (layer, want) in img.layers.iter().zip(&img.config.rootfs.diff_ids) {
                    assert_eq!(&layer.diff_id, want);
                    assert!(store.content().open_blob(want).is_ok(), "layer {want} of {} missing", l.id);
                }
            }
        }
        Err(e) => {
            assert!(store.list().is_empty(), "a failed load ({e}) left images behind");
            let blobs = store.content().list().expect("list blobs");
            assert!(blobs.is_empty(), "a failed load ({e}) left blobs behind: {blobs:?}");
        }
    }
    drop(store);
    remove_tree(&root);
});
