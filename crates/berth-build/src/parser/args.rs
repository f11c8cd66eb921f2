//! Per-instruction argument rules, after Docker's `parser/line_parsers.go` and `instructions/parse.go`.

use super::instruction::{CmdLine, Command, CopyArgs, Health, Instruction};

/// The flags each instruction accepts (repeatable ones may be given several times).
fn allowed_flags(keyword: &str) -> &'static [&'static str] {
    match keyword {
        "FROM" => &["platform"],
        "RUN" => &["mount", "network", "security"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &["chown", "chmod", "checksum", "link", "keep-git-dir", "exclude", "unpack"],
        "HEALTHCHECK" => &["interval", "timeout", "start-period", "start-interval", "retries"],
        _ => &[],
    }
}

/// Parses one logical line (continuations joined) into an instruction.
pub(super) fn parse_instruction(text: &str, line: usize, escape: char) -> Result<Instruction, String> {
    let (word, rest) = split_first_word(text);
    let keyword = word.to_ascii_uppercase();
    if !is_keyword(&keyword) {
        return Err(format!("unknown instruction: {word}"));
    }
    let (flags, rest) = if keyword == "ONBUILD" { (Vec::new(), rest) } else { parse_flags(&keyword, rest)? };
    let command = parse_command(&keyword, rest, line, escape, &flags)?;
    Ok(Instruction { line, keyword, original: text.to_string(), flags, command, heredocs: Vec::new() })
}

fn is_keyword(k: &str) -> bool {
    matches!(
        k,
        "FROM" | "RUN" | "CMD" | "ENTRYPOINT" | "ENV" | "LABEL" | "ARG" | "COPY" | "ADD" | "WORKDIR" | "USER"
            | "STOPSIGNAL" | "EXPOSE" | "VOLUME" | "SHELL" | "HEALTHCHECK" | "ONBUILD" | "MAINTAINER"
    )
}

fn split_first_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

/// Leading `--name[=value]` words. A bare `--` is not a flag (Docker treats it as an argument).
/// `--name[=value]` flags in order.
type Flags = Vec<(String, Option<String>)>;

fn parse_flags<'a>(keyword: &str, mut rest: &'a str) -> Result<(Flags, &'a str), String> {
    let mut flags = Vec::new();
    while rest.starts_with("--") {
        let (word, after) = split_first_word(rest);
        if word == "--" {
            break;
        }
        let body = &word[2..];
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(unquote(v))),
            None => (body.to_string(), None),
        };
        if !allowed_flags(keyword).contains(&name.as_str()) {
            return Err(format!("{keyword}: unknown flag: --{name}"));
        }
        let repeatable = matches!(name.as_str(), "mount" | "exclude");
        if !repeatable && flags.iter().any(|(n, _): &(String, _)| *n == name) {
            return Err(format!("{keyword}: duplicate flag specified: --{name}"));
        }
        flags.push((name, value));
        rest = after;
    }
    Ok((flags, rest))
}

/// Strips one pair of matching surrounding quotes from a flag value (`--chown="1:1"`).
fn unquote(v: &str) -> String {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    v.to_string()
}

fn parse_command(keyword: &str, rest: &str, line: usize, escape: char, flags: &[(String, Option<String>)]) -> Result<Command, String> {
    let need = |what: &str| -> Result<(), String> {
        if rest.is_empty() {
            Err(format!("{keyword} requires {what}"))
        } else {
            Ok(())
        }
    };
    Ok(match keyword {
        "FROM" => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [image] => Command::From { image: image.to_string(), alias: None },
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    if !valid_stage_name(name) {
                        return Err(format!("FROM: invalid name for build stage: {name:?}, name can't start with a number or contain symbols"));
                    }
                    Command::From { image: image.to_string(), alias: Some(name.to_string()) }
                }
                _ => return Err("FROM requires either one or three arguments".into()),
            }
        }
        "RUN" => {
            need("at least one argument")?;
            Command::Run(cmd_line(rest))
        }
        "CMD" => Command::Cmd(cmd_line(rest)),
        "ENTRYPOINT" => Command::Entrypoint(cmd_line(rest)),
        "ENV" | "LABEL" => {
            need("at least one argument")?;
            let pairs = name_values(keyword, rest, escape)?;
            if keyword == "ENV" { Command::Env(pairs) } else { Command::Label(pairs) }
        }
        "ARG" => {
            need("at least one argument")?;
            let words = words(rest, escape);
            for w in &words {
                let name = w.split_once('=').map_or(w.as_str(), |(n, _)| n);
                if name.is_empty() {
                    return Err("ARG names can not be blank".into());
                }
            }
            Command::Arg(words)
        }
        "COPY" | "ADD" => {
            let list = match json_array(rest) {
                Some(v) => v,
                None => words(rest, escape),
            };
            let has_heredoc = list.iter().any(|w| super::heredoc_marker(w).is_some());
            if list.len() < 2 && (!has_heredoc || list.is_empty()) {
                return Err(format!("{keyword} requires at least two arguments, but only {} provided", list.len()));
            }
            let (dest, sources) = list.split_last().ok_or_else(|| format!("{keyword} requires at least two arguments"))?;
            let args = CopyArgs { sources: sources.to_vec(), dest: dest.clone() };
            if keyword == "COPY" { Command::Copy(args) } else { Command::Add(args) }
        }
        "WORKDIR" => {
            need("exactly one argument")?;
            Command::Workdir(rest.to_string())
        }
        "USER" => {
            need("exactly one argument")?;
            Command::User(rest.to_string())
        }
        "STOPSIGNAL" => {
            need("exactly one argument")?;
            Command::StopSignal(rest.to_string())
        }
        "MAINTAINER" => {
            need("exactly one argument")?;
            Command::Maintainer(rest.to_string())
        }
        "EXPOSE" => {
            need("at least one argument")?;
            Command::Expose(rest.split_whitespace().map(String::from).collect())
        }
        "VOLUME" => {
            need("at least one argument")?;
            let list = json_array(rest).unwrap_or_else(|| rest.split_whitespace().map(String::from).collect());
            if list.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Command::Volume(list)
        }
        "SHELL" => match json_array(rest) {
            Some(v) if !v.is_empty() => Command::Shell(v),
            _ => return Err("SHELL requires the arguments to be in JSON form".into()),
        },
        "HEALTHCHECK" => Command::Healthcheck(healthcheck(flags, rest)?),
        "ONBUILD" => {
            need("at least one argument")?;
            let (trigger, _) = split_first_word(rest);
            match trigger.to_ascii_uppercase().as_str() {
                "ONBUILD" => return Err("ONBUILD: chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
                "FROM" | "MAINTAINER" => return Err(format!("ONBUILD: {} isn't allowed as an ONBUILD trigger", trigger.to_ascii_uppercase())),
                _ => {}
            }
            Command::Onbuild(Box::new(parse_instruction(rest, line, escape)?))
        }
        other => return Err(format!("unknown instruction: {other}")),
    })
}

/// Docker's stage name rule: `^[a-z][a-z0-9-_.]*$` (case-insensitively).
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The exec form when `rest` is a JSON array of strings, else the shell form (Docker falls back silently).
fn cmd_line(rest: &str) -> CmdLine {
    match json_array(rest) {
        Some(v) => CmdLine::Exec(v),
        None => CmdLine::Shell(rest.to_string()),
    }
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

/// Splits on unquoted whitespace, keeping quotes and escapes in the words (Docker's `parseWords`):
/// they are removed later by the expander, which must see them.
pub(crate) fn words(rest: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if quote.is_none() && c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        cur.push(c);
        if c == escape && quote != Some('\'') {
            if let Some(n) = chars.next() {
                cur.push(n);
            }
            continue;
        }
        match quote {
            Some(q) if c == q => quote = None,
            None if c == '"' || c == '\'' => quote = Some(c),
            _ => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `ENV`/`LABEL`: `k=v k2="v 2"` pairs, or the legacy `ENV key value with spaces` (one pair).
fn name_values(keyword: &str, rest: &str, escape: char) -> Result<Vec<String>, String> {
    let list = words(rest, escape);
    let first_has_eq = list.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        let (key, value) = split_first_word(rest);
        if value.is_empty() {
            return Err(format!("{keyword} must have two arguments"));
        }
        return Ok(vec![format!("{key}={value}")]);
    }
    for w in &list {
        match w.split_once('=') {
            None => {
                return Err(format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"));
            }
            Some(("", _)) => return Err(format!("{keyword} names can not be blank")),
            Some(_) => {}
        }
    }
    Ok(list)
}

fn healthcheck(flags: &[(String, Option<String>)], rest: &str) -> Result<Health, String> {
    let (word, cmd) = split_first_word(rest);
    match word.to_ascii_uppercase().as_str() {
        "NONE" => {
            if !cmd.is_empty() || !flags.is_empty() {
                return Err("HEALTHCHECK NONE takes no arguments".into());
            }
            Ok(Health::None)
        }
        "CMD" => {
            if cmd.is_empty() {
                return Err("HEALTHCHECK CMD requires a command".into());
            }
            let get = |name: &str| -> Option<String> { flags.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.clone().unwrap_or_default()) };
            let dur = |name: &str| -> Result<Option<i64>, String> {
                match get(name) {
                    None => Ok(None),
                    Some(v) => {
                        let d = parse_duration(&v).ok_or_else(|| format!("HEALTHCHECK: invalid --{name} duration {v:?}"))?;
                        if d != 0 && d < 1_000_000 {
                            return Err(format!("HEALTHCHECK: --{name} cannot be less than 1ms"));
                        }
                        Ok(Some(d))
                    }
                }
            };
            let retries = match get("retries") {
                None => None,
                Some(v) => Some(v.parse::<i64>().ok().filter(|r| *r >= 0).ok_or_else(|| format!("HEALTHCHECK: invalid --retries {v:?}"))?),
            };
            Ok(Health::Cmd {
                cmd: cmd_line(cmd),
                interval: dur("interval")?,
                timeout: dur("timeout")?,
                start_period: dur("start-period")?,
                start_interval: dur("start-interval")?,
                retries,
            })
        }
        _ => Err(format!("HEALTHCHECK: unknown type {word:?}: must be CMD or NONE")),
    }
}

/// Go's `time.ParseDuration` (shared with the CLI's `--health-*` flags), in ns.
pub(crate) fn parse_duration(s: &str) -> Option<i64> {
    berth_api::units::parse_duration_ns(s)
}
