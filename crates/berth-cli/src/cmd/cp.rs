//! `berth cp`: copy files between a container and the host, with docker cp's rules for where
//! things land (into an existing directory, or renamed to a destination that does not exist).
//! Extraction on the host stays beneath the destination directory whatever the archive holds.

use crate::cli::CpArgs;
use berth_client::{Client, ClientError};
use berth_snapshot::copy::{self, ExtractOptions, PathStat};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `CONTAINER:PATH` → (container, path); a plain path (or `-`) → None.
fn split(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') || arg == "-" {
        return None;
    }
    arg.split_once(':').filter(|(c, _)| !c.is_empty() && !c.contains('/'))
}

const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;

async fn stat(c: &Client, container: &str, path: &str) -> Result<Option<PathStat>, anyhow::Error> {
    use base64::Engine;
    match c.request(Method::HEAD, &format!("/containers/{container}/archive"), &[("path", path.to_string())], berth_client::empty(), &[]).await {
        Ok(resp) => {
            let raw = resp.headers().get("X-Docker-Container-Path-Stat").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let json = base64::engine::general_purpose::STANDARD.decode(raw.trim()).map_err(|e| anyhow::anyhow!("unexpected path stat from the daemon: {e}"))?;
            Ok(Some(serde_json::from_slice(&json).map_err(|e| anyhow::anyhow!("unexpected path stat from the daemon: {e}"))?))
        }
        Err(ClientError::Api { status: StatusCode::NOT_FOUND, message }) if message.is_empty() || message.contains("Could not find") => {
            // HEAD answers carry no body: tell a missing container from a missing path.
            if let Err(ClientError::Api { status: StatusCode::NOT_FOUND, message }) = c.get_json::<serde_json::Value>(&format!("/containers/{container}/json"), &[]).await {
                return Err(ClientError::Api { status: StatusCode::NOT_FOUND, message }.into());
            }
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn base_name(p: &str) -> String {
    Path::new(p.trim_end_matches('/')).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into())
}

fn human(bytes: u64) -> String {
    crate::render::units::human_size(bytes as f64)
}

/// `berth cp`.
pub async fn run(c: &Client, a: CpArgs) -> anyhow::Result<ExitCode> {
    match (split(&a.src), split(&a.dst)) {
        (Some((ctr, path)), None) => from_container(c, ctr, path, &a.dst, a.follow_link, a.archive).await,
        (None, Some((ctr, path))) => to_container(c, &a.src, ctr, path, a.follow_link, a.archive).await,
        (Some(_), Some(_)) => anyhow::bail!("copying between containers is not supported"),
        (None, None) => anyhow::bail!("must specify at least one container source"),
    }
}

async fn from_container(c: &Client, ctr: &str, src: &str, dst: &str, follow: bool, archive: bool) -> anyhow::Result<ExitCode> {
    let mut src = src.to_string();
    let st = stat(c, ctr, &src).await?.ok_or_else(|| ClientError::Api { status: http::StatusCode::NOT_FOUND, message: format!("Could not find the file {src} in container {ctr}") })?;
    let mut src_is_dir = st.mode & MODE_DIR != 0;
    if follow && st.mode & MODE_SYMLINK != 0 && !st.link_target.is_empty() {
        src = st.link_target.clone();
        src_is_dir = stat(c, ctr, &src).await?.is_some_and(|s| s.mode & MODE_DIR != 0);
    }
    let resp = c.request(Method::GET, &format!("/containers/{ctr}/archive"), &[("path", src.clone())], berth_client::empty(), &[]).await?;
    if dst == "-" {
        let mut out = tokio::io::stdout();
        berth_client::copy_body(resp, &mut out).await?;
        return Ok(ExitCode::SUCCESS);
    }
    // Where the archive goes, and what its first component is renamed to.
    let dst_path = PathBuf::from(dst);
    let (dir, rebase) = match std::fs::metadata(&dst_path) {
        Ok(m) if m.is_dir() => (dst_path.clone(), None),
        Ok(_) if src_is_dir => anyhow::bail!("cannot copy a directory to a file: {dst}"),
        Ok(_) => (parent(&dst_path), Some((base_name(&src), base_name(dst)))),
        Err(_) => {
            if dst.ends_with('/') && !src_is_dir {
                anyhow::bail!("destination \"{dst}\" must be a directory");
            }
            let p = parent(&dst_path);
            if !p.is_dir() {
                anyhow::bail!("destination directory \"{}\" does not exist", p.display());
            }
            (p, Some((base_name(&src), base_name(dst))))
        }
    };
    // `dir/.` archives the contents under `./`: they go into the destination directory, made if new.
    let (dir, rebase) = if src.ends_with("/.") && src_is_dir {
        if !dst_path.exists() {
            std::fs::create_dir(&dst_path).map_err(|e| anyhow::anyhow!("creating {dst}: {e}"))?;
        }
        (dst_path.clone(), None)
    } else {
        (dir, rebase)
    };
    let (reader, mut writer) = tokio::io::duplex(1 << 20);
    let owner = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    let opts = ExtractOptions { no_overwrite_dir_non_dir: true, preserve_owner: archive, owner, rebase, ids: None };
    let extract = berth_types::sched::spawn_blocking(move || {
        let r = tokio_util::io::SyncIoBridge::new(reader);
        let counted = Counting { inner: r, n: 0 };
        let mut counted = counted;
        copy::extract(&dir, "/", &mut counted, &opts).map(|()| counted.n)
    });
    let mut body = resp.into_body();
    let mut send_err = None;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    use tokio::io::AsyncWriteExt;
                    if writer.write_all(d).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                send_err = Some(e.to_string());
                break;
            }
        }
    }
    drop(writer);
    let n = extract.await?.map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(e) = send_err {
        anyhow::bail!("copying from the container: {e}");
    }
    eprintln!("Successfully copied {} to {dst}", human(n));
    Ok(ExitCode::SUCCESS)
}

struct Counting<R> {
    inner: R,
    n: u64,
}

impl<R: std::io::Read> std::io::Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(x) if !x.as_os_str().is_empty() => x.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

async fn to_container(c: &Client, src: &str, ctr: &str, dst: &str, follow: bool, archive: bool) -> anyhow::Result<ExitCode> {
    let dst_stat = stat(c, ctr, dst).await?;
    let dst_is_dir = dst_stat.as_ref().is_some_and(|s| s.mode & MODE_DIR != 0);
    let mut q = vec![("noOverwriteDirNonDir", "true".to_string())];
    if archive {
        q.push(("copyUIDGID", "true".to_string()));
    }
    if src == "-" {
        if !dst_is_dir {
            anyhow::bail!("destination \"{ctr}:{dst}\" must be a directory");
        }
        q.push(("path", dst.to_string()));
        c.request(Method::PUT, &format!("/containers/{ctr}/archive"), &q, berth_client::reader(tokio::io::stdin()), &[("Content-Type", "application/x-tar")]).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let src_path = PathBuf::from(src);
    let meta = if follow { std::fs::metadata(&src_path) } else { std::fs::symlink_metadata(&src_path) }
        .map_err(|e| anyhow::anyhow!("could not find the file {src}: {e}"))?;
    // The name the source gets in the archive, and the directory it is extracted into.
    let (target_dir, name) = if dst_is_dir {
        (dst.to_string(), base_name(src))
    } else if dst_stat.is_some() {
        if meta.is_dir() {
            anyhow::bail!("cannot copy a directory to a file: {ctr}:{dst}");
        }
        (parent_str(dst), base_name(dst))
    } else {
        if dst.ends_with('/') && !meta.is_dir() {
            anyhow::bail!("destination \"{ctr}:{dst}\" must be a directory");
        }
        (parent_str(dst), base_name(dst))
    };
    // `dir/.` into an existing directory: the contents go in as `./…`. To a new destination the
    // contents are archived under its name instead (below), which makes the directory.
    let contents_only = src.ends_with("/.") && meta.is_dir() && dst_is_dir;
    let (reader, writer) = tokio::io::duplex(1 << 20);
    let src_owned = src_path.clone();
    let producer = berth_types::sched::spawn_blocking(move || -> std::io::Result<u64> {
        let w = tokio_util::io::SyncIoBridge::new(writer);
        let mut b = tar::Builder::new(w);
        b.follow_symlinks(false);
        b.mode(tar::HeaderMode::Complete);
        if contents_only {
            b.append_dir_all(".", &src_owned)?;
        } else if meta.is_dir() {
            b.append_dir_all(&name, &src_owned)?;
        } else if follow {
            let mut f = std::fs::File::open(&src_owned)?;
            b.append_file(&name, &mut f)?;
        } else {
            b.append_path_with_name(&src_owned, &name)?;
        }
        let mut w = b.into_inner()?;
        std::io::Write::flush(&mut w)?;
        Ok(0)
    });
    q.push(("path", target_dir));
    let size = tree_size(&src_path);
    let put = c.request(Method::PUT, &format!("/containers/{ctr}/archive"), &q, berth_client::reader(reader), &[("Content-Type", "application/x-tar")]).await;
    let produced = producer.await?;
    put?;
    produced.map_err(|e| anyhow::anyhow!("reading {src}: {e}"))?;
    eprintln!("Successfully copied {} to {ctr}:{dst}", human(size));
    Ok(ExitCode::SUCCESS)
}

/// Bytes of the files under `p` (for the "Successfully copied" line).
fn tree_size(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else { return 0 };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| tree_size(&e.path())).sum()).unwrap_or(0)
}

fn parent_str(p: &str) -> String {
    let t = p.trim_end_matches('/');
    match t.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => t[..i].to_string(),
        None => ".".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_told_from_host_paths() {
        assert_eq!(split("web:/etc/hosts"), Some(("web", "/etc/hosts")));
        assert_eq!(split("/tmp/a:b"), None);
        assert_eq!(split("./x:y"), None);
        assert_eq!(split("-"), None);
        assert_eq!(parent_str("/a/b"), "/a");
        assert_eq!(parent_str("/a"), "/");
        assert_eq!(base_name("/a/b/"), "b");
    }
}
