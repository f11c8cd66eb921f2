//! System calls the shim needs that have no safe wrapper, each with its reason.
#![allow(unsafe_code)]

use crate::setup::ShimError;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd), ShimError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| ShimError::Sys("pipe", e))
}

/// Ignores SIGPIPE so writes to a vanished client fail with EPIPE instead of killing the shim.
pub fn ignore_sigpipe() {
    // SAFETY: SIG_IGN is a valid disposition and installing it has no memory-safety effect.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigIgn) };
}

/// Accepts the runtime's connection on the console socket and receives the PTY master over it.
pub fn receive_fd(l: &UnixListener) -> Result<OwnedFd, ShimError> {
    let (conn, _) = l.accept().map_err(|source| ShimError::Io { op: "accept", path: "console socket".into(), source })?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC).map_err(|e| ShimError::Sys("recvmsg console", e))?;
    for c in msg.cmsgs().map_err(|e| ShimError::Sys("console cmsg", e))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our table for us (SCM_RIGHTS).
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(ShimError::Sys("console socket sent no descriptor", nix::Error::EINVAL))
}

nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// Sets the terminal size of a PTY master.
pub fn resize(pty: &OwnedFd, height: u16, width: u16) {
    let ws = libc::winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: `pty` is an open descriptor we own and `ws` is a valid winsize for the call's duration.
    let _ = unsafe { tiocswinsz(pty.as_raw_fd(), &ws) };
}
