//! Stopping the servers (`berth daemon`, `berth registry`) on SIGTERM and SIGINT.

/// Resolves on the first SIGTERM or SIGINT. The handlers are installed at the call, not at the
/// first poll: a SIGTERM that arrives while the daemon is still starting (its socket already
/// bound) stops it cleanly instead of killing it with the default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            // Without signal handlers the daemon can still be stopped by SIGKILL; never stop on our own.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}
