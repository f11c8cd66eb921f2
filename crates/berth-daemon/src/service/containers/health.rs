//! Health checks: the image's `HEALTHCHECK` (or `--health-*`) runs as an exec on its interval;
//! consecutive failures past `retries` make the container unhealthy. The state shows in `inspect`
//! (`State.Health`), in `ps` ("(healthy)") and as `health_status` events.

use super::exec::ExecRequest;
use super::record::Status;
use super::{ContainerService, Handle};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The health of one container, in memory (reset when it restarts).
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: i64,
    /// The last results (at most 5).
    pub log: Vec<Value>,
}

impl Health {
    /// `State.Health` as Docker shows it.
    pub fn to_json(&self) -> Value {
        json!({"Status": self.status, "FailingStreak": self.failing_streak, "Log": self.log})
    }
}

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Between checks during the start period while the container is still `starting` (API 1.44's
/// `StartInterval`; dockerd's default).
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 3;
const OUTPUT_MAX: usize = 4096;

fn nanos(v: Option<i64>, default: Duration) -> Duration {
    match v {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

impl ContainerService {
    /// Starts the health-check loop for a container that just started, if it has a check.
    pub(super) fn start_health(self: &Arc<Self>, h: &Arc<Handle>) {
        let rec = h.snapshot();
        let Some(check) = rec.config.healthcheck.clone() else { return };
        let test = check.test.clone().unwrap_or_default();
        let cmd: Vec<String> = match test.first().map(String::as_str) {
            Some("CMD") => test[1..].to_vec(),
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
            _ => return,
        };
        if cmd.is_empty() {
            return;
        }
        let interval = nanos(check.interval, DEFAULT_INTERVAL);
        let timeout = nanos(check.timeout, DEFAULT_TIMEOUT);
        let start_period = nanos(check.start_period, Duration::ZERO);
        let start_interval = nanos(check.start_interval, DEFAULT_START_INTERVAL);
        let retries = check.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES);
        *h.health.lock().unwrap_or_else(|p| p.into_inner()) = Some(Health { status: "starting".into(), ..Default::default() });
        let svc = self.clone();
        let h = h.clone();
        let started = tokio::time::Instant::now();
        let generation = h.watch().borrow().exits;
        tokio::spawn(async move {
            loop {
                // As dockerd: within the start period, a container not yet healthy is checked
                // every start interval.
                let starting = h.health.lock().unwrap_or_else(|p| p.into_inner()).as_ref().is_some_and(|s| s.status == "starting");
                tokio::time::sleep(if starting && started.elapsed() < start_period { start_interval } else { interval }).await;
                let obs = h.watch().borrow().clone();
                if obs.removed || obs.exits != generation || obs.status != Status::Running {
                    return;
                }
                let begin = chrono::Utc::now();
                let (code, output) = svc.probe(&h, cmd.clone(), timeout).await;
                let entry = json!({
                    "Start": begin.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    "End": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    "ExitCode": code, "Output": output,
                });
                let changed = {
                    let mut guard = h.health.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(health) = guard.as_mut() else { return };
                    health.log.push(entry);
                    if health.log.len() > 5 {
                        health.log.remove(0);
                    }
                    let before = health.status.clone();
                    if code == 0 {
                        health.failing_streak = 0;
                        health.status = "healthy".into();
                    } else if started.elapsed() >= start_period {
                        health.failing_streak += 1;
                        if health.failing_streak >= retries {
                            health.status = "unhealthy".into();
                        }
                    }
                    (before != health.status).then(|| health.status.clone())
                };
                if let Some(status) = changed {
                    svc.event(&h.snapshot(), &format!("health_status: {status}"), &[]);
                }
            }
        });
    }

    /// Runs one check as an exec; returns its exit code (-1 on timeout or failure) and output.
    async fn probe(self: &Arc<Self>, h: &Arc<Handle>, cmd: Vec<String>, timeout: Duration) -> (i64, String) {
        let req = ExecRequest { attach_stdout: true, attach_stderr: true, cmd, ..Default::default() };
        let Ok(id) = self.exec_create(h, req) else { return (-1, "container is not running".into()) };
        let Ok(ex) = self.exec_get(&id) else { return (-1, String::new()) };
        let run = async {
            let (stream, mut state) = match self.exec_start(&ex, false).await {
                Ok(r) => r,
                Err(e) => return (-1, e.to_string()),
            };
            let mut output = Vec::new();
            if let Some(mut s) = stream {
                let mut hdr = [0u8; 8];
                while s.read_exact(&mut hdr).await.is_ok() {
                    let len = u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]) as usize;
                    let mut buf = vec![0u8; len];
                    if s.read_exact(&mut buf).await.is_err() {
                        break;
                    }
                    if output.len() < OUTPUT_MAX {
                        output.extend_from_slice(&buf[..buf.len().min(OUTPUT_MAX - output.len())]);
                    }
                }
            }
            let _ = state.wait_for(|s| !s.0 && s.1.is_some()).await;
            let code = state.borrow().1.unwrap_or(-1);
            (code, String::from_utf8_lossy(&output).into_owned())
        };
        let result = tokio::time::timeout(timeout, run).await;
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        result.unwrap_or((-1, format!("Health check exceeded timeout ({timeout:?})")))
    }
}
