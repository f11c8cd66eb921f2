//! `berth daemon --config-file` (dockerd's daemon.json keys), `--validate`, and the SIGHUP reload:
//! a real daemon configured by a file only, checked through the API, then reconfigured in place.
//! Only loopback addresses are contacted (the mirror is a `berth registry` on 127.0.0.1).

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `berth daemon --validate` with these arguments: (exit code, stderr).
fn validate(args: &[&str]) -> (i32, String) {
    let o = Command::new(BERTH).args(["daemon", "--validate"]).args(args).stdin(Stdio::null()).output().unwrap();
    (o.status.code().unwrap_or(-1), stderr(&o))
}

#[test]
fn validate_says_ok_or_names_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("daemon.json");
    let f_s = f.to_str().unwrap();
    std::fs::write(&f, r#"{"data-root": "/srv/b", "labels": ["env=test"], "log-opts": {"max-size": "10m"}, "features": {"buildkit": false}}"#).unwrap();
    let (code, err) = validate(&["--config-file", f_s]);
    assert_eq!((code, err.trim()), (0, "configuration OK"));

    std::fs::write(&f, r#"{"data-root": "/srv/b", "foo": 1}"#).unwrap();
    let (code, err) = validate(&["--config-file", f_s]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("unable to configure the berth daemon with file {f_s}: the following directives don't match any configuration option: foo")), "{err}");

    std::fs::write(&f, r#"{"data-root": "/srv/b", "debug": true}"#).unwrap();
    let (code, err) = validate(&["--config-file", f_s, "--data-root", "/srv/c", "-D"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("the following directives are specified both as a flag and in the configuration file: data-root: (from flag: /srv/c, from file: /srv/b), debug: (from flag: true, from file: true)"),
        "{err}"
    );

    std::fs::write(&f, r#"{"registry-mirrors": "https://m.example"}"#).unwrap();
    let (code, err) = validate(&["--config-file", f_s]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid value for registry-mirrors"), "{err}");

    std::fs::write(&f, "{ \"debug\": tru").unwrap();
    assert_eq!(validate(&["--config-file", f_s]).0, 1);

    let (code, err) = validate(&["--config-file", tmp.path().join("missing.json").to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("missing.json") && err.contains("No such file"), "{err}");

    // Flags alone are checked too (an empty file is no setting).
    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, "").unwrap();
    let (code, err) = validate(&["--config-file", empty.to_str().unwrap(), "--log-level", "loud"]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid logging level: loud"), "{err}");
    assert_eq!(validate(&["--config-file", empty.to_str().unwrap(), "--label", "a=1"]).0, 0);
}

/// A daemon started with `--config-file` and nothing else; stopped (containers removed) on drop.
struct FileDaemon {
    child: Option<Child>,
    sock: PathBuf,
    log: PathBuf,
}

impl FileDaemon {
    fn start(config: &Path, sock: &Path, log: &Path) -> FileDaemon {
        let child = Command::new(BERTH)
            .args(["daemon", "--config-file"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let d = FileDaemon { child: Some(child), sock: sock.to_path_buf(), log: log.to_path_buf() };
        assert!(wait_unix(sock, Duration::from_secs(20)), "daemon did not come up: {}", std::fs::read_to_string(log).unwrap_or_default());
        d
    }

    fn berth(&self, args: &[&str]) -> String {
        let o = Command::new(BERTH).args(args).env("BERTH_HOST", format!("unix://{}", self.sock.display())).stdin(Stdio::null()).output().unwrap();
        assert!(o.status.success(), "berth {args:?}: {}{}", stdout(&o), stderr(&o));
        stdout(&o)
    }

    fn info(&self) -> Value {
        let (status, _, body) = http(&self.sock, "GET", "/info", b"");
        assert_eq!(status, 200);
        serde_json::from_slice(&body).unwrap()
    }

    fn hup(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.as_ref().unwrap().id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FileDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let (_, _, body) = http(&self.sock, "GET", "/containers/json?all=1", b"");
            let list: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            for c in list.as_array().into_iter().flatten() {
                let id = c["Id"].as_str().unwrap_or_default();
                let _ = http(&self.sock, "DELETE", &format!("/containers/{id}?force=1"), b"");
            }
            terminate(&mut c, Duration::from_secs(10));
        }
    }
}

#[test]
fn daemon_runs_from_its_file_and_sighup_reloads_it() {
    let tmp = tempfile::Builder::new().prefix("berth-test-").tempdir().unwrap();
    let net = NetSlot::claim();
    let sock = tmp.path().join("berth.sock");
    let cfg_path = tmp.path().join("daemon.json");
    let reg = Registry::opts().root(tmp.path()).start();
    let reg_host = reg.addr.clone();
    let mut cfg = json!({
        "data-root": tmp.path().join("root"),
        "hosts": [format!("unix://{}", sock.display())],
        "certs-dir": tmp.path().join("certs.d"),
        "bridge": net.bridge(),
        "bip": net.bip(),
        "default-address-pools": [{"base": format!("10.{}.0.0/16", net.octet), "size": 24}],
        "log-level": "warn",
        "labels": ["env=test", "tier=one"],
        "insecure-registries": ["reg.lan:5000", "10.77.0.0/16"],
        "log-driver": "json-file",
        "log-opts": {"max-size": "1m", "max-file": "2"},
        "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1234, "Hard": 2345}},
        "live-restore": true,
    });
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let d = FileDaemon::start(&cfg_path, &sock, &tmp.path().join("daemon.log"));

    // The file's settings, as `docker info` shows them.
    let info = d.info();
    assert_eq!(info["DockerRootDir"], json!(tmp.path().join("root")));
    assert_eq!(info["Labels"], json!(["env=test", "tier=one"]));
    assert_eq!(info["Debug"], json!(false));
    assert_eq!(info["LoggingDriver"], json!("json-file"));
    assert_eq!(info["RegistryConfig"]["InsecureRegistryCIDRs"], json!(["10.77.0.0/16", "::1/128", "127.0.0.0/8"]));
    assert_eq!(info["RegistryConfig"]["IndexConfigs"]["reg.lan:5000"]["Secure"], json!(false));
    assert_eq!(info["RegistryConfig"]["Mirrors"], json!([]));

    // Containers get the default log options and ulimits (their own win).
    d.berth(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    assert_eq!(d.berth(&["run", "--rm", "--network", "none", "busybox", "sh", "-c", "ulimit -n; ulimit -Hn"]).split_whitespace().collect::<Vec<_>>(), ["1234", "2345"]);
    assert_eq!(d.berth(&["run", "--rm", "--network", "none", "--ulimit", "nofile=99:100", "busybox", "sh", "-c", "ulimit -n"]).trim(), "99");
    let id = d.berth(&["create", "--network", "none", "busybox", "true"]);
    let log_config: Value = serde_json::from_str(&d.berth(&["inspect", "--format", "{{json .HostConfig.LogConfig}}", id.trim()])).unwrap();
    assert_eq!(log_config, json!({"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}));
    let id = d.berth(&["create", "--network", "none", "--log-opt", "max-size=5m", "busybox", "true"]);
    let log_config: Value = serde_json::from_str(&d.berth(&["inspect", "--format", "{{json .HostConfig.LogConfig}}", id.trim()])).unwrap();
    assert_eq!(log_config, json!({"Type": "json-file", "Config": {"max-size": "5m", "max-file": "2"}}));

    // The mirror (a local registry) holds library/busybox; no mirror is configured yet.
    d.berth(&["tag", "busybox:latest", &format!("{reg_host}/library/busybox:latest")]);
    d.berth(&["push", &format!("{reg_host}/library/busybox:latest")]);
    d.berth(&["rmi", "busybox:latest", &format!("{reg_host}/library/busybox:latest")]);
    let (_, _, body) = http(&sock, "GET", "/_ping", b"");
    assert_eq!(body, b"OK");
    assert!(!d.log().contains("request"), "no debug lines at log-level warn: {}", d.log());

    // Reload: new labels, debug, a mirror; a non-reloadable change (mtu) waits for a restart.
    let since = chrono::Utc::now().timestamp() - 1;
    cfg["labels"] = json!(["env=prod"]);
    cfg["debug"] = json!(true);
    cfg["registry-mirrors"] = json!([format!("http://{reg_host}")]);
    cfg["insecure-registries"] = json!([]);
    cfg["mtu"] = json!(1400);
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    d.hup();
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.info()["Labels"] != json!(["env=prod"]) {
        assert!(Instant::now() < deadline, "labels not reloaded: {}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let info = d.info();
    assert_eq!(info["Debug"], json!(true));
    assert_eq!(info["RegistryConfig"]["Mirrors"], json!([format!("http://{reg_host}/")]));
    assert_eq!(info["RegistryConfig"]["IndexConfigs"]["docker.io"]["Mirrors"], json!([format!("http://{reg_host}/")]));
    assert!(info["RegistryConfig"]["IndexConfigs"].get("reg.lan:5000").is_none());
    // dockerd's `daemon reload` event, with the reloaded values.
    let until = chrono::Utc::now().timestamp() + 1;
    let (_, _, body) = http(&sock, "GET", &format!("/events?since={since}&until={until}&filters=%7B%22type%22%3A%5B%22daemon%22%5D%7D"), b"");
    let events: Vec<Value> = String::from_utf8_lossy(&body).lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["Type"], "daemon");
    assert_eq!(events[0]["Action"], "reload");
    assert_eq!(events[0]["Actor"]["ID"], info["ID"]);
    assert_eq!(events[0]["Actor"]["Attributes"]["labels"], r#"["env=prod"]"#);
    assert_eq!(events[0]["Actor"]["Attributes"]["debug"], "true");
    // The log level changed in place: debug lines now appear.
    http(&sock, "GET", "/_ping", b"");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !d.log().contains("request") {
        assert!(Instant::now() < deadline, "no debug line after the reload: {}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.log().contains("mtu"), "the pending mtu change is reported: {}", d.log());
    // The registry client took the mirror: docker.io's busybox now comes from it.
    let out = d.berth(&["pull", "busybox"]);
    assert!(out.contains("docker.io/library/busybox:latest"), "{out}");

    // A broken file is reported and changes nothing.
    std::fs::write(&cfg_path, r#"{"labels": ["x=1"], "bogus": true}"#).unwrap();
    d.hup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !d.log().contains("configuration reload failed") {
        assert!(Instant::now() < deadline, "bad reload not reported: {}", d.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.log().contains("bogus"));
    assert_eq!(d.info()["Labels"], json!(["env=prod"]));
}
