//! Pull and push against a real in-process registry over loopback HTTP.

mod common;

use berth_distribution::{DistributionError, Progress};
use berth_types::{Digest, Reference};
use common::*;
use serde_json::json;

fn r(s: &str) -> Reference {
    Reference::parse_tagged(s).unwrap()
}

fn three_layers() -> Vec<Vec<u8>> {
    vec![
        layer_tar(&[("bin/tool", random_bytes(300_000, 1))]),
        layer_tar(&[("etc/conf", b"key=value\n".repeat(1000))]),
        layer_tar(&[
            ("data/blob", random_bytes(700_000, 3)),
            ("data/small", b"x".to_vec()),
        ]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_then_pull_round_trips_and_second_push_reuses_blobs() {
    let reg = registry(|_, _| {}).await;
    let a = host();
    let name = format!("{}/team/app:1", reg.host);
    let id = build_image(&a.store, &name, &three_layers(), "rt");

    let ev = Events::default();
    let pushed = a
        .client
        .push(a.store.clone(), &r(&name), None, ev.sink())
        .await
        .unwrap();
    assert_eq!(ev.count("Pushed"), 3, "{:?}", ev.statuses());
    assert_eq!(ev.count("Preparing"), 3);
    assert!(ev.0.lock().unwrap().contains(&Progress::PushDigest {
        tag: "1".into(),
        digest: pushed.digest.clone(),
        size: pushed.size
    }));
    assert!(ev.has(&format!(
        "The push refers to repository [{}/team/app]",
        reg.host
    )));
    let blobs_after_first = a.store.content().list().unwrap().len();

    // Second push: every layer is already there; nothing is compressed again.
    let ev2 = Events::default();
    let again = a
        .client
        .push(a.store.clone(), &r(&name), None, ev2.sink())
        .await
        .unwrap();
    assert_eq!(again, pushed);
    assert_eq!(ev2.count("Layer already exists"), 3, "{:?}", ev2.statuses());
    assert_eq!(ev2.count("Pushed"), 0);
    assert_eq!(
        a.store.content().list().unwrap().len(),
        blobs_after_first,
        "a layer was compressed again"
    );
    // The push recorded the repo digest locally, as dockerd does.
    let img = a.store.get(&name).unwrap();
    assert!(img
        .digests
        .iter()
        .any(|d| d.digest() == Some(&pushed.digest)));

    // Pull into a fresh host.
    let b = host();
    let ev3 = Events::default();
    let pulled = b
        .client
        .pull(b.store.clone(), &r(&name), None, None, ev3.sink())
        .await
        .unwrap();
    assert_eq!(pulled.id, id);
    assert_eq!(pulled.digest, pushed.digest);
    assert!(pulled.new);
    let img = b.store.get(&name).unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.layers, a.store.get(&name).unwrap().layers);
    let repo_digest = format!("{}/team/app@{}", reg.host, pushed.digest);
    assert_eq!(b.store.get(&repo_digest).unwrap().id, id);
    let st = ev3.statuses();
    assert_eq!(st[0], "Pulling from team/app");
    assert_eq!(ev3.count("Pulling fs layer"), 3);
    assert_eq!(ev3.count("Pull complete"), 3);
    assert_eq!(ev3.count("Download complete"), 3);
    assert!(ev3.has(&format!("Digest: {}", pushed.digest)));
    assert_eq!(
        st.last().unwrap(),
        &format!("Status: Downloaded newer image for {name}")
    );

    // Pulling again: up to date, every layer already exists.
    let ev4 = Events::default();
    let again = b
        .client
        .pull(b.store.clone(), &r(&name), None, None, ev4.sink())
        .await
        .unwrap();
    assert!(!again.new);
    assert_eq!(ev4.count("Already exists"), 3);
    assert_eq!(
        ev4.statuses().last().unwrap(),
        &format!("Status: Image is up to date for {name}")
    );

    // Pushing the pulled image to another repository of the same registry mounts every layer.
    let other = format!("{}/other/copy:2", reg.host);
    b.store.tag(&id, &r(&other)).unwrap();
    let ev5 = Events::default();
    b.client
        .push(b.store.clone(), &r(&other), None, ev5.sink())
        .await
        .unwrap();
    assert_eq!(
        ev5.count("Mounted from team/app"),
        3,
        "{:?}",
        ev5.statuses()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_to_second_repository_mounts_and_to_second_registry_does_not_recompress() {
    let reg = registry(|_, _| {}).await;
    let reg2 = registry(|_, _| {}).await;
    let a = host();
    let first = format!("{}/one/app:latest", reg.host);
    let id = build_image(&a.store, &first, &three_layers()[..2], "mnt");
    a.client
        .push(a.store.clone(), &r(&first), None, |_| {})
        .await
        .unwrap();
    let blobs = a.store.content().list().unwrap().len();

    let second = format!("{}/two/app:latest", reg.host);
    a.store.tag(&id, &r(&second)).unwrap();
    let ev = Events::default();
    a.client
        .push(a.store.clone(), &r(&second), None, ev.sink())
        .await
        .unwrap();
    assert_eq!(ev.count("Mounted from one/app"), 2, "{:?}", ev.statuses());

    let third = format!("{}/three/app:latest", reg2.host);
    a.store.tag(&id, &r(&third)).unwrap();
    let ev = Events::default();
    a.client
        .push(a.store.clone(), &r(&third), None, ev.sink())
        .await
        .unwrap();
    assert_eq!(ev.count("Pushed"), 2, "{:?}", ev.statuses());
    assert_eq!(
        a.store.content().list().unwrap().len(),
        blobs,
        "compressed again for the second registry"
    );

    let b = host();
    assert_eq!(
        b.client
            .pull(b.store.clone(), &r(&third), None, None, |_| {})
            .await
            .unwrap()
            .id,
        id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_zstd_and_uncompressed_layers_pull() {
    let reg = registry(|_, _| {}).await;
    let t1 = layer_tar(&[("a", random_bytes(200_000, 7))]);
    let t2 = layer_tar(&[("b", b"zstd me ".repeat(20_000))]);
    let t3 = layer_tar(&[("c", b"plain".to_vec())]);
    let layers = vec![
        (
            "application/vnd.oci.image.layer.v1.tar+gzip",
            gzip(&t1),
            t1.clone(),
        ),
        (
            "application/vnd.oci.image.layer.v1.tar+zstd",
            zstd::encode_all(&t2[..], 3).unwrap(),
            t2.clone(),
        ),
        (
            "application/vnd.oci.image.layer.v1.tar",
            t3.clone(),
            t3.clone(),
        ),
    ];
    let (_, config) = push_oci_image(&reg.host, "mixed", Some("v1"), "amd64", &layers).await;
    let b = host();
    let name = format!("{}/mixed:v1", reg.host);
    let res = b
        .client
        .pull(
            b.store.clone(),
            &r(&name),
            Some("linux/amd64"),
            None,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(res.id, Digest::of(&config));
    for t in [&t1, &t2, &t3] {
        assert_eq!(b.store.content().read(&Digest::of(t)).unwrap(), *t);
    }
    // Pushing it back keeps zstd, so the manifest must be OCI; pull of the pushed copy gives the same id.
    let copy = format!("{}/mixed-copy:v1", reg.host);
    b.store.tag(&res.id, &r(&copy)).unwrap();
    b.client
        .push(b.store.clone(), &r(&copy), None, |_| {})
        .await
        .unwrap();
    let c = host();
    assert_eq!(
        c.client
            .pull(c.store.clone(), &r(&copy), None, None, |_| {})
            .await
            .unwrap()
            .id,
        res.id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_list_picks_requested_platform() {
    let reg = registry(|_, _| {}).await;
    let amd = layer_tar(&[("arch", b"amd64".to_vec())]);
    let arm = layer_tar(&[("arch", b"arm64".to_vec())]);
    let gz = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    let (m_amd, c_amd) = push_oci_image(
        &reg.host,
        "multi",
        None,
        "amd64",
        &[(gz, gzip(&amd), amd.clone())],
    )
    .await;
    let (m_arm, c_arm) = push_oci_image(
        &reg.host,
        "multi",
        None,
        "arm64",
        &[(gz, gzip(&arm), arm.clone())],
    )
    .await;
    let mt = "application/vnd.oci.image.manifest.v1+json";
    let list = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {"mediaType": mt, "size": m_amd.len(), "digest": Digest::of(&m_amd).to_string(), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": mt, "size": m_arm.len(), "digest": Digest::of(&m_arm).to_string(), "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
        ]
    });
    let list = serde_json::to_vec(&list).unwrap();
    put_manifest(
        &reg.host,
        "multi",
        "latest",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        &list,
    )
    .await;
    let name = format!("{}/multi", reg.host);

    let b = host();
    let res = b
        .client
        .pull(
            b.store.clone(),
            &r(&name),
            Some("linux/arm64"),
            None,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(res.id, Digest::of(&c_arm));
    assert_eq!(
        res.digest,
        Digest::of(&list),
        "the repo digest is the list's"
    );
    let c = host();
    let res = c
        .client
        .pull(
            c.store.clone(),
            &r(&name),
            Some("linux/amd64"),
            None,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(res.id, Digest::of(&c_amd));
    let err = c
        .client
        .pull(
            c.store.clone(),
            &r(&name),
            Some("linux/s390x"),
            None,
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
    // By digest, through the list.
    let by_digest = format!("{}/multi@{}", reg.host, Digest::of(&list));
    let d = host();
    let res = d
        .client
        .pull(
            d.store.clone(),
            &Reference::parse(&by_digest).unwrap(),
            Some("linux/arm64/v8"),
            None,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(res.id, Digest::of(&c_arm));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_resumes_with_range_and_failed_pull_resumes_later() {
    let reg = registry(|_, _| {}).await;
    let a = host();
    let px = proxy(&reg.host).await;
    let name = format!("{}/resume/app:1", px.host);
    let tars = three_layers();
    let id = build_image(&a.store, &name, &tars, "resume");
    a.client
        .push(a.store.clone(), &r(&name), None, |_| {})
        .await
        .unwrap();
    let blobs: Vec<Digest> = tars
        .iter()
        .map(|t| {
            a.client.blob_index().blobs(&Digest::of(t))[0]
                .digest
                .clone()
        })
        .collect();

    // Within one pull: the 2nd layer's connection is cut halfway and resumed with a Range request.
    px.state
        .faults
        .lock()
        .unwrap()
        .push(Fault::DropOnce(blobs[1].clone()));
    let b = host();
    let res = b
        .client
        .pull(b.store.clone(), &r(&name), None, None, |_| {})
        .await
        .unwrap();
    assert_eq!(res.id, id);
    assert_eq!(px.state.blob_gets(&blobs[1]), 2);
    let ranges = px.state.ranges.lock().unwrap().clone();
    assert_eq!(ranges.len(), 1, "{ranges:?}");
    assert!(
        ranges[0].starts_with("bytes=") && ranges[0] != "bytes=0-",
        "{ranges:?}"
    );

    // Across pulls: the 2nd layer fails every time, so the pull fails; the next pull fetches only it.
    px.state
        .faults
        .lock()
        .unwrap()
        .push(Fault::Fail(blobs[1].clone()));
    let c = host();
    let err = c
        .client
        .pull(c.store.clone(), &r(&name), None, None, |_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("injected failure") || err.to_string().contains("500"),
        "{err}"
    );
    assert!(c.store.get(&name).is_err());
    px.state.faults.lock().unwrap().clear();
    let before: Vec<usize> = blobs.iter().map(|d| px.state.blob_gets(d)).collect();
    let ev = Events::default();
    let res = c
        .client
        .pull(c.store.clone(), &r(&name), None, None, ev.sink())
        .await
        .unwrap();
    assert_eq!(res.id, id);
    let after: Vec<usize> = blobs.iter().map(|d| px.state.blob_gets(d)).collect();
    assert_eq!(after[0], before[0], "finished layer downloaded again");
    assert_eq!(after[2], before[2], "finished layer downloaded again");
    assert_eq!(after[1], before[1] + 1);
    assert_eq!(ev.count("Already exists"), 2, "{:?}", ev.statuses());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_mismatch_fails_and_stores_nothing() {
    let reg = registry(|_, _| {}).await;
    let a = host();
    let px = proxy(&reg.host).await;
    let name = format!("{}/bad/app:1", px.host);
    let tars = vec![layer_tar(&[("f", random_bytes(50_000, 9))])];
    build_image(&a.store, &name, &tars, "bad");
    a.client
        .push(a.store.clone(), &r(&name), None, |_| {})
        .await
        .unwrap();
    let blob = a.client.blob_index().blobs(&Digest::of(&tars[0]))[0]
        .digest
        .clone();
    px.state
        .faults
        .lock()
        .unwrap()
        .push(Fault::Corrupt(blob.clone()));

    let b = host();
    let err = b
        .client
        .pull(b.store.clone(), &r(&name), None, None, |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DistributionError::DigestMismatch { expected, .. } if *expected == blob)
            || matches!(&err, DistributionError::Image(_)),
        "{err:?}"
    );
    assert!(b.store.list().is_empty());
    assert!(!b.store.content().contains(&Digest::of(&tars[0])));
    assert!(
        b.store.content().list().unwrap().is_empty(),
        "something was stored: {:?}",
        b.store.content().list()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_errors_for_unreachable_and_unknown_manifest() {
    let reg = registry(|_, _| {}).await;
    let b = host();
    let err = b
        .client
        .pull(
            b.store.clone(),
            &r(&format!("{}/nope:1", reg.host)),
            None,
            None,
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "manifest for {}/nope:1 not found: manifest unknown",
            reg.host
        )
    );

    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let err = b
        .client
        .pull(
            b.store.clone(),
            &r(&format!("{addr}/x:1")),
            None,
            None,
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Get \"http://{addr}/v2/\": dial tcp {addr}: connect: connection refused")
    );

    let err = b
        .client
        .push(
            b.store.clone(),
            &r(&format!("{}/missing:1", reg.host)),
            None,
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "An image does not exist locally with the tag: {}/missing:1",
            reg.host
        )
    );
}
