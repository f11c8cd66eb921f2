use super::*;
use crate::testsuite::{self, MountGuard};
use berth_types::error::HasKind;
use std::io::Write;
use std::sync::Arc;

fn open_overlay(root: &Path) -> Arc<dyn Snapshotter> {
    Arc::new(OverlaySnapshotter::open(root.to_path_buf()).unwrap())
}

macro_rules! shared_suite {
    ($($name:ident),* $(,)?) => {
        $(#[test]
        fn $name() {
            testsuite::$name(&open_overlay);
        })*
    };
}

shared_suite!(
    prepare_commit_and_stack,
    view_is_readonly,
    refuses_bad_keys_and_parents,
    remove_parent_with_children_conflicts,
    list_and_stat_report_labels,
    usage_counts_own_layer,
    metadata_survives_reopen,
    concurrent_use_from_threads,
);

#[test]
fn open_cleans_leftovers_of_interrupted_operations() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let next_dir = {
        let snap = OverlaySnapshotter::open(root.clone()).unwrap();
        snap.prepare("kept", None, Labels::new()).unwrap();
        let next = snap.lock().next_id;
        snap.dir(next)
    };
    // A crash after the staging rename but before the metadata write, and one mid-staging.
    fs::create_dir_all(next_dir.join("fs/half")).unwrap();
    fs::create_dir_all(root.join("tmp/new-9-abc/fs")).unwrap();
    fs::write(root.join(".metadata.json.tmp-0123456789ab"), "{\"torn").unwrap();
    let snap = OverlaySnapshotter::open(root.clone()).unwrap();
    assert!(!next_dir.exists());
    assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    assert!(!root.join(".metadata.json.tmp-0123456789ab").exists());
    assert_eq!(snap.list().unwrap().len(), 1);
    assert!(snap.upper_dir("kept").unwrap().is_dir());
    snap.prepare("after", None, Labels::new()).unwrap();
    assert!(!snap.upper_dir("after").unwrap().join("half").exists());
}

#[test]
fn second_open_of_a_root_is_refused_while_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _first = OverlaySnapshotter::open(dir.path().to_path_buf()).unwrap();
    let err = OverlaySnapshotter::open(dir.path().to_path_buf()).unwrap_err();
    assert_eq!(err.kind(), berth_types::ErrorKind::Unavailable);
}

#[test]
fn open_refuses_root_with_overlay_separators_and_unknown_versions() {
    let dir = tempfile::tempdir().unwrap();
    let err = OverlaySnapshotter::open(dir.path().join("a:b")).unwrap_err();
    assert!(matches!(err, SnapshotError::InvalidRoot { .. }));
    fs::write(dir.path().join("metadata.json"), r#"{"version":99}"#).unwrap();
    let err = OverlaySnapshotter::open(dir.path().to_path_buf()).unwrap_err();
    assert!(
        matches!(err, SnapshotError::UnsupportedVersion { version: 99, .. }),
        "{err}"
    );
}

#[test]
fn mounts_are_bind_without_parents_and_overlay_nearest_parent_first() {
    let dir = tempfile::tempdir().unwrap();
    let snap = OverlaySnapshotter::open(dir.path().to_path_buf()).unwrap();
    let m = snap.prepare("a", None, Labels::new()).unwrap();
    assert_eq!(m, vec![Mount::bind(&snap.upper_dir("a").unwrap(), false)]);
    let l1 = snap.upper_dir("a").unwrap();
    snap.commit("l1", "a").unwrap();
    snap.prepare("b", Some("l1"), Labels::new()).unwrap();
    let l2 = snap.upper_dir("b").unwrap();
    snap.commit("l2", "b").unwrap();
    assert_eq!(
        snap.view("v1", Some("l1")).unwrap(),
        vec![Mount::bind(&l1, true)]
    );
    let m = snap.prepare("c", Some("l2"), Labels::new()).unwrap();
    assert_eq!(m[0].kind, "overlay");
    let lower = format!("lowerdir={}:{}", l2.display(), l1.display());
    assert!(m[0].options.contains(&lower), "{:?}", m[0].options);
    assert!(m[0].options.iter().any(|o| o.starts_with("upperdir=")));
    let v = snap.view("v2", Some("l2")).unwrap();
    assert!(v[0].options.contains(&lower) && v[0].options.contains(&"ro".to_string()));
    assert!(!v[0].options.iter().any(|o| o.starts_with("upperdir=")));
}

/// 50 layers (Docker images rarely pass 40; the old overlay2 limit was 128) mount and merge, and a
/// chain whose lowerdir list would pass a page is refused at prepare instead of failing in the kernel.
#[test]
fn deep_chains_mount_and_too_deep_chains_are_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let snap = OverlaySnapshotter::open(dir.path().join("root")).unwrap();
    let mut parent: Option<String> = None;
    let mut depth = 0;
    let refused = loop {
        let key = format!("k{depth}");
        match snap.prepare(&key, parent.as_deref(), Labels::new()) {
            Ok(_) => {}
            Err(e) => break e,
        }
        fs::write(snap.upper_dir(&key).unwrap().join(format!("f{depth}")), "x").unwrap();
        let name = format!("layer{depth}");
        snap.commit(&name, &key).unwrap();
        parent = Some(name);
        depth += 1;
        if depth == 50 {
            let mounts = snap
                .prepare("top50", parent.as_deref(), Labels::new())
                .unwrap();
            let target = dir.path().join("mnt");
            fs::create_dir(&target).unwrap();
            let _g = MountGuard::mount(&mounts, &target).unwrap();
            assert_eq!(fs::read_dir(&target).unwrap().count(), 50);
        }
        assert!(depth < 400, "chain never refused");
    };
    assert!(depth > 50, "only {depth} layers fit");
    assert!(
        matches!(refused, SnapshotError::ChainTooDeep { .. }),
        "{refused}"
    );
}

#[test]
fn remove_unused_spares_parents_and_recent_uses() {
    let dir = tempfile::tempdir().unwrap();
    let snap = OverlaySnapshotter::open(dir.path().join("root")).unwrap();
    snap.prepare("base-active", None, Labels::new()).unwrap();
    std::fs::write(snap.upper_dir("base-active").unwrap().join("f"), vec![7u8; 8192]).unwrap();
    snap.commit("base", "base-active").unwrap();
    let horizon = std::time::Instant::now();
    snap.prepare("child", Some("base"), Labels::new()).unwrap();
    // Used after the horizon: kept.
    assert_eq!(snap.remove_unused("child", horizon).unwrap(), Removal::InUse);
    let later = std::time::Instant::now();
    // Has a child: kept.
    assert_eq!(snap.remove_unused("base", later).unwrap(), Removal::InUse);
    assert!(matches!(snap.remove_unused("child", later).unwrap(), Removal::Removed(_)));
    let Removal::Removed(u) = snap.remove_unused("base", later).unwrap() else { panic!("base kept") };
    assert!(u.size >= 8192, "{u:?}");
    assert_eq!(snap.remove_unused("base", later).unwrap(), Removal::Absent);
    assert!(snap.list().unwrap().is_empty());
    assert_eq!(snap.stray_dirs().unwrap(), Vec::<PathBuf>::new());
    // A lookup after the horizon counts as a use.
    snap.prepare("x", None, Labels::new()).unwrap();
    let h = std::time::Instant::now();
    snap.stat("x").unwrap();
    assert_eq!(snap.remove_unused("x", h).unwrap(), Removal::InUse);
}

fn keys(snap: &OverlaySnapshotter) -> Vec<String> {
    snap.list().unwrap().into_iter().map(|i| i.name).collect()
}

#[test]
fn changes_are_journaled_and_replayed_at_open_without_rewriting_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    {
        let snap = OverlaySnapshotter::open(root.clone()).unwrap();
        snap.prepare("a", None, Labels::new()).unwrap();
        let checkpoint = fs::read(root.join("metadata.json")).unwrap();
        snap.commit("la", "a").unwrap();
        snap.prepare("b", Some("la"), Labels::from([("k".to_string(), "v".to_string())])).unwrap();
        snap.prepare("gone", None, Labels::new()).unwrap();
        snap.remove("gone").unwrap();
        // Five changes, one journal line each; the checkpoint was not rewritten for them.
        assert_eq!(fs::read(root.join("metadata.json")).unwrap(), checkpoint);
        let journal = fs::read_to_string(root.join("metadata.journal")).unwrap();
        assert_eq!(journal.lines().count(), 5, "{journal}");
    }
    let snap = OverlaySnapshotter::open(root.clone()).unwrap();
    assert_eq!(keys(&snap), ["b", "la"]);
    assert_eq!(snap.stat("b").unwrap().parent.as_deref(), Some("la"));
    assert_eq!(snap.stat("b").unwrap().labels["k"], "v");
    // The open folded the journal into the checkpoint.
    assert_eq!(fs::read(root.join("metadata.journal")).unwrap(), b"");
    let md: serde_json::Value = serde_json::from_slice(&fs::read(root.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(md["version"], 2);
    assert_eq!(md["snapshots"].as_object().unwrap().len(), 2);
}

#[test]
fn a_torn_last_journal_line_is_ignored_and_its_directory_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let torn_dir = {
        let snap = OverlaySnapshotter::open(root.clone()).unwrap();
        snap.prepare("a", None, Labels::new()).unwrap();
        snap.prepare("b", None, Labels::new()).unwrap();
        let id = snap.lock().snapshots["b"].id;
        snap.dir(id)
    };
    // The line of "b" cut short by a crash (its fsync never returned): with and without the
    // zeros a filesystem may show in its place.
    let journal = fs::read(root.join("metadata.journal")).unwrap();
    let first = journal.iter().position(|b| *b == b'\n').unwrap() + 1;
    for tail in [journal[first..journal.len() - 9].to_vec(), vec![0u8; 40].into_iter().chain([b'\n']).collect()] {
        let mut torn = journal[..first].to_vec();
        torn.extend(&tail);
        fs::write(root.join("metadata.journal"), &torn).unwrap();
        fs::create_dir_all(torn_dir.join("fs")).unwrap();
        let snap = OverlaySnapshotter::open(root.clone()).unwrap();
        assert_eq!(keys(&snap), ["a"]);
        assert!(!torn_dir.exists(), "the directory of the lost change is left");
        // New changes follow the replayed ones.
        snap.prepare("c", None, Labels::new()).unwrap();
        snap.remove("c").unwrap();
    }
    assert_eq!(keys(&OverlaySnapshotter::open(root).unwrap()), ["a"]);
}

#[test]
fn a_damaged_journal_line_before_good_ones_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    {
        let snap = OverlaySnapshotter::open(root.clone()).unwrap();
        for k in ["a", "b", "c"] {
            snap.prepare(k, None, Labels::new()).unwrap();
        }
    }
    let journal = fs::read_to_string(root.join("metadata.journal")).unwrap();
    let lines: Vec<&str> = journal.lines().collect();
    fs::write(root.join("metadata.journal"), format!("{}\n{{garbage\n{}\n", lines[0], lines[2])).unwrap();
    let err = OverlaySnapshotter::open(root.clone()).unwrap_err();
    assert!(matches!(err, SnapshotError::CorruptJournal { line: 2, .. }), "{err}");
    // A gap in the sequence (a lost line) is refused too.
    fs::write(root.join("metadata.journal"), format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let err = OverlaySnapshotter::open(root.clone()).unwrap_err();
    assert!(matches!(err, SnapshotError::CorruptJournal { line: 2, .. }), "{err}");
}

#[test]
fn lines_the_checkpoint_has_are_not_replayed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    {
        let snap = OverlaySnapshotter::open(root.clone()).unwrap();
        snap.prepare("a", None, Labels::new()).unwrap();
        snap.prepare("b", None, Labels::new()).unwrap();
    }
    let journal = fs::read(root.join("metadata.journal")).unwrap();
    {
        // The open writes a checkpoint with both; then "a" goes.
        let snap = OverlaySnapshotter::open(root.clone()).unwrap();
        snap.remove("a").unwrap();
    }
    // A crash between a checkpoint and the journal's reset leaves lines it already includes
    // (here: the creation of "a", before its removal in the checkpoint).
    let mut stale = journal.clone();
    stale.extend(fs::read(root.join("metadata.journal")).unwrap());
    {
        let snap = OverlaySnapshotter::open(root.clone()).unwrap();
        assert_eq!(keys(&snap), ["b"]);
    }
    fs::write(root.join("metadata.journal"), &journal).unwrap();
    assert_eq!(keys(&OverlaySnapshotter::open(root.clone()).unwrap()), ["b"]);
}

#[test]
fn the_journal_is_folded_into_the_checkpoint_once_it_outgrows_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let snap = OverlaySnapshotter::open(root.clone()).unwrap();
    let mut peak = 0;
    for i in 0..1500 {
        snap.prepare(&format!("k{i}"), None, Labels::new()).unwrap();
        snap.remove(&format!("k{i}")).unwrap();
        peak = peak.max(fs::metadata(root.join("metadata.journal")).unwrap().len());
    }
    assert!(peak <= 256 * 1024 + 1024, "the journal grew to {peak} bytes");
    assert!(fs::metadata(root.join("metadata.json")).unwrap().len() < 1024);
    drop(snap);
    let snap = OverlaySnapshotter::open(root).unwrap();
    assert!(keys(&snap).is_empty());
    snap.prepare("k1", None, Labels::new()).unwrap();
    assert_eq!(snap.lock().next_id, 1502, "ids are never reused");
}

#[test]
fn a_version_1_metadata_file_opens_and_is_rewritten_as_version_2() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("snapshots/7/fs")).unwrap();
    fs::write(
        root.join("metadata.json"),
        r#"{"version":1,"next_id":8,"snapshots":{"old":{"id":7,"kind":"committed","parent":null,"created":{"secs_since_epoch":1,"nanos_since_epoch":0},"labels":{}}}}"#,
    )
    .unwrap();
    let snap = OverlaySnapshotter::open(root.clone()).unwrap();
    assert_eq!(keys(&snap), ["old"]);
    let md: serde_json::Value = serde_json::from_slice(&fs::read(root.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(md["version"], 2);
    snap.prepare("new", Some("old"), Labels::new()).unwrap();
    assert_eq!(snap.lock().snapshots["new"].id, 8);
}

/// A store whose journal has lines opens on a full filesystem (its fresh checkpoint cannot be
/// written), with every acknowledged snapshot, and takes changes again once there is space.
#[test]
fn a_full_filesystem_does_not_keep_the_store_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    let fs_dir = dir.path().join("tmpfs");
    fs::create_dir_all(&fs_dir).unwrap();
    rustix::mount::mount("tmpfs", &fs_dir, "tmpfs", rustix::mount::MountFlags::empty(), c"size=2m").unwrap();
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
        }
    }
    let _unmount = Unmount(fs_dir.clone());
    let root = fs_dir.join("root");
    {
        let snap = OverlaySnapshotter::open(root.clone()).unwrap();
        snap.prepare("a", None, Labels::new()).unwrap();
        snap.prepare("b", None, Labels::new()).unwrap();
    }
    assert!(fs::metadata(root.join("metadata.journal")).unwrap().len() > 0, "the changes are journal lines");
    // A torn append after them, then no space left.
    fs::OpenOptions::new().append(true).open(root.join("metadata.journal")).unwrap().write_all(b"{\"seq\":").unwrap();
    let filler = fs_dir.join("filler");
    let mut f = fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    drop(f);

    let snap = OverlaySnapshotter::open(root.clone()).expect("opens on a full filesystem");
    let keys: Vec<String> = snap.list().unwrap().into_iter().map(|i| i.name).collect();
    assert!(keys.contains(&"a".to_string()) && keys.contains(&"b".to_string()), "{keys:?}");
    fs::remove_file(&filler).unwrap();
    snap.prepare("c", None, Labels::new()).unwrap();
    drop(snap);
    let snap = OverlaySnapshotter::open(root).unwrap();
    assert_eq!(snap.list().unwrap().len(), 3);
}
