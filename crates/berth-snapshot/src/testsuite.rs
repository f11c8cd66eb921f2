//! The shared test suite every [`Snapshotter`] implementation must pass (house rule 12), plus a
//! mount guard for tests. Enabled in this crate's tests and, for other crates, by the `testsuite`
//! feature. The tests mount the returned [`Mount`]s for real, so they need root.
//!
//! Each suite function takes an opener that creates or reopens the implementation at a root; call
//! them from `#[test]` functions (see the overlay module's tests).

use crate::{Kind, Labels, Mount, Snapshotter};
use berth_types::error::{ErrorKind, HasKind};
use rustix::mount::{MountFlags, UnmountFlags};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Opens (or reopens) a snapshotter at the given root.
pub type Opener<'a> = &'a dyn Fn(&Path) -> Arc<dyn Snapshotter>;

/// Mounts a snapshot's [`Mount`]s on a directory and unmounts them when dropped, even when a test fails.
#[derive(Debug)]
pub struct MountGuard {
    targets: Vec<PathBuf>,
}

impl MountGuard {
    /// Performs `mounts` in order on `target`, as a runtime would.
    pub fn mount(mounts: &[Mount], target: &Path) -> io::Result<MountGuard> {
        let mut guard = MountGuard {
            targets: Vec::new(),
        };
        for m in mounts {
            let (flags, data) = m.flags_and_data();
            let data = std::ffi::CString::new(data).map_err(io::Error::other)?;
            let fstype = if m.kind == "bind" {
                ""
            } else {
                m.kind.as_str()
            };
            let bind = flags.contains(MountFlags::BIND);
            let first = if bind {
                flags - MountFlags::RDONLY
            } else {
                flags
            };
            rustix::mount::mount(m.source.as_path(), target, fstype, first, data.as_c_str())?;
            guard.targets.push(target.to_path_buf());
            if bind && flags.contains(MountFlags::RDONLY) {
                // The kernel ignores MS_RDONLY when creating a bind mount; it takes a remount.
                rustix::mount::mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "")?;
            }
        }
        Ok(guard)
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        for t in self.targets.iter().rev() {
            if rustix::mount::unmount(t, UnmountFlags::empty()).is_err() {
                let _ = rustix::mount::unmount(t, UnmountFlags::DETACH);
            }
        }
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create temp dir")
}

/// Sorted relative paths of everything under `dir`.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            let rel = format!("{rel}{}", n.to_string_lossy());
            let p = dir.join(&n);
            let is_dir = fs::symlink_metadata(&p).unwrap().is_dir();
            out.push(rel.clone());
            if is_dir {
                walk(&p, &format!("{rel}/"), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out
}

/// prepare → write → commit → prepare on it: the child sees the parent's files and writes its own.
pub fn prepare_commit_and_stack(open: Opener<'_>) {
    let dir = tempdir();
    let snap = open(&dir.path().join("root"));
    let m = snap.prepare("a", None, Labels::new()).unwrap();
    assert!(!m.is_empty());
    fs::write(snap.upper_dir("a").unwrap().join("base.txt"), "base").unwrap();
    snap.commit("base", "a").unwrap();
    assert_eq!(snap.stat("a").unwrap_err().kind(), ErrorKind::NotFound);
    let info = snap.stat("base").unwrap();
    assert_eq!((info.kind, info.parent), (Kind::Committed, None));

    let mounts = snap.prepare("work", Some("base"), Labels::new()).unwrap();
    assert_eq!(snap.mounts("work").unwrap(), mounts);
    let target = dir.path().join("mnt");
    fs::create_dir(&target).unwrap();
    {
        let _g = MountGuard::mount(&mounts, &target).unwrap();
        assert_eq!(fs::read_to_string(target.join("base.txt")).unwrap(), "base");
        fs::write(target.join("new.txt"), "new").unwrap();
    }
    assert_eq!(
        fs::read_to_string(snap.upper_dir("work").unwrap().join("new.txt")).unwrap(),
        "new"
    );
    assert_eq!(snap.stat("work").unwrap().parent.as_deref(), Some("base"));
}

/// A view shows the parent read-only and can be neither committed nor written through `upper_dir`.
pub fn view_is_readonly(open: Opener<'_>) {
    let dir = tempdir();
    let snap = open(&dir.path().join("root"));
    snap.prepare("a", None, Labels::new()).unwrap();
    fs::write(snap.upper_dir("a").unwrap().join("f"), "x").unwrap();
    snap.commit("l1", "a").unwrap();
    snap.prepare("b", Some("l1"), Labels::new()).unwrap();
    fs::write(snap.upper_dir("b").unwrap().join("g"), "y").unwrap();
    snap.commit("l2", "b").unwrap();
    for parent in ["l1", "l2"] {
        let key = format!("view-{parent}");
        let mounts = snap.view(&key, Some(parent)).unwrap();
        assert_eq!(snap.stat(&key).unwrap().kind, Kind::View);
        assert_eq!(
            snap.commit("x", &key).unwrap_err().kind(),
            ErrorKind::Conflict
        );
        assert_eq!(
            snap.upper_dir(&key).unwrap_err().kind(),
            ErrorKind::Conflict
        );
        let target = dir.path().join(&key);
        fs::create_dir(&target).unwrap();
        let _g = MountGuard::mount(&mounts, &target).unwrap();
        assert_eq!(fs::read_to_string(target.join("f")).unwrap(), "x");
        assert_eq!(target.join("g").exists(), parent == "l2");
        let err = fs::write(target.join("h"), "z").unwrap_err();
        assert_eq!(
            err.raw_os_error(),
            Some(rustix::io::Errno::ROFS.raw_os_error())
        );
    }
}

/// Duplicate keys, missing or non-committed parents and committing onto a taken name are refused.
pub fn refuses_bad_keys_and_parents(open: Opener<'_>) {
    let dir = tempdir();
    let snap = open(&dir.path().join("root"));
    snap.prepare("a", None, Labels::new()).unwrap();
    assert_eq!(
        snap.prepare("a", None, Labels::new()).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        snap.prepare("b", Some("nope"), Labels::new())
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        snap.prepare("b", Some("a"), Labels::new())
            .unwrap_err()
            .kind(),
        ErrorKind::Conflict
    );
    assert_eq!(
        snap.prepare("", None, Labels::new()).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    snap.prepare("c", None, Labels::new()).unwrap();
    snap.commit("done", "c").unwrap();
    assert_eq!(
        snap.commit("done", "a").unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        snap.stat("a").unwrap().kind,
        Kind::Active,
        "failed commit must keep the key"
    );
    assert_eq!(
        snap.commit("x", "missing").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        snap.mounts("missing").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        snap.usage("missing").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// A parent with children cannot be removed; once the children are gone it can.
pub fn remove_parent_with_children_conflicts(open: Opener<'_>) {
    let dir = tempdir();
    let snap = open(&dir.path().join("root"));
    snap.prepare("a", None, Labels::new()).unwrap();
    snap.commit("p", "a").unwrap();
    snap.prepare("child", Some("p"), Labels::new()).unwrap();
    snap.view("v", Some("p")).unwrap();
    assert_eq!(snap.remove("p").unwrap_err().kind(), ErrorKind::Conflict);
    snap.remove("child").unwrap();
    assert_eq!(snap.remove("p").unwrap_err().kind(), ErrorKind::Conflict);
    snap.remove("v").unwrap();
    snap.remove("p").unwrap();
    assert!(snap.list().unwrap().is_empty());
    assert_eq!(snap.remove("p").unwrap_err().kind(), ErrorKind::NotFound);
}

/// `list` is sorted and carries labels and parents; `stat` agrees with it.
pub fn list_and_stat_report_labels(open: Opener<'_>) {
    let dir = tempdir();
    let snap = open(&dir.path().join("root"));
    let labels = Labels::from([("berth.io/x".to_string(), "1".to_string())]);
    snap.prepare("b", None, labels.clone()).unwrap();
    snap.commit("base", "b").unwrap();
    snap.prepare("a", Some("base"), Labels::new()).unwrap();
    let list = snap.list().unwrap();
    let names: Vec<_> = list.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["a", "base"]);
    assert_eq!(list[1].labels, labels, "labels survive commit");
    assert_eq!(list[0].parent.as_deref(), Some("base"));
    assert_eq!(snap.stat("a").unwrap(), list[0]);
}

/// `usage` counts the layer's own files and inodes.
pub fn usage_counts_own_layer(open: Opener<'_>) {
    let dir = tempdir();
    let snap = open(&dir.path().join("root"));
    snap.prepare("a", None, Labels::new()).unwrap();
    let empty = snap.usage("a").unwrap();
    let upper = snap.upper_dir("a").unwrap();
    fs::write(upper.join("big"), vec![7u8; 64 * 1024]).unwrap();
    fs::hard_link(upper.join("big"), upper.join("big2")).unwrap();
    fs::create_dir(upper.join("d")).unwrap();
    let u = snap.usage("a").unwrap();
    assert_eq!(u.inodes, empty.inodes + 2, "hard link counted once");
    assert!(u.size >= empty.size + 64 * 1024, "{u:?}");
}

/// Everything is still there after the snapshotter is dropped and reopened.
pub fn metadata_survives_reopen(open: Opener<'_>) {
    let dir = tempdir();
    let root = dir.path().join("root");
    let (list, mounts) = {
        let snap = open(&root);
        snap.prepare("a", None, Labels::from([("k".into(), "v".into())]))
            .unwrap();
        fs::write(snap.upper_dir("a").unwrap().join("f"), "x").unwrap();
        snap.commit("base", "a").unwrap();
        snap.prepare("top", Some("base"), Labels::new()).unwrap();
        (snap.list().unwrap(), snap.mounts("top").unwrap())
    };
    let snap = open(&root);
    assert_eq!(snap.list().unwrap(), list);
    assert_eq!(snap.mounts("top").unwrap(), mounts);
    snap.prepare("next", Some("base"), Labels::new()).unwrap();
    assert_ne!(
        snap.upper_dir("next").unwrap(),
        snap.upper_dir("top").unwrap()
    );
}

/// Many threads preparing and committing at once all succeed and all show up.
pub fn concurrent_use_from_threads(open: Opener<'_>) {
    let dir = tempdir();
    let snap = open(&dir.path().join("root"));
    snap.prepare("a", None, Labels::new()).unwrap();
    snap.commit("base", "a").unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let snap = Arc::clone(&snap);
            s.spawn(move || {
                for i in 0..8 {
                    let key = format!("t{t}-{i}");
                    snap.prepare(&key, Some("base"), Labels::new()).unwrap();
                    fs::write(snap.upper_dir(&key).unwrap().join("f"), &key).unwrap();
                    snap.commit(&format!("c-{key}"), &key).unwrap();
                }
            });
        }
    });
    assert_eq!(snap.list().unwrap().len(), 1 + 4 * 8);
}
