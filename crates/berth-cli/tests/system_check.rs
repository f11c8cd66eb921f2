//! `berth system check` against a real daemon: a corrupted blob, a deleted layer, a stray snapshot
//! directory, a container directory without a record and a leftover network namespace file are
//! found; `--repair` fixes them but keeps what a running container uses until `--force`; a second
//! check is clean.

mod common;
use common::*;
use std::io::{Seek, SeekFrom, Write};

fn check(d: &Daemon, args: &[&str]) -> (i32, String) {
    let mut a = vec!["system", "check"];
    a.extend_from_slice(args);
    let o = d.berth(&a);
    (o.status.code().unwrap_or(-1), format!("{}{}", stdout(&o), stderr(&o)))
}

fn findings(d: &Daemon, args: &[&str]) -> Vec<serde_json::Value> {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    let (_, out) = check(d, &a);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["Findings"].as_array().unwrap().clone()
}

fn has(f: &[serde_json::Value], kind: &str, id_part: &str, problem_part: &str) -> bool {
    f.iter().any(|x| x["Kind"] == kind && x["Id"].as_str().unwrap().contains(id_part) && x["Problem"].as_str().unwrap().contains(problem_part))
}

#[test]
fn check_finds_damage_and_leftovers_and_repair_fixes_them() {
    let d = with_busybox();
    let root = d.root();
    let (code, out) = check(&d, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No problems found") && out.contains("blobs"), "{out}");

    let tar = tiny_rootfs(d.dir.path(), "check");
    d.berth_ok(&["import", tar.to_str().unwrap(), "tiny:1"]);
    d.berth_ok(&["run", "-d", "--name", "live", "busybox", "sleep", "300"]);

    // Damage: one byte of busybox's layer flipped (same size), tiny's layer deleted.
    let busybox_layer = d.berth_ok(&["image", "inspect", "-f", "{{index .RootFS.Layers 0}}", "busybox"]).trim().trim_start_matches("sha256:").to_string();
    let tiny_layer = d.berth_ok(&["image", "inspect", "-f", "{{index .RootFS.Layers 0}}", "tiny:1"]).trim().trim_start_matches("sha256:").to_string();
    let blob = root.join("content/blobs/sha256").join(&busybox_layer);
    let mut f = std::fs::OpenOptions::new().write(true).open(&blob).unwrap();
    f.seek(SeekFrom::Start(700)).unwrap();
    f.write_all(b"X").unwrap();
    drop(f);
    std::fs::remove_file(root.join("content/blobs/sha256").join(&tiny_layer)).unwrap();
    // Leftovers: a stray snapshot directory, a container directory without a record, a netns file.
    std::fs::create_dir_all(root.join("snapshots/snapshots/9999/fs")).unwrap();
    let orphan = root.join("containers").join("e".repeat(64));
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("hostname"), "x\n").unwrap();
    let netns = root.join("netns").join("d".repeat(64));
    std::fs::write(&netns, b"").unwrap();

    // --quick checks sizes, not digests: it misses the flipped byte but not the missing layer.
    let quick = findings(&d, &["--quick"]);
    assert!(!has(&quick, "blob", &busybox_layer, "hashes to"), "{quick:?}");
    assert!(has(&quick, "image", "", &tiny_layer), "{quick:?}");
    let full = findings(&d, &[]);
    assert!(has(&full, "blob", &busybox_layer, "content hashes to"), "{full:?}");
    assert!(has(&full, "image", "", &format!("layer sha256:{tiny_layer} missing")), "{full:?}");
    assert!(has(&full, "snapshot", "snapshots/9999", "no snapshot record"), "{full:?}");
    assert!(has(&full, "container", &"e".repeat(64), "without a container record"), "{full:?}");
    assert!(has(&full, "netns", &"d".repeat(64), "not running"), "{full:?}");
    let (code, table) = check(&d, &[]);
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("KIND") && table.contains("PROBLEM") && table.contains("content hashes to"), "{table}");

    // Repair without --force keeps what the running container uses.
    let (code, out) = check(&d, &["--repair"]);
    assert_eq!(code, 1, "busybox is used by a running container: {out}");
    assert!(out.contains("use --force"), "{out}");
    assert_eq!(d.berth_ok(&["inspect", "-f", "{{.State.Running}}", "live"]).trim(), "true");
    assert!(!blob.exists() && !orphan.exists() && !netns.exists() && !root.join("snapshots/snapshots/9999").exists());
    assert!(!d.berth(&["image", "inspect", "tiny:1"]).status.success(), "the image with a missing layer is removed");
    let rest = findings(&d, &[]);
    assert!(rest.iter().all(|f| f["Kind"] == "image" && f["Problem"].as_str().unwrap().contains(&busybox_layer)), "{rest:?}");

    // --force: the damaged image goes, and the container that used it.
    let (code, out) = check(&d, &["--repair", "--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(!d.berth(&["inspect", "live"]).status.success());
    let (code, out) = check(&d, &[]);
    assert_eq!((code, out.contains("No problems found")), (0, true), "{out}");
    assert_eq!(blob_count(&root), 0, "every blob was busybox's or tiny's");
}

fn sh(cmd: &str) -> bool {
    std::process::Command::new("sh").args(["-c", cmd]).status().unwrap().success()
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// What the network test made by hand, removed whatever happens.
struct HandMade {
    links: Vec<String>,
    chain: String,
}

impl Drop for HandMade {
    fn drop(&mut self) {
        for l in &self.links {
            let _ = sh(&format!("ip link del {l} 2>/dev/null"));
        }
        let _ = sh(&format!("iptables -w 10 -F {c} 2>/dev/null; iptables -w 10 -X {c} 2>/dev/null", c = self.chain));
    }
}

#[test]
fn check_finds_network_leftovers_of_this_daemon_only_and_repair_removes_them() {
    let d = with_busybox();
    let o = d.net.octet;
    let bridge = d.net.bridge();
    d.berth_ok(&["run", "-d", "--name", "live", "-p", "127.0.0.1::80", "busybox", "sleep", "300"]);
    let (code, out) = check(&d, &[]);
    assert_eq!(code, 0, "a running container with a published port is no leftover: {out}");
    // This daemon's chain prefix: the chain set whose FWD-IN names its bridge.
    let rules = String::from_utf8_lossy(&std::process::Command::new("iptables").args(["-w", "10", "-S"]).output().unwrap().stdout).into_owned();
    let prefix = rules
        .lines()
        .find(|l| l.starts_with("-A BERTH") && l.contains("-FWD-IN ") && l.contains(&format!("-o {bridge} ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.strip_suffix("-FWD-IN"))
        .expect("the daemon's chains")
        .to_string();
    let made = HandMade {
        links: vec![format!("vethB{o}a"), format!("vethR{o}a"), format!("vethF{o}a")],
        chain: format!("BTCHK{o}"),
    };
    // A veth on the daemon's bridge that no endpoint has (the peer end in the host, too).
    assert!(sh(&format!("ip link add vethB{o}a type veth peer name vethB{o}b && ip link set vethB{o}a master {bridge}")));
    // A recorded endpoint's veth that never reached the bridge (a crash between making the pair
    // and enslaving it), and a record whose veth is gone.
    assert!(sh(&format!("ip link add vethR{o}a type veth peer name vethR{o}b")));
    let eps = d.root().join("endpoints");
    let rec = |ep: &str, ifname: &str| {
        let v = serde_json::json!({"endpoint": ep, "container": "c".repeat(64), "network": "n".repeat(64), "ifname": ifname, "ip": format!("10.{o}.0.250")});
        std::fs::write(eps.join(format!("{ep}.json")), v.to_string()).unwrap();
    };
    rec(&"a".repeat(64), &format!("vethR{o}a"));
    rec(&"b".repeat(64), "vethgone0000");
    // Someone else's: a veth pair on no bridge of this daemon, and a chain of another program
    // naming a bridge that does not exist.
    assert!(sh(&format!("ip link add vethF{o}a type veth peer name vethF{o}b")));
    assert!(sh(&format!("iptables -w 10 -N BTCHK{o} && iptables -w 10 -A BTCHK{o} -o btz{o} -j DROP")));
    // Rules in the daemon's chains for a bridge and a container that do not exist.
    assert!(sh(&format!("iptables -w 10 -A {prefix}-FWD-IN -o btz{o} -j DROP")));
    assert!(sh(&format!("iptables -w 10 -t nat -A {prefix}-DNAT ! -i {bridge} -p tcp -m tcp --dport 1 -j DNAT --to-destination 10.{o}.0.200:80")));

    let f = findings(&d, &[]);
    assert!(has(&f, "veth", &format!("vethB{o}a"), &format!("on bridge {bridge}")), "{f:?}");
    assert!(has(&f, "veth", &format!("vethR{o}a"), "no running container has"), "{f:?}");
    assert!(has(&f, "endpoint", &"b".repeat(64), "vethgone0000 is gone"), "{f:?}");
    assert!(has(&f, "firewall", &format!("{prefix}-FWD-IN -o btz{o}"), &format!("interface btz{o}")), "{f:?}");
    assert!(has(&f, "firewall", &format!("10.{o}.0.200:80"), &format!("sends to 10.{o}.0.200")), "{f:?}");
    assert_eq!(f.len(), 5, "only this daemon's leftovers: {f:?}");

    let (code, out) = check(&d, &["--repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(!link_exists(&format!("vethB{o}a")) && !link_exists(&format!("vethR{o}a")), "the leftover veths are gone");
    assert!(!eps.join(format!("{}.json", "a".repeat(64))).exists() && !eps.join(format!("{}.json", "b".repeat(64))).exists());
    let (code, out) = check(&d, &[]);
    assert_eq!((code, out.contains("No problems found")), (0, true), "{out}");
    // Nothing else was touched: the other veth and chain, the running container and its port.
    assert!(link_exists(&format!("vethF{o}a")) && link_exists(&format!("vethF{o}b")));
    assert!(sh(&format!("iptables -w 10 -C BTCHK{o} -o btz{o} -j DROP")));
    let veths = std::process::Command::new("ip").args(["-o", "link", "show", "master", &bridge]).output().unwrap();
    assert_eq!(stdout(&veths).lines().count(), 1, "the running container's veth stays: {}", stdout(&veths));
    let port = d.berth_ok(&["port", "live", "80"]);
    let nat = String::from_utf8_lossy(&std::process::Command::new("iptables").args(["-w", "10", "-t", "nat", "-S", &format!("{prefix}-DNAT")]).output().unwrap().stdout).into_owned();
    assert!(port.contains("127.0.0.1:"), "{port}");
    assert!(!nat.contains(&format!("10.{o}.0.200")), "{nat}");
    d.berth_ok(&["exec", "live", "true"]);
    drop(made);
}

/// A cgroup parent of this test's, removed from every hierarchy on drop (children first).
struct Parent(String);

impl Drop for Parent {
    fn drop(&mut self) {
        let Ok(hs) = std::fs::read_dir("/sys/fs/cgroup") else { return };
        for h in hs.flatten() {
            let dir = h.path().join(&self.0);
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for c in rd.flatten().filter(|c| c.path().is_dir()) {
                    let _ = std::fs::remove_dir(c.path());
                }
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

#[test]
fn check_finds_leftover_cgroups_under_a_container_s_cgroup_parent() {
    let d = with_busybox();
    let parent = Parent(format!("berth-check-parent-{}", std::process::id()));
    let id = d.docker_ok(&["create", "--network", "none", "--cgroup-parent", &format!("/{}", parent.0), "busybox", "true"]).trim().to_string();
    d.docker_ok(&["start", "-a", &id]);
    // What a crash between the container's exit and the shim's clean-up leaves: its cgroup, in
    // two hierarchies, under the parent (a mkdir in cgroupfs makes a cgroup).
    let leftovers: Vec<std::path::PathBuf> =
        ["memory", "pids"].iter().map(|h| std::path::Path::new("/sys/fs/cgroup").join(h).join(&parent.0).join(&id)).collect();
    for l in &leftovers {
        std::fs::create_dir_all(l).unwrap();
    }
    let found = findings(&d, &[]);
    for l in &leftovers {
        assert!(has(&found, "cgroup", &l.display().to_string(), "not running"), "{} not found: {found:?}", l.display());
    }
    let (code, out) = check(&d, &["--repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(leftovers.iter().all(|l| !l.exists()), "repair removed them: {out}");
    assert!(std::path::Path::new("/sys/fs/cgroup/memory").join(&parent.0).is_dir(), "the parent itself is the user's and stays");
    let (code, out) = check(&d, &[]);
    assert_eq!((code, out.contains("No problems found")), (0, true), "{out}");
}
