//! The storage layer: every statement about one aggregate lives in that aggregate's module, with
//! typed rows in and out, on the one query API (`sql`) that runs on both backends. Handlers call
//! these functions and hold no SQL. (Handlers not yet moved still carry their own statements:
//! the rest of tasks, labeling, review, workflow.)

pub mod activity;
pub mod aggregation;
pub mod archive;
pub mod bench;
pub mod decode;
pub mod error;
pub mod exports;
pub mod frames;
pub mod invariants;
pub mod items;
pub mod jobs;
pub mod labels;
pub mod leases;
pub mod media;
pub mod predictions;
pub mod progress;
pub mod projects;
pub mod seats;
pub mod tasks;
pub mod uploads;
pub mod users;

/// The connection or transaction a store function runs on. Handlers hold one (from
/// `Db::reader`, `Db::write`, `Db::claim` …) across several store calls; they name it here.
pub use crate::sql::Runner;
