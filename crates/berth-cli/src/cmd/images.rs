//! Image verbs: images, inspect, history, tag, rmi, prune, import, save, load.

use super::system::short_id;
use super::filters_param;
use crate::cli::{HistoryArgs, ImagesArgs, ImportArgs, InspectArgs, LoadArgs, PruneArgs, RmiArgs, SaveArgs, SearchArgs, TagArgs};
use crate::render::template::Format;
use crate::render::units::{created_at, human_size, since};
use berth_client::{json_stream, Client, ClientError};
use berth_types::Reference;
use http::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// `berth images`.
pub async fn list(c: &Client, a: ImagesArgs) -> anyhow::Result<ExitCode> {
    let mut filters = a.filter.clone();
    if let Some(r) = &a.repository {
        filters.push(format!("reference={r}"));
    }
    let mut q = vec![];
    if a.all {
        q.push(("all", "1".to_string()));
    }
    if !filters.is_empty() {
        q.push(("filters", filters_param(&filters)?));
    }
    let images: Vec<Value> = c.get_json("/images/json", &q).await?;
    let mut rows = Vec::new();
    for img in &images {
        let id = s(&img["Id"]);
        let shown_id = if a.no_trunc { id.clone() } else { short_id(&id) };
        let tags: Vec<String> = img["RepoTags"].as_array().map(|t| t.iter().map(s).collect()).unwrap_or_default();
        let digests: Vec<String> = img["RepoDigests"].as_array().map(|t| t.iter().map(s).collect()).unwrap_or_default();
        let created = img["Created"].as_i64().unwrap_or(0);
        let size = human_size(img["Size"].as_f64().unwrap_or(0.0));
        let mut pairs: Vec<(String, String, String)> = tags
            .iter()
            .map(|t| {
                let (repo, tag) = match t.rfind(':') {
                    Some(i) if !t[i..].contains('/') => (t[..i].to_string(), t[i + 1..].to_string()),
                    _ => (t.clone(), "<none>".into()),
                };
                let digest = digests.iter().find(|d| d.starts_with(&format!("{repo}@"))).and_then(|d| d.split_once('@')).map(|(_, d)| d.to_string());
                (repo, tag, digest.unwrap_or_else(|| "<none>".into()))
            })
            .collect();
        if pairs.is_empty() {
            match digests.first().and_then(|d| d.split_once('@')) {
                Some((r, d)) => pairs.push((r.to_string(), "<none>".into(), d.to_string())),
                None => pairs.push(("<none>".into(), "<none>".into(), "<none>".into())),
            }
        }
        for (repo, tag, digest) in pairs {
            rows.push(json!({
                "ID": shown_id, "Repository": repo, "Tag": tag, "Digest": digest,
                "CreatedSince": since(created), "CreatedAt": created_at(created), "Size": size,
                "SharedSize": "N/A", "UniqueSize": "N/A", "VirtualSize": size, "Containers": "N/A",
            }));
        }
    }
    let default = if a.digests {
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    } else {
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    };
    let fmt = if a.quiet { "{{.ID}}".to_string() } else { a.format.unwrap_or_else(|| default.into()) };
    let header = json!({"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "CreatedSince": "CREATED",
        "CreatedAt": "CREATED AT", "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE", "Containers": "CONTAINERS"});
    print!("{}", Format::parse(&fmt)?.render_rows(&header, &rows)?);
    Ok(ExitCode::SUCCESS)
}


/// `berth image inspect`.
pub async fn inspect(c: &Client, names: Vec<String>, format: Option<String>) -> anyhow::Result<ExitCode> {
    super::inspect_each(c, &names, "image", |n| format!("/images/{n}/json"), format.as_deref()).await
}

/// `berth inspect`: containers first, then images, as Docker does.
pub async fn inspect_any(c: &Client, a: InspectArgs) -> anyhow::Result<ExitCode> {
    let kinds: Vec<(&str, &str)> = match a.kind.as_deref() {
        None => vec![("container", "/containers/{}/json"), ("image", "/images/{}/json"), ("network", "/networks/{}"), ("volume", "/volumes/{}")],
        Some("image") => vec![("image", "/images/{}/json")],
        Some("container") => vec![("container", "/containers/{}/json")],
        Some("volume") => vec![("volume", "/volumes/{}")],
        Some("network") => vec![("network", "/networks/{}")],
        Some(k) => anyhow::bail!("\"{k}\" is not a valid value for --type"),
    };
    let mut found = Vec::new();
    let mut failed = false;
    for n in &a.names {
        let mut hit = None;
        for (_, path) in &kinds {
            match c.get_json::<Value>(&path.replace("{}", n), &[]).await {
                Ok(v) => {
                    hit = Some(v);
                    break;
                }
                Err(ClientError::Api { status: StatusCode::NOT_FOUND, .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        match hit {
            Some(v) => found.push(v),
            None => {
                eprintln!("Error: No such object: {n}");
                failed = true;
            }
        }
    }
    super::print_inspect(&found, a.format.as_deref())?;
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `berth history`.
pub async fn history(c: &Client, a: HistoryArgs) -> anyhow::Result<ExitCode> {
    let items: Vec<Value> = c.get_json(&format!("/images/{}/history", a.image), &[]).await?;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let id = s(&h["Id"]);
            let id = if id == "<missing>" || a.no_trunc { id } else { short_id(&id) };
            let created = h["Created"].as_i64().unwrap_or(0);
            let mut by = s(&h["CreatedBy"]).replace('\t', " ");
            if !a.no_trunc && by.chars().count() > 45 {
                by = by.chars().take(44).collect::<String>() + "…";
            }
            let size = h["Size"].as_f64().unwrap_or(0.0);
            json!({
                "ID": id,
                "CreatedSince": if a.human { since(created) } else { chrono::DateTime::from_timestamp(created, 0).map(|t| t.to_rfc3339()).unwrap_or_default() },
                "CreatedAt": created_at(created),
                "CreatedBy": by,
                "Size": if a.human { human_size(size) } else { format!("{}", size as i64) },
                "Comment": s(&h["Comment"]),
            })
        })
        .collect();
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format.unwrap_or_else(|| "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into())
    };
    let header = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"});
    print!("{}", Format::parse(&fmt)?.render_rows(&header, &rows)?);
    Ok(ExitCode::SUCCESS)
}

/// `berth search`: the docker CLI's table (descriptions cut at 45 characters, `[OK]` for official).
pub async fn search(c: &Client, a: SearchArgs) -> anyhow::Result<ExitCode> {
    let mut q = super::filters_query(&a.filter)?;
    q.push(("term", a.term.clone()));
    if let Some(l) = a.limit {
        q.push(("limit", l.to_string()));
    }
    let items: Vec<Value> = c.get_json("/images/search", &q).await?;
    let rows: Vec<Value> = items
        .iter()
        .map(|r| {
            let mut description = s(&r["description"]).replace('\n', " ");
            if !a.no_trunc && description.chars().count() > 45 {
                description = description.chars().take(44).collect::<String>() + "…";
            }
            let flag = |k: &str| if r[k].as_bool() == Some(true) { "[OK]" } else { "" };
            json!({"Name": s(&r["name"]), "Description": description, "StarCount": r["star_count"].as_u64().unwrap_or(0),
                   "IsOfficial": flag("is_official"), "IsAutomated": flag("is_automated")})
        })
        .collect();
    let fmt = a.format.unwrap_or_else(|| "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}".into());
    let header = json!({"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"});
    print!("{}", Format::parse(&fmt)?.render_rows(&header, &rows)?);
    Ok(ExitCode::SUCCESS)
}

/// `berth tag`.
pub async fn tag(c: &Client, a: TagArgs) -> anyhow::Result<ExitCode> {
    let r = Reference::parse(&a.target).map_err(|e| anyhow::anyhow!("{e}"))?;
    if r.digest().is_some() {
        anyhow::bail!("refusing to create a tag with a digest reference");
    }
    let q = [("repo", r.familiar_name()), ("tag", r.tag().unwrap_or("latest").to_string())];
    c.request(Method::POST, &format!("/images/{}/tag", a.source), &q, berth_client::empty(), &[]).await?;
    Ok(ExitCode::SUCCESS)
}

fn print_deleted(items: &[Value]) {
    for i in items {
        if let Some(u) = i["Untagged"].as_str() {
            println!("Untagged: {u}");
        }
        if let Some(d) = i["Deleted"].as_str() {
            println!("Deleted: {d}");
        }
    }
}

/// `berth rmi`.
pub async fn rmi(c: &Client, a: RmiArgs) -> anyhow::Result<ExitCode> {
    let mut q = vec![];
    if a.force {
        q.push(("force", "1".to_string()));
    }
    if a.no_prune {
        q.push(("noprune", "1".to_string()));
    }
    let mut failed = false;
    for img in &a.images {
        match c.call_json::<Vec<Value>>(Method::DELETE, &format!("/images/{img}"), &q).await {
            Ok(items) => print_deleted(&items),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Asks `question` on the terminal; false unless the answer starts with y.
pub fn confirm(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).is_ok() && line.trim().to_lowercase().starts_with('y')
}

/// `berth image prune`.
pub async fn prune(c: &Client, a: PruneArgs) -> anyhow::Result<ExitCode> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(&format!("{warning}\nAre you sure you want to continue?")) {
        return Ok(ExitCode::SUCCESS);
    }
    let mut filters = a.filter.clone();
    if a.all {
        filters.push("dangling=false".into());
    }
    let q = vec![("filters", filters_param(&filters)?)];
    let report: Value = c.call_json(Method::POST, "/images/prune", &q).await?;
    super::print_deleted_images(&report);
    println!("Total reclaimed space: {}", human_size(report["SpaceReclaimed"].as_f64().unwrap_or(0.0)));
    Ok(ExitCode::SUCCESS)
}

/// `berth import`.
pub async fn import(c: &Client, a: ImportArgs) -> anyhow::Result<ExitCode> {
    let mut q: Vec<(&str, String)> = vec![];
    let body = if a.source == "-" {
        q.push(("fromSrc", "-".into()));
        berth_client::reader(tokio::io::stdin())
    } else if a.source.starts_with("http://") || a.source.starts_with("https://") {
        q.push(("fromSrc", a.source.clone()));
        berth_client::empty()
    } else {
        let f = tokio::fs::File::open(&a.source).await.map_err(|e| anyhow::anyhow!("open {}: {e}", a.source))?;
        q.push(("fromSrc", "-".into()));
        berth_client::reader(f)
    };
    if let Some(r) = &a.reference {
        let parsed = Reference::parse(r).map_err(|e| anyhow::anyhow!("{e}"))?;
        q.push(("repo", parsed.familiar_name()));
        q.push(("tag", parsed.tag().unwrap_or("latest").to_string()));
    }
    for ch in &a.change {
        q.push(("changes", ch.clone()));
    }
    if let Some(m) = &a.message {
        q.push(("message", m.clone()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    let resp = c.request(Method::POST, "/images/create", &q, body, &[("Content-Type", "application/x-tar")]).await?;
    json_stream(resp, |m| {
        if let Some(st) = &m.status {
            println!("{st}");
        }
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `berth save`.
pub async fn save(c: &Client, a: SaveArgs) -> anyhow::Result<ExitCode> {
    if a.output.is_none() && std::io::stdout().is_terminal() {
        anyhow::bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
    }
    let q: Vec<(&str, String)> = a.images.iter().map(|i| ("names", i.clone())).collect();
    let resp = c.request(Method::GET, "/images/get", &q, berth_client::empty(), &[]).await?;
    match &a.output {
        Some(path) if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) => {
            // A device, pipe or socket (`-o /dev/null`, a fifo): written into, as docker does — never
            // replaced by a rename.
            let mut f = tokio::fs::OpenOptions::new().write(true).open(path).await.map_err(|e| anyhow::anyhow!("open {}: {e}", path.display()))?;
            berth_client::copy_body(resp, &mut f).await?;
        }
        Some(path) => {
            // Write beside the target and rename, so a failed save never leaves a torn archive.
            let tmp = path.with_file_name(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("save")));
            let mut f = tokio::fs::File::create(&tmp).await.map_err(|e| anyhow::anyhow!("create {}: {e}", tmp.display()))?;
            let r = berth_client::copy_body(resp, &mut f).await;
            if let Err(e) = r {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e.into());
            }
            f.sync_all().await?;
            tokio::fs::rename(&tmp, path).await.map_err(|e| anyhow::anyhow!("rename to {}: {e}", path.display()))?;
        }
        None => {
            berth_client::copy_body(resp, &mut tokio::io::stdout()).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth load`.
pub async fn load(c: &Client, a: LoadArgs) -> anyhow::Result<ExitCode> {
    let body = match &a.input {
        Some(p) => berth_client::reader(tokio::fs::File::open(p).await.map_err(|e| anyhow::anyhow!("open {}: {e}", p.display()))?),
        None => {
            if std::io::stdin().is_terminal() {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            berth_client::reader(tokio::io::stdin())
        }
    };
    let q = if a.quiet { vec![("quiet", "1".to_string())] } else { vec![] };
    let resp = c.request(Method::POST, "/images/load", &q, body, &[("Content-Type", "application/x-tar")]).await?;
    json_stream(resp, |m| {
        if let Some(st) = &m.stream {
            print!("{st}");
        }
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}
