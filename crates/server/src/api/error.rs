//! API errors: every failure is `{"error":{"code","message","details"}}` with a stable code,
//! including malformed JSON and unknown routes (never axum's plain-text rejections).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub use super::error_code::ErrorCode;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status: the code's, unless a whole request is refused for one part of it.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
    /// Structured extras (field errors, row errors …).
    pub details: Value,
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with no details, answered with the code's status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: code.status(),
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// Replaces the code (a more specific reason), and the status with the code's.
    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = code;
        self.status = code.status();
        self
    }

    /// Answers with `status` instead of the code's: a request refused as a whole for one of
    /// its parts (a bad op in `/sync` is a 400 naming the op's reason; a multipart stream
    /// fails with the status axum gives it).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// 400 for a body or query that cannot be used.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidBody, message)
    }

    /// 422 for a well-formed request that breaks a rule.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// 500: logged with the request id, which the answer carries instead of the fault.
    pub fn internal(fault: impl std::fmt::Display) -> Self {
        tracing::error!(
            request_id = %super::request_id::current().unwrap_or_default(),
            "internal error: {fault}"
        );
        Self::new(
            ErrorCode::Internal,
            "the server failed to complete the request; quote the request id when reporting it",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error =
            json!({"code": self.code.as_str(), "message": self.message, "details": self.details});
        if self.status.is_server_error() {
            if let Some(id) = super::request_id::current() {
                error["request_id"] = json!(id);
            }
        }
        (self.status, axum::Json(json!({ "error": error }))).into_response()
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> Self {
        ApiError::internal(format!("stored data could not be read: {err}"))
    }
}

/// A JSON body whose rejections use [`ApiError`].
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// The raw body bytes (for handlers that parse it themselves), with a too-large body refused
/// in the API's error shape rather than axum's plain text.
pub struct RawBody(pub axum::body::Bytes);

impl<S> FromRequest<S> for RawBody
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|_| too_large())
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        "the request body is too large or could not be read",
    )
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(_) => too_large(),
        other => ApiError::invalid(other.body_text()),
    }
}

/// The answer for paths that match no route.
pub async fn no_route() -> ApiError {
    ApiError::new(ErrorCode::NoRoute, "no such API endpoint")
}

/// The answer for a route asked with a method it does not take.
pub async fn wrong_method(method: axum::http::Method) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("this endpoint does not take {method}"),
    )
}

/// A path parameter extractor whose rejections use [`ApiError`] (`/tasks/abc` → 400 JSON).
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|r| ApiError::new(ErrorCode::InvalidPath, r.body_text()))
    }
}

/// A query string extractor whose rejections use [`ApiError`].
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|r| ApiError::new(ErrorCode::InvalidQuery, r.body_text()))
    }
}

/// The refusals every endpoint for a project's managers can give, for the OpenAPI document:
/// not signed in, not a manager of the project the thing named (dataset, item, job, archive,
/// task) belongs to, no such thing. (`tasks::ManagerRefusals` says the same of a task, with 400.)
/// Only described, never built: handlers answer these through [`ApiError`].
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
pub enum ProjectRefusals {
    /// Not signed in.
    #[response(status = 401)]
    Unauthorized(super::error_code::ErrorBody),
    /// Not a manager of the project the thing named belongs to.
    #[response(status = 403)]
    Forbidden(super::error_code::ErrorBody),
    /// No such thing (or one the caller may not know of).
    #[response(status = 404)]
    NotFound(super::error_code::ErrorBody),
}
