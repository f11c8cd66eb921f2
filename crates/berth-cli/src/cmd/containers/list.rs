//! What runs and how: ps, port, top, stats, logs, inspect, prune.

#[allow(unused_imports)]
use super::*;

/// `berth ps`.
pub async fn ps(c: &Client, a: PsArgs) -> anyhow::Result<ExitCode> {
    let mut q = vec![];
    if a.all {
        q.push(("all", "1".to_string()));
    }
    if let Some(n) = a.last.or(if a.latest { Some(1) } else { None }) {
        q.push(("limit", n.to_string()));
    }
    if !a.filter.is_empty() {
        q.push(("filters", filters_param(&a.filter)?));
    }
    if a.size {
        q.push(("size", "1".to_string()));
    }
    let list: Vec<Value> = c.get_json("/containers/json", &q).await?;
    let rows: Vec<Value> = list
        .iter()
        .map(|v| {
            let id = v["Id"].as_str().unwrap_or("");
            let mut cmd = v["Command"].as_str().unwrap_or("").to_string();
            if !a.no_trunc && cmd.chars().count() > 20 {
                cmd = cmd.chars().take(19).collect::<String>() + "…";
            }
            let created = v["Created"].as_i64().unwrap_or(0);
            let names: Vec<String> = v["Names"].as_array().map(|n| n.iter().filter_map(|x| x.as_str()).map(|x| x.trim_start_matches('/').to_string()).collect()).unwrap_or_default();
            json!({
                "ID": if a.no_trunc { id.to_string() } else { short_id(id) },
                "Image": v["Image"], "Command": format!("\"{cmd}\""), "CreatedAt": created_at(created),
                "RunningFor": since(created), "Status": v["Status"], "State": v["State"], "Ports": ports_text(&v["Ports"]),
                "Names": names.join(","), "Labels": v["Labels"].as_object().map(|m| m.iter().map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")).unwrap_or_default(),
                "Mounts": v["Mounts"].as_array().map(|m| m.iter().map(|x| x["Name"].as_str().filter(|n| !n.is_empty()).or(x["Source"].as_str()).unwrap_or("").to_string()).collect::<Vec<_>>().join(",")).unwrap_or_default(),
                "Networks": v["NetworkSettings"]["Networks"].as_object().filter(|n| !n.is_empty()).map(|n| n.keys().cloned().collect::<Vec<_>>().join(",")).unwrap_or_else(|| v["HostConfig"]["NetworkMode"].as_str().unwrap_or("").to_string()),
                "Size": format!("{} (virtual {})", human_size(v["SizeRw"].as_f64().unwrap_or(0.0)), human_size(v["SizeRootFs"].as_f64().unwrap_or(0.0))),
            })
        })
        .collect();
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        a.format.unwrap_or_else(|| {
            let size = if a.size { "\t{{.Size}}" } else { "" };
            format!("table {{{{.ID}}}}\t{{{{.Image}}}}\t{{{{.Command}}}}\t{{{{.RunningFor}}}}\t{{{{.Status}}}}\t{{{{.Ports}}}}\t{{{{.Names}}}}{size}")
        })
    };
    let header = json!({"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT", "RunningFor": "CREATED",
        "Status": "STATUS", "State": "STATE", "Ports": "PORTS", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "Size": "SIZE"});
    print!("{}", Format::parse(&fmt)?.render_rows(&header, &rows)?);
    Ok(ExitCode::SUCCESS)
}

/// `IP:PORT`, an IPv6 address in brackets (`[::]:8080`), as the docker CLI joins them.
fn host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// `ps`'s PORTS column: `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 443/tcp`.
pub fn ports_text(ports: &Value) -> String {
    let mut items: Vec<String> = ports
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    let private = p["PrivatePort"].as_u64().unwrap_or(0);
                    let proto = p["Type"].as_str().unwrap_or("tcp");
                    match p["PublicPort"].as_u64() {
                        Some(public) if public > 0 => format!("{}->{private}/{proto}", host_port(p["IP"].as_str().unwrap_or("0.0.0.0"), &public.to_string())),
                        _ => format!("{private}/{proto}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    items.dedup();
    items.join(", ")
}

/// `berth port`.
pub async fn port(c: &Client, container: &str, private: Option<&str>) -> anyhow::Result<ExitCode> {
    let v: Value = c.get_json(&format!("/containers/{container}/json"), &[]).await?;
    let ports = v["NetworkSettings"]["Ports"].as_object().cloned().unwrap_or_default();
    let want = private.map(|p| if p.contains('/') { p.to_string() } else { format!("{p}/tcp") });
    let mut found = false;
    for (k, bindings) in &ports {
        if want.as_ref().is_some_and(|w| w != k) {
            continue;
        }
        for b in bindings.as_array().into_iter().flatten() {
            found = true;
            let addr = host_port(b["HostIp"].as_str().unwrap_or(""), b["HostPort"].as_str().unwrap_or(""));
            if want.is_some() {
                println!("{addr}");
            } else {
                println!("{k} -> {addr}");
            }
        }
    }
    if !found && want.is_some() {
        // docker's wording and status for a port that is not published.
        eprintln!("Error: No public port '{}' published for {container}", want.unwrap_or_default());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth top`.
pub async fn top(c: &Client, container: &str) -> anyhow::Result<ExitCode> {
    let v: Value = c.get_json(&format!("/containers/{container}/top"), &[]).await?;
    let mut text = String::new();
    let titles: Vec<String> = v["Titles"].as_array().map(|t| t.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()).unwrap_or_default();
    text.push_str(&titles.join("\t"));
    text.push('\n');
    for row in v["Processes"].as_array().cloned().unwrap_or_default() {
        let cells: Vec<String> = row.as_array().map(|r| r.iter().map(|x| x.as_str().unwrap_or("").to_string()).collect()).unwrap_or_default();
        text.push_str(&cells.join("\t"));
        text.push('\n');
    }
    print!("{}", crate::render::table::align(&text));
    Ok(ExitCode::SUCCESS)
}

/// `berth stats`.
pub async fn stats(c: &Client, a: StatsArgs) -> anyhow::Result<ExitCode> {
    let names: Vec<String> = if a.containers.is_empty() {
        let q = if a.all { vec![("all", "1".to_string())] } else { vec![] };
        let list: Vec<Value> = c.get_json("/containers/json", &q).await?;
        list.iter().filter_map(|v| v["Id"].as_str().map(str::to_string)).collect()
    } else {
        a.containers.clone()
    };
    loop {
        let mut text = String::from("CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS\n");
        for n in &names {
            let v: Value = c.get_json(&format!("/containers/{n}/stats"), &[("stream", "false".to_string())]).await?;
            let cpu = v["cpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0) - v["precpu_stats"]["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
            let sys = v["cpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0) - v["precpu_stats"]["system_cpu_usage"].as_f64().unwrap_or(0.0);
            let ncpu = v["cpu_stats"]["online_cpus"].as_f64().unwrap_or(1.0);
            let pct = if sys > 0.0 && cpu > 0.0 { cpu / sys * ncpu * 100.0 } else { 0.0 };
            let usage = v["memory_stats"]["usage"].as_f64().unwrap_or(0.0);
            let limit = v["memory_stats"]["limit"].as_f64().unwrap_or(0.0);
            let mem_pct = if limit > 0.0 { usage / limit * 100.0 } else { 0.0 };
            text.push_str(&format!(
                "{}\t{}\t{:.2}%\t{} / {}\t{:.2}%\t0B / 0B\t0B / 0B\t{}\n",
                short_id(v["id"].as_str().unwrap_or("")),
                v["name"].as_str().unwrap_or("").trim_start_matches('/'),
                pct,
                crate::render::units::human_binary_size(usage),
                crate::render::units::human_binary_size(limit),
                mem_pct,
                v["pids_stats"]["current"]
            ));
        }
        print!("{}", crate::render::table::align(&text));
        if a.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        print!("\x1b[2J\x1b[H");
    }
}

/// `berth logs`.
pub async fn logs(c: &Client, a: LogsArgs) -> anyhow::Result<ExitCode> {
    let info: Value = c.get_json(&format!("/containers/{}/json", a.container), &[]).await?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let mut q = vec![("stdout", "1".to_string()), ("stderr", "1".to_string()), ("tail", a.tail.clone())];
    if a.follow {
        q.push(("follow", "1".to_string()));
    }
    if a.timestamps {
        q.push(("timestamps", "1".to_string()));
    }
    if let Some(s) = &a.since {
        q.push(("since", event_time(s)?));
    }
    if let Some(u) = &a.until {
        q.push(("until", event_time(u)?));
    }
    let resp = c.request(Method::GET, &format!("/containers/{}/logs", a.container), &q, berth_client::empty(), &[]).await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();
    use http_body_util::BodyExt;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|e| anyhow::anyhow!("reading logs: {e}"))?.into_data() else { continue };
        if tty {
            out.write_all(&data).await?;
            continue;
        }
        buf.extend_from_slice(&data);
        while buf.len() >= 8 {
            let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
            if buf.len() < 8 + len {
                break;
            }
            if buf[0] == 2 {
                err.write_all(&buf[8..8 + len]).await?;
            } else {
                out.write_all(&buf[8..8 + len]).await?;
            }
            buf.drain(..8 + len);
        }
        out.flush().await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `berth container inspect`.
pub async fn inspect(c: &Client, names: Vec<String>, format: Option<String>) -> anyhow::Result<ExitCode> {
    crate::cmd::inspect_each(c, &names, "container", |n| format!("/containers/{n}/json"), format.as_deref()).await
}

/// `berth container prune`.
pub async fn prune(c: &Client, a: PruneArgs) -> anyhow::Result<ExitCode> {
    if !a.force && !crate::cmd::images::confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?") {
        return Ok(ExitCode::SUCCESS);
    }
    let q = vec![("filters", filters_param(&a.filter)?)];
    let r: Value = c.call_json(Method::POST, "/containers/prune", &q).await?;
    crate::cmd::print_deleted("Deleted Containers", &r["ContainersDeleted"]);
    println!("Total reclaimed space: 0B");
    Ok(ExitCode::SUCCESS)
}
