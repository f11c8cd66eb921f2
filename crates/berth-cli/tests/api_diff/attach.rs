//! Attaching over a WebSocket (`GET /containers/{id}/attach/ws`), driven by a real WebSocket client
//! (tungstenite): the data received (never multiplexed, TTY or not), the frame type, stdin from
//! client messages, `logs` replay, detach keys with a TTY, how the socket closes, and the errors
//! answered before the handshake; and the log replay of the hijacked attach (`logs=1`).
//!
//! At `/v1.41` dockerd attaches stdin, stdout and stderr whatever the query says (the parameters
//! choose from API 1.42 on), so the first exchange asks for stdout alone and still writes stdin
//! and reads stderr.

use crate::cases::{create, Case};
use crate::compare::Cmp;
use crate::wire::WsStep;

fn body(cmd: &str, tty: bool) -> String {
    format!(
        r#"{{"Image":"busybox","Cmd":["sh","-c",{}],"OpenStdin":true,"Tty":{tty},"HostConfig":{{"NetworkMode":"none"}}}}"#,
        serde_json::Value::String(cmd.into())
    )
}

pub fn all() -> Vec<Case> {
    let ws = |name, path: &str, params| Case::new(name, "GET", path, "GET /containers/{id}/attach/ws", params, Cmp::Text);
    let refused = |name, path: &str, params| Case::new(name, "GET", path, "GET /containers/{id}/attach/ws", params, Cmp::Status);
    vec![
        create("ws-create", "ad-ws", &body("echo before; read x; echo got:$x; sleep 0.2; echo err:$x >&2", false), &["b:OpenStdin"]),
        Case::new("ws-start", "POST", "/containers/ad-ws/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        ws("ws-attach", "/containers/ad-ws/attach/ws?logs=1&stream=1&stdout=1", &["p:id", "q:logs", "q:stream", "q:stdout", "q:stdin", "q:stderr"])
            .ws(&[WsStep::Expect("before\n"), WsStep::Send("hi\n")]),
        Case::new("ws-wait", "POST", "/containers/ad-ws/wait", "POST /containers/{id}/wait", &["p:id"], Cmp::Json),
        ws("ws-attach-logs", "/containers/ad-ws/attach/ws?logs=1&stream=0", &["q:logs", "q:stream"]).ws(&[]),
        // The hijacked attach replays the log too (framed: no TTY), the chosen streams only.
        Case::new("attach-logs", "POST", "/containers/ad-ws/attach?logs=1&stream=0&stdout=1&stderr=1", "POST /containers/{id}/attach", &["p:id", "q:logs", "q:stream", "q:stdout", "q:stderr"], Cmp::Frames).upgrade(),
        Case::new("attach-logs-stderr", "POST", "/containers/ad-ws/attach?logs=1&stream=0&stderr=1", "POST /containers/{id}/attach", &["q:logs", "q:stderr"], Cmp::Frames).upgrade(),
        Case::new("attach-neither", "POST", "/containers/ad-ws/attach?stdout=1", "POST /containers/{id}/attach", &["q:logs", "q:stream"], Cmp::Status).upgrade(),
        ws("ws-attach-neither", "/containers/ad-ws/attach/ws", &["q:logs", "q:stream"]).ws(&[]),
        create("ws-tty-create", "ad-wstty", &body("cat", true), &["b:Tty", "b:OpenStdin"]),
        Case::new("ws-tty-start", "POST", "/containers/ad-wstty/start", "POST /containers/{id}/start", &["p:id"], Cmp::Headers),
        ws("ws-attach-tty", "/containers/ad-wstty/attach/ws?stream=1&detachKeys=ctrl-a,x", &["q:detachKeys", "q:stream"])
            .ws(&[WsStep::Send("abc\n"), WsStep::Expect("abc\r\nabc\r\n"), WsStep::Send("\u{1}x")]),
        // Detached: the container still runs.
        Case::new("ws-tty-kill", "POST", "/containers/ad-wstty/kill", "POST /containers/{id}/kill", &["p:id"], Cmp::Status),
        refused("ws-attach-missing", "/containers/nosuch/attach/ws?stream=1", &["p:id"]).ws(&[]),
        refused("ws-attach-bad-keys", "/containers/nosuch/attach/ws?stream=1&detachKeys=ctrl-", &["q:detachKeys"]).ws(&[]),
        Case::new("ws-attach-plain-get", "GET", "/containers/ad-wstty/attach/ws?stream=1", "GET /containers/{id}/attach/ws", &["p:id"], Cmp::Status),
        Case::new("ws-remove", "DELETE", "/containers/ad-ws?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
        Case::new("ws-tty-remove", "DELETE", "/containers/ad-wstty?force=1", "DELETE /containers/{id}", &["q:force"], Cmp::Headers),
    ]
}
