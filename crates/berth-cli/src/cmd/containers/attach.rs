//! Streams between the terminal and a container: attach, raw mode, window size.

#[allow(unused_imports)]
use super::*;

/// Copies a hijacked attach stream to our stdout/stderr (demultiplexing Docker's frames unless
/// `tty`) and our stdin to it when `stdin`.
pub(super) async fn pump(conn: berth_client::Hijacked, tty: bool, stdin: bool) {
    let (mut r, mut w) = tokio::io::split(conn);
    let input = tokio::spawn(async move {
        if stdin {
            let mut si = tokio::io::stdin();
            let _ = tokio::io::copy(&mut si, &mut w).await;
        }
        // Half-close: the daemon passes the end of input on to the container.
        let _ = w.shutdown().await;
    });
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();
    if tty {
        let _ = tokio::io::copy(&mut r, &mut out).await;
    } else {
        let mut hdr = [0u8; 8];
        let mut buf = vec![0u8; 64 * 1024];
        while r.read_exact(&mut hdr).await.is_ok() {
            let mut left = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
            while left > 0 {
                let n = left.min(buf.len());
                if r.read_exact(&mut buf[..n]).await.is_err() {
                    left = usize::MAX;
                    break;
                }
                let _ = if hdr[0] == 2 { err.write_all(&buf[..n]).await } else { out.write_all(&buf[..n]).await };
                left -= n;
            }
            if left == usize::MAX {
                break;
            }
        }
    }
    let _ = out.flush().await;
    let _ = err.flush().await;
    if !stdin {
        input.abort();
    }
}

/// Asks the daemon to wait for `condition` on container `id` and returns once the daemon has
/// answered with the headers, that is, once the wait is registered (as the docker CLI's
/// `ContainerWait`); the task then reads the result. Starting the container only after this cannot
/// miss an exit, however slow the transport (each request over `ssh://` is a new ssh session).
pub(super) async fn registered_wait(c: &Client, id: &str, condition: &str) -> Result<tokio::task::JoinHandle<Result<Value, ClientError>>, ClientError> {
    let resp = c.request(Method::POST, &format!("/containers/{id}/wait"), &[("condition", condition.to_string())], berth_client::empty(), &[]).await?;
    Ok(tokio::spawn(berth_client::read_json::<Value>(resp)))
}

/// Keeps the TTY of container (or exec) `path` (`/containers/ID` or `/exec/ID`) the size of our
/// terminal: now, and on every SIGWINCH while the returned task runs.
pub(super) fn forward_window_size(c: &Client, path: String) -> Option<tokio::task::JoinHandle<()>> {
    crate::sys::terminal_size()?;
    let c = c.clone();
    Some(tokio::spawn(async move {
        let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok();
        loop {
            if let Some((h, w)) = crate::sys::terminal_size() {
                let q = [("h", h.to_string()), ("w", w.to_string())];
                let _ = c.request(Method::POST, &format!("{path}/resize"), &q, berth_client::empty(), &[]).await;
            }
            match winch.as_mut() {
                Some(s) => {
                    if s.recv().await.is_none() {
                        return;
                    }
                }
                None => return,
            }
        }
    }))
}

/// Puts the terminal in raw mode for `-it` and restores it on drop.
pub(super) struct RawTerminal(Option<nix::sys::termios::Termios>);

impl RawTerminal {
    pub(super) fn enable(on: bool) -> RawTerminal {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        if !on || !std::io::stdin().is_terminal() {
            return RawTerminal(None);
        }
        let stdin = std::io::stdin();
        let Ok(orig) = tcgetattr(&stdin) else { return RawTerminal(None) };
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        RawTerminal(Some(orig))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, t);
        }
    }
}

/// Aborts the signal-forwarding tasks when dropped.
struct SignalProxy(Vec<tokio::task::JoinHandle<()>>);

impl Drop for SignalProxy {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// `berth attach`: streams until the container exits (then its exit code) or the user detaches
/// with the detach keys (ctrl-p ctrl-q unless `--detach-keys`; then 0, the container keeps
/// running). Without a TTY the signals berth receives go to the container (`--sig-proxy`).
pub async fn attach(c: &Client, a: crate::cli::AttachArgs) -> anyhow::Result<ExitCode> {
    let container = a.container.as_str();
    let info: Value = c.get_json(&format!("/containers/{container}/json"), &[]).await?;
    if info["State"]["Running"] != json!(true) {
        anyhow::bail!("You cannot attach to a stopped container, start it first");
    }
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let stdin = !a.no_stdin && info["Config"]["OpenStdin"].as_bool().unwrap_or(false);
    let mut q = vec![("stream", "1".to_string()), ("stdout", "1".to_string()), ("stderr", "1".to_string())];
    if stdin {
        q.push(("stdin", "1".to_string()));
    }
    if let Some(k) = &a.detach_keys {
        q.push(("detachKeys", k.clone()));
    }
    let _proxies = if a.sig_proxy && !tty { SignalProxy(proxy_signals(c, container)) } else { SignalProxy(Vec::new()) };
    let conn = c.hijack(&format!("/containers/{container}/attach"), &q, berth_client::empty()).await?;
    let raw = RawTerminal::enable(tty && stdin);
    let resizer = if tty { forward_window_size(c, format!("/containers/{container}")) } else { None };
    pump(conn, tty, stdin).await;
    drop(raw);
    if let Some(r) = resizer {
        r.abort();
    }
    let after: Value = c.get_json(&format!("/containers/{container}/json"), &[]).await?;
    if after["State"]["Running"] == json!(true) {
        return Ok(ExitCode::SUCCESS);
    }
    Ok(ExitCode::from(after["State"]["ExitCode"].as_i64().unwrap_or(0).clamp(0, 255) as u8))
}
