//! `berth run` and `berth create`: the image is pulled as `--pull` says (for `--platform`), the
//! container created (its id written to `--cidfile`), then for `run` started and attached with
//! the chosen streams, signals proxied and the detach keys passed to the daemon.

#[allow(unused_imports)]
use super::*;
use crate::cli::PullPolicy;
use std::path::{Path, PathBuf};

/// Prints a failure of `run`/`create` as the docker CLI does: the program name once, then the
/// message (`berth: Error response from daemon: …`).
fn report(e: &anyhow::Error) {
    let d = crate::cmd::describe(e);
    if d.starts_with("berth: ") {
        eprintln!("{d}");
    } else {
        eprintln!("berth: {d}");
    }
}

/// The `--cidfile` of a container being created: claimed before the create (created empty and
/// exclusively, so two runs cannot share it, as docker's CLI does), filled with the id after, and
/// removed again if the create fails.
struct CidFile {
    path: Option<PathBuf>,
    written: bool,
}

impl CidFile {
    fn claim(path: Option<&Path>) -> anyhow::Result<CidFile> {
        if let Some(p) = path {
            std::fs::OpenOptions::new().write(true).create_new(true).open(p).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => {
                    anyhow::anyhow!("container ID file found, make sure the other container isn't running or delete {}", p.display())
                }
                _ => anyhow::anyhow!("failed to create the container ID file {}: {e}", p.display()),
            })?;
        }
        Ok(CidFile { path: path.map(Path::to_path_buf), written: false })
    }

    fn write(&mut self, id: &str) -> anyhow::Result<()> {
        if let Some(p) = &self.path {
            std::fs::write(p, id).map_err(|e| anyhow::anyhow!("failed to write the container ID to {}: {e}", p.display()))?;
        }
        self.written = true;
        Ok(())
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if let (Some(p), false) = (&self.path, self.written) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `os/arch[/variant]` of an image's inspect document.
fn image_platform(img: &Value) -> String {
    let mut p = format!("{}/{}", img["Os"].as_str().unwrap_or(""), img["Architecture"].as_str().unwrap_or(""));
    if let Some(v) = img["Variant"].as_str().filter(|v| !v.is_empty()) {
        p = format!("{p}/{v}");
    }
    p
}

/// Whether `--platform` `wanted` (`os[/arch[/variant]]`, Go or uname arch names) describes `actual`.
fn platform_matches(wanted: &str, actual: &str) -> bool {
    let norm = |a: &str| match a {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        a => a.to_ascii_lowercase(),
    };
    let w: Vec<String> = wanted.split('/').map(norm).collect();
    let a: Vec<String> = actual.split('/').map(norm).collect();
    w.iter().enumerate().all(|(i, part)| a.get(i).is_some_and(|x| x == part) || (i == 2 && part == "v8" && a.len() == 2))
}

/// Pulls the image for `run`/`create`: progress on stderr (stdout is for the id), none with `-q`.
async fn pull(c: &Client, a: &RunArgs) -> anyhow::Result<()> {
    crate::cmd::registry_client::pull_for_run(c, &a.image, a.platform.as_deref(), a.quiet).await
}

/// The local image's platform, or None when it is not here.
async fn local_platform(c: &Client, image: &str) -> anyhow::Result<Option<String>> {
    match c.get_json::<Value>(&format!("/images/{image}/json"), &[]).await {
        Ok(v) => Ok(Some(image_platform(&v))),
        Err(ClientError::Api { status: StatusCode::NOT_FOUND, .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Makes the image there as `--pull` and `--platform` ask, then creates the container; returns
/// its id. A missing image is pulled (unless `--pull never`), as the docker CLI does.
pub(super) async fn create_container(c: &Client, a: &RunArgs) -> anyhow::Result<String> {
    if !a.disable_content_trust {
        anyhow::bail!("--disable-content-trust=false: image signatures (Docker Content Trust) are not supported");
    }
    // A malformed reference is the client's error, before anything is asked of the daemon.
    berth_types::Reference::parse(&a.image).map_err(|e| anyhow::anyhow!("{e}"))?;
    let body = create_body(a)?;
    let mut q: Vec<(&str, String)> = a.name.iter().map(|n| ("name", n.clone())).collect();
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    if a.pull == PullPolicy::Always {
        pull(c, a).await?;
    }
    if let Some(wanted) = &a.platform {
        if let Some(actual) = local_platform(c, &a.image).await?.filter(|p| !platform_matches(wanted, p)) {
            if a.pull == PullPolicy::Never {
                anyhow::bail!("image with reference {} was found but does not match the specified platform: wanted {wanted}, actual: {actual}", a.image);
            }
            pull(c, a).await?;
        }
    }
    let created: Value = match c.post_json("/containers/create", &q, &body).await {
        Ok(v) => v,
        Err(ClientError::Api { status: StatusCode::NOT_FOUND, message }) if message.starts_with("No such image") && a.pull != PullPolicy::Never => {
            if !a.quiet {
                eprintln!("Unable to find image '{}' locally", a.image);
            }
            pull(c, a).await?;
            c.post_json("/containers/create", &q, &body).await?
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(wanted) = &a.platform {
        // What the pull brought may still be another platform (a single-platform repository).
        if let Some(actual) = local_platform(c, &a.image).await?.filter(|p| !platform_matches(wanted, p)) {
            let id = created["Id"].as_str().unwrap_or("");
            let _ = c.request(Method::DELETE, &format!("/containers/{id}"), &[("force", "1".into())], berth_client::empty(), &[]).await;
            anyhow::bail!("image with reference {} was found but does not match the specified platform: wanted {wanted}, actual: {actual}", a.image);
        }
    }
    for w in created["Warnings"].as_array().into_iter().flatten().filter_map(|w| w.as_str()) {
        eprintln!("WARNING: {w}");
    }
    Ok(created["Id"].as_str().unwrap_or("").to_string())
}

/// Creates the container with its `--cidfile`.
async fn create_with_cidfile(c: &Client, a: &RunArgs) -> anyhow::Result<String> {
    let mut cid = CidFile::claim(a.cidfile.as_deref())?;
    let id = create_container(c, a).await?;
    cid.write(&id)?;
    Ok(id)
}

/// `berth create`.
pub async fn create(c: &Client, a: RunArgs) -> anyhow::Result<ExitCode> {
    match create_with_cidfile(c, &a).await {
        Ok(id) => {
            println!("{id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            report(&e);
            Ok(ExitCode::from(125))
        }
    }
}

/// Docker's exit status for a container that could not start: 126 when its command cannot be
/// invoked, 127 when it is not found, else 125.
pub(super) fn start_exit_code(e: &anyhow::Error) -> ExitCode {
    let s = e.to_string();
    if s.contains("permission denied") {
        ExitCode::from(126)
    } else if s.contains("not found") || s.contains("no such file") {
        ExitCode::from(127)
    } else {
        ExitCode::from(125)
    }
}

/// `--sig-proxy`: the signals the client receives, sent on to the container (as the docker CLI
/// does without a TTY) until the returned tasks are aborted.
pub(super) fn proxy_signals(c: &Client, id: &str) -> Vec<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::user_defined1(), "SIGUSR1"),
        (SignalKind::user_defined2(), "SIGUSR2"),
    ];
    let mut tasks = Vec::new();
    for (kind, name) in kinds {
        let Ok(mut stream) = signal(kind) else { continue };
        let (c, id) = (c.clone(), id.to_string());
        tasks.push(tokio::spawn(async move {
            while stream.recv().await.is_some() {
                let q = [("signal", name.to_string())];
                let _ = c.request(Method::POST, &format!("/containers/{id}/kill"), &q, berth_client::empty(), &[]).await;
            }
        }));
    }
    tasks
}

/// `berth run`.
pub async fn run(c: &Client, a: RunArgs) -> anyhow::Result<ExitCode> {
    if a.detach && a.rm && a.restart.as_deref().is_some_and(|r| r != "no") {
        report(&anyhow::anyhow!("conflicting options: cannot specify both --restart and --rm"));
        return Ok(ExitCode::from(125));
    }
    let id = match create_with_cidfile(c, &a).await {
        Ok(id) => id,
        Err(e) => {
            report(&e);
            return Ok(ExitCode::from(125));
        }
    };
    if a.detach {
        if let Err(e) = c.request(Method::POST, &format!("/containers/{id}/start"), &[], berth_client::empty(), &[]).await {
            let e = anyhow::Error::from(e);
            report(&e);
            return Ok(start_exit_code(&e));
        }
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    let streams = attached_streams(&a);
    let mut q = vec![("stream", "1".to_string())];
    for (name, on) in [("stdin", streams.stdin), ("stdout", streams.stdout), ("stderr", streams.stderr)] {
        if on {
            q.push((name, "1".to_string()));
        }
    }
    if let Some(k) = &a.detach_keys {
        q.push(("detachKeys", k.clone()));
    }
    let conn = match c.hijack(&format!("/containers/{id}/attach"), &q, berth_client::empty()).await {
        Ok(conn) => conn,
        Err(e) => {
            report(&e.into());
            if a.rm {
                let _ = c.request(Method::DELETE, &format!("/containers/{id}"), &[("force", "1".into())], berth_client::empty(), &[]).await;
            }
            return Ok(ExitCode::from(125));
        }
    };
    // With --rm, wait until the container is gone, so nothing of it is left when we return.
    let condition = if a.rm { "removed" } else { "next-exit" };
    let mut waiter = match registered_wait(c, &id, condition).await {
        Ok(w) => w,
        Err(e) => {
            report(&e.into());
            if a.rm {
                let _ = c.request(Method::DELETE, &format!("/containers/{id}"), &[("force", "1".into())], berth_client::empty(), &[]).await;
            }
            return Ok(ExitCode::from(125));
        }
    };
    let proxies = if a.sig_proxy && !a.tty { proxy_signals(c, &id) } else { Vec::new() };
    if let Err(e) = c.request(Method::POST, &format!("/containers/{id}/start"), &[], berth_client::empty(), &[]).await {
        let e = anyhow::Error::from(e);
        report(&e);
        if a.rm {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), waiter).await;
        }
        return Ok(start_exit_code(&e));
    }
    let raw = RawTerminal::enable(a.tty && streams.stdin);
    let resizer = if a.tty { forward_window_size(c, format!("/containers/{id}")) } else { None };
    pump(conn, a.tty, streams.stdin).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    // The stream also ends when the user typed the detach keys: then the container runs on.
    let result = match tokio::time::timeout(std::time::Duration::from_millis(500), &mut waiter).await {
        Ok(r) => r,
        Err(_) if a.tty && streams.stdin => {
            let info: Value = c.get_json(&format!("/containers/{id}/json"), &[]).await?;
            if info["State"]["Running"] == json!(true) {
                waiter.abort();
                return Ok(ExitCode::SUCCESS);
            }
            waiter.await
        }
        Err(_) => waiter.await,
    };
    for p in proxies {
        p.abort();
    }
    let result = result.map_err(|e| anyhow::anyhow!("waiting for the container: {e}"))??;
    if let Some(m) = result["Error"]["Message"].as_str().filter(|m| !m.is_empty()) {
        eprintln!("berth: {m}");
    }
    let code = result["StatusCode"].as_i64().unwrap_or(125);
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// The streams `run` attaches: `-a` as given, else stdout and stderr (and stdin with `-i`).
pub(super) struct Streams {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// See [`Streams`].
pub(super) fn attached_streams(a: &RunArgs) -> Streams {
    if a.detach {
        return Streams { stdin: false, stdout: false, stderr: false };
    }
    if a.attach.is_empty() {
        return Streams { stdin: a.interactive, stdout: true, stderr: true };
    }
    let has = |s: &str| a.attach.iter().any(|x| x.eq_ignore_ascii_case(s));
    Streams { stdin: has("stdin"), stdout: has("stdout"), stderr: has("stderr") }
}

#[cfg(test)]
mod tests {
    use super::platform_matches;

    #[test]
    fn platforms_match_as_docker_compares_them() {
        assert!(platform_matches("linux/amd64", "linux/amd64"));
        assert!(platform_matches("linux/x86_64", "linux/amd64"));
        assert!(platform_matches("linux", "linux/arm64"));
        assert!(platform_matches("linux/arm64/v8", "linux/arm64"));
        assert!(!platform_matches("linux/arm64", "linux/amd64"));
        assert!(!platform_matches("linux/arm/v7", "linux/arm/v6"));
    }
}
