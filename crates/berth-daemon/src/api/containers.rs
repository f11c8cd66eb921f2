//! `/containers/*`: create, list, inspect, start, stop, restart, kill, wait, resize, logs, remove,
//! prune (attach, hijacked or over a WebSocket, is in `attach.rs` and `attach_ws.rs`).

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
use bytes::Bytes;
use std::sync::Arc;

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
        .route("/containers/{id}/attach", post(super::attach::attach))
        .route("/containers/{id}/attach/ws", get(super::attach_ws::attach_ws))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/{alias}", delete(remove_link))
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

pub(super) fn handle(s: &Services, id: &str) -> Result<Arc<Handle>, ApiError> {
    Ok(s.containers.get(id)?)
}

/// Before API 1.44 a container is created on one network; the others are connected afterwards.
const SEVERAL_NETWORKS_AT_CREATE_SINCE: ApiVersion = ApiVersion { major: 1, minor: 44 };
/// `HostConfig.Annotations` came with API 1.43 (ignored before, as dockerd does); container
/// listings show them from 1.46.
const ANNOTATIONS_SINCE: ApiVersion = ApiVersion { major: 1, minor: 43 };
const LISTED_ANNOTATIONS_SINCE: ApiVersion = ApiVersion { major: 1, minor: 46 };
/// `Healthcheck.StartInterval` came with API 1.44 (ignored before, as dockerd does).
const START_INTERVAL_SINCE: ApiVersion = ApiVersion { major: 1, minor: 44 };

async fn create(State(s): S, p: Params, Extension(v): Extension<ApiVersion>, body: Bytes) -> Result<Response, ApiError> {
    let mut req: CreateRequest = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    if v < ANNOTATIONS_SINCE {
        if let Some(h) = req.host_config.as_mut() {
            h.annotations = None;
        }
    }
    if v < START_INTERVAL_SINCE {
        if let Some(hc) = req.config.healthcheck.as_mut() {
            hc.start_interval = None;
        }
    }
    if v < SEVERAL_NETWORKS_AT_CREATE_SINCE {
        let mut names: Vec<&String> = req.networking_config.iter().flat_map(|n| n.endpoints_config.iter().flatten()).map(|(k, _)| k).collect();
        if names.len() > 1 {
            names.sort();
            let list = names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ");
            return Err(ApiError::bad_request(format!("Container cannot be connected to network endpoints: {list}")));
        }
    }
    let name = p.get("name").map(str::to_string);
    let svc = s.clone();
    let (id, warnings) = berth_types::sched::spawn_blocking(move || svc.containers.create_with_warnings(req, name)).await.map_err(ServiceError::from)??;
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": id, "Warnings": warnings})))
}

async fn list(State(s): S, p: Params, Extension(v): Extension<ApiVersion>) -> Result<Response, ApiError> {
    let limit = p.get("limit").and_then(|l| l.parse::<i64>().ok()).filter(|l| *l > 0).map(|l| l as usize);
    let all = p.flag("all") || limit.is_some();
    let svc = s.clone();
    let filters = p.filters()?;
    let size = p.flag("size");
    let mut list = if size {
        heavy(&svc, move |s| s.containers.list_sized(all, limit, &filters, true)).await?
    } else if filters.get("ancestor").is_empty() {
        // Records in memory only (no I/O, and no lock that anyone holds across I/O): computed on
        // the worker, at its priority, as the JSON it becomes is. Handing it to another thread
        // (blocking pool or `block_in_place`) costs thread wake-ups at the daemon's lower priority,
        // which under load were most of `ps`'s time (docs/ARCHITECTURE.md, "Which work runs where").
        s.containers.list_sized(all, limit, &filters, false)?
    } else {
        // `ancestor` looks images up in the image store.
        blocking(&svc, move |s| s.containers.list_sized(all, limit, &filters, false)).await?
    };
    if v < LISTED_ANNOTATIONS_SINCE {
        for c in &mut list {
            if let Some(h) = c.get_mut("HostConfig").and_then(|h| h.as_object_mut()) {
                h.remove("Annotations");
            }
        }
    }
    Ok(json(StatusCode::OK, &list))
}

/// From API 1.45 on, dockerd no longer lists a container's short id among its aliases on a user
/// network (it is in `DNSNames`); older versions see it there.
const SHORT_ID_ALIAS_UNTIL: ApiVersion = ApiVersion { major: 1, minor: 45 };

async fn inspect(State(s): S, Path(id): Path<String>, Extension(v): Extension<ApiVersion>) -> Result<Response, ApiError> {
    let mut out = s.containers.inspect(&id)?;
    if v >= SHORT_ID_ALIAS_UNTIL {
        let short: String = out["Id"].as_str().unwrap_or("").chars().take(12).collect();
        if let Some(nets) = out.pointer_mut("/NetworkSettings/Networks").and_then(|n| n.as_object_mut()) {
            for ep in nets.values_mut() {
                if let Some(a) = ep.get_mut("Aliases").and_then(|a| a.as_array_mut()) {
                    a.retain(|x| x.as_str() != Some(short.as_str()));
                }
            }
        }
    }
    Ok(json(StatusCode::OK, &out))
}

async fn start(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let changed = s.containers.start(&h).await?;
    Ok(if changed { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED }.into_response())
}

fn timeout(p: &Params) -> Result<Option<i64>, ApiError> {
    p.get("t").or(p.get("timeout")).filter(|t| !t.is_empty()).map(|t| t.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid timeout {t:?}")))).transpose()
}

/// `signal` on stop and restart came with API 1.42; older requests stop with the container's own
/// stop signal, as dockerd does.
const STOP_SIGNAL_SINCE: ApiVersion = ApiVersion { major: 1, minor: 42 };

fn stop_signal(p: &Params, v: ApiVersion) -> Option<&str> {
    p.get("signal").filter(|s| !s.is_empty() && v >= STOP_SIGNAL_SINCE)
}

async fn stop(State(s): S, Path(id): Path<String>, p: Params, Extension(v): Extension<ApiVersion>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let changed = s.containers.stop(&h, timeout(&p)?, stop_signal(&p, v)).await?;
    Ok(if changed { StatusCode::NO_CONTENT } else { StatusCode::NOT_MODIFIED }.into_response())
}

async fn restart(State(s): S, Path(id): Path<String>, p: Params, Extension(v): Extension<ApiVersion>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    s.containers.restart(&h, timeout(&p)?, stop_signal(&p, v)).await?;
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
    let num = |k: &str| super::exec::dimension(&p, k);
    s.containers.resize(&h, num("h")?, num("w")?).await?;
    Ok(StatusCode::OK.into_response())
}

async fn remove(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    if p.flag("link") {
        // A container's own name is not a link (dockerd's rmLink refuses it).
        return Err(ApiError::new(StatusCode::CONFLICT, "Conflict, cannot remove the default link name of the container"));
    }
    s.containers.remove(&h, p.flag("force"), p.flag("v")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /containers/{parent}/{alias}?link=1`: removes a legacy link. Without `link`, the path
/// is a name of the linked container (dockerd registers link paths as names), which is removed as
/// `DELETE /containers/{id}` removes a container.
async fn remove_link(State(s): S, Path((parent, alias)): Path<(String, String)>, p: Params) -> Result<Response, ApiError> {
    if !p.flag("link") {
        let child = blocking(&s, move |s| s.containers.linked_child(&parent, &alias)).await?;
        let h = handle(&s, &child)?;
        s.containers.remove(&h, p.flag("force"), p.flag("v")).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    blocking(&s, move |s| s.containers.remove_link(&parent, &alias)).await?;
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

async fn top(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let ps_args = p.get("ps_args").filter(|a| !a.is_empty()).map(str::to_string);
    Ok(json(StatusCode::OK, &blocking(&s, move |s| s.containers.top(&h, ps_args.as_deref())).await?))
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
async fn commit(State(s): S, p: Params, body: Bytes) -> Result<Response, ApiError> {
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
        // No body, or `null` (Go clients encode a nil config so): the container's config.
        config: if body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            serde_json::from_slice::<Option<berth_api::config::ContainerConfig>>(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?
        },
        pause: p.flag_or("pause", true),
    };
    let svc = s.clone();
    let id = berth_types::sched::spawn_blocking(move || svc.containers.commit(&h, &opts)).await.map_err(ServiceError::from)??;
    Ok(json(StatusCode::CREATED, &serde_json::json!({"Id": id.to_string()})))
}

async fn export(State(s): S, Path(id): Path<String>) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let (mut w, body) = super::stream::channel_body();
    let svc = s.clone();
    berth_types::sched::spawn_blocking(move || {
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
    let pending = blocking(&s, move |s| s.containers.update_with_warnings(&h, &u)).await?;
    let mut warnings = crate::service::containers::update_warnings(&body);
    warnings.extend(pending);
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
    let stat = berth_types::sched::spawn_blocking(move || svc.containers.archive_stat(&h, &path)).await.map_err(ServiceError::from)??;
    Ok((StatusCode::OK, [("X-Docker-Container-Path-Stat", stat_header(&stat))]).into_response())
}

async fn archive_get(State(s): S, Path(id): Path<String>, p: Params) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let path = path_param(&p)?;
    let (svc, h2, path2) = (s.clone(), h.clone(), path.clone());
    // The stat goes in a header, so a missing path is a 404 before any of the body is sent.
    let stat = berth_types::sched::spawn_blocking(move || svc.containers.archive_stat(&h2, &path2)).await.map_err(ServiceError::from)??;
    let (mut w, body) = super::stream::channel_body();
    let svc = s.clone();
    berth_types::sched::spawn_blocking(move || {
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
    berth_types::sched::spawn_blocking(move || svc.containers.archive_put(&h, &path, reader, no_overwrite, copy_uid_gid)).await.map_err(ServiceError::from)??;
    Ok(StatusCode::OK.into_response())
}
