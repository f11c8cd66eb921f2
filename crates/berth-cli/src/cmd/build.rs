//! `berth build`: sends the context (honouring `.dockerignore`) and renders the build stream.

use crate::cli::BuildArgs;
use berth_build::IgnoreMatcher;
use berth_client::Client;
use http::Method;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Writes the context directory as a tar into `out`, skipping what `.dockerignore` excludes (the
/// Dockerfile and `.dockerignore` themselves always go).
fn context_tar(dir: &Path, dockerfile: &str, out: impl Write) -> anyhow::Result<()> {
    let specific = dir.join(format!("{dockerfile}.dockerignore"));
    let ignore_text = std::fs::read_to_string(&specific).or_else(|_| std::fs::read_to_string(dir.join(".dockerignore"))).unwrap_or_default();
    let ignore = IgnoreMatcher::parse(&ignore_text);
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let full = dir.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&full)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let r = rel.join(e.file_name());
            let name = r.to_string_lossy().to_string();
            let keep = name == dockerfile || name == ".dockerignore";
            let ft = e.file_type()?;
            if !keep && ignore.excluded(&name) && !(ft.is_dir() && ignore.has_exceptions()) {
                continue;
            }
            b.append_path_with_name(e.path(), &r)?;
            if ft.is_dir() {
                stack.push(r);
            }
        }
    }
    b.finish()?;
    Ok(())
}

/// `berth build`.
pub async fn build(c: &Client, a: BuildArgs) -> anyhow::Result<ExitCode> {
    let dockerfile = a.file.clone().unwrap_or_else(|| "Dockerfile".into());
    // A URL (a git repository, a tar or a Dockerfile) is fetched by the daemon (`remote=`).
    let remote = ["http://", "https://", "git://", "git@", "github.com/"].iter().any(|p| a.context.starts_with(p));
    let body = if remote {
        berth_client::reader(tokio::io::empty())
    } else if a.context == "-" {
        berth_client::reader(tokio::io::stdin())
    } else {
        let dir = PathBuf::from(&a.context);
        if !dir.is_dir() {
            anyhow::bail!("unable to prepare context: path {:?} not found", a.context);
        }
        // A -f outside the context is sent inside it, as the docker CLI does.
        let df_rel = match Path::new(&dockerfile).strip_prefix(&dir) {
            Ok(r) => r.to_string_lossy().to_string(),
            Err(_) => dockerfile.clone(),
        };
        let (tx, rx) = tokio::io::duplex(256 * 1024);
        let df = df_rel.clone();
        let w = tokio_util::io::SyncIoBridge::new(tx);
        std::thread::spawn(move || {
            if let Err(e) = context_tar(&dir, &df, w) {
                eprintln!("berth: sending the build context: {e:#}");
            }
        });
        berth_client::reader(rx)
    };
    let mut q = vec![];
    if remote {
        q.push(("remote", a.context.clone()));
    }
    for t in &a.tag {
        q.push(("t", t.clone()));
    }
    if let Some(f) = a.file.as_ref().filter(|_| remote) {
        q.push(("dockerfile", f.clone()));
    } else if let Some(f) = &a.file {
        let rel = Path::new(f).strip_prefix(&a.context).map(|r| r.to_string_lossy().to_string()).unwrap_or_else(|_| f.clone());
        q.push(("dockerfile", rel));
    }
    let args: BTreeMap<String, Option<String>> = a
        .build_arg
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (kv.clone(), std::env::var(kv).ok()),
        })
        .collect();
    if !args.is_empty() {
        q.push(("buildargs", serde_json::to_string(&args)?));
    }
    let labels: BTreeMap<String, String> =
        a.label.iter().map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).unwrap_or((l.clone(), String::new()))).collect();
    if !labels.is_empty() {
        q.push(("labels", serde_json::to_string(&labels)?));
    }
    for (k, v) in [("target", &a.target), ("networkmode", &a.network), ("platform", &a.platform)] {
        if let Some(v) = v {
            q.push((k, v.clone()));
        }
    }
    if !a.add_host.is_empty() {
        q.push(("extrahosts", a.add_host.join(",")));
    }
    if let Some(s) = &a.shm_size {
        q.push(("shmsize", super::containers::parse_size(s)?.to_string()));
    }
    if a.no_cache {
        q.push(("nocache", "1".into()));
    }
    if a.quiet {
        q.push(("q", "1".into()));
    }
    if a.pull {
        q.push(("pull", "1".into()));
    }
    let resp = c.request(Method::POST, "/build", &q, body, &[("Content-Type", "application/x-tar")]).await?;
    let mut id = None;
    let mut out = std::io::stdout();
    berth_client::json_stream(resp, |m| {
        if let Some(s) = &m.stream {
            if !a.quiet {
                let _ = out.write_all(s.as_bytes());
                let _ = out.flush();
            } else if s.trim().starts_with("sha256:") {
                // A quiet build streams the image ID alone, as dockerd's does.
                id = Some(s.trim().to_string());
            }
        }
        if let Some(i) = m.aux.as_ref().and_then(|x| x.get("ID")).and_then(|x| x.as_str()) {
            id = Some(i.to_string());
        }
    })
    .await?;
    let id = id.ok_or_else(|| anyhow::anyhow!("the build finished without an image id"))?;
    if a.quiet {
        println!("{id}");
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth builder prune`: the docker CLI's wording and output.
pub async fn prune(c: &Client, all: bool, filter: Vec<String>, keep_storage: Option<String>, force: bool) -> anyhow::Result<ExitCode> {
    let warning = if all {
        "WARNING! This will remove all build cache.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?"
    };
    if !force && !super::images::confirm(warning) {
        return Ok(ExitCode::SUCCESS);
    }
    let mut q: Vec<(&str, String)> = Vec::new();
    if all {
        q.push(("all", "1".into()));
    }
    if let Some(k) = keep_storage {
        q.push(("keep-storage", super::containers::parse_size(&k)?.to_string()));
    }
    if !filter.is_empty() {
        q.push(("filters", super::filters_param(&filter)?));
    }
    let r: serde_json::Value = c.call_json(Method::POST, "/build/prune", &q).await?;
    print_prune_report(&r);
    println!("Total reclaimed space: {}", crate::render::units::human_size(r["SpaceReclaimed"].as_f64().unwrap_or(0.0)));
    Ok(ExitCode::SUCCESS)
}

/// `Deleted build cache objects:` and the ids, as the docker CLI prints a build cache prune.
pub fn print_prune_report(r: &serde_json::Value) {
    crate::cmd::print_deleted("Deleted build cache objects", &r["CachesDeleted"]);
}
