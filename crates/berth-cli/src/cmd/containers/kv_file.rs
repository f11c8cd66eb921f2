//! `--env-file` and `--label-file`: files of `KEY=value` lines, read as the docker CLI reads them
//! (`opts.ParseEnvFile`): blank lines and `#` comments skipped, leading whitespace trimmed, the
//! value taken verbatim (no quotes, no expansion), a bare `KEY` taken from the client's
//! environment (env files; dropped when unset) or kept as an empty label (label files).

use std::path::Path;

/// What a file of `KEY=value` lines holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KvKind {
    /// `--env-file`.
    Env,
    /// `--label-file`.
    Label,
}

/// The `KEY=value` (or bare `KEY` label) entries of `path`, in file order.
pub fn read_kv_file(path: &Path, kind: KvKind) -> anyhow::Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("open {}: {e}", path.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("invalid env file ({}): not UTF-8", path.display()))?;
    let mut out = Vec::new();
    for (n, raw) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if key.is_empty() {
            anyhow::bail!("invalid env file ({}): no variable name on line {}: '{raw}'", path.display(), n + 1);
        }
        if key.contains(char::is_whitespace) {
            anyhow::bail!("invalid env file ({}): variable '{key}' contains whitespaces", path.display());
        }
        match (value, kind) {
            (Some(v), _) => out.push(format!("{key}={v}")),
            (None, KvKind::Env) => {
                if let Ok(v) = std::env::var(key) {
                    out.push(format!("{key}={v}"));
                }
            }
            (None, KvKind::Label) => out.push(key.to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_read_as_docker_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("env");
        std::env::set_var("BERTH_KV_TEST_SET", "from-env");
        std::fs::write(&p, "\u{feff}# comment\n\n  A=1\nB= spaced value \nC=\"quoted\"\nBERTH_KV_TEST_SET\nBERTH_KV_TEST_UNSET\nD=x=y\n").unwrap();
        assert_eq!(read_kv_file(&p, KvKind::Env).unwrap(), ["A=1", "B= spaced value ", "C=\"quoted\"", "BERTH_KV_TEST_SET=from-env", "D=x=y"]);
        assert_eq!(read_kv_file(&p, KvKind::Label).unwrap()[4], "BERTH_KV_TEST_UNSET");
        std::fs::write(&p, "BAD KEY=1\n").unwrap();
        assert!(read_kv_file(&p, KvKind::Env).unwrap_err().to_string().contains("contains whitespaces"));
        std::fs::write(&p, "=1\n").unwrap();
        assert!(read_kv_file(&p, KvKind::Env).unwrap_err().to_string().contains("no variable name"));
    }
}
