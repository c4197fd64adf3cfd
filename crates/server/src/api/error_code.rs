//! Every error code the server answers with: its string (the JSON `code` clients match on, so
//! never renamed), its HTTP status and what it means, in one table.

use axum::http::StatusCode;

macro_rules! codes {
    ($($variant:ident = $code:literal, $status:ident, $meaning:literal;)*) => {
        /// A stable, machine-readable reason for a refusal.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $meaning] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The string clients see in `{"error":{"code"}}` and in a sync op's outcome.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status a refusal with this code answers with.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }

            /// What the code means, for people.
            pub fn meaning(self) -> &'static str {
                match self { $(ErrorCode::$variant => $meaning,)* }
            }
        }
    };
}

codes! {
    // The request's shape.
    InvalidBody = "invalid_body", BAD_REQUEST, "The body is not JSON of the expected shape.";
    InvalidPath = "invalid_path", BAD_REQUEST, "A path parameter is not of its type (e.g. a non-numeric id).";
    InvalidQuery = "invalid_query", BAD_REQUEST, "The query string cannot be used (unknown field, bad value or cursor).";
    InvalidOpId = "invalid_op_id", BAD_REQUEST, "A sync op's client_op_id is empty, too long or not printable.";
    TooManyOps = "too_many_ops", BAD_REQUEST, "A sync request carries more ops than one request may.";
    UnknownFormat = "unknown_format", BAD_REQUEST, "The upload names a format the server does not read.";
    InvalidUtf8 = "invalid_utf8", BAD_REQUEST, "An upload is not UTF-8 text.";
    EmptyUpload = "empty_upload", BAD_REQUEST, "An upload holds no rows.";
    MalformedUpload = "malformed_upload", BAD_REQUEST, "An upload is not the shape its format needs.";
    InvalidMultipart = "invalid_multipart", BAD_REQUEST, "A media upload is not readable multipart/form-data.";
    // Who is asking.
    Unauthorized = "unauthorized", UNAUTHORIZED, "No valid token: sign in.";
    Forbidden = "forbidden", FORBIDDEN, "The caller's roles do not allow this.";
    NotQualified = "not_qualified", FORBIDDEN, "The worker has not passed the task's qualification on gold items.";
    // What is asked for.
    NotFound = "not_found", NOT_FOUND, "The thing named does not exist, or the caller may not know it does.";
    NoRoute = "no_route", NOT_FOUND, "No API endpoint has this path.";
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, "The endpoint exists but not with this HTTP method.";
    // The state of things.
    Conflict = "conflict", CONFLICT, "The request clashes with the current state (e.g. a name in use).";
    AlreadyExists = "already_exists", CONFLICT, "A write would duplicate something unique that another request made first.";
    JobFinished = "job_finished", CONFLICT, "The job already ended, so it cannot be canceled.";
    NoResult = "no_result", CONFLICT, "The job has no result (yet, or it failed).";
    TaskArchived = "task_archived", CONFLICT, "The task is archived and no longer changes.";
    ArchiveWriting = "archive_writing", CONFLICT, "The archive's file is still being written (moments after archiving a big task); retry.";
    TaskClosed = "task_closed", CONFLICT, "The task is archived: no more work is handed out or accepted.";
    LabelsExist = "labels_exist", CONFLICT, "A task field cannot change because labels were made against it.";
    WrongStep = "wrong_step", CONFLICT, "The item waits in another workflow step.";
    AlreadyDecided = "already_decided", CONFLICT, "The item was already decided (or finished its workflow).";
    LeaseExpired = "lease_expired", CONFLICT, "The lease has ended.";
    LastManager = "last_manager", CONFLICT, "The change would leave the project without a manager.";
    NothingToReview = "nothing_to_review", CONFLICT, "The item has no labels to review.";
    NoConsensus = "no_consensus", CONFLICT, "The answers tie: the reviewer must pick one or correct it.";
    // Sync op outcomes (`{"status":"rejected","code"}`); over REST these would be conflicts.
    AlreadySubmitted = "already_submitted", CONFLICT, "The worker already labeled this item.";
    NotSubmitted = "not_submitted", CONFLICT, "There is no answer of the worker's on the item to revise.";
    AlreadyReviewed = "already_reviewed", CONFLICT, "A reviewer already decided, so the answer cannot be revised.";
    NotLeased = "not_leased", CONFLICT, "The item is not leased to the worker.";
    WrongLease = "wrong_lease", CONFLICT, "The item is held under another lease.";
    Skipped = "skipped", CONFLICT, "The worker skipped this item.";
    NotInTask = "not_in_task", CONFLICT, "The item was removed from the task.";
    // Size and type.
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE, "The body is too large or could not be read.";
    TooManyRows = "too_many_rows", PAYLOAD_TOO_LARGE, "An upload has more rows than one request may carry.";
    UnsupportedMediaType = "unsupported_media_type", UNSUPPORTED_MEDIA_TYPE, "The body's content type is not one this endpoint reads.";
    RangeNotSatisfiable = "range_not_satisfiable", RANGE_NOT_SATISFIABLE, "A Range header asks for bytes past the file's end.";
    // Rules.
    ValidationFailed = "validation_failed", UNPROCESSABLE_ENTITY, "A well-formed request breaks a rule (details name the fields).";
    ConstraintViolated = "constraint_violation", UNPROCESSABLE_ENTITY, "The write refers to something missing or breaks a stored rule.";
    AggregationUnsupported = "aggregation_unsupported", UNPROCESSABLE_ENTITY, "The task's annotation type does not aggregate by label.";
    InvalidLabel = "invalid_label", UNPROCESSABLE_ENTITY, "An answer does not fit the task's label schema.";
    CommentRequired = "comment_required", UNPROCESSABLE_ENTITY, "A rejection needs a comment for the annotator.";
    CorrectionNotRejection = "correction_not_rejection", UNPROCESSABLE_ENTITY, "A corrected answer is sent with decision approve.";
    TextTooLong = "text_too_long", UNPROCESSABLE_ENTITY, "A comment or reason is over the length limit.";
    InvalidText = "invalid_text", UNPROCESSABLE_ENTITY, "A comment or reason holds control characters.";
    // The server's side.
    Internal = "internal", INTERNAL_SERVER_ERROR, "A fault on the server; the body's request_id finds it in the log.";
    ArchiveFailed = "archive_failed", INTERNAL_SERVER_ERROR, "Writing a bulk archive failed.";
    StorageUnavailable = "storage_unavailable", SERVICE_UNAVAILABLE, "The database or media store is unreachable or busy; nothing changed, retry.";
}

impl ErrorCode {
    /// The code spelled `code`, if any.
    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|c| c.as_str() == code)
    }

    /// A code the core reports (`quorum_core::sync::OpError`). Every one is in the table (a
    /// test walks them); one added to the core but not here is logged and answered as internal
    /// rather than passed on unlisted.
    pub fn from_core(code: &str) -> ErrorCode {
        ErrorCode::parse(code).unwrap_or_else(|| {
            tracing::error!("the core's error code {code:?} is missing from ErrorCode");
            ErrorCode::Internal
        })
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorum_core::sync::{self, Decision};
    use std::collections::HashSet;

    #[test]
    fn every_code_has_a_distinct_string_and_an_error_status() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            assert!(
                seen.insert(code.as_str()),
                "{code:?} repeats {}",
                code.as_str()
            );
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{code:?}"
            );
            assert!(!code.meaning().is_empty());
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
    }

    #[test]
    fn every_code_the_core_reports_is_listed() {
        let long = "x".repeat(sync::MAX_TEXT_LEN + 1);
        let op = r#"{"client_op_id":"a","action":{"type":"release","lease_id":1}}"#;
        let too_many = format!(
            r#"{{"ops":[{}]}}"#,
            vec![op; sync::MAX_OPS_PER_REQUEST + 1].join(",")
        );
        let core = [
            sync::check_text("comment", &long).unwrap_err().code,
            sync::check_text("comment", "a\0b").unwrap_err().code,
            sync::check_review(Decision::Reject, None, false)
                .unwrap_err()
                .code,
            sync::check_review(Decision::Reject, Some("no"), true)
                .unwrap_err()
                .code,
            sync::decode_request(b"{").unwrap_err().code,
            sync::decode_request(
                br#"{"ops":[{"client_op_id":"","action":{"type":"release","lease_id":1}}]}"#,
            )
            .unwrap_err()
            .code,
            sync::decode_request(too_many.as_bytes()).unwrap_err().code,
        ];
        for code in core {
            assert!(ErrorCode::parse(code).is_some(), "{code} is not listed");
        }
    }
}

/// The body of every refusal, `{"error": {...}}`, as the OpenAPI document describes it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// One refusal: the stable `code` clients match on and a message for people.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// One of the codes in `ErrorCode` (e.g. `not_found`, `forbidden`).
    pub code: String,
    pub message: String,
    /// What was wrong in more detail, e.g. per-field or per-row errors.
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    /// Set on 5xx answers: the id to quote when reporting the fault (also in `x-request-id`).
    pub request_id: Option<String>,
}
