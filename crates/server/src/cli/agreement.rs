//! `quorum agreement`: inter-annotator agreement of an `item,worker,label` CSV file; the value is
//! printed as the last line.

use super::aggregate::read_answers;
use anyhow::bail;
use clap::{Args, ValueEnum};
use quorum_core::consensus::agreement::{fleiss_kappa, krippendorff_alpha, most_shared_pair};
use std::path::PathBuf;

/// Arguments of `quorum agreement`.
#[derive(Args, Debug)]
pub struct AgreementArgs {
    /// Answers: a CSV file with a header naming item, worker and label.
    #[arg(long, value_name = "FILE.csv")]
    answers: PathBuf,
    /// The metric.
    #[arg(long, value_enum)]
    metric: Metric,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Metric {
    /// Fleiss' κ (every item must have the same number of answers).
    Fleiss,
    /// Krippendorff's α, nominal (as crowd-kit / nltk).
    Krippendorff,
    /// Cohen's κ of the two workers who share the most items.
    Cohen,
}

/// Runs the subcommand.
pub fn run(args: AgreementArgs) -> anyhow::Result<()> {
    let answers = read_answers(&args.answers)?;
    let file = args.answers.display();
    let value = match args.metric {
        Metric::Fleiss => fleiss_kappa(&answers).map_err(|e| anyhow::anyhow!("{file}: {e}"))?,
        Metric::Krippendorff => match krippendorff_alpha(&answers) {
            Some(alpha) => alpha,
            None => bail!("{file}: Krippendorff's alpha is undefined (no item has two answers)"),
        },
        Metric::Cohen => {
            let Some(pair) = most_shared_pair(&answers) else {
                bail!("{file}: Cohen's kappa needs two workers who answered the same item");
            };
            println!(
                "pair: {} {} ({} shared items)",
                answers.worker_name(pair.a),
                answers.worker_name(pair.b),
                pair.shared
            );
            pair.kappa
        }
    };
    println!("{value}");
    Ok(())
}
