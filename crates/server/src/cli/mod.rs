//! Command-line parsing and dispatch: one module per subcommand.

mod aggregate;
mod agreement;
#[cfg(feature = "bench")]
mod bench;
#[cfg(feature = "bench")]
mod bench_aggregate;
#[cfg(feature = "bench")]
mod bench_create;
#[cfg(feature = "bench")]
mod bench_load;
mod client;
mod export;
mod import;
mod import_files;
mod jobs;
mod serve;
mod user;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Quorum: run labeling work, fast, online or offline.
#[derive(Parser, Debug)]
#[command(name = "quorum", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the HTTP server (API and web app).
    Serve(serve::ServeArgs),
    /// Users and tokens, directly on the database (works before any token exists).
    User(user::UserArgs),
    /// Upload items to a dataset (JSON, NDJSON, CSV, Label Studio JSON).
    Import(import::ImportArgs),
    /// Export a task's items and labels (JSON, CSV, COCO, Label Studio JSON) to a file.
    Export(export::ExportArgs),
    /// List, inspect, cancel and wait for long operations on the server.
    Jobs(jobs::JobsArgs),
    /// Aggregate crowd answers from a CSV file into one label per item.
    Aggregate(aggregate::AggregateArgs),
    /// Measure inter-annotator agreement over a CSV file of answers.
    Agreement(agreement::AgreementArgs),
    /// Benchmarks: aggregation speed and server load.
    #[cfg(feature = "bench")]
    Bench(bench::BenchArgs),
}

/// Parses the process arguments and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        stop_quietly_on_closed_stdout();
    }
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::User(args) => user::run(args),
        Command::Import(args) => import::run(args),
        Command::Export(args) => export::run(args),
        Command::Jobs(args) => jobs::run(args),
        Command::Aggregate(args) => aggregate::run(args),
        Command::Agreement(args) => agreement::run(args),
        #[cfg(feature = "bench")]
        Command::Bench(args) => bench::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `quorum jobs list | head`: once the reader goes away, the command ends quietly, as Unix tools
/// do, instead of panicking in `println!` ("failed printing to stdout: Broken pipe"). Rust
/// ignores SIGPIPE, so every write to a closed pipe fails; restoring the default action ends the
/// process at the first such write. Not for `serve`, which must outlive any one connection.
fn stop_quietly_on_closed_stdout() {
    #[cfg(unix)]
    // SAFETY: called first thing on the main thread, before any other thread or signal handler
    // exists; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
