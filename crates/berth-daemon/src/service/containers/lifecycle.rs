//! Start, stop, kill, wait, remove, restart policies, and reconnecting after a daemon restart.
//! The daemon never creates processes in containers itself: `start` spawns `berth shim`, and every
//! later interaction goes through the shim's socket or a signal to the container's init.

use super::record::Status;
use super::{ContainerService, Handle, Observed, ServiceError};
use berth_shim::{ExitRecord, ShimHello};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::oneshot;

/// An attach request made before the container started; connected to the shim on start.
pub struct PendingAttach {
    /// What the client wants.
    pub hello: ShimHello,
    /// Where the shim connection is delivered.
    pub tx: oneshot::Sender<Result<UnixStream, String>>,
}

/// An attach in progress.
pub enum Attach {
    /// The container runs: connect now.
    Now(std::path::PathBuf, ShimHello),
    /// Connected by `start`.
    AtStart(oneshot::Receiver<Result<UnixStream, String>>),
}

impl Attach {
    /// The shim connection carrying the container's streams.
    pub async fn connect(self) -> Result<UnixStream, ServiceError> {
        match self {
            Attach::Now(dir, hello) => shim_connect(&dir, &hello).await.map_err(|e| ServiceError::Internal(format!("attaching: {e}"))),
            Attach::AtStart(rx) => match rx.await {
                Ok(Ok(s)) => Ok(s),
                Ok(Err(e)) => Err(ServiceError::Conflict(e)),
                Err(_) => Err(ServiceError::Conflict("container went away".into())),
            },
        }
    }
}

/// Opens a connection to the container's shim and sends `hello`.
pub async fn shim_connect(dir: &Path, hello: &ShimHello) -> std::io::Result<UnixStream> {
    let mut s = UnixStream::connect(berth_shim::socket_path(dir)).await?;
    let mut line = serde_json::to_vec(hello).map_err(std::io::Error::other)?;
    line.push(b'\n');
    s.write_all(&line).await?;
    Ok(s)
}

/// Rewrites runtime errors clients interpret into Docker's wording: the docker CLI picks exit code
/// 127 for "executable file not found" / "no such file or directory" and 126 for "permission denied".
pub(super) fn docker_wording(err: &str) -> String {
    if let Some(start) = err.find("executable '") {
        let rest = &err[start + "executable '".len()..];
        if let Some(end) = rest.find("' not found") {
            return format!("unable to start container process: exec: \"{}\": executable file not found in $PATH", &rest[..end]);
        }
        if let Some(end) = rest.find("' at path").filter(|_| rest.contains("does not have correct permissions")) {
            return format!("unable to start container process: exec: \"{}\": permission denied", &rest[..end]);
        }
    }
    err.to_string()
}

/// Parses `SIGTERM`, `TERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Result<nix::sys::signal::Signal, ServiceError> {
    use std::str::FromStr;
    let bad = || ServiceError::Invalid(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    nix::sys::signal::Signal::from_str(&name).map_err(|_| bad())
}

fn read_exit(dir: &Path) -> Option<ExitRecord> {
    std::fs::read(dir.join("exit.json")).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

impl ContainerService {
    /// Starts a created or exited container. `Ok(false)`: it was already running (HTTP 304).
    pub async fn start(self: &Arc<Self>, h: &Arc<Handle>) -> Result<bool, ServiceError> {
        let _op = h.op.lock().await;
        let started = std::time::Instant::now();
        let result = self.start_locked(h, true).await;
        if let Ok(true) = result {
            // A start by hand gives the restart policy back (dockerd resets its restart manager).
            h.exit_on_next.store(false, Ordering::SeqCst);
            h.backoff_ms.store(0, Ordering::SeqCst);
            let took = started.elapsed();
            let m = crate::metrics::get();
            m.container_action("start", took);
            m.start_seconds.observe(took.as_secs_f64());
        }
        result
    }

    /// `by_hand`: a start asked for (API start, restart, the daemon's own start), not its restart
    /// policy's: as dockerd's fresh restart manager, it counts restarts from zero again.
    async fn start_locked(self: &Arc<Self>, h: &Arc<Handle>, by_hand: bool) -> Result<bool, ServiceError> {
        let rec = h.snapshot();
        match rec.state.status {
            Status::Running | Status::Paused => return Ok(false),
            Status::Removing | Status::Dead => {
                return Err(ServiceError::Conflict(format!("container {} is marked for removal and cannot be started", rec.name)))
            }
            Status::Created | Status::Exited | Status::Restarting => {}
        }
        // The shim's runtime will move the container into its cgroup: start that wait now.
        berth_runtime::cgroups::prime_attach();
        let dir = self.dir(&rec.id);
        super::super::offload::inline(|| {
            for f in ["exit.json", "state.json", "config.json"] {
                let _ = std::fs::remove_file(dir.join(f));
            }
            super::hostcfg::start_checks(&rec.host_config)?;
            self.acquire_volumes(&rec, true)
        })?;
        // What a previous run left (an exit not yet cleaned up) goes first.
        self.network_down(h).await;
        if let Err(e) = self.network_up(h).await {
            self.release_volumes(&rec);
            // As any failed start: waiting attach clients end, and an --rm container goes (the
            // docker CLI's `run --rm` waits for that).
            self.fail_pending(h, &e.to_string());
            if rec.host_config.auto_remove {
                let (svc, h) = (self.clone(), h.clone());
                tokio::spawn(async move {
                    let _ = svc.remove(&h, true, true).await;
                });
            }
            return Err(e);
        }
        let reply = match self.spawn_shim(&rec.id, None, &dir.join("shim.log")).await {
            Ok(r) => r,
            Err(e) => {
                self.release_volumes(&rec);
                self.network_down(h).await;
                return Err(e);
            }
        };
        if let Some(err) = reply.get("error").and_then(|e| e.as_str()) {
            if err == SHIM_GONE || err == SHIM_TIMED_OUT {
                // The shim died (or hung) part-way, without its own clean-up: whatever it made of the
                // container (processes, cgroups, the root filesystem's mount) goes now.
                let (id, dir) = (rec.id.clone(), dir.clone());
                let _ = berth_types::sched::spawn_blocking(move || reap_orphaned(&id, &dir)).await;
            }
            self.release_volumes(&rec);
            self.network_down(h).await;
            // A --device that cannot be resolved fails before any task, with dockerd's bare message (500).
            // So does a log driver that cannot reach its destination (dockerd's bare message).
            let device_error = err
                .find("error gathering device information")
                .or_else(|| err.starts_with("failed to initialize logging driver").then_some(0))
                .map(|i| err[i..].to_string());
            // dockerd resolves `User` while it makes the spec, before any task: its bare message.
            let user_error = ["unable to find user", "unable to find group"].iter().find_map(|k| err.find(k)).map(|i| err[i..].to_string());
            let msg = match device_error.as_ref().or(user_error.as_ref()) {
                Some(m) => m.clone(),
                None => format!("failed to create task for container: {}", docker_wording(err)),
            };
            let code = if msg.contains("permission denied") {
                126
            } else if msg.contains("not found") || msg.contains("no such file") {
                127
            } else {
                128
            };
            // As dockerd: a container that never ran stays `created`, with the exit code and error.
            let status = if rec.state.status == Status::Created { Status::Created } else { Status::Exited };
            self.save(h, |r| {
                r.state.status = status;
                r.state.exit_code = code;
                r.state.error = msg.clone();
                r.state.pid = 0;
                r.state.finished_at = berth_image::store::now_rfc3339();
            })?;
            self.event(&rec, "die", &[("exitCode", code.to_string())]);
            self.fail_pending(h, &msg);
            if rec.host_config.auto_remove {
                let svc = self.clone();
                let h = h.clone();
                // After this operation's lock is released.
                tokio::spawn(async move {
                    let _ = svc.remove(&h, true, true).await;
                });
            }
            let invalid = ["not found", "no such file", "permission denied", "unable to find user", "unable to find group", "invalid"];
            return Err(if device_error.is_none() && invalid.iter().any(|k| err.to_lowercase().contains(k)) {
                ServiceError::Invalid(msg)
            } else {
                ServiceError::Internal(msg)
            });
        }
        let pid = reply.get("pid").and_then(|p| p.as_i64()).unwrap_or(0) as i32;
        // Attach clients that were waiting, then the exit monitor, then let output flow.
        let pending: Vec<PendingAttach> = std::mem::take(&mut *h.pending_attach.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pending {
            let r = shim_connect(&dir, &p.hello).await.map_err(|e| e.to_string());
            let _ = p.tx.send(r);
        }
        let wait = shim_connect(&dir, &ShimHello::Wait).await;
        if let Ok(mut rel) = shim_connect(&dir, &ShimHello::Release).await {
            let _ = rel.shutdown().await;
        }
        let started_at = std::fs::read(dir.join("state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<berth_shim::StateRecord>(&b).ok())
            .map(|s| s.started_at)
            .unwrap_or_else(berth_image::store::now_rfc3339);
        let rec = self.save(h, |r| {
            r.state.status = Status::Running;
            r.state.manually_stopped = false;
            r.state.pid = pid;
            r.state.error.clear();
            r.state.oom_killed = false;
            r.state.exit_code = 0;
            r.state.started_at = started_at;
            r.state.finished_at = "0001-01-01T00:00:00Z".into();
            if by_hand {
                r.state.restart_count = 0;
            }
        })?;
        self.event(&rec, "start", &[]);
        tracing::info!(container.id = %rec.id, pid, "container started");
        self.monitor(h.clone(), wait.ok());
        self.start_health(h);
        Ok(true)
    }

    /// Starts `berth shim` for container `id` (or, with `exec_dir`, for an exec in it) and returns
    /// the line it prints once the process runs: `{"pid": N}` or `{"error": "…"}`.
    pub(super) async fn spawn_shim(&self, id: &str, exec_dir: Option<&Path>, log: &Path) -> Result<serde_json::Value, ServiceError> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(|e| ServiceError::Internal(format!("opening shim log: {e}")))?;
        let mut cmd = tokio::process::Command::from(berth_shim::command(&self.shim_exe));
        cmd.arg("--id").arg(id).arg("--dir").arg(self.dir(id)).arg("--state-root").arg(self.root.join("runtime"));
        if let Some(e) = exec_dir {
            cmd.arg("--exec-dir").arg(e);
        }
        cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(log).process_group(0);
        // Spawned as blocking work (fork and exec), so the shim and its container inherit the
        // daemon's CPU priority, not the async workers' (`crate::priority`).
        let mut child = crate::service::offload::inline(|| cmd.spawn()).map_err(|e| ServiceError::Internal(format!("starting the shim: {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| ServiceError::Internal("shim has no stdout".into()))?;
        // Reap the shim whenever it exits (it outlives us if we restart: then init reaps it).
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        let mut lines = BufReader::new(stdout).lines();
        Ok(match tokio::time::timeout(Duration::from_secs(120), lines.next_line()).await {
            Ok(Ok(Some(l))) => serde_json::from_str(&l).unwrap_or_else(|_| serde_json::json!({"error": l})),
            Ok(Ok(None)) | Ok(Err(_)) => serde_json::json!({"error": SHIM_GONE}),
            Err(_) => serde_json::json!({"error": SHIM_TIMED_OUT}),
        })
    }

    fn fail_pending(&self, h: &Handle, msg: &str) {
        let pending: Vec<PendingAttach> = std::mem::take(&mut *h.pending_attach.lock().unwrap_or_else(|p| p.into_inner()));
        for p in pending {
            let _ = p.tx.send(Err(msg.to_string()));
        }
    }

    /// Waits (in a task) for the exit the shim reports, then records it and applies the policies.
    /// One such task waits for each running container, so what it holds while it waits is kept
    /// small: a read buffer the size of the exit line, not tokio's default 8 KiB (8 MB with 1,000
    /// containers running), and the exit handling's state boxed only once the exit came.
    fn monitor(self: &Arc<Self>, h: Arc<Handle>, conn: Option<UnixStream>) {
        let svc = self.clone();
        tokio::spawn(async move {
            if let Some(c) = conn {
                let mut lines = BufReader::with_capacity(EXIT_LINE_BUFFER, c).lines();
                let _ = lines.next_line().await;
            }
            let dir = svc.dir(&h.with_record(|r| r.id.clone()));
            // The line (or, if the shim died, its exit file) tells how it ended.
            let exit = read_exit(&dir).unwrap_or(ExitRecord {
                exit_code: 255,
                finished_at: berth_image::store::now_rfc3339(),
                oom_killed: false,
                error: Some("the container's shim exited unexpectedly".into()),
            });
            Box::pin(svc.on_exit(&h, exit)).await;
        });
    }

    async fn on_exit(self: &Arc<Self>, h: &Arc<Handle>, exit: ExitRecord) {
        // Read first: the stop (or restart) that set them clears them once the exit below is recorded.
        let user_stopped = h.stopping.load(Ordering::SeqCst);
        let restarting = h.restarting.load(Ordering::SeqCst);
        *h.health.lock().unwrap_or_else(|p| p.into_inner()) = None;
        // Unmounts, cgroup cleanup and a wait for killed processes: not on an async worker.
        super::super::offload::inline(|| {
            self.release_volumes(&h.snapshot());
            if !self.dir(&h.snapshot().id).join("exit.json").exists() {
                // The shim died without recording an exit: make sure nothing of the container survives it.
                reap_orphaned(&h.snapshot().id, &self.dir(&h.snapshot().id));
            }
        });
        // Whether its policy restarts it, decided before the exit is recorded: a client that acts
        // as soon as it sees the exit (`wait` then `rm`) finds it restarting, as with dockerd.
        let restart = {
            let rec = h.snapshot();
            let by_policy = policy_restarts(&rec, exit.exit_code as i64, user_stopped);
            // An auto-remove container goes at its exit instead (unless `restart` cycles it).
            let kept = !rec.host_config.auto_remove || restarting;
            by_policy && kept && !user_stopped && !h.stopping.load(Ordering::SeqCst) && !h.exit_on_next.load(Ordering::SeqCst)
        };
        h.restart_due.store(restart, Ordering::SeqCst);
        let rec = match self.save(h, |r| {
            r.state.status = Status::Exited;
            r.state.pid = 0;
            r.state.exit_code = exit.exit_code as i64;
            r.state.oom_killed = exit.oom_killed;
            r.state.error = exit.error.clone().unwrap_or_default();
            r.state.finished_at = exit.finished_at.clone();
        }) {
            Ok(r) => r,
            Err(e) => {
                h.restart_due.store(false, Ordering::SeqCst);
                tracing::error!(error = %e, "recording a container exit failed");
                return;
            }
        };
        // Networking goes once the exit is recorded (waiters need not wait for it), under the
        // lifecycle lock so a start that comes first is not undone.
        {
            let _op = h.op.lock().await;
            if !matches!(h.snapshot().state.status, Status::Running | Status::Paused) {
                self.network_down(h).await;
            }
        }
        if exit.oom_killed {
            self.event(&rec, "oom", &[]);
        }
        self.event(&rec, "die", &[("exitCode", exit.exit_code.to_string())]);
        tracing::info!(container.id = %rec.id, exit_code = exit.exit_code, "container exited");
        // An auto-remove container goes however it ended (also by stop or kill), except while
        // `restart` cycles it (as dockerd does).
        if rec.host_config.auto_remove && !restarting {
            if let Err(e) = self.remove(h, true, true).await {
                tracing::warn!(container.id = %rec.id, error = %e, "auto-remove failed");
            }
            return;
        }
        if user_stopped || h.stopping.load(Ordering::SeqCst) {
            h.restart_due.store(false, Ordering::SeqCst);
            return;
        }
        if restart {
            let svc = self.clone();
            let h = h.clone();
            let delay = next_backoff(&h.backoff_ms, ran_for(&rec.state.started_at, &rec.state.finished_at));
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _op = h.op.lock().await;
                // Cancelled meanwhile (`stop`, `rm -f`), or started by hand.
                if !h.restart_due.swap(false, Ordering::SeqCst) || h.stopping.load(Ordering::SeqCst) || h.snapshot().state.status != Status::Exited {
                    return;
                }
                let _ = svc.save(&h, |r| {
                    r.state.restart_count += 1;
                    r.state.status = Status::Restarting;
                });
                if let Err(e) = svc.start_locked(&h, false).await {
                    let _ = svc.save(&h, |r| {
                        if r.state.status == Status::Restarting {
                            r.state.status = Status::Exited;
                            r.state.error = e.to_string();
                        }
                    });
                    tracing::warn!(error = %e, "restart by policy failed");
                } else {
                    svc.event(&h.snapshot(), "restart", &[]);
                }
            });
        }
    }

    /// `POST /containers/{id}/kill` as dockerd answers it: after SIGKILL, once the container has
    /// stopped (at most 2 s), so that a `docker rm` right after it finds it stopped.
    ///
    /// As with dockerd, a kill is a stop by hand: an `unless-stopped` container stays down across
    /// a daemon restart, and a kill with SIGKILL or with the container's stop signal (any signal
    /// when it sets none) cancels what its restart policy would do at the next exit (until it is
    /// started again). Between an exit and its policy's restart, such a kill cancels the restart.
    pub async fn kill_and_wait(&self, h: &Arc<Handle>, signal: &str) -> Result<(), ServiceError> {
        use nix::sys::signal::Signal;
        let sig = parse_signal(if signal.is_empty() { "SIGKILL" } else { signal })?;
        let rec = h.snapshot();
        let exit_on_next = match rec.config.stop_signal.as_deref().filter(|s| !s.is_empty()) {
            Some(stop) if sig != Signal::SIGKILL => parse_signal(stop)? == sig,
            _ => true,
        };
        if h.restart_due.load(Ordering::SeqCst) && !matches!(rec.state.status, Status::Running | Status::Paused) {
            if exit_on_next && h.restart_due.swap(false, Ordering::SeqCst) {
                self.save(h, |r| r.state.manually_stopped = true)?;
            }
            return Ok(());
        }
        if exit_on_next {
            h.exit_on_next.store(true, Ordering::SeqCst);
        }
        let sent = self.kill(h, signal);
        if sent.is_ok() {
            self.save(h, |r| r.state.manually_stopped = true)?;
        } else if exit_on_next {
            h.exit_on_next.store(false, Ordering::SeqCst);
        }
        let sent = sent?;
        // A kill that stops it also resumes a paused container, so the signal is delivered (dockerd
        // resumes it after signalling); `kill` itself thaws one for SIGKILL, which ends it.
        if exit_on_next && sent != Signal::SIGKILL && rec.state.status == Status::Paused {
            self.unpause(h)?;
        }
        if sent == Signal::SIGKILL {
            Self::wait_not_running(h, Duration::from_secs(2)).await;
        }
        Ok(())
    }

    /// Sends `signal` to the container's init; returns the signal sent. Fails with 409 when it is
    /// not running.
    pub fn kill(&self, h: &Handle, signal: &str) -> Result<nix::sys::signal::Signal, ServiceError> {
        let sig = parse_signal(if signal.is_empty() { "SIGKILL" } else { signal })?;
        let rec = h.snapshot();
        if !matches!(rec.state.status, Status::Running | Status::Paused) || rec.state.pid <= 0 {
            return Err(ServiceError::Conflict(format!("Cannot kill container: {}: Container {} is not running", rec.name, rec.id)));
        }
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(rec.state.pid), sig) {
            // It exited a moment ago and its exit is not recorded yet: as dockerd (a task containerd
            // no longer finds), not an error.
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(ServiceError::Internal(format!("Cannot kill container: {}: {e}", rec.name))),
        }
        // A frozen process only dies once thawed (other signals wait for `unpause`, as with runc).
        if rec.state.status == Status::Paused && sig == nix::sys::signal::Signal::SIGKILL {
            self.freeze(h, false)?;
        }
        self.event(&rec, "kill", &[("signal", (sig as i32).to_string())]);
        Ok(sig)
    }

    async fn wait_not_running(h: &Handle, timeout: Duration) -> bool {
        let mut rx = h.watch();
        let done = tokio::time::timeout(timeout, rx.wait_for(|o| o.status != Status::Running && o.status != Status::Paused)).await.is_ok();
        done
    }

    /// Stops a running container: its stop signal, then SIGKILL after `timeout` seconds.
    /// `Ok(false)`: it was not running (HTTP 304).
    pub async fn stop(&self, h: &Arc<Handle>, timeout: Option<i64>, signal: Option<&str>) -> Result<bool, ServiceError> {
        let _op = h.op.lock().await;
        let rec = h.snapshot();
        if !matches!(rec.state.status, Status::Running | Status::Paused) {
            // Between an exit and its policy's restart: stopping cancels the restart (dockerd).
            if h.restart_due.swap(false, Ordering::SeqCst) {
                let rec = self.save(h, |r| r.state.manually_stopped = true)?;
                self.event(&rec, "stop", &[]);
                return Ok(true);
            }
            return Ok(false);
        }
        h.stopping.store(true, Ordering::SeqCst);
        self.save(h, |r| r.state.manually_stopped = true)?;
        let sig = signal.map(str::to_string).or_else(|| rec.config.stop_signal.clone()).unwrap_or_else(|| "SIGTERM".into());
        let secs = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let _ = self.kill(h, &sig);
        if secs < 0 {
            Self::wait_not_running(h, Duration::from_secs(u64::MAX / 4)).await;
        } else if !Self::wait_not_running(h, Duration::from_secs(secs as u64)).await {
            let _ = self.kill(h, "SIGKILL");
            Self::wait_not_running(h, Duration::from_secs(30)).await;
        }
        // Its published ports and addresses are free once `stop` answers, as with dockerd (`stop a &&
        // run -p <a's port>` works); the exit handler's own teardown, waiting for this lock, is then a
        // no-op.
        if !matches!(h.snapshot().state.status, Status::Running | Status::Paused) {
            self.network_down(h).await;
        }
        h.stopping.store(false, Ordering::SeqCst);
        self.event(&h.snapshot(), "stop", &[]);
        Ok(true)
    }

    /// `restart`: stop (if running) then start.
    pub async fn restart(self: &Arc<Self>, h: &Arc<Handle>, timeout: Option<i64>, signal: Option<&str>) -> Result<(), ServiceError> {
        h.restarting.store(true, Ordering::SeqCst);
        let stopped = self.stop(h, timeout, signal).await;
        h.restarting.store(false, Ordering::SeqCst);
        stopped?;
        self.start(h).await?;
        self.event(&h.snapshot(), "restart", &[]);
        Ok(())
    }

    /// Waits for `condition` (`not-running`, `next-exit`, `removed`); returns the exit code and error.
    pub async fn wait(&self, h: &Arc<Handle>, condition: &str) -> Result<(i64, Option<String>), ServiceError> {
        Ok(self.waiter(h, condition)?.await)
    }

    /// A wait for `condition` that counts from now: the state it compares with (for `next-exit`, the
    /// number of exits so far) is taken before this returns, so an exit that happens after the call
    /// and before the future is first polled is seen. The API registers it before answering with its
    /// headers, as dockerd does, so a client that waits for them and then starts the container
    /// cannot miss a quick exit.
    pub fn waiter(&self, h: &Arc<Handle>, condition: &str) -> Result<impl std::future::Future<Output = (i64, Option<String>)> + Send + 'static, ServiceError> {
        if !["", "not-running", "next-exit", "removed"].contains(&condition) {
            return Err(ServiceError::Invalid(format!("invalid condition: {condition:?}")));
        }
        let mut rx = h.watch();
        let start = rx.borrow().clone();
        let condition = condition.to_string();
        Ok(async move {
            let done = |o: &Observed| -> bool {
                match condition.as_str() {
                    "next-exit" => o.exits > start.exits || o.removed,
                    "removed" => o.removed,
                    _ => o.status != Status::Running && o.status != Status::Paused && o.status != Status::Restarting,
                }
            };
            let o = rx.wait_for(|o| done(o)).await.map(|o| o.clone()).unwrap_or_else(|_| start.clone());
            (o.exit_code, o.error)
        })
    }

    /// Removes a container (`force`: even a running one, killed first); `volumes`: its anonymous
    /// volumes too (`rm -v`).
    pub async fn remove(&self, h: &Arc<Handle>, force: bool, volumes: bool) -> Result<(), ServiceError> {
        let _timer = crate::metrics::ActionTimer::start("delete");
        let rec = h.snapshot();
        if h.restart_due.load(Ordering::SeqCst) {
            if !force {
                return Err(ServiceError::Conflict(format!(
                    "cannot remove container \"/{}\": container is restarting: stop the container before removing or force remove",
                    rec.name
                )));
            }
            h.restart_due.store(false, Ordering::SeqCst);
        }
        if rec.state.status == Status::Running || rec.state.status == Status::Paused {
            if !force {
                return Err(ServiceError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    rec.name
                )));
            }
            h.stopping.store(true, Ordering::SeqCst);
            let _ = self.kill(h, "SIGKILL");
            Self::wait_not_running(h, Duration::from_secs(30)).await;
        }
        let _op = h.op.lock().await;
        if h.observed.borrow().removed {
            // Someone else (auto-remove, a concurrent rm) got here first.
            return Ok(());
        }
        self.network_down(h).await;
        // `rm -v` records its intent with the status, so a removal the next daemon finishes (see
        // `recover`) takes the anonymous volumes too. A plain removal only shows it (as dockerd
        // does): the record's directory leaves in one step below, before anything it names goes.
        let rec = if volumes || rec.remove_volumes {
            self.save(h, |r| {
                r.state.status = Status::Removing;
                r.remove_volumes = true;
            })?
        } else {
            self.show(h, |r| r.state.status = Status::Removing)
        };
        let volumes = rec.remove_volumes;
        let dir = self.dir(&rec.id);
        // Let the shim finish its own cleanup (runtime state, cgroup) before its files go away.
        if let Some(shim) = std::fs::read(dir.join("state.json")).ok().and_then(|b| serde_json::from_slice::<berth_shim::StateRecord>(&b).ok()) {
            // Its last step (unmounting the root filesystem) takes a few ms: look often (`rm` and
            // `--rm` wait on this), give up after 5 s. Only while that pid is still this
            // container's shim: once it is gone the number may be another process's.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while tokio::time::Instant::now() < deadline && shim_alive(shim.shim_pid, &rec.id) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let (snapshots, root, removed) = (self.snapshots.clone(), self.root.clone(), rec.clone());
        // Other containers' use of its anonymous volumes (its own does not count any more).
        let doomed_volumes = volumes.then(|| {
            let mut users = self.volume_users();
            users.values_mut().for_each(|u| u.retain(|c| c != &rec.id));
            (self.volumes.clone(), users)
        });
        // Deleting the writable layer walks every file the container wrote: off the async workers.
        super::super::offload::removal(move || {
            let rec = removed;
            // The shim unmounts on exit; make sure, so deleting the directory never walks a mounted tree.
            let _ = berth_runtime::mount::unmount(&dir.join("rootfs"));
            let _ = berth_types::teardown::remove_tree(root.join("runtime").join(&rec.id));
            let remove_snapshot = || {
                if let Err(e) = berth_snapshot::Snapshotter::remove(snapshots.as_ref(), &rec.snapshot) {
                    tracing::warn!(container.id = %rec.id, error = %e, "removing the container's snapshot failed");
                }
            };
            // `rm -v` (its intent is on disk): the writable layer and the volumes before the record,
            // so a crash in between finishes them at the next start (a volume already gone counts
            // as removed).
            if let Some((vols, users)) = &doomed_volumes {
                remove_snapshot();
                super::mounts::remove_anonymous_volumes(vols, &rec, users);
            }
            // The record goes in one step (a rename, made durable). A plain removal takes it first:
            // a crash before leaves the container as it was, and after it the snapshot, no
            // container's any more, goes with the start-up collection (`containers/.removing-<id>`
            // is swept at start).
            let doomed = root.join("containers").join(format!("{REMOVING_PREFIX}{}", rec.id));
            match std::fs::rename(&dir, &doomed) {
                Ok(()) => {
                    let _ = berth_types::persist::sync_dir(&root.join("containers"));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ServiceError::Internal(format!("removing {}: {e}", dir.display()))),
            }
            if doomed_volumes.is_none() {
                remove_snapshot();
            }
            if let Err(e) = berth_types::teardown::remove_tree(&doomed) {
                tracing::warn!(container.id = %rec.id, error = %e, "the container's directory was left for the next start");
            }
            Ok(())
        })
        .await?;
        self.names.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.name);
        self.containers.lock().unwrap_or_else(|p| p.into_inner()).remove(&rec.id);
        self.forget_execs_of(&rec.id);
        h.observed.send_modify(|o| o.removed = true);
        self.fail_pending(h, "container removed");
        self.event(&rec, "destroy", &[]);
        Ok(())
    }

    /// Registers an attach: to the running container, or — synchronously, so a start that follows
    /// cannot overtake it — as pending until the container starts. Complete it with [`Attach::connect`].
    pub fn attach(&self, h: &Arc<Handle>, hello: ShimHello) -> Result<Attach, ServiceError> {
        let rec = h.snapshot();
        match rec.state.status {
            Status::Running | Status::Paused => Ok(Attach::Now(self.dir(&rec.id), hello)),
            Status::Created | Status::Restarting | Status::Exited => {
                let (tx, rx) = oneshot::channel();
                h.pending_attach.lock().unwrap_or_else(|p| p.into_inner()).push(PendingAttach { hello, tx });
                Ok(Attach::AtStart(rx))
            }
            Status::Removing | Status::Dead => Err(ServiceError::Conflict(format!("container {} is being removed", rec.name))),
        }
    }

    /// Resizes the container's TTY.
    pub async fn resize(&self, h: &Handle, height: u16, width: u16) -> Result<(), ServiceError> {
        let rec = h.snapshot();
        if rec.state.status != Status::Running {
            return Err(ServiceError::Conflict(format!("Container {} is not running", rec.id)));
        }
        let mut s = shim_connect(&self.dir(&rec.id), &ShimHello::Resize { height, width })
            .await
            .map_err(|e| ServiceError::Internal(format!("resizing: {e}")))?;
        let _ = s.shutdown().await;
        Ok(())
    }
}

/// Whether the cgroup of container `id` (files in `dir`) exists (v2 or any v1 hierarchy).
fn has_cgroup(id: &str, dir: &Path) -> bool {
    let name = super::hostcfg::cgroup_name_in(id, dir);
    let root = Path::new("/sys/fs/cgroup");
    root.join(&name).is_dir() || std::fs::read_dir(root).is_ok_and(|d| d.flatten().any(|e| e.path().join(&name).is_dir()))
}

/// Kills whatever is left of a container whose shim is gone or gave up (the shim's clones, what
/// runs in its cgroups), removes the cgroups and unmounts its root filesystem.
pub(crate) fn reap_orphaned(id: &str, dir: &Path) {
    crate::service::recovery::kill_serving(dir);
    let name = super::hostcfg::cgroup_name_in(id, dir);
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else { return };
    let mut dirs = vec![std::path::PathBuf::from("/sys/fs/cgroup").join(&name)];
    dirs.extend(entries.flatten().map(|e| e.path().join(&name)));
    // Until the cgroups are empty: a process that forks as it is killed, or that moves itself in
    // late (libcontainer's intermediate process joins the cgroup itself), is caught next round.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let pids: Vec<i32> = dirs
            .iter()
            .flat_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().lines().filter_map(|l| l.trim().parse::<i32>().ok()).collect::<Vec<_>>())
            .collect();
        for pid in &pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
        if !pids.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let emptied = dirs.iter().filter(|d| d.is_dir()).all(|d| std::fs::remove_dir(d).is_ok() || !d.is_dir());
        if emptied || std::time::Instant::now() > deadline {
            break;
        }
    }
    let _ = berth_runtime::mount::unmount(&dir.join("rootfs"));
    tracing::warn!(container.id = %id, "the container's shim was gone: its processes were killed");
}

/// Whether `pid` is still the running (not zombie) shim of container `id`: its command line
/// names the container (`berth shim --id <id> …`). A pid that was reused by any other process
/// after the shim went is not.
fn shim_alive(pid: i32, id: &str) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    if !is_shim_of(&cmdline, id) {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| !r.starts_with('Z')))
}

/// Whether `rec`'s restart policy restarts it after a run that ended with `exit_code`, as dockerd's
/// restart manager decides: `always`; `unless-stopped` unless `stopped_by_hand`; `on-failure` after
/// a non-zero exit while retries are left (a stop by hand does not count there).
fn policy_restarts(rec: &super::record::ContainerRecord, exit_code: i64, stopped_by_hand: bool) -> bool {
    let policy = &rec.host_config.restart_policy;
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !stopped_by_hand,
        "on-failure" => exit_code != 0 && (policy.maximum_retry_count == 0 || rec.state.restart_count < policy.maximum_retry_count),
        _ => false,
    }
}

/// The restart policy's delay before the next restart, as dockerd's restart manager computes it:
/// 100 ms at first and again after a run of 10 s or more, otherwise twice the last one, at most a
/// minute. `last_ms` keeps it between exits (in memory, as dockerd's: a daemon restart starts over).
fn next_backoff(last_ms: &std::sync::atomic::AtomicU64, ran: Duration) -> Duration {
    const FIRST: u64 = 100;
    const MAX: u64 = 60_000;
    let last = if ran >= Duration::from_secs(10) { 0 } else { last_ms.load(Ordering::SeqCst) };
    let next = if last == 0 { FIRST } else { (last * 2).min(MAX) };
    last_ms.store(next, Ordering::SeqCst);
    Duration::from_millis(next)
}

/// How long a run lasted, from the record's RFC 3339 start and finish (zero if either is unset).
fn ran_for(started_at: &str, finished_at: &str) -> Duration {
    match (chrono::DateTime::parse_from_rfc3339(started_at), chrono::DateTime::parse_from_rfc3339(finished_at)) {
        (Ok(s), Ok(f)) => (f - s).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// Whether a NUL-separated command line is that of container `id`'s shim (`berth shim --id <id> …`
/// or `berth-shim --id <id> …`; not an exec's, which has `--exec-dir`).
fn is_shim_of(cmdline: &[u8], id: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(2).any(|w| w[0] == b"--id" && w[1] == id.as_bytes()) && !args.contains(&&b"--exec-dir"[..])
}

impl ContainerService {
    /// At daemon start, once networking is up: starts the stopped containers whose restart policy
    /// says so, as dockerd's restore asks its restart manager: `always`; `unless-stopped` unless the
    /// user stopped it; `on-failure` when the last run failed (a non-zero exit code, stopped by hand
    /// or not) and its retries are not used up.
    pub fn apply_restart_policies(self: &Arc<Self>) {
        for h in self.all() {
            let rec = h.snapshot();
            if rec.state.status == Status::Exited && policy_restarts(&rec, rec.state.exit_code, rec.state.manually_stopped) {
                let svc = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = svc.start(&h).await {
                        tracing::warn!(container.id = %h.snapshot().id, error = %e, "restart policy: starting at daemon start failed");
                    }
                });
            }
        }
    }
}

/// The name a container's directory takes while it is being deleted (`containers/.removing-<id>`):
/// renamed atomically once everything else of the container is gone, so a crash mid-delete leaves
/// either the record (the removal is finished at the next start) or this, which is swept.
pub(crate) const REMOVING_PREFIX: &str = ".removing-";

/// The read buffer of a container's exit monitor: an exit line is about 150 bytes (a longer
/// one is read in several fills).
const EXIT_LINE_BUFFER: usize = 512;

/// `spawn_shim`'s error when the shim ended without reporting (killed, crashed).
const SHIM_GONE: &str = "the shim exited before starting the process";
/// `spawn_shim`'s error when the shim did not report in time.
const SHIM_TIMED_OUT: &str = "timed out waiting for the process to start";

/// At daemon start: reconnect to a running container's shim, or record how it ended while we were
/// away; finish a removal that was under way; roll back a start that was never recorded (a shim
/// found running, `shim`, for a container recorded as not running: the daemon died between
/// spawning it and saving the record, so no client was told it started).
pub fn recover(svc: &Arc<ContainerService>, h: Arc<Handle>, shim: Option<crate::service::recovery::ShimProcess>) {
    let rec = h.snapshot();
    let dir = svc.dir(&rec.id);
    match rec.state.status {
        Status::Running | Status::Paused | Status::Restarting => {}
        Status::Removing => {
            if let Some(s) = &shim {
                crate::service::recovery::stop_shim(s, Duration::from_secs(3));
            }
            if shim.is_some() || has_cgroup(&rec.id, &dir) {
                reap_orphaned(&rec.id, &dir);
            }
            let svc = svc.clone();
            tokio::spawn(async move {
                // `rm -v`'s intent is in the record (`remove_volumes`).
                match svc.remove(&h, true, false).await {
                    Ok(()) => tracing::info!(container.id = %rec.id, "finished a removal the previous daemon started"),
                    Err(e) => tracing::warn!(container.id = %rec.id, error = %e, "finishing a container removal failed"),
                }
            });
            return;
        }
        Status::Created | Status::Exited | Status::Dead => {
            let half_started = shim.is_some() || has_cgroup(&rec.id, &dir);
            if let Some(s) = &shim {
                crate::service::recovery::stop_shim(s, Duration::from_secs(3));
            }
            if half_started {
                reap_orphaned(&rec.id, &dir);
                tracing::warn!(container.id = %rec.id, "rolled back a start the previous daemon never recorded");
            }
            if half_started || !rec.network.sandbox_key.is_empty() {
                let svc = svc.clone();
                tokio::spawn(async move {
                    let _op = h.op.lock().await;
                    if !matches!(h.snapshot().state.status, Status::Running | Status::Paused) {
                        svc.network_down(&h).await;
                    }
                });
            }
            return;
        }
    }
    // A running container is frozen only while a commit reads its layer (`pause`): a daemon killed
    // in between left it frozen, and nothing else would ever thaw it.
    if rec.state.status == Status::Running && svc.freeze(&h, false).is_ok() {
        tracing::debug!(container.id = %rec.id, "thawed (a commit's pause the previous daemon did not end)");
    }
    let svc = svc.clone();
    // Its volumes are in use (on_exit releases them).
    let _ = svc.acquire_volumes(&rec, false);
    tokio::spawn(async move {
        match shim_connect(&dir, &ShimHello::Wait).await {
            Ok(conn) => {
                tracing::info!(container.id = %rec.id, "reconnected to running container");
                svc.monitor(h, Some(conn));
            }
            Err(_) => {
                let exit = read_exit(&dir).unwrap_or(ExitRecord {
                    exit_code: 255,
                    finished_at: berth_image::store::now_rfc3339(),
                    oom_killed: false,
                    error: Some("the container's shim is gone".into()),
                });
                let _ = berth_runtime::mount::unmount(&dir.join("rootfs"));
                svc.on_exit(&h, exit).await;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_backoff_doubles_to_a_minute_and_resets_after_a_long_run() {
        let last = std::sync::atomic::AtomicU64::new(0);
        let short = Duration::from_millis(50);
        let got: Vec<u64> = (0..12).map(|_| next_backoff(&last, short).as_millis() as u64).collect();
        assert_eq!(got, [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]);
        // A run of 10 s or more starts over at 100 ms.
        assert_eq!(next_backoff(&last, Duration::from_secs(10)), Duration::from_millis(100));
        assert_eq!(next_backoff(&last, short), Duration::from_millis(200));
        assert_eq!(ran_for("2026-01-01T00:00:00.5Z", "2026-01-01T00:00:11Z"), Duration::from_millis(10_500));
        assert_eq!(ran_for("", "2026-01-01T00:00:11Z"), Duration::ZERO);
    }

    #[test]
    fn a_reused_shim_pid_is_not_waited_for() {
        let id = "4f".repeat(32);
        let cmd = |args: &[&str]| args.join("\0").into_bytes();
        assert!(is_shim_of(&cmd(&["/usr/bin/berth", "shim", "--id", &id, "--dir", "/d", "--state-root", "/r"]), &id));
        assert!(is_shim_of(&cmd(&["/usr/bin/berth-shim", "--id", &id, "--dir", "/d"]), &id));
        // Another container's shim, an exec's shim, any other process that got the number.
        assert!(!is_shim_of(&cmd(&["/usr/bin/berth", "shim", "--id", &"5a".repeat(32)]), &id));
        assert!(!is_shim_of(&cmd(&["/usr/bin/berth", "shim", "--id", &id, "--exec-dir", "/e"]), &id));
        assert!(!is_shim_of(&cmd(&["sleep", "100"]), &id));
        // This test's own process is no container's shim; a pid that does not exist is not alive.
        assert!(!shim_alive(std::process::id() as i32, &id));
        assert!(!shim_alive(0, &id));
        // A live process whose command line names the container is waited for; once it exited
        // (a zombie, then reaped) it is not.
        // Two commands, so that the shell stays (a lone `sleep` may be exec'd in its place).
        let mut child = std::process::Command::new("sh").args(["-c", "sleep 30; exit 0", "berth-shim", "--id", &id]).spawn().unwrap();
        let pid = child.id() as i32;
        // spawn returns once the child's exec released the parent's memory, before the kernel has
        // set up the new command line (it reads empty for a moment).
        for _ in 0..1000 {
            if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(shim_alive(pid, &id));
        child.kill().unwrap();
        while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z")) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!shim_alive(pid, &id), "a zombie is not alive");
        child.wait().unwrap();
        assert!(!shim_alive(pid, &id));
    }
}
