//! `/containers/*`: create, list, inspect, start, stop, restart, kill, wait, attach (hijacked
//! connection), resize, logs, remove, prune.

use super::{blocking, heavy, json, ApiError, Params};
use crate::service::containers::{Handle, LogOptions};
use crate::service::{ServiceError, Services};
use axum::body::Body;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use berth_api::container::CreateRequest;
use berth_api::version::ApiVersion;
use berth_shim::ShimHello;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type S = State<Arc<Services>>;

pub fn routes() -> Router<Arc<Services>> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/archive", get(archive_get).head(archive_head).put(archive_put))
        .route("/containers/{id}/update", post(update))
        .route("/commit", post(commit))
}

fn handle(s: &Services, id: &str) -> Result<Arc<Handle>, ApiError> {
    Ok(s.containers.get(id)?)
}

async fn create(State(s): S, p: Params, body: Bytes) -> Result<Response, ApiError> {
    let req: CreateRequest = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let name = p.get("name").map(str::to_string);
    let svc = s.clone();
    let (id, warnings) = tokio::task::spawn_blocking(move || svc.containers.create_with_warnings(req, name)).await.map_err(ServiceError::from)??;
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": id, "Warnings": warnings})))
}

async fn list(State(s): S, p: Params) -> Result<Response, ApiError> {
    let limit = p.get("limit").and_then(|l| l.parse::<i64>().ok()).filter(|l| *l > 0).map(|l| l as usize);
    let all = p.flag("all") || limit.is_some();
    let svc = s.clone();
    let filters = p.filters()?;
    let size = p.flag("size");
    let list = if size {
        heavy(&svc, move |s| s.containers.list_sized(all, limit, &filters, true)).await?
    } else {
        blocking(&svc, move |s| s.containers.list_sized(all, limit, &filters, false)).await?
    };
    Ok(json(StatusCode::OK, &list))
}

async fn inspect(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &s.containers.inspect(&id)?))
}

async fn start(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let changed = s.containers.start(&h).await?;
    Ok(if changed { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED }.into_response())
}

fn timeout(p: &Params) -> Result<Option<i64>, ApiError> {
    p.get("t").or(p.get("timeout")).filter(|t| !t.is_empty()).map(|t| t.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid timeout {t:?}")))).transpose()
}

async fn stop(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let changed = s.containers.stop(&h, timeout(&p)?, p.get("signal").filter(|v| !v.is_empty())).await?;
    Ok(if changed { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED }.into_response())
}

async fn restart(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    s.containers.restart(&h, timeout(&p)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn kill(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    s.containers.kill_and_wait(&h, p.get("signal").unwrap_or("SIGKILL")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn wait(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let condition = p.get("condition").unwrap_or("").to_string();
    if !["", "not-running", "next-exit", "removed"].contains(&condition.as_str()) {
        return Err(ApiError::bad_request(format!("invalid condition: {condition:?}")));
    }
    // The wait is registered before the headers go out, and they go out at once (clients wait on
    // the body), as dockerd does: a client that starts the container once it has the headers
    // (`run`, `start -a`) sees even an exit that comes before its next request.
    let waiting = s.containers.waiter(&h, &condition)?;
    let (tx, rx) = tokio::sync::oneshot::channel::<Bytes>();
    tokio::spawn(async move {
        let (code, err) = waiting.await;
        let body = serde_json::json!({"StatusCode": code, "Error": err.map(|m| serde_json::json!({"Message": m}))});
        let _ = tx.send(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
    });
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(rx.await.unwrap_or_default()) });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

async fn resize(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let num = |k: &str| p.get(k).and_then(|v| v.parse::<u16>().ok()).ok_or_else(|| ApiError::bad_request(format!("invalid {k}")));
    s.containers.resize(&h, num("h")?, num("w")?).await?;
    Ok(StatusCode::OK.into_response())
}

async fn remove(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    s.containers.remove(&h, p.flag("force"), p.flag("v")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(s): S, p: Params) -> Result<Response, ApiError> {
    let filters = p.filters()?;
    filters.validate(&["until", "label", "label!"]).map_err(ApiError::bad_request)?;
    let until = filters.get("until").iter().map(|u| crate::service::images::parse_time(u).map(|t| t as i64)).collect::<Result<Vec<_>, _>>()?;
    let (mut deleted, mut reclaimed) = (Vec::new(), 0i64);
    // Sizes (a walk of each writable layer) only for the containers prune may remove.
    let stopped = crate::filters::Filters::parse(r#"{"status":["exited","created","dead"]}"#).map_err(ApiError::bad_request)?;
    for v in heavy(&s, move |s| s.containers.list_sized(true, None, &stopped, true)).await? {
        let labels: std::collections::BTreeMap<String, String> = serde_json::from_value(v["Labels"].clone()).unwrap_or_default();
        let created = v["Created"].as_i64().unwrap_or(0);
        if !filters.labels_allow(&labels) || until.iter().any(|u| created > *u) {
            continue;
        }
        let id = v["Id"].as_str().unwrap_or("").to_string();
        if let Ok(h) = s.containers.get(&id) {
            if s.containers.remove(&h, false, false).await.is_ok() {
                deleted.push(id);
                reclaimed += v["SizeRw"].as_i64().unwrap_or(0);
            }
        }
    }
    crate::metrics::get().gc_run("containers", reclaimed.max(0) as u64);
    Ok(json(StatusCode::OK, &serde_json::json!({"ContainersDeleted": deleted, "SpaceReclaimed": reclaimed})))
}

async fn logs(State(s): S, Path(id): Path<String>, p: Params, Extension(v): Extension<ApiVersion>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    crate::service::containers::check_logs_readable(&h)?;
    let (stdout, stderr) = (p.flag("stdout"), p.flag("stderr"));
    if !stdout && !stderr {
        return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
    }
    let time = |k: &str| -> Result<Option<f64>, ApiError> {
        match p.get(k).filter(|v| !v.is_empty() && *v != "0") {
            Some(v) => Ok(Some(crate::service::images::parse_time(v)?)),
            None => Ok(None),
        }
    };
    let opts = LogOptions {
        stdout,
        stderr,
        follow: p.flag("follow"),
        tail: p.get("tail").filter(|t| *t != "all" && !t.is_empty()).and_then(|t| t.parse().ok()),
        since: time("since")?,
        until: time("until")?,
        timestamps: p.flag("timestamps"),
    };
    let tty = h.snapshot().config.tty.unwrap_or(false);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let svc = s.clone();
    tokio::spawn(async move {
        if let Err(e) = svc.containers.logs(h, opts, tx).await {
            tracing::warn!(error = %e, "log streaming failed");
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx)) });
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    // Before API 1.42 dockerd sent logs without a content type.
    if v >= MULTIPLEXED_TYPE_SINCE {
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(stream_type(tty, v)));
    }
    Ok(resp)
}

/// From API 1.42 on, dockerd names a multiplexed stream's content type as such; before, every
/// attach, exec and log stream was `raw-stream`.
const MULTIPLEXED_TYPE_SINCE: ApiVersion = ApiVersion { major: 1, minor: 42 };

pub(super) fn stream_type(tty: bool, v: ApiVersion) -> &'static str {
    if tty || v < MULTIPLEXED_TYPE_SINCE {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    }
}

/// `POST /containers/{id}/attach`: the connection is hijacked (101 `Upgrade: tcp`) and becomes a
/// raw duplex stream between the client and the container's shim.
async fn attach(State(s): S, Path(id): Path<String>, p: Params, Extension(v): Extension<ApiVersion>, mut req: Request) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let rec = h.snapshot();
    let tty = rec.config.tty.unwrap_or(false);
    if !p.flag("stream") && !p.flag("logs") {
        return Err(ApiError::bad_request("Bad parameters: at least one of stream or logs must be set"));
    }
    // A stopped container is attached to until its next start (`docker start -a`); refusing that
    // is the docker CLI's business (`docker attach`), as with dockerd.
    if rec.state.status == crate::service::containers::Status::Paused {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("container {} is paused, unpause the container before attach.", rec.name)));
    }
    let hello = ShimHello::Attach { stdin: p.flag("stdin"), stdout: p.flag("stdout"), stderr: p.flag("stderr") };
    let upgrade = req.headers().get(header::UPGRADE).is_some();
    let settle = buffered_upgrade_client(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let want_stdin = p.flag("stdin");
    let keys = detach_keys(p.get("detachKeys"))?;
    let ticket = s.containers.attach(&h, hello)?;
    tokio::spawn(async move {
        let shim = ticket.connect().await;
        let Ok(upgraded) = on_upgrade.await else { return };
        let mut client = TokioIo::new(upgraded);
        let shim = match shim {
            Ok(sh) => sh,
            Err(e) => {
                let _ = client.write_all(format!("Error: {e}\n").as_bytes()).await;
                let _ = client.shutdown().await;
                return;
            }
        };
        relay(client, shim, tty, want_stdin, keys, None, settle).await;
    });
    Ok(hijacked(upgrade, tty, v))
}

/// The response that hands the connection over to a stream: `101 UPGRADED` when the client asked
/// for an upgrade, else 200, with the stream's content type.
pub(super) fn hijacked(upgrade: bool, tty: bool, v: ApiVersion) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = if upgrade { StatusCode::SWITCHING_PROTOCOLS } else { StatusCode::OK };
    let hdrs = resp.headers_mut();
    hdrs.insert(header::CONTENT_TYPE, HeaderValue::from_static(stream_type(tty, v)));
    if upgrade {
        hdrs.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        hdrs.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    }
    resp
}

/// The bytes of a detach key sequence as dockerd reads it (`ctrl-p,ctrl-q`, `ctrl-a,a`): comma
/// separated keys, each one character or `ctrl-` and one of `a`-`z @ [ \ ] ^ _`. Empty or absent:
/// Docker's default, ctrl-p ctrl-q.
pub(super) fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let spec = spec.filter(|s| !s.is_empty()).unwrap_or("ctrl-p,ctrl-q");
    let bad = || ApiError::bad_request(format!("Invalid detach keys ({spec}) provided"));
    let mut keys = Vec::new();
    for key in spec.split(',') {
        let key = key.trim();
        match key.strip_prefix("ctrl-") {
            Some(c) if c.len() == 1 => {
                let c = c.as_bytes()[0].to_ascii_lowercase();
                keys.push(match c {
                    b'a'..=b'z' => c - b'a' + 1,
                    b'@' => 0,
                    b'[' => 27,
                    b'\\' => 28,
                    b']' => 29,
                    b'^' => 30,
                    b'_' => 31,
                    _ => return Err(bad()),
                });
            }
            _ if key.len() == 1 && key.is_ascii() => keys.push(key.as_bytes()[0]),
            _ => return Err(bad()),
        }
    }
    Ok(keys)
}

/// Clients that read the `101` response through a buffered reader and then take the raw socket
/// (docker-py) lose whatever arrives together with the headers. dockerd's output never does, as
/// runc takes tens of milliseconds to start a process; Berth's exec is faster, so for these clients
/// the first output waits a moment.
pub(super) fn buffered_upgrade_client<B>(req: &axum::http::Request<B>) -> bool {
    req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).is_some_and(|ua| ua.starts_with("docker-sdk-python"))
}

/// Copies output from the shim to the client (dropping frame headers for a TTY) and the client's
/// input to the shim, until the shim closes (the container exited) or the client goes away.
pub(super) async fn relay<C>(
    client: C,
    shim: tokio::net::UnixStream,
    tty: bool,
    stdin: bool,
    detach_keys: Vec<u8>,
    mut before_close: Option<tokio::sync::watch::Receiver<(bool, Option<i64>, i32)>>,
    settle: bool,
) where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if settle {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (mut c_read, mut c_write) = tokio::io::split(client);
    let (mut s_read, mut s_write) = shim.into_split();
    let detached = Arc::new(tokio::sync::Notify::new());
    let on_detach = detached.clone();
    // Returns the shim's write half when the client detached: it must stay open (closing it would
    // close the container's stdin), so it is parked with the read half below.
    let input = tokio::spawn(async move {
        if !stdin {
            // Still read, so a closing client is noticed; input is discarded.
            let _ = tokio::io::copy(&mut c_read, &mut tokio::io::sink()).await;
            let _ = s_write.shutdown().await;
            return None;
        }
        // The detach keys (Docker's default ctrl-p ctrl-q, or the client's `detachKeys`), typed
        // with a TTY, end the attach and leave the container running; a partial match is held
        // back until the next key shows whether it continues, and passed through if not.
        let mut buf = vec![0u8; 16 * 1024];
        let mut matched = 0usize;
        loop {
            let n = match c_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut out = Vec::with_capacity(n + detach_keys.len());
            for &b in &buf[..n] {
                if !tty || detach_keys.is_empty() {
                    out.push(b);
                    continue;
                }
                if b != detach_keys[matched] && matched > 0 {
                    out.extend_from_slice(&detach_keys[..matched]);
                    matched = 0;
                }
                if b == detach_keys[matched] {
                    matched += 1;
                    if matched == detach_keys.len() {
                        on_detach.notify_one();
                        return Some(s_write);
                    }
                } else {
                    out.push(b);
                }
            }
            if s_write.write_all(&out).await.is_err() {
                break;
            }
        }
        let _ = s_write.shutdown().await;
        None
    });
    let mut header = [0u8; 8];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let got = tokio::select! {
            r = s_read.read_exact(&mut header) => r.is_ok(),
            _ = detached.notified() => false,
        };
        if !got {
            break;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut left = len;
        if !tty && c_write.write_all(&header).await.is_err() {
            break;
        }
        let mut failed = false;
        while left > 0 {
            let n = left.min(buf.len());
            if s_read.read_exact(&mut buf[..n]).await.is_err() || c_write.write_all(&buf[..n]).await.is_err() {
                failed = true;
                break;
            }
            left -= n;
        }
        if failed {
            break;
        }
    }
    if input.is_finished() {
        if let Ok(Some(w)) = input.await {
            // Detached: keep the shim connection (and so the container's stdin) open until it ends.
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut s_read, &mut tokio::io::sink()).await;
                drop(w);
            });
            let _ = c_write.shutdown().await;
            return;
        }
    } else {
        input.abort();
    }
    // An exec's client asks for the exit code right after the stream ends: record it first.
    if let Some(rx) = before_close.as_mut() {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), rx.wait_for(|s| !s.0 && s.1.is_some())).await;
    }
    let _ = c_write.flush().await;
    let _ = c_write.shutdown().await;
}

async fn pause(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    blocking(&s, move |s| s.containers.pause(&h)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unpause(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    blocking(&s, move |s| s.containers.unpause(&h)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rename(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let name = p.get("name").filter(|n| !n.is_empty()).ok_or_else(|| ApiError::bad_request("name is required"))?.to_string();
    let h = handle(&s, &id)?;
    blocking(&s, move |s| s.containers.rename(&h, &name)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn top(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    Ok(json(StatusCode::OK, &blocking(&s, move |s| s.containers.top(&h)).await?))
}

/// `stream=false` answers one sample (with a pre-sample a moment earlier, so CPU % can be computed);
/// otherwise one sample per second until the client goes away or the container stops.
async fn stats(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let stream = p.flag_or("stream", true);
    let one_shot = p.flag("one-shot");
    if !stream {
        let pre = if one_shot { None } else {
            let h = h.clone();
            let first = blocking(&s, move |s| Ok(s.containers.stats_sample(&h, None))).await?;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            Some(first)
        };
        return Ok(json(StatusCode::OK, &blocking(&s, move |s| Ok(s.containers.stats_sample(&h, pre.as_ref()))).await?));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let svc = s.clone();
    tokio::spawn(async move {
        let mut pre: Option<serde_json::Value> = None;
        loop {
            // cgroup and /proc reads.
            let (h2, before) = (h.clone(), pre.take());
            let Ok(v) = blocking(&svc, move |s| Ok(s.containers.stats_sample(&h2, before.as_ref()))).await else { return };
            let mut line = serde_json::to_vec(&v).unwrap_or_default();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
            pre = Some(v);
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx)) });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response())
}

async fn changes(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let changes = heavy(&s, move |s| s.containers.changes(&h)).await?;
    // dockerd answers `null` for a container without changes.
    Ok(json(StatusCode::OK, &if changes.as_array().is_some_and(|a| a.is_empty()) { serde_json::Value::Null } else { changes }))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=`.
async fn commit(State(s): S, p: Params) -> Result<Response, ApiError> {
    let container = p.get("container").filter(|c| !c.is_empty()).ok_or_else(|| ApiError::bad_request("container is required"))?;
    let h = handle(&s, container)?;
    let repo = p.get("repo").unwrap_or("");
    let reference = if repo.is_empty() {
        None
    } else {
        Some(berth_types::Reference::from_repo_tag(repo, p.get("tag").unwrap_or("")).map_err(|e| ApiError::bad_request(e.to_string()))?)
    };
    let opts = crate::service::containers::CommitOptions {
        reference,
        comment: p.get("comment").unwrap_or("").to_string(),
        author: p.get("author").unwrap_or("").to_string(),
        changes: p.all("changes"),
    };
    let svc = s.clone();
    let id = tokio::task::spawn_blocking(move || svc.containers.commit(&h, &opts)).await.map_err(ServiceError::from)??;
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": id.to_string()})))
}

async fn export(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let (mut w, body) = super::stream::channel_body();
    let svc = s.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = svc.containers.export(&h, &mut w) {
            tracing::warn!(error = %e, "export failed mid-stream");
            w.fail(std::io::Error::other(e.to_string()));
        }
    });
    // dockerd's content type for an export.
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

async fn update(State(s): S, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let u: crate::service::containers::UpdateRequest = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let warnings = blocking(&s, move |s| s.containers.update_with_warnings(&h, &u)).await?;
    // dockerd's update answers `"Warnings": null` when there are none.
    Ok(json(StatusCode::OK, &serde_json::json!({"Warnings": (!warnings.is_empty()).then_some(warnings)})))
}

fn path_param(p: &Params) -> Result<String, ApiError> {
    p.get("path").filter(|x| !x.is_empty()).map(str::to_string).ok_or_else(|| ApiError::bad_request("path is required"))
}

fn stat_header(stat: &berth_snapshot::copy::PathStat) -> HeaderValue {
    use base64::Engine;
    let json = serde_json::to_vec(stat).unwrap_or_default();
    HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(json)).unwrap_or(HeaderValue::from_static(""))
}

async fn archive_head(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let path = path_param(&p)?;
    let svc = s.clone();
    let stat = tokio::task::spawn_blocking(move || svc.containers.archive_stat(&h, &path)).await.map_err(ServiceError::from)??;
    Ok((StatusCode::OK, [("X-Docker-Container-Path-Stat", stat_header(&stat))]).into_response())
}

async fn archive_get(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let path = path_param(&p)?;
    let (svc, h2, path2) = (s.clone(), h.clone(), path.clone());
    // The stat goes in a header, so a missing path is a 404 before any of the body is sent.
    let stat = tokio::task::spawn_blocking(move || svc.containers.archive_stat(&h2, &path2)).await.map_err(ServiceError::from)??;
    let (mut w, body) = super::stream::channel_body();
    let svc = s.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = svc.containers.archive_get(&h, &path, &mut w) {
            tracing::warn!(error = %e, "archive failed mid-stream");
            w.fail(std::io::Error::other(e.to_string()));
        }
    });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar")), (header::HeaderName::from_static("x-docker-container-path-stat"), stat_header(&stat))], body).into_response())
}

async fn archive_put(State(s): S, Path(id): Path<String>, p: Params, req: Request) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let path = path_param(&p)?;
    let no_overwrite = p.flag("noOverwriteDirNonDir");
    let copy_uid_gid = p.flag("copyUIDGID");
    let reader = super::stream::body_reader(req.into_body());
    let svc = s.clone();
    tokio::task::spawn_blocking(move || svc.containers.archive_put(&h, &path, reader, no_overwrite, copy_uid_gid)).await.map_err(ServiceError::from)??;
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::detach_keys;

    #[test]
    fn detach_keys_read_as_dockerd_reads_them() {
        assert_eq!(detach_keys(None).unwrap(), vec![0x10, 0x11]);
        assert_eq!(detach_keys(Some("")).unwrap(), vec![0x10, 0x11]);
        assert_eq!(detach_keys(Some("ctrl-a,a")).unwrap(), vec![0x01, b'a']);
        assert_eq!(detach_keys(Some("ctrl-@,ctrl-[,ctrl-\\,ctrl-_")).unwrap(), vec![0, 27, 28, 31]);
        for bad in ["ctrl-", "ctrl-1", "ab", "ctrl-a,,b"] {
            assert!(detach_keys(Some(bad)).is_err(), "{bad}");
        }
    }
}
