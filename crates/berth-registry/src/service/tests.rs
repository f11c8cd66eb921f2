//! Service-level behaviour on the memory driver.

use super::*;
use crate::errors::ErrorCode;
use crate::storage::MemDriver;
use futures_util::stream;

fn reg() -> Registry {
    Registry::new(Driver::Mem(MemDriver::new()), ServiceLimits::default())
}

fn body(chunks: Vec<&'static [u8]>) -> BodyStream {
    Box::pin(stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from_static(c)))))
}

#[tokio::test]
async fn upload_with_wrong_digest_leaves_nothing_visible() {
    let r = reg();
    let wrong = Digest::of(b"other");
    let e = r.blob_put("a", &wrong, body(vec![b"data"])).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::DigestInvalid);
    assert_eq!(r.blob_size("a", &Digest::of(b"data")).await.unwrap_err().code, ErrorCode::BlobUnknown);
    assert!(r.driver.list("repositories/a/_uploads").await.map(|v| v.is_empty()).unwrap_or(true));
}

#[tokio::test]
async fn interrupted_upload_is_invisible_and_resumable() {
    let r = reg();
    let id = r.upload_start("a").await.unwrap();
    let broken: BodyStream = Box::pin(stream::iter(vec![
        Ok(Bytes::from_static(b"hello ")),
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "gone")),
    ]));
    assert_eq!(r.upload_append("a", &id, None, broken).await.unwrap_err().code, ErrorCode::BlobUploadInvalid);
    let d = Digest::of(b"hello world");
    assert!(r.blob_size("a", &d).await.is_err());
    assert_eq!(r.upload_size("a", &id).await.unwrap(), 6);
    r.upload_finish("a", &id, &d, None, Some(body(vec![b"world"]))).await.unwrap();
    assert_eq!(r.blob_size("a", &d).await.unwrap(), 11);
}

#[tokio::test]
async fn upload_session_survives_restart_and_rehashes() {
    let driver = MemDriver::new();
    let r1 = Registry::new(Driver::Mem(driver.clone()), ServiceLimits::default());
    let id = r1.upload_start("a").await.unwrap();
    r1.upload_append("a", &id, Some(0), body(vec![b"abc"])).await.unwrap();
    let r2 = Registry::new(Driver::Mem(driver), ServiceLimits::default());
    assert_eq!(r2.upload_size("a", &id).await.unwrap(), 3);
    r2.upload_finish("a", &id, &Digest::of(b"abc"), None, None).await.unwrap();
    assert_eq!(r2.blob_size("a", &Digest::of(b"abc")).await.unwrap(), 3);
}

#[tokio::test]
async fn blobs_are_stored_once_and_visible_only_where_linked() {
    let r = reg();
    let d = Digest::of(b"x");
    r.blob_put("a", &d, body(vec![b"x"])).await.unwrap();
    r.blob_put("b", &d, body(vec![b"x"])).await.unwrap();
    assert_eq!(r.driver.list("blobs/sha256").await.unwrap().len(), 1);
    assert!(r.blob_size("c", &d).await.is_err());
    assert!(r.blob_mount("c", "a", &d).await.unwrap());
    assert!(!r.blob_mount("d", "nope", &d).await.unwrap());
    assert_eq!(r.blob_size("c", &d).await.unwrap(), 1);
}

/// Docker's push of an existing layer: HEAD finds it, the upload is skipped, the manifest names it.
/// A sweep between the HEAD and the manifest put must spare the blob even though it is old.
#[tokio::test]
async fn gc_spares_an_old_blob_served_within_the_grace_period() {
    let grace = std::time::Duration::from_secs(1);
    let r = Registry::new(Driver::Mem(MemDriver::new()), ServiceLimits { gc_grace: grace, ..ServiceLimits::default() });
    let opts = crate::gc::GcOptions { grace, ..crate::gc::GcOptions::default() };
    let config: &'static [u8] = br#"{"architecture":"amd64","os":"linux"}"#;
    let (layer, control): (&'static [u8], &'static [u8]) = (b"layer", b"control");
    for blob in [config, layer, control] {
        r.blob_put("a", &Digest::of(blob), body(vec![blob])).await.unwrap();
    }
    // Older than the grace period by mtime, link time and (upload) use.
    tokio::time::sleep(grace + std::time::Duration::from_millis(100)).await;
    r.blob_size("a", &Digest::of(config)).await.unwrap();
    r.blob_size("a", &Digest::of(layer)).await.unwrap();

    let report = crate::gc::collect(&r, &opts).await.unwrap();
    assert_eq!(report.blobs_removed, vec![Digest::of(control)]);
    assert_eq!(r.blob_size("a", &Digest::of(control)).await.unwrap_err().code, ErrorCode::BlobUnknown);
    let descriptor =
        |mt: &str, data: &[u8]| serde_json::json!({ "mediaType": mt, "digest": Digest::of(data), "size": data.len() });
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::manifest::OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
    });
    let m = Bytes::from(serde_json::to_vec(&m).unwrap());
    r.manifest_put("a", &ManifestRef::Tag("v1".into()), None, m).await.unwrap();
}
