//! Verbs that change a container's state: start, stop, restart, kill, rm, wait, pause, rename, update.

#[allow(unused_imports)]
use super::*;

/// `berth start`.
pub async fn start(c: &Client, a: StartArgs) -> anyhow::Result<ExitCode> {
    if a.attach || a.interactive {
        let name = a.containers.first().cloned().unwrap_or_default();
        let info: Value = c.get_json(&format!("/containers/{name}/json"), &[]).await?;
        let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
        let mut q = vec![("stream", "1".to_string()), ("stdout", "1".to_string()), ("stderr", "1".to_string())];
        if a.interactive {
            q.push(("stdin", "1".to_string()));
        }
        let conn = c.hijack(&format!("/containers/{name}/attach"), &q, berth_client::empty()).await?;
        let waiter = registered_wait(c, &name, "next-exit").await?;
        c.request(Method::POST, &format!("/containers/{name}/start"), &[], berth_client::empty(), &[]).await?;
        let raw = RawTerminal::enable(tty && a.interactive);
        pump(conn, tty, a.interactive).await;
        drop(raw);
        let r = waiter.await??;
        return Ok(ExitCode::from(r["StatusCode"].as_i64().unwrap_or(0).clamp(0, 255) as u8));
    }
    each(&a.containers, |n| async move { c.request(Method::POST, &format!("/containers/{n}/start"), &[], berth_client::empty(), &[]).await.map(|_| n) }).await
}

pub(super) async fn each<F, Fut>(names: &[String], f: F) -> anyhow::Result<ExitCode>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<String, ClientError>>,
{
    let mut failed = false;
    for n in names {
        match f(n.clone()).await {
            Ok(out) => println!("{out}"),
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `berth stop` and `berth restart`.
pub async fn stop(c: &Client, a: StopArgs, verb: &str) -> anyhow::Result<ExitCode> {
    let mut q = vec![];
    if let Some(t) = a.time {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = &a.signal {
        q.push(("signal", s.clone()));
    }
    let q = &q;
    each(&a.containers, |n| async move { c.request(Method::POST, &format!("/containers/{n}/{verb}"), q, berth_client::empty(), &[]).await.map(|_| n) }).await
}

/// `berth kill`.
pub async fn kill(c: &Client, a: KillArgs) -> anyhow::Result<ExitCode> {
    let q = &[("signal", a.signal.clone())];
    each(&a.containers, |n| async move { c.request(Method::POST, &format!("/containers/{n}/kill"), q, berth_client::empty(), &[]).await.map(|_| n) }).await
}

/// `berth rm`.
pub async fn rm(c: &Client, a: RmArgs) -> anyhow::Result<ExitCode> {
    let mut q = vec![];
    if a.force {
        q.push(("force", "1".to_string()));
    }
    if a.volumes {
        q.push(("v", "1".to_string()));
    }
    let q = &q;
    each(&a.containers, |n| async move { c.request(Method::DELETE, &format!("/containers/{n}"), q, berth_client::empty(), &[]).await.map(|_| n) }).await
}

/// `berth wait`.
pub async fn wait(c: &Client, a: NamesArgs) -> anyhow::Result<ExitCode> {
    each(&a.containers, |n| async move {
        c.call_json::<Value>(Method::POST, &format!("/containers/{n}/wait"), &[]).await.map(|v| v["StatusCode"].to_string())
    })
    .await
}

/// `berth pause` / `berth unpause`.
pub async fn pause(c: &Client, a: NamesArgs, verb: &str) -> anyhow::Result<ExitCode> {
    each(&a.containers, |n| async move { c.request(Method::POST, &format!("/containers/{n}/{verb}"), &[], berth_client::empty(), &[]).await.map(|_| n) }).await
}

/// `berth rename`.
pub async fn rename(c: &Client, container: &str, new: &str) -> anyhow::Result<ExitCode> {
    c.request(Method::POST, &format!("/containers/{container}/rename"), &[("name", new.to_string())], berth_client::empty(), &[]).await?;
    Ok(ExitCode::SUCCESS)
}

/// `berth update`.
pub async fn update(c: &Client, a: UpdateArgs) -> anyhow::Result<ExitCode> {
    let mut body = Map::new();
    if let Some(m) = &a.memory {
        body.insert("Memory".into(), json!(parse_size(m)?));
    }
    if let Some(m) = &a.memory_swap {
        body.insert("MemorySwap".into(), json!(if m == "-1" { -1 } else { parse_size(m)? }));
    }
    if let Some(n) = a.cpus {
        body.insert("NanoCpus".into(), json!((n * 1e9) as i64));
    }
    if let Some(s) = a.cpu_shares {
        body.insert("CpuShares".into(), json!(s));
    }
    if let Some(s) = &a.cpuset_cpus {
        body.insert("CpusetCpus".into(), json!(s));
    }
    if let Some(p) = a.pids_limit {
        body.insert("PidsLimit".into(), json!(p));
    }
    if let Some(r) = &a.restart {
        let (name, max) = r.split_once(':').unwrap_or((r, "0"));
        body.insert("RestartPolicy".into(), json!({"Name": name, "MaximumRetryCount": max.parse::<i64>().unwrap_or(0)}));
    }
    let body = Value::Object(body);
    let body = &body;
    each(&a.containers, |n| async move { c.post_json::<_, Value>(&format!("/containers/{n}/update"), &[], body).await.map(|_| n) }).await
}
