//! A rusqlite failure as the sqlx error the rest of the server handles, so a constraint
//! violation on the claim path is classified like one from sqlx's own drivers (409/422 rather
//! than an opaque protocol error).

use rusqlite::ffi;
use sqlx::error::{DatabaseError, ErrorKind};
use std::borrow::Cow;

/// A failure SQLite reported, with its extended result code.
#[derive(Debug)]
pub struct LiteError {
    extended_code: i32,
    message: String,
}

impl std::fmt::Display for LiteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sqlite ({}): {}", self.extended_code, self.message)
    }
}

impl std::error::Error for LiteError {}

impl DatabaseError for LiteError {
    fn message(&self) -> &str {
        &self.message
    }

    /// The extended result code, as sqlx's SQLite driver reports it.
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(self.extended_code.to_string().into())
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
        match self.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                ErrorKind::UniqueViolation
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            // Migration 17's triggers stand in for CHECKs on the tables SQLite cannot rebuild.
            ffi::SQLITE_CONSTRAINT_CHECK | ffi::SQLITE_CONSTRAINT_TRIGGER => {
                ErrorKind::CheckViolation
            }
            _ => ErrorKind::Other,
        }
    }
}

/// SQLite's failures become database errors; the rest (a value of the wrong type, a bad
/// parameter count) are decoding faults of ours.
pub fn to_sqlx(e: rusqlite::Error) -> sqlx::Error {
    match e {
        rusqlite::Error::SqliteFailure(err, message) => {
            sqlx::Error::Database(Box::new(LiteError {
                extended_code: err.extended_code,
                message: message.unwrap_or_else(|| err.to_string()),
            }))
        }
        other => sqlx::Error::Decode(format!("sqlite: {other}").into()),
    }
}
