//! Truthful accounting against a real daemon: `system df` reports the build cache with real sizes,
//! and `builder prune` / `image prune` report what they removed and the space the data root got
//! back (checked with `du`).

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn du(p: &Path) -> i64 {
    let o = std::process::Command::new("du").args(["-s", "-B1"]).arg(p).output().unwrap();
    stdout(&o).split_whitespace().next().unwrap().parse().unwrap()
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn api(d: &Daemon, method: &str, path: &str) -> Value {
    let (status, _, body) = http(&d.sock, method, path, b"");
    assert_eq!(status, 200, "{method} {path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn build(d: &Daemon, dir: &Path, name: &str, dockerfile: &str, extra: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    let mut args = vec!["build", "-q", "-t", name];
    args.extend_from_slice(extra);
    args.push(dir.to_str().unwrap());
    d.berth_ok(&args);
}

fn cache(d: &Daemon) -> Vec<Value> {
    api(d, "GET", "/system/df")["BuildCache"].as_array().unwrap().clone()
}

/// A prune through the API; checks that what it reports as reclaimed is what `du` sees go.
fn prune_checked(d: &Daemon, path: &str) -> Value {
    let before = du(&d.root());
    let r = api(d, "POST", path);
    let gone = before - du(&d.root());
    let reported = r["SpaceReclaimed"].as_i64().unwrap();
    assert!((gone - reported).abs() <= 64 * 1024, "{path}: reported {reported} bytes reclaimed, du saw {gone} go: {r}");
    r
}

#[test]
fn df_reports_build_cache_and_prunes_report_what_they_freed() {
    let d = with_busybox();
    let t = d.dir.path();
    build(&d, &t.join("a"), "keep:1", "FROM busybox\nRUN head -c 2000000 /dev/urandom > /a\nRUN --mount=type=cache,target=/cache head -c 1000000 /dev/urandom > /cache/blob\n", &["--label", "team=x"]);
    build(&d, &t.join("b"), "gone:1", "FROM busybox\nRUN head -c 3000000 /dev/urandom > /b\n", &["--label", "team=y"]);
    d.berth_ok(&["rmi", "gone:1"]);

    let records = cache(&d);
    let regular: Vec<&Value> = records.iter().filter(|r| r["Type"] == "regular").collect();
    let mounts: Vec<&Value> = records.iter().filter(|r| r["Type"] == "exec.cachemount").collect();
    assert_eq!((regular.len(), mounts.len()), (3, 1), "{records:?}");
    let dangling: Vec<&&Value> = regular.iter().filter(|r| r["Shared"] == false).collect();
    assert_eq!(dangling.len(), 1, "only gone:1's step is no image's: {records:?}");
    let dangling_id = dangling[0]["ID"].as_str().unwrap().to_string();
    // Its layer blob (3 MB) and its unpacked snapshot (3 MB).
    assert!(dangling[0]["Size"].as_i64().unwrap() >= 6_000_000, "{:?}", dangling[0]);
    assert!(dangling[0]["Description"].as_str().unwrap().contains("head -c 3000000"), "{:?}", dangling[0]);
    assert!(mounts[0]["Size"].as_i64().unwrap() >= 1_000_000 && mounts[0]["Description"] == "cached mount /cache", "{:?}", mounts[0]);
    for r in &records {
        assert!(chrono::DateTime::parse_from_rfc3339(r["CreatedAt"].as_str().unwrap()).is_ok(), "{r}");
        assert_eq!(r["InUse"], false);
        assert!(r["UsageCount"].as_i64().unwrap() >= 1);
    }
    let df = d.berth_ok(&["system", "df"]);
    assert!(df.lines().any(|l| l.starts_with("Build Cache") && l.split_whitespace().nth(2) == Some("4")), "{df}");
    let v = d.berth_ok(&["system", "df", "-v"]);
    assert!(v.contains("Build cache usage:") && v.contains("CACHE ID") && v.contains(&dangling_id[..12]) && v.contains("exec.cachemount"), "{v}");

    // Without -a only the dangling step goes, and what it reports is what the disk got back.
    let r = prune_checked(&d, "/build/prune");
    assert_eq!(r["CachesDeleted"], serde_json::json!([dangling_id]), "{r}");
    assert!(r["SpaceReclaimed"].as_i64().unwrap() >= 6_000_000, "{r}");
    // Filters and --keep-storage that match nothing remove nothing.
    for q in [
        format!("all=1&filters={}", enc(r#"{"label":{"team=y":true}}"#)),
        format!("all=1&filters={}", enc(r#"{"until":{"1h":true}}"#)),
        "all=1&keep-storage=1000000000".to_string(),
    ] {
        let r = api(&d, "POST", &format!("/build/prune?{q}"));
        assert_eq!((r["CachesDeleted"].as_array().map(|a| a.len()).unwrap_or(0), r["SpaceReclaimed"].as_i64()), (0, Some(0)), "{q}: {r}");
    }
    let (status, _, body) = http(&d.sock, "POST", &format!("/build/prune?filters={}", enc(r#"{"colour":{"red":true}}"#)), b"");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    // label= picks keep:1's steps (shared with the image: little to reclaim); the mount has no labels.
    let r = prune_checked(&d, &format!("/build/prune?all=1&filters={}", enc(r#"{"label":{"team=x":true}}"#)));
    assert_eq!(r["CachesDeleted"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(cache(&d).len(), 1);
    let out = d.berth_ok(&["builder", "prune", "-a", "-f"]);
    assert!(out.contains("Deleted build cache objects:") && out.contains(mounts[0]["ID"].as_str().unwrap()), "{out}");
    assert!(cache(&d).is_empty());

    // An image prune reports the bytes the disk got back: the image's blobs and snapshots.
    d.berth_ok(&["run", "--rm", "keep:1", "true"]);
    let r = prune_checked(&d, &format!("/images/prune?filters={}", enc(r#"{"dangling":{"false":true}}"#)));
    assert!(r["SpaceReclaimed"].as_i64().unwrap() >= 4_000_000, "{r}");
    assert_eq!(blob_count(&d.root()), 0);
}
