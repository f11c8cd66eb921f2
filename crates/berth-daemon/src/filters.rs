//! The `filters` query parameter: JSON `{"key": {"value": true}}` (current) or `{"key": ["value"]}`
//! (API < 1.22 style), parsed into a plain map.

use std::collections::{BTreeMap, HashSet};

/// Parsed filters: key → accepted values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the JSON text of a `filters` parameter (empty → no filters).
    pub fn parse(s: &str) -> Result<Filters, String> {
        if s.trim().is_empty() {
            return Ok(Filters::default());
        }
        // Not JSON: Go's words, as dockerd answers them.
        let v: serde_json::Value = serde_json::from_str(s).map_err(|e| crate::api::gojson::message(s.as_bytes(), &e, crate::api::gojson::Reader::Unmarshal))?;
        let obj = v.as_object().ok_or("invalid filter: expected a JSON object")?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let list: Vec<String> = match vals {
                serde_json::Value::Object(m) => m.iter().filter(|(_, on)| on.as_bool() != Some(false)).map(|(k, _)| k.clone()).collect(),
                serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                serde_json::Value::String(s) => vec![s.clone()],
                _ => return Err(format!("invalid filter {k:?}")),
            };
            out.insert(k.clone(), list);
        }
        Ok(Filters(out))
    }

    /// Values given for `key` (empty when absent).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Fails with Docker's message when a key outside `allowed` is present.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), String> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(format!("invalid filter '{k}'")),
            None => Ok(()),
        }
    }

    /// A boolean filter (`dangling=true`): `None` when absent, error when not a boolean.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.get(key) {
            [] => Ok(None),
            [v] => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(format!("invalid filter '{key}={v}'")),
            },
            _ => Err(format!("invalid filter '{key}': more than one value")),
        }
    }

    /// Whether a `label` filter (`key` or `key=value` each) accepts these labels.
    pub fn labels_match(&self, key: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.get(key).iter().all(|want| labels.is_some_and(|l| Filters::label_present(want, l)))
    }

    /// Whether the `label` filters accept these labels and no `label!` filter matches them (the
    /// prune endpoints).
    pub fn labels_allow(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels_match("label", Some(labels)) && !self.get("label!").iter().any(|l| Filters::label_present(l, labels))
    }

    /// Whether one label filter value (`key` or `key=value`) matches these labels.
    pub fn label_present(want: &str, labels: &BTreeMap<String, String>) -> bool {
        match want.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(want),
        }
    }
}

/// Go's `path.Match` glob: `*` and `?` do not cross `/`, `[...]` classes with ranges and `^`/`!`.
///
/// Patterns come from clients (`filters={"reference":[…]}`), so matching is polynomial: runs of `*`
/// are one `*`, and (pattern, name) positions known not to match are remembered. Plain backtracking
/// was exponential in the number of stars (fuzzing found a 30-star query holding a worker for good).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let mut p: Vec<char> = Vec::with_capacity(pattern.len());
    let (mut escaped, mut after_star) = (false, false);
    for c in pattern.chars() {
        // `**` matches what `*` does (neither crosses `/`); an escaped `\*` is a literal.
        let star = c == '*' && !escaped;
        if !(star && after_star) {
            p.push(c);
        }
        after_star = star;
        escaped = c == '\\' && !escaped;
    }
    let n: Vec<char> = name.chars().collect();
    let mut failed = HashSet::new();
    glob_at(&p, &n, 0, 0, &mut failed)
}

/// Whether `p[pi..]` matches `n[ni..]`; `failed` holds the positions already known not to.
fn glob_at(p: &[char], n: &[char], pi: usize, ni: usize, failed: &mut HashSet<(usize, usize)>) -> bool {
    if failed.contains(&(pi, ni)) {
        return false;
    }
    let rest = &n[ni..];
    let hit = match p.get(pi) {
        None => rest.is_empty(),
        Some('*') => {
            let run = rest.iter().position(|&c| c == '/').unwrap_or(rest.len());
            (0..=run).any(|i| glob_at(p, n, pi + 1, ni + i, failed))
        }
        Some('?') => !rest.is_empty() && rest[0] != '/' && glob_at(p, n, pi + 1, ni + 1, failed),
        Some('[') => {
            let Some(c) = rest.first() else { return false };
            let Some(end) = p[pi..].iter().skip(1).position(|&x| x == ']').map(|i| pi + i + 1) else { return false };
            let class = &p[pi + 1..end];
            let (neg, class) = match class.first() {
                Some('^') | Some('!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= *c && *c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            hit != neg && glob_at(p, n, end + 1, ni + 1, failed)
        }
        Some('\\') if pi + 1 < p.len() => rest.first() == Some(&p[pi + 1]) && glob_at(p, n, pi + 2, ni + 1, failed),
        Some(x) => rest.first() == Some(x) && glob_at(p, n, pi + 1, ni + 1, failed),
    };
    if !hit {
        failed.insert((pi, ni));
    }
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filter_shapes_parse() {
        let a = Filters::parse(r#"{"dangling":{"true":true},"label":{"a=b":true}}"#).unwrap();
        assert_eq!(a.bool("dangling").unwrap(), Some(true));
        let b = Filters::parse(r#"{"reference":["busybox*"]}"#).unwrap();
        assert_eq!(b.get("reference"), ["busybox*"]);
        assert!(Filters::parse("[1]").is_err());
        assert!(a.validate(&["dangling"]).is_err());
    }

    #[test]
    fn globs_follow_go_path_match() {
        assert!(glob_match("busy*", "busybox"));
        assert!(glob_match("*", "busybox"));
        assert!(!glob_match("*", "user/app"));
        assert!(glob_match("user/*", "user/app"));
        assert!(glob_match("b?sybox:[0-9]*", "busybox:1.36"));
        assert!(!glob_match("b[!u]sybox", "busybox"));
    }

    #[test]
    fn globs_with_many_stars_match_in_polynomial_time() {
        // The pattern and name of a query string found by fuzzing (daemon_query): backtracking took
        // exponential time in the number of stars. Run on a thread so a regression fails, not hangs.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let stars = "*".repeat(27);
            let r = (
                glob_match(&format!("?{stars}u"), "0t='\u{2}%%*?="),
                glob_match(&format!("a{stars}b{stars}c"), &format!("a{}b{}c", "x".repeat(100), "x".repeat(100))),
                glob_match(&format!("?{stars}x"), &"y".repeat(40)),
                glob_match(&format!("a{stars}/b"), "ayyy/b"),
                glob_match("a\\**", "a*yz") && !glob_match("a\\**", "ayz"),
            );
            let _ = tx.send(r);
        });
        let r = rx.recv_timeout(std::time::Duration::from_secs(5)).expect("glob matching took over 5 s");
        assert_eq!(r, (false, true, false, true, true));
    }

    #[test]
    fn label_filters() {
        let f = Filters::parse(r#"{"label":["a","b=2"]}"#).unwrap();
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), "1".to_string());
        assert!(!f.labels_match("label", Some(&l)));
        l.insert("b".to_string(), "2".to_string());
        assert!(f.labels_match("label", Some(&l)));
        assert!(!f.labels_match("label", None));
    }
}
