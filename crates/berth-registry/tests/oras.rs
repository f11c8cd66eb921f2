//! Referrers with a real OCI client: oras-py (the ORAS project's Python SDK) pushes two artifacts
//! whose manifests carry a `subject`, one monolithically and one in chunks; the referrers API lists
//! both, filters them by `artifactType`, and oras pulls one back.
//!
//! oras-py comes from PyPI (`scripts/setup.sh` installs it). When `python3` lacks it, the test tries
//! `pip install` itself; only if that fails too does it skip, loudly.

mod common;

use berth_types::Digest;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const ORAS_VERSION: &str = "0.2.43";

/// Pushes the artifacts given on the command line and prints each manifest digest, one per line.
/// argv: registry host:port, repository, subject digest, subject size, then triples of
/// tag, artifact type (the config media type, which is the artifactType when a manifest has none),
/// and "chunked" or "monolithic".
const PUSH: &str = r#"
import json, os, sys
import oras.client, oras.oci
host, repo, sdigest, ssize = sys.argv[1:5]
client = oras.client.OrasClient(hostname=host, insecure=True)
subject = oras.oci.Subject(mediaType="application/vnd.oci.image.manifest.v1+json", digest=sdigest, size=int(ssize))
rest = sys.argv[5:]
for i in range(0, len(rest), 3):
    tag, atype, mode = rest[i:i + 3]
    name = tag + ".txt"
    with open(name, "w") as f:
        f.write("payload of " + tag + "\n")
    with open(tag + ".json", "w") as f:
        json.dump({"kind": tag}, f)
    resp = client.push(
        target=f"{host}/{repo}:{tag}", files=[name + ":application/vnd.example.payload"],
        manifest_config=tag + ".json:" + atype, subject=subject,
        manifest_annotations={"org.example.kind": tag},
        do_chunked=(mode == "chunked"), chunk_size=7, quiet=True,
    )
    print(resp.headers["Docker-Content-Digest"])
"#;

/// Pulls `host/repo:tag` into the current directory and prints the files written.
const PULL: &str = r#"
import sys
import oras.client
host, ref = sys.argv[1:3]
client = oras.client.OrasClient(hostname=host, insecure=True)
for p in client.pull(target=f"{host}/{ref}", outdir="."):
    print(p)
"#;

fn oras_importable() -> bool {
    Command::new("python3").args(["-c", "import oras.client, oras.oci"]).output().is_ok_and(|o| o.status.success())
}

/// Whether oras-py is usable, installing it with pip if needed.
fn ensure_oras() -> bool {
    if oras_importable() {
        return true;
    }
    let pin = format!("oras=={ORAS_VERSION}");
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let _ = Command::new("python3").args(["-m", "pip", "install", "-q"]).args(extra).arg(&pin).status();
        if oras_importable() {
            return true;
        }
    }
    false
}

fn python(dir: &Path, script: &str, args: &[String]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oras-py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn oras_pushes_artifacts_with_a_subject_and_referrers_filter_by_artifact_type() {
    if !berth_types::sched::spawn_blocking(ensure_oras).await.unwrap() {
        eprintln!("\n{0}\nSKIPPED: oras-py (PyPI `oras`) is not installed and `pip install oras=={ORAS_VERSION}` failed;\nrun scripts/setup.sh. The referrers interop test did not run.\n{0}\n", "!".repeat(78));
        return;
    }
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let subject = push_image(&c, &reg.url, "art", "v1", "subject").await;
    let sd = Digest::of(&subject);
    let host = reg.addr.to_string();
    let work = reg.dir.path().join("oras");
    std::fs::create_dir_all(&work).unwrap();
    let argv: Vec<String> = [
        host.as_str(), "art", &sd.to_string(), &subject.len().to_string(),
        "sig", "application/vnd.example.sig", "monolithic",
        "sbom", "application/vnd.example.sbom", "chunked",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let w = work.clone();
    let out = berth_types::sched::spawn_blocking(move || python(&w, PUSH, &argv)).await.unwrap();
    let pushed: Vec<&str> = out.lines().collect();
    assert_eq!(pushed.len(), 2, "{out}");
    let (sig, sbom) = (pushed[0].to_string(), pushed[1].to_string());

    // Both are referrers of the subject, described with their artifact type and annotations.
    let r = c.get(format!("{}/v2/art/referrers/{sd}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    let v: Value = r.json().await.unwrap();
    let mut listed: Vec<(String, String, String)> = v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["mediaType"], OCI_MANIFEST);
            (
                m["digest"].as_str().unwrap().to_string(),
                m["artifactType"].as_str().unwrap().to_string(),
                m["annotations"]["org.example.kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    listed.sort();
    let mut want = vec![
        (sig.clone(), "application/vnd.example.sig".to_string(), "sig".to_string()),
        (sbom.clone(), "application/vnd.example.sbom".to_string(), "sbom".to_string()),
    ];
    want.sort();
    assert_eq!(listed, want);

    // The artifactType filter keeps exactly the matching one and says it was applied.
    for (atype, digest) in [("application/vnd.example.sbom", &sbom), ("application/vnd.example.sig", &sig)] {
        let r = c.get(format!("{}/v2/art/referrers/{sd}?artifactType={atype}", reg.url)).send().await.unwrap();
        assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
        let v: Value = r.json().await.unwrap();
        let ds: Vec<&str> = v["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
        assert_eq!(ds, vec![digest.as_str()], "filter {atype}");
    }
    let r = c.get(format!("{}/v2/art/referrers/{sd}?artifactType=application/vnd.example.none", reg.url)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], serde_json::json!([]));

    // The client reads back what it pushed (the chunked one), by tag.
    let pulled_dir = work.join("pulled");
    std::fs::create_dir_all(&pulled_dir).unwrap();
    let (pd, h) = (pulled_dir.clone(), host.clone());
    let files = berth_types::sched::spawn_blocking(move || python(&pd, PULL, &[h, "art:sbom".into()])).await.unwrap();
    assert!(files.contains("sbom.txt"), "{files}");
    assert_eq!(std::fs::read_to_string(pulled_dir.join("sbom.txt")).unwrap(), "payload of sbom\n");
    reg.stop().await;
}
