//! What a daemon start does before anything else touches the data root: remove the scratch a dead
//! daemon left, without ever following a mount it left there, and find the shims it started.
//!
//! - `tmp/`, `build-cache/tmp/` and `builds/` hold only scratch of operations in flight (cp/export
//!   mountpoints, layer tars, build views, build steps' container directories). They are emptied
//!   with [`berth_types::teardown`]: mounts below them are detached first (deepest first) and the
//!   walk never crosses into another mount, so a bind of a host directory left by a daemon killed
//!   mid-operation is unmounted, never emptied.
//! - Build steps outlive a dead daemon (their shim is its own process group); nobody waits for them
//!   any more, so their processes are killed before their directories go.
//! - Shims of containers whose start was never recorded are found here ([`shims`]) and stopped by
//!   the container service (`containers::lifecycle::recover`).

use berth_shim::StateRecord;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A running `berth shim` of this data root, found in `/proc`, with the processes that share its
/// command line (libcontainer's clones of it that have not exec'd the container's process yet).
#[derive(Debug, Clone)]
pub struct ShimProcess {
    /// The shim and its clones.
    pub pids: Vec<i32>,
    /// The `--dir` it serves (a container's or a build step's directory).
    pub dir: PathBuf,
}

/// Every container or build-step shim (not exec shims) started for `root`: processes whose command
/// line carries `--state-root <root>/runtime` and `--dir`, without `--exec-dir`; one entry per dir.
pub fn shims(root: &Path) -> Vec<ShimProcess> {
    let state_root = root.join("runtime");
    let mut out: Vec<ShimProcess> = Vec::new();
    for (pid, sr, dir) in shim_processes() {
        if sr != state_root {
            continue;
        }
        match out.iter_mut().find(|s| s.dir == dir) {
            Some(s) => s.pids.push(pid),
            None => out.push(ShimProcess { pids: vec![pid], dir }),
        }
    }
    out
}

/// Every live container or build-step shim process in `/proc` (a shim or a clone of it): its pid,
/// `--state-root` and `--dir`.
fn shim_processes() -> Vec<(i32, PathBuf, PathBuf)> {
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let value = |flag: &str| args.iter().position(|a| *a == flag.as_bytes()).and_then(|i| args.get(i + 1)).map(|v| PathBuf::from(std::ffi::OsStr::from_bytes(v)));
        if value("--exec-dir").is_some() || !alive(pid) {
            continue;
        }
        if let (Some(state_root), Some(dir)) = (value("--state-root"), value("--dir")) {
            out.push((pid, state_root, dir));
        }
    }
    out
}

use std::os::unix::ffi::OsStrExt;

/// Whether `pid` is alive (not gone, not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| !r.starts_with('Z')))
}

/// Stops the container (or build step) a shim serves: SIGKILL to its init (from the shim's
/// `state.json`), so the shim reaps it and cleans up (cgroup, root filesystem) as after any exit;
/// whatever of the shim's processes is still there after `grace` is killed. Blocking.
pub fn stop_shim(shim: &ShimProcess, grace: Duration) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let state = std::fs::read(shim.dir.join("state.json")).ok().and_then(|b| serde_json::from_slice::<StateRecord>(&b).ok());
    if let Some(s) = state.filter(|s| shim.pids.contains(&s.shim_pid) && s.pid > 0) {
        let _ = kill(Pid::from_raw(s.pid), Signal::SIGKILL);
        let deadline = Instant::now() + grace;
        while alive(s.shim_pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    // Still setting up, or not finishing: the shim and its clones go (the caller reaps the cgroup).
    kill_serving(&shim.dir);
}

/// Kills every process still serving `dir` as its container's or build step's shim (the shim or
/// a clone of it; not exec shims). Blocking.
///
/// A shim killed while libcontainer set the container up may have cloned once more since anyone
/// looked, and its clone once more again (the intermediate process forks the container's init,
/// which then waits for a start that never comes, outside any cgroup if it came early enough):
/// this sweeps until none is left. A killed process forks no more, so each round leaves at most
/// the children of the last.
pub fn kill_serving(dir: &Path) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<i32> = shim_processes().into_iter().filter(|(_, _, d)| d == dir).map(|(pid, _, _)| pid).collect();
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            tracing::error!(dir = %dir.display(), pids = ?left, "processes of a stopped shim would not die");
            return;
        }
        for pid in left {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Empties the scratch areas of `root` (see the module doc), stopping what still runs in
/// `builds/`. Blocking; before any service opens.
pub fn clean_scratch(root: &Path, shims: &[ShimProcess]) {
    let builds = root.join("builds");
    for s in shims.iter().filter(|s| s.dir.starts_with(&builds)) {
        tracing::warn!(dir = %s.dir.display(), pids = ?s.pids, "stopping a build step the previous daemon left running");
        stop_shim(s, Duration::from_secs(3));
        if let Some(id) = s.dir.file_name().and_then(|n| n.to_str()) {
            super::containers::reap_orphaned(id, &s.dir);
        }
    }
    for dir in [root.join("tmp"), root.join("build-cache").join("tmp"), builds] {
        if let Err(e) = berth_types::teardown::remove_tree(&dir) {
            tracing::error!(path = %dir.display(), error = %e, "scratch left by the previous daemon could not be removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shim killed while libcontainer sets the container up has clones the daemon's scan did not
    /// see (they were made after it): stopping the shim stops them too.
    #[test]
    fn stopping_a_shim_stops_the_clones_made_after_the_scan() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("containers").join("c1");
        let state_root = tmp.path().join("runtime");
        // A process with a shim's command line that forks a copy of itself (a subshell, no exec),
        // as libcontainer's clones are.
        let mut shim = std::process::Command::new("sh")
            .args(["-c", "(while :; do sleep 1; done) & wait", "berth-shim", "--id", "c1", "--dir"])
            .arg(&dir)
            .arg("--state-root")
            .arg(&state_root)
            .spawn()
            .unwrap();
        let serving = || shim_processes().into_iter().filter(|(_, _, d)| *d == dir).map(|(p, _, _)| p).collect::<Vec<_>>();
        let deadline = Instant::now() + Duration::from_secs(10);
        while serving().len() < 2 {
            assert!(Instant::now() < deadline, "the clone never appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Kills whatever is left if an assertion fails.
        struct Sweep<'a>(&'a dyn Fn() -> Vec<i32>);
        impl Drop for Sweep<'_> {
            fn drop(&mut self) {
                for pid in (self.0)() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        let _sweep = Sweep(&serving);
        // The scan saw only the shim.
        stop_shim(&ShimProcess { pids: vec![shim.id() as i32], dir: dir.clone() }, Duration::from_secs(1));
        let _ = shim.wait();
        assert_eq!(serving(), Vec::<i32>::new(), "a clone of the stopped shim still runs");
    }
}
