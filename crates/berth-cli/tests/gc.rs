//! Garbage collection through the CLI against a real daemon: after build, push, rmi, an
//! interrupted pull (daemon SIGKILLed mid-pull), pull, run, rmi and the prunes, the data root is
//! back to its size before; orphaned container directories and interrupted unpacks are reaped at
//! start-up.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// `du -s -B1`: the allocated bytes of everything under `p`, nothing excluded.
fn du(p: &Path) -> i64 {
    let o = std::process::Command::new("du").args(["-s", "-B1"]).arg(p).output().unwrap();
    assert!(o.status.success(), "du: {}", stderr(&o));
    stdout(&o).split_whitespace().next().unwrap().parse().unwrap()
}

fn listing(p: &Path) -> String {
    let o = std::process::Command::new("find").arg(p).args(["-printf", "%k KiB %p\n"]).output().unwrap();
    stdout(&o)
}

/// The snapshotter's metadata as it stands: the checkpoint (`metadata.json`) with the journal's
/// later changes applied (one JSON line each: `seq`, `next_id`, `changes` of `put`/`delete`).
fn snapshot_metadata(root: &Path) -> serde_json::Value {
    let mut md: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join("snapshots/metadata.json")).unwrap()).unwrap();
    let journal = std::fs::read_to_string(root.join("snapshots/metadata.journal")).unwrap_or_default();
    for line in journal.lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        if e["seq"].as_u64() <= md["journal_seq"].as_u64() {
            continue;
        }
        md["journal_seq"] = e["seq"].clone();
        md["next_id"] = md["next_id"].as_u64().unwrap().max(e["next_id"].as_u64().unwrap()).into();
        for c in e["changes"].as_array().unwrap() {
            let key = c["key"].as_str().unwrap();
            let snaps = md["snapshots"].as_object_mut().unwrap();
            match c["op"].as_str().unwrap() {
                "put" => snaps.insert(key.to_string(), c["record"].clone()),
                _ => snaps.remove(key),
            };
        }
    }
    md
}

fn snapshot_count(root: &Path) -> usize {
    snapshot_metadata(root)["snapshots"].as_object().unwrap().len()
}

fn write_context(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    // A stage the final image does not use (its layer stays only in the build cache), a 40 MB
    // layer, and a small one on top of it.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox AS scratchpad\nRUN head -c 3000000 /dev/urandom > /junk\n\
         FROM busybox\nCOPY --from=scratchpad /junk /junk-size-check\nRUN head -c 40000000 /dev/urandom > /big\nRUN echo small > /small\n",
    )
    .unwrap();
}

/// Starts `berth pull` and SIGKILLs the daemon once the layer is streaming into the content store.
/// Returns whether the pull was really interrupted (the image is absent after the restart).
fn interrupted_pull(d: &mut Daemon, name: &str) -> bool {
    let mut pull = std::process::Command::new(BERTH)
        .args(["pull", name])
        .env("BERTH_HOST", d.host())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ingest = d.root().join("content/ingest");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut streaming = false;
    while Instant::now() < deadline && !streaming {
        streaming = std::fs::read_dir(&ingest)
            .map(|rd| rd.flatten().any(|e| e.metadata().map(|m| m.len() > 1_000_000).unwrap_or(false)))
            .unwrap_or(false);
        if pull.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    d.kill9();
    let _ = pull.wait();
    d.restart();
    !d.berth(&["image", "inspect", name]).status.success()
}

#[test]
fn data_root_returns_to_its_size_after_build_push_interrupted_pull_run_and_prunes() {
    let reg = Registry::start();
    let mut d = Daemon::start();
    let root = d.root();
    let before = du(&root);
    let before_listing = listing(&root);

    d.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    let ctx = d.dir.path().join("ctx");
    write_context(&ctx);
    let name = format!("127.0.0.1:{}/gc/big:1", reg.port);
    d.berth_ok(&["build", "-q", "-t", &name, ctx.to_str().unwrap()]);
    d.berth_ok(&["push", &name]);
    d.berth_ok(&["rmi", &name]);
    // The build cache holds the layers too; without it the pull has to download them.
    let out = d.berth_ok(&["builder", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    // The 40 MB layer's blob, its gzip form and its snapshot went: at least 120 MB.
    let reclaimed: f64 = out.lines().find_map(|l| l.strip_prefix("Total reclaimed space: ")).and_then(|v| v.strip_suffix("MB")).unwrap().parse().unwrap();
    assert!(reclaimed >= 120.0, "{out}");
    // Left: busybox (config, layer, the gzip form push made) and the first stage's step image
    // (dangling, as with dockerd's classic builder); nothing of the 40 MB layer.
    let big = std::fs::read_dir(root.join("content/blobs/sha256")).unwrap().flatten().filter(|e| e.metadata().unwrap().len() > 10_000_000).count();
    assert_eq!(big, 0, "the 40 MB layer is still stored:\n{}", listing(&root.join("content")));

    // Kill the daemon mid-pull; if a pull ever finishes before the kill lands, remove and retry.
    let mut interrupted = false;
    for _ in 0..5 {
        if interrupted_pull(&mut d, &name) {
            interrupted = true;
            break;
        }
        d.berth_ok(&["rmi", &name]);
    }
    assert!(interrupted, "no pull was interrupted by the SIGKILL");
    assert!(std::fs::read_dir(root.join("content/ingest")).unwrap().next().is_none(), "partial download left in ingest/");

    d.berth_ok(&["pull", &name]);
    assert_eq!(d.berth_ok(&["run", "--rm", &name, "cat", "/small"]).trim(), "small");
    d.berth_ok(&["rmi", &name]);
    d.berth_ok(&["image", "prune", "-a", "-f"]);
    d.berth_ok(&["builder", "prune", "-a", "-f"]);

    assert_eq!(blob_count(&root), 0, "blobs left:\n{}", listing(&root.join("content")));
    assert_eq!(snapshot_count(&root), 0, "snapshots left");
    let after = du(&root);
    eprintln!("data root: {before} bytes before, {after} bytes after");
    // What may remain is metadata written on first use (images.json, the snapshots' and the build
    // cache's index, the registry client's blob index: one 4 KiB block each), the build cache's
    // directory and its scratch directory (4 KiB each) and the compiled seccomp filter cache (8 KiB).
    assert!(
        (after - before).abs() <= 32 * 1024,
        "data root was {before} bytes before and is {after} after\nbefore:\n{before_listing}\nafter:\n{}",
        listing(&root)
    );
}

#[test]
fn startup_reaps_orphaned_container_dirs_and_interrupted_unpacks() {
    let mut d = with_busybox();
    let root = d.root();
    let id = d.berth_ok(&["create", "busybox", "true"]).trim().to_string();
    d.stop();
    // A create that died before writing its record, with its snapshot prepared.
    let orphan = root.join("containers").join("f".repeat(64));
    std::fs::create_dir_all(orphan.join("rootfs")).unwrap();
    std::fs::write(orphan.join("hosts"), "127.0.0.1 localhost\n").unwrap();
    // An unpack that died mid-layer: an active snapshot on the image's chain, labelled, with files.
    let md_path = root.join("snapshots/metadata.json");
    let mut md = snapshot_metadata(&root);
    let next = md["next_id"].as_u64().unwrap();
    let (parent, created) = {
        let (name, rec) = md["snapshots"].as_object().unwrap().iter().find(|(_, r)| r["kind"] == "committed").unwrap();
        (name.clone(), rec["created"].clone())
    };
    md["snapshots"]["extract-0123456789ab-sha256:feed"] = serde_json::json!({
        "id": next, "kind": "active", "parent": parent, "created": created, "labels": {"berth.io/unpacking": "sha256:feed"}
    });
    md["next_id"] = serde_json::json!(next + 1);
    let sdir = root.join("snapshots/snapshots").join(next.to_string());
    std::fs::create_dir_all(sdir.join("fs/usr")).unwrap();
    std::fs::create_dir_all(sdir.join("work")).unwrap();
    std::fs::write(sdir.join("fs/usr/half-written"), vec![0u8; 100_000]).unwrap();
    // Written as a checkpoint that includes the journal (which is then emptied).
    std::fs::write(&md_path, serde_json::to_vec(&md).unwrap()).unwrap();
    std::fs::write(root.join("snapshots/metadata.journal"), "").unwrap();
    d.restart();
    assert!(!sdir.exists(), "interrupted unpack's snapshot kept");
    let md = snapshot_metadata(&root);
    assert!(md["snapshots"].get("extract-0123456789ab-sha256:feed").is_none());
    assert!(!orphan.exists(), "orphaned container directory kept");
    assert!(root.join("containers").join(&id).join("container.json").exists(), "a real container was reaped");
    assert!(d.berth_ok(&["ps", "-a", "--no-trunc", "-q"]).contains(&id));
    d.berth_ok(&["rm", &id]);
    // The container's snapshot went with it; the image's stay.
    let n = snapshot_count(&root);
    d.berth_ok(&["rmi", "busybox"]);
    assert!(snapshot_count(&root) < n || n == 0);
    assert_eq!(snapshot_count(&root), 0);
    assert_eq!(blob_count(&root), 0);
}
