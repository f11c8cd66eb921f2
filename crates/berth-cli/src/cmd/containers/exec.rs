//! `berth exec`.

#[allow(unused_imports)]
use super::*;

/// `berth exec`.
pub async fn exec(c: &Client, a: ExecArgs) -> anyhow::Result<ExitCode> {
    let mut env = Vec::new();
    for f in &a.env_file {
        env.extend(read_kv_file(f, KvKind::Env)?);
    }
    env.extend(a.env.iter().filter_map(|e| if e.contains('=') { Some(e.clone()) } else { std::env::var(e).ok().map(|v| format!("{e}={v}")) }));
    let body = json!({
        "AttachStdin": a.interactive && !a.detach, "AttachStdout": !a.detach, "AttachStderr": !a.detach,
        "Tty": a.tty, "Cmd": a.command, "Env": env, "WorkingDir": a.workdir.clone().unwrap_or_default(),
        "User": a.user.clone().unwrap_or_default(), "Privileged": a.privileged,
        "DetachKeys": a.detach_keys.clone().unwrap_or_default(),
    });
    let created: Value = match c.post_json(&format!("/containers/{}/exec", a.container), &[], &body).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(125));
        }
    };
    let id = created["Id"].as_str().unwrap_or("").to_string();
    let start = json!({"Detach": a.detach, "Tty": a.tty});
    if a.detach {
        c.post_json::<_, Value>(&format!("/exec/{id}/start"), &[], &start).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let conn = match c.hijack(&format!("/exec/{id}/start"), &[], berth_client::bytes(serde_json::to_vec(&start)?)).await {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("{e}");
            return Ok(start_exit_code(&e.into()));
        }
    };
    let raw = RawTerminal::enable(a.tty && a.interactive);
    let resizer = if a.tty { forward_window_size(c, format!("/exec/{id}")) } else { None };
    pump(conn, a.tty, a.interactive).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    let info: Value = c.get_json(&format!("/exec/{id}/json"), &[]).await?;
    // Still running: the user typed the detach keys, and the process goes on (docker exits 0).
    if info["Running"] == json!(true) {
        return Ok(ExitCode::SUCCESS);
    }
    Ok(ExitCode::from(info["ExitCode"].as_i64().unwrap_or(126).clamp(0, 255) as u8))
}
