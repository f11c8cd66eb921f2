//! `Exec`, `Attach`, `PortForward`: checked as the kubelet's streaming library and containerd
//! check them, then stored under a one-time token of the streaming server, whose URL is the answer
//! (`crate::stream`).

use crate::error::invalid;
use crate::meta;
use crate::proto::{AttachRequest, ExecRequest, PortForwardRequest};
use crate::stream::cache::Pending;
use crate::Cri;
use berth_daemon::service::containers::Status;

impl Cri {
    /// A running CRI container, or `FailedPrecondition`.
    fn running_container(&self, id: &str) -> Result<String, tonic::Status> {
        let (_, rec) = self.object(meta::KIND_CONTAINER, id)?;
        if rec.state.status != Status::Running {
            return Err(tonic::Status::failed_precondition(format!("container {} is not running", rec.id)));
        }
        Ok(rec.id)
    }

    /// `Exec`.
    pub(crate) fn streaming_exec(&self, mut req: ExecRequest) -> Result<String, tonic::Status> {
        if req.cmd.is_empty() {
            return Err(invalid("cmd is empty"));
        }
        check_streams(req.tty, req.stdin, req.stdout, req.stderr)?;
        req.container_id = self.running_container(&req.container_id)?;
        self.stream.url_for(Pending::Exec(req))
    }

    /// `Attach`.
    pub(crate) fn streaming_attach(&self, mut req: AttachRequest) -> Result<String, tonic::Status> {
        check_streams(req.tty, req.stdin, req.stdout, req.stderr)?;
        req.container_id = self.running_container(&req.container_id)?;
        self.stream.url_for(Pending::Attach(req))
    }

    /// `PortForward`.
    pub(crate) fn streaming_port_forward(&self, mut req: PortForwardRequest) -> Result<String, tonic::Status> {
        let (_, rec) = self.object(meta::KIND_SANDBOX, &req.pod_sandbox_id)?;
        if rec.state.status != Status::Running {
            return Err(tonic::Status::failed_precondition(format!("pod sandbox {} is not ready", rec.id)));
        }
        if let Some(p) = req.port.iter().find(|p| !(1..=65535).contains(*p)) {
            return Err(invalid(format!("port {p} is out of range")));
        }
        req.pod_sandbox_id = rec.id;
        self.stream.url_for(Pending::PortForward(req))
    }
}

/// The kubelet's `validateExecRequest`/`validateAttachRequest`.
fn check_streams(tty: bool, stdin: bool, stdout: bool, stderr: bool) -> Result<(), tonic::Status> {
    if tty && stderr {
        // A terminal has one output; the kubelet refuses to multiplex it.
        return Err(invalid("tty and stderr cannot both be true"));
    }
    if !stdin && !stdout && !stderr {
        return Err(invalid("one of stdin, stdout, or stderr must be set"));
    }
    Ok(())
}
