//! Test helpers: an in-process berth-registry on 127.0.0.1:0, image stores in temp dirs, images
//! built from tars, hand-pushed images, and a fault-injecting HTTP proxy.
#![allow(dead_code)]

use berth_content::ContentStore;
use berth_distribution::{Client, ClientOptions, Progress};
use berth_image::{ImageStore, LayerRecord};
use berth_registry::{RegistryConfig, Server};
use berth_types::{Digest, Reference};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

pub struct TestRegistry {
    pub host: String,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn registry(configure: impl FnOnce(&mut RegistryConfig, &Path)) -> TestRegistry {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = RegistryConfig::new("127.0.0.1:0".parse().unwrap(), dir.path().join("root"));
    cfg.gc_interval = None;
    configure(&mut cfg, dir.path());
    let server = Server::bind(cfg).await.unwrap();
    let addr = server.local_addr();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    TestRegistry {
        host: addr.to_string(),
        dir,
        stop: Some(tx),
    }
}

/// An htpasswd file with alice:secret.
pub fn htpasswd(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("htpasswd");
    std::fs::write(
        &p,
        format!("alice:{}\n", bcrypt::hash("secret", 4).unwrap()),
    )
    .unwrap();
    p
}

pub struct Host {
    pub dir: tempfile::TempDir,
    pub store: Arc<ImageStore>,
    pub client: Client,
}

/// A fresh image store and client, as one daemon would have.
pub fn host() -> Host {
    let dir = tempfile::tempdir().unwrap();
    let content = ContentStore::open(dir.path().join("content")).unwrap();
    let store = Arc::new(ImageStore::open(dir.path().join("image"), content).unwrap());
    let mut opts = ClientOptions::new(dir.path().join("distribution"));
    opts.certs_dir = dir.path().join("certs.d");
    let client = Client::new(opts).unwrap();
    Host { dir, store, client }
}

/// A layer tar with one file per (name, content).
pub fn layer_tar(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn config_json(arch: &str, diff_ids: &[Digest], seed: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Env": [format!("SEED={seed}")]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()},
    }))
    .unwrap()
}

/// Builds an image from `tars` in `store` and tags it `reference`; returns the image id.
pub fn build_image(store: &ImageStore, reference: &str, tars: &[Vec<u8>], seed: &str) -> Digest {
    let mut layers = Vec::new();
    for t in tars {
        let st = berth_image::layer::ingest_layer(store.content(), &t[..]).unwrap();
        layers.push(LayerRecord {
            diff_id: st.diff_id,
            size: st.size,
        });
    }
    let diff_ids: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let config = config_json("amd64", &diff_ids, seed);
    let (id, _) = store.register(&config, layers, None).unwrap();
    store
        .tag(&id, &Reference::parse_tagged(reference).unwrap())
        .unwrap();
    id
}

pub fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    // xorshift: incompressible enough for transfer tests, reproducible.
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Collects progress events.
#[derive(Clone, Default)]
pub struct Events(pub Arc<Mutex<Vec<Progress>>>);

impl Events {
    pub fn sink(&self) -> impl Fn(Progress) + Send + Sync + 'static {
        let v = self.0.clone();
        move |p| v.lock().unwrap().push(p)
    }
    pub fn statuses(&self) -> Vec<String> {
        self.0.lock().unwrap().iter().map(|p| p.status()).collect()
    }
    pub fn has(&self, status: &str) -> bool {
        self.statuses().iter().any(|s| s == status)
    }
    pub fn count(&self, status: &str) -> usize {
        self.statuses().iter().filter(|s| *s == status).count()
    }
}

// ---- pushing hand-made images over plain HTTP ----

pub async fn put_blob(host: &str, repo: &str, data: &[u8]) -> Digest {
    let d = Digest::of(data);
    let c = reqwest::Client::new();
    let r = c
        .post(format!("http://{host}/v2/{repo}/blobs/uploads/?digest={d}"))
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "push blob");
    d
}

pub async fn put_manifest(host: &str, repo: &str, reference: &str, mt: &str, body: &[u8]) {
    let r = reqwest::Client::new()
        .put(format!("http://{host}/v2/{repo}/manifests/{reference}"))
        .header("Content-Type", mt)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "put manifest: {:?}", r.text().await);
}

pub fn desc(mt: &str, data: &[u8]) -> Value {
    json!({"mediaType": mt, "size": data.len(), "digest": Digest::of(data).to_string()})
}

/// Pushes an OCI image made of (media type, blob, uncompressed tar) layers; returns (manifest bytes, config bytes).
pub async fn push_oci_image(
    host: &str,
    repo: &str,
    tag: Option<&str>,
    arch: &str,
    layers: &[(&str, Vec<u8>, Vec<u8>)],
) -> (Vec<u8>, Vec<u8>) {
    let diff_ids: Vec<Digest> = layers.iter().map(|(_, _, tar)| Digest::of(tar)).collect();
    let config = config_json(arch, &diff_ids, arch);
    put_blob(host, repo, &config).await;
    for (_, blob, _) in layers {
        put_blob(host, repo, blob).await;
    }
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc("application/vnd.oci.image.config.v1+json", &config),
        "layers": layers.iter().map(|(mt, blob, _)| desc(mt, blob)).collect::<Vec<_>>(),
    });
    let body = serde_json::to_vec(&m).unwrap();
    let r = tag
        .map(str::to_string)
        .unwrap_or_else(|| Digest::of(&body).to_string());
    put_manifest(
        host,
        repo,
        &r,
        "application/vnd.oci.image.manifest.v1+json",
        &body,
    )
    .await;
    (body, config)
}

// ---- a fault-injecting proxy ----

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Serve half of this blob, then cut the connection; once.
    DropOnce(Digest),
    /// Answer 500 for this blob, always.
    Fail(Digest),
    /// Serve this blob with one byte changed.
    Corrupt(Digest),
}

#[derive(Default)]
pub struct ProxyState {
    pub faults: Mutex<Vec<Fault>>,
    /// GET counts per request path.
    pub gets: Mutex<HashMap<String, usize>>,
    /// Range headers seen.
    pub ranges: Mutex<Vec<String>>,
}

impl ProxyState {
    pub fn blob_gets(&self, d: &Digest) -> usize {
        self.gets
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.ends_with(&format!("/blobs/{d}")))
            .map(|(_, n)| *n)
            .sum()
    }
}

pub struct Proxy {
    pub host: String,
    pub state: Arc<ProxyState>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn proxy(upstream: &str) -> Proxy {
    use axum::body::Body;
    use axum::extract::{Request, State};
    use axum::response::Response;

    let state = Arc::new(ProxyState::default());
    let upstream = upstream.to_string();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let handler = move |State(st): State<Arc<ProxyState>>, req: Request| {
        let upstream = upstream.clone();
        let http = http.clone();
        async move {
            let method = req.method().clone();
            let pq = req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let path = req.uri().path().to_string();
            let mut headers = req.headers().clone();
            headers.remove("host");
            let body = axum::body::to_bytes(req.into_body(), usize::MAX)
                .await
                .unwrap();
            if method == "GET" {
                *st.gets.lock().unwrap().entry(path.clone()).or_default() += 1;
                if let Some(r) = headers.get("range") {
                    st.ranges
                        .lock()
                        .unwrap()
                        .push(r.to_str().unwrap().to_string());
                }
            }
            let fault = if method == "GET" {
                let mut faults = st.faults.lock().unwrap();
                let hit = faults.iter().position(|f| match f {
                    Fault::DropOnce(d) | Fault::Fail(d) | Fault::Corrupt(d) => {
                        path.ends_with(&format!("/blobs/{d}"))
                    }
                });
                match hit.map(|i| faults[i].clone()) {
                    Some(f @ Fault::DropOnce(_)) => {
                        faults.retain(|x| *x != f);
                        Some(f)
                    }
                    other => other,
                }
            } else {
                None
            };
            if matches!(fault, Some(Fault::Fail(_))) {
                return Response::builder()
                    .status(500)
                    .body(Body::from("injected failure"))
                    .unwrap();
            }
            let up = http
                .request(method, format!("http://{upstream}{pq}"))
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap();
            let mut resp = Response::builder().status(up.status().as_u16());
            for (k, v) in up.headers() {
                if k != "transfer-encoding" && k != "connection" {
                    resp = resp.header(k, v);
                }
            }
            let mut data = up.bytes().await.unwrap().to_vec();
            match fault {
                Some(Fault::Corrupt(_)) => {
                    let mid = data.len() / 2;
                    data[mid] ^= 0xff;
                    resp.body(Body::from(data)).unwrap()
                }
                Some(Fault::DropOnce(_)) => {
                    let half = Bytes::from(data[..data.len() / 2].to_vec());
                    // Let the first half reach the client before the connection is cut.
                    let stream = futures_util::stream::iter(vec![
                        Ok::<Bytes, std::io::Error>(half),
                        Err(std::io::Error::other("injected connection drop")),
                    ])
                    .then(|item| async move {
                        if item.is_err() {
                            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                        }
                        item
                    });
                    resp.body(Body::from_stream(stream)).unwrap()
                }
                _ => resp.body(Body::from(data)).unwrap(),
            }
        }
    };
    let app = axum::Router::new()
        .fallback(handler)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
    });
    Proxy {
        host,
        state,
        _stop: tx,
    }
}
