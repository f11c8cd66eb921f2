//! Auth (htpasswd, bearer tokens, anonymous pull patterns), TLS, garbage collection and drain.

mod common;

use berth_registry::{gc_with, AuthConfig, GcOptions, TokenConfig};
use berth_types::Digest;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

fn htpasswd(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("htpasswd");
    let hash = bcrypt::hash("secret", 4).unwrap();
    std::fs::write(&p, format!("# users\nalice:{hash}\n")).unwrap();
    p
}

#[tokio::test]
async fn htpasswd_basic_auth_challenges_and_allows_anonymous_pull_by_pattern() {
    let reg = TestRegistry::start(|c, dir| {
        c.auth = AuthConfig::Htpasswd(htpasswd(dir));
        c.anonymous_pull = vec!["public/*".into()];
    })
    .await;
    let c = client();
    let r = c.get(format!("{}/v2/", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"Berth Registry\"");
    assert_eq!(error_code(r).await, "UNAUTHORIZED");
    let r = c.get(format!("{}/v2/", reg.url)).basic_auth("alice", Some("wrong")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.get(format!("{}/v2/", reg.url)).basic_auth("alice", Some("secret")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Push with credentials.
    let d = Digest::of(b"pub");
    for name in ["public/app", "private/app"] {
        let r = c
            .post(format!("{}/v2/{name}/blobs/uploads/?digest={d}", reg.url))
            .basic_auth("alice", Some("secret"))
            .body("pub")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    // Anonymous pull only where the pattern allows; anonymous push never.
    assert_eq!(c.get(format!("{}/v2/public/app/blobs/{d}", reg.url)).send().await.unwrap().status(), StatusCode::OK);
    let r = c.get(format!("{}/v2/private/app/blobs/{d}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.post(format!("{}/v2/public/app/blobs/uploads/", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    reg.stop().await;
}

#[tokio::test]
async fn token_auth_issues_scoped_tokens_and_denies_missing_scope() {
    let reg = TestRegistry::start(|c, dir| {
        c.auth = AuthConfig::Token(TokenConfig {
            htpasswd: htpasswd(dir),
            realm: None,
            service: "test-registry".into(),
            ttl: Duration::from_secs(60),
        });
        c.anonymous_pull = vec!["public/*".into()];
    })
    .await;
    let c = client();
    let r = c.get(format!("{}/v2/", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert_eq!(challenge, format!("Bearer realm=\"{}/token\",service=\"test-registry\"", reg.url));
    let r = c.post(format!("{}/v2/p/blobs/uploads/", reg.url)).send().await.unwrap();
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(challenge.ends_with(",scope=\"repository:p:pull,push\""), "{challenge}");

    let token = |user: Option<&'static str>, scope: &'static str| {
        let mut req = c.get(format!("{}/token?service=test-registry&scope={scope}", reg.url));
        if let Some(u) = user {
            req = req.basic_auth(u, Some("secret"));
        }
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["token"], v["access_token"]);
            assert_eq!(v["expires_in"], 60);
            v["token"].as_str().unwrap().to_string()
        }
    };
    let r = c.get(format!("{}/token?scope=repository:p:pull", reg.url)).basic_auth("alice", Some("bad")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let push = token(Some("alice"), "repository:p:pull,push").await;
    let d = Digest::of(b"x");
    let r = c.post(format!("{}/v2/p/blobs/uploads/?digest={d}", reg.url)).bearer_auth(&push).body("x").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(c.get(format!("{}/v2/", reg.url)).bearer_auth(&push).send().await.unwrap().status(), StatusCode::OK);

    let pull = token(Some("alice"), "repository:p:pull").await;
    assert_eq!(c.head(format!("{}/v2/p/blobs/{d}", reg.url)).bearer_auth(&pull).send().await.unwrap().status(), StatusCode::OK);
    let r = c.post(format!("{}/v2/p/blobs/uploads/", reg.url)).bearer_auth(&pull).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "DENIED");
    // A token for one repository does not open another.
    let r = c.head(format!("{}/v2/q/blobs/{d}", reg.url)).bearer_auth(&pull).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Catalog needs registry:catalog:*.
    let cat = token(Some("alice"), "registry:catalog:*").await;
    assert_eq!(c.get(format!("{}/v2/_catalog", reg.url)).bearer_auth(&cat).send().await.unwrap().status(), StatusCode::OK);
    // Anonymous tokens carry pull of public repositories only; a lacking one is challenged (401).
    let anon = token(None, "repository:public/x:pull,push").await;
    let r = c.get(format!("{}/v2/public/x/tags/list", reg.url)).bearer_auth(&anon).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "authorized, but the repository does not exist");
    let r = c.post(format!("{}/v2/public/x/blobs/uploads/", reg.url)).bearer_auth(&anon).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c.get(format!("{}/v2/", reg.url)).bearer_auth("garbage.token.here").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    reg.stop().await;
}

#[tokio::test]
async fn tls_serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (c2, k2) = (cert.clone(), key.clone());
    let reg = TestRegistry::start(move |c, _| {
        c.tls_cert = Some(c2);
        c.tls_key = Some(k2);
    })
    .await;
    assert!(reg.url.starts_with("https://"));
    let r = client().get(format!("{}/v2/", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    push_image(&client(), &reg.url, "tls/app", "v1", "t").await;
    reg.stop().await;
}

#[tokio::test]
async fn gc_removes_unreferenced_blobs_and_keeps_referenced_ones() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let body = push_image(&c, &reg.url, "a", "v1", "keep").await;
    let orphan = push_blob(&c, &reg.url, "a", b"orphan blob").await;
    let r = c.post(format!("{}/v2/a/blobs/uploads/", reg.url)).send().await.unwrap();
    let upload = r.headers()["location"].to_str().unwrap().to_string();
    // Default grace: everything is young, nothing goes.
    let report = berth_registry::gc(&reg.root(), false).unwrap();
    assert!(report.blobs_removed.is_empty());
    let opts = GcOptions { dry_run: true, grace: Duration::ZERO, upload_ttl: Duration::ZERO, ..GcOptions::default() };
    let report = gc_with(&reg.root(), &opts).unwrap();
    assert_eq!(report.blobs_removed, vec![orphan.clone()]);
    assert_eq!(report.uploads_removed, 1);
    assert_eq!(c.head(format!("{}/v2/a/blobs/{orphan}", reg.url)).send().await.unwrap().status(), StatusCode::OK);
    let report = gc_with(&reg.root(), &GcOptions { dry_run: false, ..opts }).unwrap();
    assert_eq!(report.blobs_removed, vec![orphan.clone()]);
    assert_eq!(report.bytes_freed, 11);
    assert_eq!(report.links_removed, 1);
    assert_eq!(report.blobs_marked, 3);
    // No empty directories left behind: the blob's own, and its `<hh>` prefix unless a kept blob shares it.
    let prefix = reg.root().join(format!("blobs/sha256/{}", &orphan.hex()[..2]));
    assert!(!prefix.join(orphan.hex()).exists(), "the removed blob's directory is gone");
    assert!(!prefix.exists() || std::fs::read_dir(&prefix).unwrap().count() > 0, "an emptied prefix directory is removed");
    assert_eq!(c.head(format!("{}/v2/a/blobs/{orphan}", reg.url)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = c.get(format!("{}/v2/a/manifests/v1", reg.url)).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), body);
    assert_eq!(c.get(format!("{}{upload}", reg.url)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    reg.stop().await;
}

#[tokio::test]
async fn online_sweep_runs_while_serving() {
    let reg = TestRegistry::start(|c, _| {
        c.gc_interval = Some(Duration::from_millis(200));
        // Short, but longer than a push takes from its first blob to its manifest: with no grace a
        // sweep between the two may rightly take the blobs (the put then fails MANIFEST_BLOB_UNKNOWN).
        c.gc_grace = Duration::from_millis(500);
    })
    .await;
    let c = client();
    push_image(&c, &reg.url, "a", "v1", "keep").await;
    let orphan = push_blob(&c, &reg.url, "a", b"orphan").await;
    // Watch the store, not the API: a HEAD counts as use and would keep the orphan young.
    let data = reg.root().join(format!("blobs/sha256/{}/{}/data", &orphan.hex()[..2], orphan.hex()));
    assert!(data.exists());
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !data.exists() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the periodic sweep should remove the orphan");
    let r = c.head(format!("{}/v2/a/blobs/{orphan}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Pushes keep working during and after sweeps.
    for i in 0..5 {
        push_image(&c, &reg.url, "a", &format!("t{i}"), &format!("s{i}")).await;
    }
    let v: Value = c.get(format!("{}/v2/a/tags/list", reg.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["tags"].as_array().unwrap().len(), 6);
    reg.stop().await;
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_upload() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let r = c.post(format!("{}/v2/a/blobs/uploads/", reg.url)).send().await.unwrap();
    let loc = format!("{}{}", reg.url, r.headers()["location"].to_str().unwrap());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream(rx));
    let req = tokio::spawn(c.patch(&loc).body(body).send());
    tx.send(Ok(b"part one ".to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(reg.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.send(Ok(b"part two".to_vec())).await.unwrap();
    drop(tx);
    let r = req.await.unwrap().unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], "0-16");
    stopping.await.unwrap();
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn tokens_stay_valid_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = |d: &std::path::Path| {
        let mut c = berth_registry::RegistryConfig::new("127.0.0.1:0".parse().unwrap(), d.join("root"));
        c.gc_interval = None;
        c.auth = AuthConfig::Token(TokenConfig { htpasswd: htpasswd(d), realm: None, service: "test-registry".into(), ttl: Duration::from_secs(60) });
        c
    };
    let serve = |cfg| async move {
        let server = berth_registry::Server::bind(cfg).await.unwrap();
        let url = format!("http://{}", server.local_addr());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        (url, tx, task)
    };
    let c = client();
    let (url, stop, task) = serve(config(dir.path())).await;
    let r = c.get(format!("{url}/token?service=test-registry&scope=repository:p:pull")).basic_auth("alice", Some("secret")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    // The signing key is kept in the root, private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("root/token.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A restarted registry on the same root accepts the token it issued before.
    let (url, stop, task) = serve(config(dir.path())).await;
    let r = c.get(format!("{url}/v2/p/tags/list")).bearer_auth(&token).send().await.unwrap();
    assert_ne!(r.status(), StatusCode::UNAUTHORIZED, "the token survives the restart");
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    let r = c.get(format!("{url}/v2/p/tags/list")).bearer_auth("garbage.token.value").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
