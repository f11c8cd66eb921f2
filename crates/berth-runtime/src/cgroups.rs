//! Host cgroup facts the daemon needs without a runtime: hiding the latency of cgroup attaches.
//!
//! Moving a process into a cgroup (the runtime writes the container's first process into
//! `cgroup.procs`, in every v1 hierarchy or in the v2 one) takes the kernel's global threadgroup
//! lock for writing. When no writer has held it for a while, the first writer waits for a whole RCU
//! grace period (`rcu_sync_enter`, about 10 ms on a small VM); writers that arrive while one is
//! waiting share that grace period, and writers within a grace period of the last one do not wait
//! at all. On a quiet host this wait is the largest single part of a container start.
//!
//! [`prime_attach`] starts the wait early, in the daemon, as soon as a container is about to be
//! created or started, so that it runs while the shim starts and sets up namespaces instead of in
//! front of them. It rewrites the daemon's own pid into the cgroup it already belongs to (a move to
//! the same place, which changes nothing) on a short-lived thread. Hosts mounted with
//! `favordynmods` never wait, and priming then costs one thread and one write.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The `cgroup.procs` file of the cgroup this process is in, in the first hierarchy where it
/// exists (the lock is global, so any hierarchy will do).
fn own_procs_file() -> Option<&'static PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        candidates(&text).into_iter().find(|p| p.is_file())
    })
    .as_ref()
}

/// Where `cgroup.procs` may be for each line of `/proc/self/cgroup` (`id:controllers:path`),
/// assuming the usual mounts under `/sys/fs/cgroup`.
fn candidates(proc_self_cgroup: &str) -> Vec<PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut out = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let rel = path.trim_start_matches('/');
        if id == "0" && controllers.is_empty() {
            out.push(root.join(rel).join("cgroup.procs"));
            out.push(root.join("unified").join(rel).join("cgroup.procs"));
        } else {
            for c in controllers.split(',').filter(|c| !c.is_empty()) {
                out.push(root.join(c.trim_start_matches("name=")).join(rel).join("cgroup.procs"));
            }
        }
    }
    out
}

/// Starts the grace period a coming cgroup attach would otherwise wait for (see the module docs).
/// Returns at once; at most one priming write is in flight. Failures only lose the head start.
pub fn prime_attach() {
    static IN_FLIGHT: AtomicBool = AtomicBool::new(false);
    let Some(path) = own_procs_file() else { return };
    if IN_FLIGHT.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new().name("cgroup-prime".into()).spawn(move || {
        if let Err(e) = std::fs::write(path, std::process::id().to_string()) {
            tracing::debug!(path = %path.display(), error = %e, "priming the cgroup attach lock failed");
        }
        IN_FLIGHT.store(false, Ordering::Release);
    });
    if spawned.is_err() {
        IN_FLIGHT.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_cover_v1_named_and_v2_lines() {
        let text = "12:pids:/system.slice/berth.service\n1:name=systemd:/x\n0::/user.slice\n";
        let got: Vec<String> = candidates(text).iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            got,
            [
                "/sys/fs/cgroup/pids/system.slice/berth.service/cgroup.procs",
                "/sys/fs/cgroup/systemd/x/cgroup.procs",
                "/sys/fs/cgroup/user.slice/cgroup.procs",
                "/sys/fs/cgroup/unified/user.slice/cgroup.procs",
            ]
        );
    }

    #[test]
    fn priming_leaves_this_process_where_it_was() {
        let before = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        prime_attach();
        // The write (after its grace period) is done well within this.
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert_eq!(std::fs::read_to_string("/proc/self/cgroup").unwrap(), before);
    }
}
