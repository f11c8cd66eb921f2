//! Attaching to a container's streams: `POST /containers/{id}/attach` (a hijacked connection) and
//! the relay between a client connection and the container's shim, which exec shares. The
//! WebSocket variant is in `attach_ws.rs`.

use super::containers::{handle, stream_type};
use super::{ApiError, Params};
use crate::service::containers::{Handle, LogOptions, Status};
use crate::service::{ServiceError, Services};
use axum::body::Body;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use berth_api::version::ApiVersion;
use berth_shim::ShimHello;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type S = State<Arc<Services>>;

/// `POST /containers/{id}/attach`: the connection is hijacked (101 `Upgrade: tcp`) and becomes a
/// raw duplex stream between the client and the container's shim. With `logs`, the log so far
/// comes first (as `docker logs` would send it); without `stream`, that is all.
pub(super) async fn attach(State(s): S, Path(id): Path<String>, p: Params, Extension(v): Extension<ApiVersion>, mut req: Request) -> Result<Response, ApiError> {
    let h = handle(&s, &id)?;
    let rec = h.snapshot();
    let tty = rec.config.tty.unwrap_or(false);
    // With neither `logs` nor `stream` the connection is hijacked and closed at once, as dockerd.
    let (logs, stream) = (p.flag("logs"), p.flag("stream"));
    // A stopped container is attached to until its next start (`docker start -a`); refusing that
    // is the docker CLI's business (`docker attach`), as with dockerd.
    if rec.state.status == Status::Paused {
        return Err(ApiError::new(StatusCode::CONFLICT, format!("container {} is paused, unpause the container before attach.", rec.name)));
    }
    let (want_stdout, want_stderr) = (p.flag("stdout"), p.flag("stderr"));
    let hello = ShimHello::Attach { stdin: p.flag("stdin"), stdout: want_stdout, stderr: want_stderr };
    let upgrade = req.headers().get(header::UPGRADE).is_some();
    let settle = buffered_upgrade_client(&req);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let want_stdin = p.flag("stdin");
    let keys = detach_keys(p.get("detachKeys"))?;
    let mut ticket = if stream { Some(s.containers.attach(&h, hello)?) } else { None };
    tokio::spawn(async move {
        // Without a log to replay, the shim connection is made before the 101 goes out.
        let mut shim = None;
        if !logs {
            if let Some(t) = ticket.take() {
                shim = Some(t.connect().await);
            }
        }
        let Ok(upgraded) = on_upgrade.await else { return };
        let mut client = TokioIo::new(upgraded);
        if logs {
            match log_replay(&s, &h, want_stdout, want_stderr) {
                Ok(mut rx) => {
                    while let Some(b) = rx.recv().await {
                        if client.write_all(&b).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    // dockerd writes the error into the (stdout) stream and ends it.
                    let msg = format!("Error attaching: {}\n", ApiError::from(e).message());
                    let out = if tty { msg.into_bytes() } else { crate::service::containers::frame(1, msg.as_bytes()) };
                    let _ = client.write_all(&out).await;
                    let _ = client.shutdown().await;
                    return;
                }
            }
        }
        let shim = match (shim, ticket) {
            (Some(s), _) => s,
            (None, Some(t)) => t.connect().await,
            (None, None) => {
                let _ = client.shutdown().await;
                return;
            }
        };
        let shim = match shim {
            Ok(sh) => sh,
            Err(e) => {
                let _ = client.write_all(format!("Error: {e}\n").as_bytes()).await;
                let _ = client.shutdown().await;
                return;
            }
        };
        // The container's output ends just before its exit is recorded: a client that inspects
        // the container when the stream closes (`berth attach`) must see the exit.
        let mut watch = h.watch();
        let exits = watch.borrow().exits;
        let exited = Box::pin(async move {
            let _ = watch.wait_for(|o| o.removed || o.exits > exits || o.status != Status::Running).await;
        });
        let keys = if tty { keys } else { Vec::new() };
        relay(client, shim, tty, want_stdin, keys, Some(exited), settle).await;
    });
    Ok(attach_hijacked(upgrade, tty, v))
}

/// The container's log so far (the selected streams), rendered as an attach stream carries it:
/// framed without a TTY, raw with one. Fails as dockerd does when the log driver keeps nothing to
/// read.
pub(super) fn log_replay(s: &Arc<Services>, h: &Arc<Handle>, stdout: bool, stderr: bool) -> Result<tokio::sync::mpsc::Receiver<Bytes>, ServiceError> {
    crate::service::containers::check_logs_readable(h)?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let opts = LogOptions { stdout, stderr, follow: false, tail: None, since: None, until: None, timestamps: false };
    let (svc, h) = (s.clone(), h.clone());
    tokio::spawn(async move {
        if let Err(e) = svc.containers.logs(h, opts, tx).await {
            tracing::warn!(error = %e, "attach: replaying the log failed");
        }
    });
    Ok(rx)
}

/// An attach's hijacked response: as dockerd writes it on the connection, with the stream headers
/// alone (no `Api-Version`, `Server`, …, which exec's copies and attach's does not).
fn attach_hijacked(upgrade: bool, tty: bool, v: ApiVersion) -> Response {
    let mut resp = hijacked(upgrade, tty, v);
    resp.extensions_mut().insert(super::BareHeaders);
    resp
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

/// Copies output from the shim to the client (dropping frame headers when `tty`: a raw stream) and
/// the client's input to the shim, until the shim closes (the container exited) or the client goes
/// away. `detach_keys` end the relay when typed; empty, there are none (no TTY).
pub(super) async fn relay<C>(
    client: C,
    shim: tokio::net::UnixStream,
    tty: bool,
    stdin: bool,
    detach_keys: Vec<u8>,
    before_close: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
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
                if detach_keys.is_empty() {
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
    // The client asks for the exit code right after the stream ends: it is recorded first.
    if let Some(recorded) = before_close {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), recorded).await;
    }
    let _ = c_write.flush().await;
    let _ = c_write.shutdown().await;
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
