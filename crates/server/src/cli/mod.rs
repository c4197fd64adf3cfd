//! Command-line parsing and dispatch: one module per subcommand.

mod aggregate;
mod agreement;
mod bench;
mod bench_aggregate;
mod bench_load;
mod serve;

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
