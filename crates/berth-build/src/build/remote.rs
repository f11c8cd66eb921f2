//! `ADD <http(s) URL>`: the builder has no HTTP client of its own; the caller injects a [`Fetcher`]
//! (the daemon's is built on its HTTP client) through [`super::BuildOptions::fetcher`].
//!
//! Docker's classic builder semantics (moby `builder/dockerfile/copy.go`, `downloadSource`): the body
//! is downloaded on every build and never auto-extracted; it is named after the URL's last path
//! segment, else the `Content-Disposition` filename; it gets mode 0600 and, as mtime, the
//! `Last-Modified` time (the Unix epoch when absent). The step's cache key covers the downloaded
//! content, so an unchanged body reuses the cached layer and a changed one rebuilds it.

use super::Builder;
use crate::error::BuildError;
use berth_types::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A downloaded `ADD` source, as a [`Fetcher`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The complete body, in a temporary file the builder owns from now on and removes when the
    /// step is done (whether it succeeds or not).
    pub path: PathBuf,
    /// The `Last-Modified` time, in seconds since the Unix epoch, when the server sent one.
    pub last_modified: Option<i64>,
    /// The `filename` parameter of `Content-Disposition`, as sent (the builder keeps only its base
    /// name and uses it only when the URL's path names no file).
    pub filename: Option<String>,
}

type FetchFn = dyn Fn(&str) -> Result<Fetched, String> + Send + Sync;

/// Downloads the body of an `http(s)` URL for `ADD`. The function fails with a one-line reason
/// (`connect: connection refused`, `unexpected status 404 Not Found`) when the URL cannot be read
/// in full, leaving no file behind; the builder reports it as `ADD failed: GET <url>: <reason>`.
#[derive(Clone)]
pub struct Fetcher(Arc<FetchFn>);

impl Fetcher {
    /// Wraps a download function.
    pub fn new(f: impl Fn(&str) -> Result<Fetched, String> + Send + Sync + 'static) -> Fetcher {
        Fetcher(Arc::new(f))
    }

    /// Downloads `url`.
    pub fn fetch(&self, url: &str) -> Result<Fetched, String> {
        (self.0)(url)
    }
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fetcher")
    }
}

/// An `ADD` source the builder downloads (Docker's `urlutil.IsURL`).
pub(super) fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// A git repository as an `ADD` source, which this builder does not clone.
pub(super) fn is_git(s: &str) -> bool {
    s.starts_with("git@") || s.starts_with("git://")
}

/// A downloaded source for the duration of one step; its file is removed when dropped.
pub(super) struct Download {
    pub url: String,
    pub path: PathBuf,
    /// The file name for a destination directory, if the URL or the response gave one.
    pub name: Option<String>,
    /// `Last-Modified`, or the epoch as Docker does without it.
    pub mtime: i64,
}

impl Drop for Download {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Builder<'_> {
    /// Downloads `url` with the injected fetcher and verifies `--checksum`. Nothing is committed on
    /// any failure.
    pub(super) fn download(&self, line: usize, url: &str, checksum: Option<&str>) -> Result<Download, BuildError> {
        let Some(fetcher) = &self.opts.fetcher else {
            return Err(BuildError::RemoteAdd { url: url.to_string() });
        };
        let fetched = fetcher.fetch(url).map_err(|reason| BuildError::Fetch { url: url.to_string(), reason })?;
        let name = url_file_name(url).or_else(|| fetched.filename.as_deref().and_then(base_name));
        let dl = Download { url: url.to_string(), path: fetched.path, name, mtime: fetched.last_modified.unwrap_or(0) };
        if let Some(sum) = checksum {
            verify_checksum(&dl.path, sum).map_err(|m| self.instruction_error(line, format!("ADD {}: {m}", dl.url)))?;
        }
        Ok(dl)
    }
}

/// Checks `--checksum=sha256:<hex>` against the file's content, streaming it.
pub(super) fn verify_checksum(path: &Path, expected: &str) -> Result<(), String> {
    let want: Digest = expected.parse().map_err(|_| format!("invalid --checksum {expected:?}: expected sha256:<64 hex digits>"))?;
    let mut f = std::fs::File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    let mut hasher = berth_types::Sha256Writer::new(std::io::sink());
    std::io::copy(&mut f, &mut hasher).map_err(|e| format!("read {}: {e}", path.display()))?;
    let (_, got, _) = hasher.finish();
    if got != want {
        return Err(format!("checksum mismatch: expected {want}, got {got}"));
    }
    Ok(())
}

/// The URL path's last segment, percent-decoded (Go's `url.Path`), when it names a file.
pub(super) fn url_file_name(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    if path.ends_with('/') {
        return None;
    }
    base_name(&percent_decode(path.rsplit('/').next().unwrap_or("")))
}

/// The last component of a slash-separated name, unless it is empty, `.` or `..`.
fn base_name(name: &str) -> Option<String> {
    let base = name.rsplit('/').next().unwrap_or("");
    (!base.is_empty() && base != "." && base != "..").then(|| base.to_string())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_is_the_last_decoded_path_segment() {
        assert_eq!(url_file_name("http://h:1/a/b/file.txt").as_deref(), Some("file.txt"));
        assert_eq!(url_file_name("https://h/dl/x%20y.tgz?sig=1#frag").as_deref(), Some("x y.tgz"));
        assert_eq!(url_file_name("http://h/dir/"), None);
        assert_eq!(url_file_name("http://h"), None);
        assert_eq!(url_file_name("http://h/a/.."), None);
        assert_eq!(url_file_name("http://h/a%2Fb").as_deref(), Some("b"), "a decoded slash cannot escape the destination");
    }

    #[test]
    fn disposition_names_keep_only_their_base() {
        assert_eq!(base_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(base_name("dir/"), None);
        assert_eq!(base_name(".."), None);
    }

    #[test]
    fn checksum_rejects_digest_mismatch_and_bad_syntax() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"abc").unwrap();
        let good = Digest::of(b"abc").to_string();
        assert!(verify_checksum(&p, &good).is_ok());
        let bad = Digest::of(b"abd").to_string();
        assert_eq!(verify_checksum(&p, &bad).unwrap_err(), format!("checksum mismatch: expected {bad}, got {good}"));
        assert!(verify_checksum(&p, "md5:abc").unwrap_err().starts_with("invalid --checksum"));
    }
}
