//! `GET /containers/{id}/attach/ws`: attaching over a WebSocket, as dockerd does it.
//!
//! - The streams are never multiplexed, TTY or not: stdout and stderr bytes go out as they come,
//!   one message per chunk, without Docker's 8-byte headers (the WebSocket frames the data). From
//!   API 1.28 on the messages are binary; before, text frames carrying the same bytes.
//! - Before API 1.42 dockerd ignored `stdin`/`stdout`/`stderr` and attached all three; from 1.42 on
//!   they choose. `logs` replays the log so far first, `stream` then follows the live output (a
//!   stopped container's from its next start); with neither, the socket opens and closes.
//! - Messages from the client (binary or text) are the container's stdin (if it was created with
//!   `OpenStdin`); with a TTY the detach keys (`detachKeys`, default ctrl-p ctrl-q) end the attach
//!   and leave the container running.
//! - The connection closes with a normal close frame when the container's output ends.
//!
//! Errors found before the handshake answer as HTTP errors (404, 409, 400 for bad detach keys); a
//! request that is not a WebSocket handshake gets dockerd's (x/net/websocket's) plain 400.

use super::attach::{detach_keys, log_replay, relay};
use super::containers::handle;
use super::{ApiError, Params};
use crate::service::containers::Status;
use crate::service::Services;
use axum::body::Body;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use berth_api::version::ApiVersion;
use berth_shim::ShimHello;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const BINARY_SINCE: ApiVersion = ApiVersion { major: 1, minor: 28 };
const STREAM_PARAMS_SINCE: ApiVersion = ApiVersion { major: 1, minor: 42 };

/// The largest message sent: longer output is split.
const CHUNK: usize = 32 * 1024;

pub(super) async fn attach_ws(State(s): State<Arc<Services>>, Path(id): Path<String>, p: Params, Extension(v): Extension<ApiVersion>, mut req: Request) -> Result<Response, ApiError> {
    // dockerd's order: the detach keys, the container, its state, then the handshake.
    let keys = detach_keys(p.get("detachKeys"))?;
    let h = handle(&s, &id)?;
    let rec = h.snapshot();
    match rec.state.status {
        Status::Paused => return Err(ApiError::new(StatusCode::CONFLICT, format!("container {id} is paused, unpause the container before attach."))),
        Status::Restarting => return Err(ApiError::new(StatusCode::CONFLICT, format!("container {id} is restarting, wait until the container is running."))),
        _ => {}
    }
    let Some(accept) = handshake_accept(&req) else {
        let mut r = Response::new(Body::from("not websocket protocol"));
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(r);
    };
    let tty = rec.config.tty.unwrap_or(false);
    let (stdin, stdout, stderr) = if v >= STREAM_PARAMS_SINCE { (p.flag("stdin"), p.flag("stdout"), p.flag("stderr")) } else { (true, true, true) };
    let (logs, stream) = (p.flag("logs"), p.flag("stream"));
    let ticket = if stream { Some(s.containers.attach(&h, ShimHello::Attach { stdin, stdout, stderr })?) } else { None };
    let binary = v >= BINARY_SINCE;
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let (mut sink, mut source) = ws.split();
        let message = |b: &[u8]| if binary { Message::Binary(b.to_vec().into()) } else { Message::Frame(Frame::message(b.to_vec(), OpCode::Data(Data::Text), true)) };
        if logs {
            match log_replay(&s, &h, stdout, stderr) {
                Ok(mut rx) => {
                    while let Some(b) = rx.recv().await {
                        // Rendered for a multiplexed stream without a TTY: the header goes.
                        let payload = if tty { &b[..] } else { b.get(8..).unwrap_or_default() };
                        if sink.send(message(payload)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = sink.send(message(format!("Error attaching: {}\n", ApiError::from(e).message()).as_bytes())).await;
                    let _ = sink.send(close()).await;
                    return;
                }
            }
        }
        let shim = match ticket {
            Some(t) => t.connect().await,
            None => {
                let _ = sink.send(close()).await;
                return;
            }
        };
        let shim = match shim {
            Ok(sh) => sh,
            Err(e) => {
                let _ = sink.send(message(format!("Error attaching: {}\n", ApiError::from(e).message()).as_bytes())).await;
                let _ = sink.send(close()).await;
                return;
            }
        };
        // The relay speaks Docker's stream (framed without a TTY) over one end of a pipe; the other
        // end turns it into WebSocket messages, and messages into stdin.
        let (near, far) = tokio::io::duplex(64 * 1024);
        let keys = if tty { keys } else { Vec::new() };
        let relaying = tokio::spawn(relay(near, shim, tty, stdin, keys, None, false));
        let (mut far_r, mut far_w) = tokio::io::split(far);
        let input = tokio::spawn(async move {
            while let Some(Ok(m)) = source.next().await {
                let data = match m {
                    Message::Binary(b) => b.to_vec(),
                    Message::Text(t) => t.as_bytes().to_vec(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                if far_w.write_all(&data).await.is_err() {
                    break;
                }
            }
            let _ = far_w.shutdown().await;
        });
        let mut buf = vec![0u8; CHUNK];
        'out: loop {
            let n = if tty {
                match far_r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                }
            } else {
                let mut header = [0u8; 8];
                if far_r.read_exact(&mut header).await.is_err() {
                    break;
                }
                let mut left = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
                while left > 0 {
                    let n = left.min(CHUNK);
                    if far_r.read_exact(&mut buf[..n]).await.is_err() || sink.send(message(&buf[..n])).await.is_err() {
                        break 'out;
                    }
                    left -= n;
                }
                continue;
            };
            if sink.send(message(&buf[..n])).await.is_err() {
                break;
            }
        }
        // The output ended (the container exited, or the client detached or went away).
        let _ = sink.send(close()).await;
        input.abort();
        drop(far_r);
        let _ = relaying.await;
    });
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    // dockerd's handshake is written by its WebSocket library: the upgrade headers alone.
    r.extensions_mut().insert(super::BareHeaders);
    let hdrs = r.headers_mut();
    hdrs.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    hdrs.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(a) = HeaderValue::from_str(&accept) {
        hdrs.insert("Sec-WebSocket-Accept", a);
    }
    Ok(r)
}

/// A normal close frame, as dockerd's WebSocket library sends when the attach ends.
fn close() -> Message {
    Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))
}

/// The `Sec-WebSocket-Accept` value for an RFC 6455 handshake (a GET asking to upgrade to
/// `websocket`, version 13, with a key); `None` for anything else.
fn handshake_accept(req: &Request) -> Option<String> {
    let h = req.headers();
    let has = |name: header::HeaderName, want: &str| {
        h.get_all(name).iter().filter_map(|v| v.to_str().ok()).any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
    };
    if req.method() != axum::http::Method::GET || !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return None;
    }
    if h.get(header::SEC_WEBSOCKET_VERSION).and_then(|v| v.to_str().ok()) != Some("13") {
        return None;
    }
    let key = h.get(header::SEC_WEBSOCKET_KEY)?;
    Some(tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes()))
}
