//! Everything before the container runs: root filesystem, user, OCI bundle, stdio, sockets, start.

use crate::files::{now, write_state, StateRecord};
use crate::ShimArgs;
use berth_runtime::container::{self, Stdio};
use berth_runtime::mount::{unmount, MountDesc};
use berth_runtime::RuntimeConfig;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

/// Why the container could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    /// From the runtime layer.
    #[error(transparent)]
    Runtime(#[from] berth_runtime::RuntimeError),
    /// A file or socket operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What.
        op: &'static str,
        /// Where.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A record written by the daemon is malformed.
    #[error("reading {0}: {1}")]
    Record(&'static str, serde_json::Error),
    /// A system call failed.
    #[error("{0}: {1}")]
    Sys(&'static str, nix::Error),
    /// The log driver cannot reach its destination (dockerd's wording).
    #[error("{0}")]
    Log(String),
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ShimError + 'a {
    move |source| ShimError::Io { op, path: path.display().to_string(), source }
}

/// What the event loop needs once the container runs.
pub struct Running {
    /// Container init pid.
    pub pid: i32,
    /// The container's configuration.
    pub cfg: RuntimeConfig,
    /// Where stdin goes (pipe write end, or the PTY master), if stdin is open.
    pub stdin: Option<OwnedFd>,
    /// Output streams: (stream number 1 or 2, read end). With a TTY, the PTY master as stream 1.
    pub outputs: Vec<(u8, OwnedFd)>,
    /// The PTY master, for resizes.
    pub pty: Option<OwnedFd>,
    /// Client socket.
    pub listener: UnixListener,
    /// SIGCHLD delivery.
    pub signals: SignalFd,
    /// The container's log (none for an exec).
    pub log: crate::log::Log,
}

/// Stdio for a process: pipes, or a console socket to receive its PTY on.
struct Streams {
    stdio: Stdio,
    stdin: Option<OwnedFd>,
    outputs: Vec<(u8, OwnedFd)>,
    console: Option<(UnixListener, std::path::PathBuf)>,
}

fn streams(work: &Path, tty: bool, open_stdin: bool) -> Result<Streams, ShimError> {
    if tty {
        let console = crate::console_path(work);
        let _ = std::fs::remove_file(&console);
        let l = UnixListener::bind(&console).map_err(io("listen", &console))?;
        return Ok(Streams { stdio: Stdio::Console(console.clone()), stdin: None, outputs: vec![], console: Some((l, console)) });
    }
    let (in_r, in_w) = crate::sys::pipe()?;
    let (out_r, out_w) = crate::sys::pipe()?;
    let (err_r, err_w) = crate::sys::pipe()?;
    let stdin = if open_stdin { Some(in_w) } else { None };
    Ok(Streams { stdio: Stdio::Pipes { stdin: in_r, stdout: out_w, stderr: err_w }, stdin, outputs: vec![(1u8, out_r), (2u8, err_r)], console: None })
}

/// The shim's ends of a started process's stdio: its stdin writer, its (stream number, reader)
/// outputs and the PTY master if it has a terminal.
type StdioEnds = (Option<OwnedFd>, Vec<(u8, OwnedFd)>, Option<OwnedFd>);

/// After the process started: take the PTY master if there is one.
fn finish_streams(work: &Path, s: Streams, open_stdin: bool) -> Result<StdioEnds, ShimError> {
    match s.console {
        Some((l, path)) => {
            let master = crate::sys::receive_fd(&l)?;
            let _ = std::fs::remove_file(path);
            let out = master.try_clone().map_err(io("dup", work))?;
            let input = if open_stdin { Some(master.try_clone().map_err(io("dup", work))?) } else { None };
            Ok((input, vec![(1u8, out)], Some(master)))
        }
        None => Ok((s.stdin, s.outputs, None)),
    }
}

/// The container's seccomp profile, kept for its execs when its filter is precompiled.
const SECCOMP_PROFILE: &str = "seccomp.json";

/// Where compiled seccomp filters are cached (shared by all containers of the data root).
fn filter_cache(args: &ShimArgs) -> std::path::PathBuf {
    args.state_root.join("seccomp")
}

fn listen(work: &Path) -> Result<UnixListener, ShimError> {
    let sock = crate::socket_path(work);
    if let Some(parent) = sock.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    let _ = std::fs::remove_file(&sock);
    UnixListener::bind(&sock).map_err(io("listen", &sock))
}

/// Prepares and starts the container (or, with `exec_dir`, an exec in it).
pub fn start(args: &ShimArgs) -> Result<Running, ShimError> {
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| ShimError::Sys("set child subreaper", e))?;
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    mask.thread_block().map_err(|e| ShimError::Sys("block SIGCHLD", e))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).map_err(|e| ShimError::Sys("signalfd", e))?;
    // The daemon may go away while we run; never die of a broken pipe.
    crate::sys::ignore_sigpipe();
    if let Some(exec_dir) = &args.exec_dir {
        return start_exec(args, exec_dir, signals);
    }

    let dir = &args.dir;
    let cfg_path = dir.join("runtime.json");
    let cfg: RuntimeConfig =
        serde_json::from_slice(&std::fs::read(&cfg_path).map_err(io("read", &cfg_path))?).map_err(|e| ShimError::Record("runtime.json", e))?;
    let mounts_path = dir.join("mounts.json");
    let mounts: Vec<MountDesc> =
        serde_json::from_slice(&std::fs::read(&mounts_path).map_err(io("read", &mounts_path))?).map_err(|e| ShimError::Record("mounts.json", e))?;
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).map_err(io("create", &rootfs))?;
    for m in &mounts {
        // A remapped container sees its image layers through idmapped mounts.
        berth_runtime::idmapped::mount_rootfs(m, &rootfs, cfg.userns.as_ref())?;
    }
    // What the shim makes in the root belongs to the container's root (a remapped one's host ids).
    let owner = cfg.userns.as_ref().and_then(|m| m.root().ok());

    // Docker's marker that a process runs in a container (an empty file; never through a symlink).
    if cfg.dockerenv {
        if let Ok(f) = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o755).open(rootfs.join(".dockerenv")) {
            if let Some((u, g)) = owner {
                let _ = std::os::unix::fs::fchown(&f, Some(u), Some(g));
            }
        }
    }
    // Docker creates a missing working directory.
    if !cfg.cwd.is_empty() && cfg.cwd != "/" {
        berth_runtime::mount::sys::mkdir_all_in_root(&rootfs, &cfg.cwd, owner).map_err(io("create working directory", Path::new(&cfg.cwd)))?;
    }
    let mut ident = berth_runtime::user::resolve_with(&rootfs, &cfg.user, cfg.groups_policy)?;
    berth_runtime::user::add_groups(&rootfs, &mut ident, &cfg.group_add)?;
    if cfg.userns.is_some() && cfg.groups_policy == berth_runtime::user::GroupsPolicy::Docker {
        // libcontainer validates an exec against this spec from inside the user namespace, where
        // it sees itself unprivileged and refuses supplementary groups: the primary group, the
        // process's gid anyway, is not listed again (as for the execs, `start_exec`).
        let gid = ident.gid;
        ident.additional_gids.retain(|g| *g != gid);
    }
    let mut cfg_run = cfg.clone();
    if !cfg_run.env.iter().any(|e| e.starts_with("HOME=")) {
        cfg_run.env.push(format!("HOME={}", ident.home.clone().unwrap_or_else(|| "/".into())));
    }
    if !cfg_run.env.iter().any(|e| e.starts_with("PATH=")) {
        cfg_run.env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if cfg_run.tty && !cfg_run.env.iter().any(|e| e.starts_with("TERM=")) {
        cfg_run.env.push("TERM=xterm".into());
    }
    let mut spec = berth_runtime::spec::generate(&cfg_run, &rootfs.to_string_lossy(), ident.uid, ident.gid, &ident.additional_gids)?;
    // The seccomp profile is loaded precompiled; execs find it again in seccomp.json.
    let profile_path = dir.join(SECCOMP_PROFILE);
    let _ = std::fs::remove_file(&profile_path);
    let filter = match berth_runtime::filter::take_from_spec(&mut spec, &filter_cache(args))? {
        Some((filter, profile)) => {
            berth_types::persist::replace_file_json(&profile_path, &profile).map_err(io("write", &profile_path))?;
            Some(filter)
        }
        None => None,
    };
    let spec_path = dir.join("config.json");
    berth_types::persist::replace_file_json(&spec_path, &spec).map_err(io("write", &spec_path))?;

    // As dockerd, the log driver is set up before the process runs, and failing fails the start.
    let log = crate::log::Log::open(args, &cfg).map_err(ShimError::Log)?;
    let listener = listen(dir)?;
    let s = streams(dir, cfg.tty, cfg.open_stdin)?;
    let state_root = &args.state_root;
    std::fs::create_dir_all(state_root).map_err(io("create", state_root))?;
    // Namespaces that exist already are joined here when the container gets a user namespace
    // of its own (see `berth_runtime::spec::joined_namespaces`).
    container::join_namespaces(&berth_runtime::spec::joined_namespaces(&cfg))?;
    let pid = container::create_and_start(&args.id, dir, state_root, s.stdio, filter)?;
    let (stdin, outputs, pty) = finish_streams(dir, Streams { stdio: Stdio::Console(Default::default()), ..s }, cfg.open_stdin)?;
    write_state(dir, &StateRecord { pid, started_at: now(), shim_pid: std::process::id() as i32 }).map_err(io("write", &dir.join("state.json")))?;
    Ok(Running { pid, cfg, stdin, outputs, pty, listener, signals, log })
}

fn start_exec(args: &ShimArgs, work: &Path, signals: SignalFd) -> Result<Running, ShimError> {
    let p = work.join("exec.json");
    let ex: berth_runtime::config::ExecConfig =
        serde_json::from_slice(&std::fs::read(&p).map_err(io("read", &p))?).map_err(|e| ShimError::Record("exec.json", e))?;
    let rootfs = args.dir.join("rootfs");
    let mut ident = berth_runtime::user::resolve_with(&rootfs, &ex.user, ex.groups_policy)?;
    berth_runtime::user::add_groups(&rootfs, &mut ident, &ex.group_add)?;
    let caps = if ex.privileged { berth_runtime::spec::host_capabilities() } else { ex.capabilities.clone() };
    // The container's precompiled seccomp filter, if it has one (see `start`).
    let profile_path = args.dir.join(SECCOMP_PROFILE);
    let filter = match std::fs::read(&profile_path) {
        Ok(bytes) => {
            let profile = serde_json::from_slice(&bytes).map_err(|e| ShimError::Record("seccomp.json", e))?;
            berth_runtime::filter::Filter::cached(&profile, &filter_cache(args))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("read", &profile_path)(e)),
    };
    let loading = if filter.is_some() { berth_runtime::filter::with_load_capability(&caps, ex.no_new_privileges) } else { caps.clone() };
    let mut env = ex.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", ident.home.clone().unwrap_or_else(|| "/".into())));
    }
    if ex.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    let ctr: Option<RuntimeConfig> = std::fs::read(args.dir.join("runtime.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let mut process = serde_json::json!({
        "terminal": ex.tty,
        "user": {"uid": ident.uid, "gid": ident.gid, "additionalGids": ident.additional_gids},
        "args": ex.args,
        "env": env,
        "cwd": if ex.cwd.is_empty() { "/" } else { ex.cwd.as_str() },
        "capabilities": {"bounding": caps, "effective": loading, "permitted": loading, "inheritable": [], "ambient": []},
    });
    if ex.no_new_privileges {
        process["noNewPrivileges"] = serde_json::json!(true);
    }
    // The container's resource limits, as runc gives an exec the container's.
    if let Some(c) = &ctr {
        process["rlimits"] = serde_json::json!(berth_runtime::spec::rlimits(c));
    }
    // An exec into a remapped container enters its user namespace (and what it joined from
    // outside it) here: see `berth_runtime::container::exec_namespaces`. libcontainer then sees
    // itself unprivileged and refuses any supplementary group (CVE-2014-8989's rule), so with
    // Docker's policy the primary group, the process's gid anyway, is not listed again there.
    if ctr.as_ref().is_some_and(|c| c.userns.is_some()) && ex.groups_policy == berth_runtime::user::GroupsPolicy::Docker {
        let gid = ident.gid;
        process["user"]["additionalGids"] = serde_json::json!(ident.additional_gids.iter().filter(|g| **g != gid).collect::<Vec<_>>());
    }
    let process_path = work.join("process.json");
    berth_types::persist::replace_file_json(&process_path, &process).map_err(io("write", &process_path))?;
    let listener = listen(work)?;
    let s = streams(work, ex.tty, ex.open_stdin)?;
    if let Some(ctr) = ctr.filter(|c| c.userns.is_some()) {
        let state = args.dir.join("state.json");
        let init: StateRecord = serde_json::from_slice(&std::fs::read(&state).map_err(io("read", &state))?).map_err(|e| ShimError::Record("state.json", e))?;
        container::join_namespaces(&container::exec_namespaces(&ctr, init.pid))?;
    }
    let pid = container::exec(&args.id, &args.state_root, &process_path, s.stdio, filter)?;
    let (stdin, outputs, pty) = finish_streams(work, Streams { stdio: Stdio::Console(Default::default()), ..s }, ex.open_stdin)?;
    write_state(work, &StateRecord { pid, started_at: now(), shim_pid: std::process::id() as i32 }).map_err(io("write", &work.join("state.json")))?;
    let cfg = RuntimeConfig { tty: ex.tty, open_stdin: ex.open_stdin, stdin_once: true, ..Default::default() };
    // An exec's output goes to its attached client only, as with Docker.
    let log = crate::log::Log::open(args, &cfg).map_err(ShimError::Log)?;
    Ok(Running { pid, cfg, stdin, outputs, pty, listener, signals, log })
}

/// Removes the container's (now empty) cgroup in every v1 controller and in the v2 hierarchy, in
/// case the runtime could not (e.g. it failed before saving its state).
fn remove_cgroups(name: &str) {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else { return };
    let mut dirs = vec![std::path::PathBuf::from("/sys/fs/cgroup").join(name)];
    dirs.extend(entries.flatten().map(|e| e.path().join(name)));
    for d in dirs {
        if d.is_dir() {
            let _ = std::fs::remove_dir(&d);
        }
    }
}

/// Removes what the shim set up: libcontainer state and cgroup, the root filesystem mount, sockets.
/// An exec shim only removes its sockets: the container is not its to clean up.
pub fn cleanup(args: &ShimArgs) {
    if let Some(work) = &args.exec_dir {
        let _ = std::fs::remove_file(crate::socket_path(work));
        let _ = std::fs::remove_file(crate::console_path(work));
        return;
    }
    if let Err(e) = container::delete(&args.id, &args.state_root) {
        tracing::warn!(container.id = %args.id, error = %e, "deleting runtime state failed");
    }
    // The cgroup the daemon chose (`berth-<id>`, or `<CgroupParent>/<id>`); its parent stays, as with dockerd.
    let cgroup = std::fs::read(args.dir.join("runtime.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<RuntimeConfig>(&b).ok())
        .map(|c| c.cgroups_path.trim_start_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("berth-{}", args.id));
    remove_cgroups(&cgroup);
    let rootfs = args.dir.join("rootfs");
    if let Err(e) = unmount(&rootfs) {
        tracing::warn!(container.id = %args.id, error = %e, "unmounting rootfs failed");
    }
    let _ = std::fs::remove_file(crate::socket_path(&args.dir));
    let _ = std::fs::remove_file(crate::console_path(&args.dir));
}
