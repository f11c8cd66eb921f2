//! Layer application (`berth_snapshot::apply_layer`) of hostile tars into a temp upper directory, and
//! the ingestion-time layer check (`berth_image::layer::verify_layer`) over the same bytes. The
//! applier must never create, change or remove anything outside the upper directory: the upper sits
//! three levels deep among sentinel files and directories, which are compared before and after.
//! Input: a tar (seeds are real layers); header checksums are repaired before use so mutations get
//! past the header check.
#![no_main]

use berth_fuzz::{fix_tar_checksums, remove_tree, scratch_dir, tree};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| scratch_dir("layer-apply"))
}

fuzz_target!(|data: &[u8]| {
    let mut tar = data.to_vec();
    fix_tar_checksums(&mut tar);
    let _ = berth_image::layer::verify_layer(&tar[..]);

    let work = scratch().join("w");
    let upper = work.join("a/b/upper");
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(work.join("a/b/sibling")).unwrap();
    std::fs::write(work.join("a/b/sibling/file"), b"sentinel").unwrap();
    std::fs::write(work.join("a/b/outside"), b"sentinel").unwrap();
    std::fs::write(work.join("a/outside"), b"sentinel").unwrap();
    std::fs::write(work.join("outside"), b"sentinel").unwrap();
    let outside = |t: Vec<(PathBuf, String, u64)>| -> Vec<_> {
        t.into_iter().filter(|(p, _, _)| !p.starts_with("a/b/upper/")).collect()
    };
    let before = outside(tree(&work));
    let before_scratch = tree(scratch());

    let _ = berth_snapshot::apply_layer(&upper, &tar[..]);

    let after = outside(tree(&work));
    assert_eq!(before, after, "the layer changed something outside the upper directory");
    let after_scratch: Vec<_> = tree(scratch()).into_iter().filter(|(p, _, _)| !p.starts_with("w/a/b/upper/")).collect();
    let before_scratch: Vec<_> = before_scratch.into_iter().filter(|(p, _, _)| !p.starts_with("w/a/b/upper/")).collect();
    assert_eq!(before_scratch, after_scratch, "the layer wrote beside the work tree");
    for (p, _, _) in tree(&upper) {
        // Nothing in the upper may be named by an escaping path; a symlink may point anywhere (that is
        // data), but must not have been followed on the way in (checked above by the sentinels).
        assert!(!p.components().any(|c| matches!(c, std::path::Component::ParentDir)), "{p:?}");
    }
    remove_tree(&work);
});
