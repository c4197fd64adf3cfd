//! What tests and `quorum bench` need around a real server, kept out of the server's library:
//! throw-away databases and `quorum serve` child processes. The server depends on this crate
//! only through its `bench` feature (the benchmark commands); its tests through
//! dev-dependencies.

mod scratch_db;
mod server_process;

pub use scratch_db::ScratchDatabase;
pub use server_process::ServerProcess;
