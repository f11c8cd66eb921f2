//! `ADD <http(s) URL>` through `berth build` and `docker build`: files come from a tiny HTTP server
//! the test runs on 127.0.0.1 (nothing else is contacted), are not extracted, get mode 0600 and
//! their `Last-Modified` time; `--checksum` is verified; an unreachable URL fails clearly.

mod common;
use common::*;

use sha2::Digest as _;
use std::io::Write;

/// Serves `files` (path → body) on 127.0.0.1; other paths get 404. Each response carries a fixed
/// `Last-Modified`.
fn serve(files: Vec<(&'static str, Vec<u8>)>) -> u16 {
    serve_http(move |path| {
        let body = files.iter().find(|(p, _)| *p == path)?.1.clone();
        Some((body, "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n".to_string()))
    })
}

fn gzipped_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "inside.txt", &b"inside"[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

#[test]
fn add_url_downloads_verifies_and_fails_clearly_with_berth_and_docker() {
    let d = with_busybox();
    let tgz = gzipped_tar();
    let sum = sha256(&tgz);
    let port = serve(vec![("/file.txt", b"hello over http\n".to_vec()), ("/data.tar.gz", tgz.clone())]);
    let ctx = d.dir.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM busybox\nADD http://127.0.0.1:{port}/file.txt /dst/\nADD --checksum={sum} http://127.0.0.1:{port}/data.tar.gz /data.tgz\n\
             CMD stat -c '%a %Y' /dst/file.txt && cat /dst/file.txt && sha256sum /data.tgz && test ! -e /inside.txt && echo not-extracted\n"
        ),
    )
    .unwrap();
    let out = d.berth_ok(&["build", "-t", "addurl:1", ctx.to_str().unwrap()]);
    assert!(out.contains("Successfully tagged addurl:1"), "{out}");
    let run = d.berth_ok(&["run", "--rm", "addurl:1"]);
    let mut lines = run.lines();
    assert_eq!(lines.next(), Some("600 1700000000"), "mode 0600 and Last-Modified as mtime: {run}");
    assert_eq!(lines.next(), Some("hello over http"), "{run}");
    assert_eq!(lines.next().map(|l| format!("sha256:{}", l.split_whitespace().next().unwrap_or(""))), Some(sum.clone()), "not extracted: {run}");
    assert_eq!(lines.next(), Some("not-extracted"), "the archive's entries are not in the image: {run}");
    // Unchanged content: a rebuild comes from the cache (after downloading again).
    let again = d.berth_ok(&["build", "-t", "addurl:1", ctx.to_str().unwrap()]);
    assert_eq!(again.matches("Using cache").count(), 3, "both ADD steps and the CMD, as dockerd's classic builder prints: {again}");

    // The same build through the stock docker CLI (classic builder protocol).
    let out = d.docker_ok(&["build", "-t", "addurl:docker", ctx.to_str().unwrap()]);
    assert!(out.contains("Successfully tagged addurl:docker"), "{out}");
    assert!(d.docker_ok(&["run", "--rm", "addurl:docker"]).starts_with("600 1700000000\nhello over http\n"));

    // A wrong checksum names both digests and leaves no image.
    let wrong = sha256(b"something else");
    std::fs::write(ctx.join("Dockerfile"), format!("FROM busybox\nADD --checksum={wrong} http://127.0.0.1:{port}/data.tar.gz /data.tgz\n")).unwrap();
    let o = d.berth(&["build", "-t", "badsum:1", ctx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&format!("expected {wrong}, got {sum}")), "{}", stderr(&o));
    assert!(d.berth_ok(&["images", "-q", "badsum"]).is_empty());
    let o = d.docker(&["build", "-t", "badsum:docker", ctx.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(format!("{}{}", stdout(&o), stderr(&o)).contains(&format!("expected {wrong}, got {sum}")), "{}", stderr(&o));

    // An HTTP error status and an unreachable host: one clear line each, no image.
    std::fs::write(ctx.join("Dockerfile"), format!("FROM busybox\nADD http://127.0.0.1:{port}/missing /m\n")).unwrap();
    let o = d.berth(&["build", "-t", "missing:1", ctx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&format!("ADD failed: GET http://127.0.0.1:{port}/missing: unexpected status 404 Not Found")), "{}", stderr(&o));
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nADD http://127.0.0.1:1/x /x\n").unwrap();
    let o = d.berth(&["build", "-t", "unreachable:1", ctx.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("ADD failed: GET http://127.0.0.1:1/x: dial tcp 127.0.0.1:1: connect: connection refused"),
        "{}",
        stderr(&o)
    );
    assert!(d.berth_ok(&["images", "-q", "unreachable"]).is_empty());
    let o = d.docker(&["build", "-t", "unreachable:docker", ctx.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("ADD failed: GET http://127.0.0.1:1/x"), "{}", stderr(&o));
    assert!(d.berth_ok(&["images", "-q", "unreachable"]).is_empty());
    // Nothing is left in the download directory.
    let leftovers: Vec<_> = std::fs::read_dir(d.root().join("tmp")).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().starts_with("add-")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
