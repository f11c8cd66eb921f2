//! Dockerfile variable substitution: Docker's `shell.Lex.ProcessWord` rules.
//!
//! `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}` (only when unset), `${VAR:+alt}`, `${VAR+alt}`,
//! `${VAR:?message}` / `${VAR?message}` (an error), single quotes literal, double quotes expanding, and
//! the escape character (`\` or `` ` ``) making the next character literal. Unset variables expand to the
//! empty string. Used only in the instructions Docker substitutes in: `ADD COPY ENV EXPOSE FROM LABEL
//! STOPSIGNAL USER VOLUME WORKDIR ARG` (and `ONBUILD` triggers of those, when they run).

/// A substitution that cannot be performed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// Looks a variable up; `None` means unset.
pub trait Vars {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Vars for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Expands one word, removing quotes and escapes.
pub fn process_word(word: &str, vars: &dyn Vars, escape: char) -> Result<String, ExpandError> {
    let chars: Vec<char> = word.chars().collect();
    let mut lex = Lexer { chars: &chars, pos: 0, escape, vars };
    lex.process_until(None)
}

struct Lexer<'a> {
    chars: &'a [char],
    pos: usize,
    escape: char,
    vars: &'a dyn Vars,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += c.is_some() as usize;
        c
    }

    /// Processes until `stop` (consumed) or the end of input.
    fn process_until(&mut self, stop: Option<char>) -> Result<String, ExpandError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok(out);
            }
            match c {
                '\'' => {
                    self.pos += 1;
                    out.push_str(&self.single_quoted()?);
                }
                '"' => {
                    self.pos += 1;
                    out.push_str(&self.double_quoted()?);
                }
                '$' => out.push_str(&self.dollar()?),
                _ => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.next() {
                            Some(n) => out.push(n),
                            None => break,
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
        if stop.is_some() {
            return Err(ExpandError("missing '}'".into()));
        }
        Ok(out)
    }

    fn single_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(ExpandError("unexpected end of statement while looking for matching single-quote".into())),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, ExpandError> {
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError("unexpected end of statement while looking for matching double-quote".into())),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            // Only these can be escaped inside double quotes; other escapes stay as written.
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                out.push(n);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        self.pos += 1; // '$'
        match self.peek() {
            Some('{') => {}
            Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
                let name = self.name();
                return Ok(self.vars.get(&name).unwrap_or_default());
            }
            _ => return Ok("$".into()),
        }
        self.pos += 1; // '{'
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError("bad substitution: missing variable name".into()));
        }
        let value = self.vars.get(&name);
        match self.next() {
            Some('}') => Ok(value.unwrap_or_default()),
            Some(':') => {
                let modifier = self.next();
                let word = self.process_until(Some('}'))?;
                let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
                match modifier {
                    Some('-') => Ok(if set_nonempty { value.unwrap_or_default() } else { word }),
                    Some('+') => Ok(if set_nonempty { word } else { String::new() }),
                    Some('?') if !set_nonempty => Err(ExpandError(format!("{name}: {}", if word.is_empty() { "is not allowed to be unset" } else { &word }))),
                    Some('?') => Ok(value.unwrap_or_default()),
                    other => Err(ExpandError(format!("unsupported modifier ({}) in substitution", other.map(String::from).unwrap_or_default()))),
                }
            }
            Some(m @ ('-' | '+' | '?')) => {
                let word = self.process_until(Some('}'))?;
                match (m, value) {
                    ('-', Some(v)) => Ok(v),
                    ('-', None) => Ok(word),
                    ('+', Some(_)) => Ok(word),
                    ('+', None) => Ok(String::new()),
                    ('?', Some(v)) => Ok(v),
                    _ => Err(ExpandError(format!("{name}: {}", if word.is_empty() { "is not allowed to be unset" } else { &word }))),
                }
            }
            None => Err(ExpandError("missing '}'".into())),
            Some(c) => Err(ExpandError(format!("unsupported modifier ({c}) in substitution"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ex(word: &str) -> Result<String, ExpandError> {
        let vars: HashMap<&str, &str> = HashMap::from([("A", "a"), ("EMPTY", ""), ("PATHX", "/usr/bin")]);
        let f = move |n: &str| vars.get(n).map(|v| v.to_string());
        process_word(word, &f, '\\')
    }

    #[test]
    fn plain_and_braced_variables_expand_and_unset_is_empty() {
        assert_eq!(ex("$A").unwrap(), "a");
        assert_eq!(ex("${A}b").unwrap(), "ab");
        assert_eq!(ex("x${NOPE}y$NOPE").unwrap(), "xy");
        assert_eq!(ex("$PATHX:/bin").unwrap(), "/usr/bin:/bin");
        assert_eq!(ex("cost $").unwrap(), "cost $");
    }

    #[test]
    fn modifiers_follow_docker_rules() {
        assert_eq!(ex("${NOPE:-def}").unwrap(), "def");
        assert_eq!(ex("${EMPTY:-def}").unwrap(), "def");
        assert_eq!(ex("${EMPTY-def}").unwrap(), "");
        assert_eq!(ex("${NOPE-def}").unwrap(), "def");
        assert_eq!(ex("${A:-def}").unwrap(), "a");
        assert_eq!(ex("${A:+alt}").unwrap(), "alt");
        assert_eq!(ex("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(ex("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(ex("${NOPE:+alt}").unwrap(), "");
        assert_eq!(ex("${NOPE:-${A}x}").unwrap(), "ax");
        assert_eq!(ex("${NOPE:?must be set}").unwrap_err().0, "NOPE: must be set");
        assert!(ex("${A").is_err());
        assert!(ex("${A:%x}").is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(ex("'$A'").unwrap(), "$A");
        assert_eq!(ex("\"$A b\"").unwrap(), "a b");
        assert_eq!(ex("\\$A").unwrap(), "$A");
        assert_eq!(ex("\"\\$A\"").unwrap(), "$A");
        assert_eq!(ex("\"a\\nb\"").unwrap(), "a\\nb");
        assert_eq!(ex("a\\ b").unwrap(), "a b");
        assert_eq!(process_word("`$A", &|_: &str| Some("x".to_string()), '`').unwrap(), "$A");
        assert!(ex("\"open").is_err());
    }
}
