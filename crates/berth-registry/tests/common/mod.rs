//! Shared helpers: an in-process registry on 127.0.0.1:0 with its own temp root, and push helpers.
#![allow(dead_code)]

use berth_registry::{RegistryConfig, Server};
use berth_types::Digest;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

pub struct TestRegistry {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), berth_registry::RegistryError>>>,
}

impl TestRegistry {
    pub async fn start(configure: impl FnOnce(&mut RegistryConfig, &std::path::Path)) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = RegistryConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("root"));
        cfg.gc_interval = None;
        configure(&mut cfg, dir.path());
        let tls = cfg.tls_cert.is_some();
        let server = Server::bind(cfg).await.unwrap();
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        let scheme = if tls { "https" } else { "http" };
        TestRegistry { url: format!("{scheme}://{addr}"), addr, dir, stop: Some(tx), task: Some(task) }
    }

    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

pub fn client() -> Client {
    Client::builder().danger_accept_invalid_certs(true).build().unwrap()
}

pub async fn error_code(resp: reqwest::Response) -> String {
    let v: Value = resp.json().await.unwrap();
    v["errors"][0]["code"].as_str().unwrap().to_string()
}

/// Pushes `data` as a blob of `name` monolithically and returns its digest.
pub async fn push_blob(c: &Client, url: &str, name: &str, data: &[u8]) -> Digest {
    let d = Digest::of(data);
    let r = c.post(format!("{url}/v2/{name}/blobs/uploads/?digest={d}")).body(data.to_vec()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "push blob: {:?}", r.text().await);
    d
}

pub fn descriptor(mt: &str, data: &[u8]) -> Value {
    json!({ "mediaType": mt, "digest": Digest::of(data).to_string(), "size": data.len() })
}

/// Pushes an image (config + one layer) and its manifest under `reference`; returns the manifest bytes.
pub async fn push_image(c: &Client, url: &str, name: &str, reference: &str, seed: &str) -> Vec<u8> {
    let config = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#).into_bytes();
    let layer = format!("layer-{seed}").into_bytes();
    push_blob(c, url, name, &config).await;
    push_blob(c, url, name, &layer).await;
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
    });
    let body = serde_json::to_vec(&m).unwrap();
    put_manifest(c, url, name, reference, OCI_MANIFEST, &body).await;
    body
}

pub async fn put_manifest(c: &Client, url: &str, name: &str, reference: &str, mt: &str, body: &[u8]) -> reqwest::Response {
    let r = c
        .put(format!("{url}/v2/{name}/manifests/{reference}"))
        .header("Content-Type", mt)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "put manifest");
    r
}
