//! `berth registry` on a real distributed object store: a one-node Ceph cluster with a RADOS Gateway
//! (scripts/ceph-rgw.sh), started ONCE for this whole binary and torn down at its end (also when a
//! step fails). Steps, on their own buckets:
//!
//! 1. the storage driver suite every driver passes, against RGW (multipart writes, ranged and resumed
//!    reads, server-side and streamed moves, recursive deletes);
//! 2. three `berth registry` replicas on one bucket behind haproxy (round-robin): a chunked upload
//!    whose requests land on different replicas; blob redirects to pre-signed URLs; then many parallel
//!    skopeo pushes while every replica runs GC every second over garbage that shares layers with the
//!    images being pushed, and one replica is SIGKILLed mid-push. Every push must succeed and pull back
//!    intact (skopeo verifies each blob's digest; the test compares manifest digests and layer bytes),
//!    and the garbage no image references must be gone.

mod common;

use berth_registry::storage::{suite, S3Config, S3Driver};
use common::{free_port, Proc, BERTH};
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPLICAS: usize = 3;
const IMAGES: usize = 16;
const PARALLEL: usize = 8;

/// The cluster, stopped (processes killed, files removed) when dropped.
struct Ceph {
    dir: PathBuf,
    endpoint: String,
    access: String,
    secret: String,
    region: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ceph-rgw.sh")
}

impl Ceph {
    fn start(parent: &Path) -> Ceph {
        let dir = parent.join("ceph");
        let t = Instant::now();
        let out = Command::new("bash").arg(script()).arg("start").arg(&dir).output().unwrap();
        assert!(out.status.success(), "ceph-rgw.sh start: {}", String::from_utf8_lossy(&out.stderr));
        eprintln!("ceph: cluster up in {:.1}s", t.elapsed().as_secs_f64());
        let env = std::fs::read_to_string(dir.join("env")).unwrap();
        let get = |k: &str| env.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).unwrap().to_string();
        Ceph { endpoint: get("S3_ENDPOINT"), access: get("S3_ACCESS_KEY"), secret: get("S3_SECRET_KEY"), region: get("S3_REGION"), dir }
    }

    fn config(&self, bucket: &str, root: &str) -> S3Config {
        let mut c = S3Config::new(&self.region, bucket, &self.access, &self.secret);
        c.endpoint = Some(self.endpoint.clone());
        c.force_path_style = true;
        c.root_directory = root.into();
        c.chunk_size = 5 << 20;
        c
    }
}

impl Drop for Ceph {
    fn drop(&mut self) {
        let t = Instant::now();
        let s = Command::new("bash").arg(script()).arg("stop").arg(&self.dir).status();
        eprintln!("ceph: stopped in {:.1}s ({s:?})", t.elapsed().as_secs_f64());
    }
}

async fn wait_http(url: &str) {
    let c = reqwest::Client::new();
    for _ in 0..100 {
        if c.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registry_on_ceph_rgw() {
    let tmp = tempfile::tempdir().unwrap();
    let ceph = Ceph::start(tmp.path());
    let t = Instant::now();
    driver_suite(&ceph).await;
    eprintln!("ceph: driver suite in {:.1}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    replicas(&ceph, tmp.path()).await;
    eprintln!("ceph: replica steps in {:.1}s", t.elapsed().as_secs_f64());
}

async fn driver_suite(ceph: &Ceph) {
    let d = S3Driver::new(&ceph.config("suite", "")).unwrap();
    d.create_bucket().await.unwrap();
    suite::run(S3Driver::new(&ceph.config("suite", "/server-side/copy/")).unwrap()).await;
    // Moves above the copy limit stream through the registry (objects over 5 GiB on real S3).
    suite::run(S3Driver::new(&ceph.config("suite", "streamed")).unwrap().with_copy_limit(1 << 20)).await;
    // A missing bucket is a clear error, not "not found".
    let e = S3Driver::new(&ceph.config("no-such-bucket", "")).unwrap().get_content_for_test("x").await.unwrap_err();
    assert!(e.contains("bucket does not exist"), "{e}");
}

trait ForTest {
    async fn get_content_for_test(&self, p: &str) -> Result<bytes::Bytes, String>;
}
impl ForTest for S3Driver {
    async fn get_content_for_test(&self, p: &str) -> Result<bytes::Bytes, String> {
        use berth_registry::storage::StorageDriver;
        self.get_content(p).await.map_err(|e| format!("{e}: {:?}", std::error::Error::source(&e)))
    }
}

fn replica_config(ceph: &Ceph, dir: &Path, port: u16, redirect: bool) -> PathBuf {
    let cfg = dir.join(format!("replica-{port}.yml"));
    let text = format!(
        "version: 0.1\nlog:\n  level: warn\nhttp:\n  addr: 127.0.0.1:{port}\nstorage:\n  s3:\n    region: {}\n    \
         regionendpoint: {}\n    bucket: replicas\n    accesskey: {}\n    secretkey: {}\n    rootdirectory: /registry\n    \
         chunksize: 5242880\n    forcepathstyle: true\n  redirect:\n    disable: {}\ngc:\n  interval: 1s\n  grace: 6s\n",
        ceph.region,
        ceph.endpoint,
        ceph.access,
        ceph.secret,
        !redirect
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn haproxy(dir: &Path, port: u16, backends: &[u16]) -> Proc {
    let mut cfg = format!(
        "global\n  maxconn 512\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n  timeout server 60s\n  \
         retries 3\n  option redispatch\nfrontend fe\n  bind 127.0.0.1:{port}\n  default_backend replicas\n\
         backend replicas\n  balance roundrobin\n  option httpchk GET /v2/\n  http-response set-header X-Replica %s\n"
    );
    for (i, b) in backends.iter().enumerate() {
        cfg.push_str(&format!("  server r{i} 127.0.0.1:{b} check inter 300ms fall 2 rise 2\n"));
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    Proc(Command::new("haproxy").arg("-db").arg("-f").arg(&path).stdout(Stdio::null()).spawn().unwrap())
}

async fn replicas(ceph: &Ceph, dir: &Path) {
    S3Driver::new(&ceph.config("replicas", "")).unwrap().create_bucket().await.unwrap();
    let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
    let mut procs: Vec<Option<Proc>> = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        // The last replica serves blobs itself (redirect disabled), the others redirect to RGW.
        let cfg = replica_config(ceph, dir, *p, i + 1 < REPLICAS);
        let child = Command::new(BERTH).args(["registry", "--config"]).arg(&cfg).spawn().unwrap();
        procs.push(Some(Proc(child)));
    }
    for p in &ports {
        wait_http(&format!("http://127.0.0.1:{p}/v2/")).await;
    }
    let lb_port = free_port();
    let _lb = haproxy(dir, lb_port, &ports);
    let lb = format!("127.0.0.1:{lb_port}");
    wait_http(&format!("http://{lb}/v2/")).await;

    chunked_upload_across_replicas(&lb).await;
    redirects(&ceph.endpoint, &ports).await;
    pushes_under_gc_and_kill(dir, &lb, &mut procs).await;
}

/// POST, three PATCHes and the PUT of one upload, each on the next replica in turn.
async fn chunked_upload_across_replicas(lb: &str) {
    let c = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let data: Vec<u8> = (0..(7u32 << 20) + 12345).map(|i| (i % 251) as u8).collect();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
    let mut served = std::collections::BTreeSet::new();
    let r = c.post(format!("http://{lb}/v2/chunked/blobs/uploads/")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    served.insert(r.headers()["x-replica"].to_str().unwrap().to_string());
    let mut loc = r.headers()["location"].to_str().unwrap().to_string();
    let cuts = [0, 3 << 20, 6 << 20, data.len()];
    for w in cuts.windows(2) {
        let r = c
            .patch(format!("http://{lb}{loc}"))
            .header("content-type", "application/octet-stream")
            .header("content-range", format!("{}-{}", w[0], w[1] - 1))
            .body(data[w[0]..w[1]].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{:?}", r.text().await);
        assert_eq!(r.headers()["range"], format!("0-{}", w[1] - 1));
        served.insert(r.headers()["x-replica"].to_str().unwrap().to_string());
        loc = r.headers()["location"].to_str().unwrap().to_string();
    }
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = c.put(format!("http://{lb}{loc}{sep}digest={digest}")).send().await.unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    served.insert(r.headers()["x-replica"].to_str().unwrap().to_string());
    assert!(served.len() >= 2, "one upload should have crossed replicas: {served:?}");
    // Back through any replica (following a redirect or not), whole and by range.
    for _ in 0..REPLICAS {
        let got = c.get(format!("http://{lb}/v2/chunked/blobs/{digest}")).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert!(got.bytes().await.unwrap()[..] == data[..]);
        let part = c.get(format!("http://{lb}/v2/chunked/blobs/{digest}")).header("range", "bytes=6291456-6291465").send().await.unwrap();
        assert_eq!(part.status(), 206);
        assert!(part.bytes().await.unwrap()[..] == data[6291456..6291466]);
    }
}

/// A replica with redirects answers blob GETs with 307 to a pre-signed RGW URL; HEAD is answered
/// directly; the replica with `redirect: disable` streams the bytes itself.
async fn redirects(endpoint: &str, ports: &[u16]) {
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let data = b"redirected blob".to_vec();
    let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
    let base = format!("http://127.0.0.1:{}", ports[0]);
    let r = c.post(format!("{base}/v2/redir/blobs/uploads/?digest={digest}")).body(data.clone()).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = c.get(format!("{base}/v2/redir/blobs/{digest}")).send().await.unwrap();
    assert_eq!(r.status(), 307);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with(&format!("{endpoint}/replicas/registry/blobs/sha256/")), "{to}");
    assert!(to.contains("X-Amz-Signature="), "{to}");
    let got = c.get(&to).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap()[..], data[..]);
    let r = c.head(format!("{base}/v2/redir/blobs/{digest}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], data.len().to_string());
    let direct = format!("http://127.0.0.1:{}", ports[ports.len() - 1]);
    let r = c.get(format!("{direct}/v2/redir/blobs/{digest}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap()[..], data[..]);
    // Unknown blobs are not redirected.
    let unknown = format!("sha256:{}", "0".repeat(64));
    assert_eq!(c.get(format!("{base}/v2/redir/blobs/{unknown}")).send().await.unwrap().status(), 404);
}

/// An OCI layout with one image: config + layers, returning the manifest digest.
fn oci_image(dir: &Path, layers: &[Vec<u8>], seed: usize) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |data: &[u8]| {
        let hex = hex::encode(sha2::Sha256::digest(data));
        std::fs::write(blobs.join(&hex), data).unwrap();
        serde_json::json!({ "digest": format!("sha256:{hex}"), "size": data.len() })
    };
    let mut diff_ids = Vec::new();
    let mut descs = Vec::new();
    for l in layers {
        let mut d = put(l);
        diff_ids.push(d["digest"].clone());
        d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
        descs.push(d);
    }
    let config = serde_json::json!({ "architecture": "amd64", "os": "linux", "config": { "Env": [format!("SEED={seed}")] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids } });
    let mut cd = put(&serde_json::to_vec(&config).unwrap());
    cd["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let manifest = serde_json::json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cd, "layers": descs });
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let mut md = put(&mbytes);
    md["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    md["annotations"] = serde_json::json!({ "org.opencontainers.image.ref.name": "t" });
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&serde_json::json!({ "schemaVersion": 2, "manifests": [md] })).unwrap()).unwrap();
    md["digest"].as_str().unwrap().to_string()
}

/// A gzip stream of `size` pseudo-random bytes: skopeo copies compressed layers as they are (it would
/// compress an uncompressed one, changing its digest and the manifest's).
fn layer(seed: usize, size: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut x = (seed as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let raw: Vec<u8> = (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

fn skopeo(args: &[&str]) -> std::process::Output {
    Command::new("skopeo").args(args).output().unwrap()
}

fn push(src: &Path, dest: &str) -> Result<(), String> {
    let out = skopeo(&[
        "copy", "--retry-times", "3", "--dest-tls-verify=false", &format!("oci:{}:t", src.display()), &format!("docker://{dest}"),
    ]);
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

async fn pushes_under_gc_and_kill(dir: &Path, lb: &str, procs: &mut [Option<Proc>]) {
    // Garbage older than the grace period, sharing layers with half the images pushed below.
    let old_layers: Vec<Vec<u8>> = (0..4).map(|i| layer(1000 + i, 600 << 10)).collect();
    let garbage_only = layer(2000, 300 << 10);
    let gdir = dir.join("garbage");
    let gdigest = oci_image(&gdir, &[old_layers.clone(), vec![garbage_only.clone()]].concat(), 0);
    push(&gdir, &format!("{lb}/old:t")).unwrap();
    let c = reqwest::Client::new();
    let r = c.delete(format!("http://{lb}/v2/old/manifests/{gdigest}")).send().await.unwrap();
    assert_eq!(r.status(), 202, "{:?}", r.text().await);
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Images: a big layer (two multipart parts), a small one, and for half of them an old layer.
    let mut images = Vec::new();
    for i in 0..IMAGES {
        let mut ls = vec![layer(i, (5 << 20) + 4096 * (i + 1)), layer(100 + i, 20_000)];
        if i % 2 == 0 {
            ls.push(old_layers[i / 2 % old_layers.len()].clone());
        }
        let d = dir.join(format!("img{i}"));
        let digest = oci_image(&d, &ls, i);
        images.push((i, d, digest, ls));
    }
    let t = Instant::now();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = Vec::new();
    for (i, d, _, _) in &images {
        let (sem, d, dest) = (sem.clone(), d.clone(), format!("{lb}/repo{}:t", i % 5));
        let dest = dest.replace(":t", &format!(":v{i}"));
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire_owned().await.unwrap();
            // A request in flight on the replica that dies fails (haproxy answers 502); the client
            // pushes again, as a user would, and must then succeed.
            berth_types::sched::spawn_blocking(move || {
                let mut errors = Vec::new();
                for _ in 0..3 {
                    match push(&d, &dest) {
                        Ok(()) => return Ok((errors.len(), errors)),
                        Err(e) => errors.push(e),
                    }
                }
                Err(errors.join("\n"))
            })
            .await
            .unwrap()
        }));
    }
    // One replica dies mid-push, without a chance to clean up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let victim = procs[1].take().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim.0.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    drop(victim);
    let mut retried = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (again, errors) = t.await.unwrap().unwrap_or_else(|e| panic!("push of image {i} failed: {e}"));
        retried += again;
        for e in errors {
            eprintln!("ceph: push of image {i} failed once: {}", e.lines().last().unwrap_or_default());
        }
    }
    eprintln!("ceph: {IMAGES} images pushed ({PARALLEL} at a time, {retried} pushed again) in {:.1}s", t.elapsed().as_secs_f64());

    // Every image pulls back whole: skopeo verifies each blob's digest; manifests and bytes compared.
    for (i, _, digest, ls) in &images {
        let src = format!("docker://{lb}/repo{}:v{i}", i % 5);
        let out = skopeo(&["inspect", "--tls-verify=false", "--raw", &src]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(&format!("sha256:{}", hex::encode(sha2::Sha256::digest(&out.stdout))), digest, "image {i}");
        let back = dir.join(format!("back{i}"));
        let out = skopeo(&["copy", "--src-tls-verify=false", &src, &format!("oci:{}:t", back.display())]);
        assert!(out.status.success(), "pull of image {i}: {}", String::from_utf8_lossy(&out.stderr));
        for l in ls {
            let hex = hex::encode(sha2::Sha256::digest(l));
            assert!(std::fs::read(back.join("blobs/sha256").join(&hex)).unwrap() == *l, "image {i} layer {hex}");
        }
    }
    // The collection ran meanwhile: the garbage-only layer (old, referenced by nothing) is gone.
    let gd = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&garbage_only)));
    let mut gone = false;
    for _ in 0..40 {
        if c.head(format!("http://{lb}/v2/old/blobs/{gd}")).send().await.unwrap().status() == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(gone, "GC never removed the unreferenced blob");
}
