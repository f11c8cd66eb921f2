//! A container's filesystem as an image, a diff or a tar: commit, diff, export.

#[allow(unused_imports)]
use super::*;

/// `berth commit`.
pub async fn commit(c: &Client, container: &str, reference: Option<&str>, message: Option<&str>, author: Option<&str>, changes: &[String]) -> anyhow::Result<ExitCode> {
    let mut q = vec![("container", container.to_string())];
    if let Some(r) = reference {
        let parsed = berth_types::Reference::parse(r).map_err(|e| anyhow::anyhow!("{e}"))?;
        q.push(("repo", parsed.familiar_name()));
        q.push(("tag", parsed.tag().unwrap_or("latest").to_string()));
    }
    if let Some(m) = message {
        q.push(("comment", m.to_string()));
    }
    if let Some(a) = author {
        q.push(("author", a.to_string()));
    }
    for ch in changes {
        q.push(("changes", ch.clone()));
    }
    let v: Value = c.call_json(Method::POST, "/commit", &q).await?;
    println!("{}", v["Id"].as_str().unwrap_or(""));
    Ok(ExitCode::SUCCESS)
}

/// `berth diff`.
pub async fn diff(c: &Client, container: &str) -> anyhow::Result<ExitCode> {
    // `null` when nothing changed, as dockerd answers.
    let v: Option<Vec<Value>> = c.get_json(&format!("/containers/{container}/changes"), &[]).await?;
    for ch in v.unwrap_or_default() {
        let k = match ch["Kind"].as_i64() {
            Some(0) => "C",
            Some(1) => "A",
            _ => "D",
        };
        println!("{k} {}", ch["Path"].as_str().unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth export`.
pub async fn export(c: &Client, container: &str, output: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    if output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let resp = c.request(Method::GET, &format!("/containers/{container}/export"), &[], berth_client::empty(), &[]).await?;
    match output {
        Some(p) => {
            let mut f = tokio::fs::File::create(p).await.map_err(|e| anyhow::anyhow!("create {}: {e}", p.display()))?;
            berth_client::copy_body(resp, &mut f).await?;
        }
        None => {
            berth_client::copy_body(resp, &mut tokio::io::stdout()).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
