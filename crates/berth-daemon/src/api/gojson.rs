//! dockerd's wording for malformed JSON. dockerd reads request bodies with Go's `json.Decoder` and
//! `filters` with `json.Unmarshal`, and answers their errors as they are; clients show that text.
//! The syntax errors Docker's clients actually meet (a truncated body, a value that is not JSON at
//! all) are worded as Go words them; other errors keep serde's description.

/// How the JSON was read: a request body (`json.Decoder`: truncated input is "unexpected EOF", an
/// empty body "EOF") or a query value (`json.Unmarshal`: "unexpected end of JSON input").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Reader {
    Decoder,
    Unmarshal,
}

/// Go's message for `input`, which serde failed to parse with `e`.
pub fn message(input: &[u8], e: &serde_json::Error, reader: Reader) -> String {
    let text = String::from_utf8_lossy(input);
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return match reader {
            Reader::Decoder => "EOF".into(),
            Reader::Unmarshal => "unexpected end of JSON input".into(),
        };
    }
    // A literal that goes wrong (`nojson`, `tru`).
    for lit in ["null", "true", "false"] {
        if trimmed.starts_with(&lit[..1]) {
            let got: Vec<char> = trimmed.chars().collect();
            for (i, want) in lit.chars().enumerate().skip(1) {
                match got.get(i) {
                    Some(&c) if c == want => continue,
                    Some(&c) => return format!("invalid character {} in literal {lit} (expecting {})", quote(c), quote(want)),
                    None => return eof(reader),
                }
            }
        }
    }
    let first = trimmed.chars().next().unwrap_or(' ');
    if !matches!(first, '{' | '[' | '"' | '-' | '0'..='9' | 'n' | 't' | 'f') {
        return format!("invalid character {} looking for beginning of value", quote(first));
    }
    if e.is_eof() {
        return eof(reader);
    }
    e.to_string()
}

fn eof(reader: Reader) -> String {
    match reader {
        Reader::Decoder => "unexpected EOF".into(),
        Reader::Unmarshal => "unexpected end of JSON input".into(),
    }
}

/// Go's `%q` of a rune in these messages: `'x'`, `'\''`.
fn quote(c: char) -> String {
    match c {
        '\'' => r"'\''".into(),
        '\n' => r"'\n'".into(),
        '\t' => r"'\t'".into(),
        c => format!("'{c}'"),
    }
}

/// Parses a JSON request body, failing with Go's wording.
pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    // The syntax first, as Go reads the whole value before it fills the type.
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| message(body, &e, Reader::Decoder))?;
    serde_json::from_value(v).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str, r: Reader) -> String {
        let e = serde_json::from_str::<serde_json::Value>(s).unwrap_err();
        message(s.as_bytes(), &e, r)
    }

    /// The messages dockerd 20.10 answers (seen by the differential harness).
    #[test]
    fn go_wording() {
        assert_eq!(msg("{", Reader::Decoder), "unexpected EOF");
        assert_eq!(msg("{\"a\":", Reader::Decoder), "unexpected EOF");
        assert_eq!(msg("{", Reader::Unmarshal), "unexpected end of JSON input");
        assert_eq!(msg("", Reader::Decoder), "EOF");
        assert_eq!(msg("nojson", Reader::Unmarshal), "invalid character 'o' in literal null (expecting 'u')");
        assert_eq!(msg("tx", Reader::Unmarshal), "invalid character 'x' in literal true (expecting 'r')");
        assert_eq!(msg("soon", Reader::Unmarshal), "invalid character 's' looking for beginning of value");
        assert_eq!(msg("'", Reader::Unmarshal), r"invalid character '\'' looking for beginning of value");
    }
}
