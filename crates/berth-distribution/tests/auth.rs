//! Basic and token authentication against the in-process registry.

mod common;

use berth_distribution::{Credentials, DistributionError};
use berth_registry::{AuthConfig, TokenConfig};
use berth_types::Reference;
use common::*;
use std::time::Duration;

fn r(s: &str) -> Reference {
    Reference::parse_tagged(s).unwrap()
}

async fn exercise(reg: &TestRegistry) {
    let a = host();
    let name = format!("{}/private/app:1", reg.host);
    let id = build_image(
        &a.store,
        &name,
        &[layer_tar(&[("f", random_bytes(10_000, 5))])],
        "auth",
    );
    let good = Credentials::new("alice", "secret");
    let bad = Credentials::new("alice", "wrong");

    let err = a
        .client
        .push(a.store.clone(), &r(&name), None, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unauthorized: authentication required");
    let err = a
        .client
        .push(a.store.clone(), &r(&name), Some(bad.clone()), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, DistributionError::Unauthorized(_)), "{err:?}");
    a.client
        .push(a.store.clone(), &r(&name), Some(good.clone()), |_| {})
        .await
        .unwrap();

    let b = host();
    let err = b
        .client
        .pull(b.store.clone(), &r(&name), None, None, |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unauthorized: authentication required");
    let err = b
        .client
        .pull(b.store.clone(), &r(&name), None, Some(bad.clone()), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, DistributionError::Unauthorized(_)), "{err:?}");
    assert!(b.store.list().is_empty());
    let res = b
        .client
        .pull(b.store.clone(), &r(&name), None, Some(good.clone()), |_| {})
        .await
        .unwrap();
    assert_eq!(res.id, id);

    b.client.login(&reg.host, &good).await.unwrap();
    b.client
        .login(&format!("http://{}/", reg.host), &good)
        .await
        .unwrap();
    let err = b.client.login(&reg.host, &bad).await.unwrap_err();
    assert!(matches!(err, DistributionError::Unauthorized(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_right_creds_work_wrong_creds_refused() {
    let reg = registry(|c, dir| c.auth = AuthConfig::Htpasswd(htpasswd(dir))).await;
    exercise(&reg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_right_creds_work_wrong_creds_refused() {
    let reg = registry(|c, dir| {
        c.auth = AuthConfig::Token(TokenConfig {
            htpasswd: htpasswd(dir),
            realm: None,
            service: "test-registry".into(),
            ttl: Duration::from_secs(120),
        })
    })
    .await;
    exercise(&reg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_to_open_registry_succeeds() {
    let reg = registry(|_, _| {}).await;
    host()
        .client
        .login(&reg.host, &Credentials::new("any", "thing"))
        .await
        .unwrap();
}
