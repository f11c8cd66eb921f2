//! Container endpoints. Until the container runtime lands no container can exist, so listing is
//! truthfully empty and every lookup is Docker's 404 — which `docker inspect NAME` relies on to fall
//! through to images.

use super::{json, ApiError};
use crate::service::Services;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Services>> {
    Router::new()
        .route("/containers/json", get(|| async { json(StatusCode::OK, &Vec::<()>::new()) }))
        .route("/containers/{id}/json", get(no_such_container))
}

async fn no_such_container(Path(id): Path<String>) -> Result<Response, ApiError> {
    Err(ApiError::new(StatusCode::NOT_FOUND, format!("No such container: {id}")))
}
