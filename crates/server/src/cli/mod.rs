//! Command-line parsing and dispatch: one module per subcommand.

mod aggregate;
mod agreement;
mod bench;
mod bench_aggregate;
mod bench_create;
mod bench_load;
mod client;
mod export;
mod import;
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
    Bench(bench::BenchArgs),
}

/// Parses the process arguments and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::User(args) => user::run(args),
        Command::Import(args) => import::run(args),
        Command::Export(args) => export::run(args),
        Command::Jobs(args) => jobs::run(args),
        Command::Aggregate(args) => aggregate::run(args),
        Command::Agreement(args) => agreement::run(args),
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
