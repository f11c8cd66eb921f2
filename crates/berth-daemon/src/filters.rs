//! The `filters` query parameter: JSON `{"key": {"value": true}}` (current) or `{"key": ["value"]}`
//! (API < 1.22 style), parsed into a plain map.

use std::collections::BTreeMap;

/// Parsed filters: key → accepted values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the JSON text of a `filters` parameter (empty → no filters).
    pub fn parse(s: &str) -> Result<Filters, String> {
        if s.trim().is_empty() {
            return Ok(Filters::default());
        }
        let v: serde_json::Value = serde_json::from_str(s).map_err(|e| format!("invalid filter: {e}"))?;
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
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn inner(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).take_while(|&i| i == 0 || n[i - 1] != '/').any(|i| inner(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && n[0] != '/' && inner(&p[1..], &n[1..]),
            Some('[') => {
                let Some(c) = n.first() else { return false };
                let Some(end) = p.iter().skip(1).position(|&x| x == ']').map(|i| i + 1) else { return false };
                let class = &p[1..end];
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
                hit != neg && inner(&p[end + 1..], &n[1..])
            }
            Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && inner(&p[2..], &n[1..]),
            Some(x) => n.first() == Some(x) && inner(&p[1..], &n[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    inner(&p, &n)
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
