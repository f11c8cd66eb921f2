//! `/_ping`, `/version`, `/info`, `/system/df`, `/events`.

use super::{json, ApiError, Params};
use crate::service::images::{parse_time, ListOptions};
use crate::service::{offload, ServiceError, Services};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use berth_api::system::EventMessage;
use bytes::Bytes;
use serde_json::json as j;
use std::sync::Arc;

type S = State<Arc<Services>>;

pub fn routes() -> Router<Arc<Services>> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
        .route("/system/df", get(df))
        .route("/system/check", axum::routing::post(check))
        .route("/events", get(events))
        .route("/auth", axum::routing::post(auth))
}

async fn ping(method: Method) -> Response {
    let body = if method == Method::HEAD { "" } else { "OK" };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
            (header::HeaderName::from_static("builder-version"), "1"),
        ],
        body,
    )
        .into_response()
}

async fn version(State(s): S) -> Response {
    json(StatusCode::OK, &s.system.version())
}

async fn info(State(s): S) -> Result<Response, ApiError> {
    use crate::service::containers::Status;
    let all = s.containers.all();
    let st: Vec<Status> = all.iter().map(|h| h.snapshot().state.status).collect();
    let running = st.iter().filter(|x| **x == Status::Running || **x == Status::Restarting).count();
    let paused = st.iter().filter(|x| **x == Status::Paused).count();
    let counts = (st.len(), running, paused, st.len() - running - paused);
    // Reads /proc and /etc/os-release.
    let info = super::blocking(&s, move |s| Ok(s.system.info(s.events.listeners(), counts))).await?;
    Ok(json(StatusCode::OK, &info))
}

/// `GET /system/df`: what images, containers, volumes and the build cache take on disk, as dockerd
/// shapes it. Sizes are allocated bytes of what Berth stores (an image: its blobs and its unpacked
/// snapshots), so `Reclaimable` is what a prune gives back. One walk of the data root is shared by
/// every caller that asks meanwhile, off the async workers and within the heavy-work limit.
async fn df(State(s): S) -> Result<Response, ApiError> {
    let svc = s.clone();
    let usage = s.disk_usage.run(move || offload::heavy(move || disk_usage(&svc).map(Arc::new))).await?;
    Ok(json(StatusCode::OK, &*usage))
}

/// What `system df` reports. Blocking: sizes every image, writable layer, volume and cache entry.
fn disk_usage(s: &Services) -> Result<serde_json::Value, ServiceError> {
    let mut images = s.images.list(&ListOptions { all: true, ..Default::default() })?;
    let users = s.containers.image_users();
    let snapshots = s.gc.snapshots();
    let (layers_size, usage) = crate::service::disk_usage::images(s.build.images(), &snapshots);
    let build_cache = crate::service::build_cache::records(&s.build.cache_dir(), s.build.images(), &snapshots, s.gc.leases())?;
    for i in &mut images {
        i.containers = users.get(&i.id).map(|u| u.len() as i64).unwrap_or(0);
        let u = i.id.parse().ok().and_then(|id| usage.get(&id).copied()).unwrap_or_default();
        i.size = u.size as i64;
        i.virtual_size = Some(u.size as i64);
        i.shared_size = u.shared as i64;
    }
    let containers = s.containers.list_sized(true, None, &crate::filters::Filters::default(), true)?;
    let vol_users = s.containers.volume_users();
    let volumes: Vec<berth_api::volume::Volume> = s
        .volumes
        .usage()
        .into_iter()
        .map(|(mut v, size)| {
            let refs = vol_users.get(&v.name).map(|u| u.len()).unwrap_or(0) as i64;
            v.usage_data = Some(berth_api::volume::UsageData { size: size as i64, ref_count: refs });
            v
        })
        .collect();
    Ok(j!({
        "LayersSize": layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": build_cache,
    }))
}

/// `POST /system/check?quick=&repair=&force=` (Berth extension): see `service::check`.
async fn check(State(s): S, p: Params) -> Result<Response, ApiError> {
    let opts = crate::service::check::CheckOptions { quick: p.flag("quick"), repair: p.flag("repair"), force: p.flag("force") };
    if opts.force && !opts.repair {
        return Err(ApiError::bad_request("force only applies with repair"));
    }
    let rt = tokio::runtime::Handle::current();
    let svc = s.clone();
    let report = berth_types::sched::spawn_blocking(move || {
        let root = svc.system.root().to_path_buf();
        crate::service::check::run(&svc, &root, opts, &rt)
    })
    .await
    .map_err(crate::service::ServiceError::from)??;
    Ok(json(StatusCode::OK, &report))
}

fn event_matches(f: &crate::filters::Filters, e: &EventMessage) -> bool {
    let any = |key: &str, ok: &dyn Fn(&str) -> bool| f.get(key).is_empty() || f.get(key).iter().any(|v| ok(v));
    let name = e.actor.attributes.get("name").map(String::as_str).unwrap_or("");
    let object = |kind: &'static str| {
        move |v: &str| e.kind == kind && (e.actor.id == v || e.actor.id.trim_start_matches("sha256:").starts_with(v) || name == v)
    };
    any("type", &|v| e.kind == v)
        // `exec_create: sh -c …` matches `event=exec_create` too, as with dockerd.
        && any("event", &|v| e.action == v || e.action.split_once(": ").is_some_and(|(a, _)| a == v))
        && any("scope", &|v| e.scope == v)
        && any("image", &|v| {
            object("image")(v)
                || e.actor.attributes.get("image").is_some_and(|i| i == v)
                || berth_types::Reference::parse_tagged(v).is_ok_and(|r| r.familiar() == name)
        })
        && any("container", &object("container"))
        && any("network", &object("network"))
        && any("volume", &object("volume"))
        && f.labels_match("label", Some(&e.actor.attributes))
}

async fn events(State(s): S, p: Params) -> Result<Response, ApiError> {
    let filters = p.filters()?;
    // A value that is no time is read as seconds, as dockerd reads it, and refused with its words.
    let time = |v: &str| parse_time(v).map_err(|_| ApiError::bad_request(format!("strconv.ParseInt: parsing {:?}: invalid syntax", v.split('.').next().unwrap_or(v))));
    let since = p.get("since").filter(|v| !v.is_empty()).map(time).transpose()?;
    let until = p.get("until").filter(|v| !v.is_empty()).map(time).transpose()?;
    if let (Some(s), Some(u)) = (since, until) {
        if u < s {
            return Err(ApiError::bad_request(format!(
                "`since` time ({}) cannot be after `until` time ({})",
                p.get("since").unwrap_or(""),
                p.get("until").unwrap_or("")
            )));
        }
    }
    let ts = |e: &EventMessage| e.time_nano as f64 / 1e9;
    let (past, mut rx, mut closed) = s.events.subscribe();
    let (tx, out_rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let line = |e: &EventMessage| {
        let mut v = serde_json::to_vec(e).unwrap_or_default();
        v.push(b'\n');
        Bytes::from(v)
    };
    tokio::spawn(async move {
        if let Some(since) = since {
            for e in past.iter().filter(|e| ts(e) >= since && until.is_none_or(|u| ts(e) <= u)) {
                if event_matches(&filters, e) && tx.send(line(e)).await.is_err() {
                    return;
                }
            }
        }
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as f64 / 1e9;
        // An `until` beyond what a timer can express (`1e300`) is as good as none.
        let deadline = until.and_then(|u| {
            let wait = std::time::Duration::try_from_secs_f64((u - now).max(0.0)).ok()?;
            tokio::time::Instant::now().checked_add(wait)
        });
        loop {
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => return,
                _ = closed.changed() => return,
                _ = tx.closed() => return,
                r = rx.recv() => match r {
                    Ok(e) => {
                        if event_matches(&filters, &e) && tx.send(line(&e)).await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
            }
        }
    });
    let stream = futures_util::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}


/// `POST /auth`: checks credentials against a registry (`docker login`).
async fn auth(State(s): S, body: bytes::Bytes) -> Result<Response, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))?;
    let server = v["serveraddress"].as_str().unwrap_or("").to_string();
    let creds = berth_distribution::Credentials::new(v["username"].as_str().unwrap_or(""), v["password"].as_str().unwrap_or(""));
    s.distribution.login(if server.is_empty() { "docker.io" } else { &server }, &creds).await?;
    Ok(json(StatusCode::OK, &j!({"Status": "Login Succeeded", "IdentityToken": ""})))
}
