//! `version`, `info`, `system df`, `events`.

use super::filters_param;
use crate::cli::{DfArgs, EventsArgs, FormatOnly};
use crate::render::template::Format;
use crate::render::units::{human_size, since};
use berth_client::Client;
use http::Method;
use serde_json::{json, Value};
use std::process::ExitCode;

/// `berth version`.
pub async fn version(c: &Client, a: FormatOnly) -> anyhow::Result<ExitCode> {
    let server: Result<Value, _> = c.get_json("/version", &[]).await;
    let client = json!({
        "Version": env!("CARGO_PKG_VERSION"), "ApiVersion": berth_client::CLIENT_API_VERSION,
        "Os": "linux", "Arch": std::env::consts::ARCH, "Context": "default",
    });
    if let Some(f) = a.format {
        let v = json!({"Client": client, "Server": server.as_ref().ok()});
        println!("{}", Format::parse(&f)?.render(&v)?);
        server?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Client:\n Version:           {}\n API version:       {}\n OS/Arch:           linux/{}\n Context:           default",
        client["Version"].as_str().unwrap_or(""), berth_client::CLIENT_API_VERSION, berth_types_arch());
    let s = server?;
    let st = |k: &str| s[k].as_str().unwrap_or("").to_string();
    println!("\nServer: {}\n Engine:\n  Version:          {}\n  API version:      {} (minimum version {})\n  OS/Arch:          {}/{}\n  Kernel:           {}\n  Experimental:     false",
        s["Platform"]["Name"].as_str().unwrap_or("Berth"), st("Version"), st("ApiVersion"), st("MinAPIVersion"), st("Os"), st("Arch"), st("KernelVersion"));
    Ok(ExitCode::SUCCESS)
}

fn berth_types_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

/// `berth info`.
pub async fn info(c: &Client, a: FormatOnly) -> anyhow::Result<ExitCode> {
    let i: Value = c.get_json("/info", &[]).await?;
    if let Some(f) = a.format {
        println!("{}", Format::parse(&f)?.render(&i)?);
        return Ok(ExitCode::SUCCESS);
    }
    let s = |k: &str| match &i[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    println!("Server:");
    for (label, key) in [
        ("Containers", "Containers"),
        ("Images", "Images"),
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Logging Driver", "LoggingDriver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
        ("Default Runtime", "DefaultRuntime"),
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
        ("CPUs", "NCPU"),
        ("Total Memory", "MemTotal"),
        ("Name", "Name"),
        ("ID", "ID"),
        ("Docker Root Dir", "DockerRootDir"),
    ] {
        let v = if key == "MemTotal" { crate::render::units::human_binary_size(i[key].as_f64().unwrap_or(0.0)) } else { s(key) };
        println!(" {label}: {v}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth system df`.
pub async fn df(c: &Client, a: DfArgs) -> anyhow::Result<ExitCode> {
    let d: Value = c.get_json("/system/df", &[]).await?;
    let images = d["Images"].as_array().cloned().unwrap_or_default();
    let total = d["LayersSize"].as_f64().unwrap_or(0.0);
    let active: Vec<&Value> = images.iter().filter(|i| i["Containers"].as_i64().unwrap_or(0) > 0).collect();
    // As the docker CLI counts it: what images in use take beyond what they share is not reclaimable.
    let active_size: f64 = active.iter().map(|i| i["Size"].as_f64().unwrap_or(0.0) - i["SharedSize"].as_f64().unwrap_or(0.0).max(0.0)).sum();
    let reclaim = (total - active_size).max(0.0);
    let pct = if total > 0.0 { (reclaim * 100.0 / total).round() as i64 } else { 0 };
    let containers = d["Containers"].as_array().cloned().unwrap_or_default();
    let running = containers.iter().filter(|c| c["State"] == "running" || c["State"] == "paused").count();
    let ctr_size: f64 = containers.iter().map(|c| c["SizeRw"].as_f64().unwrap_or(0.0)).sum();
    let ctr_reclaim: f64 = containers.iter().filter(|c| c["State"] != "running" && c["State"] != "paused").map(|c| c["SizeRw"].as_f64().unwrap_or(0.0)).sum();
    let volumes = d["Volumes"].as_array().cloned().unwrap_or_default();
    let refs = |v: &Value| v["UsageData"]["RefCount"].as_i64().unwrap_or(0);
    let vsize = |v: &Value| v["UsageData"]["Size"].as_f64().unwrap_or(0.0).max(0.0);
    let vol_active = volumes.iter().filter(|v| refs(v) > 0).count();
    let vol_size: f64 = volumes.iter().map(vsize).sum();
    let vol_reclaim: f64 = volumes.iter().filter(|v| refs(v) == 0).map(vsize).sum();
    // The docker CLI's build cache totals: shared records count with the images.
    let cache = d["BuildCache"].as_array().cloned().unwrap_or_default();
    let bsize = |b: &Value| b["Size"].as_f64().unwrap_or(0.0);
    let cache_size: f64 = cache.iter().filter(|b| b["Shared"] != true).map(bsize).sum();
    let cache_in_use: f64 = cache.iter().filter(|b| b["Shared"] != true && b["InUse"] == true).map(bsize).sum();
    let rows = vec![
        json!({"Type": "Images", "TotalCount": images.len().to_string(), "Active": active.len().to_string(), "Size": human_size(total), "Reclaimable": format!("{} ({}%)", human_size(reclaim), pct)}),
        json!({"Type": "Containers", "TotalCount": containers.len().to_string(), "Active": running.to_string(), "Size": human_size(ctr_size),
               "Reclaimable": format!("{} ({}%)", human_size(ctr_reclaim), if ctr_size > 0.0 { (ctr_reclaim * 100.0 / ctr_size).round() as i64 } else { 0 })}),
        json!({"Type": "Local Volumes", "TotalCount": volumes.len().to_string(), "Active": vol_active.to_string(), "Size": human_size(vol_size),
               "Reclaimable": format!("{} ({}%)", human_size(vol_reclaim), if vol_size > 0.0 { (vol_reclaim * 100.0 / vol_size).round() as i64 } else { 0 })}),
        json!({"Type": "Build Cache", "TotalCount": cache.len().to_string(), "Active": cache.iter().filter(|b| b["InUse"] == true).count().to_string(),
               "Size": human_size(cache_size), "Reclaimable": human_size(cache_size - cache_in_use)}),
    ];
    let fmt = a.format.unwrap_or_else(|| "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}".into());
    let header = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    print!("{}", Format::parse(&fmt)?.render_rows(&header, &rows)?);
    if a.verbose {
        println!("\nImages space usage:\n");
        let rows: Vec<Value> = images
            .iter()
            .flat_map(|i| {
                let tags: Vec<String> = i["RepoTags"].as_array().map(|t| t.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default();
                let tags = if tags.is_empty() { vec!["<none>:<none>".to_string()] } else { tags };
                tags.into_iter().map(move |t| {
                    let (r, tg) = t.rsplit_once(':').unwrap_or((&t, "<none>"));
                    json!({"Repository": r, "Tag": tg, "ID": short_id(i["Id"].as_str().unwrap_or("")),
                           "CreatedSince": since(i["Created"].as_i64().unwrap_or(0)), "Size": human_size(i["Size"].as_f64().unwrap_or(0.0)),
                           "SharedSize": human_size(i["SharedSize"].as_f64().unwrap_or(0.0).max(0.0)),
                           "UniqueSize": human_size(i["Size"].as_f64().unwrap_or(0.0) - i["SharedSize"].as_f64().unwrap_or(0.0).max(0.0)), "Containers": i["Containers"].as_i64().unwrap_or(0).to_string()})
                })
            })
            .collect();
        let f = Format::parse("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}")?;
        let h = json!({"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED", "Size": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "Containers": "CONTAINERS"});
        print!("{}", f.render_rows(&h, &rows)?);
        println!("\nContainers space usage:\n");
        let rows: Vec<Value> = containers
            .iter()
            .map(|c| {
                let vols = c["Mounts"].as_array().map(|m| m.iter().filter(|m| m["Type"] == "volume").count()).unwrap_or(0);
                let name = c["Names"].as_array().and_then(|n| n.first()).and_then(|n| n.as_str()).unwrap_or("").trim_start_matches('/').to_string();
                json!({"ID": short_id(c["Id"].as_str().unwrap_or("")), "Image": c["Image"], "Command": format!("\"{}\"", c["Command"].as_str().unwrap_or("")),
                       "LocalVolumes": vols.to_string(), "Size": human_size(c["SizeRw"].as_f64().unwrap_or(0.0)),
                       "CreatedSince": since(c["Created"].as_i64().unwrap_or(0)), "Status": c["Status"], "Names": name})
            })
            .collect();
        let f = Format::parse("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.CreatedSince}}\t{{.Status}}\t{{.Names}}")?;
        let h = json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "LocalVolumes": "LOCAL VOLUMES", "Size": "SIZE", "CreatedSince": "CREATED", "Status": "STATUS", "Names": "NAMES"});
        print!("{}", f.render_rows(&h, &rows)?);
        println!("\nLocal Volumes space usage:\n");
        let rows: Vec<Value> = volumes.iter().map(|v| json!({"Name": v["Name"], "Links": refs(v).to_string(), "Size": human_size(vsize(v))})).collect();
        let f = Format::parse("table {{.Name}}\t{{.Links}}\t{{.Size}}")?;
        print!("{}", f.render_rows(&json!({"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}), &rows)?);
        println!("\nBuild cache usage: {}\n", human_size(cache_size));
        let when = |v: &Value| v.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| since(t.timestamp())).unwrap_or_default();
        let rows: Vec<Value> = cache
            .iter()
            .map(|b| {
                json!({"ID": b["ID"].as_str().unwrap_or("").chars().take(12).collect::<String>(), "CacheType": b["Type"], "Size": human_size(bsize(b)),
                       "CreatedSince": when(&b["CreatedAt"]), "LastUsedSince": when(&b["LastUsedAt"]), "UsageCount": b["UsageCount"].as_i64().unwrap_or(0).to_string(),
                       "Shared": b["Shared"].as_bool().unwrap_or(false).to_string()})
            })
            .collect();
        let f = Format::parse("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}")?;
        let h = json!({"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED", "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"});
        print!("{}", f.render_rows(&h, &rows)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth system check`: a table of what the daemon found (and repaired), or its JSON. Exits 1
/// while problems remain unrepaired.
pub async fn check(c: &Client, quick: bool, repair: bool, force: bool, format: Option<String>) -> anyhow::Result<ExitCode> {
    use http::Method;
    let mut q: Vec<(&str, String)> = Vec::new();
    for (k, on) in [("quick", quick), ("repair", repair), ("force", force)] {
        if on {
            q.push((k, "1".into()));
        }
    }
    let r: Value = c.call_json(Method::POST, "/system/check", &q).await?;
    let findings = r["Findings"].as_array().cloned().unwrap_or_default();
    let open = findings.iter().filter(|f| f["Repaired"] != true).count();
    match format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string_pretty(&r)?),
        None | Some("table") => {
            let checked: Vec<String> = r["Checked"].as_object().map(|m| m.iter().map(|(k, v)| format!("{v} {k}")).collect()).unwrap_or_default();
            println!("Checked {}", checked.join(", "));
            if findings.is_empty() {
                println!("No problems found");
            } else {
                let rows: Vec<Value> = findings
                    .iter()
                    .map(|f| {
                        let state = match (f["Repaired"] == true, f["Note"].as_str()) {
                            (true, _) => "repaired".to_string(),
                            (false, Some(n)) => format!("kept: {n}"),
                            (false, None) => "found".to_string(),
                        };
                        json!({"Kind": f["Kind"], "Id": f["Id"], "Problem": f["Problem"], "State": state})
                    })
                    .collect();
                let f = Format::parse("table {{.Kind}}\t{{.Id}}\t{{.Problem}}\t{{.State}}")?;
                print!("{}", f.render_rows(&json!({"Kind": "KIND", "Id": "ID", "Problem": "PROBLEM", "State": "STATE"}), &rows)?);
            }
        }
        Some(other) => anyhow::bail!("unknown format {other:?}: use table or json"),
    }
    Ok(if open == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `berth system prune`: the prune endpoints in Docker's order, one report.
pub async fn prune(c: &Client, all: bool, volumes: bool, force: bool, filter: Vec<String>) -> anyhow::Result<ExitCode> {
    use http::Method;
    let mut warning = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
    if volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if all { "  - all images without at least one container associated to them\n" } else { "  - all dangling images\n" });
    warning.push_str("  - unused build cache\n\nAre you sure you want to continue?");
    if !force && !super::images::confirm(&warning) {
        return Ok(ExitCode::SUCCESS);
    }
    let q = |extra: &[&str]| -> anyhow::Result<Vec<(&'static str, String)>> {
        let mut f = filter.clone();
        f.extend(extra.iter().map(|s| s.to_string()));
        super::filters_query(&f)
    };
    let mut space = 0.0;
    let list = super::print_deleted;
    let r: Value = c.call_json(Method::POST, "/containers/prune", &q(&[])?).await?;
    list("Deleted Containers", &r["ContainersDeleted"]);
    space += r["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    let r: Value = c.call_json(Method::POST, "/networks/prune", &q(&[])?).await?;
    list("Deleted Networks", &r["NetworksDeleted"]);
    if volumes {
        let labels_only: Vec<String> = filter.iter().filter(|f| f.starts_with("label")).cloned().collect();
        let vq = super::filters_query(&labels_only)?;
        let r: Value = c.call_json(Method::POST, "/volumes/prune", &vq).await?;
        list("Deleted Volumes", &r["VolumesDeleted"]);
        space += r["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    }
    let r: Value = c.call_json(Method::POST, "/images/prune", &q(if all { &["dangling=false"] } else { &[] })?).await?;
    super::print_deleted_images(&r);
    space += r["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    // As the docker CLI does: the build cache with the same `all` and the filters it understands.
    let mut bq = q(&[])?;
    if all {
        bq.push(("all", "1".into()));
    }
    let r: Value = c.call_json(Method::POST, "/build/prune", &bq).await?;
    super::build::print_prune_report(&r);
    space += r["SpaceReclaimed"].as_f64().unwrap_or(0.0);
    println!("Total reclaimed space: {}", human_size(space));
    Ok(ExitCode::SUCCESS)
}

/// Strips `sha256:` and keeps 12 characters.
pub fn short_id(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

/// `--since`/`--until`: Unix seconds and RFC 3339 pass through, durations (`10m`, `2h`) become
/// "that long ago", as the docker CLI does client-side.
pub fn event_time(s: &str) -> anyhow::Result<String> {
    if s.parse::<f64>().is_ok() || chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        return Ok(s.to_string());
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(|| anyhow::anyhow!("invalid time {s:?}"))?);
    let n: f64 = num.parse().map_err(|_| anyhow::anyhow!("invalid time {s:?}"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "ms" => n / 1000.0,
        _ => anyhow::bail!("invalid time {s:?}: use Unix seconds, RFC 3339 or a duration like 10m"),
    };
    let t = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as f64 / 1e9 - secs;
    Ok(format!("{t:.9}"))
}

/// `berth events`.
pub async fn events(c: &Client, a: EventsArgs) -> anyhow::Result<ExitCode> {
    let mut q = vec![];
    if let Some(s) = &a.since {
        q.push(("since", event_time(s)?));
    }
    if let Some(u) = &a.until {
        q.push(("until", event_time(u)?));
    }
    if !a.filter.is_empty() {
        q.push(("filters", filters_param(&a.filter)?));
    }
    let fmt = a.format.as_deref().map(Format::parse).transpose()?;
    let resp = c.request(Method::GET, "/events", &q, berth_client::empty(), &[]).await?;
    use http_body_util_shim::next_json;
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    while let Some(ev) = next_json(&mut body, &mut buf).await? {
        match &fmt {
            Some(f) => println!("{}", f.render(&ev)?),
            None => {
                let t = chrono::DateTime::from_timestamp_nanos(ev["timeNano"].as_i64().unwrap_or(0));
                let attrs = ev["Actor"]["Attributes"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                let attrs = if attrs.is_empty() { String::new() } else { format!(" ({attrs})") };
                println!(
                    "{} {} {} {}{}",
                    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    ev["Type"].as_str().unwrap_or(""),
                    ev["Action"].as_str().unwrap_or(""),
                    ev["Actor"]["ID"].as_str().unwrap_or(""),
                    attrs
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reading a stream of JSON values from a body without the JSON-message semantics.
mod http_body_util_shim {
    use hyper::body::{Body, Incoming};
    use serde_json::Value;
    use std::future::poll_fn;
    use std::pin::Pin;

    /// The next JSON value of the stream, or `None` at its end.
    pub async fn next_json(body: &mut Incoming, buf: &mut Vec<u8>) -> anyhow::Result<Option<Value>> {
        loop {
            let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
            match it.next() {
                Some(Ok(v)) => {
                    let off = it.byte_offset();
                    buf.drain(..off);
                    return Ok(Some(v));
                }
                Some(Err(e)) if !e.is_eof() => anyhow::bail!("bad event from daemon: {e}"),
                _ => {}
            }
            match poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
                Some(f) => {
                    if let Ok(d) = f?.into_data() {
                        buf.extend_from_slice(&d);
                    }
                }
                None => return Ok(None),
            }
        }
    }
}
