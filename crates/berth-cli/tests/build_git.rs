//! Builds from git repositories (`POST /build?remote=<git URL>`, `berth build <git URL>`), as
//! dockerd makes them: the daemon fetches the repository with the host's git, the fragment picks
//! the ref and the context's subdirectory, and a failed fetch is the request's error. The
//! repository is served over git's dumb HTTP protocol by a small server the test runs on 127.0.0.1.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Serves the files under `root` on 127.0.0.1 (`..` refused); other paths get 404.
fn serve_dir(root: PathBuf) -> u16 {
    serve_http(move |path| {
        let body = (!path.contains("..")).then(|| std::fs::read(root.join(path.trim_start_matches('/'))).ok()).flatten()?;
        Some((body, "Content-Type: application/octet-stream\r\n".to_string()))
    })
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository with a tag `v1` (a `sub/` context saying "one") and a later commit on `main`
/// (the top context and `sub/` saying "two"), as a bare copy ready for dumb HTTP.
fn repository(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    git(&src, &["init", "-q"]);
    std::fs::write(
        src.join("sub/Dockerfile"),
        "FROM busybox\nCOPY word /word\nCMD cat /word\n",
    )
    .unwrap();
    std::fs::write(src.join("sub/word"), "one\n").unwrap();
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "one"]);
    git(&src, &["tag", "v1"]);
    std::fs::write(src.join("sub/word"), "two\n").unwrap();
    std::fs::write(
        src.join("Dockerfile"),
        "FROM busybox\nCOPY sub/word /top\nCMD cat /top\n",
    )
    .unwrap();
    git(&src, &["add", "-A"]);
    git(&src, &["commit", "-q", "-m", "two"]);
    let bare = dir.join("www/repo.git");
    git(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            src.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    git(&bare, &["update-server-info"]);
    dir.join("www")
}

#[test]
fn builds_from_a_git_repository_with_ref_and_subdirectory() {
    let d = with_busybox();
    let port = serve_dir(repository(d.dir.path()));
    let url = format!("http://127.0.0.1:{port}/repo.git");
    // The default branch's head, through `berth build URL`.
    d.berth_ok(&["build", "-q", "-t", "g-head", &url]);
    assert_eq!(d.berth_ok(&["run", "--rm", "g-head"]), "two\n");
    // A tag and a subdirectory, from the fragment.
    d.berth_ok(&["build", "-q", "-t", "g-v1", &format!("{url}#v1:sub")]);
    assert_eq!(d.berth_ok(&["run", "--rm", "g-v1"]), "one\n");
    // A branch and a subdirectory, through the API as SDKs send it (no body).
    let q = |remote: &str| {
        format!(
            "/build?t=g-main&remote={}",
            remote
                .replace(':', "%3A")
                .replace('/', "%2F")
                .replace('#', "%23")
        )
    };
    let (status, _, out) = http(&d.sock, "POST", &q(&format!("{url}#main:sub")), b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    assert_eq!(d.berth_ok(&["run", "--rm", "g-main"]), "two\n");
    // Failures are the request's errors, before any build output.
    let (status, _, out) = http(
        &d.sock,
        "POST",
        &q(&format!("http://127.0.0.1:{port}/nosuch.git")),
        b"",
    );
    let msg = String::from_utf8_lossy(&out);
    assert_eq!(status, 500, "{msg}");
    assert!(msg.contains("error fetching"), "{msg}");
    let (status, _, out) = http(&d.sock, "POST", &q(&format!("{url}#main:nosuch")), b"");
    let msg = String::from_utf8_lossy(&out);
    assert_eq!(status, 400, "{msg}");
    assert!(
        msg.contains("Error setting git context, subdirectory nosuch not found"),
        "{msg}"
    );
    let (status, _, out) = http(
        &d.sock,
        "POST",
        &q(&format!("{url}#--upload-pack=touch /tmp/x:sub")),
        b"",
    );
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&out));
    let out = d.berth(&["build", &format!("{url}#nosuchref")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("error fetching"), "{}", stderr(&out));
    // Every checkout is gone once its build is over.
    let left: Vec<_> = std::fs::read_dir(d.root().join("tmp"))
        .map(|r| r.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "scratch directories left: {left:?}");
}
