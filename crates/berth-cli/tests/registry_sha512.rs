//! sha512 end to end: an image whose manifest, config, layer and diff id are all sha512 digests,
//! pushed to `berth registry`, pulled by `docker pull name@sha512:…` (the stock docker CLI against a
//! Berth daemon), run, then pushed again by the daemon and pulled back.

mod common;

use common::*;
use sha2::{Digest as _, Sha512};
use std::io::Read;

fn sha512(b: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(b)))
}

fn put_blob(port: u16, repo: &str, data: &[u8]) -> String {
    let d = sha512(data);
    let r = request(port, "POST", &format!("/v2/{repo}/blobs/uploads/?digest={d}"), &[], data);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.as_str()));
    d
}

#[test]
fn docker_pulls_runs_and_pushes_an_image_named_by_sha512_digests() {
    let reg = Registry::start();
    let port = reg.port;
    let layer = std::fs::read(busybox_tarball()).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&layer[..]).read_to_end(&mut tar).unwrap();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": [sha512(&tar)] },
    })
    .to_string();
    let layer_d = put_blob(port, "sha/busybox", &layer);
    let config_d = put_blob(port, "sha/busybox", config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d, "size": config.len() },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_d, "size": layer.len() }],
    })
    .to_string();
    let md = sha512(manifest.as_bytes());
    let ct = [("Content-Type", "application/vnd.oci.image.manifest.v1+json")];
    let r = request(port, "PUT", &format!("/v2/sha/busybox/manifests/{md}"), &ct, manifest.as_bytes());
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("Docker-Content-Digest"), Some(md.as_str()));
    // A sha512 digest that does not match the manifest is refused, as a sha256 one is.
    let wrong = sha512(b"other");
    let r = request(port, "PUT", &format!("/v2/sha/busybox/manifests/{wrong}"), &ct, manifest.as_bytes());
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("DIGEST_INVALID"), "{}", r.text());

    let d = Daemon::start();
    let by_digest = format!("{}/sha/busybox@{md}", reg.addr);
    let out = d.docker_ok(&["pull", &by_digest]);
    assert!(out.contains(&format!("Digest: {md}")), "{out}");
    let out = d.docker_ok(&["run", "--rm", &by_digest, "echo", "sha512-ok"]);
    assert_eq!(out.trim(), "sha512-ok");
    let out = d.docker_ok(&["images", "--digests", "--format", "{{.Repository}} {{.Digest}}"]);
    assert!(out.contains(&format!("{}/sha/busybox {md}", reg.addr)), "{out}");
    // A layer whose bytes do not match its sha512 digest is refused by the registry at upload.
    let r = request(port, "POST", &format!("/v2/sha/busybox/blobs/uploads/?digest={}", sha512(b"x")), &[], b"y");
    assert_eq!(r.status, 400, "{}", r.text());

    // The daemon pushes the image it pulled by sha512 to another repository, and pulls it back.
    let copy = format!("{}/sha/copy:v1", reg.addr);
    d.docker_ok(&["tag", &by_digest, &copy]);
    let out = d.docker_ok(&["push", &copy]);
    assert!(out.contains("v1: digest: sha256:"), "{out}");
    // Removing the last tag removes the image and its digest references (moby's rule).
    let out = d.docker_ok(&["rmi", &copy]);
    assert!(out.contains(&format!("Untagged: {by_digest}")), "{out}");
    let out = d.docker_ok(&["run", "--rm", &copy, "cat", "/etc/hostname"]);
    assert!(!out.trim().is_empty(), "{out}");
    let m = request(port, "GET", "/v2/sha/copy/manifests/v1", &[("Accept", "application/vnd.docker.distribution.manifest.v2+json")], b"");
    assert_eq!(m.status, 200, "{}", m.text());
}
