//! `berth registry` as a process: serves the Distribution API, stops on SIGTERM; `berth registry gc`.

mod common;
use common::*;
use std::io::{Read, Write};

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn registry_serves_v2_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut reg = Registry::opts().root(dir.path()).start();
    let port = reg.port;
    let mut resp = None;
    for _ in 0..200 {
        if let Some(r) = get(port, "/v2/") {
            resp = Some(r);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let resp = resp.expect("registry never answered");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("docker-distribution-api-version: registry/2.0"), "{resp}");
    let cat = get(port, "/v2/_catalog").unwrap();
    assert!(cat.contains("\"repositories\":[]"), "{cat}");
    assert!(reg.stop().expect("stopped on SIGTERM").success());

    let out = std::process::Command::new(BERTH).args(["registry", "gc", "--dry-run", "--root"]).arg(dir.path().join("reg")).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("0 blobs referenced"), "{}", stdout(&out));

    // `gc --config` collects on the storage the file names; memory storage has nothing to collect.
    let cfg = dir.path().join("registry.yml");
    std::fs::write(&cfg, format!("storage:\n  filesystem: {{rootdirectory: {}}}\n", dir.path().join("reg").display())).unwrap();
    let out = std::process::Command::new(BERTH).args(["registry", "gc", "--dry-run", "--config"]).arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("0 blobs referenced"), "{}", stdout(&out));
    std::fs::write(&cfg, "storage:\n  inmemory: {}\n").unwrap();
    let out = std::process::Command::new(BERTH).args(["registry", "gc", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("inmemory") && stderr(&out).trim().lines().count() == 1, "{}", stderr(&out));
}

#[test]
fn registry_rejects_bad_flags_with_one_line() {
    let out = std::process::Command::new(BERTH).args(["registry", "--listen", "nonsense"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    let out = std::process::Command::new(BERTH).args(["registry", "--auth", "ldap:x", "--listen", "127.0.0.1:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("invalid --auth"), "{}", stderr(&out));
}
