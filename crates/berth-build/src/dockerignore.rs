//! `.dockerignore` matching with Docker's rules (`moby/patternmatcher`).
//!
//! One pattern per line; `#` lines are comments; patterns are cleaned like Go's `filepath.Clean` and a
//! leading `/` is dropped; `*` and `?` never match `/`; `**` matches any number of directories; a
//! leading `!` makes an exception. The LAST pattern matching a path (or one of its parent directories)
//! decides, so `!` lines re-include what earlier lines excluded. Also used for `COPY --exclude`.

/// A compiled list of ignore patterns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone, PartialEq)]
struct Pattern {
    glob: Vec<Tok>,
    exception: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `*`: any run of non-`/` characters.
    Star,
    /// `?`: one non-`/` character.
    One,
    /// `**/`: zero or more whole directories.
    AnyDirs,
    /// `**` elsewhere: anything, `/` included.
    AnyAll,
    /// `[...]`: (negated, ranges).
    Class(bool, Vec<(char, char)>),
}

impl IgnoreMatcher {
    /// Parses the contents of a `.dockerignore` file.
    pub fn parse(text: &str) -> IgnoreMatcher {
        IgnoreMatcher::from_patterns(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')))
    }

    /// Compiles patterns as `COPY --exclude` gives them (no comments).
    pub fn from_patterns<'a>(lines: impl IntoIterator<Item = &'a str>) -> IgnoreMatcher {
        let mut patterns = Vec::new();
        for line in lines {
            let (exception, p) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(p);
            if cleaned.is_empty() || cleaned == "." {
                continue;
            }
            patterns.push(Pattern { glob: compile(&cleaned), exception });
        }
        IgnoreMatcher { patterns }
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern is an exception (then an excluded directory must still be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `path` (relative to the context root, `/`-separated) is excluded.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let mut excluded = false;
        for p in &self.patterns {
            if p.exception != excluded {
                continue; // cannot change the verdict
            }
            if matches_or_parent(&p.glob, &path) {
                excluded = !p.exception;
            }
        }
        excluded
    }
}

/// Go's `filepath.Clean` for relative, `/`-separated paths, with the leading `/` removed.
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

fn matches_or_parent(glob: &[Tok], path: &str) -> bool {
    if glob_match(glob, &path.chars().collect::<Vec<_>>()) {
        return true;
    }
    let mut prefix = path;
    while let Some(i) = prefix.rfind('/') {
        prefix = &prefix[..i];
        if glob_match(glob, &prefix.chars().collect::<Vec<_>>()) {
            return true;
        }
    }
    false
}

fn compile(p: &str) -> Vec<Tok> {
    let chars: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while chars.get(i) == Some(&'*') {
                    i += 1;
                }
                if chars.get(i) == Some(&'/') {
                    i += 1;
                    toks.push(Tok::AnyDirs);
                } else {
                    toks.push(Tok::AnyAll);
                }
                continue;
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                toks.push(Tok::Lit(chars[i]));
            }
            '[' => {
                if let Some((tok, next)) = class(&chars, i + 1) {
                    toks.push(tok);
                    i = next;
                    continue;
                }
                toks.push(Tok::Lit('['));
            }
            c => toks.push(Tok::Lit(c)),
        }
        i += 1;
    }
    toks
}

fn class(chars: &[char], mut i: usize) -> Option<(Tok, usize)> {
    let negated = matches!(chars.get(i), Some('^' | '!'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((Tok::Class(negated, ranges), i + 1));
        }
        first = false;
        let lo = if c == '\\' {
            i += 1;
            *chars.get(i)?
        } else {
            c
        };
        i += 1;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
            ranges.push((lo, chars[i + 1]));
            i += 2;
        } else {
            ranges.push((lo, lo));
        }
    }
}

/// Matches a compiled glob against the whole of `s` (backtracking; patterns and paths are short).
pub(crate) fn glob_match_str(pattern: &str, s: &str) -> bool {
    glob_match(&compile(pattern), &s.chars().collect::<Vec<_>>())
}

fn glob_match(p: &[Tok], s: &[char]) -> bool {
    let Some((tok, rest)) = p.split_first() else { return s.is_empty() };
    match tok {
        Tok::Lit(c) => s.first() == Some(c) && glob_match(rest, &s[1..]),
        Tok::One => s.first().is_some_and(|c| *c != '/') && glob_match(rest, &s[1..]),
        Tok::Class(neg, ranges) => {
            s.first().is_some_and(|c| *c != '/' && (ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *neg)) && glob_match(rest, &s[1..])
        }
        Tok::Star => {
            let mut i = 0;
            loop {
                if glob_match(rest, &s[i..]) {
                    return true;
                }
                if i >= s.len() || s[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Tok::AnyAll => (0..=s.len()).any(|i| glob_match(rest, &s[i..])),
        Tok::AnyDirs => {
            // Zero directories, or skip up to and including any later '/'.
            glob_match(rest, s) || (0..s.len()).any(|i| s[i] == '/' && glob_match(rest, &s[i + 1..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_patterns_and_parent_directories() {
        let m = IgnoreMatcher::parse("# comment\n\nnode_modules\n*.log\n/build\n");
        assert!(m.excluded("node_modules"));
        assert!(m.excluded("node_modules/a/b.js"));
        assert!(m.excluded("x.log"));
        assert!(!m.excluded("sub/x.log"), "* does not cross directories");
        assert!(m.excluded("build/out.o"));
        assert!(!m.excluded("src/build.rs"));
        assert!(!m.excluded("src/main.rs"));
    }

    #[test]
    fn double_star_matches_any_depth() {
        let m = IgnoreMatcher::parse("**/*.tmp\ndocs/**\n");
        assert!(m.excluded("a.tmp"));
        assert!(m.excluded("a/b/c.tmp"));
        assert!(m.excluded("docs/x/y.md"));
        assert!(!m.excluded("docs"));
        assert!(!m.excluded("a/b/c.txt"));
        let m = IgnoreMatcher::parse("a/**/z");
        assert!(m.excluded("a/z") && m.excluded("a/b/c/z") && !m.excluded("b/z"));
    }

    #[test]
    fn exceptions_reinclude_and_last_match_wins() {
        let m = IgnoreMatcher::parse("*.md\n!README.md\nREADME*.md\n!README-keep.md");
        assert!(m.excluded("CHANGES.md"));
        assert!(m.excluded("README.md"), "a later pattern excludes again");
        assert!(!m.excluded("README-keep.md"));
        let m = IgnoreMatcher::parse("logs\n!logs/keep.txt");
        assert!(m.excluded("logs/a.txt"));
        assert!(!m.excluded("logs/keep.txt"));
        assert!(m.has_exceptions());
    }

    #[test]
    fn classes_question_marks_and_cleaning() {
        let m = IgnoreMatcher::parse("file[0-9].txt\n?.c\n./tmp/../cache//\n");
        assert!(m.excluded("file3.txt") && !m.excluded("filex.txt"));
        assert!(m.excluded("a.c") && !m.excluded("ab.c"));
        assert!(m.excluded("cache/x"));
        assert!(!IgnoreMatcher::parse("[!a]b").excluded("ab"));
        assert!(IgnoreMatcher::parse("[!a]b").excluded("cb"));
    }
}
