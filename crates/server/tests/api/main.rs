//! HTTP integration tests: every endpoint family, every role boundary, bad input, concurrency,
//! idempotent sync, lease expiry and late submissions — on SQLite and on PostgreSQL.

mod archives;
mod concurrency;
mod consensus;
mod constraints;
mod corrections;
mod defects;
mod defects_b;
mod errors;
mod events;
mod followups;
mod honeypots;
mod hostile;
mod jobs;
mod labeling;
mod media;
mod predictions;
mod quality;
mod roles;
mod round_trips;
mod scale;
mod support;
mod tasks;
mod uploads;
mod workflow;
