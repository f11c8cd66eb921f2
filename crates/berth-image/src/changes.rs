//! The `changes` of `docker import` / `docker commit`: Dockerfile instructions applied to an image's
//! config (`CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `LABEL`, `ONBUILD`, `STOPSIGNAL`, `USER`, `VOLUME`,
//! `WORKDIR` — the set Docker accepts there).

use crate::ImageError;
use berth_api::config::ContainerConfig;
use serde_json::Value;

/// Applies each change line to `config`, in order. A value may hold several changes separated by
/// newlines (Docker joins them into one Dockerfile, and SDKs send them that way).
pub fn apply_changes(config: &mut ContainerConfig, changes: &[String]) -> Result<(), ImageError> {
    for line in changes.iter().flat_map(|c| c.lines()) {
        apply_one(config, line.trim())?;
    }
    Ok(())
}

fn bad(line: &str, why: &str) -> ImageError {
    ImageError::BadChange(format!("{line:?}: {why}"))
}

fn apply_one(c: &mut ContainerConfig, line: &str) -> Result<(), ImageError> {
    if line.is_empty() {
        return Ok(());
    }
    let (instr, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => c.cmd = Some(command(rest)),
        "ENTRYPOINT" => c.entrypoint = Some(command(rest)),
        "ENV" => {
            let env = c.env.get_or_insert_with(Vec::new);
            for (k, v) in key_values(rest).map_err(|w| bad(line, w))? {
                env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = c.labels.get_or_insert_with(Default::default);
            for (k, v) in key_values(rest).map_err(|w| bad(line, w))? {
                labels.insert(k, v);
            }
        }
        "EXPOSE" => {
            let ports = c.exposed_ports.get_or_insert_with(Default::default);
            for p in words(rest) {
                let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                if num.parse::<u16>().is_err() || !["tcp", "udp", "sctp"].contains(&proto) {
                    return Err(bad(line, "invalid port"));
                }
                ports.insert(format!("{num}/{proto}"), Value::Object(Default::default()));
            }
        }
        "VOLUME" => {
            let vols = c.volumes.get_or_insert_with(Default::default);
            let list = json_array(rest).unwrap_or_else(|| words(rest));
            for v in list {
                vols.insert(v, Value::Object(Default::default()));
            }
        }
        "USER" => c.user = Some(non_empty(rest, line)?),
        "WORKDIR" => c.working_dir = Some(non_empty(rest, line)?),
        "STOPSIGNAL" => c.stop_signal = Some(non_empty(rest, line)?),
        "ONBUILD" => c.on_build.get_or_insert_with(Vec::new).push(non_empty(rest, line)?),
        other => return Err(ImageError::UnknownChange(other.to_ascii_lowercase())),
    }
    Ok(())
}

fn non_empty(s: &str, line: &str) -> Result<String, ImageError> {
    if s.is_empty() {
        Err(bad(line, "missing argument"))
    } else {
        Ok(unquote(s))
    }
}

fn json_array(s: &str) -> Option<Vec<String>> {
    if s.starts_with('[') {
        serde_json::from_str::<Vec<String>>(s).ok()
    } else {
        None
    }
}

/// Exec form (`["a","b"]`) as is; shell form wrapped in `/bin/sh -c`.
fn command(s: &str) -> Vec<String> {
    json_array(s).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), s.to_string()])
}

fn unquote(s: &str) -> String {
    let t = s.trim();
    if t.len() >= 2 && ((t.starts_with('"') && t.ends_with('"')) || (t.starts_with('\'') && t.ends_with('\''))) {
        t[1..t.len() - 1].replace("\\\"", "\"")
    } else {
        t.to_string()
    }
}

/// Splits on unquoted whitespace, removing quotes.
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        match (quote, ch) {
            (None, '"' | '\'') => {
                quote = Some(ch);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `K=V K2="v 2"` or the legacy single pair `K V`.
fn key_values(s: &str) -> Result<Vec<(String, String)>, &'static str> {
    let ws = words(s);
    if ws.is_empty() {
        return Err("missing key=value");
    }
    if !ws[0].contains('=') {
        let (k, v) = s.split_once(char::is_whitespace).ok_or("missing value")?;
        return Ok(vec![(k.to_string(), unquote(v))]);
    }
    ws.into_iter()
        .map(|w| w.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or("expected key=value"))
        .filter(|r| !matches!(r, Ok((k, _)) if k.is_empty()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(lines: &[&str]) -> ContainerConfig {
        let mut c = ContainerConfig::default();
        apply_changes(&mut c, &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        c
    }

    #[test]
    fn exec_and_shell_forms() {
        let c = apply(&["CMD [\"/bin/sh\", \"-c\", \"echo hi\"]", "ENTRYPOINT echo hello world"]);
        assert_eq!(c.cmd.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "echo hello world"]);
    }

    #[test]
    fn env_label_expose_volume_user_workdir() {
        let c = apply(&[
            "ENV A=1 B=\"two words\"",
            "ENV C 3 4",
            "ENV A=override",
            "LABEL org.x=y",
            "EXPOSE 80 53/udp",
            "VOLUME /data /logs",
            "USER nobody",
            "WORKDIR /srv",
        ]);
        assert_eq!(c.env.unwrap(), vec!["B=two words", "C=3 4", "A=override"]);
        assert_eq!(c.labels.unwrap()["org.x"], "y");
        assert!(c.exposed_ports.as_ref().unwrap().contains_key("80/tcp"));
        assert!(c.exposed_ports.unwrap().contains_key("53/udp"));
        assert_eq!(c.volumes.unwrap().len(), 2);
        assert_eq!(c.user.unwrap(), "nobody");
        assert_eq!(c.working_dir.unwrap(), "/srv");
    }

    #[test]
    fn newline_joined_changes_apply_each() {
        let c = apply(&["CMD [\"sh\"]\nLABEL a=b"]);
        assert_eq!(c.cmd.unwrap(), vec!["sh"]);
        assert_eq!(c.labels.unwrap()["a"], "b");
    }

    #[test]
    fn unsupported_or_malformed_changes_fail() {
        let mut c = ContainerConfig::default();
        for bad in ["RUN echo", "EXPOSE abc", "USER", "ENV"] {
            assert!(apply_changes(&mut c, &[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
