//! The Dockerfile parser: pure text in, [`Dockerfile`] out, every syntax error found before any step runs.
//!
//! Follows Docker's `moby/buildkit/frontend/dockerfile/parser`: parser directives only at the very top,
//! `#` comments only at the start of a line, a trailing escape character continues a line (comment and
//! blank lines inside a continuation are dropped), heredocs (`<<EOF`, `<<-EOF`, quoted delimiters) on
//! `RUN`, `COPY` and `ADD`, and per-instruction argument rules in [`args`].

mod args;
pub mod instruction;
#[cfg(test)]
mod tests;

pub use instruction::{CmdLine, Command, CopyArgs, Directives, Dockerfile, Health, Heredoc, Instruction, Stage};

use crate::error::ParseError;

/// Parses a whole Dockerfile. `file_name` is used in error messages (`Dockerfile:7: …`).
pub fn parse(text: &str, file_name: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let err = |line: usize, message: String| ParseError { file: file_name.to_string(), line, message };
    let mut directives = Directives::default();
    let mut seen_directives = Vec::new();
    let mut i = 0;
    // Parser directives: `# key=value` lines at the very top; anything else ends them.
    while i < lines.len() {
        let Some((key, value)) = directive(lines[i]) else { break };
        if seen_directives.contains(&key) {
            return Err(err(i + 1, format!("only one {key} parser directive can be used")));
        }
        match key.as_str() {
            "escape" => {
                directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => return Err(err(i + 1, format!("invalid escape token '{other}' does not match ` or \\"))),
                }
            }
            "syntax" => directives.syntax = Some(value),
            _ => directives.check = Some(value),
        }
        seen_directives.push(key);
        i += 1;
    }
    let escape = directives.escape;
    let mut instructions = Vec::new();
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut logical = String::new();
        loop {
            let line = lines[i];
            i += 1;
            let t = line.trim_end();
            if let Some(body) = t.strip_suffix(escape) {
                logical.push_str(body);
                while i < lines.len() && (lines[i].trim().is_empty() || lines[i].trim_start().starts_with('#')) {
                    i += 1;
                }
                if i >= lines.len() {
                    break;
                }
            } else {
                logical.push_str(line);
                break;
            }
        }
        let mut ins = args::parse_instruction(logical.trim(), start, escape).map_err(|m| err(start, m))?;
        let markers = if matches!(ins.keyword.as_str(), "RUN" | "COPY" | "ADD") {
            heredoc_markers(&ins)
        } else {
            Vec::new()
        };
        for (name, expand, strip_tabs) in markers {
            let mut content = String::new();
            loop {
                let Some(line) = lines.get(i) else {
                    return Err(err(start, format!("{}: unterminated heredoc {name}", ins.keyword)));
                };
                i += 1;
                let body = if strip_tabs { line.trim_start_matches('\t') } else { line };
                if body == name {
                    break;
                }
                content.push_str(body);
                content.push('\n');
            }
            ins.heredocs.push(Heredoc { name, content, expand, strip_tabs });
        }
        instructions.push(ins);
    }
    group_stages(instructions, file_name.to_string(), directives)
}

/// Recognises `# key=value` with a known directive key (Docker ignores unknown ones, treating the line
/// as a comment that ends the directive block).
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim().to_ascii_lowercase();
    if !matches!(key.as_str(), "syntax" | "escape" | "check") || key.contains(char::is_whitespace) {
        return None;
    }
    Some((key, value.trim().to_string()))
}

/// Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`) among a shell-form instruction's words.
fn heredoc_markers(ins: &Instruction) -> Vec<(String, bool, bool)> {
    let words: Vec<&str> = match &ins.command {
        Command::Run(CmdLine::Shell(s)) => s.split_whitespace().collect(),
        Command::Copy(c) | Command::Add(c) => c.sources.iter().map(String::as_str).collect(),
        _ => return Vec::new(),
    };
    words.into_iter().filter_map(heredoc_marker).collect()
}

/// Parses one heredoc marker word into (name, expand, strip_tabs).
pub(crate) fn heredoc_marker(word: &str) -> Option<(String, bool, bool)> {
    let rest = word.strip_prefix("<<")?;
    let (strip_tabs, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let (quoted, name) = match rest.chars().next()? {
        q @ ('"' | '\'') => (true, rest[1..].strip_suffix(q)?),
        _ => (false, rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).next()?),
    };
    let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then(|| (name.to_string(), !quoted, strip_tabs))
}

fn group_stages(instructions: Vec<Instruction>, file_name: String, directives: Directives) -> Result<Dockerfile, ParseError> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    let mut names = std::collections::HashSet::new();
    for ins in instructions {
        let line = ins.line;
        let err = |message: String| ParseError { file: file_name.clone(), line, message };
        match (&ins.command, stages.last_mut()) {
            (Command::From { alias, .. }, _) => {
                let name = alias.as_ref().map(|a| a.to_ascii_lowercase());
                if let Some(n) = &name {
                    if !names.insert(n.clone()) {
                        return Err(err(format!("FROM: duplicate stage name {n:?}")));
                    }
                }
                stages.push(Stage { name, from: ins, instructions: Vec::new() });
            }
            (Command::Arg(_), None) => meta_args.push(ins),
            (_, None) => {
                return Err(err(format!("{}: no build stage in current context (the first instruction must be FROM or ARG)", ins.keyword)))
            }
            (_, Some(stage)) => stage.instructions.push(ins),
        }
    }
    if stages.is_empty() {
        return Err(ParseError { file: file_name, line: 0, message: "the Dockerfile has no FROM instruction".into() });
    }
    Ok(Dockerfile { file_name, directives, meta_args, stages })
}
