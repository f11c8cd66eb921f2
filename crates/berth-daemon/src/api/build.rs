//! `POST /build` (the classic protocol the docker CLI uses when `/_ping` says `Builder-Version: 1`)
//! and `POST /build/prune`.

use super::stream::body_reader;
use super::{ApiError, Params};
use crate::service::build::BuildParams;
use crate::service::build_cache::PruneOptions;
use crate::service::{ServiceError, Services};
use futures_util::StreamExt;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use berth_api::progress::JsonMessage;
use berth_build::BuildEvent;
use berth_types::Reference;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;

type S = State<Arc<Services>>;

pub fn routes() -> Router<Arc<Services>> {
    Router::new().route("/build", post(build)).route("/build/prune", post(prune))
}

fn json_map(p: &Params, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(raw) = p.get(key).filter(|v| !v.is_empty()) else { return Ok(BTreeMap::new()) };
    let v: BTreeMap<String, Option<String>> = serde_json::from_str(raw).map_err(|e| ApiError::bad_request(format!("invalid {key}: {e}")))?;
    Ok(v.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}

async fn build(State(s): S, p: Params, body: Body) -> Result<Response, ApiError> {
    let tags = p
        .all("t")
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| Reference::parse_tagged(t).map_err(|e| ApiError::bad_request(format!("invalid tag {t:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let params = BuildParams {
        tags,
        dockerfile: p.get("dockerfile").unwrap_or("").to_string(),
        build_args: json_map(&p, "buildargs")?,
        labels: json_map(&p, "labels")?,
        target: p.get("target").filter(|t| !t.is_empty()).map(str::to_string),
        no_cache: p.flag("nocache"),
        platform: p.get("platform").filter(|t| !t.is_empty()).map(str::to_string),
        quiet: p.flag("q"),
        network: p.get("networkmode").filter(|t| !t.is_empty() && *t != "default").map(str::to_string),
        // The docker CLI joins --add-host values with commas; other clients repeat the parameter.
        extra_hosts: p.all("extrahosts").iter().flat_map(|v| v.split(',')).filter(|h| !h.is_empty()).map(str::to_string).collect(),
        shm_size: match p.get("shmsize").filter(|v| !v.is_empty()) {
            Some(v) => v.parse().map_err(|_| ApiError::bad_request(format!("invalid shmsize {v:?}")))?,
            None => 0,
        },
        cancel: Default::default(),
    };
    let reader = body_reader(body);
    // The response body holds this guard: when hyper drops the body (the client went away, or the
    // stream ended), the build is told to stop.
    let cancel = CancelOnDrop(params.cancel.clone());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, ServiceError>>(256);
    let svc = s.clone();
    tokio::task::spawn_blocking(move || {
        let send = |m: JsonMessage| {
            let _ = tx.blocking_send(Ok(Bytes::from(m.to_line())));
        };
        let quiet = params.quiet;
        let mut on_event = |e: BuildEvent| {
            if quiet {
                return;
            }
            let text = match e {
                BuildEvent::Step { n, total, text } => format!("Step {n}/{total} : {text}\n"),
                BuildEvent::Output(b) => String::from_utf8_lossy(&b).into_owned(),
                BuildEvent::UsingCache => " ---> Using cache\n".into(),
                BuildEvent::StepDone(d) => format!(" ---> {}\n", d.short()),
                BuildEvent::Removing(c) => format!(" ---> Removed intermediate container {c}\n"),
                BuildEvent::Warning(w) => format!("[Warning] {w}\n"),
                BuildEvent::Built(_) => return,
            };
            send(JsonMessage::stream(text));
        };
        match svc.build.build(reader, &params, &mut on_event) {
            // `q=1` streams the image ID alone, as dockerd does (`id=$(docker build -q .)`).
            Ok(id) if quiet => send(JsonMessage::stream(format!("{id}\n"))),
            Ok(id) => {
                send(JsonMessage { aux: Some(serde_json::json!({"ID": id.to_string()})), ..Default::default() });
                send(JsonMessage::stream(format!("Successfully built {}\n", id.short())));
                for t in &params.tags {
                    send(JsonMessage::stream(format!("Successfully tagged {}\n", t.familiar())));
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    // As dockerd: an error before the first byte of output is an HTTP error (a missing or empty
    // Dockerfile, a parse error, any failure of a quiet build); later ones end the stream.
    let first = match rx.recv().await {
        Some(Ok(b)) => b,
        Some(Err(e)) => return Err(e.into()),
        None => Bytes::new(),
    };
    let rest = futures_util::stream::unfold((rx, cancel), |(mut rx, cancel)| async move {
        // A step that prints nothing for a while: a keep-alive newline finds out whether the client
        // is still there (see `super::STREAM_KEEPALIVE`).
        let line = match tokio::time::timeout(super::STREAM_KEEPALIVE, rx.recv()).await {
            Err(_) => Bytes::from_static(b"\n"),
            Ok(m) => match m? {
                Ok(b) => b,
                Err(e) => Bytes::from(JsonMessage::error(super::error_chain(&e)).to_line()),
            },
        };
        Some((Ok::<_, std::convert::Infallible>(line), (rx, cancel)))
    });
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(first) }).chain(rest);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

/// Sets a build's cancellation flag when dropped.
struct CancelOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `POST /build/prune?all=&keep-storage=&filters=`.
async fn prune(State(s): S, p: Params) -> Result<Response, ApiError> {
    let keep_storage = match p.get("keep-storage").filter(|v| !v.is_empty()) {
        Some(v) => v.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid keep-storage {v:?}")))?.max(0) as u64,
        None => 0,
    };
    let opts = PruneOptions { all: p.flag("all"), keep_storage, filters: p.filters()? };
    let dir = s.build.cache_dir();
    let svc = s.clone();
    let report = tokio::task::spawn_blocking(move || crate::service::build_cache::prune(&dir, svc.build.images(), &svc.gc, &opts))
        .await
        .map_err(crate::service::ServiceError::from)??;
    Ok(super::json(StatusCode::OK, &report))
}
