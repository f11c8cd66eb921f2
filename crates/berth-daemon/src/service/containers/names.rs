//! Container names: Docker's validation and its `adjective_surname` generator.

const ADJECTIVES: &[&str] = &[
    "admiring", "agile", "amazing", "bold", "brave", "busy", "calm", "clever", "cool", "dazzling", "eager", "epic",
    "festive", "focused", "gallant", "gifted", "happy", "hopeful", "jolly", "keen", "kind", "lucid", "modest", "nice",
    "optimistic", "peaceful", "quirky", "relaxed", "serene", "sharp", "stoic", "tender", "upbeat", "vibrant", "wizardly", "zen",
];
const NAMES: &[&str] = &[
    "albattani", "babbage", "bardeen", "bohr", "cori", "curie", "darwin", "dijkstra", "einstein", "euler", "fermi",
    "galileo", "hopper", "hypatia", "johnson", "kepler", "knuth", "lamarr", "lovelace", "mccarthy", "meitner", "newton",
    "noether", "pascal", "ritchie", "shannon", "tesla", "thompson", "torvalds", "turing", "wozniak", "yalow",
];

/// Whether `name` is a valid container name (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphanumeric() && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A random `adjective_surname`, with a number appended on retries.
pub fn generate(attempt: u32) -> String {
    let r = berth_types::random_id();
    let a = usize::from_str_radix(&r[..4], 16).unwrap_or(0);
    let n = usize::from_str_radix(&r[4..8], 16).unwrap_or(0);
    let base = format!("{}_{}", ADJECTIVES[a % ADJECTIVES.len()], NAMES[n % NAMES.len()]);
    if attempt == 0 {
        base
    } else {
        format!("{base}{attempt}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_validate_like_docker() {
        assert!(super::valid("web-1"));
        assert!(super::valid("a.b_c"));
        assert!(!super::valid("-x"));
        assert!(!super::valid("x"));
        assert!(!super::valid("a/b"));
        assert!(super::valid(&super::generate(0)));
    }
}
