//! The one test suite every [`StorageDriver`] must pass (house style rule 12).

use super::StorageDriver;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs every check against `d`, which must start empty.
pub(crate) async fn run<D: StorageDriver>(d: D) {
    get_of_missing_path_is_not_found(&d).await;
    put_then_get_round_trips_and_replaces(&d).await;
    reader_starts_at_offset(&d).await;
    writer_appends_or_truncates(&d).await;
    stat_reports_size_and_kind(&d).await;
    list_returns_sorted_direct_children(&d).await;
    move_replaces_target_and_removes_source(&d).await;
    delete_is_recursive(&d).await;
}

async fn get_of_missing_path_is_not_found<D: StorageDriver>(d: &D) {
    assert!(d.get_content("nope/x").await.unwrap_err().is_not_found());
    assert!(d.stat("nope").await.unwrap_err().is_not_found());
    assert!(d.list("nope").await.unwrap_err().is_not_found());
    assert!(d.delete("nope").await.unwrap_err().is_not_found());
    assert!(d.reader("nope", 0).await.err().unwrap().is_not_found());
}

async fn put_then_get_round_trips_and_replaces<D: StorageDriver>(d: &D) {
    d.put_content("a/b/c", Bytes::from_static(b"first")).await.unwrap();
    d.put_content("a/b/c", Bytes::from_static(b"2nd")).await.unwrap();
    assert_eq!(&d.get_content("a/b/c").await.unwrap()[..], b"2nd");
}

async fn reader_starts_at_offset<D: StorageDriver>(d: &D) {
    d.put_content("r/data", Bytes::from_static(b"0123456789")).await.unwrap();
    let mut s = String::new();
    d.reader("r/data", 4).await.unwrap().read_to_string(&mut s).await.unwrap();
    assert_eq!(s, "456789");
}

async fn writer_appends_or_truncates<D: StorageDriver>(d: &D) {
    let mut w = d.writer("w/data", false).await.unwrap();
    w.write_all(b"hello ").await.unwrap();
    w.shutdown().await.unwrap();
    let mut w = d.writer("w/data", true).await.unwrap();
    w.write_all(b"world").await.unwrap();
    w.shutdown().await.unwrap();
    assert_eq!(&d.get_content("w/data").await.unwrap()[..], b"hello world");
    let mut w = d.writer("w/data", false).await.unwrap();
    w.write_all(b"x").await.unwrap();
    w.shutdown().await.unwrap();
    assert_eq!(&d.get_content("w/data").await.unwrap()[..], b"x");
}

async fn stat_reports_size_and_kind<D: StorageDriver>(d: &D) {
    d.put_content("s/f", Bytes::from_static(b"12345")).await.unwrap();
    let f = d.stat("s/f").await.unwrap();
    assert_eq!((f.size, f.is_dir), (5, false));
    assert!(d.stat("s").await.unwrap().is_dir);
}

async fn list_returns_sorted_direct_children<D: StorageDriver>(d: &D) {
    for p in ["l/b/x", "l/a", "l/c/y/z", "l/b/w"] {
        d.put_content(p, Bytes::from_static(b"1")).await.unwrap();
    }
    assert_eq!(d.list("l").await.unwrap(), vec!["a", "b", "c"]);
    assert_eq!(d.list("l/b").await.unwrap(), vec!["w", "x"]);
    assert!(d.list("").await.unwrap().contains(&"l".to_string()));
}

async fn move_replaces_target_and_removes_source<D: StorageDriver>(d: &D) {
    d.put_content("m/src", Bytes::from_static(b"new")).await.unwrap();
    d.put_content("m/dst/data", Bytes::from_static(b"old")).await.unwrap();
    d.move_to("m/src", "m/dst/data").await.unwrap();
    assert_eq!(&d.get_content("m/dst/data").await.unwrap()[..], b"new");
    assert!(d.get_content("m/src").await.unwrap_err().is_not_found());
    d.move_to("m/dst/data", "m/other/deep/data").await.unwrap();
    assert_eq!(&d.get_content("m/other/deep/data").await.unwrap()[..], b"new");
}

async fn delete_is_recursive<D: StorageDriver>(d: &D) {
    for p in ["del/a/1", "del/a/2/3", "del-sibling/x"] {
        d.put_content(p, Bytes::from_static(b"1")).await.unwrap();
    }
    d.delete("del/a").await.unwrap();
    assert!(d.stat("del/a/2/3").await.unwrap_err().is_not_found());
    assert!(d.get_content("del-sibling/x").await.is_ok(), "a sibling sharing the prefix must survive");
}
