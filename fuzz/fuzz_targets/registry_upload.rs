//! `berth registry`'s HTTP API over its in-memory storage driver, driven in process by sequences of
//! requests: blob upload sessions (start, chunk with and without `Content-Range`, status, finish with
//! a right or wrong digest, cancel, monolithic, cross-repository mount), blob reads with ranges,
//! manifest pushes and reads, listings, and raw requests with any method, path, query and headers.
//!
//! Checked after every request against a model of what the client sent: no 5xx (memory storage
//! cannot fail); an upload's `Range` is exactly the bytes accepted so far; a `201` blob is served
//! back byte for byte under its digest; a manifest naming pushed blobs is accepted and served back.
#![no_main]

use arbitrary::Arbitrary;
use axum::body::Body;
use berth_fuzz::runtime;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use tower::ServiceExt;

const REPOS: [&str; 3] = ["a", "team/app", "library/busybox"];

#[derive(Arbitrary, Debug)]
enum DigestChoice {
    /// The digest of what the session received (plus the final body).
    Right,
    /// A digest of other bytes.
    Wrong,
    /// Any text.
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Start { repo: u8 },
    Monolithic { repo: u8, digest: DigestChoice, body: Vec<u8> },
    Mount { repo: u8, from: u8, blob: u8 },
    Patch { upload: u8, range: Option<(u64, u64)>, raw_range: Option<String>, length: Option<u64>, body: Vec<u8> },
    Finish { upload: u8, digest: DigestChoice, body: Vec<u8> },
    Status { upload: u8 },
    Cancel { upload: u8 },
    GetBlob { repo: u8, blob: u8, range: Option<String>, head: bool },
    DeleteBlob { repo: u8, blob: u8 },
    PushManifest { repo: u8, tag: String, config: u8, layers: Vec<u8>, index: bool },
    GetManifest { repo: u8, reference: String },
    DeleteManifest { repo: u8, reference: String },
    List { repo: u8, catalog: bool, n: Option<String>, last: Option<String> },
    Raw { method: u8, path: String, query: String, headers: Vec<(String, String)>, body: Vec<u8> },
}

struct Upload {
    repo: &'static str,
    location: String,
    received: Vec<u8>,
}

#[derive(Default)]
struct Model {
    uploads: Vec<Upload>,
    /// Blobs the registry said it has: digest → (content, repositories linked).
    blobs: Vec<(String, Vec<u8>)>,
    linked: HashMap<String, Vec<&'static str>>,
}

struct Resp {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

async fn send(app: &axum::Router, method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Option<Resp> {
    let mut req = Request::builder().method(method).uri(uri).header("Host", "fuzz.local");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::from(body)).ok()?;
    let resp = app.clone().oneshot(req).await.expect("router is infallible");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("response body").to_bytes().to_vec();
    assert!(!parts.status.is_server_error(), "{uri}: {} {}", parts.status, String::from_utf8_lossy(&body));
    Some(Resp { status: parts.status, headers: parts.headers, body })
}

fn digest_of(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

fn header<'a>(r: &'a Resp, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

fn choose(d: &DigestChoice, content: &[u8]) -> String {
    match d {
        DigestChoice::Right => digest_of(content),
        DigestChoice::Wrong => digest_of(b"not this"),
        DigestChoice::Raw(s) => s.clone(),
    }
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Model {
    /// Records a `201 Created` blob; returns its digest as the registry names it.
    fn created(&mut self, r: &Resp, repo: &'static str, content: Vec<u8>) -> String {
        let digest = header(r, "Docker-Content-Digest").expect("Docker-Content-Digest").to_string();
        assert_eq!(digest_of(&content), digest, "201 for content that does not hash to its digest");
        if !self.blobs.iter().any(|(d, _)| *d == digest) {
            self.blobs.push((digest.clone(), content));
        }
        self.linked.entry(digest.clone()).or_default().push(repo);
        digest
    }

    async fn check_blob(&self, app: &axum::Router, repo: &str, digest: &str) {
        let (_, content) = self.blobs.iter().find(|(d, _)| d == digest).expect("known blob");
        let r = send(app, Method::GET, &format!("/v2/{repo}/blobs/{digest}"), &[], Vec::new()).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "blob {digest} just pushed to {repo} is not served");
        assert_eq!(&r.body, content, "blob {digest} served with other content");
    }
}

async fn run(ops: Vec<Op>) {
    let app = berth_registry::in_memory_app().await.expect("in-memory registry");
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Start { repo } => {
                let repo = REPOS[repo as usize % REPOS.len()];
                let r = send(&app, Method::POST, &format!("/v2/{repo}/blobs/uploads/"), &[], Vec::new()).await.unwrap();
                assert_eq!(r.status, StatusCode::ACCEPTED);
                assert_eq!(header(&r, "Range"), Some("0-0"));
                let location = header(&r, "Location").expect("Location").to_string();
                m.uploads.push(Upload { repo, location, received: Vec::new() });
            }
            Op::Monolithic { repo, digest, body } => {
                let repo = REPOS[repo as usize % REPOS.len()];
                let d = choose(&digest, &body);
                let uri = format!("/v2/{repo}/blobs/uploads/?digest={}", enc(&d));
                let r = send(&app, Method::POST, &uri, &[], body.clone()).await.unwrap();
                if r.status == StatusCode::CREATED {
                    let d = m.created(&r, repo, body);
                    m.check_blob(&app, repo, &d).await;
                } else {
                    assert!(!matches!(digest, DigestChoice::Right), "monolithic upload with the right digest: {}", r.status);
                }
            }
            Op::Mount { repo, from, blob } => {
                let (repo, from) = (REPOS[repo as usize % REPOS.len()], REPOS[from as usize % REPOS.len()]);
                let Some((d, _)) = m.blobs.get(blob as usize % m.blobs.len().max(1)).cloned() else { continue };
                let uri = format!("/v2/{repo}/blobs/uploads/?mount={}&from={from}", enc(&d));
                let r = send(&app, Method::POST, &uri, &[], Vec::new()).await.unwrap();
                if r.status == StatusCode::CREATED {
                    let content = m.blobs.iter().find(|(x, _)| *x == d).unwrap().1.clone();
                    let d = m.created(&r, repo, content);
                    m.check_blob(&app, repo, &d).await;
                } else if r.status == StatusCode::ACCEPTED {
                    let location = header(&r, "Location").expect("Location").to_string();
                    m.uploads.push(Upload { repo, location, received: Vec::new() });
                }
            }
            Op::Patch { upload, range, raw_range, length, body } => {
                let n = m.uploads.len();
                let Some(u) = m.uploads.get_mut(upload as usize % n.max(1)) else { continue };
                let range_text = match (range, raw_range) {
                    (Some((a, b)), _) => Some(format!("{a}-{b}")),
                    (None, Some(raw)) => Some(raw),
                    (None, None) => None,
                };
                let length_text = length.map(|l| l.to_string());
                let mut headers = Vec::new();
                if let Some(r) = &range_text {
                    headers.push(("Content-Range", r.as_str()));
                }
                if let Some(l) = &length_text {
                    headers.push(("Content-Length", l.as_str()));
                }
                let location = u.location.clone();
                let Some(r) = send(&app, Method::PATCH, &location, &headers, body.clone()).await else { continue };
                if r.status == StatusCode::ACCEPTED {
                    u.received.extend_from_slice(&body);
                    let want = format!("0-{}", u.received.len().saturating_sub(1));
                    assert_eq!(header(&r, "Range"), Some(want.as_str()), "Range after a chunk");
                } else if let Some(range) = header(&r, "Range") {
                    // A refused out-of-order chunk tells where the upload ends (a malformed
                    // Content-Range gets 416 without it: the spec only requires the status).
                    let want = format!("0-{}", u.received.len().saturating_sub(1));
                    assert_eq!(range, want, "Range of a refused chunk");
                }
            }
            Op::Finish { upload, digest, body } => {
                let n = m.uploads.len();
                if n == 0 {
                    continue;
                }
                let i = upload as usize % n;
                let mut all = m.uploads[i].received.clone();
                all.extend_from_slice(&body);
                let d = choose(&digest, &all);
                let uri = format!("{}?digest={}", m.uploads[i].location, enc(&d));
                let r = send(&app, Method::PUT, &uri, &[], body).await.unwrap();
                if r.status == StatusCode::CREATED {
                    let u = m.uploads.remove(i);
                    let d = m.created(&r, u.repo, all);
                    m.check_blob(&app, u.repo, &d).await;
                } else {
                    assert!(!matches!(digest, DigestChoice::Right), "finishing with the right digest: {}", r.status);
                    // A wrong digest discards the session (the spec's DIGEST_INVALID); a malformed one
                    // is refused before touching it.
                    if r.status == StatusCode::BAD_REQUEST && String::from_utf8_lossy(&r.body).contains("DIGEST_INVALID") {
                        let status = send(&app, Method::GET, &m.uploads[i].location, &[], Vec::new()).await.unwrap();
                        if status.status == StatusCode::NOT_FOUND {
                            m.uploads.remove(i);
                        }
                    }
                }
            }
            Op::Status { upload } => {
                let n = m.uploads.len();
                let Some(u) = m.uploads.get(upload as usize % n.max(1)) else { continue };
                let r = send(&app, Method::GET, &u.location, &[], Vec::new()).await.unwrap();
                assert_eq!(r.status, StatusCode::NO_CONTENT, "status of a live upload");
                let want = format!("0-{}", u.received.len().saturating_sub(1));
                assert_eq!(header(&r, "Range"), Some(want.as_str()), "Range of upload status");
            }
            Op::Cancel { upload } => {
                let n = m.uploads.len();
                if n == 0 {
                    continue;
                }
                let u = m.uploads.remove(upload as usize % n);
                let r = send(&app, Method::DELETE, &u.location, &[], Vec::new()).await.unwrap();
                assert_eq!(r.status, StatusCode::NO_CONTENT, "cancel of a live upload");
                let r = send(&app, Method::GET, &u.location, &[], Vec::new()).await.unwrap();
                assert_eq!(r.status, StatusCode::NOT_FOUND, "a cancelled upload is gone");
            }
            Op::GetBlob { repo, blob, range, head } => {
                let repo = REPOS[repo as usize % REPOS.len()];
                let Some((d, content)) = m.blobs.get(blob as usize % m.blobs.len().max(1)).cloned() else { continue };
                let mut headers = Vec::new();
                if let Some(r) = &range {
                    headers.push(("Range", r.as_str()));
                }
                let method = if head { Method::HEAD } else { Method::GET };
                let Some(r) = send(&app, method, &format!("/v2/{repo}/blobs/{d}"), &headers, Vec::new()).await else { continue };
                if r.status == StatusCode::OK && !head {
                    assert_eq!(r.body, content);
                } else if r.status == StatusCode::PARTIAL_CONTENT && !head {
                    assert!(content.windows(r.body.len().max(1)).any(|w| w == &r.body[..]) || r.body.is_empty());
                }
            }
            Op::DeleteBlob { repo, blob } => {
                let repo = REPOS[repo as usize % REPOS.len()];
                let Some((d, _)) = m.blobs.get(blob as usize % m.blobs.len().max(1)).cloned() else { continue };
                let r = send(&app, Method::DELETE, &format!("/v2/{repo}/blobs/{d}"), &[], Vec::new()).await.unwrap();
                if r.status == StatusCode::ACCEPTED {
                    if let Some(l) = m.linked.get_mut(&d) {
                        l.retain(|x| *x != repo);
                    }
                }
            }
            Op::PushManifest { repo, tag, config, layers, index } => {
                let repo = REPOS[repo as usize % REPOS.len()];
                let linked: Vec<(String, usize)> = m
                    .blobs
                    .iter()
                    .filter(|(d, _)| m.linked.get(d).is_some_and(|l| l.contains(&repo)))
                    .map(|(d, c)| (d.clone(), c.len()))
                    .collect();
                let Some(cfg) = linked.get(config as usize % linked.len().max(1)) else { continue };
                let desc = |(d, n): &(String, usize), mt: &str| format!(r#"{{"mediaType":"{mt}","digest":"{d}","size":{n}}}"#);
                let layers: Vec<String> = layers
                    .iter()
                    .map(|i| desc(&linked[*i as usize % linked.len()], "application/vnd.oci.image.layer.v1.tar"))
                    .collect();
                let body = format!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{}]}}"#,
                    desc(cfg, "application/vnd.oci.image.config.v1+json"),
                    layers.join(",")
                );
                let ct = "application/vnd.oci.image.manifest.v1+json";
                let reference = if tag.is_empty() { digest_of(body.as_bytes()) } else { tag.clone() };
                let uri = format!("/v2/{repo}/manifests/{reference}");
                let Some(r) = send(&app, Method::PUT, &uri, &[("Content-Type", ct)], body.clone().into_bytes()).await else { continue };
                let valid_tag = !tag.is_empty() && berth_registry::names::valid_tag(&tag);
                if tag.is_empty() || valid_tag {
                    assert_eq!(r.status, StatusCode::CREATED, "manifest of pushed blobs: {}", String::from_utf8_lossy(&r.body));
                    let d = digest_of(body.as_bytes());
                    for reference in [d.as_str(), reference.as_str()] {
                        let g = send(&app, Method::GET, &format!("/v2/{repo}/manifests/{reference}"), &[], Vec::new())
                            .await
                            .unwrap();
                        assert_eq!(g.status, StatusCode::OK);
                        assert_eq!(g.body, body.as_bytes(), "manifest served with other bytes");
                    }
                    if index {
                        let index = format!(
                            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
                            desc(&(d, body.len()), ct)
                        );
                        let it = "application/vnd.oci.image.index.v1+json";
                        let r = send(&app, Method::PUT, &format!("/v2/{repo}/manifests/{}", digest_of(index.as_bytes())), &[("Content-Type", it)], index.into_bytes())
                            .await
                            .unwrap();
                        assert_eq!(r.status, StatusCode::CREATED, "index of a pushed manifest");
                    }
                }
            }
            Op::GetManifest { repo, reference } => {
                let repo = REPOS[repo as usize % REPOS.len()];
                let _ = send(&app, Method::GET, &format!("/v2/{repo}/manifests/{reference}"), &[], Vec::new()).await;
            }
            Op::DeleteManifest { repo, reference } => {
                let repo = REPOS[repo as usize % REPOS.len()];
                let _ = send(&app, Method::DELETE, &format!("/v2/{repo}/manifests/{reference}"), &[], Vec::new()).await;
            }
            Op::List { repo, catalog, n, last } => {
                let repo = REPOS[repo as usize % REPOS.len()];
                let mut q = Vec::new();
                if let Some(n) = n {
                    q.push(format!("n={}", enc(&n)));
                }
                if let Some(l) = last {
                    q.push(format!("last={}", enc(&l)));
                }
                let path = if catalog { "/v2/_catalog".to_string() } else { format!("/v2/{repo}/tags/list") };
                let _ = send(&app, Method::GET, &format!("{path}?{}", q.join("&")), &[], Vec::new()).await;
            }
            Op::Raw { method, path, query, headers, body } => {
                let methods = [Method::GET, Method::HEAD, Method::PUT, Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS];
                let method = methods[method as usize % methods.len()].clone();
                // Deleting a blob link behind the model's back would make its later checks wrong.
                if method == Method::DELETE && path.contains("/blobs/") {
                    continue;
                }
                let uri = if query.is_empty() { format!("/{path}") } else { format!("/{path}?{query}") };
                let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let _ = send(&app, method, &uri, &headers, body).await;
            }
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    if ops.len() > 64 {
        return;
    }
    runtime().block_on(run(ops));
});
