//! The libcontainer calls. libcontainer clones without exec and changes the calling process's
//! state, so these functions must only run in a fresh single-threaded process: `berth shim`.

use crate::filter::{Filter, FilteredExecutor};
use crate::{RuntimeConfig, RuntimeError};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use std::os::fd::OwnedFd;
use std::path::Path;

/// The container's standard streams, or a console socket when it has a terminal.
pub enum Stdio {
    /// Pipes (or /dev/null) for stdin, stdout and stderr.
    Pipes {
        /// Read end for the container's stdin.
        stdin: OwnedFd,
        /// Write end for its stdout.
        stdout: OwnedFd,
        /// Write end for its stderr.
        stderr: OwnedFd,
    },
    /// A unix socket on which the runtime sends the PTY master.
    Console(std::path::PathBuf),
}

fn lc(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Libcontainer(e.to_string())
}

fn builder(id: &str, state_root: &Path, stdio: Stdio, filter: Option<Filter>) -> Result<ContainerBuilder, RuntimeError> {
    let mut b = ContainerBuilder::new(id.to_string(), SyscallType::Linux).with_root_path(state_root).map_err(lc)?;
    b = match stdio {
        Stdio::Pipes { stdin, stdout, stderr } => b.with_stdin(stdin).with_stdout(stdout).with_stderr(stderr),
        Stdio::Console(path) => b.with_console_socket(Some(path)),
    };
    if let Some(f) = filter {
        b = b.with_executor(FilteredExecutor::new(f));
    }
    Ok(b)
}

/// The v1 `memory.oom_control` of the container's cgroup when its spec disables the OOM killer:
/// libcontainer applies every other memory setting but always writes the killer enabled, so the
/// shim writes it between create and start. cgroup v2 has no such switch (the daemon discards
/// the setting there with dockerd's warning).
fn oom_control_to_disable(bundle: &Path) -> Option<std::path::PathBuf> {
    let spec: serde_json::Value = serde_json::from_slice(&std::fs::read(bundle.join("config.json")).ok()?).ok()?;
    if spec["linux"]["resources"]["memory"]["disableOOMKiller"] != true {
        return None;
    }
    let cg = spec["linux"]["cgroupsPath"].as_str()?.trim_start_matches('/');
    let path = Path::new("/sys/fs/cgroup/memory").join(cg).join("memory.oom_control");
    Path::new("/sys/fs/cgroup/memory").exists().then_some(path)
}

/// Creates and starts the container described by `bundle/config.json`; returns its init pid.
/// libcontainer's state goes under `state_root/<id>`. `filter`: a precompiled seccomp filter the
/// init loads right before exec (see [`crate::filter`]).
pub fn create_and_start(id: &str, bundle: &Path, state_root: &Path, stdio: Stdio, filter: Option<Filter>) -> Result<i32, RuntimeError> {
    let b = builder(id, state_root, stdio, filter)?;
    let oom_control = oom_control_to_disable(bundle);
    let mut container = b.as_init(bundle).with_systemd(false).with_detach(true).build().map_err(lc)?;
    if let Some(path) = oom_control {
        std::fs::write(&path, "1").map_err(|source| RuntimeError::Io { op: "disabling the OOM killer in", path, source })?;
    }
    container.start().map_err(lc)?;
    container.pid().map(|p| p.as_raw()).ok_or_else(|| RuntimeError::Libcontainer("container started without a pid".into()))
}

/// Moves this (single-threaded) process into existing namespaces, `(kind, path)` with kind `net`,
/// `ipc`, `uts`, `pid` (for its children) or `user`, in order, before a container with its own
/// user namespace is created from it (see [`crate::spec::joined_namespaces`]) or an exec enters one
/// ([`exec_namespaces`]).
pub fn join_namespaces(list: &[(&str, String)]) -> Result<(), RuntimeError> {
    use nix::sched::{setns, CloneFlags};
    for (kind, path) in list {
        let flag = match *kind {
            "net" => CloneFlags::CLONE_NEWNET,
            "ipc" => CloneFlags::CLONE_NEWIPC,
            "uts" => CloneFlags::CLONE_NEWUTS,
            "pid" => CloneFlags::CLONE_NEWPID,
            "user" => CloneFlags::CLONE_NEWUSER,
            other => return Err(RuntimeError::Invalid(format!("cannot join a {other} namespace"))),
        };
        let f = std::fs::File::open(path).map_err(|source| RuntimeError::Io { op: "open namespace", path: path.into(), source })?;
        setns(&f, flag).map_err(|e| RuntimeError::Io { op: "join namespace", path: path.into(), source: e.into() })?;
    }
    Ok(())
}

/// The namespaces an exec into the remapped container `cfg` (init `pid`) joins before
/// libcontainer's tenant builder enters the rest: those the container joined from outside its user
/// namespace (which the tenant could no longer join from inside it), then the user namespace
/// itself, which libcontainer 0.7's tenant builder never joins (its exec would otherwise run as
/// the host's root).
pub fn exec_namespaces(cfg: &RuntimeConfig, pid: i32) -> Vec<(&'static str, String)> {
    if cfg.userns.is_none() {
        return Vec::new();
    }
    let mut list: Vec<(&'static str, String)> = crate::spec::joined_namespaces(cfg).into_iter().map(|(k, _)| (k, format!("/proc/{pid}/ns/{k}"))).collect();
    list.push(("user", format!("/proc/{pid}/ns/user")));
    list
}

/// Starts an extra process (`exec`) in the running container `id`, described by the OCI process
/// JSON at `process`, loading `filter` before exec as [`create_and_start`] does; returns its pid.
pub fn exec(id: &str, state_root: &Path, process: &Path, stdio: Stdio, filter: Option<Filter>) -> Result<i32, RuntimeError> {
    let b = builder(id, state_root, stdio, filter)?;
    let pid = b.as_tenant().with_process(Some(process)).with_detach(true).build().map_err(lc)?;
    Ok(pid.as_raw())
}

/// Removes libcontainer's state for `id` and its cgroup (killing what is left in it).
pub fn delete(id: &str, state_root: &Path) -> Result<(), RuntimeError> {
    let dir = state_root.join(id);
    if !dir.exists() {
        return Ok(());
    }
    let mut c = Container::load(dir).map_err(lc)?;
    c.delete(true).map_err(lc)
}
