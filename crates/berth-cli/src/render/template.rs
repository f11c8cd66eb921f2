//! `--format`: Go templates (through `gtmpl`) with the functions Docker's CLI adds (`json`, `join`,
//! `lower`, `upper`, `title`, `split`, `truncate`, `pad`), the `table` directive and Docker's
//! `\t`/`\n` escapes.

use super::table::align;
use gtmpl::{Context, Template};
use gtmpl_value::{FuncError, Number, Value};
use serde_json::Value as Json;
use std::collections::HashMap;

/// Converts JSON into a template value.
pub fn to_value(j: &Json) -> Value {
    match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Number(Number::from(i))
            } else if let Some(u) = n.as_u64() {
                Value::Number(Number::from(u))
            } else {
                Value::Number(Number::from(n.as_f64().unwrap_or(0.0)))
            }
        }
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(a.iter().map(to_value).collect()),
        Json::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), to_value(v))).collect::<HashMap<_, _>>()),
    }
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                Json::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Object(o) | Value::Map(o) => {
            let m: std::collections::BTreeMap<_, _> = o.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
            serde_json::to_value(m).unwrap_or(Json::Null)
        }
    }
}

fn arg_str(args: &[Value], i: usize) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v) => Ok(v.to_string()),
        None => Err(FuncError::AtLeastXArgs("function".into(), i + 1)),
    }
}

fn f_json(args: &[Value]) -> Result<Value, FuncError> {
    let v = args.first().ok_or(FuncError::ExactlyXArgs("json".into(), 1))?;
    Ok(Value::String(serde_json::to_string(&to_json(v)).unwrap_or_default()))
}
fn f_join(args: &[Value]) -> Result<Value, FuncError> {
    let sep = arg_str(args, 1)?;
    match args.first() {
        Some(Value::Array(a)) => Ok(Value::String(a.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(&sep))),
        _ => Err(FuncError::UnableToConvertFromValue),
    }
}
fn f_lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0)?.to_lowercase()))
}
fn f_upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(arg_str(args, 0)?.to_uppercase()))
}
fn f_title(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0)?;
    let mut c = s.chars();
    Ok(Value::String(c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()))
}
fn f_split(args: &[Value]) -> Result<Value, FuncError> {
    let (s, sep) = (arg_str(args, 0)?, arg_str(args, 1)?);
    Ok(Value::Array(s.split(sep.as_str()).map(|p| Value::String(p.to_string())).collect()))
}
fn f_truncate(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0)?;
    let n: usize = arg_str(args, 1)?.parse().map_err(|_| FuncError::UnableToConvertFromValue)?;
    Ok(Value::String(s.chars().take(n).collect()))
}
fn f_pad(args: &[Value]) -> Result<Value, FuncError> {
    let s = arg_str(args, 0)?;
    let l: usize = arg_str(args, 1)?.parse().map_err(|_| FuncError::UnableToConvertFromValue)?;
    let r: usize = arg_str(args, 2)?.parse().map_err(|_| FuncError::UnableToConvertFromValue)?;
    Ok(Value::String(format!("{}{}{}", " ".repeat(l), s, " ".repeat(r))))
}

/// A parsed `--format` template.
pub struct Format {
    tmpl: Template,
    table: bool,
}

impl Format {
    /// Parses a format string (`table …`, `json`, or a Go template).
    pub fn parse(format: &str) -> anyhow::Result<Format> {
        let format = format.replace("\\t", "\t").replace("\\n", "\n");
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start_matches(' ').to_string()),
            None if format == "json" => (false, "{{json .}}".to_string()),
            None => (false, format.clone()),
        };
        let mut tmpl = Template::default();
        tmpl.add_funcs(&[
            ("json", f_json as gtmpl_value::Func),
            ("join", f_join),
            ("lower", f_lower),
            ("upper", f_upper),
            ("title", f_title),
            ("split", f_split),
            ("truncate", f_truncate),
            ("pad", f_pad),
        ]);
        tmpl.parse(body).map_err(|e| anyhow::anyhow!("template parsing error: {e}"))?;
        Ok(Format { tmpl, table })
    }

    /// Renders one object.
    pub fn render(&self, v: &Json) -> anyhow::Result<String> {
        self.tmpl.render(&Context::from(to_value(v))).map_err(|e| anyhow::anyhow!("template: {e}"))
    }

    /// Renders rows (with a header row for `table` formats) and aligns them.
    pub fn render_rows(&self, header: &Json, rows: &[Json]) -> anyhow::Result<String> {
        let mut out = String::new();
        if self.table {
            out.push_str(&self.render(header)?);
            out.push('\n');
        }
        for r in rows {
            out.push_str(&self.render(r)?);
            out.push('\n');
        }
        Ok(if self.table || out.contains('\t') { align(&out) } else { out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_and_json_formats() {
        let f = Format::parse("table {{.Repository}}\\t{{.Tag}}").unwrap();
        let out = f
            .render_rows(&json!({"Repository": "REPOSITORY", "Tag": "TAG"}), &[json!({"Repository": "busybox", "Tag": "latest"})])
            .unwrap();
        assert_eq!(out, "REPOSITORY   TAG\nbusybox      latest\n");
        let f = Format::parse("{{json .}}").unwrap();
        assert_eq!(f.render(&json!({"a": [1, "x"]})).unwrap(), r#"{"a":[1,"x"]}"#);
        let f = Format::parse("{{.Os}}/{{.Architecture}} {{index .RepoTags 0}} {{upper .Os}} {{join .RepoTags \",\"}}").unwrap();
        let v = json!({"Os": "linux", "Architecture": "amd64", "RepoTags": ["a:1", "b:2"]});
        assert_eq!(f.render(&v).unwrap(), "linux/amd64 a:1 LINUX a:1,b:2");
    }

    #[test]
    fn bad_template_is_an_error() {
        assert!(Format::parse("{{.Foo").is_err());
    }
}
