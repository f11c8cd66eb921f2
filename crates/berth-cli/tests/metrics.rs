//! Prometheus metrics: `berth daemon --metrics-addr` serves dockerd's `engine_daemon_*` names and
//! Berth's own, in a format Debian's `promtool check metrics` accepts, with values that follow what the
//! test did.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// `GET /metrics` over plain HTTP; returns (status line, content type, body).
fn scrape(addr: &str) -> (String, String, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the metrics address");
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response head");
    let ctype = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string())).unwrap_or_default();
    // hyper may chunk the body: take the lines that look like the exposition format.
    let body = body.lines().filter(|l| l.starts_with('#') || l.contains(' ')).collect::<Vec<_>>().join("\n") + "\n";
    (head.lines().next().unwrap_or_default().to_string(), ctype, body)
}

/// The value of the sample line that starts with `prefix` (name and labels).
fn sample(body: &str, prefix: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{body}"))
}

#[test]
fn daemon_metrics_follow_what_happens_and_pass_promtool() {
    let addr = free_addr();
    let d = Daemon::start_with(&["--metrics-addr", &addr]);
    d.berth_ok(&["import", "-c", "CMD [\"/bin/sh\"]", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    d.berth_ok(&["run", "-d", "--name", "up", "busybox", "sleep", "600"]);
    d.berth_ok(&["run", "--rm", "busybox", "true"]);
    d.berth_ok(&["create", "--name", "idle", "busybox", "true"]);
    d.berth_ok(&["ps", "-a"]);
    let id = d.berth_ok(&["info", "--format", "{{.ID}}"]);

    let (status, ctype, body) = scrape(&addr);
    assert!(status.contains("200"), "{status}");
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    // State gauges as dockerd names them: one running, one created (dockerd counts it as stopped).
    assert_eq!(sample(&body, "engine_daemon_container_states_containers{state=\"running\"}"), 1.0);
    assert_eq!(sample(&body, "engine_daemon_container_states_containers{state=\"stopped\"}"), 1.0);
    assert_eq!(sample(&body, "engine_daemon_container_states_containers{state=\"paused\"}"), 0.0);
    // Two starts, three creates, one delete (the --rm one).
    assert_eq!(sample(&body, "engine_daemon_container_actions_seconds_count{action=\"start\"}"), 2.0);
    assert_eq!(sample(&body, "engine_daemon_container_actions_seconds_count{action=\"create\"}"), 3.0);
    assert_eq!(sample(&body, "engine_daemon_container_actions_seconds_count{action=\"delete\"}"), 1.0);
    assert_eq!(sample(&body, "berth_container_start_seconds_count"), 2.0);
    assert!(sample(&body, "engine_daemon_events_total") >= 6.0, "create, start, die, destroy…:\n{body}");
    assert!(body.contains(&format!("daemon_id=\"{}\"", id.trim())), "engine_info names this daemon:\n{body}");
    assert!(sample(&body, "engine_daemon_engine_cpus_cpus") >= 1.0);
    // API latency by route template, never by raw path.
    assert!(sample(&body, "berth_api_request_duration_seconds_count{method=\"GET\",route=\"/containers/json\"}") >= 1.0, "{body}");
    assert!(body.contains("route=\"/containers/{id}/start\""), "{body}");
    assert!(!body.contains(&format!("route=\"/containers/{}", "up")), "no raw names as labels");

    // Debian's promtool lints the exposition (exit 0 and no complaint).
    promtool_ok(&body);

    // After the container stops, the gauge follows.
    d.berth_ok(&["rm", "-f", "up"]);
    let (_, _, body) = scrape(&addr);
    assert_eq!(sample(&body, "engine_daemon_container_states_containers{state=\"running\"}"), 0.0);
    assert_eq!(sample(&body, "engine_daemon_container_actions_seconds_count{action=\"delete\"}"), 2.0);

    // Prunes and collections are counted by kind.
    d.berth_ok(&["container", "prune", "-f"]);
    d.berth_ok(&["rmi", "busybox:latest"]);
    let (_, _, body) = scrape(&addr);
    assert_eq!(sample(&body, "berth_gc_runs_total{kind=\"containers\"}"), 1.0);
    assert!(sample(&body, "berth_gc_runs_total{kind=\"collector\"}") >= 1.0, "rmi collects:\n{body}");
    assert!(sample(&body, "berth_gc_reclaimed_bytes_total{kind=\"collector\"}") > 1_000_000.0, "the image's layer came back:\n{body}");
}

#[test]
fn a_taken_metrics_address_stops_the_daemon_with_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let net = NetSlot::claim();
    let out = DaemonArgs::new(&dir.path().join("root")).unix(&dir.path().join("s.sock")).net(&net).args(&["--metrics-addr", &addr]).command().output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("metrics address {addr}")), "{}", stderr(&out));
}

/// `promtool check metrics` finds nothing wrong, except dockerd's own name for a gauge
/// (`engine_daemon_events_subscribers_total`), which Berth keeps so dashboards made for dockerd work.
fn promtool_ok(body: &str) {
    let mut p = Command::new("promtool").args(["check", "metrics"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("promtool");
    p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    let report = stdout(&out) + &stderr(&out);
    let problems: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| *l != "engine_daemon_events_subscribers_total non-counter metrics should not have \"_total\" suffix")
        .collect();
    assert!(problems.is_empty(), "promtool check metrics (exit {:?}):\n{report}", out.status.code());
    // promtool parsed it: a malformed exposition is an error line, not a lint.
    assert!(matches!(out.status.code(), Some(0) | Some(3)), "{report}");
}

#[test]
fn registry_serves_distribution_metrics_on_its_debug_address() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_addr();
    let debug = free_addr();
    let cfg = dir.path().join("config.yml");
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: warn\nhttp:\n  addr: {listen}\n  debug:\n    addr: {debug}\n    prometheus:\n      enabled: true\n      path: /metrics\nstorage:\n  filesystem:\n    rootdirectory: {}\n",
            dir.path().join("reg").display()
        ),
    )
    .unwrap();
    let mut reg = Command::new(BERTH).args(["registry", "--config"]).arg(&cfg).spawn().unwrap();
    let reg_pid = nix::unistd::Pid::from_raw(reg.id() as i32);
    let stop = scopeguard(move || {
        let _ = nix::sys::signal::kill(reg_pid, nix::sys::signal::Signal::SIGTERM);
    });
    assert!(wait_tcp(&debug, std::time::Duration::from_secs(5)), "the debug address never answered");

    // A real push and pull through the registry, by a daemon that counts the bytes it moved.
    let daemon_metrics = free_addr();
    let d = Daemon::start_with(&["--metrics-addr", &daemon_metrics]);
    d.berth_ok(&["import", busybox_tarball().to_str().unwrap(), "busybox:latest"]);
    let image = format!("{listen}/metrics/bb:1");
    d.berth_ok(&["tag", "busybox:latest", &image]);
    d.berth_ok(&["push", &image]);
    let (_, _, daemon_body) = scrape(&daemon_metrics);
    let layer = std::fs::metadata(busybox_tarball()).unwrap().len() as f64;
    assert!(sample(&daemon_body, "berth_push_bytes_total") > layer * 0.5, "the layer went out:\n{daemon_body}");
    assert_eq!(sample(&daemon_body, "berth_pull_bytes_total"), 0.0);
    d.berth_ok(&["rmi", &image, "busybox:latest"]);
    d.berth_ok(&["pull", &image]);
    let (_, _, daemon_body) = scrape(&daemon_metrics);
    assert!(sample(&daemon_body, "berth_pull_bytes_total") > layer * 0.5, "the layer came back:\n{daemon_body}");

    let (status, _, body) = scrape(&debug);
    assert!(status.contains("200"), "{status}");
    assert_eq!(sample(&body, "registry_http_requests_total{code=\"201\",handler=\"manifest\",method=\"PUT\"}"), 1.0);
    assert!(sample(&body, "registry_http_requests_total{code=\"201\",handler=\"blob_upload_chunk\",method=\"PUT\"}") >= 2.0, "a layer and a config:\n{body}");
    assert!(sample(&body, "registry_http_request_duration_seconds_count{handler=\"blob_upload\",method=\"POST\"}") >= 2.0);
    assert_eq!(sample(&body, "registry_http_in_flight_requests{handler=\"manifest\"}"), 0.0);
    promtool_ok(&body);

    drop(stop);
    assert!(reg.wait().unwrap().success());
}

/// Runs `f` when dropped (also when the test panics).
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct G<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for G<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f()
            }
        }
    }
    G(Some(f))
}

#[test]
fn registry_debug_without_prometheus_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.yml");
    std::fs::write(&cfg, "http:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:0\n").unwrap();
    let out = Command::new(BERTH).args(["registry", "--config"]).arg(&cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("http.debug"), "{}", stderr(&out));
}

#[test]
fn metrics_addr_from_daemon_json() {
    let dir = tempfile::tempdir().unwrap();
    let net = NetSlot::claim();
    let addr = free_addr();
    let cfg = dir.path().join("daemon.json");
    std::fs::write(&cfg, format!("{{\"metrics-addr\": \"{addr}\", \"log-level\": \"warn\"}}")).unwrap();
    let mut daemon = DaemonArgs::new(&dir.path().join("root")).config(&cfg).unix(&dir.path().join("s.sock")).net(&net).command().spawn().unwrap();
    let pid = nix::unistd::Pid::from_raw(daemon.id() as i32);
    let stop = scopeguard(move || {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    });
    assert!(wait_tcp(&addr, std::time::Duration::from_secs(10)), "the metrics address from daemon.json never answered");
    let (status, _, body) = scrape(&addr);
    assert!(status.contains("200"), "{status}");
    assert!(body.contains("engine_daemon_engine_info"), "{body}");
    drop(stop);
    assert!(daemon.wait().unwrap().success());
    // The same key as a flag and in the file is refused, as dockerd refuses it.
    let out = Command::new(BERTH).args(["daemon", "--validate", "--config-file", cfg.to_str().unwrap(), "--metrics-addr", "127.0.0.1:1"]).output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("metrics-addr: (from flag: 127.0.0.1:1, from file:"), "{}", stderr(&out));
}
