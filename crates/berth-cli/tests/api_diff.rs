//! The differential harness: the same request sequence (api_diff/cases.rs) goes to a private dockerd
//! (Debian's docker.io 20.10, API 1.41) and to a Berth test daemon, both with the BusyBox fixture
//! imported; what must differ is normalised (api_diff/compare.rs) and the rest compared.
//!
//! Every case must answer the same on both, or be listed with its reason in
//! api_diff/known-differences.txt (and a listed case that has become the same fails too, so the list
//! stays true). The coverage of the v1.47 swagger (api_diff/endpoints.txt) is computed from the cases
//! and api_diff/decisions.txt and must equal docs/API-COVERAGE.md: `API_DIFF_UPDATE=1 cargo test -p
//! berth-cli --test api_diff` rewrites it.

mod common;
#[path = "api_diff/attach.rs"]
mod attach;
#[path = "api_diff/cases.rs"]
mod cases;
#[path = "api_diff/compare.rs"]
mod compare;
#[path = "api_diff/coverage.rs"]
mod coverage;
#[path = "api_diff/createfields.rs"]
mod createfields;
#[path = "api_diff/dockerd.rs"]
mod dockerd;
#[path = "api_diff/keys.rs"]
mod keys;
#[path = "api_diff/hostconfig.rs"]
mod hostconfig;
#[path = "api_diff/links.rs"]
mod links;
#[path = "api_diff/linkname.rs"]
mod linkname;
#[path = "api_diff/logging.rs"]
mod logging;
#[path = "api_diff/stats.rs"]
mod stats;
#[path = "api_diff/users.rs"]
mod users;
#[path = "api_diff/verbs.rs"]
mod verbs;
#[path = "api_diff/wire.rs"]
mod wire;
#[path = "api_diff/swarm.rs"]
mod swarm;
#[path = "api_diff/networks.rs"]
mod networks;
#[path = "api_diff/volumes.rs"]
mod volumes;
#[path = "api_diff/events.rs"]
mod events;
#[path = "api_diff/images.rs"]
mod images;
#[path = "api_diff/build.rs"]
mod build;

use cases::{Body, Case};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Requests go to both at API 1.41, the version dockerd 20.10 serves, so version-gated behaviour is
/// the same on both sides.
const PREFIX: &str = "/v1.41";

struct Target<'a> {
    sock: &'a Path,
    roots: Vec<String>,
    vars: HashMap<String, String>,
}

impl Target<'_> {
    fn send(&mut self, case: &Case) -> wire::Resp {
        let path = self.vars.iter().fold(case.path.clone(), |p, (k, v)| p.replace(&format!("{{{k}}}"), v));
        let (ctype, body): (Option<&str>, Vec<u8>) = match &case.body {
            Body::None => (None, Vec::new()),
            Body::Json(j) => {
                let j = self.vars.iter().fold(j.clone(), |p, (k, v)| p.replace(&format!("{{{k}}}"), v));
                (Some("application/json"), j.into_bytes())
            }
            Body::Bytes(ct, b) => (Some(ct), b.clone()),
        };
        if let Some(steps) = case.ws {
            return wire::ws(self.sock, &format!("{PREFIX}{path}"), steps);
        }
        let resp = wire::send(self.sock, case.method, &format!("{PREFIX}{path}"), ctype, &body, case.upgrade);
        let mut resp = resp;
        if let Some(pointer) = case.pick {
            let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
            resp.body = serde_json::to_vec(v.pointer(pointer).unwrap_or(&serde_json::Value::Null)).unwrap_or_default();
        }
        if let Some((var, field)) = case.save {
            let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
            if field == "@now" {
                // The moment the answer came, as the API's `seconds.nanoseconds` timestamps.
                let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                self.vars.insert(var.to_string(), format!("{}.{:09}", t.as_secs(), t.subsec_nanos()));
            } else if let Some(s) = v[field].as_str() {
                self.vars.insert(var.to_string(), s.to_string());
            }
        }
        resp
    }
}

fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api_diff").join(name)
}

/// `name<TAB>reason` lines, `#` comments.
fn known_differences() -> HashMap<String, String> {
    let text = std::fs::read_to_string(data_file("known-differences.txt")).expect("known-differences.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap_or_else(|| panic!("known-differences.txt: no tab in {l:?}"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

/// A cgroup parent of the test's, removed from every hierarchy on drop (after both daemons removed
/// their containers under it).
struct CgroupParent(String);

impl Drop for CgroupParent {
    fn drop(&mut self) {
        let root = Path::new("/sys/fs/cgroup");
        let mut dirs = vec![root.join(&self.0)];
        if let Ok(hs) = std::fs::read_dir(root) {
            dirs.extend(hs.flatten().map(|h| h.path().join(&self.0)));
        }
        for d in dirs.iter().filter(|d| d.is_dir()) {
            // Children first (a container's cgroup a daemon failed to remove).
            if let Ok(rd) = std::fs::read_dir(d) {
                for c in rd.flatten().filter(|c| c.path().is_dir()) {
                    let _ = std::fs::remove_dir(c.path());
                }
            }
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// A block device of the host (for the block IO throttle lists): the first disk in /sys/block.
fn block_device() -> String {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .expect("/sys/block")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && Path::new("/dev").join(n).exists())
        .collect();
    names.sort();
    format!("/dev/{}", names.first().expect("a block device in /sys/block"))
}

#[test]
fn berth_answers_as_dockerd() {
    // A cgroup parent both daemons put containers under (HostConfig.CgroupParent), removed last.
    let cgparent = CgroupParent(format!("berth-apidiff-cg-{}", std::process::id()));
    let blockdev = block_device();
    let Some(docker) = dockerd::Dockerd::start() else {
        panic!("dockerd is not installed: scripts/setup.sh installs Debian's docker.io");
    };
    let berth = common::Daemon::start();
    let busybox = std::fs::read(common::busybox_tarball()).expect("busybox fixture");
    let known = known_differences();
    let cases = cases::all(busybox);
    let names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    for k in known.keys() {
        assert!(names.contains(&k.as_str()), "known-differences.txt names {k:?}, which is no case");
    }

    let mut d = Target { sock: &docker.sock, roots: vec![docker.dir.path().display().to_string()], vars: HashMap::new() };
    d.vars.insert("subnet".into(), format!("10.{}.50.0/24", docker.octet));
    let mut b = Target { sock: &berth.sock, roots: vec![berth.dir.path().display().to_string()], vars: HashMap::new() };
    b.vars.insert("subnet".into(), berth.net.subnet(50));
    // An address in each side's {subnet} (NetworkingConfig's fixed addresses).
    for t in [&mut d, &mut b] {
        let ip77 = t.vars["subnet"].rsplit_once('.').map(|(net, _)| format!("{net}.77")).expect("subnet");
        t.vars.insert("ip77".into(), ip77);
    }
    // A syslog socket both daemons' syslog log drivers write to (read by neither: the cases compare
    // what each daemon answers; tests/log_drivers.rs checks what Berth sends).
    let syslog_dir = tempfile::tempdir().expect("tempdir");
    let syslogsock = syslog_dir.path().join("syslog.sock");
    let _syslog = std::os::unix::net::UnixDatagram::bind(&syslogsock).expect("bind the syslog socket");
    // A host directory both daemons bind into containers (Binds, Mounts), holding one file.
    let bind_dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(bind_dir.path().join("f"), "bound\n").expect("bind file");
    for t in [&mut d, &mut b] {
        t.vars.insert("binddir".into(), bind_dir.path().display().to_string());
        t.vars.insert("syslogsock".into(), syslogsock.display().to_string());
        t.vars.insert("cgparent".into(), cgparent.0.clone());
        t.vars.insert("blockdev".into(), blockdev.clone());
        // The side's 10.X prefix, for further subnets and fixed addresses (`{net}.51.0/24`).
        let net = t.vars["subnet"].splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
        t.vars.insert("net".into(), net);
    }
    // An IPv6 group unique to each side (its network slot), for dual-stack subnets.
    d.vars.insert("v6".into(), format!("{:x}", docker.octet));
    b.vars.insert("v6".into(), format!("{:x}", berth.net.octet));

    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for case in &cases {
        let result = match &case.berth_only {
            Some(expect) => {
                let r = b.send(case);
                // A framed stream is checked by its payload.
                let payload = match wire::frames(&r.body) {
                    Some(f) if !f.is_empty() => f.into_iter().flat_map(|(_, p)| p).collect(),
                    _ => r.body.clone(),
                };
                let body = String::from_utf8_lossy(&payload).into_owned();
                if r.status == expect.status && body.contains(expect.contains) {
                    Ok(())
                } else {
                    Err(format!("berth answered {} {body:?}; the swagger and Berth's design want {} containing {:?}", r.status, expect.status, expect.contains))
                }
            }
            None => {
                let dr = d.send(case);
                let br = b.send(case);
                compare::compare(
                    case.cmp,
                    case.ignore,
                    compare::Side { resp: &dr, roots: &d.roots },
                    compare::Side { resp: &br, roots: &b.roots },
                )
            }
        };
        match (&result, known.get(case.name)) {
            (Ok(()), None) => println!("same      {}", case.name),
            (Ok(()), Some(_)) => failures.push(format!("{}: now answers as dockerd; remove it from known-differences.txt", case.name)),
            (Err(e), Some(why)) => println!("differs   {} ({why}): {e}", case.name),
            (Err(e), None) => {
                println!("DIFFERENT {}: {e}", case.name);
                failures.push(format!("{}: {e}", case.name));
            }
        }
        outcomes.push(coverage::Outcome { case, same: result.is_ok(), reason: known.get(case.name).cloned() });
    }

    let table = coverage::table(&data_file("endpoints.txt"), &data_file("decisions.txt"), &data_file("notes.txt"), &outcomes);
    println!("{}", table.summary);
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/API-COVERAGE.md");
    if std::env::var_os("API_DIFF_UPDATE").is_some() {
        std::fs::write(&doc, &table.markdown).expect("write docs/API-COVERAGE.md");
    } else if std::fs::read_to_string(&doc).unwrap_or_default() != table.markdown {
        failures.push("docs/API-COVERAGE.md is stale: run API_DIFF_UPDATE=1 cargo test -p berth-cli --test api_diff".into());
    }
    assert!(failures.is_empty(), "{} difference(s) from dockerd:\n  {}", failures.len(), failures.join("\n  "));
}
