//! The storage layer: every statement about one aggregate lives in that aggregate's module, with
//! typed rows in and out, on the one query API (`sql`) that runs on both backends. Handlers call
//! these functions and hold no SQL.

/// The query API's transaction and connections, named here so handlers that hand a
/// transaction on to the store need not name the query API itself.
pub use crate::sql::{Reader, Runner, Tx};

pub mod activity;
pub mod aggregation;
pub mod archive;
pub mod bench;
pub mod decode;
pub mod error;
pub mod exports;

pub mod claims;
pub mod frames;
pub mod invariants;
pub mod items;
pub mod jobs;
pub mod labels;
pub mod leases;
pub mod media;
pub mod ops;
pub mod predictions;
pub mod progress;
pub mod projects;
pub mod reviews;
pub mod seat_state;
pub mod seats;
pub mod task_rows;
pub mod tasks;
pub mod uploads;
pub mod users;
pub mod workflow;
