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
