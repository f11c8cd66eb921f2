//! Exec and attach over a streaming connection (the kubelet's `remotecommand` server): the
//! client's stdin, stdout, stderr, error and resize streams are joined to the container
//! service's exec or attach connection to the shim (Docker's 8-byte framed output, raw input), so
//! exec and attach go through exactly the paths `docker exec`/`docker attach` use. At the end the
//! error stream carries the outcome: with v4 and later a `metav1.Status` (`Success`, or
//! `Failure`/`NonZeroExitCode` with the exit code as its `ExitCode` cause), before v4 the
//! message of a failure.

use super::cache::Pending;
use super::spdy::{NewStream, Session};
use super::ws::{Channels, Framing};
use super::{Tx, STREAM_CREATION_TIMEOUT};
use crate::meta;
use crate::Cri;
use berth_daemon::service::containers::{Exec, ExecRequest, Handle, Status};
use berth_shim::ShimHello;
use bytes::{Bytes, BytesMut};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

/// How long a client that was told the outcome may take to close the connection.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// The client's side of one exec or attach.
struct Streams {
    stdin: Option<mpsc::Receiver<Bytes>>,
    stdout: Option<Tx>,
    stderr: Option<Tx>,
    error: Tx,
    resize: Option<mpsc::Receiver<Bytes>>,
    v4_status: bool,
    closed: watch::Receiver<bool>,
}

/// What the outcome of a command was.
enum Outcome {
    Success,
    Exit(i64, String),
    Error(String),
}

/// The `streamtype` each stream of a request must have.
fn wanted(p: &Pending, resize: bool) -> Vec<&'static str> {
    let (stdin, stdout, stderr, tty) = match p {
        Pending::Exec(e) => (e.stdin, e.stdout, e.stderr, e.tty),
        Pending::Attach(a) => (a.stdin, a.stdout, a.stderr, a.tty),
        Pending::PortForward(_) => (false, false, false, false),
    };
    let mut w = vec!["error"];
    for (on, name) in [(stdin, "stdin"), (stdout, "stdout"), (stderr, "stderr"), (tty && resize, "resize")] {
        if on {
            w.push(name);
        }
    }
    w
}

/// Exec or attach over SPDY (`version` is the negotiated `X-Stream-Protocol-Version`).
pub(super) async fn over_spdy(cri: Cri, p: Pending, version: &str, mut session: Session) {
    // v3 and later have the resize stream; v4 and later the Status on the error stream.
    let resize = matches!(version, "v4.channel.k8s.io" | "v3.channel.k8s.io");
    let want = wanted(&p, resize);
    let mut got: Vec<(String, NewStream)> = vec![];
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    while got.len() < want.len() {
        let s = match tokio::time::timeout_at(deadline, session.incoming.recv()).await {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(_) => {
                tracing::debug!("CRI streaming: the client did not open its streams in time");
                session.close(CLOSE_GRACE).await;
                return;
            }
        };
        let kind = s.header("streamtype").unwrap_or("").to_ascii_lowercase();
        if want.contains(&kind.as_str()) && !got.iter().any(|(k, _)| *k == kind) {
            got.push((kind, s));
        }
    }
    let mut take = |k: &str| got.iter().position(|(n, _)| n == k).map(|i| got.swap_remove(i).1);
    let error = take("error").expect("the error stream is always wanted");
    let stdin = take("stdin").map(|s| s.rx);
    let stdout = take("stdout").map(|s| s.tx);
    let stderr = take("stderr").map(|s| s.tx);
    let resize = take("resize").map(|s| s.rx);
    // Streams opened after these are not part of the protocol: refused as they come.
    let mut extra = std::mem::replace(&mut session.incoming, mpsc::channel(1).1);
    let drain = tokio::spawn(async move { while extra.recv().await.is_some() {} });
    let streams = Streams { stdin, stdout, stderr, error: error.tx, resize, v4_status: version == "v4.channel.k8s.io", closed: session.closed.clone() };
    run(&cri, p, streams).await;
    session.close(CLOSE_GRACE).await;
    drain.abort();
}

/// Exec or attach over a WebSocket (channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize).
pub(super) async fn over_websocket(cri: Cri, p: Pending, f: Framing, mut ch: Channels) {
    let (stdout, stderr) = match &p {
        Pending::Exec(e) => (e.stdout, e.stderr),
        Pending::Attach(a) => (a.stdout, a.stderr),
        Pending::PortForward(_) => (false, false),
    };
    // The kubelet tells the client it is connected with an empty message on the lowest
    // channel it writes.
    ch.hello(if stdout { 1 } else if stderr { 2 } else { 3 }).await;
    let streams = Streams {
        stdin: ch.inbound.remove(&0),
        stdout: stdout.then(|| ch.tx(1)),
        stderr: stderr.then(|| ch.tx(2)),
        error: ch.tx(3),
        resize: ch.inbound.remove(&4),
        v4_status: f.v4_status,
        closed: ch.closed.clone(),
    };
    run(&cri, p, streams).await;
    ch.close(CLOSE_GRACE).await;
}

/// Runs the command and reports its outcome on the error stream.
async fn run(cri: &Cri, p: Pending, mut s: Streams) {
    let outcome = match p {
        Pending::Exec(req) => exec(cri, req, &mut s).await,
        Pending::Attach(req) => attach(cri, req, &mut s).await,
        Pending::PortForward(_) => Outcome::Error("not a remote command".into()),
    };
    if let Some(tx) = &s.stdout {
        tx.fin().await;
    }
    if let Some(tx) = &s.stderr {
        tx.fin().await;
    }
    let body = status_body(&outcome, s.v4_status);
    if !body.is_empty() {
        s.error.send(Bytes::from(body)).await;
    }
    s.error.fin().await;
}

/// The error stream's payload for an outcome.
fn status_body(o: &Outcome, v4: bool) -> Vec<u8> {
    let v = match (o, v4) {
        (Outcome::Success, true) => serde_json::json!({"metadata": {}, "status": "Success"}),
        (Outcome::Success, false) => return vec![],
        (Outcome::Exit(code, msg), true) => serde_json::json!({
            "metadata": {}, "status": "Failure", "message": msg, "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
        }),
        (Outcome::Error(msg), true) => serde_json::json!({
            "metadata": {}, "status": "Failure", "message": msg, "reason": "InternalError",
            "details": {"causes": [{"message": msg}]}, "code": 500,
        }),
        (Outcome::Exit(_, msg) | Outcome::Error(msg), false) => return msg.clone().into_bytes(),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// What a resize applies to.
enum Target {
    Exec(Arc<Exec>),
    Container(Arc<Handle>),
}

async fn exec(cri: &Cri, req: crate::proto::ExecRequest, s: &mut Streams) -> Outcome {
    let h = match cri.object(meta::KIND_CONTAINER, &req.container_id) {
        Ok((h, rec)) if rec.state.status == Status::Running => h,
        Ok((_, rec)) => return Outcome::Error(format!("container {} is not running", rec.id)),
        Err(e) => return Outcome::Error(e.message().to_string()),
    };
    let cmd = req.cmd.clone();
    let r = ExecRequest { attach_stdin: req.stdin, attach_stdout: req.stdout, attach_stderr: req.stderr, tty: req.tty, cmd: req.cmd, ..Default::default() };
    let svc = cri.services.containers.clone();
    let ex = match svc.exec_create(&h, r).and_then(|id| svc.exec_get(&id)) {
        Ok(ex) => ex,
        Err(e) => return Outcome::Error(format!("error executing command in container: {e}")),
    };
    let (shim, mut state) = match svc.exec_start(&ex, false).await {
        Ok((Some(shim), state)) => (shim, state),
        Ok((None, _)) => return Outcome::Error("the exec has no streams".into()),
        Err(e) => {
            // What runc says when the command cannot start, as the process's own stderr, and
            // Docker's exit code for it.
            if let Some(tx) = s.stderr.as_ref().or(s.stdout.as_ref()) {
                tx.send(Bytes::from(format!("{e}\r\n"))).await;
            }
            return Outcome::Exit(126, format!("command terminated with non-zero exit code: {e}"));
        }
    };
    if !pump(cri, shim, req.tty, s, Target::Exec(ex.clone())).await {
        // The client went away: the command keeps running as with `docker exec` whose client left.
        return Outcome::Error("the client went away".into());
    }
    let code = match tokio::time::timeout(Duration::from_secs(10), state.wait_for(|(running, code, _)| !running && code.is_some())).await {
        Ok(Ok(v)) => v.1.unwrap_or(255),
        _ => return Outcome::Error("the exec's exit code is unknown".into()),
    };
    if code == 0 {
        Outcome::Success
    } else {
        Outcome::Exit(code, format!("command terminated with non-zero exit code: error executing command {cmd:?}, exit code {code}"))
    }
}

async fn attach(cri: &Cri, req: crate::proto::AttachRequest, s: &mut Streams) -> Outcome {
    let (h, rec) = match cri.object(meta::KIND_CONTAINER, &req.container_id) {
        Ok((h, rec)) if rec.state.status == Status::Running => (h, rec),
        Ok((_, rec)) => return Outcome::Error(format!("container {} is not running", rec.id)),
        Err(e) => return Outcome::Error(e.message().to_string()),
    };
    // The container's terminal decides the framing, whatever the request said (as containerd).
    let tty = rec.config.tty.unwrap_or(false);
    let hello = ShimHello::Attach { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr && !tty };
    let shim = match cri.services.containers.attach(&h, hello) {
        Ok(ticket) => match ticket.connect().await {
            Ok(shim) => shim,
            Err(e) => return Outcome::Error(format!("attaching: {e}")),
        },
        Err(e) => return Outcome::Error(format!("attaching: {e}")),
    };
    if pump(cri, shim, tty, s, Target::Container(h)).await {
        Outcome::Success
    } else {
        Outcome::Error("the client went away".into())
    }
}

/// Joins the client's streams to the shim connection until the output ends (true) or the client
/// goes away (false).
async fn pump(cri: &Cri, shim: tokio::net::UnixStream, tty: bool, s: &mut Streams, target: Target) -> bool {
    let (mut shim_r, mut shim_w) = shim.into_split();
    let input = s.stdin.take().map(|mut rx| {
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if shim_w.write_all(&b).await.is_err() {
                    return;
                }
            }
            // The client closed its stdin: so does the command (stdin_once).
            let _ = shim_w.shutdown().await;
        })
    });
    let resizer = s.resize.take().map(|rx| {
        let svc = cri.services.containers.clone();
        tokio::spawn(resize_loop(rx, move |w, h| {
            let svc = svc.clone();
            let t = match &target {
                Target::Exec(e) => Target::Exec(e.clone()),
                Target::Container(h) => Target::Container(h.clone()),
            };
            async move {
                let r = match &t {
                    Target::Exec(e) => svc.exec_resize(e, h, w).await,
                    Target::Container(c) => svc.resize(c, h, w).await,
                };
                if let Err(error) = r {
                    tracing::debug!(%error, "CRI streaming: resize failed");
                }
            }
        }))
    });
    let mut closed = s.closed.clone();
    let mut header = [0u8; 8];
    let finished = loop {
        let got = tokio::select! {
            r = shim_r.read_exact(&mut header) => r.is_ok(),
            _ = super::until_true(&mut closed) => break false,
        };
        if !got {
            break true;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = BytesMut::zeroed(len);
        if shim_r.read_exact(&mut data).await.is_err() {
            break true;
        }
        let dest = if header[0] == 2 && !tty { s.stderr.as_ref() } else { s.stdout.as_ref() };
        if let Some(tx) = dest {
            if !tx.send(data.freeze()).await {
                break false;
            }
        }
    };
    if let Some(t) = input {
        t.abort();
    }
    if let Some(t) = resizer {
        t.abort();
    }
    finished
}

/// Terminal sizes as client-go sends them: JSON objects `{"Width":W,"Height":H}` one after
/// another, split across frames anyhow.
#[derive(serde::Deserialize, Debug, PartialEq)]
struct Size {
    #[serde(rename = "Width")]
    width: u16,
    #[serde(rename = "Height")]
    height: u16,
}

async fn resize_loop<F, Fut>(mut rx: mpsc::Receiver<Bytes>, apply: F)
where
    F: Fn(u16, u16) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut buf = Vec::new();
    while let Some(b) = rx.recv().await {
        buf.extend_from_slice(&b);
        let (sizes, used) = parse_sizes(&buf);
        buf.drain(..used);
        for s in sizes {
            apply(s.width, s.height).await;
        }
        if buf.len() > 64 << 10 {
            // Not terminal sizes: stop listening rather than buffer without end.
            return;
        }
    }
}

/// The complete sizes at the front of `buf`, and how many bytes they took.
fn parse_sizes(buf: &[u8]) -> (Vec<Size>, usize) {
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Size>();
    let mut out = vec![];
    let mut used = 0;
    loop {
        match it.next() {
            Some(Ok(s)) => {
                used = it.byte_offset();
                out.push(s);
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => {
                // Skip a value that is not a size (an unknown shape): up to the next object.
                let skip = buf[used + 1..].iter().position(|b| *b == b'{').map(|p| used + 1 + p).unwrap_or(buf.len());
                let (more, n) = parse_sizes(&buf[skip..]);
                out.extend(more);
                return (out, skip + n);
            }
            None => break,
        }
    }
    (out, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_split_across_frames() {
        let (s, n) = parse_sizes(b"{\"Width\":80,\"Height\":24}\n{\"Width\":120,\"He");
        assert_eq!(s, vec![Size { width: 80, height: 24 }]);
        assert_eq!(n, 24, "up to the end of the first object");
        let (s, _) = parse_sizes(b"{\"Width\":120,\"Height\":40}\n");
        assert_eq!(s, vec![Size { width: 120, height: 40 }]);
        let (s, _) = parse_sizes(b"{\"bogus\":1}{\"Width\":1,\"Height\":2}");
        assert_eq!(s, vec![Size { width: 1, height: 2 }]);
    }

    /// The v4 Status client-go's `errorDecoderV4` reads: the exit code is the `ExitCode` cause.
    #[test]
    fn v4_status_carries_the_exit_code() {
        let ok: serde_json::Value = serde_json::from_slice(&status_body(&Outcome::Success, true)).unwrap();
        assert_eq!(ok, serde_json::json!({"metadata": {}, "status": "Success"}));
        let v: serde_json::Value = serde_json::from_slice(&status_body(&Outcome::Exit(3, "command terminated".into()), true)).unwrap();
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "NonZeroExitCode");
        assert_eq!(v["details"]["causes"][0], serde_json::json!({"reason": "ExitCode", "message": "3"}));
        assert!(status_body(&Outcome::Success, false).is_empty());
        assert_eq!(status_body(&Outcome::Error("boom".into()), false), b"boom");
    }

    #[test]
    fn streams_wanted_per_request() {
        let e = Pending::Exec(crate::proto::ExecRequest { stdin: true, stdout: true, tty: true, ..Default::default() });
        assert_eq!(wanted(&e, true), vec!["error", "stdin", "stdout", "resize"]);
        assert_eq!(wanted(&e, false), vec!["error", "stdin", "stdout"]);
    }
}
