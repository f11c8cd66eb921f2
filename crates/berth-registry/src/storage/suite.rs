//! The one test suite every [`StorageDriver`] must pass (house style rule 12): the filesystem and memory
//! drivers' unit tests and the S3 driver's test against Ceph (`tests/ceph.rs`) all run it. Public (and
//! hidden) only so that integration test can.

use super::{StorageDriver, Write};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs every check against `d`, which must start empty.
pub async fn run<D: StorageDriver>(d: D) {
    get_of_missing_path_is_not_found(&d).await;
    put_then_get_round_trips_and_replaces(&d).await;
    reader_starts_at_offset(&d).await;
    writer_replaces_whole_objects(&d).await;
    dropped_writer_leaves_nothing(&d).await;
    large_objects_stream_in_and_out(&d).await;
    range_reader_reads_a_slice(&d).await;
    stat_reports_size_and_kind(&d).await;
    list_returns_sorted_direct_children(&d).await;
    move_replaces_target_and_removes_source(&d).await;
    delete_is_recursive(&d).await;
    scratch_puts_round_trip(&d).await;
    applied_groups_store_every_write(&d).await;
    a_failed_group_shows_no_temp_files(&d).await;
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

async fn writer_replaces_whole_objects<D: StorageDriver>(d: &D) {
    let mut w = d.writer("w/data").await.unwrap();
    w.write_all(b"hello ").await.unwrap();
    w.write_all(b"world").await.unwrap();
    w.shutdown().await.unwrap();
    assert_eq!(&d.get_content("w/data").await.unwrap()[..], b"hello world");
    let mut w = d.writer("w/data").await.unwrap();
    w.write_all(b"x").await.unwrap();
    assert_eq!(&d.get_content("w/data").await.unwrap()[..], b"hello world", "visible before shutdown");
    w.shutdown().await.unwrap();
    assert_eq!(&d.get_content("w/data").await.unwrap()[..], b"x");
    let w = d.writer("w/empty").await.unwrap();
    let mut w = w;
    w.shutdown().await.unwrap();
    assert_eq!(d.stat("w/empty").await.unwrap().size, 0);
}

async fn dropped_writer_leaves_nothing<D: StorageDriver>(d: &D) {
    let mut w = d.writer("dropped/data").await.unwrap();
    w.write_all(&vec![7u8; 64 << 10]).await.unwrap();
    drop(w);
    assert!(d.stat("dropped/data").await.unwrap_err().is_not_found());
    let listed = d.list("dropped").await;
    assert!(listed.as_ref().map_or_else(|e| e.is_not_found(), |v| v.is_empty()), "no temp file may show: {listed:?}");
}

/// 13 MiB written in uneven pieces: several multipart parts on S3 (5 MiB chunks in its test).
async fn large_objects_stream_in_and_out<D: StorageDriver>(d: &D) {
    let big: Vec<u8> = (0..13u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let mut w = d.writer("big/data").await.unwrap();
    for piece in big.chunks(777_777) {
        w.write_all(piece).await.unwrap();
    }
    w.shutdown().await.unwrap();
    assert_eq!(d.stat("big/data").await.unwrap().size, big.len() as u64);
    let mut back = Vec::new();
    d.reader("big/data", 0).await.unwrap().read_to_end(&mut back).await.unwrap();
    assert!(back == big, "read back differs");
    let mut tail = Vec::new();
    d.reader("big/data", 6 << 20).await.unwrap().read_to_end(&mut tail).await.unwrap();
    assert!(tail[..] == big[6 << 20..]);
    let mut past = Vec::new();
    d.reader("big/data", big.len() as u64).await.unwrap().read_to_end(&mut past).await.unwrap();
    assert!(past.is_empty());
    d.move_to("big/data", "big/moved").await.unwrap();
    assert!(d.stat("big/data").await.unwrap_err().is_not_found());
    let mut moved = Vec::new();
    d.reader("big/moved", 0).await.unwrap().read_to_end(&mut moved).await.unwrap();
    assert!(moved == big, "moved object differs");
    d.delete("big").await.unwrap();
}

async fn range_reader_reads_a_slice<D: StorageDriver>(d: &D) {
    d.put_content("rr/data", Bytes::from_static(b"0123456789")).await.unwrap();
    let mut s = String::new();
    d.range_reader("rr/data", 2, 3).await.unwrap().read_to_string(&mut s).await.unwrap();
    assert_eq!(s, "234");
    let mut s = String::new();
    d.range_reader("rr/data", 8, 100).await.unwrap().read_to_string(&mut s).await.unwrap();
    assert_eq!(s, "89");
    assert!(d.range_reader("rr/missing", 0, 1).await.err().unwrap().is_not_found());
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

async fn scratch_puts_round_trip<D: StorageDriver>(d: &D) {
    d.put_scratch("sc/a/startedat", Bytes::from_static(b"then")).await.unwrap();
    d.put_scratch("sc/a/startedat", Bytes::from_static(b"now")).await.unwrap();
    assert_eq!(&d.get_content("sc/a/startedat").await.unwrap()[..], b"now");
    assert_eq!(d.list("sc/a").await.unwrap(), vec!["startedat"]);
}

async fn applied_groups_store_every_write<D: StorageDriver>(d: &D) {
    d.put_content("ap/up/0", Bytes::from_static(b"one ")).await.unwrap();
    d.put_content("ap/up/1", Bytes::from_static(b"two")).await.unwrap();
    d.put_content("ap/up/solo", Bytes::from_static(b"moved")).await.unwrap();
    d.put_content("ap/tag", Bytes::from_static(b"old")).await.unwrap();
    let groups = vec![
        vec![
            Write::Mark("ap/blob/used".into()),
            Write::Move("ap/up/solo".into(), "ap/blob/data".into()),
            Write::Concat(vec!["ap/up/0".into(), "ap/up/1".into()], "ap/joined/deep/data".into()),
            Write::Put("ap/links/x/link".into(), Bytes::from_static(b"linked")),
        ],
        vec![Write::Put("ap/tag".into(), Bytes::from_static(b"new"))],
    ];
    d.apply(groups).await.unwrap();
    assert_eq!(d.stat("ap/blob/used").await.unwrap().size, 0);
    assert_eq!(&d.get_content("ap/blob/data").await.unwrap()[..], b"moved");
    assert!(d.stat("ap/up/solo").await.unwrap_err().is_not_found(), "a move removes its source");
    assert_eq!(&d.get_content("ap/joined/deep/data").await.unwrap()[..], b"one two");
    assert_eq!(&d.get_content("ap/links/x/link").await.unwrap()[..], b"linked");
    assert_eq!(&d.get_content("ap/tag").await.unwrap()[..], b"new");
    // A marker is rewritten: its modification time moves.
    let before = d.stat("ap/blob/used").await.unwrap().modified;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    d.apply(vec![vec![Write::Mark("ap/blob/used".into())]]).await.unwrap();
    assert!(d.stat("ap/blob/used").await.unwrap().modified > before);
}

/// A group whose move has no source fails with `NotFound` and leaves its puts' temp files nowhere.
async fn a_failed_group_shows_no_temp_files<D: StorageDriver>(d: &D) {
    let e = d
        .apply(vec![vec![Write::Put("fg/link".into(), Bytes::from_static(b"x")), Write::Move("fg/missing".into(), "fg/data".into())]])
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(d.stat("fg/data").await.unwrap_err().is_not_found());
    let listed = d.list("fg").await;
    assert!(listed.as_ref().map_or_else(|e| e.is_not_found(), |v| v.is_empty() || v == &["link"]), "{listed:?}");
}
