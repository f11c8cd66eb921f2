//! Service errors as gRPC statuses: the one place where Berth's error kinds become gRPC codes
//! (as `berth_daemon::api::status_for` is for HTTP statuses).

use berth_daemon::service::ServiceError;
use berth_types::error::HasKind;
use berth_types::ErrorKind;

/// A gRPC status for a service error, with the error's message.
pub fn status(e: ServiceError) -> tonic::Status {
    let code = match e.kind() {
        ErrorKind::NotFound => tonic::Code::NotFound,
        ErrorKind::AlreadyExists => tonic::Code::AlreadyExists,
        ErrorKind::InvalidArgument => tonic::Code::InvalidArgument,
        ErrorKind::Conflict => tonic::Code::FailedPrecondition,
        ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::Forbidden => tonic::Code::PermissionDenied,
        ErrorKind::Internal => tonic::Code::Internal,
    };
    tonic::Status::new(code, e.to_string())
}

/// A gRPC status for a CNI error: the network not being configured is a precondition the
/// operator must fix (`FailedPrecondition`, as containerd answers before its CNI is initialised);
/// a plugin's failure, a hung one's too, is the runtime's (`Unknown`, as containerd answers:
/// `DeadlineExceeded` would read as the client's own deadline passing).
pub fn cni_status(e: &crate::cni::CniError) -> tonic::Status {
    use crate::cni::CniError;
    match e {
        CniError::NoConfig { .. } | CniError::BadConfig { .. } | CniError::PluginNotFound { .. } => tonic::Status::failed_precondition(format!("network plugin not ready: {e}")),
        _ => tonic::Status::unknown(e.to_string()),
    }
}

/// `InvalidArgument` with a message.
pub fn invalid(msg: impl Into<String>) -> tonic::Status {
    tonic::Status::invalid_argument(msg.into())
}

/// `NotFound` with a message.
pub fn not_found(msg: impl Into<String>) -> tonic::Status {
    tonic::Status::not_found(msg.into())
}

/// A failed blocking task.
pub fn task(e: tokio::task::JoinError) -> tonic::Status {
    tonic::Status::internal(format!("internal task failed: {e}"))
}

/// The result type of the CRI handlers.
pub type CriResult<T> = Result<tonic::Response<T>, tonic::Status>;

/// The deadline a client gave the call (gRPC's `grpc-timeout` header: digits and a unit).
pub fn deadline(meta: &tonic::metadata::MetadataMap) -> Option<std::time::Duration> {
    let v = meta.get("grpc-timeout")?.to_str().ok()?;
    let (n, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    use std::time::Duration;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Runs `f` within the client's deadline, answering `DeadlineExceeded` when it passes. tonic's
/// own enforcement of `grpc-timeout` answers `Cancelled`, which kubelets and critest read as the
/// client giving up rather than the deadline passing; this ends the call a little earlier.
pub async fn within<T>(deadline: Option<std::time::Duration>, f: impl std::future::Future<Output = Result<T, tonic::Status>>) -> Result<T, tonic::Status> {
    let Some(d) = deadline else { return f.await };
    let ours = d.saturating_sub((d / 10).min(std::time::Duration::from_millis(100)));
    match tokio::time::timeout(ours, f).await {
        Ok(r) => r,
        Err(_) => Err(tonic::Status::deadline_exceeded(format!("deadline of {d:?} exceeded"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        let mut m = tonic::metadata::MetadataMap::new();
        assert_eq!(deadline(&m), None);
        m.insert("grpc-timeout", "1500m".parse().unwrap());
        assert_eq!(deadline(&m), Some(std::time::Duration::from_millis(1500)));
        m.insert("grpc-timeout", "2S".parse().unwrap());
        assert_eq!(deadline(&m), Some(std::time::Duration::from_secs(2)));
        m.insert("grpc-timeout", "x".parse().unwrap());
        assert_eq!(deadline(&m), None);
    }
}
