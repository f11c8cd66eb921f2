//! Notifications: distribution's event envelope posted to a webhook on push, pull and delete, retried
//! with backoff while the listener fails, and a bounded queue that drops (and counts) events for a dead
//! listener instead of holding requests.

mod common;

use axum::http::{HeaderMap, StatusCode as AxStatus};
use berth_registry::notify::EndpointConfig;
use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Received {
    /// (content-type, authorization, body) of every request, failed ones included.
    posts: Vec<(String, String, Value)>,
    /// Answer 500 to this many requests first.
    fail_first: usize,
}

/// A webhook listener on 127.0.0.1:0; returns its URL.
async fn listener(state: Arc<Mutex<Received>>) -> String {
    let app = axum::Router::new().route(
        "/events",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let mut st = state.lock().unwrap();
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                st.posts.push((h("content-type"), h("authorization"), v));
                if st.fail_first > 0 {
                    st.fail_first -= 1;
                    AxStatus::INTERNAL_SERVER_ERROR
                } else {
                    AxStatus::OK
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    format!("http://{addr}/events")
}

/// The events delivered (answered 200), in order.
fn delivered(st: &Mutex<Received>, failed: usize) -> Vec<Value> {
    let st = st.lock().unwrap();
    st.posts.iter().skip(failed).flat_map(|(_, _, v)| v["events"].as_array().cloned().unwrap_or_default()).collect()
}

#[tokio::test]
async fn events_for_push_pull_and_delete_reach_the_listener_in_distributions_envelope() {
    let state = Arc::new(Mutex::new(Received { fail_first: 2, ..Received::default() }));
    let url = listener(state.clone()).await;
    let reg = TestRegistry::start(|cfg, _| {
        cfg.notifications = vec![EndpointConfig {
            name: "hook-envelope".into(),
            url: url.clone(),
            headers: vec![("Authorization".into(), "Bearer s3cret".into())],
            threshold: 1,
            backoff: Duration::from_millis(100),
            ignored_actions: vec!["mount".into()],
            ..EndpointConfig::default()
        }];
    })
    .await;
    let c = client();
    let manifest = push_image(&c, &reg.url, "team/app", "v1", "n1").await;
    let md = berth_types::Digest::of(&manifest);
    let r = c.get(format!("{}/v2/team/app/manifests/v1", reg.url)).header("Accept", OCI_MANIFEST).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // HEAD is not a pull (distribution emits none), nor is a failed request an event.
    let r = c.head(format!("{}/v2/team/app/manifests/v1", reg.url)).header("Accept", OCI_MANIFEST).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.get(format!("{}/v2/team/app/manifests/nope", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let layer = berth_types::Digest::of(b"layer-n1");
    let r = c.get(format!("{}/v2/team/app/blobs/{layer}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A mount is ignored by this endpoint's `ignore.actions`.
    let r = c.post(format!("{}/v2/other/blobs/uploads/?mount={layer}&from=team/app", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c.delete(format!("{}/v2/team/app/manifests/{md}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    let deadline = Instant::now() + Duration::from_secs(15);
    let events = loop {
        let ev = delivered(&state, 2);
        if ev.len() >= 6 || Instant::now() > deadline {
            break ev;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_string(),
                e["target"]["mediaType"].as_str().unwrap_or("").to_string(),
                e["target"]["tag"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expect: Vec<(String, String, String)> = [
        ("push", "application/octet-stream", ""),
        ("push", "application/octet-stream", ""),
        ("push", OCI_MANIFEST, "v1"),
        ("pull", OCI_MANIFEST, "v1"),
        ("pull", "application/octet-stream", ""),
        ("delete", "", ""),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(summary, expect, "{events:#?}");
    // The first event was posted three times: two 500s, then delivered; all carry the envelope type
    // and the configured header.
    {
        let st = state.lock().unwrap();
        assert_eq!(st.posts.len(), 8, "{:?}", st.posts.iter().map(|p| &p.2).collect::<Vec<_>>());
        assert_eq!(st.posts[0].2, st.posts[2].2, "a retry resends the same event");
        for (ct, auth, _) in &st.posts {
            assert_eq!(ct, "application/vnd.docker.distribution.events.v1+json");
            assert_eq!(auth, "Bearer s3cret");
        }
    }
    let push = &events[2];
    assert_eq!(push["target"]["digest"], md.to_string());
    assert_eq!(push["target"]["repository"], "team/app");
    assert_eq!(push["target"]["size"], manifest.len());
    assert_eq!(push["target"]["length"], manifest.len());
    assert_eq!(push["target"]["url"], format!("{}/v2/team/app/manifests/{md}", reg.url));
    assert_eq!(push["request"]["method"], "PUT");
    assert!(push["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(chrono::DateTime::parse_from_rfc3339(push["timestamp"].as_str().unwrap()).is_ok());
    assert_eq!(push["source"]["addr"], reg.addr.to_string());
    assert_eq!(events[5]["target"]["digest"], md.to_string());
    reg.stop().await;
}

#[tokio::test]
async fn a_dead_listener_never_holds_requests_and_drops_beyond_its_queue() {
    // A port nothing listens on: every delivery fails at once.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let debug = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let reg = TestRegistry::start(|cfg, _| {
        cfg.debug_addr = Some(debug);
        cfg.notifications = vec![EndpointConfig {
            name: "hook-dead".into(),
            url: format!("http://{dead}/events"),
            threshold: 1,
            backoff: Duration::from_secs(30),
            queue_size: 2,
            ..EndpointConfig::default()
        }];
    })
    .await;
    let c = client();
    let started = Instant::now();
    for i in 0..10u8 {
        push_blob(&c, &reg.url, "team/app", &[i; 16]).await;
    }
    assert!(started.elapsed() < Duration::from_secs(10), "pushes waited for the listener: {:?}", started.elapsed());
    let metrics = c.get(format!("http://{debug}/metrics")).send().await.unwrap().text().await.unwrap();
    let value = |needle: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with("registry_notifications_events_total") && l.contains("hook-dead") && l.contains(needle))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    };
    // One event in flight (backing off), two queued, seven dropped.
    assert!(value("result=\"dropped\"") >= 7.0, "{metrics}");
    assert!(value("result=\"failed\"") >= 1.0, "{metrics}");
    reg.stop().await;
}
