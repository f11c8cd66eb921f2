//! Blocking work at the process's ordinary CPU priority.
//!
//! The daemon runs its async threads above its own priority so the control path is served first
//! on a busy machine (berth-daemon's `priority` module); its idle blocking-pool threads wait at
//! that priority too, because `block_in_place` may hand an async worker's queue to any of them.
//! Blocking work — a file walk, an unpack, a decompression, a child process — must not run there:
//! every crate hands it to tokio's blocking pool through [`spawn_blocking`] (or runs it through
//! [`background`]), which drops the thread to the ordinary priority for the closure's duration.
//! Without hooks installed (the registry, the client, tests) both simply run the closure.

use std::sync::OnceLock;

/// What a process installs to move a thread's priority around blocking work.
pub struct Hooks {
    /// Lowers the calling thread for blocking work; true if it changed anything.
    pub enter: fn() -> bool,
    /// Restores what `enter` changed.
    pub exit: fn(),
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// Installs the hooks (once per process; later calls are ignored).
pub fn install(hooks: Hooks) {
    let _ = HOOKS.set(hooks);
}

/// Runs blocking work `f` at the ordinary priority, then restores the thread's.
pub fn background<R>(f: impl FnOnce() -> R) -> R {
    let Some(h) = HOOKS.get() else { return f() };
    if !(h.enter)() {
        return f();
    }
    struct Exit(fn());
    impl Drop for Exit {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    let _exit = Exit(h.exit);
    f()
}

/// `tokio::task::spawn_blocking`, with `f` run through [`background`].
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    #[allow(clippy::disallowed_methods)] // the one place it is called
    tokio::task::spawn_blocking(move || background(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static LOW: Cell<u32> = const { Cell::new(0) };
    }

    #[test]
    fn background_work_runs_between_the_hooks() {
        install(Hooks {
            enter: || {
                LOW.with(|l| l.set(l.get() + 1));
                true
            },
            exit: || LOW.with(|l| l.set(l.get() - 1)),
        });
        assert_eq!(background(|| LOW.with(|l| l.get())), 1);
        assert_eq!(LOW.with(|l| l.get()), 0);
        let r = std::panic::catch_unwind(|| background(|| panic!("boom")));
        assert!(r.is_err());
        assert_eq!(LOW.with(|l| l.get()), 0, "restored after a panic too");
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert_eq!(rt.block_on(async { spawn_blocking(|| LOW.with(|l| l.get())).await }).unwrap(), 1);
    }
}
