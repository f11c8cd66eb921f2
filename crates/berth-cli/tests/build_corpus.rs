//! The Dockerfile corpus (`tests/build-corpus/<case>/`): each case is a build context with a
//! `Dockerfile` and an `expect.json` listing builds and what a user would check of each result:
//!
//! ```text
//! [{ "dockerfile": "…", "target": "…", "build_args": {…}, "tag": "…",      how to build
//!    "only": "berth" | "docker", "why": "…",                       a build only one client can do
//!    "error": "…", "output_contains": […], "output_absent": […],         the build's outcome
//!    "inspect": {…},                                   a subset of `image inspect` (arrays whole)
//!    "files": {"/path": {"type", "mode", "owner", "content", "link"}},  from `export` of a container
//!    "absent": ["/path"],
//!    "run": [{"entrypoint": "…", "args": […], "stdout": "…"}] }]           `run --rm` of the image
//! ```
//!
//! Every case builds with `berth build` and again, on another daemon, with the stock docker CLI.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug)]
enum Client {
    Berth,
    Docker,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/build-corpus")
}

fn cli(d: &Daemon, c: Client, args: &[&str]) -> std::process::Output {
    match c {
        Client::Berth => d.berth(args),
        Client::Docker => d.docker(args),
    }
}

/// One file as `export` shows it.
struct FileInfo {
    kind: &'static str,
    mode: u32,
    owner: String,
    content: Vec<u8>,
    link: String,
}

fn exported_files(d: &Daemon, c: Client, image: &str) -> BTreeMap<String, FileInfo> {
    let name = format!("corpus-export-{}", &unique_suffix());
    let o = cli(d, c, &["create", "--name", &name, image, "/no-such-command"]);
    assert!(o.status.success(), "{c:?} create {image}: {}", stderr(&o));
    let o = cli(d, c, &["export", &name]);
    assert!(o.status.success(), "{c:?} export {image}: {}", stderr(&o));
    cli(d, c, &["rm", &name]);
    let mut files = BTreeMap::new();
    let mut ar = tar::Archive::new(&o.stdout[..]);
    for entry in ar.entries().expect("export is a tar") {
        let mut e = entry.expect("tar entry");
        let path = format!("/{}", e.path().unwrap().to_string_lossy().trim_start_matches("./").trim_end_matches('/'));
        let h = e.header();
        let kind = match h.entry_type() {
            tar::EntryType::Directory => "dir",
            tar::EntryType::Symlink => "symlink",
            tar::EntryType::Link => "hardlink",
            _ => "file",
        };
        let (mode, owner) = (h.mode().unwrap() & 0o7777, format!("{}:{}", h.uid().unwrap(), h.gid().unwrap()));
        let link = e.link_name().ok().flatten().map(|l| l.to_string_lossy().into_owned()).unwrap_or_default();
        let mut content = Vec::new();
        e.read_to_end(&mut content).unwrap();
        files.insert(path, FileInfo { kind, mode, owner, content, link });
    }
    files
}

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// `want` ⊆ `got`: objects key by key, everything else (arrays included) equal.
fn subset(want: &Value, got: &Value, at: &str, errors: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                subset(wv, g.get(k).unwrap_or(&Value::Null), &format!("{at}.{k}"), errors);
            }
        }
        (Value::Null, Value::Object(g)) if g.is_empty() => {}
        (Value::Null, Value::Array(g)) if g.is_empty() => {}
        _ if want == got => {}
        _ => errors.push(format!("{at}: want {want}, got {got}")),
    }
}

fn check_build(d: &Daemon, c: Client, case: &str, n: usize, spec: &Value) -> Vec<String> {
    let dir = corpus().join(case);
    let mut errors = Vec::new();
    let tag = spec["tag"].as_str().map(str::to_string).unwrap_or_else(|| format!("corpus-{case}:{n}"));
    let mut args: Vec<String> = vec!["build".into(), "-t".into(), tag.clone()];
    if let Some(f) = spec["dockerfile"].as_str() {
        args.extend(["-f".into(), dir.join(f).to_string_lossy().into_owned()]);
    }
    if let Some(t) = spec["target"].as_str() {
        args.extend(["--target".into(), t.into()]);
    }
    for (k, v) in spec["build_args"].as_object().into_iter().flatten() {
        args.extend(["--build-arg".into(), format!("{k}={}", v.as_str().unwrap())]);
    }
    args.push(dir.to_string_lossy().into_owned());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = cli(d, c, &argv);
    let output = format!("{}{}", stdout(&o), stderr(&o));
    let fail = |m: String| format!("{c:?} {case}#{n}: {m}");
    for s in spec["output_contains"].as_array().into_iter().flatten() {
        if !output.contains(s.as_str().unwrap()) {
            errors.push(fail(format!("build output lacks {s}")));
        }
    }
    for s in spec["output_absent"].as_array().into_iter().flatten() {
        if output.contains(s.as_str().unwrap()) {
            errors.push(fail(format!("build output has {s}")));
        }
    }
    if let Some(e) = spec["error"].as_str() {
        if o.status.success() {
            errors.push(fail(format!("build succeeded; expected an error with {e:?}")));
        } else if !stderr(&o).contains(e) {
            errors.push(fail(format!("error lacks {e:?}: {}", stderr(&o))));
        }
        if cli(d, c, &["image", "inspect", &tag]).status.success() {
            errors.push(fail("a failed build left an image".into()));
        }
        return errors;
    }
    if !o.status.success() {
        errors.push(fail(format!("build failed: {output}")));
        return errors;
    }
    if let Some(want) = spec.get("inspect") {
        let o = cli(d, c, &["image", "inspect", &tag]);
        let got: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        let mut errs = Vec::new();
        subset(want, &got[0], "", &mut errs);
        errors.extend(errs.into_iter().map(&fail));
    }
    if spec.get("files").is_some() || spec.get("absent").is_some() {
        let files = exported_files(d, c, &tag);
        for (path, want) in spec["files"].as_object().into_iter().flatten() {
            let Some(got) = files.get(path.as_str()) else {
                errors.push(fail(format!("{path} missing")));
                continue;
            };
            if let Some(k) = want["type"].as_str() {
                if k != got.kind {
                    errors.push(fail(format!("{path}: type {} (want {k})", got.kind)));
                }
            }
            if let Some(m) = want["mode"].as_str() {
                if u32::from_str_radix(m, 8).unwrap() != got.mode {
                    errors.push(fail(format!("{path}: mode {:04o} (want {m})", got.mode)));
                }
            }
            if let Some(ow) = want["owner"].as_str() {
                if ow != got.owner {
                    errors.push(fail(format!("{path}: owner {} (want {ow})", got.owner)));
                }
            }
            if let Some(t) = want["content"].as_str() {
                if t.as_bytes() != got.content {
                    errors.push(fail(format!("{path}: content {:?} (want {t:?})", String::from_utf8_lossy(&got.content))));
                }
            }
            if let Some(l) = want["link"].as_str() {
                if l != got.link {
                    errors.push(fail(format!("{path}: link {:?} (want {l:?})", got.link)));
                }
            }
        }
        for p in spec["absent"].as_array().into_iter().flatten() {
            if files.contains_key(p.as_str().unwrap()) {
                errors.push(fail(format!("{p} should not exist")));
            }
        }
    }
    for r in spec["run"].as_array().into_iter().flatten() {
        let mut argv: Vec<String> = vec!["run".into(), "--rm".into()];
        if let Some(e) = r["entrypoint"].as_str() {
            argv.extend(["--entrypoint".into(), e.into()]);
        }
        argv.push(tag.clone());
        argv.extend(r["args"].as_array().into_iter().flatten().map(|a| a.as_str().unwrap().to_string()));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let o = cli(d, c, &argv);
        let want = r["stdout"].as_str().unwrap();
        if !o.status.success() || stdout(&o) != want {
            errors.push(fail(format!("run {:?}: exit {:?}, stdout {:?} (want {want:?}), stderr {}", &argv[2..], o.status.code(), stdout(&o), stderr(&o))));
        }
    }
    errors
}

fn run_corpus(c: Client) {
    let d = with_busybox();
    let debian = debian_tarball();
    d.berth_ok(&["import", debian.to_str().unwrap(), "debian:bookworm"]);
    let mut cases: Vec<String> = std::fs::read_dir(corpus()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    cases.sort();
    assert!(cases.len() >= 10, "the corpus is there: {cases:?}");
    let mut errors = Vec::new();
    let mut builds = 0;
    for case in &cases {
        let expect: Value = serde_json::from_slice(&std::fs::read(corpus().join(case).join("expect.json")).unwrap()).unwrap_or_else(|e| panic!("{case}/expect.json: {e}"));
        for (n, spec) in expect.as_array().unwrap().iter().enumerate() {
            if spec["only"].as_str().is_some_and(|o| !o.eq_ignore_ascii_case(&format!("{c:?}"))) {
                continue;
            }
            errors.extend(check_build(&d, c, case, n, spec));
            builds += 1;
        }
    }
    assert!(errors.is_empty(), "{} of the corpus's checks failed ({builds} builds):\n{}", errors.len(), errors.join("\n"));
}

#[test]
fn corpus_builds_with_berth() {
    run_corpus(Client::Berth);
}

#[test]
fn corpus_builds_with_the_docker_cli() {
    run_corpus(Client::Docker);
}
