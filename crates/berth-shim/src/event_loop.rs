//! The running shim: one poll loop over the container's output, the client socket, the clients'
//! stdin and SIGCHLD, until the container exited and its output is drained.

use crate::files::{now, write_exit, ExitRecord, ShimHello};
use crate::setup::{cleanup, Running};
use crate::ShimArgs;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

enum Role {
    Attach { stdin: bool, stdout: bool, stderr: bool },
    Wait,
}

struct Client {
    stream: UnixStream,
    role: Role,
    /// A write to it failed; removed at the end of the loop iteration (indices stay valid until then).
    dead: bool,
}

fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn read_hello(s: &mut UnixStream) -> Option<ShimHello> {
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while line.len() < 4096 {
        match s.read(&mut b) {
            Ok(1) if b[0] == b'\n' => break,
            Ok(1) => line.push(b[0]),
            _ => return None,
        }
    }
    let _ = s.set_read_timeout(None);
    serde_json::from_slice(&line).ok()
}

fn set_nonblocking(fd: &OwnedFd) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if let Ok(flags) = fcntl(std::os::fd::AsRawFd::as_raw_fd(fd), FcntlArg::F_GETFL) {
        let _ = fcntl(std::os::fd::AsRawFd::as_raw_fd(fd), FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK));
    }
}

/// Whether the kernel OOM-killed a process of the container's cgroup (v1 or v2 memory events).
fn oom_killed(cgroups_path: &str) -> bool {
    let rel = cgroups_path.trim_start_matches('/');
    if rel.is_empty() {
        return false;
    }
    ["/sys/fs/cgroup/memory/{}/memory.oom_control", "/sys/fs/cgroup/{}/memory.events", "/sys/fs/cgroup/unified/{}/memory.events"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(t.replace("{}", rel)).ok())
        .any(|s| s.lines().any(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > 0)))
}

/// Serves until the container exited and its output is drained, then records the exit and cleans up.
pub fn serve(args: &ShimArgs, r: Running) {
    // The start counts once the daemon reads this line. If it cannot (the daemon died since it
    // spawned this shim), nobody will ever record the container as running: it is killed, and the
    // loop below records the exit and cleans up as after any exit.
    let told = writeln!(std::io::stdout(), "{}", serde_json::json!({"pid": r.pid})).and_then(|()| std::io::stdout().flush());
    if told.is_err() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(r.pid), nix::sys::signal::Signal::SIGKILL);
    }
    let Running { pid, cfg, mut stdin, mut outputs, pty, listener, signals, mut log } = r;
    let _ = listener.set_nonblocking(true);
    for (_, fd) in &outputs {
        set_nonblocking(fd);
    }
    let mut clients: Vec<Client> = Vec::new();
    let mut exit: Option<i32> = None;
    let mut drain_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let release_deadline = Instant::now() + Duration::from_secs(5);
    let mut released = false;
    loop {
        if !released && Instant::now() > release_deadline {
            released = true;
        }
        if exit.is_some() && released && (outputs.is_empty() || drain_deadline.is_some_and(|d| Instant::now() > d)) {
            break;
        }
        // Poll set: [signals, listener, outputs…, stdin-sending clients…]
        let stdin_clients: Vec<usize> =
            clients.iter().enumerate().filter(|(_, c)| matches!(c.role, Role::Attach { stdin: true, .. })).map(|(i, _)| i).collect();
        let polled_outputs = released;
        let ready: Vec<PollFlags> = {
            let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN), PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
            // Until released, output stays in the pipe (the container blocks once it is full). The
            // pipes are left out of the poll set entirely: POLLHUP would be reported regardless.
            if polled_outputs {
                for (_, fd) in &outputs {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                }
            }
            for &i in &stdin_clients {
                fds.push(PollFd::new(clients[i].stream.as_fd(), PollFlags::POLLIN));
            }
            let timeout = if exit.is_some() || !released { PollTimeout::from(100u16) } else { PollTimeout::NONE };
            match poll(&mut fds, timeout) {
                Ok(_) => fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect(),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "poll failed");
                    break;
                }
            }
        };
        let hit = |f: PollFlags| f.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
        if hit(ready[0]) {
            while let Ok(Some(_)) = signals.read_signal() {}
            loop {
                match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => exit = Some(code),
                    Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => exit = Some(128 + sig as i32),
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
            if exit.is_some() && drain_deadline.is_none() {
                // Output still in the pipes is read for up to 2 s after the exit (after the release).
                let from = if released { Instant::now() } else { release_deadline.max(Instant::now()) };
                drain_deadline = Some(from + Duration::from_secs(2));
            }
        }
        if hit(ready[1]) {
            while let Ok((mut s, _)) = listener.accept() {
                let _ = s.set_nonblocking(false);
                match read_hello(&mut s) {
                    Some(ShimHello::Attach { stdin: i, stdout: o, stderr: e }) => {
                        let _ = s.set_write_timeout(Some(Duration::from_secs(10)));
                        clients.push(Client { stream: s, role: Role::Attach { stdin: i && stdin.is_some(), stdout: o, stderr: e }, dead: false });
                    }
                    Some(ShimHello::Wait) => clients.push(Client { stream: s, role: Role::Wait, dead: false }),
                    Some(ShimHello::Release) => released = true,
                    Some(ShimHello::ReopenLog) => {
                        let ok = log.reopen();
                        let _ = s.write_all(if ok { b"ok\n" } else { b"error\n" });
                    }
                    Some(ShimHello::Resize { height, width }) => {
                        if let Some(p) = &pty {
                            crate::sys::resize(p, height, width);
                        }
                    }
                    None => {}
                }
            }
        }
        let mut closed_outputs = Vec::new();
        for (k, (stream, fd)) in outputs.iter().enumerate() {
            if !polled_outputs || !hit(ready[2 + k]) {
                continue;
            }
            let Ok(dup) = fd.try_clone() else {
                closed_outputs.push(k);
                continue;
            };
            let mut f = File::from(dup);
            match f.read(&mut buf) {
                Ok(0) => closed_outputs.push(k),
                Ok(n) => {
                    log.write(*stream, &buf[..n]);
                    let data = frame(*stream, &buf[..n]);
                    for c in clients.iter_mut().filter(|c| !c.dead) {
                        if let Role::Attach { stdout, stderr, .. } = c.role {
                            if ((*stream == 1 && stdout) || (*stream == 2 && stderr)) && c.stream.write_all(&data).is_err() {
                                c.dead = true;
                            }
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {}
                // A PTY master reads EIO once the last slave closed: the end of output.
                Err(_) => closed_outputs.push(k),
            }
        }
        for k in closed_outputs.into_iter().rev() {
            outputs.remove(k);
        }
        let mut drop_stdin = false;
        let mut done_clients = Vec::new();
        let offset = ready.len() - stdin_clients.len();
        for (j, &ci) in stdin_clients.iter().enumerate() {
            if !hit(ready[offset + j]) {
                continue;
            }
            let c = &mut clients[ci];
            match c.stream.read(&mut buf) {
                Ok(0) | Err(_) => {
                    if cfg.stdin_once {
                        drop_stdin = true;
                    }
                    done_clients.push(ci);
                }
                Ok(n) => {
                    if let Some(Ok(dup)) = stdin.as_ref().map(|s| s.try_clone()) {
                        if File::from(dup).write_all(&buf[..n]).is_err() {
                            drop_stdin = true;
                        }
                    }
                }
            }
        }
        for ci in done_clients {
            // The client stopped sending; it may still be reading output.
            if let Role::Attach { stdin, .. } = &mut clients[ci].role {
                *stdin = false;
            }
        }
        if drop_stdin {
            stdin = None;
        }
        clients.retain(|c| !c.dead);
    }
    log.flush();
    let code = exit.unwrap_or(255);
    let record = ExitRecord { exit_code: code, finished_at: now(), oom_killed: oom_killed(&cfg.cgroups_path), error: None };
    // The runtime's state, the cgroup and the root filesystem's mount go before anyone hears of
    // the exit: a start that follows at once (`restart`, a restart policy, `stop && start`) would
    // otherwise race this clean-up ("container already exists").
    let exec = args.exec_dir.is_some();
    if !exec {
        cleanup(args);
    }
    if let Err(e) = write_exit(args.work_dir(), &record) {
        tracing::error!(error = %e, "recording the exit failed");
    }
    let line = serde_json::to_vec(&record).unwrap_or_default();
    for mut c in clients {
        if matches!(c.role, Role::Wait) {
            let _ = c.stream.write_all(&line);
            let _ = c.stream.write_all(b"\n");
        }
        let _ = c.stream.shutdown(std::net::Shutdown::Both);
    }
    drop(stdin);
    drop(pty);
    if exec {
        cleanup(args);
    }
}
