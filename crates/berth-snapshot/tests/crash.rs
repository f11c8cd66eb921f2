//! SIGKILL right after concurrent operations returned: everything acknowledged survives.
//!
//! The test runs itself again as a child process (`BERTH_SNAPSHOT_CRASH_CHILD` names its root) that
//! prepares, commits and removes snapshots from several threads at once, so the metadata journal
//! commits them in shared groups, and prints a line for each operation as it returns. The parent
//! SIGKILLs the child at a random moment after some lines arrived, opens the root again and checks
//! that every acknowledged operation is there (committed layers with their directories, removed
//! snapshots gone), that nothing is left that no record names, and that work goes on.

use berth_snapshot::{Kind, Labels, OverlaySnapshotter, Snapshotter};
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

const CHILD_ENV: &str = "BERTH_SNAPSHOT_CRASH_CHILD";
const THREADS: usize = 8;

/// The child's work: each thread prepares `t-i`, commits it as `layer-t-i` on top of the thread's
/// previous layer, and removes every third layer's active sibling view, reporting each as it returns.
fn child(root: PathBuf) {
    let snap = Arc::new(OverlaySnapshotter::open(root).expect("open"));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (snap, out) = (snap.clone(), out.clone());
            std::thread::spawn(move || {
                let report = |line: String| {
                    let mut o = out.lock().unwrap();
                    writeln!(o, "{line}").unwrap();
                    o.flush().unwrap();
                };
                let mut parent: Option<String> = None;
                for i in 0.. {
                    let key = format!("active-{t}-{i}");
                    snap.prepare(&key, parent.as_deref(), Labels::new()).expect("prepare");
                    report(format!("prepared {key} {}", parent.as_deref().unwrap_or("-")));
                    let name = format!("layer-{t}-{i}");
                    snap.commit(&name, &key).expect("commit");
                    report(format!("committed {name} {key}"));
                    let view = format!("view-{t}-{i}");
                    snap.view(&view, Some(&name)).expect("view");
                    report(format!("viewed {view}"));
                    if i % 3 == 0 {
                        snap.remove(&view).expect("remove");
                        report(format!("removed {view}"));
                    }
                    parent = Some(name);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn concurrent_operations_all_survive_a_sigkill_right_after_they_return() {
    if let Some(root) = std::env::var_os(CHILD_ENV) {
        child(PathBuf::from(root));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    eprintln!("seed {seed}");
    let mut rng = seed;
    for round in 0..4 {
        let root = dir.path().join(format!("root-{round}"));
        // xorshift: the number of acknowledged operations to wait for before the kill.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let kill_after = 20 + (rng % 300) as usize;
        let acked = run_and_kill(&root, kill_after);
        check(&root, &acked, seed, round);
    }
}

/// Runs the child on `root`, SIGKILLs it once `kill_after` lines arrived, and returns every line
/// it had printed by then (operations that returned before the kill).
fn run_and_kill(root: &Path, kill_after: usize) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--exact", "concurrent_operations_all_survive_a_sigkill_right_after_they_return", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while lines.len() < kill_after {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if is_ack(&line) {
            lines.push(line.trim_end().to_string());
        }
    }
    // The kill lands while the other threads are inside operations of their own.
    child.kill().unwrap();
    // Lines already in the pipe returned before the kill too.
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
    lines.extend(rest.lines().filter(|l| is_ack(l)).map(String::from));
    let status = child.wait().unwrap();
    assert!(lines.len() >= kill_after, "the child ended before the kill ({status}): {lines:?}");
    lines
}

/// A line the child printed for a returned operation (not one of libtest's own).
fn is_ack(line: &str) -> bool {
    ["prepared ", "committed ", "viewed ", "removed "].iter().any(|p| line.starts_with(p))
}

fn check(root: &Path, acked: &[String], seed: u64, round: usize) {
    let snap = OverlaySnapshotter::open(root.to_path_buf()).unwrap_or_else(|e| panic!("seed {seed} round {round}: reopen: {e}"));
    let infos: HashMap<String, _> = snap.list().unwrap().into_iter().map(|i| (i.name.clone(), i)).collect();
    let removed: HashSet<&str> = acked.iter().filter_map(|l| l.strip_prefix("removed ")).collect();
    for line in acked {
        let mut w = line.split(' ');
        let (op, key) = (w.next().unwrap(), w.next().unwrap());
        match op {
            "prepared" => {
                let parent = w.next().filter(|p| *p != "-");
                // Its commit may have followed; either way the layer's chain is intact.
                let committed = key.replace("active-", "layer-");
                let found = infos.get(key).or_else(|| infos.get(&committed));
                let found = found.unwrap_or_else(|| panic!("seed {seed} round {round}: acknowledged {line} is lost"));
                assert_eq!(found.parent.as_deref(), parent, "seed {seed} round {round}: {line}");
            }
            "committed" => {
                let info = infos.get(key).unwrap_or_else(|| panic!("seed {seed} round {round}: acknowledged {line} is lost"));
                assert_eq!(info.kind, Kind::Committed);
                assert!(!infos.contains_key(w.next().unwrap()), "seed {seed} round {round}: {line}: the active key is still there");
                assert!(snap.fs_path(key).unwrap().is_dir(), "seed {seed} round {round}: {line}: its directory is gone");
            }
            "viewed" => {
                // Every third view is removed next; its removal may have reached the disk unreported.
                let removable = key.rsplit('-').next().and_then(|i| i.parse::<u64>().ok()).is_some_and(|i| i % 3 == 0);
                if !removable && !removed.contains(key) {
                    assert!(infos.contains_key(key), "seed {seed} round {round}: acknowledged {line} is lost");
                }
            }
            "removed" => {
                assert!(!infos.contains_key(key), "seed {seed} round {round}: acknowledged {line} came back");
            }
            other => panic!("unexpected line {other}"),
        }
    }
    // Every record's directory exists, and no directory is left that no record names.
    for name in infos.keys() {
        assert!(snap.fs_path(name).unwrap().is_dir(), "seed {seed} round {round}: {name} has no directory");
    }
    assert_eq!(snap.stray_dirs().unwrap(), Vec::<PathBuf>::new(), "seed {seed} round {round}");
    // Work goes on where it stopped.
    let last = infos.keys().find(|k| k.starts_with("layer-")).cloned();
    snap.prepare("after", last.as_deref(), Labels::new()).unwrap();
}
