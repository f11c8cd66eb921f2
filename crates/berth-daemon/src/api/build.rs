//! `POST /build` (the classic protocol the docker CLI uses when `/_ping` says `Builder-Version: 1`)
//! and `POST /build/prune`.

use super::stream::body_reader;
use super::{ApiError, Params};
use crate::service::build::{BuildParams, StepLimits};
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

/// `buildargs` / `labels`: a JSON object, refused as dockerd refuses it (`error reading build args: …`).
fn json_map(p: &Params, key: &str, what: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(raw) = p.get(key).filter(|v| !v.is_empty()) else { return Ok(BTreeMap::new()) };
    let v: BTreeMap<String, Option<String>> = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("error reading {what}: {}", super::gojson::message(raw.as_bytes(), &e, super::gojson::Reader::Unmarshal))))?;
    Ok(v.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect())
}

/// `shmsize`: an integer, refused with Go's `strconv.ParseInt` wording as dockerd does (500).
fn int(p: &Params, key: &str) -> Result<i64, ApiError> {
    match p.get(key).filter(|v| !v.is_empty()) {
        Some(v) => v.parse().map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))),
        None => Ok(0),
    }
}

/// The resource limits: dockerd reads a value that is not an integer as 0 (no limit).
fn int_or_zero(p: &Params, key: &str) -> i64 {
    p.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `platform` (of a build or an import), checked before anything is read or pulled, with
/// containerd's words; only Linux platforms are served.
pub(super) fn check_platform(p: &Params) -> Result<Option<String>, ApiError> {
    let Some(pl) = p.get("platform").filter(|v| !v.is_empty()) else { return Ok(None) };
    let parts: Vec<&str> = pl.split('/').collect();
    let known_os = |o: &str| matches!(o, "linux" | "windows" | "darwin" | "freebsd" | "netbsd" | "openbsd" | "solaris" | "illumos" | "aix" | "android" | "ios" | "js" | "plan9" | "dragonfly");
    let known_arch = |a: &str| {
        matches!(a, "amd64" | "x86_64" | "x86-64" | "386" | "i386" | "arm" | "armhf" | "armel" | "arm64" | "aarch64" | "ppc64le" | "ppc64" | "s390x" | "riscv64" | "mips64le" | "mips64" | "mipsle" | "mips" | "loong64" | "wasm")
    };
    let ok = match parts.as_slice() {
        [one] => known_os(&one.to_ascii_lowercase()) || known_arch(&one.to_ascii_lowercase()),
        [os, arch] | [os, arch, _] => known_os(&os.to_ascii_lowercase()) && known_arch(&arch.to_ascii_lowercase()),
        _ => false,
    };
    if !ok {
        return Err(ApiError::bad_request(format!("{pl:?}: unknown operating system or architecture: invalid argument")));
    }
    if !parts[0].eq_ignore_ascii_case("linux") && known_os(&parts[0].to_ascii_lowercase()) {
        return Err(ApiError::bad_request("operating system is not supported"));
    }
    Ok(Some(pl.to_string()))
}

async fn build(State(s): S, p: Params, body: Body) -> Result<Response, ApiError> {
    let platform = check_platform(&p)?;
    // `cachefrom` is a JSON list of images (dockerd answers a malformed one with Go's words, 500).
    let cache_from = match p.get("cachefrom").filter(|v| !v.is_empty()) {
        Some(raw) => Some(
            serde_json::from_str::<Vec<String>>(raw)
                .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, super::gojson::message(raw.as_bytes(), &e, super::gojson::Reader::Unmarshal)))?,
        )
        .filter(|l| !l.is_empty()),
        None => None,
    };
    let tags = p
        .all("t")
        .iter()
        .filter(|t| !t.is_empty())
        .map(|t| Reference::parse_tagged(t).map_err(|e| ApiError::bad_request(format!("invalid tag {t:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let mut params = BuildParams {
        tags,
        dockerfile: p.get("dockerfile").unwrap_or("").to_string(),
        build_args: json_map(&p, "buildargs", "build args")?,
        labels: json_map(&p, "labels", "labels")?,
        target: p.get("target").filter(|t| !t.is_empty()).map(str::to_string),
        no_cache: p.flag("nocache"),
        platform,
        quiet: p.flag("q"),
        network: p.get("networkmode").filter(|t| !t.is_empty() && *t != "default").map(str::to_string),
        // The docker CLI joins --add-host values with commas; other clients repeat the parameter.
        extra_hosts: p.all("extrahosts").iter().flat_map(|v| v.split(',')).filter(|h| !h.is_empty()).map(str::to_string).collect(),
        shm_size: int(&p, "shmsize")?.max(0) as u64,
        limits: StepLimits {
            memory: int_or_zero(&p, "memory"),
            memory_swap: int_or_zero(&p, "memswap"),
            cpu_shares: int_or_zero(&p, "cpushares"),
            cpuset_cpus: p.get("cpusetcpus").unwrap_or("").to_string(),
            cpu_period: int_or_zero(&p, "cpuperiod"),
            cpu_quota: int_or_zero(&p, "cpuquota"),
        },
        // dockerd's defaults: remove a RUN step's container after it succeeded, keep a failed one.
        keep_intermediate: !p.flag_or("rm", true),
        force_remove: p.flag("forcerm"),
        cache_from,
        cancel: Default::default(),
        prepared: None,
    };
    let reader: Box<dyn std::io::Read + Send> = match p.get("remote").filter(|r| !r.is_empty()) {
        None => Box::new(body_reader(body)),
        // A git repository: fetched now, so that a failure is the request's error (dockerd's remotecontext).
        Some(url) if crate::service::git_context::is_git_url(url) => {
            let (svc, url) = (s.clone(), url.to_string());
            let prepared = berth_types::sched::spawn_blocking(move || svc.build.fetch_git_context(&url)).await.map_err(ServiceError::from)??;
            params.prepared = Some(Arc::new(prepared));
            Box::new(std::io::empty())
        }
        // A tar or a Dockerfile at a URL (what `docker build https://…` sends).
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => match super::images::fetch(url).await {
            Ok(r) => Box::new(r),
            Err(e) => return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("error downloading remote context {url}: {}", e.message()))),
        },
        Some(url) => return Err(ApiError::bad_request(format!("remoteURL ({url}) could not be recognized as URL"))),
    };
    // The response body holds this guard: when hyper drops the body (the client went away, or the
    // stream ended), the build is told to stop.
    let cancel = CancelOnDrop(params.cancel.clone());
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, ServiceError>>(256);
    let svc = s.clone();
    berth_types::sched::spawn_blocking(move || {
        let send = |m: JsonMessage| {
            let _ = tx.blocking_send(Ok(Bytes::from(m.to_line())));
        };
        let quiet = params.quiet;
        // A quiet build keeps its output: dockerd sends it only when the build fails.
        let mut kept: Vec<JsonMessage> = Vec::new();
        // The unused build-args warning comes after the image's ID, as dockerd's.
        let mut deferred: Vec<String> = Vec::new();
        let mut on_event = |e: BuildEvent| {
            let texts = match e {
                // dockerd writes the step line and its newline as two messages.
                BuildEvent::Step { n, total, text } => vec![format!("Step {n}/{total} : {text}"), "\n".into()],
                BuildEvent::Running(c) => vec![format!(" ---> Running in {}\n", container_id(&c))],
                BuildEvent::Output(b) => vec![String::from_utf8_lossy(&b).into_owned()],
                BuildEvent::UsingCache => vec![" ---> Using cache\n".into()],
                BuildEvent::StepDone(d) => vec![format!(" ---> {}\n", d.short())],
                BuildEvent::Removing(c) => vec![format!("Removing intermediate container {}\n", container_id(&c))],
                BuildEvent::Warning(w) => {
                    deferred.push(format!("{w}\n"));
                    return;
                }
                BuildEvent::Built(_) => return,
            };
            for t in texts {
                if quiet {
                    kept.push(JsonMessage::stream(t));
                } else {
                    send(JsonMessage::stream(t));
                }
            }
        };
        let result = svc.build.build(reader, &params, &mut on_event);
        match result {
            // `q=1` streams the image ID alone, as dockerd does (`id=$(docker build -q .)`).
            Ok(id) if quiet => send(JsonMessage::stream(format!("{id}\n"))),
            Ok(id) => {
                send(JsonMessage { aux: Some(serde_json::json!({"ID": id.to_string()})), ..Default::default() });
                for w in deferred {
                    send(JsonMessage::stream(w));
                }
                send(JsonMessage::stream(format!("Successfully built {}\n", id.short())));
                for t in &params.tags {
                    send(JsonMessage::stream(format!("Successfully tagged {}\n", t.familiar())));
                }
            }
            // A quiet build that failed after it started: its output, then the error.
            Err(e) if !kept.is_empty() => {
                for m in kept {
                    send(m);
                }
                let _ = tx.blocking_send(Err(e));
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
                Err(e) => Bytes::from(error_line(&e).to_line()),
            },
        };
        Some((Ok::<_, std::convert::Infallible>(line), (rx, cancel)))
    });
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(first) }).chain(rest);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

/// A step container's id as the classic builder prints it: 12 hex digits.
fn container_id(c: &str) -> &str {
    let hex = c.strip_prefix("build-").unwrap_or(c);
    &hex[..hex.len().min(12)]
}

/// The stream's last line for a failed build; a failed RUN carries its exit code, as dockerd's.
fn error_line(e: &crate::service::ServiceError) -> JsonMessage {
    let mut m = JsonMessage::error(super::error_chain(e));
    if let crate::service::ServiceError::StepFailed { code, .. } = e {
        if let Some(d) = m.error_detail.as_mut() {
            d.code = Some(i64::from(*code));
        }
    }
    m
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
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("keep-storage is in bytes and expects an integer, got {v}: strconv.Atoi: parsing {v:?}: invalid syntax")))?
            .max(0) as u64,
        None => 0,
    };
    let opts = PruneOptions { all: p.flag("all"), keep_storage, filters: p.filters()? };
    let dir = s.build.cache_dir();
    let svc = s.clone();
    let report = berth_types::sched::spawn_blocking(move || crate::service::build_cache::prune(&dir, svc.build.images(), &svc.gc, &opts))
        .await
        .map_err(crate::service::ServiceError::from)?
        .map_err(|e| ApiError::from(e).with_prefix("failed to prune build cache: "))?;
    Ok(super::json(StatusCode::OK, &report))
}
