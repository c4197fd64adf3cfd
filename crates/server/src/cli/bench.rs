//! `quorum bench`: the benchmarks that print the figures the issues name.

use clap::{Args, Subcommand};

/// Arguments of `quorum bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Seconds per aggregation method on the shared datasets and a synthetic 1M-answer set.
    Aggregate(super::bench_aggregate::BenchAggregateArgs),
    /// Simulated annotators against a real server: throughput, latency and invariant checks.
    Load(super::bench_load::BenchLoadArgs),
    /// Uploading a big dataset and creating tasks over it, on an empty and a loaded database.
    Create(super::bench_create::BenchCreateArgs),
}

/// Runs the chosen benchmark.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Aggregate(args) => super::bench_aggregate::run(args),
        BenchCommand::Load(args) => super::bench_load::run(args),
        BenchCommand::Create(args) => super::bench_create::run(args),
    }
}
