//! Quorum's pure core: who labels what, when work is accepted, and how labels become results.
//!
//! Architecture invariant: nothing in this crate does I/O, spawns threads, reads the clock or draws
//! randomness. Time arrives as [`time::Millis`] arguments and randomness as task seeds, so every
//! decision is reproducible and the same code runs in the server and in the browser (wasm32).
#![warn(missing_docs)]

pub mod auto_annotation;
pub mod consensus;
pub mod ids;
pub mod label;
pub mod lease;
pub mod lifecycle;
pub mod media;
pub mod plan;
pub mod pull;
pub mod qualification;
pub mod review;
pub mod seed;
pub mod strategy;
pub mod sync;
pub mod task;
pub mod time;
pub mod video;
pub mod workflow;
