//! `/images/*`: list, create (import), load, get (save), prune, and the per-image verbs.
//! Image names contain `/` and `:`, so per-image routes take the rest of the path and split off
//! the verb themselves (Docker's router does the same with `{name:.*}`).

use super::stream::{body_reader, channel_body};
use super::{blocking, heavy, json, ApiError, Params};
use crate::service::build::{download_client, MAX_DOWNLOAD};
use crate::service::images::ListOptions;
use crate::service::{ServiceError, Services};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_api::progress::JsonMessage;
use berth_image::import::ImportOptions;
use berth_types::Reference;
use futures_util::TryStreamExt;
use std::sync::Arc;

type S = State<Arc<Services>>;

pub fn routes() -> Router<Arc<Services>> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route("/images/load", post(load))
        .route("/images/get", get(save_many))
        .route("/images/prune", post(prune))
        .route("/images/search", get(search))
        .route("/distribution/{*rest}", get(distribution_inspect))
        .route("/images/{*rest}", get(get_verb).post(post_verb).delete(delete))
}

async fn list(State(s): S, p: Params) -> Result<Response, ApiError> {
    let opts = ListOptions { all: p.flag("all"), filters: p.filters()? };
    let mut list = s.images.list(&opts)?;
    let users = s.containers.image_users();
    for i in &mut list {
        i.containers = users.get(&i.id).map(|u| u.len() as i64).unwrap_or(0);
    }
    Ok(json(StatusCode::OK, &list))
}

fn split_verb<'a>(rest: &'a str, verbs: &[&str]) -> Option<(&'a str, &'a str)> {
    let (name, verb) = rest.rsplit_once('/')?;
    (verbs.contains(&verb) && !name.is_empty()).then_some((name, verb))
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "page not found")
}

async fn get_verb(State(s): S, Path(rest): Path<String>) -> Result<Response, ApiError> {
    let (name, verb) = split_verb(&rest, &["json", "history", "get"]).ok_or_else(not_found)?;
    match verb {
        "json" => Ok(json(StatusCode::OK, &s.images.inspect(name)?)),
        "history" => Ok(json(StatusCode::OK, &s.images.history(name)?)),
        _ => save(s, vec![name.to_string()]).await,
    }
}

async fn post_verb(State(s): S, Path(rest): Path<String>, p: Params, headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    let (name, verb) = split_verb(&rest, &["tag", "push"]).ok_or_else(not_found)?;
    match verb {
        "tag" => {
            let repo = p.get("repo").unwrap_or("");
            if repo.is_empty() {
                return Err(ApiError::bad_request("repository name must have at least one component"));
            }
            let (name, repo, tag) = (name.to_string(), repo.to_string(), p.get("tag").unwrap_or("").to_string());
            blocking(&s, move |s| s.images.tag(&name, &repo, &tag)).await?;
            Ok(StatusCode::CREATED.into_response())
        }
        _ => {
            let tag = p.get("tag").unwrap_or("");
            let reference = Reference::from_repo_tag(name, tag).map_err(|e| ApiError::bad_request(e.to_string()))?;
            let creds = registry_auth(&headers);
            progress_stream(move |tx| async move { s.distribution.push(&reference, creds, tx).await }).await
        }
    }
}

async fn delete(State(s): S, Path(name): Path<String>, p: Params) -> Result<Response, ApiError> {
    let (force, noprune) = (p.flag("force"), p.flag("noprune"));
    let items = blocking(&s, move |s| s.images.delete(&name, force, noprune, &s.containers.image_users())).await?;
    // What the image alone held (blobs, unpacked snapshots) goes now.
    s.gc.collect_async().await?;
    Ok(json(StatusCode::OK, &items))
}

/// `GET /images/search?term=&limit=&filters=`: the registry's search results, filtered as dockerd
/// filters them (`stars`, `is-official`, `is-automated`).
async fn search(State(s): S, p: Params, headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    let filters = p.filters()?;
    filters.validate(&["stars", "is-official", "is-automated"]).map_err(ApiError::bad_request)?;
    let stars = match filters.get("stars") {
        [] => 0,
        values => values.iter().map(|v| v.parse::<u64>().map_err(|_| ApiError::bad_request(format!("invalid filter 'stars={v}'")))).collect::<Result<Vec<_>, _>>()?.into_iter().max().unwrap_or(0),
    };
    let official = filters.bool("is-official").map_err(ApiError::bad_request)?;
    let automated = filters.bool("is-automated").map_err(ApiError::bad_request)?;
    let limit = match p.get("limit").filter(|l| !l.is_empty()) {
        None => 25,
        Some(l) => l.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
    };
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit {limit} is outside the range of [1, 100]")));
    }
    let term = p.get("term").unwrap_or("").to_string();
    let results = s.distribution.search(&term, limit as usize, registry_auth(&headers)).await?;
    let kept: Vec<_> = results
        .into_iter()
        .filter(|r| r.star_count >= stars && official.is_none_or(|o| r.is_official == o) && automated.is_none_or(|a| r.is_automated == a))
        .collect();
    Ok(json(StatusCode::OK, &kept))
}

/// `GET /distribution/{name}/json`: the descriptor and platforms of a reference in its registry.
async fn distribution_inspect(State(s): S, Path(rest): Path<String>, headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    let name = rest.strip_suffix("/json").filter(|n| !n.is_empty()).ok_or_else(not_found)?;
    let reference = Reference::parse(name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(json(StatusCode::OK, &s.distribution.inspect(&reference, registry_auth(&headers)).await?))
}

async fn prune(State(s): S, p: Params) -> Result<Response, ApiError> {
    let filters = p.filters()?;
    let mut report = heavy(&s, move |s| s.images.prune(&filters, &s.containers.image_users().into_keys().collect())).await?;
    // SpaceReclaimed is what the disk got back: the blobs and snapshots nothing references now.
    report.space_reclaimed = s.gc.collect_async().await?.bytes as i64;
    s.images.pruned(report.space_reclaimed);
    Ok(json(StatusCode::OK, &report))
}

/// A JSON-lines answer, streamed (chunked) as dockerd streams import and load answers.
fn json_lines(msgs: &[JsonMessage]) -> Response {
    let body: Vec<u8> = msgs.iter().flat_map(JsonMessage::to_line).collect();
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes::Bytes::from(body)) });
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response()
}

/// Runs a registry operation whose progress streams as JSON messages. An error before the first
/// message is an ordinary HTTP error (so clients print Docker's one line); later ones end the stream.
async fn progress_stream<F>(work: impl FnOnce(tokio::sync::mpsc::UnboundedSender<JsonMessage>) -> F + Send + 'static) -> Result<Response, ApiError>
where
    F: std::future::Future<Output = Result<(), ServiceError>> + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<JsonMessage>();
    // The registry client's futures are not all `Send`: drive them on a blocking-pool thread.
    let handle = tokio::runtime::Handle::current();
    let task = berth_types::sched::spawn_blocking(move || handle.block_on(work(tx)));
    let first = rx.recv().await;
    let Some(first) = first else {
        task.await.map_err(ServiceError::from)??;
        return Ok(json_lines(&[]));
    };
    let (btx, brx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
    tokio::spawn(async move {
        let _ = btx.send(bytes::Bytes::from(first.to_line())).await;
        loop {
            // The client going away (the body dropped) drops `rx`, which ends the work; while no
            // message comes (a stalled registry), a keep-alive newline finds out whether it went.
            let m = tokio::select! {
                m = rx.recv() => m,
                _ = btx.closed() => return,
                _ = tokio::time::sleep(super::STREAM_KEEPALIVE) => {
                    if btx.send(bytes::Bytes::from_static(b"\n")).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let Some(m) = m else { break };
            if btx.send(bytes::Bytes::from(m.to_line())).await.is_err() {
                return;
            }
        }
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = btx.send(bytes::Bytes::from(JsonMessage::error(super::error_chain(&e)).to_line())).await;
            }
            Err(e) => {
                let _ = btx.send(bytes::Bytes::from(JsonMessage::error(e.to_string()).to_line())).await;
            }
        }
    });
    let stream = futures_util::stream::unfold(brx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx)) });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

fn registry_auth(headers: &axum::http::HeaderMap) -> Option<berth_distribution::Credentials> {
    headers.get("X-Registry-Auth").and_then(|v| v.to_str().ok()).and_then(crate::service::distribution::decode_auth)
}

async fn create(State(s): S, p: Params, headers: axum::http::HeaderMap, body: Body) -> Result<Response, ApiError> {
    if let Some(from) = p.get("fromImage").filter(|v| !v.is_empty()) {
        let tag = p.get("tag").unwrap_or("");
        // As moby: a `tag` that parses as a digest (sha256 or sha512) pins the pull to it.
        let reference = if tag.parse::<berth_types::Digest>().is_ok() {
            Reference::parse(&format!("{from}@{tag}"))
        } else {
            Reference::from_repo_tag(from, tag)
        }
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let platform = p.get("platform").filter(|v| !v.is_empty()).map(str::to_string);
        let creds = registry_auth(&headers);
        return progress_stream(move |tx| async move {
            // A client that goes leaves the pull, which stops when no other client waits for it.
            let gone = tx.clone();
            let r = tokio::select! {
                r = s.distribution.pull(&reference, platform.as_deref(), creds, tx) => r,
                _ = gone.closed() => Err(ServiceError::Invalid("the pull was cancelled: its client went away".into())),
            };
            if r.is_err() {
                // Layers of a failed pull that nothing references are reclaimed.
                s.gc.collect_soon();
            }
            r
        })
        .await;
    }
    let src = p.get("fromSrc").filter(|v| !v.is_empty()).ok_or_else(|| ApiError::bad_request("fromImage or fromSrc is required"))?;
    let repo = p.get("repo").unwrap_or("");
    let tag = p.get("tag").unwrap_or("");
    // As the reference library's WithTag: a tag of word characters, dots and dashes.
    let tag_ok = |t: &str| {
        t.len() <= 128 && t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    if !repo.is_empty() && !tag.is_empty() && !tag_ok(tag) {
        return Err(ApiError::bad_request("invalid tag format"));
    }
    let reference = if repo.is_empty() { None } else { Some(Reference::from_repo_tag(repo, tag).map_err(|e| ApiError::bad_request(e.to_string()))?) };
    // `linux`, `linux/arm64`, `arm64`: the image's architecture (the host's when not given).
    let architecture = super::build::check_platform(&p)?.and_then(|pl| match pl.split('/').collect::<Vec<_>>().as_slice() {
        [_, arch, ..] => Some(arch.to_string()),
        [one] if !one.eq_ignore_ascii_case("linux") => Some(one.to_string()),
        _ => None,
    });
    let opts = ImportOptions {
        changes: p.all("changes"),
        message: p.get("message").map(str::to_string),
        source: src.to_string(),
        architecture,
    };
    let reader: Box<dyn std::io::Read + Send> = if src == "-" {
        Box::new(body_reader(body))
    } else {
        Box::new(fetch(src).await?)
    };
    let svc = s.clone();
    let id = berth_types::sched::spawn_blocking(move || svc.images.import(reader, &opts, reference.as_ref()))
        .await
        .map_err(ServiceError::from)??;
    Ok(json_lines(&[JsonMessage::status(id.to_string())]))
}

/// Opens a URL given to `import` as a blocking reader: as `ADD <url>`'s fetcher, connecting and each
/// read time out, and a body beyond [`MAX_DOWNLOAD`] fails the import.
pub(super) async fn fetch(url: &str) -> Result<impl std::io::Read + Send, ApiError> {
    let parsed: reqwest::Url = url.parse().map_err(|_| ApiError::bad_request(format!("invalid import source {url:?}: expected - or an http(s) URL")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::bad_request(format!("invalid import source {url:?}: expected - or an http(s) URL")));
    }
    let client = download_client().map_err(ServiceError::Upstream)?;
    // Go's words for what failed (`dial tcp 127.0.0.1:1: connect: connection refused`), as dockerd.
    let resp = client.get(parsed).send().await.map_err(|e| ServiceError::Upstream(format!("Get {url:?}: {}", berth_distribution::describe_transport(&e))))?;
    if !resp.status().is_success() {
        return Err(ServiceError::Upstream(format!("Get {url:?}: server answered {}", resp.status())).into());
    }
    if let Some(n) = resp.content_length().filter(|n| *n > MAX_DOWNLOAD) {
        return Err(ServiceError::Upstream(format!("Get {url:?}: the body of {n} bytes exceeds the {MAX_DOWNLOAD}-byte limit")).into());
    }
    let mut total = 0u64;
    let stream = resp.bytes_stream().map_err(std::io::Error::other).and_then(move |c| {
        total += c.len() as u64;
        let r = if total > MAX_DOWNLOAD { Err(std::io::Error::other(format!("the body exceeds the {MAX_DOWNLOAD}-byte limit"))) } else { Ok(c) };
        std::future::ready(r)
    });
    Ok(tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream)))
}

async fn load(State(s): S, body: Body) -> Result<Response, ApiError> {
    let reader = body_reader(body);
    let svc = s.clone();
    let loaded = berth_types::sched::spawn_blocking(move || svc.images.load(reader)).await.map_err(ServiceError::from)?;
    // dockerd answers 200 before it reads the archive: whatever fails is the stream's last line.
    Ok(match loaded {
        Ok(lines) => json_lines(&lines.into_iter().map(JsonMessage::stream).collect::<Vec<_>>()),
        Err(e) => json_lines(&[JsonMessage::error(super::error_chain(&e))]),
    })
}

async fn save_many(State(s): S, p: Params) -> Result<Response, ApiError> {
    let names = p.all("names");
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    save(s, names).await
}

async fn save(s: Arc<Services>, names: Vec<String>) -> Result<Response, ApiError> {
    let items = s.images.save_items(&names)?;
    let (mut w, body) = channel_body();
    berth_types::sched::spawn_blocking(move || {
        if let Err(e) = s.images.save(&items, &mut w) {
            tracing::warn!(error = %super::error_chain(&e), "save failed mid-stream");
            w.fail(std::io::Error::other(e.to_string()));
        }
    });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}
