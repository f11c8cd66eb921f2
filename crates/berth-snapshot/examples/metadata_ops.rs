//! Snapshot metadata throughput: THREADS threads each prepare, commit and remove OPS snapshots in
//! a fresh root (under DIR, default the system's temp dir: use a real disk, fsyncs are the cost).
//!
//! usage: cargo run --release -p berth-snapshot --example metadata_ops [THREADS] [OPS] [DIR]
//! Prints operations per second and the journal lines written (fewer lines than operations:
//! concurrent operations shared fsyncs).

use berth_snapshot::{Labels, OverlaySnapshotter, Snapshotter};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(8);
    let ops: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let base = args.get(3).map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let root = dir.path().join("snapshots");
    let snap = Arc::new(OverlaySnapshotter::open(root.clone()).expect("open"));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let snap = snap.clone();
            std::thread::spawn(move || {
                for i in 0..ops {
                    let (key, name) = (format!("a-{t}-{i}"), format!("l-{t}-{i}"));
                    snap.prepare(&key, None, Labels::new()).expect("prepare");
                    snap.commit(&name, &key).expect("commit");
                    snap.remove(&name).expect("remove");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let secs = start.elapsed().as_secs_f64();
    let total = threads * ops * 3;
    let lines = std::fs::read_to_string(root.join("metadata.journal")).map(|j| j.lines().count()).unwrap_or(0);
    println!("{threads} threads, {total} operations in {secs:.2} s: {:.0} ops/s; journal lines now {lines}", total as f64 / secs);
}
