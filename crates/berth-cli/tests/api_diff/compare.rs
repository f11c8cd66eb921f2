//! What must differ between two daemons is normalised away (ids, timestamps, addresses, sizes,
//! versions, data roots); the rest is compared: status, header names (case-sensitive) and values,
//! JSON structure and values, JSON-lines streams and Docker's stream framing.

use crate::wire::{frames, Resp};
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// How a case's two responses are compared.
#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    /// Status and, for an error, its message.
    Status,
    /// Status, header names and values, and the normalised JSON body, value for value.
    Json,
    /// Status, headers, and every key dockerd sends present in Berth's body with the same JSON type
    /// (recursively); values are not compared (they describe two different hosts).
    Shape,
    /// Status, headers, chunked framing and the normalised lines of a JSON-lines stream (progress
    /// bars left out).
    Lines,
    /// Both answer 200 and a JSON-lines stream whose last line is an error (`errorDetail`).
    StreamError,
    /// Status, headers and Docker's 8-byte-framed stream: valid framing, and the same payload per
    /// stream (stdout, stderr) after normalisation.
    Frames,
    /// Status, headers and the normalised body as text.
    Text,
    /// Status and headers only (binary bodies: tar archives).
    Headers,
    /// Status, headers and the set of key paths of the normalised JSON body, both ways: every
    /// object key, array items merged, numbers by type, strings and booleans by value
    /// (api_diff/keys.rs). For per-host measurements (stats) whose every field must be there.
    Keys,
}

/// Header names never compared: they depend on the body and the moment.
const VOLATILE_HEADERS: [&str; 4] = ["Date", "Content-Length", "Transfer-Encoding", "Connection"];

/// Keys whose values are per-host measurements or moments: only their JSON type is compared.
const VOLATILE_KEYS: &[&str] = &[
    "Created", "CreatedAt", "StartedAt", "FinishedAt", "time", "timeNano", "Size", "VirtualSize", "SizeRw",
    "SizeRootFs", "SharedSize", "Pid", "LayersSize", "read", "preread",
];

static RES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        // Each side's IPv6 test subnets (fd00:db8:{v6}::/64, {v6} from its network slot).
        (r"fd00:db8:[0-9a-f]{1,4}:", "fd00:db8:<v6>:"),
        (r"sha256:[0-9a-f]{64}", "sha256:<id>"),
        (r"[0-9a-f]{64}", "<id>"),
        (r"\b[0-9a-f]{12}\b", "<short>"),
        (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", "<time>"),
        (r"([0-9a-f]{2}:){5}[0-9a-f]{2}", "<mac>"),
        (r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(/\d+)?\b", "<ip>"),
        (r"\b1\.4[0-9]\b", "<api>"),
    ]
    .into_iter()
    .map(|(r, s)| (Regex::new(r).expect("regex"), s))
    .collect()
});

/// Normalises one string: each side's data root, then ids, times, addresses, API versions.
pub fn norm_str(s: &str, roots: &[String]) -> String {
    let mut s = s.to_string();
    for r in roots {
        s = s.replace(r.as_str(), "<root>");
    }
    for (re, with) in RES.iter() {
        s = re.replace_all(&s, *with).into_owned();
    }
    s
}

/// Normalises a JSON value in place.
pub fn norm_json(v: &mut Value, roots: &[String]) {
    match v {
        Value::String(s) => *s = norm_str(s, roots),
        Value::Array(a) => a.iter_mut().for_each(|x| norm_json(x, roots)),
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let x = m.get_mut(&k).expect("key");
                if VOLATILE_KEYS.contains(&k.as_str()) {
                    let tag = match x {
                        Value::Number(_) => Some("<n>"),
                        Value::String(_) => Some("<s>"),
                        _ => None,
                    };
                    if let Some(t) = tag {
                        *x = Value::String(t.into());
                    }
                } else {
                    norm_json(x, roots);
                }
            }
            // Keys that are ids or addresses (networks by id, port maps) normalised too.
            let entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            for (k, x) in entries {
                m.insert(norm_str(&k, roots), x);
            }
        }
        _ => {}
    }
}

/// One side's view of a response, for comparison.
pub struct Side<'a> {
    pub resp: &'a Resp,
    pub roots: &'a [String],
}

/// Compares dockerd's response (`d`) with Berth's (`b`); `Err` describes the first differences.
pub fn compare(cmp: Cmp, ignore: &[&str], d: Side, b: Side) -> Result<(), String> {
    if d.resp.status != b.resp.status {
        return Err(format!(
            "status: dockerd {} {:?}, berth {} {:?}",
            d.resp.status,
            text(d.resp),
            b.resp.status,
            text(b.resp)
        ));
    }
    if d.resp.status >= 400 {
        let (dm, bm) = (message(&d), message(&b));
        if dm != bm {
            return Err(format!("error message: dockerd {dm:?}, berth {bm:?}"));
        }
    }
    if matches!(cmp, Cmp::Status) {
        return Ok(());
    }
    let header_diff = headers(&d, &b);
    let body_diff = body(cmp, ignore, &d, &b);
    match (header_diff, body_diff) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(h), Ok(())) => Err(h),
        (Ok(()), Err(x)) => Err(x),
        (Err(h), Err(x)) => Err(format!("{h}\n    {x}")),
    }
}

fn body(cmp: Cmp, ignore: &[&str], d: &Side, b: &Side) -> Result<(), String> {
    let (d, b) = (Side { resp: d.resp, roots: d.roots }, Side { resp: b.resp, roots: b.roots });
    match cmp {
        Cmp::Status | Cmp::Headers => Ok(()),
        Cmp::Json => {
            let (mut dv, mut bv) = (json(&d)?, json(&b)?);
            strip(&mut dv, ignore);
            strip(&mut bv, ignore);
            let mut diffs = Vec::new();
            diff_values("", &dv, &bv, &mut diffs, true);
            report(diffs)
        }
        Cmp::Shape => {
            let (mut dv, mut bv) = (json(&d)?, json(&b)?);
            strip(&mut dv, ignore);
            strip(&mut bv, ignore);
            let mut diffs = Vec::new();
            diff_values("", &dv, &bv, &mut diffs, false);
            report(diffs)
        }
        Cmp::Lines => {
            if d.resp.chunked != b.resp.chunked {
                return Err(format!("framing: dockerd chunked={}, berth chunked={}", d.resp.chunked, b.resp.chunked));
            }
            let (dl, bl) = (lines(&d, ignore)?, lines(&b, ignore)?);
            if dl != bl {
                return Err(format!("stream lines:\n  dockerd {dl:?}\n  berth   {bl:?}"));
            }
            Ok(())
        }
        Cmp::StreamError => {
            let last_error = |s: &Side| lines(s, ignore).ok().and_then(|l| l.last().cloned()).is_some_and(|l| l.contains("errorDetail"));
            match (last_error(&d), last_error(&b)) {
                (true, true) => Ok(()),
                (de, be) => Err(format!("stream ends in error: dockerd {de}, berth {be}: berth sent {:?}", text(b.resp))),
            }
        }
        Cmp::Frames => {
            let per_stream = |s: &Side| -> Result<Vec<(u8, String)>, String> {
                let f = frames(&s.resp.body).ok_or_else(|| format!("not a framed stream: {:?}", text(s.resp)))?;
                let mut out: Vec<(u8, String)> = Vec::new();
                for (k, p) in f {
                    match out.iter_mut().find(|(x, _)| *x == k) {
                        Some((_, acc)) => acc.push_str(&String::from_utf8_lossy(&p)),
                        None => out.push((k, String::from_utf8_lossy(&p).into_owned())),
                    }
                }
                out.sort();
                Ok(out.into_iter().map(|(k, p)| (k, norm_str(&p, s.roots))).collect())
            };
            let (df, bf) = (per_stream(&d)?, per_stream(&b)?);
            if df != bf {
                return Err(format!("stream payloads: dockerd {df:?}, berth {bf:?}"));
            }
            Ok(())
        }
        Cmp::Keys => {
            let (mut dv, mut bv) = (json(&d)?, json(&b)?);
            strip(&mut dv, ignore);
            strip(&mut bv, ignore);
            report(crate::keys::diff(&dv, &bv))
        }
        Cmp::Text => {
            let (dt, bt) = (norm_str(&text(d.resp), d.roots), norm_str(&text(b.resp), b.roots));
            if dt != bt {
                return Err(format!("body: dockerd {dt:?}, berth {bt:?}"));
            }
            Ok(())
        }
    }
}

fn text(r: &Resp) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn message(s: &Side) -> String {
    let m = serde_json::from_slice::<Value>(&s.resp.body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("<not an error body: {:?}>", text(s.resp)));
    norm_str(&m, s.roots)
}

fn headers(d: &Side, b: &Side) -> Result<(), String> {
    let names = |s: &Side| {
        let mut n: Vec<String> =
            s.resp.headers.iter().map(|(k, _)| k.clone()).filter(|k| !VOLATILE_HEADERS.contains(&k.as_str())).collect();
        n.sort();
        n.dedup();
        n
    };
    let (dn, bn) = (names(d), names(b));
    if dn != bn {
        return Err(format!("header names: dockerd {dn:?}, berth {bn:?}"));
    }
    for name in &dn {
        let value = |s: &Side| {
            let v = s.resp.header(name).unwrap_or("");
            match name.as_str() {
                "Server" => v.split('/').next().map(|_| "<server>".to_string()).unwrap_or_default(),
                _ => norm_str(v, s.roots),
            }
        };
        let (dv, bv) = (value(d), value(b));
        if dv != bv {
            return Err(format!("header {name}: dockerd {dv:?}, berth {bv:?}"));
        }
    }
    Ok(())
}

fn json(s: &Side) -> Result<Value, String> {
    let mut v: Value =
        serde_json::from_slice(&s.resp.body).map_err(|e| format!("not JSON ({e}): {:?}", text(s.resp)))?;
    norm_json(&mut v, s.roots);
    Ok(v)
}

fn lines(s: &Side, ignore: &[&str]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for l in text(s.resp).lines().filter(|l| !l.trim().is_empty()) {
        let mut v: Value = serde_json::from_str(l).map_err(|e| format!("stream line not JSON ({e}): {l:?}"))?;
        if v.get("progressDetail").is_some_and(|p| p.as_object().is_some_and(|o| !o.is_empty())) {
            continue;
        }
        norm_json(&mut v, s.roots);
        strip(&mut v, ignore);
        out.push(v.to_string());
    }
    Ok(out)
}

/// Removes keys named in `ignore` anywhere in `v`.
fn strip(v: &mut Value, ignore: &[&str]) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| strip(x, ignore)),
        Value::Object(m) => {
            m.retain(|k, _| !ignore.contains(&k.as_str()));
            m.values_mut().for_each(|x| strip(x, ignore));
        }
        _ => {}
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Differences between dockerd's `d` and Berth's `b`: with `exact`, values and extra keys too;
/// without, only dockerd's keys missing from Berth or of another type (`null` matches any type:
/// Go leaves empty slices and maps null where other encoders send `[]`/`{}`).
fn diff_values(path: &str, d: &Value, b: &Value, out: &mut Vec<String>, exact: bool) {
    match (d, b) {
        (Value::Object(dm), Value::Object(bm)) => {
            for (k, dv) in dm {
                match bm.get(k) {
                    Some(bv) => diff_values(&format!("{path}.{k}"), dv, bv, out, exact),
                    None => out.push(format!("{path}.{k}: missing in berth (dockerd {dv})")),
                }
            }
            if exact {
                for k in bm.keys().filter(|k| !dm.contains_key(*k)) {
                    out.push(format!("{path}.{k}: only in berth ({})", bm[k]));
                }
            }
        }
        (Value::Array(da), Value::Array(ba)) => {
            if exact && da.len() != ba.len() {
                out.push(format!("{path}: dockerd {} items, berth {}", da.len(), ba.len()));
            }
            for (i, (dv, bv)) in da.iter().zip(ba).enumerate() {
                diff_values(&format!("{path}[{i}]"), dv, bv, out, exact);
            }
        }
        _ if exact => {
            if d != b {
                out.push(format!("{path}: dockerd {d}, berth {b}"));
            }
        }
        (Value::Null, _) | (_, Value::Null) => {}
        _ => {
            if kind(d) != kind(b) {
                out.push(format!("{path}: dockerd {} {d}, berth {} {b}", kind(d), kind(b)));
            }
        }
    }
}

fn report(diffs: Vec<String>) -> Result<(), String> {
    if diffs.is_empty() {
        Ok(())
    } else {
        let n = diffs.len();
        let mut s = diffs.into_iter().take(12).collect::<Vec<_>>().join("\n    ");
        if n > 12 {
            s.push_str(&format!("\n    … {} more", n - 12));
        }
        Err(s)
    }
}
