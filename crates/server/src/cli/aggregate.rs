//! `quorum aggregate`: one label per item from an `item,worker,label` CSV file, written as
//! `item,label,confidence`; with `--truth`, the last line on stdout is `accuracy: <0..1>`.

use anyhow::{bail, Context};
use clap::Args;
use quorum_core::consensus::{aggregate, Answers, Gold, Method, DEFAULT_METHOD};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `quorum aggregate`.
#[derive(Args, Debug)]
pub struct AggregateArgs {
    /// Answers: a CSV file with a header naming item, worker and label.
    #[arg(long, value_name = "FILE.csv")]
    answers: PathBuf,
    /// Aggregation method: majority, weighted, wawa, dawid-skene, one-coin, smoothed-ds,
    /// calibrated-ds, bwa, ibcc or ebcc (default: the server's method, calibrated-ds).
    #[arg(long, value_parser = parse_method)]
    method: Option<Method>,
    /// Gold answers (item,label): the weights of `weighted`; clamps gold items in EM methods.
    #[arg(long, value_name = "FILE.csv")]
    gold: Option<PathBuf>,
    /// Ground truth (item,label): print `accuracy: <0..1>` as the last line.
    #[arg(long, value_name = "FILE.csv")]
    truth: Option<PathBuf>,
    /// Write `item,label,confidence` here instead of stdout.
    #[arg(long, value_name = "FILE.csv")]
    out: Option<PathBuf>,
}

fn parse_method(s: &str) -> Result<Method, String> {
    s.parse()
}

pub(super) fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Reads and parses an answers file; errors name the file and line.
pub(super) fn read_answers(path: &Path) -> anyhow::Result<Answers> {
    let answers = Answers::parse_csv(&read_text(path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if answers.n_rows() == 0 {
        bail!(
            "{}: line 2: no answers after the header item,worker,label",
            path.display()
        );
    }
    Ok(answers)
}

/// Reads an `item,label` file and matches it to the answers.
pub(super) fn read_gold(path: &Path, answers: &Answers) -> anyhow::Result<Gold> {
    Gold::parse_csv(answers, &read_text(path)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Runs the subcommand.
pub fn run(args: AggregateArgs) -> anyhow::Result<()> {
    let answers = read_answers(&args.answers)?;
    let method = args.method.unwrap_or(DEFAULT_METHOD);
    let gold = args
        .gold
        .as_deref()
        .map(|p| read_gold(p, &answers))
        .transpose()?;
    if method.needs_gold() && gold.is_none() {
        bail!("--method {method} needs --gold FILE.csv (item,label of gold answers)");
    }
    let truth = args
        .truth
        .as_deref()
        .map(|p| read_gold(p, &answers))
        .transpose()?;
    let result = aggregate(&answers, method, gold.as_ref())?;

    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("{}: cannot create", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut csv = csv::Writer::from_writer(std::io::BufWriter::new(sink));
    csv.write_record(["item", "label", "confidence"])?;
    for (i, (&label, &confidence)) in result.labels.iter().zip(&result.confidence).enumerate() {
        csv.write_record([
            answers.item_name(i as u32),
            answers.label_name(label),
            &confidence.to_string(),
        ])?;
    }
    csv.flush()?;
    drop(csv);
    eprintln!(
        "{method}: {} items, {} answers, {} workers, {} labels{}",
        answers.n_items(),
        answers.n_rows(),
        answers.n_workers(),
        answers.n_labels(),
        if result.iterations > 0 {
            format!(", {} EM iterations", result.iterations)
        } else {
            String::new()
        }
    );
    if let (Some(truth), Some(path)) = (truth, &args.truth) {
        let Some((accuracy, correct, total)) = result.accuracy(&truth) else {
            bail!(
                "{}: no truth item has an answer, so accuracy is undefined",
                path.display()
            );
        };
        eprintln!("{correct} of {total} truth items correct");
        println!("accuracy: {accuracy}");
    }
    Ok(())
}
