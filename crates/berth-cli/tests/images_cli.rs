//! Image management through Berth's own CLI, end to end against a real daemon.

mod common;
use common::*;

#[test]
fn import_list_inspect_tag_history_rmi() {
    let d = Daemon::start();
    let bb = busybox_tarball();
    let id = d.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", "-c", "ENV A=1", "-m", "base", bb.to_str().unwrap(), "busybox:latest"]);
    let id = id.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    let out = d.berth_ok(&["images"]);
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap().split_whitespace().collect::<Vec<_>>(), ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]);
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["busybox", "latest", &id[7..19]]);
    assert!(out.contains("MB"), "size column in Docker units: {out}");

    let cmd = d.berth_ok(&["image", "inspect", "--format", "{{json .Config.Cmd}} {{.Comment}} {{index .Config.Env 0}}", "busybox"]);
    assert_eq!(cmd.trim(), "[\"/bin/sh\"] base A=1");
    let full: serde_json::Value = serde_json::from_str(&d.berth_ok(&["inspect", "busybox"])).unwrap();
    assert_eq!(full[0]["Id"], id);
    assert_eq!(full[0]["RepoTags"][0], "busybox:latest");
    assert_eq!(full[0]["Os"], "linux");
    assert_eq!(full[0]["RootFS"]["Layers"].as_array().unwrap().len(), 1);

    d.berth_ok(&["tag", "busybox", "127.0.0.1:5000/team/app:1"]);
    let tags = d.berth_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut tags: Vec<&str> = tags.lines().collect();
    tags.sort();
    assert_eq!(tags, ["127.0.0.1:5000/team/app:1", "busybox:latest"]);
    assert_eq!(d.berth_ok(&["images", "-q"]).lines().count(), 2);
    assert_eq!(d.berth_ok(&["images", "busybox", "-q"]).trim(), &id[7..19]);
    let json_line = d.berth_ok(&["images", "--format", "{{json .}}", "--filter", "reference=busybox"]);
    let v: serde_json::Value = serde_json::from_str(json_line.trim()).unwrap();
    assert_eq!(v["Repository"], "busybox");

    let hist = d.berth_ok(&["history", "busybox"]);
    assert!(hist.starts_with("IMAGE") && hist.contains(&id[7..19]) && hist.contains("base"), "{hist}");

    // A tag shared with another name: rmi by name only untags.
    let out = d.berth_ok(&["rmi", "127.0.0.1:5000/team/app:1"]);
    assert_eq!(out.trim(), "Untagged: 127.0.0.1:5000/team/app:1");
    let out = d.berth_ok(&["rmi", "busybox"]);
    assert!(out.contains("Untagged: busybox:latest") && out.contains(&format!("Deleted: {id}")), "{out}");
    assert_eq!(d.berth_ok(&["images", "-q"]), "");
    assert_eq!(blob_count(&d.root()), 0, "config and layer blobs must be deleted with the image");

    let o = d.berth(&["rmi", "busybox"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim(), "Error response from daemon: No such image: busybox:latest");
}

#[test]
fn rmi_by_id_with_two_repositories_needs_force() {
    let d = Daemon::start();
    let tar = tiny_rootfs(d.dir.path(), "force");
    let id = d.berth_ok(&["import", tar.to_str().unwrap(), "one:1"]).trim().to_string();
    d.berth_ok(&["tag", "one:1", "two:1"]);
    let o = d.berth(&["rmi", &id[7..19]]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("must be forced") && stderr(&o).contains("multiple repositories"), "{}", stderr(&o));
    let out = d.berth_ok(&["rmi", "-f", &id[7..19]]);
    assert!(out.contains("Untagged: one:1") && out.contains("Untagged: two:1") && out.contains("Deleted:"), "{out}");
}

#[test]
fn save_load_round_trip_keeps_id_tags_and_content() {
    let d = Daemon::start();
    let bb = busybox_tarball();
    let id = d.berth_ok(&["import", bb.to_str().unwrap(), "bb:1"]).trim().to_string();
    d.berth_ok(&["tag", "bb:1", "bb:2"]);
    let archive = d.dir.path().join("bb.tar");
    d.berth_ok(&["save", "-o", archive.to_str().unwrap(), "bb"]);
    let listing = std::process::Command::new("tar").arg("tf").arg(&archive).output().unwrap();
    let listing = stdout(&listing);
    for f in ["manifest.json", "index.json", "oci-layout", &format!("blobs/sha256/{}", &id[7..])] {
        assert!(listing.lines().any(|l| l == f), "{f} missing from archive: {listing}");
    }
    let other = Daemon::start();
    let out = other.berth_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: bb:1") && out.contains("Loaded image: bb:2"), "{out}");
    let inspected = other.berth_ok(&["image", "inspect", "--format", "{{.Id}}", "bb:2"]);
    assert_eq!(inspected.trim(), id);
    // Loading the same archive again is idempotent.
    other.berth_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(other.berth_ok(&["images", "-q"]).lines().count(), 2);
}

#[test]
fn hostile_or_truncated_archives_are_refused_and_leave_nothing() {
    let d = Daemon::start();
    // A layer that writes through `..`.
    let evil = d.dir.path().join("evil.tar");
    {
        let mut raw = Vec::new();
        let mut h = tar::Header::new_old();
        let name = b"../../../../tmp/berth-pwned";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_size(1);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        raw.extend_from_slice(h.as_bytes());
        raw.extend_from_slice(&[b'x'; 512]);
        raw.extend_from_slice(&[0; 1024]);
        std::fs::write(&evil, raw).unwrap();
    }
    let o = d.berth(&["import", evil.to_str().unwrap(), "evil:1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("refusing archive entry"), "{}", stderr(&o));
    // A truncated gzip stream.
    let bb = std::fs::read(busybox_tarball()).unwrap();
    let cut = d.dir.path().join("cut.tgz");
    std::fs::write(&cut, &bb[..bb.len() / 2]).unwrap();
    let o = d.berth(&["import", cut.to_str().unwrap(), "cut:1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    // A load archive whose manifest points at a missing layer.
    let bad = d.dir.path().join("bad-load.tar");
    {
        let f = std::fs::File::create(&bad).unwrap();
        let mut b = tar::Builder::new(f);
        let m = br#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l/layer.tar"]}]"#;
        let c = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}}"#;
        for (n, data) in [("manifest.json", &m[..]), ("c.json", &c[..])] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, n, data).unwrap();
        }
        b.into_inner().unwrap();
    }
    let o = d.berth(&["load", "-i", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
    assert_eq!(d.berth_ok(&["images", "-q", "-a"]), "");
    assert_eq!(blob_count(&d.root()), 0, "nothing half-imported may remain");
    assert!(!std::path::Path::new("/tmp/berth-pwned").exists());
}

#[test]
fn import_accepts_every_compression_and_stdin() {
    let d = Daemon::start();
    let plain = tiny_rootfs(d.dir.path(), "comp");
    let data = std::fs::read(&plain).unwrap();
    let mut ids = Vec::new();
    for (name, tool) in [("x.tar.gz", "gzip"), ("x.tar.bz2", "bzip2"), ("x.tar.xz", "xz"), ("x.tar.zst", "zstd")] {
        let out = std::process::Command::new(tool).arg("-c").arg(&plain).output();
        let Ok(out) = out else { panic!("{tool} must be installed (.ci/run installs it)") };
        let p = d.dir.path().join(name);
        std::fs::write(&p, &out.stdout).unwrap();
        let id = d.berth_ok(&["import", p.to_str().unwrap()]).trim().to_string();
        let layers = d.berth_ok(&["image", "inspect", "--format", "{{index .RootFS.Layers 0}}", &id]);
        ids.push(layers.trim().to_string());
    }
    // Through stdin.
    let mut child = std::process::Command::new(BERTH)
        .args(["import", "-", "stdin:1"])
        .env("BERTH_HOST", d.host())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&data).unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let layer = d.berth_ok(&["image", "inspect", "--format", "{{index .RootFS.Layers 0}}", "stdin:1"]);
    ids.push(layer.trim().to_string());
    let expect = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&data)));
    assert!(ids.iter().all(|i| *i == expect), "every compression yields the same diff id: {ids:?}");
}

#[test]
fn prune_removes_only_dangling_images() {
    let d = Daemon::start();
    let a = tiny_rootfs(d.dir.path(), "a");
    let b = tiny_rootfs(d.dir.path(), "b");
    d.berth_ok(&["import", a.to_str().unwrap(), "keep:1"]);
    let dangling = d.berth_ok(&["import", b.to_str().unwrap()]).trim().to_string();
    assert_eq!(d.berth_ok(&["images", "--filter", "dangling=true", "-q"]).trim(), &dangling[7..19]);
    let out = d.berth_ok(&["image", "prune", "-f"]);
    assert!(out.contains(&format!("deleted: {dangling}")) && out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.berth_ok(&["images", "--format", "{{.Repository}}"]).trim(), "keep");
}

#[test]
fn events_report_image_actions_with_filters() {
    let d = Daemon::start();
    let tar = tiny_rootfs(d.dir.path(), "ev");
    d.berth_ok(&["import", tar.to_str().unwrap(), "ev:1"]);
    d.berth_ok(&["tag", "ev:1", "ev:2"]);
    d.berth_ok(&["rmi", "ev:2"]);
    let out = d.berth_ok(&["events", "--since", "1h", "--until", "0s", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"]);
    // dockerd names an untag event by the image's id, not the removed tag.
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["image import ev:1", "image tag ev:2"], "{out}");
    assert!(lines.len() == 3 && lines[2].starts_with("image untag sha256:"), "{out}");
    let out = d.berth_ok(&["events", "--since", "1h", "--until", "0s", "--filter", "event=tag", "--format", "{{.Action}}"]);
    assert_eq!(out.trim(), "tag");
}

/// `save -o` into a device or a pipe writes into it, as docker does; it never replaces it with a
/// regular file (a rename over `/dev/null` once turned the machine's into one).
#[test]
fn save_into_a_device_writes_through_it() {
    use std::os::unix::fs::FileTypeExt;
    let d = with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let null = dir.path().join("null");
    let made = std::process::Command::new("mknod").arg("-m").arg("666").arg(&null).args(["c", "1", "3"]).status().unwrap();
    assert!(made.success());
    d.berth_ok(&["save", "-o", null.to_str().unwrap(), "busybox"]);
    assert!(std::fs::metadata(&null).unwrap().file_type().is_char_device(), "the device is still a device");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left beside it");
    // A regular file still gets the whole archive.
    let file = dir.path().join("bb.tar");
    d.berth_ok(&["save", "-o", file.to_str().unwrap(), "busybox"]);
    assert!(std::fs::metadata(&file).unwrap().len() > 1 << 20);
}
