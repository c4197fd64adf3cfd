//! Annotator scores for managers: accuracy on gold items, agreement with the consensus,
//! throughput, and the qualification verdict that follows from a gold set.
//!
//! The gate itself (pass mark, minimum answers) belongs to [`crate::qualification`]; this module
//! only counts what a worker got right and hands the counts to it.

use super::answers::{Answers, Gold};
use super::Aggregation;
use crate::qualification::{QualificationGate, Standing};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// One worker's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorScore {
    /// Worker index in the [`Answers`] table.
    pub worker: u32,
    /// Answers given (every row counts).
    pub answers: u32,
    /// Answers on gold items.
    pub gold_answered: u32,
    /// Of those, correct.
    pub gold_correct: u32,
    /// Answers on items that had at least one other answer, so the consensus is not just theirs.
    pub consensus_compared: u32,
    /// Of those, equal to the consensus label.
    pub consensus_agreed: u32,
}

impl AnnotatorScore {
    /// Accuracy on gold items; `None` before the first gold answer.
    pub fn gold_accuracy(&self) -> Option<f64> {
        ratio(self.gold_correct, self.gold_answered)
    }

    /// Agreement with the consensus; `None` when no comparable answer exists.
    pub fn consensus_agreement(&self) -> Option<f64> {
        ratio(self.consensus_agreed, self.consensus_compared)
    }

    /// The worker's standing at a qualification gate, from their gold answers.
    pub fn standing(&self, gate: &QualificationGate) -> Standing {
        gate.standing(self.gold_correct, self.gold_answered)
    }
}

fn ratio(a: u32, b: u32) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Scores every worker of `answers` against `consensus` (an aggregation of the same table) and
/// `gold` when given. Agreement with the consensus skips items the worker answered alone; it
/// still includes the worker's own vote, so read it as "sides with the crowd", not as accuracy.
pub fn annotator_scores(
    answers: &Answers,
    consensus: &Aggregation,
    gold: Option<&Gold>,
) -> Vec<AnnotatorScore> {
    let mut scores: Vec<AnnotatorScore> = (0..answers.n_workers() as u32)
        .map(|worker| AnnotatorScore {
            worker,
            answers: 0,
            gold_answered: 0,
            gold_correct: 0,
            consensus_compared: 0,
            consensus_agreed: 0,
        })
        .collect();
    for i in 0..answers.n_items() as u32 {
        let rows = answers.item_rows(i);
        let shared = rows.len() > 1;
        for r in rows {
            let label = answers.row_labels()[r];
            let s = &mut scores[answers.row_workers()[r] as usize];
            s.answers += 1;
            if let Some(correct) = gold.and_then(|g| g.is_correct(i, label)) {
                s.gold_answered += 1;
                s.gold_correct += u32::from(correct);
            }
            if shared {
                s.consensus_compared += 1;
                s.consensus_agreed += u32::from(consensus.labels.get(i as usize) == Some(&label));
            }
        }
    }
    scores
}

/// One worker's answers on gold items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GoldRecord {
    /// Answers on gold items.
    pub answered: u32,
    /// Of those, correct.
    pub correct: u32,
}

impl GoldRecord {
    /// Accuracy on gold items; `None` before the first gold answer.
    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.correct, self.answered)
    }

    /// The standing this record earns at `gate`.
    pub fn standing(&self, gate: &QualificationGate) -> Standing {
        gate.standing(self.correct, self.answered)
    }
}

/// Every worker's record on `gold` items (indexed like the workers of `answers`).
pub fn gold_records(answers: &Answers, gold: &Gold) -> Vec<GoldRecord> {
    let mut records = vec![GoldRecord::default(); answers.n_workers()];
    for r in 0..answers.n_rows() {
        let (i, w, l) = (
            answers.row_items()[r],
            answers.row_workers()[r] as usize,
            answers.row_labels()[r],
        );
        if let Some(ok) = gold.is_correct(i, l) {
            records[w].answered += 1;
            records[w].correct += u32::from(ok);
        }
    }
    records
}

/// Every worker's standing at `gate` from their answers on `gold` items.
pub fn qualification_standings(
    answers: &Answers,
    gold: &Gold,
    gate: &QualificationGate,
) -> Vec<Standing> {
    gold_records(answers, gold)
        .iter()
        .map(|r| r.standing(gate))
        .collect()
}

/// The shortest span of work a rate is given for: a few labels in a few seconds say nothing
/// about a worker's speed, and would show as thousands per hour.
pub const MIN_THROUGHPUT_SPAN_MS: i64 = 60_000;

/// Labels per hour for `count` labels between `from` and `to`; `None` for a span shorter than
/// [`MIN_THROUGHPUT_SPAN_MS`] (a single instant, or a negative span, included).
pub fn throughput_per_hour(count: u64, from: Millis, to: Millis) -> Option<f64> {
    let span = from.until(to);
    (span >= MIN_THROUGHPUT_SPAN_MS).then(|| count as f64 * 3_600_000.0 / span as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::majority::majority;

    #[test]
    fn scores_count_gold_consensus_and_qualification() {
        let a = Answers::from_rows([
            ("g", "good", "a"),
            ("g", "bad", "b"),
            ("g", "ok", "a"),
            ("q", "good", "x"),
            ("q", "bad", "y"),
            ("q", "ok", "x"),
            ("solo", "bad", "y"),
        ]);
        let gold = Gold::new(&a, [("g", "a")]);
        let scores = annotator_scores(&a, &majority(&a), Some(&gold));
        let by_name = |n: &str| &scores[a.worker_id(n).unwrap() as usize];
        assert_eq!(by_name("good").gold_accuracy(), Some(1.0));
        assert_eq!(by_name("bad").gold_accuracy(), Some(0.0));
        assert_eq!(by_name("bad").answers, 3);
        assert_eq!(
            by_name("bad").consensus_compared,
            2,
            "the solo item is skipped"
        );
        assert_eq!(by_name("bad").consensus_agreement(), Some(0.0));
        assert_eq!(by_name("ok").consensus_agreement(), Some(1.0));
        let gate = QualificationGate {
            pass_mark: 0.5,
            min_answers: 1,
        };
        assert_eq!(by_name("good").standing(&gate), Standing::Passed);
        let standings = qualification_standings(&a, &gold, &gate);
        assert_eq!(
            standings[a.worker_id("bad").unwrap() as usize],
            Standing::Failed
        );
        let strict = QualificationGate {
            pass_mark: 0.5,
            min_answers: 2,
        };
        let records = gold_records(&a, &gold);
        let good = records[a.worker_id("good").unwrap() as usize];
        assert_eq!((good.correct, good.answered), (1, 1));
        assert_eq!(
            records[a.worker_id("bad").unwrap() as usize].accuracy(),
            Some(0.0)
        );
        assert!(qualification_standings(&a, &gold, &strict)
            .iter()
            .all(|s| *s == Standing::Pending));
    }

    #[test]
    fn throughput_table() {
        assert_eq!(
            throughput_per_hour(30, Millis(0), Millis(1_800_000)),
            Some(60.0)
        );
        assert_eq!(throughput_per_hour(5, Millis(10), Millis(10)), None);
        assert_eq!(throughput_per_hour(5, Millis(10), Millis(0)), None);
        assert_eq!(throughput_per_hour(5, Millis(0), Millis(59_999)), None);
        assert_eq!(
            throughput_per_hour(5, Millis(0), Millis(60_000)),
            Some(300.0)
        );
    }
}
