//! Smoothed Dawid-Skene: MAP-EM with Dirichlet pseudo-counts on every confusion column and on
//! the class priors, run to convergence of the log-likelihood.
//!
//! Plain Dawid-Skene estimates a full confusion matrix per worker from raw counts, so a worker
//! with a handful of answers gets confusion entries of 0 or 1 (clipped to 1e-10) and one answer
//! of theirs can outvote several careful workers. Pseudo-counts keep every estimate away from the
//! edges in proportion to how little the worker has shown, and a little extra mass on the
//! diagonal encodes the one thing we know a priori: workers are usually better than chance.
//! Large workers are unaffected (their counts dwarf the pseudo-counts), so on data where
//! Dawid-Skene shines it gives the same labels.
//!
//! Measured, not assumed: on the shared datasets it ties crowd-kit's Dawid-Skene on `d_product`,
//! `d_possent` and `s_dog` and beats it on `d_duck` and `s_face`; on sparse synthetic crowds
//! (3 answers per item, 20k workers) it gains 3 points over plain Dawid-Skene. Shrinking each
//! worker toward the crowd's pooled confusion matrix instead was tried and dropped: it helps
//! `s_face` (+1.2) but costs `s_dog` and `d_product` more than the 0.1-point budget.

use super::answers::{Answers, Gold};
use super::dawid_skene::{run_em, EmFit, EmOptions, MStep, Stop};
use super::{calibration, Aggregation, Method};

/// The settings of the smoothed model. [`Smoothing::default`] is what [`Method::SmoothedDs`]
/// uses everywhere. It was chosen once over all five shared datasets together, from a plateau:
/// diagonal 0.25–0.5 with 0.05–0.1 per cell give the same labels within 0.1 point, while counts
/// of 1 or more per cell over-smooth the sparse `d_product` workers (3 answers per item).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smoothing {
    /// Pseudo-count added on the diagonal of each confusion column (beyond `off`).
    pub diag: f64,
    /// Pseudo-count added to every cell of each confusion column.
    pub off: f64,
    /// Pseudo-count added to each class when estimating the priors.
    pub prior: f64,
    /// Iteration limit and tolerance on the per-answer log-likelihood.
    pub em: EmOptions,
}

/// Answers per item up to which [`Smoothing::for_crowd`] keeps the prior whole; beyond it the
/// prior shrinks in proportion. Chosen by leave-one-dataset-out against 3 and 8 (and no
/// scaling) in `tests/consensus_datasets.rs`.
pub const FULL_PRIOR_UP_TO: f64 = 5.0;

/// The number of labels [`Smoothing::ROBUST`] is stated for; [`Smoothing::for_labels`] scales it
/// to other counts.
pub const PRIOR_LABELS: f64 = 4.0;

impl Smoothing {
    /// The prior of the default method ([`Method::CalibratedDs`]), before it is scaled to the
    /// crowd ([`Smoothing::for_crowd`]): for 4 labels, 2 answers' worth on the diagonal and 0.5
    /// on every cell, four times [`Smoothing::default`]. Chosen by leave-one-dataset-out over the shared
    /// datasets together with the synthetic crowd shapes (`tests/consensus_datasets.rs`); it
    /// picks this setting, scaled, in all five folds. Workers with
    /// few answers, the long Zipf tail of real crowds, are where a weak prior over-fits: on
    /// sparse and imbalanced synthetic crowds it gains 2–3.5 points over the default here.
    pub const ROBUST: Smoothing = Smoothing {
        diag: 2.0,
        off: 0.5,
        prior: 1.0,
        em: EmOptions {
            n_iter: 100,
            tol: 1e-6,
        },
    };

    /// These settings with the confusion prior scaled to the crowd's shape: whole up to
    /// [`FULL_PRIOR_UP_TO`] answers per item, then shrunk by `FULL_PRIOR_UP_TO / answers per
    /// item`. The prior is there so that a worker's few answers cannot outvote an item's other
    /// answers; with many answers per item no one worker decides an item, and what separates
    /// the labels of the items that remain in doubt (ones where many workers make the same
    /// mistake) is how sharply the workers are told apart, which a fixed prior flattens toward
    /// majority vote (`docs/consensus.md`: on crowds of 280 answers per item the unscaled
    /// prior lost 0.3–1.2 points to plain Dawid-Skene in 7 seeds of 10 and tied in 3).
    ///
    /// It is also scaled to the number of labels K ([`Smoothing::for_labels`]).
    pub fn for_crowd(self, answers: &Answers) -> Smoothing {
        self.scaled_from(answers, FULL_PRIOR_UP_TO)
            .for_labels(answers.n_labels())
    }

    /// These settings, stated for [`PRIOR_LABELS`] labels, scaled to `k` labels by
    /// `(k − 1) / (PRIOR_LABELS − 1)`: in proportion to the free numbers of a confusion row,
    /// which is what a worker's few answers cannot pin down and the prior stands in for. The
    /// 2/0.5 prior was chosen on 4-label crowds; unscaled, a binary row (one free number) was
    /// held 2.25 times as hard per free number as a 4-label row. Measured (`docs/consensus.md`):
    /// no shared dataset and no synthetic shape of 4 labels moves; d_product (binary) goes from
    /// 12 items below crowd-kit's Dawid-Skene to 3 (at the shipped tolerance: run to full
    /// convergence, both priors end 10 items below, so that gain is where EM stops, not the
    /// prior); extra synthetic crowds of 2 and of 6–10 labels are as good or better on average;
    /// leave-one-dataset-out picks it in every fold. Fewer than 2 labels leave the prior alone
    /// (EM does not run on them).
    pub fn for_labels(self, k: usize) -> Smoothing {
        if k < 2 {
            return self;
        }
        let scale = (k as f64 - 1.0) / (PRIOR_LABELS - 1.0);
        Smoothing {
            diag: self.diag * scale,
            off: self.off * scale,
            ..self
        }
    }

    /// These settings with the confusion prior whole up to `full_up_to` answers per item and
    /// shrunk by `full_up_to / answers per item` beyond ([`Smoothing::for_crowd`] with another
    /// threshold, for the comparison that chose it).
    pub fn scaled_from(self, answers: &Answers, full_up_to: f64) -> Smoothing {
        let per_item = answers.n_rows() as f64 / answers.n_items().max(1) as f64;
        let scale = (full_up_to / per_item).min(1.0);
        Smoothing {
            diag: self.diag * scale,
            off: self.off * scale,
            ..self
        }
    }
}

impl Default for Smoothing {
    fn default() -> Self {
        Smoothing {
            diag: 0.5,
            off: 0.1,
            prior: 1.0,
            em: EmOptions {
                n_iter: 100,
                tol: 1e-6,
            },
        }
    }
}

/// Smoothed EM to convergence of the log-likelihood: what both the plain and the calibrated
/// method start from.
fn smoothed_fit(answers: &Answers, gold: Option<&Gold>, smoothing: Smoothing) -> EmFit {
    run_em(
        answers,
        gold,
        MStep::Smoothed {
            diag: smoothing.diag,
            off: smoothing.off,
            prior: smoothing.prior,
        },
        Stop::LogLikelihood,
        smoothing.em,
    )
}

/// Runs smoothed Dawid-Skene. `gold` clamps gold items' posteriors to their label.
pub fn smoothed_dawid_skene(
    answers: &Answers,
    gold: Option<&Gold>,
    smoothing: Smoothing,
) -> Aggregation {
    let fit = smoothed_fit(answers, gold, smoothing);
    Aggregation::from_posteriors(
        Method::SmoothedDs,
        answers.n_labels(),
        fit.posteriors,
        fit.iterations,
    )
}

/// The default method ([`Method::CalibratedDs`]): smoothed Dawid-Skene with `smoothing`'s prior
/// scaled to the crowd ([`Smoothing::for_crowd`]), then its posteriors tempered by the
/// temperature that best predicts held-out answers through the fitted model's own confusions
/// ([`super::calibration`]). Labels are those of [`smoothed_dawid_skene`] with the scaled prior.
pub fn calibrated_dawid_skene(
    answers: &Answers,
    gold: Option<&Gold>,
    smoothing: Smoothing,
) -> Aggregation {
    let fit = smoothed_fit(answers, gold, smoothing.for_crowd(answers));
    let t = match &fit.model {
        Some((pairs, e)) => calibration::fit_with_model(answers, pairs, e, &fit.log_posteriors),
        None => 1.0,
    };
    let mut agg = Aggregation::from_posteriors(
        Method::CalibratedDs,
        answers.n_labels(),
        fit.posteriors,
        fit.iterations,
    );
    if fit.model.is_some() {
        calibration::apply(&mut agg, &fit.log_posteriors, t);
    }
    agg
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four items with `answers_per_item` answers each, over `labels` labels.
    fn crowd(answers_per_item: usize, labels: usize) -> Answers {
        let names: Vec<(String, String, String)> = (0..4)
            .flat_map(|i| {
                (0..answers_per_item).map(move |w| {
                    let label = ((i + w) % labels) as u8;
                    (
                        format!("t{i}"),
                        format!("w{w}"),
                        char::from(b'a' + label).into(),
                    )
                })
            })
            .collect();
        Answers::from_rows(
            names
                .iter()
                .map(|(i, w, l)| (i.as_str(), w.as_str(), l.as_str())),
        )
    }

    #[test]
    fn the_prior_is_whole_up_to_five_answers_per_item_then_shrinks_in_proportion() {
        for per_item in [4, 5] {
            assert_eq!(
                Smoothing::ROBUST.for_crowd(&crowd(per_item, 4)),
                Smoothing::ROBUST
            );
        }
        let dense = Smoothing::ROBUST.for_crowd(&crowd(20, 4));
        assert_eq!((dense.diag, dense.off), (0.5, 0.125));
        assert_eq!(dense.prior, Smoothing::ROBUST.prior);
        let empty = Answers::from_rows([]);
        assert_eq!(Smoothing::ROBUST.for_crowd(&empty), Smoothing::ROBUST);
    }

    /// The prior is stated for 4 labels (3 free numbers per confusion row) and scales with the
    /// free numbers: a third of it for 2 labels, two thirds for 3, twice for 7.
    #[test]
    fn the_prior_scales_with_the_free_numbers_of_a_confusion_row() {
        let close = |s: Smoothing, diag: f64, off: f64| {
            assert!(
                (s.diag - diag).abs() < 1e-12 && (s.off - off).abs() < 1e-12,
                "{s:?}"
            );
            assert_eq!(s.prior, Smoothing::ROBUST.prior);
        };
        close(
            Smoothing::ROBUST.for_crowd(&crowd(4, 2)),
            2.0 / 3.0,
            0.5 / 3.0,
        );
        close(
            Smoothing::ROBUST.for_crowd(&crowd(5, 3)),
            4.0 / 3.0,
            1.0 / 3.0,
        );
        close(Smoothing::ROBUST.for_crowd(&crowd(5, 7)), 4.0, 1.0);
        close(
            Smoothing::ROBUST.for_crowd(&crowd(20, 2)),
            0.5 / 3.0,
            0.125 / 3.0,
        );
    }
}
