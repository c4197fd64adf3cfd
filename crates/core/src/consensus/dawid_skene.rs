//! Dawid-Skene EM, exactly as crowd-kit 1.4 computes it, on dense arrays.
//!
//! The rules (see `DEFINITIONS.md` in the shared datasets): majority-vote initialisation, priors
//! = mean posterior, confusion entries only for observed (worker, answer) pairs, each clipped to
//! ≥ 1e-10 then normalised over the answers for each true class, no smoothing; the loss is
//! crowd-kit's "ELBO" (log prior added once per answer) and iteration stops as soon as it rises
//! by less than `tol` — a signed test, so a decrease stops it too. Final posteriors are clipped
//! to ≥ 1e-10 and not renormalised; the label is the first maximum. Matching these quirks is
//! what makes the labels and iteration counts equal crowd-kit's on the shared datasets.
//!
//! The same engine runs the one-coin model (`one_coin`) and the smoothed model (`smoothed`):
//! they differ only in the M-step and the stopping rule.

use super::answers::{Answers, Gold, GoldLabel};
use super::majority::vote_shares;
use super::{Aggregation, Method};

/// crowd-kit's ε: the floor of every confusion entry, prior and final posterior.
pub const EPS: f64 = 1e-10;

/// Runs `$body` with the variable `$k` rebound to a literal for the common class counts, so that the inlined
/// per-row loops over `k` values are unrolled and vectorised; other counts run the same code
/// with a runtime `k`.
macro_rules! with_k {
    ($k:ident => $body:expr) => {
        match $k {
            2 => {
                let $k = 2;
                $body
            }
            3 => {
                let $k = 3;
                $body
            }
            4 => {
                let $k = 4;
                $body
            }
            5 => {
                let $k = 5;
                $body
            }
            _ => $body,
        }
    };
}

/// Iteration limits of the EM loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmOptions {
    /// The most EM iterations.
    pub n_iter: usize,
    /// Stop when the loss improves by less than this.
    pub tol: f64,
}

impl Default for EmOptions {
    /// crowd-kit's defaults: 100 iterations, tolerance 1e-5.
    fn default() -> Self {
        EmOptions {
            n_iter: 100,
            tol: 1e-5,
        }
    }
}

/// Which M-step the engine runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MStep {
    /// Full confusion matrices, ε-clipped (crowd-kit `DawidSkene`).
    Exact,
    /// One accuracy per worker (crowd-kit `OneCoinDawidSkene`).
    OneCoin,
    /// Full confusion matrices with Dirichlet pseudo-counts: `off` on every cell, `diag` more on
    /// the diagonal; priors get `prior` pseudo-counts per class.
    Smoothed { diag: f64, off: f64, prior: f64 },
}

/// How the loop decides it has converged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Stop {
    /// crowd-kit: stop when `new − old < tol` on its per-answer ELBO (a decrease also stops).
    SignedElbo,
    /// Stop when the per-answer log marginal likelihood changes by less than `tol` either way.
    LogLikelihood,
}

/// The distinct (worker, answer) pairs, grouped by worker: the rows of the confusion tables.
pub(crate) struct Pairs {
    /// Pair of each answer row.
    pub row_pair: Vec<u32>,
    /// Answer label of each pair.
    pub pair_label: Vec<u32>,
    /// Pairs of worker `w` are `worker_start[w]..worker_start[w + 1]`.
    pub worker_start: Vec<u32>,
}

impl Pairs {
    pub(crate) fn new(answers: &Answers) -> Pairs {
        let k = answers.n_labels() as u64;
        let key = |r: usize| answers.row_workers()[r] as u64 * k + answers.row_labels()[r] as u64;
        let mut keys: Vec<u64> = (0..answers.n_rows()).map(key).collect();
        keys.sort_unstable();
        keys.dedup();
        let mut worker_start = vec![0u32; answers.n_workers() + 1];
        for &key in &keys {
            worker_start[(key / k) as usize + 1] += 1;
        }
        for w in 0..answers.n_workers() {
            worker_start[w + 1] += worker_start[w];
        }
        let pair_label = keys.iter().map(|&key| (key % k) as u32).collect();
        // A dense (worker, label) → pair table is fastest; fall back to binary search when it
        // would be huge (many workers times many labels).
        let row_pair = if (answers.n_workers() as u64) * k <= 1 << 24 {
            let mut dense = vec![u32::MAX; answers.n_workers() * k as usize];
            for (p, &key) in keys.iter().enumerate() {
                dense[key as usize] = p as u32;
            }
            (0..answers.n_rows())
                .map(|r| dense[key(r) as usize])
                .collect()
        } else {
            (0..answers.n_rows())
                .map(|r| keys.binary_search(&key(r)).unwrap_or(0) as u32)
                .collect()
        };
        Pairs {
            row_pair,
            pair_label,
            worker_start,
        }
    }

    fn len(&self) -> usize {
        self.pair_label.len()
    }
}

/// The outcome of an EM run.
pub(crate) struct EmFit {
    pub posteriors: Vec<f64>,
    pub iterations: usize,
    /// The (worker, answer) pairs and their last confusion entries (`None` when EM did not run).
    pub model: Option<(Pairs, Vec<f64>)>,
    /// Per item and label: the log posterior up to a constant per item, as the last E-step
    /// computed it, without the 1e-10 floor (empty when EM did not run). With many answers per
    /// item every posterior is 1 − 1e-10 after the floor; these keep how far from a tie each
    /// item is, which calibration needs.
    pub log_posteriors: Vec<f64>,
}

fn clamp_gold(q: &mut [f64], k: usize, gold: Option<&Gold>) {
    let Some(gold) = gold else { return };
    for (i, row) in q.chunks_exact_mut(k).enumerate() {
        // A gold label no worker used has no column to put the mass in; leave the item free.
        if let Some(GoldLabel::Known(label)) = gold.get(i as u32) {
            row.iter_mut().for_each(|v| *v = 0.0);
            row[label as usize] = 1.0;
        }
    }
}

fn priors(q: &[f64], k: usize, pseudo: f64, out: &mut [f64]) {
    out.iter_mut().for_each(|v| *v = pseudo);
    for row in q.chunks_exact(k) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
    let n = (q.len() / k) as f64 + pseudo * k as f64;
    out.iter_mut().for_each(|v| *v /= n);
}

/// The M-step: confusion entries `e[pair × k + c]` = Pr(answer = pair's label | truth = c).
fn m_step(answers: &Answers, pairs: &Pairs, q: &[f64], k: usize, kind: MStep, e: &mut [f64]) {
    e.iter_mut().for_each(|v| *v = 0.0);
    let starts = answers.item_starts();
    match kind {
        MStep::Exact | MStep::Smoothed { .. } => {
            with_k!(k => accumulate(k, starts, &pairs.row_pair, q, e))
        }
        MStep::OneCoin => {
            // Accumulate Σ q[t, answer] per worker into the first slot of its first pair.
            let mut skill = vec![0.0; answers.n_workers()];
            let mut count = vec![0u32; answers.n_workers()];
            let (workers, labels) = (answers.row_workers(), answers.row_labels());
            for (i, qi) in q.chunks_exact(k).enumerate() {
                for r in starts[i] as usize..starts[i + 1] as usize {
                    skill[workers[r] as usize] += qi[labels[r] as usize];
                    count[workers[r] as usize] += 1;
                }
            }
            for w in 0..answers.n_workers() {
                let s = skill[w] / count[w].max(1) as f64;
                let wrong = (1.0 - s) / (k as f64 - 1.0);
                for p in pairs.worker_start[w] as usize..pairs.worker_start[w + 1] as usize {
                    let label = pairs.pair_label[p] as usize;
                    for (c, v) in e[p * k..p * k + k].iter_mut().enumerate() {
                        *v = if c == label { s } else { wrong }.clamp(EPS, 1.0 - EPS);
                    }
                }
            }
            return;
        }
    }
    let mut norm = vec![0.0; k];
    for w in 0..pairs.worker_start.len() - 1 {
        let range = pairs.worker_start[w] as usize..pairs.worker_start[w + 1] as usize;
        match kind {
            MStep::Exact => {
                norm.iter_mut().for_each(|v| *v = 0.0);
                for p in range.clone() {
                    for (n, v) in norm.iter_mut().zip(&mut e[p * k..p * k + k]) {
                        *v = v.max(EPS);
                        *n += *v;
                    }
                }
                for p in range {
                    for (v, n) in e[p * k..p * k + k].iter_mut().zip(&norm) {
                        *v /= n;
                    }
                }
            }
            MStep::Smoothed { diag, off, .. } => {
                // Unobserved answers hold only pseudo-counts; they enter the normaliser as a
                // constant so the observed entries stay a proper share of the column.
                norm.iter_mut().for_each(|v| *v = off * k as f64 + diag);
                for p in range.clone() {
                    for (n, v) in norm.iter_mut().zip(&e[p * k..p * k + k]) {
                        *n += v;
                    }
                }
                for p in range {
                    let label = pairs.pair_label[p] as usize;
                    for (c, (v, n)) in e[p * k..p * k + k].iter_mut().zip(&norm).enumerate() {
                        let pseudo = off + if c == label { diag } else { 0.0 };
                        *v = ((*v + pseudo) / n).max(EPS);
                    }
                }
            }
            MStep::OneCoin => unreachable!("handled above"),
        }
    }
}

/// `s[t × k + c]` = Σ over item t's rows of ln e[pair, c].
fn log_evidence(answers: &Answers, pairs: &Pairs, e: &[f64], k: usize, s: &mut [f64]) {
    let log_e: Vec<f64> = e.iter().map(|v| v.ln()).collect();
    let starts = answers.item_starts();
    with_k!(k => gather(k, starts, &pairs.row_pair, &log_e, s))
}

/// `e[pair(r)] += q[item(r)]` over all rows: the counting half of the M-step.
#[inline(always)]
fn accumulate(k: usize, starts: &[u32], row_pair: &[u32], q: &[f64], e: &mut [f64]) {
    for (i, qi) in q.chunks_exact(k).enumerate() {
        for &p in &row_pair[starts[i] as usize..starts[i + 1] as usize] {
            let p = p as usize;
            for (acc, v) in e[p * k..p * k + k].iter_mut().zip(qi) {
                *acc += v;
            }
        }
    }
}

/// `s[item] = Σ log_e[pair(r)]` over each item's rows: the evidence half of the E-step.
#[inline(always)]
fn gather(k: usize, starts: &[u32], row_pair: &[u32], log_e: &[f64], s: &mut [f64]) {
    for (i, si) in s.chunks_exact_mut(k).enumerate() {
        si.iter_mut().for_each(|v| *v = 0.0);
        for &p in &row_pair[starts[i] as usize..starts[i + 1] as usize] {
            let p = p as usize;
            for (acc, v) in si.iter_mut().zip(&log_e[p * k..p * k + k]) {
                *acc += v;
            }
        }
    }
}

/// Runs EM from the majority-vote posteriors.
pub(crate) fn run_em(
    answers: &Answers,
    gold: Option<&Gold>,
    kind: MStep,
    stop: Stop,
    options: EmOptions,
) -> EmFit {
    let k = answers.n_labels();
    let n = answers.n_items();
    let mut q = vote_shares(answers, None);
    if k < 2 || answers.n_rows() == 0 {
        return EmFit {
            posteriors: q,
            iterations: 0,
            model: None,
            log_posteriors: Vec::new(),
        };
    }
    let pairs = Pairs::new(answers);
    let prior_pseudo = match kind {
        MStep::Smoothed { prior, .. } => prior,
        _ => 0.0,
    };
    clamp_gold(&mut q, k, gold);
    let mut p = vec![0.0; k];
    priors(&q, k, prior_pseudo, &mut p);
    let mut e = vec![0.0; pairs.len() * k];
    m_step(answers, &pairs, &q, k, kind, &mut e);
    let mut s = vec![0.0; n * k];
    log_evidence(answers, &pairs, &e, k, &mut s);
    let rows = answers.n_rows() as f64;
    let starts = answers.item_starts();
    let mut loss = f64::NEG_INFINITY;
    let mut history = Vec::new();
    let mut log_p = vec![0.0; k];
    let mut shifted = vec![0.0; k];
    let mut log_q = vec![0.0; n * k];
    let ln_eps = EPS.ln();
    for _ in 0..options.n_iter {
        // E-step from the current priors and confusions (their evidence is already in `s`).
        for (lp, pc) in log_p.iter_mut().zip(&p) {
            *lp = pc.max(EPS).ln();
        }
        let mut log_lik = 0.0;
        // The entropy of the new posteriors is taken here, from the log-scores already at hand,
        // instead of calling ln on every posterior afterwards: it halves the time per iteration.
        let mut entropy = 0.0;
        for (i, ((qi, si), lq)) in q
            .chunks_exact_mut(k)
            .zip(s.chunks_exact(k))
            .zip(log_q.chunks_exact_mut(k))
            .enumerate()
        {
            let mut max = f64::NEG_INFINITY;
            for ((d, sc), lp) in shifted.iter_mut().zip(si).zip(&log_p) {
                *d = sc + lp;
                max = max.max(*d);
            }
            let mut total = 0.0;
            for (qc, d) in qi.iter_mut().zip(shifted.iter_mut()) {
                *d -= max;
                // Below e^-60 (~1e-26) the posterior is far under the 1e-10 floor every consumer
                // applies; skipping the call saves most of the exps once items are confident.
                *qc = if *d < -60.0 { 0.0 } else { d.exp() };
                total += *qc;
            }
            let ln_total = total.ln();
            log_lik += max + ln_total;
            lq.copy_from_slice(&shifted);
            if let Some(GoldLabel::Known(label)) = gold.and_then(|g| g.get(i as u32)) {
                qi.iter_mut().for_each(|v| *v = 0.0);
                qi[label as usize] = 1.0;
                lq.iter_mut().for_each(|v| *v = f64::NEG_INFINITY);
                lq[label as usize] = 0.0;
                entropy -= (k - 1) as f64 * EPS * ln_eps;
                continue;
            }
            for (qc, d) in qi.iter_mut().zip(&shifted) {
                *qc /= total;
                entropy -= if *qc >= EPS {
                    *qc * (d - ln_total)
                } else {
                    EPS * ln_eps
                };
            }
        }
        priors(&q, k, prior_pseudo, &mut p);
        m_step(answers, &pairs, &q, k, kind, &mut e);
        log_evidence(answers, &pairs, &e, k, &mut s);
        let new_loss = match stop {
            Stop::SignedElbo => {
                for (lp, pc) in log_p.iter_mut().zip(&p) {
                    *lp = pc.max(EPS).ln();
                }
                let mut joint = 0.0;
                for (i, (qi, si)) in q.chunks_exact(k).zip(s.chunks_exact(k)).enumerate() {
                    let n_rows = (starts[i + 1] - starts[i]) as f64;
                    for ((qc, sc), lp) in qi.iter().zip(si).zip(&log_p) {
                        joint += qc * (sc + n_rows * lp);
                    }
                }
                (joint + entropy) / rows
            }
            // `log_lik` belongs to the parameters before this M-step: the usual EM bookkeeping,
            // one step behind, which is all a convergence test needs.
            Stop::LogLikelihood => log_lik / rows,
        };
        history.push(new_loss);
        let converged = match stop {
            Stop::SignedElbo => new_loss - loss < options.tol,
            Stop::LogLikelihood => (new_loss - loss).abs() < options.tol,
        };
        if converged {
            break;
        }
        loss = new_loss;
    }
    q.iter_mut().for_each(|v| *v = v.max(EPS));
    EmFit {
        posteriors: q,
        iterations: history.len(),
        model: Some((pairs, e)),
        log_posteriors: log_q,
    }
}

/// Dawid-Skene exactly as crowd-kit 1.4 (`DawidSkene(n_iter, tol)`); `gold` clamps the gold
/// items' posteriors to their label after every E-step, like crowd-kit's `true_labels`.
pub fn dawid_skene(answers: &Answers, gold: Option<&Gold>, options: EmOptions) -> Aggregation {
    let fit = run_em(answers, gold, MStep::Exact, Stop::SignedElbo, options);
    Aggregation::from_posteriors(
        Method::DawidSkene,
        answers.n_labels(),
        fit.posteriors,
        fit.iterations,
    )
}

/// One-coin Dawid-Skene as crowd-kit 1.4 (`OneCoinDawidSkene`): one accuracy per worker, errors
/// spread evenly over the other labels.
pub fn one_coin(answers: &Answers, gold: Option<&Gold>, options: EmOptions) -> Aggregation {
    let fit = run_em(answers, gold, MStep::OneCoin, Stop::SignedElbo, options);
    Aggregation::from_posteriors(
        Method::OneCoin,
        answers.n_labels(),
        fit.posteriors,
        fit.iterations,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two reliable workers and one who always answers the opposite: majority vote follows the
    /// pair, and Dawid-Skene must learn the contrarian's flipped confusion and stay with them.
    #[test]
    fn learns_confusions_and_posteriors_are_distributions() {
        let mut rows = Vec::new();
        let names: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
        for (i, t) in names.iter().enumerate() {
            let truth = if i % 3 == 0 { "a" } else { "b" };
            let flip = if truth == "a" { "b" } else { "a" };
            rows.push((t.as_str(), "good1", truth));
            rows.push((t.as_str(), "good2", if i % 10 == 0 { flip } else { truth }));
            rows.push((t.as_str(), "liar", flip));
        }
        let a = Answers::from_rows(rows.iter().copied());
        let agg = dawid_skene(&a, None, EmOptions::default());
        for (i, t) in names.iter().enumerate() {
            let truth = if i % 3 == 0 { "a" } else { "b" };
            let item = a.item_id(t).unwrap();
            assert_eq!(a.label_name(agg.labels[item as usize]), truth, "{t}");
        }
        assert!(agg.iterations >= 1 && agg.iterations <= 100);
        for row in agg.posteriors.chunks_exact(2) {
            assert!(row.iter().all(|&p| (EPS..=1.0).contains(&p)));
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-6);
        }
        let one = one_coin(&a, None, EmOptions::default());
        assert_eq!(one.labels.len(), a.n_items());
    }

    #[test]
    fn gold_clamps_posteriors() {
        let a = Answers::from_rows([("1", "w1", "a"), ("1", "w2", "a"), ("2", "w1", "b")]);
        let gold = Gold::new(&a, [("1", "b")]);
        let agg = dawid_skene(&a, Some(&gold), EmOptions::default());
        assert_eq!(a.label_name(agg.labels[0]), "b");
        assert_eq!(agg.confidence[0], 1.0);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let empty = Answers::from_rows([]);
        assert!(dawid_skene(&empty, None, EmOptions::default())
            .labels
            .is_empty());
        let single = Answers::from_rows([("1", "w", "x"), ("2", "v", "x")]);
        let agg = one_coin(&single, None, EmOptions::default());
        assert_eq!(agg.labels, vec![0, 0]);
        assert_eq!(agg.confidence, vec![1.0, 1.0]);
    }
}
