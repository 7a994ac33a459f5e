//! The one shape every HTTP route refuses a request with: a status and
//! `{"error": code, "message": …}` (the GPT Action schema's `Error`), so clients, the dashboard
//! and the tests read one form. OAuth's endpoints answer in RFC 6749's shape instead, and
//! `/mcp` in JSON-RPC's.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A refused request: why (a stable `code`) and what to do (`message`).
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code, e.g. `unauthorized`.
    pub code: String,
    /// What happened and what to do, for a person.
    pub message: String,
}

impl ApiError {
    /// An answer of `status` with `code` and `message`.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.code, "message": self.message})),
        )
            .into_response()
    }
}

/// [`ApiError`] as a response, for the many places that answer at once.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    ApiError::new(status, code, message).into_response()
}
