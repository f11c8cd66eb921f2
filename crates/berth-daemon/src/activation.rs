//! systemd integration: the sockets a service manager passed (`-H fd://`, socket activation as
//! `sd_listen_fds(3)` reads it: `LISTEN_PID` must be this process, `LISTEN_FDS` sockets from fd 3)
//! and the readiness protocol (`sd_notify(3)`: `READY=1` once the API serves, `STOPPING=1` when
//! shutting down) on `NOTIFY_SOCKET`. Both are no-ops without a
//! service manager. The variables are left in the environment: the fds are close-on-exec, and a
//! child's pid never matches `LISTEN_PID`.

#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Mutex, OnceLock};

/// The first fd a service manager passes (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: i32 = 3;

static PASSED: OnceLock<Mutex<Vec<Option<OwnedFd>>>> = OnceLock::new();

fn passed() -> &'static Mutex<Vec<Option<OwnedFd>>> {
    PASSED.get_or_init(|| {
        let fds = match sd_notify::listen_fds() {
            Ok(fds) => fds
                .map(|fd| {
                    // SAFETY: sd_listen_fds's contract: the service manager opened fds 3..3+LISTEN_FDS
                    // for this very process (LISTEN_PID checked) and nothing else in it owns them; this
                    // runs once (OnceLock), so each fd gets exactly one owner.
                    Some(unsafe { OwnedFd::from_raw_fd(fd) })
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring malformed socket activation variables");
                Vec::new()
            }
        };
        Mutex::new(fds)
    })
}

/// Takes the passed sockets: all that are left (`fd` None) or the one numbered `fd`. The error
/// says what is missing, as dockerd's `listenFD` does.
pub fn take(fd: Option<i32>) -> Result<Vec<OwnedFd>, String> {
    let mut fds = passed().lock().unwrap_or_else(|p| p.into_inner());
    if fds.is_empty() {
        return Err("no sockets found via socket activation: make sure the service was started by systemd".into());
    }
    match fd {
        None => {
            let all: Vec<OwnedFd> = fds.iter_mut().filter_map(Option::take).collect();
            if all.is_empty() {
                return Err("every socket passed by socket activation is already in use".into());
            }
            Ok(all)
        }
        Some(n) => {
            let count = fds.len();
            let slot = usize::try_from(n - LISTEN_FDS_START).ok().and_then(|i| fds.get_mut(i));
            match slot {
                Some(s) => s.take().map(|f| vec![f]).ok_or_else(|| format!("socket activated fd {n} is already in use")),
                None => Err(format!("too few socket activated files passed in by systemd: fd {n} asked for, {count} passed from fd {LISTEN_FDS_START}")),
            }
        }
    }
}

/// Closes the passed sockets no `-H fd://…` took.
pub fn close_unused() {
    if let Some(m) = PASSED.get() {
        let n = m.lock().unwrap_or_else(|p| p.into_inner()).iter_mut().filter_map(Option::take).count();
        if n > 0 {
            tracing::warn!(count = n, "closing socket activated sockets that no -H fd:// host uses");
        }
    }
}

/// Tells the service manager the daemon serves (`READY=1`).
pub fn notify_ready() {
    notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status("serving the API")]);
}

/// Tells the service manager the daemon is stopping (`STOPPING=1`).
pub fn notify_stopping() {
    notify(&[sd_notify::NotifyState::Stopping]);
}

fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify the service manager (NOTIFY_SOCKET)");
    }
}
