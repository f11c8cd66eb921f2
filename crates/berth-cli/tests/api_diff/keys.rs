//! Key-path comparison (`Cmp::Keys`): for responses whose numbers are per-host measurements but
//! whose every field must be there, as `GET /containers/{id}/stats`. Each side's normalised JSON is
//! flattened to a set of paths (`.memory_stats.stats.rss: number`, `.blkio_stats.io_serviced_recursive[].op = "Write"`),
//! array items merged under `[]`, and the two sets must be equal.

use serde_json::Value;
use std::collections::BTreeSet;

fn flatten(path: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) if m.is_empty() => {
            out.insert(format!("{path}: {{}}"));
        }
        Value::Object(m) => m.iter().for_each(|(k, x)| flatten(&format!("{path}.{k}"), x, out)),
        Value::Array(a) if a.is_empty() => {
            out.insert(format!("{path}: []"));
        }
        Value::Array(a) => a.iter().for_each(|x| flatten(&format!("{path}[]"), x, out)),
        Value::Number(_) => {
            out.insert(format!("{path}: number"));
        }
        Value::Null => {
            out.insert(format!("{path}: null"));
        }
        Value::String(_) | Value::Bool(_) => {
            out.insert(format!("{path} = {v}"));
        }
    }
}

/// The key paths only dockerd's (`d`) or only Berth's (`b`) body has.
pub fn diff(d: &Value, b: &Value) -> Vec<String> {
    let (mut ds, mut bs) = (BTreeSet::new(), BTreeSet::new());
    flatten("", d, &mut ds);
    flatten("", b, &mut bs);
    let mut out: Vec<String> = ds.difference(&bs).map(|p| format!("{p}: missing in berth")).collect();
    out.extend(bs.difference(&ds).map(|p| format!("{p}: only in berth")));
    out
}
