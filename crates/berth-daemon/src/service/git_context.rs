//! Build contexts from git repositories (`POST /build?remote=<git URL>`), as dockerd's
//! `remotecontext` makes them: the host's `git` fetches one ref (shallow when the transport allows)
//! into a scratch directory, with the user's and the system's git configuration ignored and no
//! prompt for credentials; the `#ref:subdir` fragment picks the ref and the context's directory.
//! Every git command runs under a deadline, so an unresponsive server cannot hold a build forever.

use super::ServiceError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one git command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(600);

/// Whether `remote` names a git repository (moby's `urlutil.IsGitURL`): `git://`, `git@`,
/// `github.com/`, or an http(s) URL whose path ends in `.git` (before any `#fragment`).
pub fn is_git_url(remote: &str) -> bool {
    let http = remote.starts_with("http://") || remote.starts_with("https://");
    let before_fragment = remote.split('#').next().unwrap_or(remote);
    (http && before_fragment.ends_with(".git"))
        || ["git://", "git@", "github.com/"]
            .iter()
            .any(|p| remote.starts_with(p))
}

/// A git remote with the ref and the subdirectory of its fragment.
#[derive(Debug, PartialEq, Eq)]
struct Repo {
    remote: String,
    /// Empty: the remote's default branch (`HEAD`).
    reference: String,
    subdir: String,
}

/// moby's `parseRemoteURL`: a remote without a transport is fetched over https.
fn parse(remote: &str) -> Result<Repo, ServiceError> {
    let transport = ["http://", "https://", "git://", "git@"]
        .iter()
        .any(|p| remote.starts_with(p));
    let url = if transport {
        remote.to_string()
    } else {
        format!("https://{remote}")
    };
    let (remote, fragment) = url.split_once('#').unwrap_or((&url, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    if reference.starts_with('-') {
        return Err(ServiceError::Invalid(format!(
            "invalid refspec: {reference}"
        )));
    }
    Ok(Repo {
        remote: remote.to_string(),
        reference: reference.to_string(),
        subdir: subdir.to_string(),
    })
}

/// Runs `git ARGS` in `dir` under [`GIT_TIMEOUT`]; its combined output is the error on failure.
fn git(dir: &Path, args: &[&str]) -> Result<(), String> {
    let log = dir.with_extension("git-output");
    let out = std::fs::File::create(&log).map_err(|e| format!("git: {e}"))?;
    let mut child = Command::new("git")
        .args(args)
        .current_dir(dir)
        // dockerd's isolated configuration: no system or user config, no credential prompt.
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_PROTOCOL_FROM_USER", "0")
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| format!("git: {e}"))?)
        .stderr(out)
        .spawn()
        .map_err(|e| format!("unable to find 'git': {e}"))?;
    let deadline = Instant::now() + GIT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(&log);
                return Err(format!(
                    "git {} timed out after {}s",
                    args.first().unwrap_or(&""),
                    GIT_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("git: {e}")),
        }
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    if status.success() {
        Ok(())
    } else {
        Err(output.trim().to_string())
    }
}

/// Fetches `remote` into `scratch/git` and returns the context directory (the fragment's
/// subdirectory, which must stay inside the checkout). Blocking.
pub fn clone(remote: &str, scratch: &Path) -> Result<PathBuf, ServiceError> {
    let repo = parse(remote)?;
    let root = scratch.join("git");
    std::fs::create_dir_all(&root)
        .map_err(|e| ServiceError::Internal(format!("creating git context dir: {e}")))?;
    let fail = |what: &str, e: String| ServiceError::Internal(format!("{what}: {e}"));
    git(&root, &["init", "-q"]).map_err(|e| fail("error initializing git repository", e))?;
    git(&root, &["remote", "add", "origin", &repo.remote])
        .map_err(|e| fail("error adding git remote", e))?;
    let reference = if repo.reference.is_empty() {
        "HEAD"
    } else {
        &repo.reference
    };
    // A shallow fetch first; the dumb HTTP transport (and old servers) cannot, so then a full one.
    git(
        &root,
        &["fetch", "-q", "--depth", "1", "origin", "--", reference],
    )
    .or_else(|_| git(&root, &["fetch", "-q", "origin", "--", reference]))
    .map_err(|e| fail("error fetching", e))?;
    git(&root, &["checkout", "-q", "FETCH_HEAD"])
        .map_err(|e| fail(&format!("error checking out {reference}"), e))?;
    if root.join(".gitmodules").exists() {
        git(
            &root,
            &["submodule", "update", "-q", "--init", "--recursive"],
        )
        .map_err(|e| fail("error initializing submodules", e))?;
    }
    if repo.subdir.is_empty() {
        return Ok(root);
    }
    // The subdirectory, resolved without leaving the checkout (a symlink cannot point the
    // context at the daemon's files).
    let dir = root.join(repo.subdir.trim_start_matches('/'));
    let resolved = dir.canonicalize().map_err(|_| {
        ServiceError::Invalid(format!(
            "Error setting git context, subdirectory {} not found",
            repo.subdir
        ))
    })?;
    let root_real = root
        .canonicalize()
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    if !resolved.starts_with(&root_real) {
        return Err(ServiceError::Invalid(format!(
            "Error setting git context, subdirectory {} is outside the repository",
            repo.subdir
        )));
    }
    if !resolved.is_dir() {
        return Err(ServiceError::Invalid(format!(
            "Error setting git context, not a directory: {}",
            repo.subdir
        )));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_are_recognised_as_moby_does() {
        for u in [
            "git://h/r",
            "git@github.com:o/r.git",
            "github.com/o/r",
            "https://h/o/r.git",
            "http://h/r.git#main:sub",
        ] {
            assert!(is_git_url(u), "{u}");
        }
        for u in [
            "https://h/ctx.tar",
            "http://h/Dockerfile",
            "https://h/r.git/file",
            "ftp://h/r.git",
        ] {
            assert!(!is_git_url(u), "{u}");
        }
    }

    #[test]
    fn fragments_give_the_ref_and_the_subdirectory() {
        let r = parse("github.com/o/r#v1.0:docker").unwrap();
        assert_eq!(
            r,
            Repo {
                remote: "https://github.com/o/r".into(),
                reference: "v1.0".into(),
                subdir: "docker".into()
            }
        );
        let r = parse("git@h:o/r.git#:sub").unwrap();
        assert_eq!(
            (r.remote.as_str(), r.reference.as_str(), r.subdir.as_str()),
            ("git@h:o/r.git", "", "sub")
        );
        assert!(parse("https://h/r.git#--upload-pack=x").is_err());
    }
}
