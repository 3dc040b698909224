//! The API's one error: an HTTP status and a message, sent as `{"error": "..."}`.
//!
//! Bad input (a version the store does not hold, a type the version lacks, a key that does not
//! parse, a record that is not there) is a 4xx; only a failure of the store or the data is a
//! 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::error::CliError;

/// A request that failed.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    /// 400: the request cannot be served as asked.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404: no such version, route or record.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 500: the store or the data failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl From<CliError> for ApiError {
    /// A command's usage error is the request's fault (400); any other failure is ours.
    fn from(e: CliError) -> Self {
        match e.code {
            2 => ApiError::bad_request(e.message),
            _ => ApiError::internal(e.message),
        }
    }
}

impl From<shoal_format::Error> for ApiError {
    fn from(e: shoal_format::Error) -> Self {
        ApiError::internal(e.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("a background task failed: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        (self.status, body).into_response()
    }
}
