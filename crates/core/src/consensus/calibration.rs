//! Calibrated confidence: a temperature for an aggregation's posteriors fitted on the answers
//! themselves (no ground truth, no per-dataset setting), and the reliability table that checks it
//! against ground truth.
//!
//! EM posteriors multiply one likelihood ratio per answer as if answers were independent; real
//! answers are correlated (hard items fool many workers alike), so posteriors near 1 are right far
//! less often than they say, and by how much differs between crowds (one temperature for all
//! datasets does not fit: d_product wants ~1.5, s_face more than 6). The fit here asks the model
//! to predict each answer from the other answers to the same item: the posterior without that
//! answer's evidence, raised to 1/T and renormalised, mixed through the worker's confusion row.
//! The T that predicts held-out answers best is the one whose posteriors mean what they say about
//! answers, and so, through the confusions, about the truth — as far as answers can tell: a
//! mistake many workers share predicts itself well and stays invisible (measured in
//! `docs/consensus.md`: it lowers the error on every dataset but leaves crowds with many such
//! items over-confident).

use super::answers::{Answers, Gold};
use super::dawid_skene::{Pairs, EPS};
use super::Aggregation;

/// The temperatures searched, in log space.
const MIN_T: f64 = 1.0;
const MAX_T: f64 = 1000.0;

/// Confusion entries `e[pair × k + c]` from posteriors `q`, with one pseudo-count per cell (the
/// same yardstick for every method).
fn confusions(answers: &Answers, pairs: &Pairs, q: &[f64], k: usize) -> Vec<f64> {
    let mut e = vec![0.0; pairs.pair_label.len() * k];
    let starts = answers.item_starts();
    for (i, qi) in q.chunks_exact(k).enumerate() {
        for &p in &pairs.row_pair[starts[i] as usize..starts[i + 1] as usize] {
            for (acc, v) in e[p as usize * k..p as usize * k + k].iter_mut().zip(qi) {
                *acc += v;
            }
        }
    }
    let mut norm = vec![0.0; k];
    for w in 0..pairs.worker_start.len() - 1 {
        let range = pairs.worker_start[w] as usize..pairs.worker_start[w + 1] as usize;
        norm.iter_mut().for_each(|v| *v = k as f64);
        for p in range.clone() {
            for (n, v) in norm.iter_mut().zip(&e[p * k..p * k + k]) {
                *n += v;
            }
        }
        for p in range {
            for (v, n) in e[p * k..p * k + k].iter_mut().zip(&norm) {
                *v = (*v + 1.0) / n;
            }
        }
    }
    e
}

/// Fits the temperature of `posteriors` (`n_items × k`) on `answers` by leave-one-answer-out
/// likelihood, with confusions estimated from the posteriors (one pseudo-count per cell). Returns
/// 1 when there is nothing to fit (fewer than two labels or no item with two answers).
pub fn fit_temperature(answers: &Answers, posteriors: &[f64]) -> f64 {
    let k = answers.n_labels();
    if k < 2 || answers.n_rows() == 0 {
        return 1.0;
    }
    let pairs = Pairs::new(answers);
    let e = confusions(answers, &pairs, posteriors, k);
    fit_with_model(answers, &pairs, &e, &floored_logs(posteriors))
}

/// `ln max(p, 1e-10)` of each posterior: the log posteriors of a method that keeps no others.
fn floored_logs(posteriors: &[f64]) -> Vec<f64> {
    posteriors.iter().map(|p| p.max(EPS).ln()).collect()
}

/// At most this many answers are predicted per candidate temperature: one number is being
/// fitted, and a fixed, evenly spread sample keeps the fit a small fraction of an EM run.
const SAMPLE: usize = 1000;

/// [`fit_temperature`] with the model's own confusion entries `e[pair × k + c]`, on log
/// posteriors (each item's up to a constant; `-inf` allowed for impossible labels).
pub(crate) fn fit_with_model(
    answers: &Answers,
    pairs: &Pairs,
    e: &[f64],
    log_posteriors: &[f64],
) -> f64 {
    let k = answers.n_labels();
    let starts = answers.item_starts();
    let eligible: usize = (0..answers.n_items())
        .map(|i| (starts[i + 1] - starts[i]) as usize)
        .filter(|&n| n >= 2)
        .sum();
    if k < 2 || eligible == 0 {
        return 1.0;
    }
    let stride = eligible.div_ceil(SAMPLE);
    // Per sampled answer: the item's log posterior minus this answer's evidence, then its pair.
    let mut held = Vec::with_capacity((eligible / stride + 1) * (k + 1));
    let mut seen = 0;
    for (i, qi) in log_posteriors.chunks_exact(k).enumerate() {
        let rows = starts[i] as usize..starts[i + 1] as usize;
        if rows.len() < 2 {
            continue;
        }
        for r in rows {
            seen += 1;
            if seen % stride != 0 {
                continue;
            }
            let p = pairs.row_pair[r] as usize;
            for c in 0..k {
                held.push(qi[c] - e[p * k + c].max(EPS).ln());
            }
            held.push(p as f64);
        }
    }
    let score = |t: f64| {
        let mut total = 0.0;
        for chunk in held.chunks_exact(k + 1) {
            let p = chunk[k] as usize;
            let max = chunk[..k].iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let (mut norm, mut mix) = (0.0, 0.0);
            for (c, h) in chunk[..k].iter().enumerate() {
                let w = ((h - max) / t).exp();
                norm += w;
                mix += w * e[p * k + c];
            }
            total += (mix / norm).ln();
        }
        total
    };
    // Golden-section search over ln T: 12 steps narrow [ln 1, ln 1000] to ±0.01 in ln T (±1 %).
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (MIN_T.ln(), MAX_T.ln());
    let mut a = hi - ratio * (hi - lo);
    let mut b = lo + ratio * (hi - lo);
    let (mut fa, mut fb) = (score(a.exp()), score(b.exp()));
    for _ in 0..12 {
        if fa < fb {
            lo = a;
            a = b;
            fa = fb;
            b = lo + ratio * (hi - lo);
            fb = score(b.exp());
        } else {
            hi = b;
            b = a;
            fb = fa;
            a = hi - ratio * (hi - lo);
            fa = score(a.exp());
        }
    }
    ((lo + hi) / 2.0).exp()
}

/// Raises each posterior row to `1 / t` and renormalises (the labels do not change).
pub fn temper(posteriors: &mut [f64], k: usize, t: f64) {
    let logs = floored_logs(posteriors);
    temper_logs(&logs, k, t, posteriors);
}

/// Writes into `out` the posteriors `softmax(log_posteriors / t)`, row by row.
fn temper_logs(log_posteriors: &[f64], k: usize, t: f64, out: &mut [f64]) {
    let k = k.max(1);
    for (row, logs) in out.chunks_exact_mut(k).zip(log_posteriors.chunks_exact(k)) {
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut total = 0.0;
        for (v, l) in row.iter_mut().zip(logs) {
            *v = ((l - max) / t).exp();
            total += *v;
        }
        row.iter_mut().for_each(|v| *v /= total);
    }
}

/// Tempers `agg`'s posteriors with the temperature fitted on `answers` ([`fit_temperature`]),
/// updating confidences; returns the temperature. For any method's posteriors.
pub fn calibrate(answers: &Answers, agg: &mut Aggregation) -> f64 {
    let t = fit_temperature(answers, &agg.posteriors);
    let logs = floored_logs(&agg.posteriors);
    apply(agg, &logs, t);
    t
}

/// Sets `agg`'s posteriors to its `log_posteriors` tempered by `t` and refreshes its
/// confidences (labels stay: tempering keeps each row's order).
pub(crate) fn apply(agg: &mut Aggregation, log_posteriors: &[f64], t: f64) {
    temper_logs(log_posteriors, agg.n_labels, t, &mut agg.posteriors);
    for (i, c) in agg.confidence.iter_mut().enumerate() {
        *c = agg.posteriors[i * agg.n_labels + agg.labels[i] as usize].clamp(0.0, 1.0);
    }
}

/// One bin of a reliability table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bin {
    /// Lower edge of the confidence bin.
    pub from: f64,
    /// Upper edge.
    pub to: f64,
    /// Items whose confidence falls in the bin.
    pub items: usize,
    /// Their mean confidence.
    pub confidence: f64,
    /// Share of them whose label is right.
    pub accuracy: f64,
}

/// A reliability table: confidence bins against accuracy, and the expected calibration error.
#[derive(Debug, Clone, PartialEq)]
pub struct Reliability {
    /// Equal-width bins over [0, 1] (empty ones included).
    pub bins: Vec<Bin>,
    /// Σ over bins of (items / total) · |accuracy − confidence|.
    pub ece: f64,
}

/// The reliability of `agg`'s confidences against `truth`, in `n_bins` equal-width bins.
pub fn reliability(agg: &Aggregation, truth: &Gold, n_bins: usize) -> Reliability {
    let n_bins = n_bins.max(1);
    let mut bins: Vec<Bin> = (0..n_bins)
        .map(|b| Bin {
            from: b as f64 / n_bins as f64,
            to: (b + 1) as f64 / n_bins as f64,
            items: 0,
            confidence: 0.0,
            accuracy: 0.0,
        })
        .collect();
    for (i, (&label, &c)) in agg.labels.iter().zip(&agg.confidence).enumerate() {
        let Some(ok) = truth.is_correct(i as u32, label) else {
            continue;
        };
        let bin = &mut bins[((c * n_bins as f64) as usize).min(n_bins - 1)];
        bin.items += 1;
        bin.confidence += c;
        bin.accuracy += f64::from(u8::from(ok));
    }
    let total: usize = bins.iter().map(|b| b.items).sum();
    let mut ece = 0.0;
    for bin in &mut bins {
        if bin.items > 0 {
            bin.confidence /= bin.items as f64;
            bin.accuracy /= bin.items as f64;
            ece += bin.items as f64 / total.max(1) as f64 * (bin.accuracy - bin.confidence).abs();
        }
    }
    Reliability { bins, ece }
}
