//! Asking a registry about images without pulling them: `GET /images/search` (`docker search
//! HOST/TERM`, through `berth registry`'s v1 search API over its catalog) and `GET
//! /distribution/{name}/json` (the descriptor and platforms a reference resolves to), with the
//! stock docker CLI and the raw API, against a `berth registry` on loopback.

mod common;
use common::*;

fn get_json(d: &Daemon, path: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = http(&d.sock, "GET", path, b"");
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

#[test]
fn search_and_distribution_inspect_ask_the_registry() {
    let reg = Registry::start();
    let d = with_busybox();
    let a = &reg.addr;
    for name in ["tools/busybox:1", "other/thing:1"] {
        d.berth_ok(&["tag", "busybox", &format!("{a}/{name}")]);
        d.berth_ok(&["push", &format!("{a}/{name}")]);
    }
    // Search: the registry's repositories whose name holds the term.
    let (status, v) = get_json(&d, &format!("/images/search?term={a}/busy"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, serde_json::json!([{"star_count": 0, "is_official": false, "name": "tools/busybox", "is_automated": false, "description": ""}]));
    let out = d.docker_ok(&["search", "--format", "{{.Name}} {{.StarCount}}", &format!("{a}/t")]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["other/thing 0", "tools/busybox 0"], "{out}");
    assert_eq!(d.docker_ok(&["search", "--limit", "1", "--format", "{{.Name}}", &format!("{a}/t")]).lines().count(), 1);
    // berth search prints the docker CLI's table.
    let out = d.berth_ok(&["search", &format!("{a}/busy")]);
    let lines: Vec<String> = out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(lines, ["NAME DESCRIPTION STARS OFFICIAL", "tools/busybox 0"], "{out}");
    assert_eq!(d.berth_ok(&["search", "--filter", "stars=1", "--format", "{{.Name}}", &format!("{a}/busy")]), "");
    // dockerd's filters and refusals.
    for filter in [r#"{"stars":{"1":true}}"#, r#"{"is-official":{"true":true}}"#] {
        let (status, v) = get_json(&d, &format!("/images/search?term={a}/busy&filters={}", filter.replace('{', "%7B").replace('}', "%7D").replace('"', "%22")));
        assert_eq!((status, v), (200, serde_json::json!([])), "{filter}");
    }
    let (status, v) = get_json(&d, &format!("/images/search?term={a}/busy&limit=0"));
    assert_eq!((status, v["message"].as_str()), (400, Some("limit 0 is outside the range of [1, 100]")));
    let (status, v) = get_json(&d, &format!("/images/search?term={a}/busy&filters=%7B%22bogus%22%3A%7B%22x%22%3Atrue%7D%7D"));
    assert_eq!((status, v["message"].as_str()), (400, Some("invalid filter 'bogus'")));
    // Distribution inspect: the manifest the tag names and the image's platform.
    let digest = d.berth_ok(&["inspect", "-f", "{{index .RepoDigests 0}}", &format!("{a}/tools/busybox:1")]);
    let digest = digest.trim().rsplit('@').next().unwrap().to_string();
    let (status, v) = get_json(&d, &format!("/distribution/{a}/tools/busybox:1/json"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["Descriptor"]["digest"], digest.as_str(), "{v}");
    assert!(v["Descriptor"]["mediaType"].as_str().unwrap().contains("manifest"), "{v}");
    assert!(v["Descriptor"]["size"].as_u64().unwrap() > 0, "{v}");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    assert_eq!(v["Platforms"], serde_json::json!([{"architecture": arch, "os": "linux"}]), "{v}");
    let (status, v) = get_json(&d, &format!("/distribution/{a}/tools/busybox:nosuch/json"));
    assert_eq!(status, 404, "{v}");
    let (status, _) = get_json(&d, "/distribution/UPPER/json");
    assert_eq!(status, 400);
}
