//! Enhanced Bayesian classifier combination (EBCC; Li, Rubinstein and Cohn, ICML 2019), by
//! mean-field variational Bayes. Each true class is split into `groups` latent subtypes, and each
//! worker has a confusion row per (class, subtype) with a Dirichlet prior (`a_v` on the diagonal,
//! `b_v` elsewhere): workers who make the same mistakes on the same kind of item are then
//! explained by the subtype instead of counted as independent evidence. With one group it is
//! IBCC (Kim and Ghahramani 2012), a fully Bayesian Dawid-Skene.
//!
//! Being variational, every confusion entry enters as `exp E[ln v]`, which shrinks workers with
//! few answers toward the prior by exactly the amount their evidence does not support — the
//! Bayesian form of the smoothing `smoothed` does by hand. The subtypes start from a seeded
//! split of the majority vote ([`crate::seed`]), so results are reproducible.

use super::answers::{Answers, Gold, GoldLabel};
use super::majority::vote_shares;
use super::{Aggregation, Method};
use crate::seed;

/// The settings of EBCC; the defaults are the paper's code's (10 subtypes, a_π = 0.1,
/// Dirichlet 4 on the diagonal and 1 elsewhere, class prior from the majority vote).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EbccOptions {
    /// Latent subtypes per class (1 = IBCC).
    pub groups: usize,
    /// Concentration of the subtype proportions.
    pub a_pi: f64,
    /// Dirichlet pseudo-count on the diagonal of each confusion row.
    pub a_v: f64,
    /// Dirichlet pseudo-count off the diagonal.
    pub b_v: f64,
    /// Iteration limit; it stops earlier once no posterior moves by more than 1e-3.
    pub max_iter: usize,
    /// Seed of the subtypes' initial split.
    pub seed: u64,
}

impl Default for EbccOptions {
    fn default() -> Self {
        EbccOptions {
            groups: 10,
            a_pi: 0.1,
            a_v: 4.0,
            b_v: 1.0,
            max_iter: 500,
            seed: 1234,
        }
    }
}

/// The digamma function ψ(x) for x > 0: recurrence up to 6, then the asymptotic series
/// (absolute error below 1e-10).
pub(crate) fn digamma(mut x: f64) -> f64 {
    let mut result = 0.0;
    while x < 6.0 {
        result -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    result + x.ln()
        - 0.5 / x
        - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))))
}

/// Runs EBCC (or IBCC with `groups: 1`). `gold` clamps gold items to their label.
pub fn ebcc(answers: &Answers, gold: Option<&Gold>, options: EbccOptions) -> Aggregation {
    let method = if options.groups <= 1 {
        Method::Ibcc
    } else {
        Method::Ebcc
    };
    let k = answers.n_labels();
    let n = answers.n_items();
    let mut z = vote_shares(answers, None);
    if k < 2 || answers.n_rows() == 0 {
        return Aggregation::from_posteriors(method, k, z, 0);
    }
    let g = options.groups.max(1);
    let (workers, labels) = (answers.row_workers(), answers.row_labels());
    let starts = answers.item_starts();
    let gold_label: Vec<Option<usize>> = (0..n as u32)
        .map(|i| match gold.and_then(|gd| gd.get(i)) {
            Some(GoldLabel::Known(l)) => Some(l as usize),
            _ => None,
        })
        .collect();
    for (i, row) in z.chunks_exact_mut(k).enumerate() {
        if let Some(l) = gold_label[i] {
            row.iter_mut().for_each(|v| *v = 0.0);
            row[l] = 1.0;
        }
    }
    // Empirical class prior: the majority vote's class totals.
    let mut alpha = vec![0.0; k];
    for row in z.chunks_exact(k) {
        for (a, v) in alpha.iter_mut().zip(row) {
            *a += v;
        }
    }
    // zg[(i·k + c)·g + m]: Dirichlet(1, …, 1) split of z[i, c] over the subtypes.
    let mut zg = vec![0.0; n * k * g];
    for i in 0..n {
        for c in 0..k {
            let cell = &mut zg[(i * k + c) * g..(i * k + c + 1) * g];
            for (m, v) in cell.iter_mut().enumerate() {
                let u = seed::unit(options.seed, &[i as i64, c as i64, m as i64]);
                *v = -(1.0 - u).ln();
            }
            let total: f64 = cell.iter().sum();
            let share = z[i * k + c];
            cell.iter_mut().for_each(|v| *v *= share / total);
        }
    }
    let rows_per_worker = k * g * k;
    let mut mu = vec![0.0; answers.n_workers() * rows_per_worker];
    let mut log_v = vec![0.0; mu.len()];
    let mut eta = vec![0.0; k * g];
    let mut log_pi = vec![0.0; k * g];
    let mut log_tau = vec![0.0; k];
    let mut last = vec![0.0; n * k];
    let mut iterations = 0;
    for _ in 0..options.max_iter {
        iterations += 1;
        // Variational M-step: Dirichlet posteriors of subtypes, classes and confusions.
        eta.iter_mut().for_each(|v| *v = options.a_pi / g as f64);
        let mut nu = alpha.clone();
        for (i, cells) in zg.chunks_exact(k * g).enumerate() {
            for (e, v) in eta.iter_mut().zip(cells) {
                *e += v;
            }
            for (c, nc) in nu.iter_mut().enumerate() {
                *nc += z[i * k + c];
            }
        }
        for block in mu.chunks_exact_mut(rows_per_worker) {
            for (j, v) in block.iter_mut().enumerate() {
                let (c, l) = (j / (g * k), j % k);
                *v = if c == l { options.a_v } else { options.b_v };
            }
        }
        for i in 0..n {
            let cells = &zg[i * k * g..(i + 1) * k * g];
            for r in starts[i] as usize..starts[i + 1] as usize {
                let base = workers[r] as usize * rows_per_worker + labels[r] as usize;
                for (cm, v) in cells.iter().enumerate() {
                    mu[base + cm * k] += v;
                }
            }
        }
        for c in 0..k {
            let row = &eta[c * g..(c + 1) * g];
            let total = digamma(row.iter().sum());
            for (lp, e) in log_pi[c * g..(c + 1) * g].iter_mut().zip(row) {
                *lp = digamma(*e) - total;
            }
        }
        let nu_total = digamma(nu.iter().sum());
        for (lt, v) in log_tau.iter_mut().zip(&nu) {
            *lt = digamma(*v) - nu_total;
        }
        for (lv, m) in log_v.chunks_exact_mut(k).zip(mu.chunks_exact(k)) {
            let total = digamma(m.iter().sum());
            for (a, b) in lv.iter_mut().zip(m) {
                *a = digamma(*b) - total;
            }
        }
        // Variational E-step over (class, subtype) per item.
        last.copy_from_slice(&z);
        for i in 0..n {
            let cells = &mut zg[i * k * g..(i + 1) * k * g];
            for (cm, v) in cells.iter_mut().enumerate() {
                *v = log_pi[cm] + log_tau[cm / g];
            }
            for r in starts[i] as usize..starts[i + 1] as usize {
                let base = workers[r] as usize * rows_per_worker + labels[r] as usize;
                for (cm, v) in cells.iter_mut().enumerate() {
                    *v += log_v[base + cm * k];
                }
            }
            if let Some(l) = gold_label[i] {
                for (cm, v) in cells.iter_mut().enumerate() {
                    if cm / g != l {
                        *v = f64::NEG_INFINITY;
                    }
                }
            }
            let max = cells.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for v in cells.iter_mut() {
                *v = (*v - max).exp();
                total += *v;
            }
            for (c, zc) in z[i * k..(i + 1) * k].iter_mut().enumerate() {
                let cell = &mut cells[c * g..(c + 1) * g];
                cell.iter_mut().for_each(|v| *v /= total);
                *zc = cell.iter().sum();
            }
        }
        // numpy's allclose(last, z, atol=1e-3), as in the paper's code.
        if z.iter()
            .zip(&last)
            .all(|(a, b)| (a - b).abs() <= 1e-3 + 1e-5 * b.abs())
        {
            break;
        }
    }
    Aggregation::from_posteriors(method, k, z, iterations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_matches_known_values() {
        // ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(10) = H_9 − γ.
        let gamma = 0.577_215_664_901_532_9;
        assert!((digamma(1.0) + gamma).abs() < 1e-9);
        assert!((digamma(0.5) + gamma + 2.0 * 2f64.ln()).abs() < 1e-9);
        let h9: f64 = (1..10).map(|j| 1.0 / j as f64).sum();
        assert!((digamma(10.0) - (h9 - gamma)).abs() < 1e-9);
    }

    #[test]
    fn learns_a_contrarian_and_is_reproducible() {
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
        for groups in [1, 10] {
            let options = EbccOptions {
                groups,
                ..EbccOptions::default()
            };
            let agg = ebcc(&a, None, options);
            for (i, t) in names.iter().enumerate() {
                let truth = if i % 3 == 0 { "a" } else { "b" };
                let item = a.item_id(t).unwrap();
                assert_eq!(a.label_name(agg.labels[item as usize]), truth, "{t}");
            }
            assert_eq!(agg, ebcc(&a, None, options));
        }
    }
}
