//! Storage errors as API answers: what a failed statement means for the caller. The
//! classification lives with the store, which knows the engines' error kinds and codes; the
//! handlers only see [`ApiError`].

use crate::api::error::{ApiError, ErrorCode};
use serde_json::json;

/// What every store function returns: its value, or the engine's error (classified into an
/// answer by the `From` below when a handler returns it).
pub type StoreResult<T> = Result<T, StoreError>;

/// A failed statement, on either engine (rusqlite's errors arrive converted, with their kind).
pub type StoreError = sqlx::Error;

impl From<sqlx::Error> for ApiError {
    /// A database error by what the caller can do about it: a duplicate is a conflict, a
    /// broken reference or rule a 422, a lost or busy database a 503 (the transaction rolled
    /// back, so a retry is safe), anything else a fault of ours.
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        if is_transient(&err) {
            tracing::warn!("database unavailable: {err}");
            return ApiError::new(
                ErrorCode::StorageUnavailable,
                "the database could not complete the request; nothing was changed, retry later",
            );
        }
        match &err {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => ApiError::new(
                    ErrorCode::AlreadyExists,
                    "another request made the same thing first; nothing was changed",
                )
                .with_details(json!({"constraint": db.constraint()})),
                ErrorKind::ForeignKeyViolation
                | ErrorKind::CheckViolation
                | ErrorKind::NotNullViolation => ApiError::new(
                    ErrorCode::ConstraintViolated,
                    "the write refers to something that does not exist or breaks a stored rule; \
                     nothing was changed",
                )
                .with_details(json!({"constraint": db.constraint()})),
                _ => ApiError::internal(format!("database: {err}")),
            },
            _ => ApiError::internal(format!("database: {err}")),
        }
    }
}

/// Whether `err` leaves nothing changed and a retry may succeed: a lost or busy database, a
/// deadlock, a lock wait given up (the transaction was rolled back).
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| transient(&c)),
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// Whether a database error code says "try again": SQLite busy/locked/full/I/O (primary code
/// in the low byte of the extended one), PostgreSQL connection loss, serialization failure,
/// deadlock, lock timeout, lack of resources or shutdown.
fn transient(code: &str) -> bool {
    // SQLSTATEs have five characters; SQLite's extended codes at most four digits.
    if code.len() < 5 {
        return code
            .parse::<i32>()
            .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13));
    }
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "40001" | "40P01" | "55P03")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use rusqlite::ffi;
    use serde_json::Value;

    fn sqlite(extended_code: i32) -> sqlx::Error {
        crate::engine_error::sqlite(rusqlite::Error::SqliteFailure(
            ffi::Error::new(extended_code),
            None,
        ))
    }

    #[test]
    fn database_errors_are_classified_by_what_the_caller_can_do() {
        for (err, code) in [
            (
                sqlite(ffi::SQLITE_CONSTRAINT_UNIQUE),
                ErrorCode::AlreadyExists,
            ),
            (
                sqlite(ffi::SQLITE_CONSTRAINT_PRIMARYKEY),
                ErrorCode::AlreadyExists,
            ),
            (
                sqlite(ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                ErrorCode::ConstraintViolated,
            ),
            (
                sqlite(ffi::SQLITE_CONSTRAINT_CHECK),
                ErrorCode::ConstraintViolated,
            ),
            (sqlite(ffi::SQLITE_BUSY), ErrorCode::StorageUnavailable),
            (
                sqlite(ffi::SQLITE_IOERR_WRITE),
                ErrorCode::StorageUnavailable,
            ),
            (sqlx::Error::PoolTimedOut, ErrorCode::StorageUnavailable),
            (sqlx::Error::RowNotFound, ErrorCode::Internal),
            (sqlite(ffi::SQLITE_MISUSE), ErrorCode::Internal),
        ] {
            let what = format!("{err:?}");
            let api = ApiError::from(err);
            assert_eq!((api.code, api.status), (code, code.status()), "{what}");
        }
        assert!(transient("40001") && transient("08006") && transient("57P01"));
        // A deadlock and a lock wait given up: an archive is tried again after either.
        assert!(transient("40P01") && transient("55P03"));
        assert!(!transient("23505") && !transient("42P01"));
        assert!(
            is_transient(&sqlite(ffi::SQLITE_BUSY)) && is_transient(&sqlx::Error::PoolTimedOut)
        );
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlite(ffi::SQLITE_CONSTRAINT_UNIQUE)));
    }

    #[tokio::test]
    async fn a_500_carries_the_request_id_of_its_log_line() {
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route(
                "/fail",
                axum::routing::get(|| async { ApiError::from(sqlx::Error::RowNotFound) }),
            )
            .layer(axum::middleware::from_fn(crate::api::request_id::assign));
        let req = axum::http::Request::get("/fail")
            .header("x-request-id", "abc-123")
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()["x-request-id"], "abc-123");
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal", "{v}");
        assert_eq!(v["error"]["request_id"], "abc-123", "{v}");
    }
}
