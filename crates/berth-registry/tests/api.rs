//! HTTP-level tests of every endpoint and error of the distribution API.

mod common;

use berth_types::Digest;
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn base_endpoint_answers_with_api_version() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let r = client().get(format!("{}/v2/", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["docker-distribution-api-version"], "registry/2.0");
    reg.stop().await;
}

#[tokio::test]
async fn monolithic_blob_push_then_head_get_and_ranges() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let data = b"0123456789abcdef".to_vec();
    let d = push_blob(&c, &reg.url, "org/team/app", &data).await;
    let url = format!("{}/v2/org/team/app/blobs/{d}", reg.url);
    let r = c.head(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], "16");
    assert_eq!(r.headers()["docker-content-digest"], d.to_string().as_str());
    // Immutable under its digest: cacheable for a year, as distribution answers.
    assert_eq!(r.headers()["cache-control"], "max-age=31536000");
    assert_eq!(c.get(&url).send().await.unwrap().bytes().await.unwrap(), data);
    let r = c.get(&url).header("Range", "bytes=2-5").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 2-5/16");
    assert_eq!(&r.bytes().await.unwrap()[..], b"2345");
    let r = c.get(&url).header("Range", "bytes=-3").send().await.unwrap();
    assert_eq!(&r.bytes().await.unwrap()[..], b"def");
    let r = c.get(&url).header("Range", "bytes=99-").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["content-range"], "bytes */16");
    // Blobs are visible only in repositories that have them.
    let r = c.get(format!("{}/v2/other/blobs/{d}", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    let r = c.head(format!("{}/v2/other/blobs/sha256:nothex", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    reg.stop().await;
}

/// Blob bodies over plain HTTP go out with sendfile in 4 MiB frames: whole and ranged bodies that span
/// several frames, one after another on the same keep-alive connection, arrive byte for byte.
#[tokio::test]
async fn large_blobs_arrive_intact_whole_and_ranged_on_one_connection() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let a: Vec<u8> = (0..(9u32 << 20) + 77).map(|i| (i.wrapping_mul(31) % 251) as u8).collect();
    let b: Vec<u8> = (0..(5u32 << 20) + 3).map(|i| (i.wrapping_mul(17) % 253) as u8).collect();
    let da = push_blob(&c, &reg.url, "big", &a).await;
    let db = push_blob(&c, &reg.url, "big", &b).await;
    let url = |d: &Digest| format!("{}/v2/big/blobs/{d}", reg.url);
    for _ in 0..2 {
        let r = c.get(url(&da)).send().await.unwrap();
        assert_eq!(r.headers()["content-length"], a.len().to_string().as_str());
        assert!(r.bytes().await.unwrap() == a, "blob a differs");
        let r = c.get(url(&db)).header("Range", "bytes=1000-").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(r.headers()["content-range"], format!("bytes 1000-{}/{}", b.len() - 1, b.len()).as_str());
        assert!(r.bytes().await.unwrap() == b[1000..], "range of blob b differs");
        let r = c.get(url(&da)).header("Range", "bytes=4194000-8388700").send().await.unwrap();
        assert!(r.bytes().await.unwrap() == a[4194000..=8388700], "range of blob a differs");
        let r = c.head(url(&db)).send().await.unwrap();
        assert_eq!(r.headers()["content-length"], b.len().to_string().as_str());
        assert!(r.bytes().await.unwrap().is_empty());
    }
    reg.stop().await;
}

#[tokio::test]
async fn chunked_upload_with_content_range_rejects_out_of_order_chunks() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let r = c.post(format!("{}/v2/a/blobs/uploads/", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], "0-0");
    let loc = format!("{}{}", reg.url, r.headers()["location"].to_str().unwrap());
    assert!(r.headers().contains_key("docker-upload-uuid"));
    let r = c.patch(&loc).header("Content-Range", "0-4").body("hello").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], "0-4");
    let r = c.patch(&loc).header("Content-Range", "3-5").body("xyz").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.headers()["range"], "0-4");
    assert_eq!(error_code(r).await, "RANGE_INVALID");
    let r = c.patch(&loc).header("Content-Range", "5-10").body(" world").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = c.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["range"], "0-10");
    // Streamed chunk without Content-Range, then the closing PUT with a final chunk.
    let r = c.patch(&loc).body("!").send().await.unwrap();
    assert_eq!(r.headers()["range"], "0-11");
    let d = Digest::of(b"hello world!?");
    let r = c.put(format!("{loc}?digest={d}")).body("?").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["location"], format!("/v2/a/blobs/{d}").as_str());
    let body = c.get(format!("{}/v2/a/blobs/{d}", reg.url)).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"hello world!?");
    // The session is gone once committed.
    let r = c.get(&loc).send().await.unwrap();
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn post_then_put_and_digest_errors_and_cancel() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let start = || async {
        let r = c.post(format!("{}/v2/a/blobs/uploads/", reg.url)).send().await.unwrap();
        format!("{}{}", reg.url, r.headers()["location"].to_str().unwrap())
    };
    let loc = start().await;
    let d = Digest::of(b"abc");
    let r = c.put(format!("{loc}?digest={d}")).body("abc").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["docker-content-digest"], d.to_string().as_str());

    let loc = start().await;
    let r = c.put(format!("{loc}?digest={}", Digest::of(b"zzz"))).body("abc").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let loc = start().await;
    let r = c.put(&loc).body("abc").send().await.unwrap();
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = c.put(format!("{loc}?digest=sha256:short")).body("abc").send().await.unwrap();
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = c.delete(&loc).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = c.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    let r = c.patch(format!("{}/v2/a/blobs/uploads/0123abcd", reg.url)).body("x").send().await.unwrap();
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    // Another repository cannot use this repository's upload.
    let loc = start().await;
    let foreign = loc.replace("/v2/a/", "/v2/b/");
    let r = c.get(&foreign).send().await.unwrap();
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn cross_repository_mount_links_or_falls_back_to_upload() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let d = push_blob(&c, &reg.url, "src/repo", b"shared layer").await;
    let r = c.post(format!("{}/v2/dst/blobs/uploads/?mount={d}&from=src/repo", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["location"], format!("/v2/dst/blobs/{d}").as_str());
    assert_eq!(c.head(format!("{}/v2/dst/blobs/{d}", reg.url)).send().await.unwrap().status(), StatusCode::OK);
    let r = c.post(format!("{}/v2/dst2/blobs/uploads/?mount={d}&from=nope", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/v2/dst2/blobs/uploads/"));
    reg.stop().await;
}

#[tokio::test]
async fn blob_delete_unlinks_from_the_repository() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let d = push_blob(&c, &reg.url, "a", b"bye").await;
    let url = format!("{}/v2/a/blobs/{d}", reg.url);
    assert_eq!(c.delete(&url).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let r = c.head(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.delete(&url).send().await.unwrap();
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn manifests_round_trip_by_tag_and_digest_with_headers() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let body = push_image(&c, &reg.url, "lib/app", "v1", "a").await;
    let d = Digest::of(&body);
    for reference in ["v1".to_string(), d.to_string()] {
        let url = format!("{}/v2/lib/app/manifests/{reference}", reg.url);
        let r = c.get(&url).header("Accept", OCI_MANIFEST).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], d.to_string().as_str());
        assert_eq!(r.bytes().await.unwrap(), body);
        let r = c.head(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-length"], body.len().to_string().as_str());
    }
    // A manifest is also readable through the blobs endpoint.
    let r = c.get(format!("{}/v2/lib/app/blobs/{d}", reg.url)).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap(), body);
    // Put by digest must match the content.
    let r = c
        .put(format!("{}/v2/lib/app/manifests/{}", reg.url, Digest::of(b"x")))
        .header("Content-Type", OCI_MANIFEST)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    put_manifest(&c, &reg.url, "lib/app", &d.to_string(), OCI_MANIFEST, &body).await;
    let r = c.get(format!("{}/v2/lib/app/manifests/nope", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn docker_schema2_manifest_is_accepted_and_negotiated() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let config = br#"{"os":"linux"}"#;
    let layer = b"docker layer";
    push_blob(&c, &reg.url, "d", config).await;
    push_blob(&c, &reg.url, "d", layer).await;
    let m = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor("application/vnd.docker.container.image.v1+json", config),
        "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", layer)],
    }))
    .unwrap();
    put_manifest(&c, &reg.url, "d", "latest", DOCKER_MANIFEST, &m).await;
    let url = format!("{}/v2/d/manifests/latest", reg.url);
    let r = c.get(&url).header("Accept", format!("{OCI_MANIFEST}, {DOCKER_MANIFEST}")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], DOCKER_MANIFEST);
    let r = c.get(&url).header("Accept", OCI_MANIFEST).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "a client that only reads OCI must not get a docker manifest");
    reg.stop().await;
}

#[tokio::test]
async fn manifest_validation_errors() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let put = |name: &str, reference: &str, ct: &str, body: Vec<u8>| {
        c.put(format!("{}/v2/{name}/manifests/{reference}", reg.url)).header("Content-Type", ct).body(body).send()
    };
    let missing = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", b"absent"),
        "layers": [],
    }))
    .unwrap();
    let r = put("a", "t", OCI_MANIFEST, missing.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    // A tag must not move when validation fails.
    assert_eq!(c.get(format!("{}/v2/a/manifests/t", reg.url)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = put("a", "t", DOCKER_MANIFEST, missing).await.unwrap();
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let r = put("a", "t", OCI_MANIFEST, b"{not json".to_vec()).await.unwrap();
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let r = put("a", "bad:tag!", OCI_MANIFEST, b"{}".to_vec()).await.unwrap();
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    let r = put("a", ".bad", OCI_MANIFEST, b"{}".to_vec()).await.unwrap();
    assert_eq!(error_code(r).await, "TAG_INVALID");
    let r = put("Bad/Name", "t", OCI_MANIFEST, b"{}".to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "NAME_INVALID");
    let r = put("a", "t", OCI_MANIFEST, vec![b' '; 4 * 1024 * 1024 + 1]).await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // An index whose child is missing is refused.
    let idx = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, b"no such manifest")],
    }))
    .unwrap();
    let r = put("a", "t", OCI_INDEX, idx).await.unwrap();
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn manifest_list_serves_amd64_image_to_clients_that_cannot_read_lists() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let amd = push_image(&c, &reg.url, "multi", "amd", "amd").await;
    let arm = push_image(&c, &reg.url, "multi", "arm", "arm").await;
    let mut e1 = descriptor(OCI_MANIFEST, &arm);
    e1["platform"] = json!({ "os": "linux", "architecture": "arm64" });
    let mut e2 = descriptor(OCI_MANIFEST, &amd);
    e2["platform"] = json!({ "os": "linux", "architecture": "amd64" });
    let list = serde_json::to_vec(&json!({ "schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [e1, e2] })).unwrap();
    put_manifest(&c, &reg.url, "multi", "latest", DOCKER_LIST, &list).await;
    let url = format!("{}/v2/multi/manifests/latest", reg.url);
    let r = c.get(&url).header("Accept", format!("{DOCKER_LIST},{OCI_MANIFEST}")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], DOCKER_LIST);
    let r = c.get(&url).header("Accept", OCI_MANIFEST).send().await.unwrap();
    assert_eq!(r.headers()["docker-content-digest"], Digest::of(&amd).to_string().as_str());
    assert_eq!(r.bytes().await.unwrap(), amd);
    reg.stop().await;
}

#[tokio::test]
async fn tag_list_and_catalog_paginate_with_link() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let body = push_image(&c, &reg.url, "p/q", "t0", "x").await;
    for t in ["t1", "t2", "t3"] {
        put_manifest(&c, &reg.url, "p/q", t, OCI_MANIFEST, &body).await;
    }
    push_image(&c, &reg.url, "p", "v", "y").await;
    push_image(&c, &reg.url, "z", "v", "y").await;
    let r = c.get(format!("{}/v2/p/q/tags/list", reg.url)).send().await.unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, json!({ "name": "p/q", "tags": ["t0", "t1", "t2", "t3"] }));
    let r = c.get(format!("{}/v2/p/q/tags/list?n=2", reg.url)).send().await.unwrap();
    assert_eq!(r.headers()["link"], "</v2/p/q/tags/list?n=2&last=t1>; rel=\"next\"");
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["t0", "t1"]));
    let r = c.get(format!("{}/v2/p/q/tags/list?n=2&last=t1", reg.url)).send().await.unwrap();
    assert!(r.headers().get("link").is_none());
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["t2", "t3"]));
    let r = c.get(format!("{}/v2/unknown/tags/list", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    let v: Value = c.get(format!("{}/v2/_catalog", reg.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["repositories"], json!(["p", "p/q", "z"]));
    let r = c.get(format!("{}/v2/_catalog?n=1&last=p", reg.url)).send().await.unwrap();
    assert_eq!(r.headers()["link"], "</v2/_catalog?n=1&last=p/q>; rel=\"next\"");
    assert_eq!(r.json::<Value>().await.unwrap()["repositories"], json!(["p/q"]));
    reg.stop().await;
}

#[tokio::test]
async fn referrers_are_listed_filtered_and_announced() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let subject = push_image(&c, &reg.url, "r", "v1", "s").await;
    let sd = Digest::of(&subject);
    let empty = b"{}";
    push_blob(&c, &reg.url, "r", empty).await;
    let sig = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.example.sig",
        "config": descriptor("application/vnd.oci.empty.v1+json", empty),
        "layers": [descriptor("application/vnd.oci.empty.v1+json", empty)],
        "subject": descriptor(OCI_MANIFEST, &subject),
        "annotations": { "k": "v" },
    }))
    .unwrap();
    let r = put_manifest(&c, &reg.url, "r", &Digest::of(&sig).to_string(), OCI_MANIFEST, &sig).await;
    assert_eq!(r.headers()["oci-subject"], sd.to_string().as_str());
    let sbom = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.example.sbom", empty),
        "layers": [], "subject": descriptor(OCI_MANIFEST, &subject),
    }))
    .unwrap();
    push_blob(&c, &reg.url, "r", empty).await;
    // The sbom's config media type differs from its blob's real type only in the descriptor: fine.
    put_manifest(&c, &reg.url, "r", "sbom", OCI_MANIFEST, &sbom).await;
    let r = c.get(format!("{}/v2/r/referrers/{sd}", reg.url)).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);
    let r = c.get(format!("{}/v2/r/referrers/{sd}?artifactType=application/vnd.example.sig", reg.url)).send().await.unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(v["manifests"][0]["digest"], Digest::of(&sig).to_string());
    assert_eq!(v["manifests"][0]["annotations"]["k"], "v");
    // Deleting the referrer removes it from the list.
    let r = c.delete(format!("{}/v2/r/manifests/{}", reg.url, Digest::of(&sig))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: Value = c.get(format!("{}/v2/r/referrers/{sd}", reg.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    let v: Value = c.get(format!("{}/v2/r/referrers/{}", reg.url, Digest::of(b"none"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["manifests"], json!([]));
    let r = c.get(format!("{}/v2/r/referrers/sha256:zz", reg.url)).send().await.unwrap();
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    reg.stop().await;
}

#[tokio::test]
async fn deleting_manifest_removes_its_tags_and_deleting_tag_keeps_manifest() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let body = push_image(&c, &reg.url, "a", "one", "x").await;
    put_manifest(&c, &reg.url, "a", "two", OCI_MANIFEST, &body).await;
    let d = Digest::of(&body);
    assert_eq!(c.delete(format!("{}/v2/a/manifests/one", reg.url)).send().await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(c.get(format!("{}/v2/a/manifests/{d}", reg.url)).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(c.delete(format!("{}/v2/a/manifests/{d}", reg.url)).send().await.unwrap().status(), StatusCode::ACCEPTED);
    let v: Value = c.get(format!("{}/v2/a/tags/list", reg.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["tags"], json!([]));
    let r = c.delete(format!("{}/v2/a/manifests/{d}", reg.url)).send().await.unwrap();
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn read_only_registry_refuses_writes_with_unsupported() {
    let reg = TestRegistry::start(|c, _| c.read_only = true).await;
    let c = client();
    let r = c.post(format!("{}/v2/a/blobs/uploads/", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(r).await, "UNSUPPORTED");
    let r = c.put(format!("{}/v2/a/manifests/t", reg.url)).body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = c.get(format!("{}/v2/a/manifests/t", reg.url)).send().await.unwrap();
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn unknown_endpoints_and_methods_are_refused() {
    let reg = TestRegistry::start(|_, _| {}).await;
    let c = client();
    let r = c.get(format!("{}/v2/a", reg.url)).send().await.unwrap();
    assert_eq!(error_code(r).await, "UNSUPPORTED");
    let r = c.post(format!("{}/v2/a/tags/list", reg.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    reg.stop().await;
}
