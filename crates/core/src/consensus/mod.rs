//! Consensus and quality: aggregation of labels into results, agreement metrics and annotator scores.
//!
//! Everything works on an [`Answers`] table (strings interned to dense indices). The entry point
//! for a batch of answers is [`aggregate`] with a [`Method`]; the server's per-label path uses
//! [`online::VoteTally`] and [`online::DynamicOverlap`] (built from a task's spec by `task::DynamicOverlap::rule`), and schedules [`aggregate`] with
//! [`DEFAULT_METHOD`] over a whole task as a job.
//!
//! The crowd-kit methods (`majority`, `weighted`, `wawa`, `dawid-skene`, `one-coin`) reproduce
//! crowd-kit 1.4's labels on the shared datasets; `smoothed-ds`, `bwa`, `ibcc` and `ebcc` are
//! the models studied for the default, `calibrated-ds` ([`DEFAULT_METHOD`]).

pub mod agreement;
pub mod answers;
pub mod bwa;
pub mod calibration;
pub mod dawid_skene;
pub mod ebcc;
pub mod majority;
pub mod online;
pub mod scores;
pub mod shapes;
pub mod smoothed;
pub mod synthetic;
pub mod weighted;

pub use answers::{Answers, Gold, GoldLabel, ParseError};
pub use dawid_skene::EmOptions;
pub use smoothed::Smoothing;

use std::fmt;
use std::str::FromStr;

/// An aggregation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Plain majority vote; confidence = vote share.
    Majority,
    /// Majority vote weighted by each worker's accuracy on gold items (needs gold).
    Weighted,
    /// Majority vote weighted by each worker's agreement with the plain majority.
    Wawa,
    /// Dawid-Skene EM exactly as crowd-kit 1.4.
    DawidSkene,
    /// One-coin Dawid-Skene as crowd-kit 1.4.
    OneCoin,
    /// Dawid-Skene with Dirichlet smoothing, run to convergence ([`smoothed`]).
    SmoothedDs,
    /// The default: smoothed Dawid-Skene with priors worth a few answers (in proportion to the
    /// labels' count, shrunk beyond 5 answers per item, [`Smoothing::for_crowd`]), and
    /// posteriors tempered by a temperature
    /// fitted on the answers themselves ([`calibration`]).
    CalibratedDs,
    /// Bayesian weighted average (Li 2019, [`bwa`]).
    Bwa,
    /// IBCC: variational Bayesian Dawid-Skene ([`ebcc`] with one subtype).
    Ibcc,
    /// EBCC (Li, Rubinstein and Cohn 2019, [`ebcc`]).
    Ebcc,
}

/// The method the server and `quorum aggregate` use: calibrated smoothed Dawid-Skene, with one
/// setting chosen by leave-one-dataset-out and synthetic crowds (`docs/consensus.md`).
pub const DEFAULT_METHOD: Method = Method::CalibratedDs;

impl Method {
    /// Every method, in the order the CLI lists them.
    pub const ALL: [Method; 10] = [
        Method::Majority,
        Method::Weighted,
        Method::Wawa,
        Method::DawidSkene,
        Method::OneCoin,
        Method::SmoothedDs,
        Method::CalibratedDs,
        Method::Bwa,
        Method::Ibcc,
        Method::Ebcc,
    ];

    /// The name used on the command line and in the API.
    pub fn name(self) -> &'static str {
        match self {
            Method::Majority => "majority",
            Method::Weighted => "weighted",
            Method::Wawa => "wawa",
            Method::DawidSkene => "dawid-skene",
            Method::OneCoin => "one-coin",
            Method::SmoothedDs => "smoothed-ds",
            Method::CalibratedDs => "calibrated-ds",
            Method::Bwa => "bwa",
            Method::Ibcc => "ibcc",
            Method::Ebcc => "ebcc",
        }
    }

    /// Whether the method cannot run without gold answers.
    pub fn needs_gold(self) -> bool {
        self == Method::Weighted
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                format!("unknown method {s:?}: expected one of {}", names.join(", "))
            })
    }
}

/// Why an aggregation could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsensusError {
    /// The method needs gold answers and none was given, or no worker answered a gold item.
    NeedsGold(Method),
}

impl fmt::Display for ConsensusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsensusError::NeedsGold(m) => write!(
                f,
                "method {m} needs gold answers (item,label) for items that workers answered"
            ),
        }
    }
}

impl std::error::Error for ConsensusError {}

/// The result of aggregating an [`Answers`] table: one label per item.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    /// The method that produced it.
    pub method: Method,
    /// Number of labels (the width of `posteriors`).
    pub n_labels: usize,
    /// Per item (index of the table): the chosen label index.
    pub labels: Vec<u32>,
    /// Per item: the chosen label's vote share or posterior, in [0, 1].
    pub confidence: Vec<f64>,
    /// Per item and label (row-major, `n_items × n_labels`): vote shares or posteriors.
    pub posteriors: Vec<f64>,
    /// EM iterations run (0 for the voting methods).
    pub iterations: usize,
    /// Per worker: the skill the method weighted them by (empty when it has none).
    pub worker_skill: Vec<f64>,
}

/// The index of the first maximum: ties go to the smallest label in sorted order.
pub(crate) fn first_argmax(row: &[f64]) -> u32 {
    let mut best = 0;
    for (c, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = c;
        }
    }
    best as u32
}

impl Aggregation {
    pub(crate) fn from_posteriors(
        method: Method,
        n_labels: usize,
        posteriors: Vec<f64>,
        iterations: usize,
    ) -> Aggregation {
        let k = n_labels.max(1);
        let labels: Vec<u32> = posteriors.chunks_exact(k).map(first_argmax).collect();
        let confidence = posteriors
            .chunks_exact(k)
            .zip(&labels)
            .map(|(row, &l)| row[l as usize].clamp(0.0, 1.0))
            .collect();
        Aggregation {
            method,
            n_labels,
            labels,
            confidence,
            posteriors,
            iterations,
            worker_skill: Vec::new(),
        }
    }

    /// Share of reference items (that have answers) whose label equals the reference, with
    /// the counts `(correct, evaluated)`. `None` when no reference item was answered.
    pub fn accuracy(&self, reference: &Gold) -> Option<(f64, usize, usize)> {
        let mut correct = 0;
        let mut total = 0;
        for (i, &label) in self.labels.iter().enumerate() {
            if let Some(ok) = reference.is_correct(i as u32, label) {
                total += 1;
                correct += usize::from(ok);
            }
        }
        (total > 0).then(|| (correct as f64 / total as f64, correct, total))
    }
}

/// Aggregates `answers` with `method`. `gold` feeds the weighted vote, and clamps gold items in
/// the EM methods; the other methods ignore it.
pub fn aggregate(
    answers: &Answers,
    method: Method,
    gold: Option<&Gold>,
) -> Result<Aggregation, ConsensusError> {
    Ok(match method {
        Method::Majority => majority::majority(answers),
        Method::Weighted => gold
            .and_then(|g| weighted::gold_weighted(answers, g))
            .ok_or(ConsensusError::NeedsGold(method))?,
        Method::Wawa => weighted::wawa(answers),
        Method::DawidSkene => dawid_skene::dawid_skene(answers, gold, EmOptions::default()),
        Method::OneCoin => dawid_skene::one_coin(answers, gold, EmOptions::default()),
        Method::SmoothedDs => smoothed::smoothed_dawid_skene(answers, gold, Smoothing::default()),
        Method::CalibratedDs => smoothed::calibrated_dawid_skene(answers, gold, Smoothing::ROBUST),
        Method::Bwa => bwa::bwa(answers, gold, bwa::BwaOptions::default()),
        Method::Ibcc => ebcc::ebcc(
            answers,
            gold,
            ebcc::EbccOptions {
                groups: 1,
                ..ebcc::EbccOptions::default()
            },
        ),
        Method::Ebcc => ebcc::ebcc(answers, gold, ebcc::EbccOptions::default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_through_their_names() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>(), Ok(m));
            assert_eq!(m.to_string(), m.name());
        }
        assert!("vote".parse::<Method>().unwrap_err().contains("majority"));
        assert!(Method::ALL.contains(&DEFAULT_METHOD));
    }

    #[test]
    fn every_method_labels_every_item_with_a_confidence_in_range() {
        let a = Answers::from_rows([
            ("1", "w1", "x"),
            ("1", "w2", "y"),
            ("2", "w1", "y"),
            ("2", "w3", "y"),
            ("3", "w2", "x"),
        ]);
        let gold = Gold::new(&a, [("2", "y")]);
        for m in Method::ALL {
            let agg = aggregate(&a, m, Some(&gold)).unwrap();
            assert_eq!(agg.labels.len(), 3, "{m}");
            assert!(
                agg.confidence.iter().all(|c| (0.0..=1.0).contains(c)),
                "{m}"
            );
            assert_eq!(agg.accuracy(&gold).map(|a| a.2), Some(1));
        }
        assert_eq!(
            aggregate(&a, Method::Weighted, None),
            Err(ConsensusError::NeedsGold(Method::Weighted))
        );
    }

    proptest::proptest! {
        #[test]
        fn every_method_gives_distributions_and_in_range_confidences(
            rows in proptest::collection::vec((0u8..8, 0u8..6, 0u8..3), 1..80)
        ) {
            let names: Vec<(String, String, String)> = rows
                .iter()
                .map(|(i, w, l)| (format!("i{i}"), format!("w{w}"), format!("l{l}")))
                .collect();
            let a = Answers::from_rows(
                names.iter().map(|(i, w, l)| (i.as_str(), w.as_str(), l.as_str())),
            );
            let gold = Gold::new(&a, [(names[0].0.as_str(), names[0].2.as_str())]);
            for m in Method::ALL {
                let agg = aggregate(&a, m, Some(&gold)).unwrap();
                proptest::prop_assert_eq!(agg.labels.len(), a.n_items());
                for (row, (&label, &c)) in agg
                    .posteriors
                    .chunks_exact(a.n_labels())
                    .zip(agg.labels.iter().zip(&agg.confidence))
                {
                    proptest::prop_assert!((0.0..=1.0).contains(&c), "{m}: {c}");
                    proptest::prop_assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-6, "{m}");
                    proptest::prop_assert!(row.iter().all(|&p| p <= row[label as usize]), "{m}");
                }
            }
        }
    }
}
