//! The daemon's own log on stderr: plain text without colour when stderr is a file (as under
//! systemd or `2>daemon.log`), and one JSON object per line with `--log-format json`.

mod common;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs a daemon with `--log-level info` and `extra` flags, its stderr going to a file; imports an
/// image and removes it (which logs), stops the daemon with SIGTERM and returns the log.
fn daemon_log(extra: &[&str]) -> String {
    let dir = tempfile::Builder::new().prefix("berth-test-log-").tempdir().unwrap();
    let net = NetSlot::claim();
    let sock = dir.path().join("berth.sock");
    let log_path = dir.path().join("daemon.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = DaemonArgs::new(&dir.path().join("root"))
        .unix(&sock)
        .net(&net)
        .certs_dir(&dir.path().join("certs.d"))
        .log_level("info")
        .args(extra)
        .command()
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let stop = |child: &mut std::process::Child| {
        terminate(child, Duration::from_secs(10));
    };
    if !wait_unix(&sock, Duration::from_secs(20)) {
        stop(&mut child);
        panic!("daemon did not come up: {}", std::fs::read_to_string(&log_path).unwrap_or_default());
    }
    let host = format!("unix://{}", sock.display());
    let berth = |args: &[&str]| Command::new(BERTH).args(args).env("BERTH_HOST", &host).stdin(Stdio::null()).output().unwrap();
    let imported = berth(&["import", busybox_tarball().to_str().unwrap(), "logtest:1"]);
    let removed = berth(&["rmi", "logtest:1"]);
    stop(&mut child);
    assert!(imported.status.success(), "import: {}", stderr(&imported));
    assert!(removed.status.success(), "rmi: {}", stderr(&removed));
    std::fs::read_to_string(&log_path).unwrap()
}

#[test]
fn text_log_to_a_file_has_no_escape_codes() {
    let log = daemon_log(&[]);
    assert!(log.contains("image registered"), "the import was logged: {log}");
    assert!(!log.contains('\x1b'), "no ANSI escape codes in a log file: {log:?}");
    let line = log.lines().find(|l| l.contains("image registered")).unwrap();
    assert!(line.contains(" INFO ") && line.contains("image.id=sha256:"), "level and fields as plain text: {line}");
}

#[test]
fn json_log_is_one_object_per_line() {
    let log = daemon_log(&["--log-format", "json"]);
    assert!(!log.contains('\x1b'), "{log:?}");
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l:?}"))).collect();
    let registered = lines.iter().find(|v| v["message"] == "image registered").unwrap_or_else(|| panic!("no import line in {log}"));
    assert_eq!(registered["level"], "INFO");
    assert!(registered["image.id"].as_str().unwrap().starts_with("sha256:"), "{registered}");
    assert!(registered["timestamp"].as_str().is_some_and(|t| t.contains('T')), "{registered}");
    assert!(lines.iter().all(|v| v["level"].is_string() && v["message"].is_string() || v["fields"].is_object()), "{log}");
}

#[test]
fn unknown_log_format_is_refused() {
    let o = Command::new(BERTH).args(["daemon", "--log-format", "xml"]).output().unwrap();
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("xml"), "{}", stderr(&o));
}
