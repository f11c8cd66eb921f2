//! `berth system check` against a real daemon: a corrupted blob, a deleted layer, a stray snapshot
//! directory, a container directory without a record and a leftover network namespace file are
//! found; `--repair` fixes them but keeps what a running container uses until `--force`; a second
//! check is clean.

mod common;
use common::*;
use std::io::{Seek, SeekFrom, Write};

fn check(d: &Daemon, args: &[&str]) -> (i32, String) {
    let mut a = vec!["system", "check"];
    a.extend_from_slice(args);
    let o = d.berth(&a);
    (o.status.code().unwrap_or(-1), format!("{}{}", stdout(&o), stderr(&o)))
}

fn findings(d: &Daemon, args: &[&str]) -> Vec<serde_json::Value> {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    let (_, out) = check(d, &a);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["Findings"].as_array().unwrap().clone()
}

fn has(f: &[serde_json::Value], kind: &str, id_part: &str, problem_part: &str) -> bool {
    f.iter().any(|x| x["Kind"] == kind && x["Id"].as_str().unwrap().contains(id_part) && x["Problem"].as_str().unwrap().contains(problem_part))
}

#[test]
fn check_finds_damage_and_leftovers_and_repair_fixes_them() {
    let d = with_busybox();
    let root = d.root();
    let (code, out) = check(&d, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No problems found") && out.contains("blobs"), "{out}");

    let tar = tiny_rootfs(d.dir.path(), "check");
    d.berth_ok(&["import", tar.to_str().unwrap(), "tiny:1"]);
    d.berth_ok(&["run", "-d", "--name", "live", "busybox", "sleep", "300"]);

    // Damage: one byte of busybox's layer flipped (same size), tiny's layer deleted.
    let busybox_layer = d.berth_ok(&["image", "inspect", "-f", "{{index .RootFS.Layers 0}}", "busybox"]).trim().trim_start_matches("sha256:").to_string();
    let tiny_layer = d.berth_ok(&["image", "inspect", "-f", "{{index .RootFS.Layers 0}}", "tiny:1"]).trim().trim_start_matches("sha256:").to_string();
    let blob = root.join("content/blobs/sha256").join(&busybox_layer);
    let mut f = std::fs::OpenOptions::new().write(true).open(&blob).unwrap();
    f.seek(SeekFrom::Start(700)).unwrap();
    f.write_all(b"X").unwrap();
    drop(f);
    std::fs::remove_file(root.join("content/blobs/sha256").join(&tiny_layer)).unwrap();
    // Leftovers: a stray snapshot directory, a container directory without a record, a netns file.
    std::fs::create_dir_all(root.join("snapshots/snapshots/9999/fs")).unwrap();
    let orphan = root.join("containers").join("e".repeat(64));
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("hostname"), "x\n").unwrap();
    let netns = root.join("netns").join("d".repeat(64));
    std::fs::write(&netns, b"").unwrap();

    // --quick checks sizes, not digests: it misses the flipped byte but not the missing layer.
    let quick = findings(&d, &["--quick"]);
    assert!(!has(&quick, "blob", &busybox_layer, "hashes to"), "{quick:?}");
    assert!(has(&quick, "image", "", &tiny_layer), "{quick:?}");
    let full = findings(&d, &[]);
    assert!(has(&full, "blob", &busybox_layer, "content hashes to"), "{full:?}");
    assert!(has(&full, "image", "", &format!("layer sha256:{tiny_layer} missing")), "{full:?}");
    assert!(has(&full, "snapshot", "snapshots/9999", "no snapshot record"), "{full:?}");
    assert!(has(&full, "container", &"e".repeat(64), "without a container record"), "{full:?}");
    assert!(has(&full, "netns", &"d".repeat(64), "not running"), "{full:?}");
    let (code, table) = check(&d, &[]);
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("KIND") && table.contains("PROBLEM") && table.contains("content hashes to"), "{table}");

    // Repair without --force keeps what the running container uses.
    let (code, out) = check(&d, &["--repair"]);
    assert_eq!(code, 1, "busybox is used by a running container: {out}");
    assert!(out.contains("use --force"), "{out}");
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.Running}}", "live"]).trim(), "true");
    assert!(!blob.exists() && !orphan.exists() && !netns.exists() && !root.join("snapshots/snapshots/9999").exists());
    assert!(!d.berth(&["image", "inspect", "tiny:1"]).status.success(), "the image with a missing layer is removed");
    let rest = findings(&d, &[]);
    assert!(rest.iter().all(|f| f["Kind"] == "image" && f["Problem"].as_str().unwrap().contains(&busybox_layer)), "{rest:?}");

    // --force: the damaged image goes, and the container that used it.
    let (code, out) = check(&d, &["--repair", "--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(!d.berth(&["inspect", "live"]).status.success());
    let (code, out) = check(&d, &[]);
    assert_eq!((code, out.contains("No problems found")), (0, true), "{out}");
    assert_eq!(blob_count(&root), 0, "every blob was busybox's or tiny's");
}
