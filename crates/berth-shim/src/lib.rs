//! `berth shim`: one single-threaded process per container, and the only code that creates and
//! waits on containers (the daemon never clones in-process; libcontainer must not run in a tokio
//! process). The shim mounts the container's root filesystem, resolves its user, writes the OCI
//! bundle, starts the container through libcontainer, then, as the container's subreaper, holds its
//! stdio: it writes the json-file log, serves attach/wait/resize clients on a unix socket, reaps the
//! container and records its exit, and finally cleans up (cgroup, mounts) and exits. Containers
//! therefore outlive daemon restarts: a restarted daemon reconnects to the shim's socket.
//!
//! Files in the container directory (written by the daemon unless noted):
//! ```text
//! <container-dir>/
//!   runtime.json     RuntimeConfig decided by the daemon
//!   mounts.json      root filesystem mounts (snapshotter data)
//!   config.json      OCI spec as given to libcontainer (shim)
//!   seccomp.json     the seccomp profile taken out of it, loaded precompiled (shim; see berth_runtime::filter)
//!   rootfs/          mount point of the root filesystem (shim mounts, shim unmounts)
//!   state.json       {"pid", "started_at"} once running (shim, atomic)
//!   exit.json        {"exit_code", "finished_at", "oom_killed", "error"} once exited (shim, atomic)
//!   container.log    json-file log (shim)
//! ```
//! The shim's sockets live under `<run-dir>/shim/` (`/run/berth`, or `$BERTH_EXEC_ROOT`, which
//! rootless Berth sets to `$XDG_RUNTIME_DIR/berth`: see [`run_dir`]; unix socket paths are limited to 108 bytes,
//! data roots are not): `<hash>.sock` for clients and `<hash>.console` for the PTY hand-over, where
//! `<hash>` is derived from the container directory ([`socket_path`]).
//! Protocol on the shim socket: the client sends one JSON line, `{"kind":"attach","stdin":…,"stdout":…,
//! "stderr":…}`, `{"kind":"wait"}` or `{"kind":"resize","height":…,"width":…}`. Attach clients then
//! receive Docker's stdcopy frames (8-byte header: stream, 0, 0, 0, big-endian length) and may send
//! raw stdin; wait clients receive one JSON line with the exit when the container exits.

mod event_loop;
mod files;
mod log;
mod log_sink;
mod setup;
mod sys;

pub use files::{ExitRecord, ShimHello, StateRecord};

/// The host-wide directory of runtime files (shim sockets, bridge claims): dockerd's exec root.
/// `/run/berth`, unless the environment names another in `BERTH_EXEC_ROOT` (rootless Berth's
/// parent sets it to `$XDG_RUNTIME_DIR/berth` for the daemon, and the shims inherit it).
pub fn run_dir() -> PathBuf {
    match std::env::var_os("BERTH_EXEC_ROOT") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from("/run/berth"),
    }
}

/// Where the shim of the container in `dir` listens (short, whatever the data root's length).
pub fn socket_path(dir: &std::path::Path) -> PathBuf {
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes()));
    run_dir().join("shim").join(format!("{}.sock", &h[..24]))
}

/// Where the runtime hands the PTY master to the shim of the container in `dir`.
pub fn console_path(dir: &std::path::Path) -> PathBuf {
    socket_path(dir).with_extension("console")
}

use std::path::PathBuf;

/// Command-line arguments of `berth shim`.
#[derive(Debug, Clone)]
pub struct ShimArgs {
    /// Container id.
    pub id: String,
    /// Container directory (see the module docs).
    pub dir: PathBuf,
    /// Root of libcontainer's state.
    pub state_root: PathBuf,
    /// For an exec: its directory (holding `exec.json`; its records are written there).
    pub exec_dir: Option<PathBuf>,
}

impl ShimArgs {
    /// Where this shim keeps its records and whose socket it serves.
    pub fn work_dir(&self) -> &std::path::Path {
        self.exec_dir.as_deref().unwrap_or(&self.dir)
    }
}

impl ShimArgs {
    /// Parses `--id ID --dir DIR --state-root DIR [--exec-dir DIR]` (what the daemon passes).
    pub fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<ShimArgs, String> {
        let (mut id, mut dir, mut state_root, mut exec_dir) = (None, None, None, None);
        let mut it = args.into_iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{} needs a value", flag.to_string_lossy()));
            match flag.to_str() {
                Some("--id") => id = Some(value()?.to_string_lossy().into_owned()),
                Some("--dir") => dir = Some(PathBuf::from(value()?)),
                Some("--state-root") => state_root = Some(PathBuf::from(value()?)),
                Some("--exec-dir") => exec_dir = Some(PathBuf::from(value()?)),
                _ => return Err(format!("unexpected argument {}", flag.to_string_lossy())),
            }
        }
        Ok(ShimArgs {
            id: id.ok_or("--id is required")?,
            dir: dir.ok_or("--dir is required")?,
            state_root: state_root.ok_or("--state-root is required")?,
            exec_dir,
        })
    }
}

/// The program (and leading arguments) that runs a shim, for the daemon started from `berth_exe`:
/// the small `berth-shim` executable installed beside it, else `berth shim`.
pub fn command(berth_exe: &std::path::Path) -> std::process::Command {
    let small = berth_exe.with_file_name("berth-shim");
    if small.is_file() {
        std::process::Command::new(small)
    } else {
        let mut c = std::process::Command::new(berth_exe);
        c.arg("shim");
        c
    }
}

/// Runs the shim to completion. Prints one JSON line on stdout once the container started
/// (`{"pid":N}`) or failed to (`{"error":"…"}`), which the daemon waits for.
pub fn run(args: ShimArgs) -> i32 {
    match setup::start(&args) {
        Ok(running) => {
            event_loop::serve(&args, running);
            0
        }
        Err(e) => {
            let msg = e.to_string();
            let _ = files::write_exit(args.work_dir(), &ExitRecord { exit_code: 127, finished_at: files::now(), oom_killed: false, error: Some(msg.clone()) });
            println!("{}", serde_json::json!({"error": msg}));
            setup::cleanup(&args);
            1
        }
    }
}
