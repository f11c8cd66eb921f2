//! Temporary mounts nobody else can see, and that no crash can leave behind.
//!
//! The daemon mounts a stopped container's filesystem (its snapshot, with its volumes and binds over
//! it) for `docker cp` and `docker export`. Mounted in the daemon's own namespace, a SIGKILL in the
//! middle leaves those mounts visible under the data root, and a bind of a host directory there is
//! one careless `rm -rf` away from the host's files. [`PrivateMounts`] runs the mounting on a
//! thread that `unshare(CLONE_NEWNS)`s and makes every mount a slave (mounts propagate in from the
//! host, none out): the mounts exist only in that namespace, which the kernel tears down — mounts
//! and all — when the thread exits, whether the daemon finishes the copy or dies. dockerd does the
//! same for `docker cp` (moby's `daemon/containerfs_linux.go`, `unshare.Go(CLONE_NEWNS)`).
//!
//! Other threads reach the mounts through a descriptor opened inside the namespace
//! ([`PrivateMounts::path_of`]): a path walk from it crosses that namespace's mounts, as a walk from
//! `/proc/PID/root` crosses a container's.

use crate::RuntimeError;
use nix::mount::{mount, MsFlags};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// A thread in a mount namespace of its own; its mounts vanish with it (see the module doc).
pub struct PrivateMounts {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PrivateMounts {
    /// Starts the thread and its namespace (needs `CAP_SYS_ADMIN`).
    pub fn new() -> Result<PrivateMounts, RuntimeError> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("berth-mntns".into())
            .spawn(move || {
                let setup = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
                    .and_then(|()| mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_SLAVE, None::<&str>));
                let ok = setup.is_ok();
                let _ = ready_tx.send(setup);
                if ok {
                    for job in rx {
                        job();
                    }
                }
            })
            .map_err(|source| RuntimeError::Io { op: "start a mount namespace thread", path: PathBuf::from("/"), source })?;
        let pm = PrivateMounts { jobs: Some(jobs), thread: Some(thread) };
        match ready.recv() {
            Ok(Ok(())) => Ok(pm),
            Ok(Err(source)) => Err(RuntimeError::Mount { target: PathBuf::from("/"), source }),
            Err(_) => Err(RuntimeError::Invalid("the mount namespace thread ended early".into())),
        }
    }

    /// Runs `f` on the namespace's thread (mounts it makes are private to the namespace).
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, RuntimeError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let sent = self.jobs.as_ref().map(|j| {
            j.send(Box::new(move || {
                let _ = tx.send(f());
            }))
        });
        match sent {
            Some(Ok(())) => rx.recv().map_err(|_| RuntimeError::Invalid("the mount namespace thread failed".into())),
            _ => Err(RuntimeError::Invalid("the mount namespace thread is gone".into())),
        }
    }

    /// A path any thread of this process can use to reach `dir` (a directory opened on the
    /// namespace's thread) with that namespace's mounts: `/proc/self/fd/N`. Valid while `dir` is
    /// open and `self` lives.
    pub fn path_of(dir: &std::fs::File) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()))
    }
}

impl Drop for PrivateMounts {
    fn drop(&mut self) {
        // The thread leaves its loop once the channel closes; its exit drops the namespace and
        // with it every mount made there.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_made_in_the_namespace_are_invisible_outside_and_gone_after() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("canary"), b"x").unwrap();
        let target = tempfile::tempdir().unwrap();
        let pm = PrivateMounts::new().unwrap();
        let (s, t) = (src.path().to_path_buf(), target.path().to_path_buf());
        let dir = pm
            .run(move || {
                mount(Some(&s), &t, None::<&str>, MsFlags::MS_BIND, None::<&str>)?;
                std::fs::File::open(&t).map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(0)))
            })
            .unwrap()
            .unwrap();
        // Through the descriptor: the bind. Through the path, from here: the empty directory.
        assert!(PrivateMounts::path_of(&dir).join("canary").exists());
        assert!(!target.path().join("canary").exists());
        assert!(!crate::mount::is_mounted(target.path()));
        drop(dir);
        drop(pm);
        assert!(!target.path().join("canary").exists());
        assert!(src.path().join("canary").exists());
    }
}
