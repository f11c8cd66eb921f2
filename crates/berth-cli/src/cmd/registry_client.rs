//! `pull`, `push`, `login`, `logout`: credentials live in `~/.berth/config.json` (Docker's format,
//! mode 0600, `credsStore`/`credHelpers` honoured) and travel to the daemon in `X-Registry-Auth`.

use crate::cli::{LoginArgs, PullArgs};
use crate::render::progress::ProgressRenderer;
use berth_client::Client;
use berth_distribution::config::ConfigFile;
use berth_distribution::Credentials;
use berth_types::Reference;
use http::Method;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

fn config_path() -> PathBuf {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    std::env::var_os("BERTH_CONFIG").map(|d| PathBuf::from(d).join("config.json")).unwrap_or_else(|| home.join(".berth/config.json"))
}

fn load_config() -> anyhow::Result<ConfigFile> {
    ConfigFile::load(config_path()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The `X-Registry-Auth` value for `registry`, if credentials are stored.
fn auth_header(registry: &str) -> anyhow::Result<Option<String>> {
    use base64::Engine;
    let cfg = load_config()?;
    let Some(c) = cfg.get(registry).map_err(|e| anyhow::anyhow!("{e}"))? else { return Ok(None) };
    let json = serde_json::json!({"username": c.username, "password": c.password, "serveraddress": registry});
    Ok(Some(base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&json)?)))
}

/// Renders a pull/push stream on stdout as the docker CLI does: layer lines updated in place on a
/// terminal, plain lines otherwise.
async fn render(resp: http::Response<hyper::body::Incoming>, quiet: bool) -> anyhow::Result<()> {
    render_to(resp, quiet, std::io::stdout()).await
}

async fn render_to(resp: http::Response<hyper::body::Incoming>, quiet: bool, out: impl Write + IsTerminal) -> anyhow::Result<()> {
    let tty = out.is_terminal();
    let mut renderer = ProgressRenderer::new(out, tty);
    // Like the docker CLI, a failed write (a closed pipe) does not fail the pull itself: the rest of
    // the progress is dropped and the operation runs to its end.
    let mut broken = quiet;
    berth_client::json_stream(resp, |m| {
        if !broken {
            broken = renderer.render(m).is_err();
        }
    })
    .await?;
    Ok(())
}

fn pull_query(r: &Reference) -> Vec<(&'static str, String)> {
    let mut q = vec![("fromImage", r.name())];
    match (r.tag(), r.digest()) {
        (_, Some(d)) => q.push(("tag", d.to_string())),
        (Some(t), None) => q.push(("tag", t.to_string())),
        _ => {}
    }
    q
}

/// Pulls `image` (for `--platform`) for `run`/`create`: progress on stderr, as stdout is for the
/// container id; nothing with `quiet`.
pub async fn pull_for_run(c: &Client, image: &str, platform: Option<&str>, quiet: bool) -> anyhow::Result<()> {
    let r = Reference::parse_tagged(image).map_err(|e| anyhow::anyhow!("{e}"))?;
    let auth = auth_header(r.domain())?;
    let headers: Vec<(&str, &str)> = auth.as_deref().map(|h| ("X-Registry-Auth", h)).into_iter().collect();
    let mut q = pull_query(&r);
    if let Some(p) = platform {
        q.push(("platform", p.to_string()));
    }
    let resp = c.request(Method::POST, "/images/create", &q, berth_client::empty(), &headers).await?;
    render_to(resp, quiet, std::io::stderr()).await
}

/// `berth pull`.
pub async fn pull(c: &Client, a: PullArgs) -> anyhow::Result<ExitCode> {
    if a.all_tags {
        anyhow::bail!("--all-tags is not supported yet");
    }
    let r = Reference::parse_tagged(&a.image).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut q = pull_query(&r);
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    let auth = auth_header(r.domain())?;
    let mut headers = vec![];
    if let Some(h) = &auth {
        headers.push(("X-Registry-Auth", h.as_str()));
    }
    let resp = c.request(Method::POST, "/images/create", &q, berth_client::empty(), &headers).await?;
    render(resp, a.quiet).await?;
    if a.quiet {
        println!("{}", r.familiar());
    } else {
        println!("{}", r);
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth push`.
pub async fn push(c: &Client, a: PullArgs) -> anyhow::Result<ExitCode> {
    let r = Reference::parse_tagged(&a.image).map_err(|e| anyhow::anyhow!("{e}"))?;
    let q = vec![("tag", r.tag().unwrap_or("latest").to_string())];
    let auth = auth_header(r.domain())?.unwrap_or_else(|| "e30=".into());
    let resp = c.request(Method::POST, &format!("/images/{}/push", r.familiar_name()), &q, berth_client::empty(), &[("X-Registry-Auth", &auth)]).await?;
    render(resp, a.quiet).await?;
    if a.quiet {
        println!("{}", r.familiar());
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth login`.
pub async fn login(c: &Client, a: LoginArgs) -> anyhow::Result<ExitCode> {
    let server = a.server.clone().unwrap_or_else(|| "docker.io".into());
    let username = match a.username.clone() {
        Some(u) => u,
        None => {
            print!("Username: ");
            std::io::stdout().flush()?;
            let mut l = String::new();
            std::io::stdin().lock().read_line(&mut l)?;
            l.trim().to_string()
        }
    };
    let password = if a.password_stdin {
        let mut l = String::new();
        std::io::stdin().lock().read_line(&mut l)?;
        l.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = a.password.clone() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        print!("Password: ");
        std::io::stdout().flush()?;
        let mut l = String::new();
        std::io::stdin().lock().read_line(&mut l)?;
        l.trim_end_matches(['\n', '\r']).to_string()
    };
    if username.is_empty() || password.is_empty() {
        anyhow::bail!("username and password are required");
    }
    let body = serde_json::json!({"username": username, "password": password, "serveraddress": server});
    let _: serde_json::Value = c.post_json("/auth", &[], &body).await?;
    let mut cfg = load_config()?;
    cfg.store(&server, &Credentials::new(username, password)).map_err(|e| anyhow::anyhow!("{e}"))?;
    cfg.save().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

/// `berth logout`.
pub async fn logout(server: Option<String>) -> anyhow::Result<ExitCode> {
    let server = server.unwrap_or_else(|| "docker.io".into());
    let mut cfg = load_config()?;
    if cfg.erase(&server).map_err(|e| anyhow::anyhow!("{e}"))? {
        cfg.save().map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(ExitCode::SUCCESS)
}
