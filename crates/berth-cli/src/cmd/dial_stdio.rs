//! `berth system dial-stdio`: joins this process's stdin and stdout to a connection to the daemon,
//! as `docker system dial-stdio` does. It is what a client's `ssh://` host runs on the far side:
//! the client speaks HTTP into ssh, ssh into this, this into the daemon's socket.

use berth_client::{Client, Dialed};
use std::process::ExitCode;
use tokio::io::AsyncWriteExt;

pub async fn run(c: &Client) -> anyhow::Result<ExitCode> {
    let Dialed { io, .. } = c.dial().await?;
    let (mut from_daemon, mut to_daemon) = tokio::io::split(io);
    // stdin to the daemon; at its end, the daemon's side is half-closed (the response still comes).
    let up = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let r = tokio::io::copy(&mut stdin, &mut to_daemon).await;
        let _ = to_daemon.shutdown().await;
        r
    });
    // The daemon to stdout, until the daemon closes the connection.
    let mut stdout = tokio::io::stdout();
    let down = tokio::io::copy(&mut from_daemon, &mut stdout).await;
    let _ = stdout.flush().await;
    down.map_err(|e| anyhow::anyhow!("copying from the daemon: {e}"))?;
    if up.is_finished() {
        if let Ok(Err(e)) = up.await {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(anyhow::anyhow!("copying to the daemon: {e}"));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
