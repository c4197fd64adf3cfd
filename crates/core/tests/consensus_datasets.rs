//! The consensus engine on the five shared crowdsourcing datasets with ground truth: crowd-kit's
//! accuracies and iteration counts reproduced, agreement metrics matched, and the default method
//! chosen by leave-one-dataset-out together with synthetic crowds of several shapes, held to
//! crowd-kit's best, with calibrated confidence. The data is third-party (licence unknown) and never copied into the
//! repository: it is read from `$QUORUM_DATASETS`, else `<workspace>/../shared/datasets`.

use quorum_core::consensus::smoothed::smoothed_dawid_skene;
use quorum_core::consensus::synthetic::{generate_mix, shapes, CrowdMix, SyntheticSpec};
use quorum_core::consensus::{
    aggregate, Aggregation, Answers, EmOptions, Gold, Method, Smoothing, DEFAULT_METHOD,
};
use std::path::PathBuf;

/// crowd-kit 1.4.2's figures from `REFERENCE_RESULTS.md` section A.
struct Reference {
    name: &'static str,
    majority: f64,
    wawa: f64,
    dawid_skene: f64,
    one_coin: f64,
    /// The best accuracy of any crowd-kit method (GLAD and MACE included).
    best: f64,
    ds_iterations: usize,
    one_coin_iterations: usize,
    /// Section D: Krippendorff's α, Fleiss' κ (where every item has as many answers), and
    /// Cohen's κ of the pair sharing the most items.
    alpha: f64,
    fleiss: Option<f64>,
    cohen_pair: (&'static str, &'static str, usize),
    cohen: f64,
}

const REFERENCES: [Reference; 5] = [
    Reference {
        name: "d_product",
        majority: 89.66,
        wawa: 89.66,
        dawid_skene: 93.97,
        one_coin: 90.84,
        best: 93.97,
        ds_iterations: 80,
        one_coin_iterations: 18,
        alpha: 0.157473,
        fleiss: Some(0.157440),
        cohen_pair: ("A2AU1R4ZU1ZJ1A", "AWAFCJJRHVAJJ", 783),
        cohen: 0.002576,
    },
    Reference {
        name: "d_possent",
        majority: 93.20,
        wawa: 95.10,
        dawid_skene: 96.00,
        one_coin: 94.90,
        best: 96.00,
        ds_iterations: 5,
        one_coin_iterations: 4,
        alpha: 0.149302,
        fleiss: Some(0.149259),
        cohen_pair: ("AMKWR51EXOPA4", "AZ311BQ3SX1G0", 1000),
        cohen: 0.001063,
    },
    Reference {
        name: "d_duck",
        majority: 75.93,
        wawa: 75.93,
        dawid_skene: 88.89,
        one_coin: 58.33,
        best: 88.89,
        ds_iterations: 2,
        one_coin_iterations: 19,
        alpha: 0.125501,
        fleiss: Some(0.125293),
        cohen_pair: ("896", "97", 108),
        cohen: -0.030663,
    },
    Reference {
        name: "s_dog",
        majority: 81.78,
        wawa: 82.90,
        dawid_skene: 84.26,
        one_coin: 83.02,
        best: 84.26,
        ds_iterations: 14,
        one_coin_iterations: 14,
        alpha: 0.519418,
        fleiss: Some(0.519358),
        cohen_pair: ("16", "3", 145),
        cohen: 0.324602,
    },
    Reference {
        name: "s_face",
        majority: 63.01,
        wawa: 63.01,
        dawid_skene: 64.04,
        one_coin: 61.13,
        best: 64.04,
        ds_iterations: 40,
        one_coin_iterations: 11,
        alpha: 0.494920,
        fleiss: None,
        cohen_pair: ("A2V3P1XE33NYC3", "AKBP92VUQ7G3", 583),
        cohen: 0.439093,
    },
];

struct Dataset {
    answers: Answers,
    truth: Gold,
}

fn datasets_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("QUORUM_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "the shared datasets are missing at {} (set QUORUM_DATASETS)",
            dir.display()
        );
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: shared datasets not found at {} — set QUORUM_DATASETS to run the \
         consensus dataset tests !!!!!!!!\n",
        dir.display()
    );
    None
}

fn load(dir: &std::path::Path, name: &str) -> Dataset {
    let read = |file: &str| {
        let path = dir.join(name).join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let answers =
        Answers::parse_csv(&read("answers.csv")).unwrap_or_else(|e| panic!("{name}: {e}"));
    let truth =
        Gold::parse_csv(&answers, &read("truth.csv")).unwrap_or_else(|e| panic!("{name}: {e}"));
    Dataset { answers, truth }
}

/// Parsed once per test binary: the tests run in debug mode in CI and share the tables.
fn datasets() -> Option<&'static [Dataset]> {
    static DATA: std::sync::OnceLock<Option<Vec<Dataset>>> = std::sync::OnceLock::new();
    DATA.get_or_init(|| {
        let dir = datasets_dir()?;
        Some(REFERENCES.iter().map(|r| load(&dir, r.name)).collect())
    })
    .as_deref()
}

fn for_each_dataset(mut f: impl FnMut(&Reference, &Dataset)) {
    let Some(data) = datasets() else { return };
    for (r, d) in REFERENCES.iter().zip(data) {
        f(r, d);
    }
}

fn percent(agg: &Aggregation, truth: &Gold) -> f64 {
    agg.accuracy(truth).expect("truth items with answers").0 * 100.0
}

/// Equal as printed: crowd-kit's table has two decimals.
fn assert_printed(name: &str, what: &str, got: f64, expected: f64) {
    assert_eq!(
        format!("{got:.2}"),
        format!("{expected:.2}"),
        "{name} {what}: got {got:.4}, crowd-kit {expected:.2}"
    );
}

#[test]
fn crowd_kit_methods_reproduce_its_accuracy_and_iterations() {
    for_each_dataset(|r, d| {
        let run = |m| aggregate(&d.answers, m, None).unwrap();
        assert_printed(
            r.name,
            "majority",
            percent(&run(Method::Majority), &d.truth),
            r.majority,
        );
        assert_printed(
            r.name,
            "wawa",
            percent(&run(Method::Wawa), &d.truth),
            r.wawa,
        );
        let ds = run(Method::DawidSkene);
        assert_printed(r.name, "dawid-skene", percent(&ds, &d.truth), r.dawid_skene);
        assert_eq!(ds.iterations, r.ds_iterations, "{} DS iterations", r.name);
        let one = run(Method::OneCoin);
        assert_printed(r.name, "one-coin", percent(&one, &d.truth), r.one_coin);
        assert_eq!(
            one.iterations, r.one_coin_iterations,
            "{} one-coin iterations",
            r.name
        );
    });
}

#[test]
fn agreement_metrics_match_the_reference_to_six_decimals() {
    use quorum_core::consensus::agreement::{fleiss_kappa, krippendorff_alpha, most_shared_pair};
    let six = |x: f64| format!("{x:.6}");
    for_each_dataset(|r, d| {
        let alpha = krippendorff_alpha(&d.answers).expect("alpha");
        assert_eq!(six(alpha), six(r.alpha), "{} alpha {alpha}", r.name);
        match (fleiss_kappa(&d.answers), r.fleiss) {
            (Ok(k), Some(expected)) => assert_eq!(six(k), six(expected), "{} fleiss {k}", r.name),
            (Err(e), None) => assert!(e.to_string().contains("same number"), "{}: {e}", r.name),
            (got, expected) => panic!("{}: fleiss {got:?}, expected {expected:?}", r.name),
        }
        let pair = most_shared_pair(&d.answers).expect("a shared pair");
        let names = (
            d.answers.worker_name(pair.a),
            d.answers.worker_name(pair.b),
            pair.shared,
        );
        assert_eq!(names, r.cohen_pair, "{} Cohen pair", r.name);
        assert_eq!(
            six(pair.kappa),
            six(r.cohen),
            "{} cohen {}",
            r.name,
            pair.kappa
        );
    });
}

/// A candidate for the default: a name and how it aggregates.
type Candidate = (&'static str, fn(&Answers) -> Aggregation);

/// What leave-one-dataset-out chooses among: smoothed Dawid-Skene's prior from the old default
/// (0.5 on the diagonal, 0.1 per cell) to four and eight times stronger, the 2/0.5 prior scaled
/// down beyond 3, 5 or 8 answers per item, the same scaled beyond 5 and also by the number of
/// labels ((K − 1)/3: whole for 4 labels, a third for 2), early-stopped EM (3 and 10
/// iterations), crowd-kit's Dawid-Skene, IBCC and BWA. (EBCC is left out of the test for
/// time: it is below IBCC on four of the five datasets, see `docs/consensus.md`.)
const CANDIDATES: [Candidate; 13] = [
    ("smoothed 0.5/0.1", |a| {
        smoothed_dawid_skene(a, None, Smoothing::default())
    }),
    ("smoothed 1/0.2", |a| {
        smoothed_dawid_skene(
            a,
            None,
            Smoothing {
                diag: 1.0,
                off: 0.2,
                ..Smoothing::ROBUST
            },
        )
    }),
    ("smoothed 2/0.5", |a| {
        smoothed_dawid_skene(a, None, Smoothing::ROBUST)
    }),
    ("smoothed 4/1", |a| {
        smoothed_dawid_skene(
            a,
            None,
            Smoothing {
                diag: 4.0,
                off: 1.0,
                ..Smoothing::ROBUST
            },
        )
    }),
    ("2/0.5 scaled beyond 3/item", |a| {
        smoothed_dawid_skene(a, None, Smoothing::ROBUST.scaled_from(a, 3.0))
    }),
    ("2/0.5 scaled beyond 5/item", |a| {
        smoothed_dawid_skene(a, None, Smoothing::ROBUST.scaled_from(a, 5.0))
    }),
    ("2/0.5 scaled beyond 5/item and by (K-1)/3", |a| {
        let s = Smoothing::ROBUST.scaled_from(a, 5.0);
        smoothed_dawid_skene(a, None, s.for_labels(a.n_labels()))
    }),
    ("2/0.5 scaled beyond 8/item", |a| {
        smoothed_dawid_skene(a, None, Smoothing::ROBUST.scaled_from(a, 8.0))
    }),
    ("smoothed 2/0.5, 3 iterations", |a| {
        smoothed_dawid_skene(a, None, early(3))
    }),
    ("smoothed 2/0.5, 10 iterations", |a| {
        smoothed_dawid_skene(a, None, early(10))
    }),
    ("dawid-skene", |a| {
        aggregate(a, Method::DawidSkene, None).unwrap()
    }),
    ("ibcc", |a| aggregate(a, Method::Ibcc, None).unwrap()),
    ("bwa", |a| aggregate(a, Method::Bwa, None).unwrap()),
];

/// The chosen prior, stopped after `n_iter` EM iterations.
fn early(n_iter: usize) -> Smoothing {
    Smoothing {
        em: EmOptions { n_iter, tol: 0.0 },
        ..Smoothing::ROBUST
    }
}

/// The candidate the default method is (before calibration, which keeps every label).
const CHOSEN: &str = "2/0.5 scaled beyond 5/item and by (K-1)/3";

/// How far below crowd-kit's best (points) the default may be on each shared dataset, as
/// measured: 3 items of d_product's 8,315 (the 11 near-tie items on which it and Dawid-Skene
/// disagree split 7 to 4, McNemar's p ≈ 0.55; the old unscaled prior was 12 items below, 31 to
/// 18), and one item of s_dog's 807 (2 to 1); nowhere else.
fn allowed_gap(name: &str) -> f64 {
    match name {
        "d_product" => 0.05,
        "s_dog" => 0.15,
        _ => 0.0,
    }
}

/// Accuracy (%) per synthetic shape: each candidate, and the best crowd-kit method (majority,
/// Wawa, Dawid-Skene, one-coin) and the default.
struct SyntheticRow {
    name: &'static str,
    candidates: Vec<f64>,
    crowd_kit_best: f64,
    dawid_skene: f64,
    default: f64,
}

fn synthetic_rows() -> &'static [SyntheticRow] {
    static ROWS: std::sync::OnceLock<Vec<SyntheticRow>> = std::sync::OnceLock::new();
    ROWS.get_or_init(|| {
        shapes()
            .into_iter()
            .map(|(name, spec, mix)| {
                let crowd = generate_mix(spec, mix);
                let answers = crowd.answers();
                let truth = crowd.truth(&answers);
                let run = |m| percent(&aggregate(&answers, m, None).unwrap(), &truth);
                let crowd_kit = [
                    Method::Majority,
                    Method::Wawa,
                    Method::DawidSkene,
                    Method::OneCoin,
                ]
                .map(run);
                SyntheticRow {
                    name,
                    candidates: CANDIDATES
                        .iter()
                        .map(|(_, run)| percent(&run(&answers), &truth))
                        .collect(),
                    crowd_kit_best: crowd_kit.into_iter().fold(0.0, f64::max),
                    dawid_skene: crowd_kit[2],
                    default: run(DEFAULT_METHOD),
                }
            })
            .collect()
    })
}

/// Leave-one-dataset-out: for each shared dataset, the candidate with the best mean
/// margin over crowd-kit's best on the other four plus the best mean margin on the synthetic
/// shapes (points, equal weight), scored on the one left out. Every fold must pick the default's
/// setting, and the left-out accuracy must hold crowd-kit's best within [`allowed_gap`], and beat
/// it on d_duck and s_face.
#[test]
fn leave_one_dataset_out_picks_the_default_setting_and_it_holds() {
    let Some(data) = datasets() else { return };
    let cands = CANDIDATES;
    let real: Vec<Vec<f64>> = REFERENCES
        .iter()
        .zip(data)
        .map(|(r, d)| {
            cands
                .iter()
                .map(|(_, run)| percent(&run(&d.answers), &d.truth) - r.best)
                .collect()
        })
        .collect();
    let synthetic = synthetic_rows();
    let synthetic_margin: Vec<f64> = (0..cands.len())
        .map(|c| {
            synthetic
                .iter()
                .map(|row| row.candidates[c] - row.crowd_kit_best)
                .sum::<f64>()
                / synthetic.len() as f64
        })
        .collect();
    for (c, (name, _)) in cands.iter().enumerate() {
        let margins: Vec<String> = real.iter().map(|m| format!("{:+.2}", m[c])).collect();
        println!(
            "{name:30} shared {}  synthetic {:+.2}",
            margins.join(" "),
            synthetic_margin[c]
        );
    }
    for (out, r) in REFERENCES.iter().enumerate() {
        let score = |c: usize| {
            let train: f64 = (0..REFERENCES.len())
                .filter(|&j| j != out)
                .map(|j| real[j][c])
                .sum::<f64>()
                / (REFERENCES.len() - 1) as f64;
            train + synthetic_margin[c]
        };
        let pick = (0..cands.len())
            .max_by(|&a, &b| score(a).total_cmp(&score(b)))
            .unwrap();
        let held_out = r.best + real[out][pick];
        println!(
            "LODO {}: picks {} → {held_out:.2} (crowd-kit best {:.2})",
            r.name, cands[pick].0, r.best
        );
        assert_eq!(cands[pick].0, CHOSEN, "{}", r.name);
        assert!(
            held_out >= r.best - allowed_gap(r.name) - 1e-9,
            "{}: {held_out:.2}",
            r.name
        );
        if ["d_duck", "s_face"].contains(&r.name) {
            assert!(held_out > r.best + 0.3, "{}: {held_out:.2}", r.name);
        }
    }
}

/// The default method itself (the chosen prior, then calibration, which never changes a label)
/// gives the LODO accuracies on the shared datasets.
#[test]
fn default_method_holds_crowd_kits_best() {
    let chosen = CANDIDATES
        .iter()
        .find(|(name, _)| *name == CHOSEN)
        .unwrap()
        .1;
    for_each_dataset(|r, d| {
        let default = aggregate(&d.answers, DEFAULT_METHOD, None).unwrap();
        assert_eq!(default.labels, chosen(&d.answers).labels, "{}", r.name);
        let got = percent(&default, &d.truth);
        let gap = allowed_gap(r.name);
        assert!(
            got >= r.best - gap - 1e-9,
            "{}: {DEFAULT_METHOD} {got:.2} < crowd-kit best {:.2} − {gap}",
            r.name,
            r.best
        );
    });
}

/// On every synthetic shape the default is never below Dawid-Skene by more than 0.3 (one item
/// of 333 on the dense shapes), at or above it on the crowds shaped like the held-back datasets
/// (where crowd-kit's Dawid-Skene beat the old default), and on average clearly above it.
#[test]
fn default_method_holds_on_synthetic_crowds_of_every_shape() {
    let rows = synthetic_rows();
    for row in rows {
        println!(
            "{:40} default {:.2}  DS {:.2}  crowd-kit best {:.2}",
            row.name, row.default, row.dawid_skene, row.crowd_kit_best
        );
        assert!(
            row.default >= row.dawid_skene - 0.3,
            "{}: {:.2} vs DS {:.2}",
            row.name,
            row.default,
            row.dawid_skene
        );
        if row.name.starts_with("A-like") || row.name.starts_with("B") {
            assert!(
                row.default >= row.dawid_skene - 1e-9,
                "{}: {:.2} below DS {:.2}",
                row.name,
                row.default,
                row.dawid_skene
            );
        }
    }
    let mean = |f: fn(&SyntheticRow) -> f64| rows.iter().map(f).sum::<f64>() / rows.len() as f64;
    let (default, ds) = (mean(|r| r.default), mean(|r| r.dawid_skene));
    assert!(default > ds + 1.0, "mean {default:.2} vs DS {ds:.2}");
}

/// Calibration: the default's confidences, tempered by a temperature fitted on the answers
/// alone, have a lower expected calibration error than the raw posteriors on every dataset, and a
/// small one where the ground truth itself is reliable. s_face's truth disagrees with 36 % of every
/// method's labels however confident, which no truth-free calibration can see.
#[test]
fn default_confidence_is_calibrated() {
    use quorum_core::consensus::calibration::reliability;
    for_each_dataset(|r, d| {
        let raw = smoothed_dawid_skene(&d.answers, None, Smoothing::ROBUST.for_crowd(&d.answers));
        let calibrated = aggregate(&d.answers, DEFAULT_METHOD, None).unwrap();
        assert_eq!(raw.labels, calibrated.labels, "{}", r.name);
        let (before, after) = (
            reliability(&raw, &d.truth, 10).ece,
            reliability(&calibrated, &d.truth, 10).ece,
        );
        println!("{}: ECE {before:.3} → {after:.3}", r.name);
        assert!(after <= before + 1e-9, "{}: {after} > {before}", r.name);
        let limit = if r.name == "s_face" { 0.30 } else { 0.15 };
        assert!(after < limit, "{}: ECE {after:.3}", r.name);
    });
}

/// A synthetic crowd's answers and truth, and the expected calibration error of the default's
/// confidences before and after calibration.
fn crowd_and_eces(spec: SyntheticSpec, mix: CrowdMix) -> (Answers, Gold, f64, f64) {
    use quorum_core::consensus::calibration::reliability;
    let crowd = generate_mix(spec, mix);
    let answers = crowd.answers();
    let truth = crowd.truth(&answers);
    let raw = smoothed_dawid_skene(&answers, None, Smoothing::ROBUST.for_crowd(&answers));
    let calibrated = aggregate(&answers, DEFAULT_METHOD, None).unwrap();
    let (before, after) = (
        reliability(&raw, &truth, 10).ece,
        reliability(&calibrated, &truth, 10).ece,
    );
    (answers, truth, before, after)
}

/// With many answers per item every Dawid-Skene posterior is 1 − 1e-10, easy item or hard; the
/// temperature is fitted and applied on the log posteriors, which keep how far each item is from
/// a tie, so on the dense synthetic crowds (25 answers per item and more, hard items among them)
/// calibration lowers the expected calibration error by at least 0.01 (before, it moved it by
/// 0.005 at most), and it never raises it on any shape.
#[test]
fn default_confidence_is_calibrated_on_dense_crowds() {
    for (name, spec, mix) in shapes() {
        let (_, _, before, after) = crowd_and_eces(spec, mix);
        println!("{name:40} ECE {before:.3} → {after:.3}");
        assert!(after <= before + 1e-9, "{name}: {after} > {before}");
        if spec.answers_per_item >= 25 {
            assert!(
                after <= before - 0.01,
                "{name}: ECE {before:.3} → {after:.3}"
            );
        }
    }
}

/// `cargo test -p quorum-core --release --test consensus_datasets -- --ignored --nocapture`
/// prints every method's accuracy and time next to crowd-kit's best, and the default's
/// reliability table (the figures in `docs/consensus.md`).
#[test]
#[ignore = "a report, not a check"]
fn report_accuracy_table() {
    use quorum_core::consensus::calibration::reliability;
    for_each_dataset(|r, d| {
        let mut line = format!("{:10}", r.name);
        for m in Method::ALL.into_iter().filter(|m| !m.needs_gold()) {
            // The median of five runs: the machine is shared and single runs are noisy.
            let mut times = Vec::new();
            let mut result = None;
            for _ in 0..5 {
                let start = std::time::Instant::now();
                result = Some(aggregate(&d.answers, m, None).unwrap());
                times.push(start.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(f64::total_cmp);
            let (agg, ms) = (result.unwrap(), times[2]);
            line += &format!(
                " {}={:.2}({},{ms:.1}ms)",
                m,
                percent(&agg, &d.truth),
                agg.iterations
            );
        }
        println!("{line}  best={:.2}", r.best);
        let rel = reliability(
            &aggregate(&d.answers, DEFAULT_METHOD, None).unwrap(),
            &d.truth,
            10,
        );
        let bins: Vec<String> = rel
            .bins
            .iter()
            .filter(|b| b.items > 0)
            .map(|b| {
                format!(
                    "[{:.1},{:.1}) n={} conf={:.3} acc={:.3}",
                    b.from, b.to, b.items, b.confidence, b.accuracy
                )
            })
            .collect();
        println!("  ECE {:.3}: {}", rel.ece, bins.join("; "));
    });
    for (name, spec, mix) in shapes() {
        let (answers, truth, before, after) = crowd_and_eces(spec, mix);
        let mut line = format!("{name:40} ECE {before:.3} → {after:.3}");
        for m in Method::ALL.into_iter().filter(|m| !m.needs_gold()) {
            line += &format!(
                " {}={:.2}",
                m,
                percent(&aggregate(&answers, m, None).unwrap(), &truth)
            );
        }
        println!("{line}");
    }
}

/// `cargo test -p quorum-core --release --test consensus_datasets -- --ignored --nocapture`
/// also times every method on the synthetic 1M-answer crowd (the CLI's `quorum bench aggregate`
/// prints the same with crowd-kit's times next to it).
#[test]
#[ignore = "a report, not a check"]
fn report_synthetic_million() {
    use quorum_core::consensus::synthetic::{generate, SyntheticSpec};
    let crowd = generate(SyntheticSpec {
        items: 200_000,
        answers_per_item: 5,
        workers: 5_000,
        classes: 4,
        seed: 1,
    });
    let answers = crowd.answers();
    let truth = crowd.truth(&answers);
    let gold = crowd.gold(&answers);
    println!("{} answers", answers.n_rows());
    for m in Method::ALL {
        let start = std::time::Instant::now();
        let agg = aggregate(&answers, m, Some(&gold)).unwrap();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{m:12} {secs:.3}s accuracy {:.4} iterations {}",
            agg.accuracy(&truth).unwrap().0,
            agg.iterations
        );
    }
}
