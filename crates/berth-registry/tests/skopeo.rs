//! Interoperability with a real client: skopeo copies OCI layouts built here into the registry and
//! back out, plain, as Docker schema 2, multi-arch, and through htpasswd and token auth.
//! skopeo must be installed (`apt-get install skopeo`); a missing skopeo fails these tests loudly.

mod common;

use berth_registry::{AuthConfig, TokenConfig};
use berth_types::Digest;
use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn skopeo_present() {
    let ok = std::process::Command::new("skopeo").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "skopeo is not installed: run `apt-get install -y skopeo` (the interop tests need it)");
}

async fn skopeo(args: Vec<String>) -> Result<String, String> {
    berth_types::sched::spawn_blocking(move || {
        let out = std::process::Command::new("skopeo").arg("--insecure-policy").args(&args).output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("skopeo {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
        }
    })
    .await
    .unwrap()
}

fn args(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout { dir: dir.to_path_buf() }
    }

    fn blob(&self, data: &[u8]) -> Digest {
        let d = Digest::of(data);
        std::fs::write(self.dir.join("blobs/sha256").join(d.hex()), data).unwrap();
        d
    }

    /// An image with one gzip layer holding a few files and `size` bytes of pseudo-random data.
    fn image(&self, arch: &str, size: usize) -> (Vec<u8>, Digest) {
        let mut tar = tar::Builder::new(Vec::new());
        let mut data = vec![0u8; size];
        let mut x: u64 = 0x9e3779b97f4a7c15 ^ size as u64 ^ arch.len() as u64;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        for (name, content) in [("etc/hostname", format!("berth-{arch}\n").into_bytes()), ("data/random.bin", data)] {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, &content[..]).unwrap();
        }
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        let layer = gz.finish().unwrap();
        let config = serde_json::to_vec(&json!({
            "architecture": arch, "os": "linux",
            "rootfs": { "type": "layers", "diff_ids": [Digest::of(&raw).to_string()] },
            "config": { "Cmd": ["/bin/sh"] },
        }))
        .unwrap();
        self.blob(&layer);
        self.blob(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
            "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer)],
        }))
        .unwrap();
        let d = self.blob(&manifest);
        (manifest, d)
    }

    fn index(&self, entries: Vec<(String, Value, Option<Value>)>) {
        let manifests: Vec<Value> = entries
            .into_iter()
            .map(|(mt, desc, ann)| {
                let mut d = desc;
                d["mediaType"] = json!(mt);
                if let Some(a) = ann {
                    d["annotations"] = a;
                }
                d
            })
            .collect();
        let idx = json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
        std::fs::write(self.dir.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    }

    fn tagged_manifest(&self, tag: &str) -> Digest {
        let idx: Value = serde_json::from_slice(&std::fs::read(self.dir.join("index.json")).unwrap()).unwrap();
        let m = idx["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
            .unwrap_or_else(|| panic!("no {tag} in {idx}"));
        m["digest"].as_str().unwrap().parse().unwrap()
    }
}

fn ref_name(tag: &str) -> Option<Value> {
    Some(json!({ "org.opencontainers.image.ref.name": tag }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_an_image_in_and_out() {
    skopeo_present();
    let reg = TestRegistry::start(|_, _| {}).await;
    let work = tempfile::tempdir().unwrap();
    let src = Layout::new(&work.path().join("src"));
    let (m, d) = src.image("amd64", 3 << 20);
    src.index(vec![(OCI_MANIFEST.into(), descriptor(OCI_MANIFEST, &m), ref_name("v1"))]);
    let host = reg.addr.to_string();
    let src_ref = format!("oci:{}:v1", src.dir.display());
    skopeo(args(&["copy", "--dest-tls-verify=false", &src_ref, &format!("docker://{host}/test/busy:v1")])).await.unwrap();
    let raw = skopeo(args(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/test/busy:v1")])).await.unwrap();
    assert_eq!(Digest::of(raw.as_bytes()), d, "the manifest must arrive byte for byte");
    let out = work.path().join("out");
    let out_ref = format!("oci:{}:v1", out.display());
    skopeo(args(&["copy", "--src-tls-verify=false", &format!("docker://{host}/test/busy:v1"), &out_ref])).await.unwrap();
    let back = Layout { dir: out };
    assert_eq!(back.tagged_manifest("v1"), d);
    // As a Docker schema 2 image too.
    skopeo(args(&[
        "copy", "--dest-tls-verify=false", "--format", "v2s2", &src_ref, &format!("docker://{host}/test/busy:v2s2"),
    ]))
    .await
    .unwrap();
    let raw = skopeo(args(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/test/busy:v2s2")])).await.unwrap();
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["mediaType"], DOCKER_MANIFEST);
    let tags = skopeo(args(&["list-tags", "--tls-verify=false", &format!("docker://{host}/test/busy")])).await.unwrap();
    let tags: Value = serde_json::from_str(&tags).unwrap();
    assert_eq!(tags["Tags"], json!(["v1", "v2s2"]));
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_copies_a_multi_arch_index() {
    skopeo_present();
    let reg = TestRegistry::start(|_, _| {}).await;
    let work = tempfile::tempdir().unwrap();
    let src = Layout::new(&work.path().join("src"));
    let (amd, _) = src.image("amd64", 1000);
    let (arm, _) = src.image("arm64", 2000);
    let mut a = descriptor(OCI_MANIFEST, &amd);
    a["platform"] = json!({ "os": "linux", "architecture": "amd64" });
    let mut b = descriptor(OCI_MANIFEST, &arm);
    b["platform"] = json!({ "os": "linux", "architecture": "arm64" });
    let inner = serde_json::to_vec(&json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [a, b] })).unwrap();
    let inner_d = src.blob(&inner);
    src.index(vec![(OCI_INDEX.into(), descriptor(OCI_INDEX, &inner), ref_name("multi"))]);
    let host = reg.addr.to_string();
    skopeo(args(&[
        "copy", "--all", "--dest-tls-verify=false",
        &format!("oci:{}:multi", src.dir.display()), &format!("docker://{host}/multi/app:latest"),
    ]))
    .await
    .unwrap();
    let raw = skopeo(args(&["inspect", "--raw", "--tls-verify=false", &format!("docker://{host}/multi/app:latest")])).await.unwrap();
    assert_eq!(Digest::of(raw.as_bytes()), inner_d);
    let out = work.path().join("out");
    skopeo(args(&[
        "copy", "--all", "--src-tls-verify=false",
        &format!("docker://{host}/multi/app:latest"), &format!("oci:{}:multi", out.display()),
    ]))
    .await
    .unwrap();
    assert_eq!(Layout { dir: out }.tagged_manifest("multi"), inner_d);
    reg.stop().await;
}

async fn copy_with_auth(reg: &TestRegistry, creds: Option<&str>) -> Result<String, String> {
    let work = tempfile::tempdir().unwrap();
    let src = Layout::new(&work.path().join("src"));
    let (m, _) = src.image("amd64", 5000);
    src.index(vec![(OCI_MANIFEST.into(), descriptor(OCI_MANIFEST, &m), ref_name("v1"))]);
    let mut a = args(&["copy", "--dest-tls-verify=false"]);
    if let Some(c) = creds {
        a.push("--dest-creds".into());
        a.push(c.into());
    }
    a.push(format!("oci:{}:v1", src.dir.display()));
    a.push(format!("docker://{}/private/app:v1", reg.addr));
    skopeo(a).await?;
    let mut a = args(&["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        a.push("--creds".into());
        a.push(c.into());
    }
    a.push(format!("docker://{}/private/app:v1", reg.addr));
    skopeo(a).await
}

fn htpasswd(dir: &Path) -> PathBuf {
    let p = dir.join("htpasswd");
    std::fs::write(&p, format!("alice:{}\n", bcrypt::hash("secret", 4).unwrap())).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_with_htpasswd_credentials_only() {
    skopeo_present();
    let reg = TestRegistry::start(|c, dir| c.auth = AuthConfig::Htpasswd(htpasswd(dir))).await;
    let err = copy_with_auth(&reg, None).await.unwrap_err();
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
    assert!(copy_with_auth(&reg, Some("alice:wrong")).await.is_err());
    copy_with_auth(&reg, Some("alice:secret")).await.unwrap();
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_pushes_through_the_token_flow() {
    skopeo_present();
    let reg = TestRegistry::start(|c, dir| {
        c.auth = AuthConfig::Token(TokenConfig {
            htpasswd: htpasswd(dir),
            realm: None,
            service: "berth-registry".into(),
            ttl: Duration::from_secs(300),
        })
    })
    .await;
    assert!(copy_with_auth(&reg, None).await.is_err());
    assert!(copy_with_auth(&reg, Some("alice:wrong")).await.is_err());
    let raw = copy_with_auth(&reg, Some("alice:secret")).await.unwrap();
    assert!(raw.contains(OCI_MANIFEST));
    reg.stop().await;
}
