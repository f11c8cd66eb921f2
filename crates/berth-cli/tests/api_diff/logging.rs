//! Log drivers: each driver's options refused with dockerd's messages, `syslog` to a datagram
//! socket the harness binds (`{syslogsock}`; both daemons write to it), its local copy read by
//! `docker logs` (dockerd 20.10's dual logging) or refused with `cache-disabled`, a syslog
//! destination nobody listens on and `journald` on this host (which runs no journald) failing the
//! start, and `local`.

use crate::cases::{create, run_body, Case};
use crate::compare::Cmp;
use crate::hostconfig::{refused, run};

const P: &[&str] = &["b:HostConfig.LogConfig"];

fn log(driver: &str, config: &str) -> String {
    format!(r#""LogConfig":{{"Type":"{driver}","Config":{{{config}}}}}"#)
}

pub fn all() -> Vec<Case> {
    let mut v = vec![
        refused("log-opt-unknown-syslog", &log("syslog", r#""max-size":"1m""#), P),
        refused("log-opt-unknown-local", &log("local", r#""tag":"x""#), P),
        refused("log-opt-unknown-journald", &log("journald", r#""syslog-address":"udp://127.0.0.1""#), P),
        refused("log-opt-unknown-json-file", &log("json-file", r#""nope":"1""#), P),
        refused("log-mode-bad", &log("json-file", r#""mode":"sometimes""#), P),
        refused("log-buffer-without-non-blocking", &log("json-file", r#""max-buffer-size":"4m""#), P),
        refused("log-cache-disabled-bad", &log("syslog", r#""cache-disabled":"maybe""#), P),
        refused("log-syslog-address-form", &log("syslog", r#""syslog-address":"127.0.0.1:514""#), P),
        refused("log-syslog-address-missing", &log("syslog", r#""syslog-address":"unixgram:///nonexistent/log""#), P),
        refused("log-syslog-facility-bad", &log("syslog", r#""syslog-facility":"nope""#), P),
        refused("log-syslog-format-bad", &log("syslog", r#""syslog-format":"rfc5425""#), P),
    ];
    let syslog = log("syslog", r#""syslog-address":"unixgram://{syslogsock}","syslog-format":"rfc5424","syslog-facility":"local3","tag":"{{.Name}}""#);
    v.extend(run(&["log-syslog", "log-syslog-start", "log-syslog-wait", "log-syslog-logs"], "ad-syslog", "echo out; echo err >&2", &syslog, P));
    let nocache = log("syslog", r#""syslog-address":"unixgram://{syslogsock}","cache-disabled":"true""#);
    v.extend(run(&["log-syslog-nocache", "log-syslog-nocache-start", "log-syslog-nocache-wait", "log-syslog-nocache-logs"], "ad-syslog-nc", "echo out", &nocache, P));
    // Answered with an error (dockerd's 501), compared by status and message.
    if let Some(logs) = v.last_mut() {
        logs.cmp = Cmp::Status;
    }
    v.extend(run(&["log-local", "log-local-start", "log-local-wait", "log-local-logs"], "ad-local", "echo out; echo err >&2", &log("local", r#""max-size":"1m","max-file":"2""#), P));
    v.extend([
        // Nothing listens on port 1: the dial fails when the container starts.
        create("log-syslog-unreachable", "ad-syslog-down", &run_body("true", &log("syslog", r#""syslog-address":"tcp://127.0.0.1:1""#)), P),
        Case::new("log-syslog-unreachable-start", "POST", "/containers/ad-syslog-down/start", "POST /containers/{id}/start", P, Cmp::Status),
        create("log-journald", "ad-journald", &run_body("true", &log("journald", r#""tag":"x""#)), P),
        Case::new("log-journald-start", "POST", "/containers/ad-journald/start", "POST /containers/{id}/start", P, Cmp::Status),
    ]);
    v
}
