//! `HostConfig.LogConfig`: the log drivers Berth implements and their options, checked at create
//! with dockerd's `logger.ValidateLogOpts` and its messages, and turned into what the shim does
//! (`RuntimeConfig`'s log fields).
//!
//! - `json-file`: Docker's JSON lines (`max-size`, `max-file`, `compress`).
//! - `local`: the same file rotated with the `local` driver's defaults (20 MB, 5 files, gzipped).
//!   dockerd's on-disk encoding for `local` is protobuf, which Docker documents as internal; Berth
//!   keeps its JSON lines: `docker logs` reads both the same.
//! - `syslog`, `journald`: each line goes to the syslog socket or the journal (berth_shim's
//!   log_sink), and a local copy is kept for `docker logs`, as dockerd 20.10's dual logging
//!   (`cache-*` options; `cache-disabled=true` makes the syslog driver's logs unreadable, as in
//!   dockerd). dockerd reads journald containers' logs back from the journal; Berth from its copy.
//! - `none`: no log.

use super::record::ContainerRecord;
use super::ServiceError;
use berth_api::container::HostConfig;
use berth_runtime::config::{JournaldSink, LogSink, SyslogFormat, SyslogSink};
use berth_runtime::RuntimeConfig;
use std::collections::BTreeMap;

/// The log drivers Berth implements (what `berth daemon --log-driver` accepts too).
pub const LOG_DRIVERS: &[&str] = &["json-file", "local", "syslog", "journald", "none"];

/// Where systemd-journald takes native-protocol datagrams.
pub const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// Drivers dockerd ships that Berth does not implement (answered with Berth's own message).
const NOT_IMPLEMENTED: &[&str] = &["gelf", "fluentd", "awslogs", "splunk", "etwlogs", "gcplogs", "logentries"];

/// Options every driver takes (dockerd's builtInLogOpts and the dual-logging cache's).
const COMMON_OPTS: &[&str] = &["mode", "max-buffer-size", "cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"];

/// The options of `LogConfig.Config` (string values; others are left out as dockerd's decoder
/// would have refused the request).
pub fn opts(h: &HostConfig) -> BTreeMap<String, String> {
    let cfg = h.extra.get("LogConfig").and_then(|l| l.get("Config")).and_then(|c| c.as_object());
    cfg.map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect()).unwrap_or_default()
}

/// dockerd's `logger.ValidateLogOpts` for `driver` with `cfg`: the message is dockerd's.
pub fn validate(driver: &str, cfg: &BTreeMap<String, String>) -> Result<(), String> {
    if driver == "none" {
        return Ok(());
    }
    let mode = cfg.get("mode").map(String::as_str).unwrap_or("");
    if !matches!(mode, "" | "blocking" | "non-blocking") {
        return Err(format!("logger: logging mode not supported: {mode}"));
    }
    if let Some(s) = cfg.get("max-buffer-size") {
        if mode != "non-blocking" {
            return Err("logger: max-buffer-size option is only supported with 'mode=non-blocking'".into());
        }
        if berth_api::units::parse_ram_bytes(s).is_none() {
            return Err(format!("error parsing option max-buffer-size: invalid size: '{s}'"));
        }
    }
    if let Some(v) = cfg.get("cache-disabled") {
        if parse_bool(v).is_none() {
            return Err(format!("invalid value for option cache-disabled: {v}"));
        }
    }
    if NOT_IMPLEMENTED.contains(&driver) {
        return Err(format!("logging driver {driver:?} is not supported by Berth: use json-file, local, syslog, journald or none"));
    }
    let own: &[&str] = match driver {
        "json-file" => &["max-file", "max-size", "compress", "labels", "labels-regex", "env", "env-regex", "tag"],
        "local" => &["max-file", "max-size", "compress"],
        "syslog" => &[
            "env", "env-regex", "labels", "labels-regex", "syslog-address", "syslog-facility", "syslog-tls-ca-cert", "syslog-tls-cert",
            "syslog-tls-key", "syslog-tls-skip-verify", "tag", "syslog-format",
        ],
        "journald" => &["labels", "labels-regex", "env", "env-regex", "tag"],
        // Podman's name for the kubelet's CRI format; Berth's CRI side uses it.
        "k8s-file" => &["path"],
        // Anything else would be a logging plugin: dockerd's answer when none is installed.
        t => return Err(format!("error looking up logging plugin {t}: plugin {t:?} not found")),
    };
    for k in cfg.keys().filter(|k| !COMMON_OPTS.contains(&k.as_str())) {
        if !own.contains(&k.as_str()) {
            return Err(match driver {
                "local" => format!("unknown log opt '{k}' for log driver local"),
                _ => format!("unknown log opt '{k}' for {driver} log driver"),
            });
        }
    }
    match driver {
        "syslog" => {
            parse_address(cfg.get("syslog-address").map(String::as_str).unwrap_or(""))?;
            parse_facility(cfg.get("syslog-facility").map(String::as_str).unwrap_or(""))?;
            parse_format(cfg.get("syslog-format").map(String::as_str).unwrap_or(""))?;
        }
        "k8s-file" if !cfg.get("path").is_some_and(|p| p.starts_with('/')) => {
            return Err("logging driver k8s-file needs an absolute path log option (--log-opt path=/…)".into());
        }
        _ => {}
    }
    Ok(())
}

/// Go's strconv.ParseBool.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// dockerd's syslog `parseAddress`: `(network, address)`, empty for the local syslog socket.
fn parse_address(address: &str) -> Result<(String, String), String> {
    if address.is_empty() {
        return Ok((String::new(), String::new()));
    }
    let Some((scheme, rest)) = address.split_once("://").filter(|(s, _)| ["tcp", "tcp+tls", "udp", "unix", "unixgram"].contains(s)) else {
        return Err(format!("syslog-address should be in form proto://address, got {address}"));
    };
    match scheme {
        "unix" | "unixgram" => {
            // url.Parse's path: what follows the (empty) host.
            let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            std::fs::metadata(path).map_err(|e| format!("stat {path}: {}", go_errno(&e)))?;
            Ok((scheme.to_string(), path.to_string()))
        }
        "tcp+tls" => Err("syslog over tcp+tls is not supported by Berth: use tcp, udp, unix or unixgram".into()),
        _ => {
            let host = rest.split('/').next().unwrap_or("");
            let has_port = match host.strip_prefix('[') {
                Some(v6) => v6.split_once(']').is_some_and(|(_, p)| p.starts_with(':')),
                None => host.contains(':'),
            };
            Ok((scheme.to_string(), if has_port { host.to_string() } else { format!("{host}:514") }))
        }
    }
}

/// An I/O error as Go prints its errno (`no such file or directory`).
fn go_errno(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => {
            let d = nix::errno::Errno::from_raw(n).desc();
            let mut c = d.chars();
            c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
        }
        None => e.to_string(),
    }
}

/// dockerd's `parseFacility`: the facility shifted into place (LOG_DAEMON by default).
fn parse_facility(f: &str) -> Result<u8, String> {
    const NAMES: [(&str, u8); 20] = [
        ("kern", 0), ("user", 1), ("mail", 2), ("daemon", 3), ("auth", 4), ("syslog", 5), ("lpr", 6), ("news", 7), ("uucp", 8),
        ("cron", 9), ("authpriv", 10), ("ftp", 11), ("local0", 16), ("local1", 17), ("local2", 18), ("local3", 19), ("local4", 20),
        ("local5", 21), ("local6", 22), ("local7", 23),
    ];
    if f.is_empty() {
        return Ok(3 << 3);
    }
    if let Some((_, n)) = NAMES.iter().find(|(name, _)| *name == f) {
        return Ok(n << 3);
    }
    match f.parse::<u8>() {
        Ok(n) if n <= 23 => Ok(n << 3),
        _ => Err("invalid syslog facility".into()),
    }
}

fn parse_format(f: &str) -> Result<SyslogFormat, String> {
    match f {
        "" => Ok(SyslogFormat::Unix),
        "rfc3164" => Ok(SyslogFormat::Rfc3164),
        "rfc5424" => Ok(SyslogFormat::Rfc5424),
        "rfc5424micro" => Ok(SyslogFormat::Rfc5424Micro),
        _ => Err("Invalid syslog format".into()),
    }
}

fn host_name() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default()
}

/// dockerd's `ParseLogTag`: the `tag` option's template (default `{{.ID}}`) over the container.
fn tag(rec: &ContainerRecord, cfg: &BTreeMap<String, String>) -> Result<String, String> {
    let template = cfg.get("tag").filter(|t| !t.is_empty()).map(String::as_str).unwrap_or("{{.ID}}");
    let command = std::iter::once(rec.path.as_str()).chain(rec.args.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
    let field = |name: &str| -> Option<String> {
        Some(match name {
            "ID" => rec.id.chars().take(12).collect(),
            "FullID" => rec.id.clone(),
            "Name" => rec.name.trim_start_matches('/').to_string(),
            "Command" => command.clone(),
            "ImageID" => rec.image.chars().take(12).collect(),
            "ImageFullID" => rec.image.clone(),
            "ImageName" => rec.image_name.clone(),
            "DaemonName" => "docker".into(),
            "Hostname" => host_name(),
            _ => return None,
        })
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").ok_or_else(|| format!("template: log-tag:1: unclosed action in {template:?}"))? + start;
        let action = rest[start + 2..end].trim();
        let value = action.strip_prefix('.').and_then(&field).ok_or_else(|| {
            format!("log tag template {template:?}: Berth knows {{{{.ID}}}}, .FullID, .Name, .Command, .ImageID, .ImageFullID, .ImageName, .DaemonName and .Hostname, not {action:?}")
        })?;
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// journald's `sanitizeKeyMod`: upper case, other characters `_`, no leading `_`.
fn journal_key(s: &str) -> String {
    let mut n = String::new();
    for c in s.chars() {
        let c = if c.is_ascii_lowercase() {
            c.to_ascii_uppercase()
        } else if c.is_ascii_uppercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        };
        if !(n.is_empty() && c == '_') {
            n.push(c);
        }
    }
    n
}

/// dockerd's `Info.ExtraAttributes`: the labels and environment variables the `labels`, `env`,
/// `labels-regex` and `env-regex` options name, keys passed through `key`.
fn extra_attributes(rec: &ContainerRecord, cfg: &BTreeMap<String, String>, key: fn(&str) -> String) -> Result<BTreeMap<String, String>, String> {
    let mut extra = BTreeMap::new();
    let labels = rec.config.labels.clone().unwrap_or_default();
    let labels_opt = cfg.get("labels").map(String::as_str).unwrap_or("");
    for l in labels_opt.split(',').filter(|_| !labels_opt.is_empty()) {
        if let Some(v) = labels.get(l) {
            extra.insert(key(l), v.clone());
        }
    }
    // dockerd looks at `labels` here, not `labels-regex` (so the regex needs `labels` set too).
    if let (Some(re), false) = (cfg.get("labels-regex"), labels_opt.is_empty()) {
        let re = regex::Regex::new(re).map_err(|e| e.to_string())?;
        for (k, v) in labels.iter().filter(|(k, _)| re.is_match(k)) {
            extra.insert(key(k), v.clone());
        }
    }
    let env: BTreeMap<&str, &str> = rec.config.env.as_deref().unwrap_or_default().iter().filter_map(|e| e.split_once('=')).collect();
    let env_opt = cfg.get("env").map(String::as_str).unwrap_or("");
    for e in env_opt.split(',').filter(|_| !env_opt.is_empty()) {
        if let Some(v) = env.get(e) {
            extra.insert(key(e), v.to_string());
        }
    }
    if let Some(re) = cfg.get("env-regex").filter(|r| !r.is_empty()) {
        let re = regex::Regex::new(re).map_err(|e| e.to_string())?;
        for (k, v) in env.iter().filter(|(k, _)| re.is_match(k)) {
            extra.insert(key(k), v.to_string());
        }
    }
    Ok(extra)
}

fn size(v: &str) -> Result<u64, ServiceError> {
    berth_api::units::parse_ram_bytes(v).filter(|n| *n > 0).map(|n| n as u64).ok_or_else(|| ServiceError::Invalid(format!("invalid size: {v}")))
}

fn files(v: &str) -> Result<u32, ServiceError> {
    v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| ServiceError::Invalid(format!("invalid max-file: {v}: must be a number of at least 1")))
}

fn flag(cfg: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool, ServiceError> {
    match cfg.get(key) {
        None => Ok(default),
        Some(v) => parse_bool(v).ok_or_else(|| ServiceError::Invalid(format!("invalid value for option {key}: {v:?} is not a boolean"))),
    }
}

/// Sets `cfg`'s log fields for `rec`'s log driver (validated at create), with the journal at
/// `journald_socket`.
pub fn apply(rec: &ContainerRecord, journald_socket: &std::path::Path, cfg: &mut RuntimeConfig) -> Result<(), ServiceError> {
    let h = &rec.host_config;
    let driver = super::create::log_driver(h);
    let o = opts(h);
    let get = |k: &str| o.get(k).map(String::as_str);
    // Rotation of the file: json-file's own options, local's with its defaults, the cache's.
    let (size_key, files_key, compress_key, defaults) = match driver {
        "local" => ("max-size", "max-file", "compress", Some((20 << 20, 5, true))),
        "syslog" | "journald" => ("cache-max-size", "cache-max-file", "cache-compress", Some((20 << 20, 5, true))),
        _ => ("max-size", "max-file", "compress", None),
    };
    let (dsize, dfiles, dcompress) = defaults.unwrap_or((0, 0, false));
    cfg.log_max_size = get(size_key).map(size).transpose()?.unwrap_or(dsize);
    cfg.log_max_files = get(files_key).map(files).transpose()?.unwrap_or(dfiles);
    cfg.log_compress = flag(&o, compress_key, dcompress)?;
    if driver == "json-file" && cfg.log_compress && cfg.log_max_files == 1 {
        return Err(ServiceError::Invalid("compress cannot be true when max-file is less than 2".into()));
    }
    cfg.no_log = driver == "none" || (driver == "syslog" && cache_disabled(h));
    let invalid = |e: String| ServiceError::Invalid(e);
    cfg.log_sink = match driver {
        "syslog" => {
            let (network, address) = parse_address(get("syslog-address").unwrap_or("")).map_err(invalid)?;
            Some(LogSink::Syslog(SyslogSink {
                network,
                address,
                facility: parse_facility(get("syslog-facility").unwrap_or("")).map_err(invalid)?,
                tag: tag(rec, &o).map_err(invalid)?,
                format: parse_format(get("syslog-format").unwrap_or("")).map_err(invalid)?,
                hostname: host_name(),
            }))
        }
        "journald" => {
            let tag = tag(rec, &o).map_err(invalid)?;
            let mut fields = BTreeMap::from([
                ("CONTAINER_ID".to_string(), rec.id.chars().take(12).collect()),
                ("CONTAINER_ID_FULL".to_string(), rec.id.clone()),
                ("CONTAINER_NAME".to_string(), rec.name.trim_start_matches('/').to_string()),
                ("CONTAINER_TAG".to_string(), tag.clone()),
                ("IMAGE_NAME".to_string(), rec.image_name.clone()),
                ("SYSLOG_IDENTIFIER".to_string(), tag),
            ]);
            fields.extend(extra_attributes(rec, &o, journal_key).map_err(invalid)?);
            Some(LogSink::Journald(JournaldSink { socket: journald_socket.to_path_buf(), fields }))
        }
        _ => None,
    };
    Ok(())
}

/// `cache-disabled=true`: a syslog container keeps no copy to read its logs from.
fn cache_disabled(h: &HostConfig) -> bool {
    opts(h).get("cache-disabled").and_then(|v| parse_bool(v)).unwrap_or(false)
}

/// Whether `docker logs` can read the container's log; dockerd's answer (501) when not.
pub fn readable(h: &HostConfig) -> bool {
    match super::create::log_driver(h) {
        "none" | "k8s-file" => false,
        "syslog" => !cache_disabled(h),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn unknown_options_are_refused_in_dockerd_s_words() {
        assert_eq!(validate("syslog", &m(&[("max-size", "1m")])).unwrap_err(), "unknown log opt 'max-size' for syslog log driver");
        assert_eq!(validate("journald", &m(&[("syslog-address", "x")])).unwrap_err(), "unknown log opt 'syslog-address' for journald log driver");
        assert_eq!(validate("local", &m(&[("tag", "x")])).unwrap_err(), "unknown log opt 'tag' for log driver local");
        assert_eq!(validate("json-file", &m(&[("nope", "x")])).unwrap_err(), "unknown log opt 'nope' for json-file log driver");
        assert!(validate("none", &m(&[("nope", "x")])).is_ok());
        assert!(validate("json-file", &m(&[("mode", "non-blocking"), ("max-buffer-size", "4m"), ("cache-disabled", "true")])).is_ok());
        assert_eq!(validate("local", &m(&[("mode", "sometimes")])).unwrap_err(), "logger: logging mode not supported: sometimes");
        assert_eq!(validate("nosuch", &m(&[])).unwrap_err(), "error looking up logging plugin nosuch: plugin \"nosuch\" not found");
    }

    #[test]
    fn syslog_options_are_parsed_as_dockerd_parses_them() {
        assert_eq!(parse_address("udp://127.0.0.1").unwrap(), ("udp".into(), "127.0.0.1:514".into()));
        assert_eq!(parse_address("tcp://[::1]:601").unwrap(), ("tcp".into(), "[::1]:601".into()));
        assert_eq!(parse_address("127.0.0.1:514").unwrap_err(), "syslog-address should be in form proto://address, got 127.0.0.1:514");
        assert_eq!(parse_address("unix:///nonexistent/log").unwrap_err(), "stat /nonexistent/log: no such file or directory");
        assert_eq!(parse_facility("local3").unwrap(), 19 << 3);
        assert_eq!(parse_facility("7").unwrap(), 7 << 3);
        assert_eq!(parse_facility("24").unwrap_err(), "invalid syslog facility");
        assert_eq!(parse_format("rfc5425").unwrap_err(), "Invalid syslog format");
        assert_eq!(journal_key("com.example-label"), "COM_EXAMPLE_LABEL");
        assert_eq!(journal_key("_lead"), "LEAD");
    }
}
