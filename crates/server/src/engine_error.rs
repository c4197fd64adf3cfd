//! A failure reported by the database engine, as the sqlx error the rest of the server handles:
//! rusqlite's (SQLite's claims and point reads) and tokio-postgres's (PostgreSQL's) arrive with
//! their code and kind, so a constraint violation on either path is classified like one from
//! sqlx's own drivers (409/422 rather than an opaque protocol error; see `store::error`).

use rusqlite::ffi;
use sqlx::error::{DatabaseError, ErrorKind};
use std::borrow::Cow;

/// An engine's code for a failure.
#[derive(Debug)]
enum Code {
    /// SQLite's extended result code.
    Sqlite(i32),
    /// PostgreSQL's SQLSTATE.
    Postgres(String),
}

/// A failure the engine reported: its code, message and, where named, constraint.
#[derive(Debug)]
pub struct EngineError {
    code: Code,
    message: String,
    constraint: Option<String>,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Code::Sqlite(code) => write!(f, "sqlite ({code}): {}", self.message),
            Code::Postgres(code) => write!(f, "postgres ({code}): {}", self.message),
        }
    }
}

impl std::error::Error for EngineError {}

impl DatabaseError for EngineError {
    fn message(&self) -> &str {
        &self.message
    }

    /// The code as sqlx's driver for the same engine reports it.
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(match &self.code {
            Code::Sqlite(code) => Cow::Owned(code.to_string()),
            Code::Postgres(code) => Cow::Borrowed(code),
        })
    }

    fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match &self.code {
            Code::Sqlite(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                ErrorKind::UniqueViolation
            }
            Code::Sqlite(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Code::Sqlite(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            // Migration 17's triggers stand in for CHECKs on the tables SQLite cannot rebuild.
            Code::Sqlite(ffi::SQLITE_CONSTRAINT_CHECK | ffi::SQLITE_CONSTRAINT_TRIGGER) => {
                ErrorKind::CheckViolation
            }
            Code::Postgres(code) => match code.as_str() {
                "23505" => ErrorKind::UniqueViolation,
                "23503" => ErrorKind::ForeignKeyViolation,
                "23502" => ErrorKind::NotNullViolation,
                "23514" => ErrorKind::CheckViolation,
                _ => ErrorKind::Other,
            },
            Code::Sqlite(_) => ErrorKind::Other,
        }
    }
}

/// SQLite's failures become database errors; the rest (a value of the wrong type, a bad
/// parameter count) are decoding faults of ours.
pub fn sqlite(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(err, message) => {
            sqlx::Error::Database(Box::new(EngineError {
                code: Code::Sqlite(err.extended_code),
                message: message.unwrap_or_else(|| err.to_string()),
                constraint: None,
            }))
        }
        other => sqlx::Error::Decode(format!("sqlite: {other}").into()),
    }
}

/// PostgreSQL's own failures become database errors; a lost connection is I/O (a retryable
/// 503).
pub fn postgres(e: tokio_postgres::Error) -> sqlx::Error {
    match e.as_db_error() {
        Some(db) => sqlx::Error::Database(Box::new(EngineError {
            code: Code::Postgres(db.code().code().to_owned()),
            message: db.message().to_owned(),
            constraint: db.constraint().map(str::to_owned),
        })),
        None if e.is_closed() => sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            e.to_string(),
        )),
        None => sqlx::Error::Io(std::io::Error::other(e.to_string())),
    }
}
