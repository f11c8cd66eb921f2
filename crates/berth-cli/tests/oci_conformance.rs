//! The OCI distribution-spec conformance suite (prebuilt, `tools/oci-conformance/`) against the real
//! `berth registry` command: all four workflows, sha256 and sha512 data, zero failures.

mod common;

use common::Registry;
use std::path::PathBuf;
use std::process::Command;

/// Unpacks the suite into the test target dir once per build (the `.xz` is the checked-in artefact).
fn suite() -> PathBuf {
    let xz = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/oci-conformance/conformance.test.xz"));
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("oci-conformance");
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join(format!("conformance.test.{}", std::process::id()));
    let out = Command::new("xz").arg("-dc").arg(&xz).output().expect("xz (xz-utils) must be installed");
    assert!(out.status.success(), "unpacking {}: {}", xz.display(), String::from_utf8_lossy(&out.stderr));
    std::fs::write(&bin, &out.stdout).unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    bin
}

/// The summary's count for `label` (`Pass`, `FAIL`, …): `  Pass......:   854`.
fn count(out: &str, label: &str) -> Option<u64> {
    let summary = &out[out.find("OCI Conformance Result")?..];
    summary.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix(label)?.strip_prefix('.')?;
        rest.trim_start_matches('.').trim_start_matches(':').trim().parse().ok()
    })
}

#[test]
fn conformance_suite_passes_with_sha256_and_sha512_data() {
    let bin = suite();
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::opts().root(dir.path()).start();
    let results = dir.path().join("report");
    let out = Command::new(&bin)
        .arg("-test.v")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("OCI_ROOT_URL", reg.url())
        .env("OCI_NAMESPACE", "myorg/myrepo")
        .env("OCI_CROSSMOUNT_NAMESPACE", "myorg/other")
        .env("OCI_TEST_PULL", "1")
        .env("OCI_TEST_PUSH", "1")
        .env("OCI_TEST_CONTENT_DISCOVERY", "1")
        .env("OCI_TEST_CONTENT_MANAGEMENT", "1")
        .env("OCI_HIDE_SKIPPED_WORKFLOWS", "0")
        .env("OCI_DELETE_MANIFEST_BEFORE_BLOBS", "0")
        .env("OCI_DEBUG", "0")
        .env("OCI_RESULTS_DIR", &results)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&bin);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let failures: Vec<&str> = text.lines().filter(|l| l.contains("failed test")).take(20).collect();
    let pass = count(&text, "Pass").unwrap_or_else(|| panic!("no summary in the suite's output:\n{text}"));
    let fail = count(&text, "FAIL").unwrap_or_else(|| panic!("no FAIL count:\n{text}"));
    let errors = count(&text, "Error").unwrap_or(0);
    eprintln!("conformance: {pass} passed, {fail} failed, {errors} errors");
    assert_eq!((fail, errors), (0, 0), "conformance failures:\n{}", failures.join("\n"));
    // The suite exercises sha512 data by default: make sure it did, so a silently shrunken run cannot pass.
    assert!(pass >= 800, "only {pass} checks passed:\n{text}");
    assert!(text.contains("sha512"), "the suite ran no sha512 data");
    assert!(out.status.success(), "the suite exited with {}:\n{text}", out.status);
}
