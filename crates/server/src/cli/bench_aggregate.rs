//! `quorum bench aggregate`: seconds per aggregation method, single thread, on the shared
//! datasets (next to crowd-kit 1.4.2's times from `REFERENCE_RESULTS.md`) and on a seeded
//! synthetic crowd with known truth (1M answers by default).

use super::aggregate::{read_answers, read_gold};
use clap::Args;
use quorum_core::consensus::synthetic::{generate, SyntheticSpec};
use quorum_core::consensus::{aggregate, Answers, Gold, Method};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `quorum bench aggregate`.
#[derive(Args, Debug)]
pub struct BenchAggregateArgs {
    /// Directory of the shared datasets (`<name>/answers.csv`, `<name>/truth.csv`). Default:
    /// `$QUORUM_DATASETS`, else `../shared/datasets`.
    #[arg(long, value_name = "DIR")]
    datasets: Option<PathBuf>,
    /// Synthetic items.
    #[arg(long, default_value_t = 200_000)]
    items: usize,
    /// Synthetic answers per item.
    #[arg(long, default_value_t = 5)]
    answers_per_item: usize,
    /// Synthetic workers.
    #[arg(long, default_value_t = 5_000)]
    workers: usize,
    /// Synthetic classes.
    #[arg(long, default_value_t = 4)]
    classes: usize,
    /// Seed of the synthetic crowd.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs per measurement; the median is printed.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// crowd-kit 1.4.2 seconds (`REFERENCE_RESULTS.md` A): majority, wawa, dawid-skene, one-coin.
const CROWD_KIT_SECONDS: [(&str, [f64; 4]); 5] = [
    ("d_product", [0.045, 0.123, 6.136, 2.283]),
    ("d_possent", [0.031, 0.079, 0.228, 0.311]),
    ("d_duck", [0.013, 0.039, 0.069, 0.725]),
    ("s_dog", [0.014, 0.045, 0.432, 1.270]),
    ("s_face", [0.009, 0.024, 0.907, 0.451]),
];

/// crowd-kit's time for `method` on `dataset`. The Dawid-Skene variants (smoothed, calibrated,
/// IBCC) are timed against crowd-kit's `DawidSkene`, the nearest method it has; BWA and EBCC have
/// no crowd-kit counterpart.
fn crowd_kit_seconds(dataset: &str, method: Method) -> Option<f64> {
    let column = match method {
        Method::Majority => 0,
        Method::Wawa => 1,
        Method::DawidSkene | Method::SmoothedDs | Method::CalibratedDs | Method::Ibcc => 2,
        Method::OneCoin => 3,
        _ => return None,
    };
    CROWD_KIT_SECONDS
        .iter()
        .find(|(name, _)| *name == dataset)
        .map(|(_, s)| s[column])
}

/// Times every method on one table and prints a row per method.
fn bench_table(name: &str, answers: &Answers, truth: &Gold, gold: Option<&Gold>, repeat: usize) {
    println!(
        "{name}: {} answers, {} items, {} workers, {} labels",
        answers.n_rows(),
        answers.n_items(),
        answers.n_workers(),
        answers.n_labels()
    );
    println!(
        "  {:13} {:>10} {:>9} {:>6} {:>12} {:>9}",
        "method", "seconds", "accuracy", "iters", "crowd-kit s", "speed-up"
    );
    for method in Method::ALL {
        // Gold only where the method needs it: the EM methods would otherwise be clamped and
        // no longer comparable with crowd-kit's unsupervised runs.
        let gold = if method.needs_gold() { gold } else { None };
        if method.needs_gold() && gold.is_none() {
            println!("  {:13} {:>10}", method.name(), "(no gold)");
            continue;
        }
        let mut times = Vec::with_capacity(repeat);
        let mut result = None;
        for _ in 0..repeat.max(1) {
            let start = Instant::now();
            let agg = aggregate(answers, method, gold).expect("gold was checked");
            times.push(start.elapsed().as_secs_f64());
            result = Some(agg);
        }
        times.sort_by(f64::total_cmp);
        let seconds = times[times.len() / 2];
        let agg = result.expect("at least one run");
        let accuracy = agg
            .accuracy(truth)
            .map(|a| format!("{:.4}", a.0))
            .unwrap_or_else(|| "n/a".into());
        let (reference, ratio) = match crowd_kit_seconds(name, method) {
            Some(s) => (format!("{s:.3}"), format!("{:.0}x", s / seconds)),
            None => (String::new(), String::new()),
        };
        println!(
            "  {:13} {:>10.6} {:>9} {:>6} {:>12} {:>9}",
            method.name(),
            seconds,
            accuracy,
            agg.iterations,
            reference,
            ratio
        );
    }
}

/// Runs the benchmark.
pub fn run(args: BenchAggregateArgs) -> anyhow::Result<()> {
    let dir = args
        .datasets
        .clone()
        .or_else(|| std::env::var_os("QUORUM_DATASETS").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("../shared/datasets"));
    if dir.is_dir() {
        for (name, _) in CROWD_KIT_SECONDS {
            let answers_path = dir.join(name).join("answers.csv");
            if !answers_path.is_file() {
                println!("{name}: not found under {}, skipped", dir.display());
                continue;
            }
            let answers = read_answers(&answers_path)?;
            let truth = read_gold(&dir.join(name).join("truth.csv"), &answers)?;
            bench_table(name, &answers, &truth, None, args.repeat);
        }
    } else {
        println!(
            "datasets: {} not found, skipped (use --datasets DIR)",
            dir.display()
        );
    }

    let spec = SyntheticSpec {
        items: args.items,
        answers_per_item: args.answers_per_item,
        workers: args.workers,
        classes: args.classes,
        seed: args.seed,
    };
    let start = Instant::now();
    let crowd = generate(spec);
    let answers = crowd.answers();
    let truth = crowd.truth(&answers);
    let gold = crowd.gold(&answers);
    println!(
        "synthetic (seed {}, generated in {:.2} s; 60% good, 25% sloppy, 10% spammers, 5% \
         adversarial; Zipf workload; {} gold items)",
        args.seed,
        start.elapsed().as_secs_f64(),
        gold.len()
    );
    bench_table("synthetic", &answers, &truth, Some(&gold), args.repeat);
    Ok(())
}
