//! Bayesian weighted average (BWA; Li, Rubinstein and Cohn, "Truth inference at scale", WWW
//! 2019): each class is a one-vs-rest problem in which an item's truth is a number z in [0, 1],
//! each answer is z plus Gaussian noise of a per-worker precision v, and z has a Gaussian prior
//! around the class's mean. The posterior mean of z is then a precision-weighted average of the
//! answers, and each precision has a Gamma(a, b) prior whose rate b is set from the data (the
//! answers' spread around the majority vote), so the prior means the same on any dataset.
//!
//! One number per worker and class, instead of a whole confusion matrix, is what makes it hard to
//! over-fit when items have many answers; the Gamma prior (worth `a_v` answers) keeps workers
//! with few answers close to the crowd's average.

use super::answers::{Answers, Gold, GoldLabel};
use super::majority::vote_shares;
use super::{Aggregation, Method};

/// The settings of BWA; [`BwaOptions::default`] is the paper's (a = 15, λ = 1, prior correction
/// on), used unchanged everywhere.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BwaOptions {
    /// Shape of the Gamma prior on worker precisions, in answers' worth.
    pub a_v: f64,
    /// Weight of the class-mean prior on each item, in answers' worth of unit precision.
    pub lambda: f64,
    /// Iteration limit; it stops earlier once every z moves by less than 0.1 % (relative).
    pub max_iter: usize,
}

impl Default for BwaOptions {
    fn default() -> Self {
        BwaOptions {
            a_v: 15.0,
            lambda: 1.0,
            max_iter: 500,
        }
    }
}

/// Runs BWA. `gold` clamps gold items' z to their label on every pass.
pub fn bwa(answers: &Answers, gold: Option<&Gold>, options: BwaOptions) -> Aggregation {
    let k = answers.n_labels();
    let n = answers.n_items();
    let shares = vote_shares(answers, None);
    if k < 2 || answers.n_rows() == 0 {
        return Aggregation::from_posteriors(Method::Bwa, k, shares, 0);
    }
    let (workers, labels) = (answers.row_workers(), answers.row_labels());
    let starts = answers.item_starts();
    let mut per_worker = vec![0.0; answers.n_workers()];
    for &w in workers {
        per_worker[w as usize] += 1.0;
    }
    let gold_label: Vec<Option<u32>> = (0..n as u32)
        .map(|i| match gold.and_then(|g| g.get(i)) {
            Some(GoldLabel::Known(l)) => Some(l),
            _ => None,
        })
        .collect();
    // The paper's prior correction: a one-hot answer's variance around a uniform truth is
    // 1 − 1/K per class, against 1/4 for a binary answer.
    let adjust = 4.0 * (1.0 - 1.0 / k as f64);
    let rows = answers.n_rows() as f64;
    let mut out = vec![0.0; n * k];
    let mut iterations = 0;
    let mut z = vec![0.0; n];
    let mut last = vec![0.0; n];
    let mut v = vec![0.0; answers.n_workers()];
    let mut sq = vec![0.0; answers.n_workers()];
    for class in 0..k as u32 {
        for (i, zi) in z.iter_mut().enumerate() {
            *zi = match gold_label[i] {
                Some(l) => f64::from(u8::from(l == class)),
                None => shares[i * k + class as usize],
            };
        }
        let spread: f64 = z
            .iter()
            .enumerate()
            .map(|(i, zi)| (starts[i + 1] - starts[i]) as f64 * zi * (1.0 - zi))
            .sum();
        // A floor keeps the rate positive when every item is unanimous.
        let b_v = (options.a_v * spread / rows * adjust).max(1e-6);
        for it in 0..options.max_iter {
            last.copy_from_slice(&z);
            let mu = z.iter().sum::<f64>() / n as f64;
            sq.iter_mut().for_each(|s| *s = 0.0);
            for (i, zi) in z.iter().enumerate() {
                for r in starts[i] as usize..starts[i + 1] as usize {
                    let y = f64::from(u8::from(labels[r] == class));
                    sq[workers[r] as usize] += (zi - y) * (zi - y);
                }
            }
            for ((vw, nw), s) in v.iter_mut().zip(&per_worker).zip(&sq) {
                *vw = (options.a_v + nw) / (b_v + s);
            }
            for (i, zi) in z.iter_mut().enumerate() {
                if gold_label[i].is_some() {
                    continue;
                }
                let (mut num, mut den) = (options.lambda * mu, options.lambda);
                for r in starts[i] as usize..starts[i + 1] as usize {
                    let vw = v[workers[r] as usize];
                    den += vw;
                    if labels[r] == class {
                        num += vw;
                    }
                }
                *zi = num / den;
            }
            iterations = iterations.max(it + 1);
            // numpy's allclose(last, z, rtol=1e-3), as in the paper's code.
            if z.iter()
                .zip(&last)
                .all(|(a, b)| (a - b).abs() <= 1e-8 + 1e-3 * a.abs())
            {
                break;
            }
        }
        for (i, zi) in z.iter().enumerate() {
            out[i * k + class as usize] = zi.max(0.0);
        }
    }
    // The classes were fitted apart, so their z need not sum to 1 exactly.
    for row in out.chunks_exact_mut(k) {
        let total: f64 = row.iter().sum();
        if total > 0.0 {
            row.iter_mut().for_each(|v| *v /= total);
        } else {
            row.iter_mut().for_each(|v| *v = 1.0 / k as f64);
        }
    }
    Aggregation::from_posteriors(Method::Bwa, k, out, iterations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reliable_pair_outweighs_a_noisy_trio() {
        // r1 and r2 always agree with the truth; n1..n3 answer at random-ish. On item q the two
        // reliable workers face the three noisy ones, and BWA must side with the pair.
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for i in 0..30 {
            let truth = if i % 2 == 0 { "a" } else { "b" };
            let other = if truth == "a" { "b" } else { "a" };
            for w in ["r1", "r2"] {
                rows.push((format!("t{i}"), w.into(), truth.into()));
            }
            for (j, w) in ["n1", "n2", "n3"].iter().enumerate() {
                let l = if (i + j) % 3 == 0 { truth } else { other };
                rows.push((format!("t{i}"), (*w).into(), l.into()));
            }
        }
        for w in ["r1", "r2"] {
            rows.push(("q".into(), w.into(), "a".into()));
        }
        for w in ["n1", "n2", "n3"] {
            rows.push(("q".into(), w.into(), "b".into()));
        }
        let a = Answers::from_rows(
            rows.iter()
                .map(|(i, w, l)| (i.as_str(), w.as_str(), l.as_str())),
        );
        let agg = bwa(&a, None, BwaOptions::default());
        let q = a.item_id("q").unwrap() as usize;
        assert_eq!(a.label_name(agg.labels[q]), "a");
        for row in agg.posteriors.chunks_exact(2) {
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }
}
