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
    r.upload_finish("a", &id, &d, Some(body(vec![b"world"]))).await.unwrap();
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
    r2.upload_finish("a", &id, &Digest::of(b"abc"), None).await.unwrap();
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
