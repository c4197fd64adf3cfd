//! The storage layer: every statement about one aggregate lives in that aggregate's module, with
//! typed rows in and out, on the one query API (`sql`) that runs on both backends. Handlers call
//! these functions and hold no SQL. (Handlers not yet moved still carry their own statements:
//! items, labeling, aggregation, predictions, exports.)

/// The query API's transaction and connections, named here so handlers that hand a
/// transaction on to the store need not name the query API itself.
pub use crate::sql::{Reader, Runner, Tx};

/// A JSON text column (NULL: `null`); text that is not JSON is a decode error naming the
/// column, never a silent `null`.
pub(crate) fn json_column(r: &crate::sql::Row, col: &str) -> sqlx::Result<serde_json::Value> {
    match r.try_get::<Option<String>>(col)? {
        None => Ok(serde_json::Value::Null),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| sqlx::Error::Decode(format!("{col}: {e}").into())),
    }
}

pub mod activity;
pub mod frames;
pub mod items;
pub mod jobs;
pub mod labels;
pub mod leases;
pub mod media;
pub mod progress;
pub mod projects;
pub mod reviews;
pub mod seat_state;
pub mod seats;
pub mod task_rows;
pub mod tasks;
pub mod users;
pub mod workflow;
