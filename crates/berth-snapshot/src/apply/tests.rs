use super::*;
use crate::test_support::{LayerTar, Owner, MTIME};
use crate::testsuite::MountGuard;
use crate::Mount;
use berth_types::error::HasKind;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use tar::EntryType;

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf[..]).ok()?;
    buf.truncate(n);
    Some(buf)
}

/// Type, owner, mode, mtime, size, content, device, link target and xattrs of every node, with
/// hard links shown as such, to compare trees.
fn describe(root: &Path) -> Vec<String> {
    let mut inodes = std::collections::HashMap::new();
    crate::testsuite::tree(root)
        .into_iter()
        .map(|rel| {
            let p = root.join(&rel);
            let m = fs::symlink_metadata(&p).unwrap();
            let ft = m.file_type();
            let what = if ft.is_symlink() {
                format!("symlink->{}", fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                match inodes.get(&m.ino()) {
                    Some(first) => format!("hardlink->{first}"),
                    None => {
                        inodes.insert(m.ino(), rel.clone());
                        format!("file:{}", String::from_utf8_lossy(&fs::read(&p).unwrap()))
                    }
                }
            } else if ft.is_char_device() {
                format!(
                    "char:{}:{}",
                    rustix::fs::major(m.rdev()),
                    rustix::fs::minor(m.rdev())
                )
            } else {
                format!("{:?}", ft).chars().take(24).collect()
            };
            let opaque = if ft.is_dir() {
                xattr(&p, OPAQUE_XATTR)
            } else {
                None
            };
            let user = if ft.is_file() {
                xattr(&p, "user.test")
            } else {
                None
            };
            format!(
                "{rel} {what} uid={} gid={} mode={:o} mtime={} opaque={opaque:?} user={user:?}",
                m.uid(),
                m.gid(),
                m.mode() & 0o7777,
                m.mtime()
            )
        })
        .collect()
}

fn full_layer() -> Vec<u8> {
    LayerTar::new()
        .dir("usr/", 0o755)
        .dir("usr/bin/", 0o755)
        .raw(
            "usr/bin/su",
            EntryType::Regular,
            Owner::root(0o4755),
            None,
            b"su-binary",
            &[],
        )
        .hardlink("usr/bin/su2", "usr/bin/su")
        .symlink("usr/bin/sh", "/bin/bash")
        .raw(
            "home/u/f",
            EntryType::Regular,
            Owner {
                uid: 1000,
                gid: 1000,
                mode: 0o640,
            },
            None,
            b"data",
            &[("user.test", b"v"), ("trusted.overlay.opaque", b"y")],
        )
        .device("dev/null", EntryType::Char, 1, 3, 0o666)
        .device("run/fifo", EntryType::Fifo, 0, 0, 0o600)
        .dir("tmp/", 0o1777)
        .bytes()
}

#[test]
fn apply_keeps_modes_owners_links_devices_and_xattrs() {
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path();
    let stats = apply_layer(upper, full_layer().as_slice()).unwrap();
    assert_eq!(
        stats,
        ApplyStats {
            entries: 9,
            bytes: 13,
            whiteouts: 0
        }
    );

    let su = fs::metadata(upper.join("usr/bin/su")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!(su.mtime(), MTIME as i64);
    assert_eq!(fs::read(upper.join("usr/bin/su")).unwrap(), b"su-binary");
    assert_eq!(
        fs::metadata(upper.join("usr/bin/su2")).unwrap().ino(),
        su.ino()
    );
    assert_eq!(
        fs::read_link(upper.join("usr/bin/sh")).unwrap(),
        Path::new("/bin/bash")
    );
    let f = fs::metadata(upper.join("home/u/f")).unwrap();
    assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (1000, 1000, 0o640));
    assert_eq!(
        xattr(&upper.join("home/u/f"), "user.test").as_deref(),
        Some(&b"v"[..])
    );
    assert_eq!(
        xattr(&upper.join("home/u/f"), OPAQUE_XATTR),
        None,
        "overlay xattrs from the tar are dropped"
    );
    let null = fs::symlink_metadata(upper.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (
            rustix::fs::major(null.rdev()),
            rustix::fs::minor(null.rdev())
        ),
        (1, 3)
    );
    assert_eq!(null.mode() & 0o7777, 0o666);
    assert!(fs::symlink_metadata(upper.join("run/fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        fs::metadata(upper.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        fs::metadata(upper.join("usr/bin")).unwrap().mtime(),
        MTIME as i64,
        "dir mtimes set last"
    );
    assert_eq!(
        fs::metadata(upper.join("home")).unwrap().mode() & 0o7777,
        0o755,
        "implied parents"
    );
}

#[test]
fn entries_replace_existing_nodes_and_dirs_merge() {
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path();
    let first = LayerTar::new()
        .file("a", "file")
        .file("d/x", "x")
        .symlink("s", "t")
        .file("m/one", "1")
        .bytes();
    apply_layer(upper, first.as_slice()).unwrap();
    let second = LayerTar::new()
        .file(".wh..wh.plnk/12", "aufs")
        .file("old-style-dir/", "")
        .dir("a/", 0o755)
        .file("d", "now a file")
        .file("s", "plain")
        .dir("m/", 0o700)
        .file("m/two", "2")
        .bytes();
    apply_layer(upper, second.as_slice()).unwrap();
    assert!(fs::symlink_metadata(upper.join("a")).unwrap().is_dir());
    assert!(
        !upper.join(".wh..wh.plnk").exists(),
        "aufs metadata skipped"
    );
    assert!(fs::symlink_metadata(upper.join("old-style-dir"))
        .unwrap()
        .is_dir());
    assert_eq!(fs::read_to_string(upper.join("d")).unwrap(), "now a file");
    assert_eq!(fs::read_to_string(upper.join("s")).unwrap(), "plain");
    assert!(
        !upper.join("t").exists(),
        "replacing a symlink must not write through it"
    );
    assert!(upper.join("m/one").exists() && upper.join("m/two").exists());
    assert_eq!(
        fs::metadata(upper.join("m")).unwrap().mode() & 0o7777,
        0o700
    );
}

#[test]
fn a_directory_entry_replaces_a_symlink_instead_of_following_it() {
    let dir = tempfile::tempdir().unwrap();
    let [upper, outside] = ["upper", "outside"].map(|n| dir.path().join(n));
    fs::create_dir(&upper).unwrap();
    fs::create_dir(&outside).unwrap();
    apply_layer(
        &upper,
        LayerTar::new()
            .symlink("d", "../outside")
            .bytes()
            .as_slice(),
    )
    .unwrap();
    let layer = LayerTar::new().dir("d/", 0o755).file("d/f", "in").bytes();
    apply_layer(&upper, layer.as_slice()).unwrap();
    assert!(fs::symlink_metadata(upper.join("d")).unwrap().is_dir());
    assert_eq!(fs::read_to_string(upper.join("d/f")).unwrap(), "in");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

fn whiteout_layers() -> (Vec<u8>, Vec<u8>) {
    let lower = LayerTar::new()
        .file("a/x", "x")
        .file("a/keep", "k")
        .file("b/y", "y")
        .bytes();
    let upper = LayerTar::new()
        .file("a/.wh.x", "")
        .dir("b/", 0o755)
        .file("b/.wh..wh..opq", "")
        .file("b/z", "z")
        .bytes();
    (lower, upper)
}

#[test]
fn whiteouts_and_opaque_dirs_hide_lower_files_in_the_merged_view() {
    let dir = tempfile::tempdir().unwrap();
    let [lower, upper, work, mnt] = ["lower", "upper", "work", "mnt"].map(|n| dir.path().join(n));
    for d in [&lower, &upper, &work, &mnt] {
        fs::create_dir(d).unwrap();
    }
    let (lower_tar, upper_tar) = whiteout_layers();
    apply_layer(&lower, lower_tar.as_slice()).unwrap();
    let stats = apply_layer(&upper, upper_tar.as_slice()).unwrap();
    assert_eq!(stats.whiteouts, 2);
    let wh = fs::symlink_metadata(upper.join("a/x")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert_eq!(
        xattr(&upper.join("b"), OPAQUE_XATTR).as_deref(),
        Some(&b"y"[..])
    );

    let m = Mount::overlay(std::slice::from_ref(&lower), Some((&upper, &work)));
    let _g = MountGuard::mount(&[m], &mnt).unwrap();
    assert_eq!(crate::testsuite::tree(&mnt), ["a", "a/keep", "b", "b/z"]);
}

/// Each hostile layer is refused and nothing appears outside the upper directory.
#[test]
fn hostile_layers_are_refused_without_writing_outside() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let out = outside.to_str().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", LayerTar::new().file("../evil", "x").bytes()),
        (
            "deep dotdot",
            LayerTar::new()
                .file("up/../../../outside/evil", "x")
                .bytes(),
        ),
        (
            "absolute",
            LayerTar::new().file(&format!("{out}/abs"), "x").bytes(),
        ),
        (
            "nested dotdot",
            LayerTar::new().file("a/../../evil", "x").bytes(),
        ),
        (
            "symlink abs",
            LayerTar::new()
                .symlink("a", out)
                .file("a/pwned", "x")
                .bytes(),
        ),
        (
            "symlink up",
            LayerTar::new()
                .symlink("b", "../../..")
                .file("b/pwned", "x")
                .bytes(),
        ),
        (
            "symlink rel",
            LayerTar::new()
                .symlink("c", "../outside")
                .file("c/pwned", "x")
                .bytes(),
        ),
        (
            "symlink dir entry",
            LayerTar::new()
                .symlink("d", "../outside")
                .dir("d/sub/", 0o755)
                .bytes(),
        ),
        (
            "symlink whiteout",
            LayerTar::new()
                .symlink("e", "../outside")
                .file("e/.wh.victim", "")
                .bytes(),
        ),
        (
            "symlink opaque",
            LayerTar::new()
                .symlink("f", "../outside")
                .file("f/.wh..wh..opq", "")
                .bytes(),
        ),
        (
            "hardlink abs",
            LayerTar::new().hardlink("h", "/etc/passwd").bytes(),
        ),
        (
            "hardlink up",
            LayerTar::new().hardlink("h", "../../x").bytes(),
        ),
        (
            "hardlink via symlink",
            LayerTar::new()
                .symlink("s", out)
                .hardlink("h", "s/x")
                .bytes(),
        ),
        (
            "hardlinked symlink",
            LayerTar::new()
                .symlink("s", out)
                .hardlink("h", "s")
                .file("h/pwned", "x")
                .bytes(),
        ),
        (
            "whiteout dotdot",
            LayerTar::new().file(".wh...", "").bytes(),
        ),
    ];
    fs::write(dir.path().join("x"), "victim").unwrap();
    for (name, layer) in cases {
        let upper = dir.path().join(format!("upper-{}", name.replace(' ', "-")));
        fs::create_dir(&upper).unwrap();
        let err = apply_layer(&upper, layer.as_slice()).expect_err(name);
        assert_eq!(
            err.kind(),
            berth_types::ErrorKind::InvalidArgument,
            "{name}: {err}"
        );
        assert!(matches!(err, ApplyError::Unsafe { .. }), "{name}: {err}");
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "{name} wrote outside"
        );
        assert_eq!(
            fs::metadata(dir.path().join("x")).unwrap().nlink(),
            1,
            "{name} linked outside"
        );
    }
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2 + 15,
        "nothing beside the uppers"
    );
}

#[test]
fn write_diff_round_trips_through_apply() {
    let dir = tempfile::tempdir().unwrap();
    let [first, second] = ["first", "second"].map(|n| dir.path().join(n));
    fs::create_dir(&first).unwrap();
    fs::create_dir(&second).unwrap();
    apply_layer(&first, full_layer().as_slice()).unwrap();
    apply_layer(&first, whiteout_layers().1.as_slice()).unwrap();

    // Names and link targets past ustar's 100 bytes take GNU long-name records.
    let long_dir = first.join("l".repeat(90)).join("m".repeat(90));
    fs::create_dir_all(&long_dir).unwrap();
    fs::write(long_dir.join("file"), "long").unwrap();
    std::os::unix::fs::symlink("t".repeat(150), first.join("longlink")).unwrap();
    for p in [first.join("l".repeat(90)), long_dir.clone()] {
        rustix::fs::utimensat(
            rustix::fs::CWD,
            &p,
            &super::times(MTIME),
            rustix::fs::AtFlags::empty(),
        )
        .unwrap();
    }

    let mut diff = Vec::new();
    write_diff(&first, &mut diff).unwrap();
    let mut again = Vec::new();
    write_diff(&first, &mut again).unwrap();
    assert!(diff == again, "write_diff is deterministic");

    let names: Vec<String> = tar::Archive::new(diff.as_slice())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(names.contains(&"a/.wh.x".to_string()), "{names:?}");
    assert!(names.contains(&"b/.wh..wh..opq".to_string()), "{names:?}");
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        names.iter().position(|n| n == "b/.wh..wh..opq"),
        names.iter().position(|n| n == "b").map(|i| i + 1)
    );

    apply_layer(&second, diff.as_slice()).unwrap();
    assert_eq!(describe(&second), describe(&first));
}
