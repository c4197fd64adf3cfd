//! The storage layer: every statement about one aggregate lives in that aggregate's module, with
//! typed rows in and out, on the one query API (`sql`) that runs on both backends. Handlers call
//! these functions and hold no SQL. (Handlers not yet moved still carry their own statements:
//! the rest of tasks, items, review, workflow, aggregation, predictions, exports.)

pub mod activity;
pub mod claims;
pub mod frames;
pub mod items;
pub mod jobs;
pub mod labels;
pub mod leases;
pub mod media;
pub mod ops;
pub mod progress;
pub mod projects;
pub mod seats;
pub mod tasks;
pub mod users;

/// The transaction the claim path's functions run in (leases, labels, reviews).
pub use crate::sql::Tx;
