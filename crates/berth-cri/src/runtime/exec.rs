//! `ExecSync`: a command in a running container, its output collected (at most 16 MiB per
//! stream, the rest read and dropped: CVE-2022-1708) and its exit code returned. A timeout kills
//! the command and answers `DeadlineExceeded`.

use crate::error::status;
use crate::meta;
use crate::proto::{ExecSyncRequest, ExecSyncResponse};
use crate::Cri;
use berth_daemon::service::containers::{ExecRequest, Status};
use tokio::io::AsyncReadExt;

/// Output kept per stream.
const OUTPUT_CAP: usize = 16 << 20;

/// Reads Docker's 8-byte-framed exec output until EOF into (stdout, stderr).
async fn collect(mut s: tokio::net::UnixStream) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut header = [0u8; 8];
    loop {
        if s.read_exact(&mut header).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut data = vec![0u8; len];
        if s.read_exact(&mut data).await.is_err() {
            break;
        }
        let dest = if header[0] == 2 { &mut err } else { &mut out };
        let room = OUTPUT_CAP.saturating_sub(dest.len());
        dest.extend_from_slice(&data[..len.min(room)]);
    }
    (out, err)
}

impl Cri {
    /// `ExecSync`.
    pub(crate) async fn exec_sync(&self, req: ExecSyncRequest) -> Result<ExecSyncResponse, tonic::Status> {
        let (h, rec) = self.object(meta::KIND_CONTAINER, &req.container_id)?;
        if rec.state.status != Status::Running {
            return Err(tonic::Status::failed_precondition(format!("container {} is not running", rec.id)));
        }
        if req.cmd.is_empty() {
            return Err(crate::error::invalid("cmd is empty"));
        }
        let exec = ExecRequest { attach_stdout: true, attach_stderr: true, cmd: req.cmd, ..Default::default() };
        let svc = self.services.containers.clone();
        let id = svc.exec_create(&h, exec).map_err(status)?;
        let ex = svc.exec_get(&id).map_err(status)?;
        let (stream, mut state) = svc.exec_start(&ex, false).await.map_err(status)?;
        let watch = state.clone();
        let run = async {
            let output = match stream {
                Some(s) => collect(s).await,
                None => (Vec::new(), Vec::new()),
            };
            let code = match state.wait_for(|(running, code, _)| !running && code.is_some()).await {
                Ok(v) => v.1.unwrap_or(255),
                Err(_) => 255,
            };
            (output, code)
        };
        let result = if req.timeout > 0 { tokio::time::timeout(std::time::Duration::from_secs(req.timeout as u64), run).await.ok() } else { Some(run.await) };
        match result {
            Some(((stdout, stderr), code)) => Ok(ExecSyncResponse { stdout, stderr, exit_code: code as i32 }),
            None => {
                let pid = watch.borrow().2;
                if pid > 0 {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                Err(tonic::Status::deadline_exceeded(format!("command timed out after {}s", req.timeout)))
            }
        }
    }
}
