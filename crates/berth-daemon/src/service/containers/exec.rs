//! `exec`: extra processes in a running container, each started by its own short-lived shim
//! (`berth shim --exec-dir`), which joins the container through libcontainer's tenant builder.

use super::lifecycle::shim_connect;
use super::record::Status;
use super::{ContainerService, Handle, ServiceError};
use berth_runtime::config::ExecConfig;
use berth_shim::{ExitRecord, ShimHello};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UnixStream;
use tokio::sync::watch;

/// `POST /containers/{id}/exec` body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecRequest {
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Allocate a TTY.
    pub tty: bool,
    /// Command.
    pub cmd: Vec<String>,
    /// Extra environment.
    pub env: Option<Vec<String>>,
    /// Working directory.
    pub working_dir: String,
    /// User.
    pub user: String,
    /// All capabilities.
    pub privileged: bool,
    /// Detach keys. Go's decoder matches field names without regard to case, and docker-py
    /// sends this one as `detachKeys`.
    #[serde(alias = "detachKeys")]
    pub detach_keys: String,
}

/// One exec.
pub struct Exec {
    /// Exec id.
    pub id: String,
    /// Its container.
    pub container: Arc<Handle>,
    req: ExecRequest,
    /// (running, exit code, pid)
    state: watch::Sender<(bool, Option<i64>, i32)>,
    started: Mutex<bool>,
    /// Marked by one pass of the exec collector, removed by the next ([`ContainerService::prune_execs`]).
    can_remove: AtomicBool,
}

/// How often finished execs are collected: dockerd's `execCommandGC` period. An exec that has
/// finished (or can never run) stays inspectable for one to two periods.
pub const EXEC_GC_PERIOD: std::time::Duration = std::time::Duration::from_secs(5 * 60);

impl Exec {
    /// Whether the exec may still do something: running, or created in a running container.
    fn live(&self) -> bool {
        let (running, _, _) = *self.state.borrow();
        if running {
            return true;
        }
        let started = *self.started.lock().unwrap_or_else(|p| p.into_inner());
        let obs = self.container.observed.borrow();
        !started && obs.status == Status::Running && !obs.removed
    }
}

impl ContainerService {
    /// Creates an exec in a running container.
    pub fn exec_create(&self, h: &Arc<Handle>, req: ExecRequest) -> Result<String, ServiceError> {
        self.exec_create_named(h, req, None)
    }

    /// [`ContainerService::exec_create`], naming the container in errors as the client did (dockerd's wording).
    pub fn exec_create_named(&self, h: &Arc<Handle>, req: ExecRequest, asked_as: Option<&str>) -> Result<String, ServiceError> {
        let rec = h.snapshot();
        if rec.state.status == Status::Paused {
            let name = asked_as.unwrap_or(&rec.id);
            return Err(ServiceError::Conflict(format!("Container {name} is paused, unpause the container before exec")));
        }
        if rec.state.status != Status::Running {
            return Err(ServiceError::Conflict(format!("Container {} is not running", rec.id)));
        }
        if req.cmd.is_empty() {
            return Err(ServiceError::Invalid("No exec command specified".into()));
        }
        let id = berth_types::random_id();
        let action = format!("exec_create: {}", req.cmd.join(" "));
        let exec = Arc::new(Exec { id: id.clone(), container: h.clone(), req, state: watch::channel((false, None, 0)).0, started: Mutex::new(false), can_remove: AtomicBool::new(false) });
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), exec);
        self.event(&rec, &action, &[("execID", id.clone())]);
        Ok(id)
    }

    /// Forgets the execs of a removed container (dockerd unregisters them with the container), so
    /// that no record pins it.
    pub(super) fn forget_execs_of(&self, container_id: &str) {
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, e| e.container.snapshot().id != container_id);
    }

    /// One pass of dockerd's exec collector: execs marked by the previous pass go; execs that are
    /// no longer live (finished, or created in a container that stopped) are marked.
    pub fn prune_execs(&self) -> usize {
        collect_pass(&mut self.execs.lock().unwrap_or_else(|p| p.into_inner()), |e| e.live(), |e| &e.can_remove)
    }

    /// Runs [`ContainerService::prune_execs`] every [`EXEC_GC_PERIOD`] while the service lives.
    pub fn start_exec_collector(self: &Arc<Self>) {
        let svc = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXEC_GC_PERIOD);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(svc) = svc.upgrade() else { return };
                let n = svc.prune_execs();
                if n > 0 {
                    tracing::debug!(removed = n, "collected finished execs");
                }
            }
        });
    }

    /// The number of exec records held (finished ones included).
    pub fn exec_count(&self) -> usize {
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Finds an exec.
    pub fn exec_get(&self, id: &str) -> Result<Arc<Exec>, ServiceError> {
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned().ok_or_else(|| ServiceError::NotFound(format!("No such exec instance: {id}")))
    }

    /// Starts an exec; returns the attach stream unless `detach`, and a receiver that turns false
    /// once the exec has exited and its exit code is recorded.
    pub async fn exec_start(self: &Arc<Self>, ex: &Arc<Exec>, detach: bool) -> Result<(Option<UnixStream>, watch::Receiver<(bool, Option<i64>, i32)>), ServiceError> {
        {
            let mut started = ex.started.lock().unwrap_or_else(|p| p.into_inner());
            if *started {
                return Err(ServiceError::Conflict(format!("Error: Exec command {} has already run", ex.id)));
            }
            *started = true;
        }
        let rec = ex.container.snapshot();
        if rec.state.status != Status::Running {
            return Err(ServiceError::Conflict(format!("Container {} is not running", rec.id)));
        }
        let runtime_json = super::super::offload::inline(|| std::fs::read(self.dir(&rec.id).join("runtime.json")).unwrap_or_default());
        let runtime: berth_runtime::RuntimeConfig = serde_json::from_slice(&runtime_json)
            .map_err(|e| ServiceError::Internal(format!("reading the container's runtime config: {e}")))?;
        let caps = berth_runtime::spec::capabilities(&runtime).unwrap_or_default();
        let mut env = super::create::with_hostname(rec.config.env.clone().unwrap_or_default(), rec.config.hostname.as_deref().unwrap_or_default());
        for e in ex.req.env.clone().unwrap_or_default() {
            let key = e.split('=').next().unwrap_or(&e).to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(e);
        }
        let cfg = ExecConfig {
            args: ex.req.cmd.clone(),
            env,
            cwd: if ex.req.working_dir.is_empty() { rec.config.working_dir.clone().unwrap_or_default() } else { ex.req.working_dir.clone() },
            user: if ex.req.user.is_empty() { rec.config.user.clone().unwrap_or_default() } else { ex.req.user.clone() },
            tty: ex.req.tty,
            open_stdin: ex.req.attach_stdin && !detach,
            privileged: ex.req.privileged || runtime.privileged,
            capabilities: caps,
            no_new_privileges: runtime.no_new_privileges,
            group_add: runtime.group_add.clone(),
            groups_policy: runtime.groups_policy,
        };
        let dir = self.dir(&rec.id).join("execs").join(&ex.id);
        super::super::offload::inline(|| {
            std::fs::create_dir_all(&dir).map_err(|e| ServiceError::Internal(format!("create {}: {e}", dir.display())))?;
            berth_types::persist::replace_file_json(&dir.join("exec.json"), &cfg).map_err(|e| ServiceError::Internal(format!("writing exec config: {e}")))
        })?;
        berth_runtime::cgroups::prime_attach();
        let reply = self.spawn_shim(&rec.id, Some(&dir), &dir.join("shim.log")).await?;
        if let Some(e) = reply.get("error").and_then(|e| e.as_str()) {
            ex.state.send_replace((false, Some(126), 0));
            let _ = super::super::offload::inline(|| berth_types::teardown::remove_tree(&dir));
            let e = format!("OCI runtime exec failed: exec failed: {}", super::lifecycle::docker_wording(e));
            return Err(ServiceError::Invalid(e));
        }
        let pid = reply.get("pid").and_then(|p| p.as_i64()).unwrap_or(0) as i32;
        let attach = if detach {
            None
        } else {
            let hello = ShimHello::Attach { stdin: ex.req.attach_stdin, stdout: ex.req.attach_stdout || !ex.req.attach_stdin, stderr: ex.req.attach_stderr || !ex.req.attach_stdin };
            Some(shim_connect(&dir, &hello).await.map_err(|e| ServiceError::Internal(format!("attaching to exec: {e}")))?)
        };
        let wait = shim_connect(&dir, &ShimHello::Wait).await.map_err(|e| ServiceError::Internal(format!("exec wait: {e}")))?;
        if let Ok(rel) = shim_connect(&dir, &ShimHello::Release).await {
            drop(rel);
        }
        ex.state.send_replace((true, None, pid));
        self.event(&rec, &format!("exec_start: {}", ex.req.cmd.join(" ")), &[("execID", ex.id.clone())]);
        let rx = ex.state.subscribe();
        let exs = ex.clone();
        let svc = self.clone();
        tokio::spawn(async move {
            let mut l = BufReader::new(wait).lines();
            let code = match l.next_line().await {
                Ok(Some(line)) => serde_json::from_str::<ExitRecord>(&line).map(|r| r.exit_code as i64).unwrap_or(255),
                _ => {
                    let exit = dir.join("exit.json");
                    let read = berth_types::sched::spawn_blocking(move || std::fs::read(exit)).await;
                    read.ok().and_then(Result::ok).and_then(|b| serde_json::from_slice::<ExitRecord>(&b).ok()).map(|r| r.exit_code as i64).unwrap_or(255)
                }
            };
            exs.state.send_replace((false, Some(code), 0));
            svc.event(&exs.container.snapshot(), "exec_die", &[("execID", exs.id.clone()), ("exitCode", code.to_string())]);
            let _ = berth_types::sched::spawn_blocking(move || berth_types::teardown::remove_tree(&dir)).await;
        });
        Ok((attach, rx))
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, ex: &Exec) -> Value {
        let (running, code, pid) = *ex.state.borrow();
        let (entry, args) = ex.req.cmd.split_first().map(|(a, b)| (a.clone(), b.to_vec())).unwrap_or_default();
        json!({
            "ID": ex.id, "Running": running, "ExitCode": code, "Pid": pid, "CanRemove": ex.can_remove.load(Ordering::Relaxed),
            "ContainerID": ex.container.snapshot().id, "DetachKeys": ex.req.detach_keys,
            "OpenStdin": ex.req.attach_stdin, "OpenStdout": ex.req.attach_stdout, "OpenStderr": ex.req.attach_stderr,
            "ProcessConfig": {"tty": ex.req.tty, "entrypoint": entry, "arguments": args, "privileged": ex.req.privileged, "user": ex.req.user},
        })
    }

    /// Resizes an exec's TTY.
    pub async fn exec_resize(&self, ex: &Exec, height: u16, width: u16) -> Result<(), ServiceError> {
        let dir = self.dir(&ex.container.snapshot().id).join("execs").join(&ex.id);
        shim_connect(&dir, &ShimHello::Resize { height, width }).await.map_err(|e| ServiceError::Conflict(format!("exec is not running: {e}")))?;
        Ok(())
    }
}

/// One collector pass over `records`: removes the marked ones, marks those no longer live.
/// Returns how many went.
fn collect_pass<T>(records: &mut std::collections::HashMap<String, T>, live: impl Fn(&T) -> bool, mark: impl Fn(&T) -> &AtomicBool) -> usize {
    let before = records.len();
    records.retain(|_, e| !mark(e).load(Ordering::Relaxed));
    for e in records.values() {
        if !live(e) {
            mark(e).store(true, Ordering::Relaxed);
        }
    }
    before - records.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dockerd's rule: a finished exec survives one pass (marked, still inspectable) and goes at
    /// the next; a live one is never marked.
    #[test]
    fn finished_execs_go_at_the_second_pass_live_ones_stay() {
        let mut m: std::collections::HashMap<String, (AtomicBool, AtomicBool)> = std::collections::HashMap::new();
        m.insert("running".into(), (AtomicBool::new(true), AtomicBool::new(false)));
        m.insert("done".into(), (AtomicBool::new(false), AtomicBool::new(false)));
        let live = |e: &(AtomicBool, AtomicBool)| e.0.load(Ordering::Relaxed);
        assert_eq!(collect_pass(&mut m, live, |e| &e.1), 0);
        assert!(m["done"].1.load(Ordering::Relaxed) && !m["running"].1.load(Ordering::Relaxed));
        // The running one finishes meanwhile: marked now, gone a pass later.
        m["running"].0.store(false, Ordering::Relaxed);
        assert_eq!(collect_pass(&mut m, live, |e| &e.1), 1);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["running"]);
        assert_eq!(collect_pass(&mut m, live, |e| &e.1), 1);
        assert!(m.is_empty());
    }
}
