//! CPU priority of the async runtime's threads: the control path first, also when the machine is
//! busy.
//!
//! The async workers only poll sockets, timers and channels (see `service::offload`): a `/_ping`
//! costs them microseconds, but on a busy machine the worker that must read it waits for a CPU
//! behind every other runnable thread — the daemon's own blocking work, its containers, other
//! clients. Measured under `bench/load.sh`'s mixed load (32 clients on 2 cores), that queueing, not
//! the handler (always under 1 ms), made the probes' tail. So the runtime's threads run
//! [`ELEVATION`] nice levels above the daemon's own priority, and everything that blocks runs at
//! the daemon's priority: every crate hands blocking work to `berth_types::sched`, whose hooks
//! (installed here) drop the thread for the closure's duration — so the processes it starts
//! (shims, `iptables`) begin at the daemon's priority too.
//!
//! Idle blocking-pool threads wait raised, not only the workers: `block_in_place`
//! (`offload::inline`) hands a worker's queue to one of them, which then runs the worker loop —
//! measured with `perf sched`, a replacement at the ordinary priority waited 8–12 ms for a CPU
//! with the probe's request in its queue.
//!
//! A raised thread is marked `SCHED_RESET_ON_FORK`: a process or thread it starts directly (a
//! `tokio::process` spawn from async code, `std::thread::spawn`) begins at the default priority.
//!
//! Raising a priority needs `CAP_SYS_NICE` (a root daemon has it); without it (rootless) the
//! threads keep the daemon's priority.

use std::cell::Cell;
use std::sync::OnceLock;

/// How many nice levels a worker runs above the daemon: at -20 a worker weighs ~87 ordinary
/// threads, so under a load of dozens of runnable threads on two cores it stays within its fair
/// share (and preempts them when it wakes) while it only polls, as the offload rule keeps it.
/// Measured with `bench/load.sh` (32 clients, load 30): ten levels left `/_ping` p99 at 17–23 ms,
/// the workers having used their smaller share; twenty: see docs/ARCHITECTURE.md.
pub const ELEVATION: i32 = 20;

thread_local! {
    /// Whether this thread currently runs at the elevated priority.
    static ELEVATED: Cell<bool> = const { Cell::new(false) };
    /// Whether raising this thread's priority was refused (no `CAP_SYS_NICE`): not tried again.
    static REFUSED: Cell<bool> = const { Cell::new(false) };
}

/// The daemon's own nice value, read once (at the first runtime thread's start).
fn base_nice() -> i32 {
    static BASE: OnceLock<i32> = OnceLock::new();
    *BASE.get_or_init(sys::get_nice)
}

/// Raises a new runtime thread (worker or blocking pool) and installs the blocking-work hooks. For
/// the runtime's `on_thread_start`.
pub fn thread_started() {
    berth_types::sched::install(berth_types::sched::Hooks { enter: lower, exit: raise });
    raise();
}

/// Raises the current thread to the runtime's priority (nothing when it already is, or when a
/// raise was refused on it before).
pub fn raise() {
    if ELEVATED.with(|e| e.get()) || REFUSED.with(|r| r.get()) {
        return;
    }
    if sys::reset_on_fork() && sys::set_nice(elevated_nice()) {
        ELEVATED.with(|e| e.set(true));
    } else {
        REFUSED.with(|r| r.set(true));
    }
}

/// Puts the current thread at the daemon's priority for blocking work; true if it was raised.
fn lower() -> bool {
    let was = ELEVATED.with(|e| e.replace(false));
    if was {
        sys::set_nice(base_nice());
    }
    was
}

fn elevated_nice() -> i32 {
    (base_nice() - ELEVATION).max(-20)
}

/// Raises the daemon's session — its autogroup, the unit the kernel shares the CPU among when
/// tasks sit in the root CPU cgroup (`/proc/sys/kernel/sched_autogroup_enabled`) — to the runtime
/// threads' priority, when the daemon leads its own session, as under a service manager or
/// `setsid`. Nice values only order threads within their autogroup: without this, each container's
/// cgroup and each shim's session weighs as much as the whole daemon, and under `bench/load.sh`'s
/// mixed load raised runtime threads still waited 11–18 ms for a CPU (`perf sched`). A daemon
/// started inside someone else's session (a shell's) leaves that session alone.
pub fn raise_session() {
    if !sys::leads_session() {
        tracing::debug!("not a session leader: the scheduler's autogroup (shared with the starting session) is left as it is");
        return;
    }
    match std::fs::write("/proc/self/autogroup", elevated_nice().to_string()) {
        Ok(()) => tracing::debug!(nice = elevated_nice(), "raised the daemon's autogroup"),
        Err(e) => tracing::debug!(error = %e, "the daemon's autogroup keeps its priority"),
    }
}

/// Whether the current thread runs elevated (for tests).
pub fn is_elevated() -> bool {
    ELEVATED.with(|e| e.get())
}

#[allow(unsafe_code)]
mod sys {
    /// The calling thread's nice value.
    pub fn get_nice() -> i32 {
        // SAFETY: getpriority reads a scheduling attribute of the calling thread (who = its tid);
        // -1 can be a valid value, so errno is cleared first and checked.
        unsafe {
            *libc::__errno_location() = 0;
            let n = libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t);
            if n == -1 && *libc::__errno_location() != 0 {
                0
            } else {
                n
            }
        }
    }

    /// Marks the calling thread `SCHED_RESET_ON_FORK` (policy stays `SCHED_OTHER`, nice value
    /// unchanged): what it starts begins at nice 0. False if refused.
    pub fn reset_on_fork() -> bool {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sets the scheduling policy of the calling thread (pid 0) to the default policy
        // with the reset-on-fork flag; `param` is a valid sched_param for SCHED_OTHER.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER | libc::SCHED_RESET_ON_FORK, &param) == 0 }
    }

    /// Whether this process leads its session.
    pub fn leads_session() -> bool {
        // SAFETY: getsid(0) and getpid() only read the calling process's ids.
        unsafe { libc::getsid(0) == libc::getpid() }
    }

    /// Sets the calling thread's nice value; false if refused.
    pub fn set_nice(n: i32) -> bool {
        // SAFETY: setpriority changes a scheduling attribute of the calling thread only (Linux
        // applies PRIO_PROCESS with a tid to that thread).
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, n) == 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice() -> i32 {
        sys::get_nice()
    }

    fn child_nice() -> String {
        let out = std::process::Command::new("sh").args(["-c", "cut -d' ' -f19 /proc/self/stat"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn runtime_threads_run_raised_and_blocking_work_at_the_base() {
        std::thread::spawn(|| {
            let start = nice();
            thread_started();
            if !is_elevated() {
                // No CAP_SYS_NICE: nothing changes, and blocking work has nothing to undo.
                assert_eq!(nice(), start);
                assert_eq!(berth_types::sched::background(nice), start);
                return;
            }
            assert_eq!(nice(), elevated_nice());
            // A process or thread the raised thread starts directly begins at the default
            // priority (reset on fork), not at the runtime's.
            assert_eq!(child_nice(), start.max(0).to_string());
            std::thread::spawn(move || assert_eq!(nice(), start.max(0), "a new thread starts at the default priority"))
                .join()
                .unwrap();
            // Blocking work, and what it spawns, runs at the daemon's priority; the thread is
            // raised again after it (an idle pool thread may become a worker).
            let (during, child) = berth_types::sched::background(|| (nice(), child_nice()));
            assert_eq!((during, child), (start, start.to_string()));
            assert_eq!(nice(), elevated_nice());
            // Through tokio's blocking pool as every crate hands it work.
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).on_thread_start(thread_started).build().unwrap();
            let (pool, worker) = rt.block_on(async { (berth_types::sched::spawn_blocking(nice).await.unwrap(), nice()) });
            assert_eq!((pool, worker), (start, elevated_nice()));
        })
        .join()
        .unwrap();
    }
}
