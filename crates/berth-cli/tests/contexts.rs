//! `berth context` shares the docker CLI's context store: what either CLI creates, uses or removes,
//! the other sees; the daemon a command talks to follows the docker CLI's precedence (`--context`,
//! then `-H`/`BERTH_HOST`, then `BERTH_CONTEXT`/`DOCKER_CONTEXT`, then the current context).

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `PROGRAM ARGS` with DOCKER_CONFIG = `cfg` and `env` set, nothing else selecting a daemon.
fn cli(program: &str, cfg: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(program);
    c.args(args).env("DOCKER_CONFIG", cfg).stdin(Stdio::null());
    for k in ["BERTH_HOST", "DOCKER_HOST", "BERTH_CONTEXT", "DOCKER_CONTEXT"] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(program: &str, cfg: &Path, args: &[&str]) -> String {
    let o = cli(program, cfg, &[], args);
    assert!(o.status.success(), "{program} {args:?}: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

#[test]
fn contexts_are_shared_with_the_docker_cli() {
    let d = with_busybox();
    let cfg = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("config.json"), "{\"auths\": {\"example.test\": {\"auth\": \"eDp5\"}}}").unwrap();
    let host = d.host();

    // Made by docker, used by berth.
    ok("docker", &cfg, &["context", "create", "by-docker", "--description", "made by docker", "--docker", &format!("host={host}")]);
    assert_eq!(ok(BERTH, &cfg, &["--context", "by-docker", "images", "--format", "{{.Repository}}"]).trim(), "busybox");
    assert_eq!(ok(BERTH, &cfg, &["-c", "by-docker", "run", "--rm", "busybox", "echo", "hi"]), "hi\n");
    // Both print the same inspect document for it.
    let b: Value = serde_json::from_str(&ok(BERTH, &cfg, &["context", "inspect", "by-docker"])).unwrap();
    let k: Value = serde_json::from_str(&ok("docker", &cfg, &["context", "inspect", "by-docker"])).unwrap();
    assert_eq!(b, k);

    // Made by berth, used by docker, byte for byte the layout docker writes.
    let o = cli(BERTH, &cfg, &[], &["context", "create", "by-berth", "--docker", &format!("host={host}")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("by-berth\n", "Successfully created context \"by-berth\"\n"));
    assert_eq!(ok("docker", &cfg, &["--context", "by-berth", "images", "--format", "{{.Repository}}"]).trim(), "busybox");
    ok("docker", &cfg, &["context", "create", "twin", "--docker", &format!("host={host}")]);
    let meta = |n: &str| {
        let v: Value = serde_json::from_str(&ok("docker", &cfg, &["context", "inspect", n])).unwrap();
        std::fs::read_to_string(Path::new(v[0]["Storage"]["MetadataPath"].as_str().unwrap()).join("meta.json")).unwrap()
    };
    assert_eq!(meta("by-berth").replace("by-berth", "twin"), meta("twin"));

    // ls: the same rows (the default context aside, which each CLI fills with its own host).
    let rows = |program: &str| -> Vec<Value> {
        ok(program, &cfg, &["context", "ls", "--format", "json"]).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|v| v["Name"] != "default").collect()
    };
    assert_eq!(rows(BERTH), rows("docker"));
    let table = ok(BERTH, &cfg, &["context", "ls"]);
    assert!(table.starts_with("NAME ") && table.lines().any(|l| l.starts_with("default * ")), "{table}");
    let row = table.lines().find(|l| l.starts_with("by-docker ")).unwrap_or_else(|| panic!("{table}"));
    assert_eq!(row.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect::<Vec<_>>(), ["by-docker", "made by docker", host.as_str()], "{table}");

    // `use` by one is the other's current context; config.json keeps what else it holds.
    let o = cli(BERTH, &cfg, &[], &["context", "use", "by-docker"]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("by-docker\n", "Current context is now \"by-docker\"\n"));
    assert_eq!(ok("docker", &cfg, &["context", "show"]).trim(), "by-docker");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(cfg.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["auths"]["example.test"]["auth"], "eDp5");
    assert_eq!(ok(BERTH, &cfg, &["images", "--format", "{{.Repository}}"]).trim(), "busybox", "the current context is used");
    ok("docker", &cfg, &["context", "use", "twin"]);
    assert_eq!(ok(BERTH, &cfg, &["context", "show"]).trim(), "twin");

    // Removing the current context needs -f, then the default is current again (for both).
    let o = cli(BERTH, &cfg, &[], &["context", "rm", "twin"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "berth: context \"twin\" is in use, set -f flag to force remove\n");
    assert_eq!(ok(BERTH, &cfg, &["context", "rm", "-f", "twin"]), "twin\n");
    assert_eq!(ok("docker", &cfg, &["context", "show"]).trim(), "default");
    ok("docker", &cfg, &["context", "rm", "by-berth"]);
    assert_eq!(ok(BERTH, &cfg, &["context", "ls", "-q"]), "by-docker\ndefault\n");

    // update, and the errors docker gives, in berth's one-line style.
    ok(BERTH, &cfg, &["context", "update", "by-docker", "--description", "changed"]);
    let v: Value = serde_json::from_str(&ok("docker", &cfg, &["context", "inspect", "by-docker"])).unwrap();
    assert_eq!(v[0]["Metadata"]["Description"], "changed");
    for (args, msg) in [
        (vec!["context", "create", "default"], "\"default\" is a reserved context name"),
        (vec!["context", "create", "a b"], "context name \"a b\" is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\""),
        (vec!["context", "create", "by-docker"], "context \"by-docker\" already exists"),
        (vec!["context", "create", "bad", "--docker", "host=ftp://x"], "invalid host \"ftp://x\""),
        (vec!["context", "use", "nope"], "context \"nope\": context not found"),
        (vec!["-c", "nope", "ps"], "context \"nope\": context not found"),
    ] {
        let o = cli(BERTH, &cfg, &[], &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).starts_with(&format!("berth: {msg}")) && stderr(&o).lines().count() == 1, "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn the_daemon_is_chosen_with_the_docker_clis_precedence() {
    let d = Daemon::start();
    let cfg = d.dir.path().join("docker-config");
    let good = d.host();
    let bad = format!("unix://{}", d.dir.path().join("nobody.sock").display());
    ok(BERTH, &cfg, &["context", "create", "good", "--docker", &format!("host={good}")]);
    ok(BERTH, &cfg, &["context", "create", "bad", "--docker", &format!("host={bad}")]);
    let reaches = |env: &[(&str, &str)], args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["ps", "-q"]);
        let o = cli(BERTH, &cfg, env, &all);
        match o.status.code() {
            Some(0) => "good",
            Some(1) if stderr(&o).contains("nobody.sock") => "bad",
            _ => panic!("{env:?} {args:?}: {}", stderr(&o)),
        }
    };
    ok(BERTH, &cfg, &["context", "use", "bad"]);
    assert_eq!(reaches(&[], &[]), "bad", "the current context");
    assert_eq!(reaches(&[("DOCKER_CONTEXT", "good")], &[]), "good", "DOCKER_CONTEXT over the current context");
    assert_eq!(reaches(&[("BERTH_CONTEXT", "good"), ("DOCKER_CONTEXT", "bad")], &[]), "good", "BERTH_CONTEXT over DOCKER_CONTEXT");
    assert_eq!(reaches(&[("BERTH_HOST", &good), ("BERTH_CONTEXT", "bad")], &[]), "good", "BERTH_HOST over BERTH_CONTEXT");
    assert_eq!(reaches(&[("BERTH_HOST", &bad)], &["--context", "good"]), "good", "--context over BERTH_HOST");
    assert_eq!(reaches(&[("BERTH_CONTEXT", "bad")], &["-H", &good]), "good", "-H over BERTH_CONTEXT");
    let o = cli(BERTH, &cfg, &[], &["-H", &good, "-c", "good", "ps"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "berth: conflicting options: cannot specify both --host and --context\n");
    // The same choices by the docker CLI for the same store (DOCKER_HOST in BERTH_HOST's place).
    let docker = |env: &[(&str, &str)], args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["context", "show"]);
        stdout(&cli("docker", &cfg, env, &all)).trim().to_string()
    };
    assert_eq!(docker(&[], &[]), "bad");
    assert_eq!(docker(&[("DOCKER_CONTEXT", "good")], &[]), "good");
    assert_eq!(docker(&[("DOCKER_HOST", &good), ("DOCKER_CONTEXT", "bad")], &[]), "default");
    for (env, args) in [(vec![], vec![]), (vec![("DOCKER_CONTEXT", "good")], vec![]), (vec![("BERTH_HOST", good.as_str()), ("BERTH_CONTEXT", "bad")], vec![])] {
        let o = cli(BERTH, &cfg, &env, &args.iter().copied().chain(["context", "show"]).collect::<Vec<_>>());
        let docker_env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.replace("BERTH", "DOCKER").leak() as &str, *v)).collect();
        assert_eq!(stdout(&o).trim(), docker(&docker_env, &args), "{env:?}");
    }
    // `use` warns when BERTH_HOST overrides it, as docker does for DOCKER_HOST.
    let o = cli(BERTH, &cfg, &[("BERTH_HOST", &good)], &["context", "use", "good"]);
    assert!(stderr(&o).contains("Warning: BERTH_HOST environment variable overrides the active context."), "{}", stderr(&o));
}
