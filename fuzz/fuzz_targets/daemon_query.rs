//! The daemon's query-string parsing, reachable without a daemon: the query string decoded as the
//! handlers decode it, then each parameter through the parser its handlers use (`filters` JSON and
//! its typed readers, `since`/`until` timestamps, port keys, signals, Go globs).
#![no_main]

use berth_daemon::filters::{glob_match, Filters};
use berth_daemon::service::images::parse_time;
use berth_daemon::service::networks::endpoint::parse_port_key;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let labels: BTreeMap<String, String> = [("a".to_string(), "1".to_string()), ("b".to_string(), String::new())].into();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    for (k, v) in &pairs {
        match k.as_str() {
            "filters" => {
                if let Ok(f) = Filters::parse(v) {
                    let _ = f.validate(&["label", "name", "dangling", "until", "reference"]);
                    let _ = f.bool("dangling");
                    let _ = (f.labels_match("label", Some(&labels)), f.labels_allow(&labels));
                    for pattern in f.get("reference").iter().chain(f.get("name")) {
                        let _ = glob_match(pattern, "docker.io/library/busybox:latest");
                        let _ = glob_match(pattern, v);
                    }
                }
            }
            "since" | "until" => {
                if let Ok(t) = parse_time(v) {
                    assert!(t.is_finite(), "timestamp {v:?} parsed to {t}");
                }
            }
            "port" => {
                let _ = parse_port_key(v);
            }
            _ => {
                let _ = glob_match(k, v);
            }
        }
    }
});
