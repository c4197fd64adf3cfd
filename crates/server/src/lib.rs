//! Quorum's server: storage, HTTP API and command-line interface around `quorum-core`.

pub mod api;
pub mod cli;
pub mod clock;
pub mod db;
pub mod demo;
pub mod engine_error;
pub mod export;
pub mod invariants;
pub mod lite_writer;
pub mod loadgen;
pub mod media;
pub mod pg;
pub mod pg_array;
pub mod sql;
pub mod store;
pub mod upload;
