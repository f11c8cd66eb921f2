//! `.dockerignore` patterns (sent by any build client) and the matcher the context walk uses. Input:
//! the file's text, a NUL byte, then paths to test, one a line. Glob matching must stay polynomial: a
//! pattern that makes it backtrack exponentially is a libFuzzer timeout, i.e. a found bug.
#![no_main]

use berth_build::dockerignore::clean;
use berth_build::IgnoreMatcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (patterns, paths) = text.split_once('\0').unwrap_or((text, "a/b/c"));
    let m = IgnoreMatcher::parse(patterns);
    let _ = (m.is_empty(), m.has_exceptions());
    for path in paths.lines() {
        let c = clean(path);
        assert_eq!(clean(&c), c, "clean is idempotent");
        assert_eq!(m.excluded(path), m.excluded(&c), "a path and its cleaned form match alike");
    }
    // A pattern without glob syntax excludes exactly its own path, when nothing else is given.
    for line in patterns.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(['#', '!']) || line.contains(['*', '?', '[', '\\']) {
            continue;
        }
        let c = clean(line);
        if c.is_empty() || c == "." {
            continue;
        }
        assert!(IgnoreMatcher::parse(line).excluded(&c), "{line:?} does not exclude {c:?}");
    }
});
