//! Inter-annotator agreement on nominal labels: Fleiss' κ, Krippendorff's α and Cohen's κ.
//!
//! Formulas as in `DEFINITIONS.md`: Fleiss as statsmodels' `fleiss_kappa` (every item must have
//! the same number of answers), α as nltk's `AnnotationTask.alpha` (which crowd-kit wraps: each
//! row is one value, duplicates count, units with fewer than two values are dropped), Cohen as
//! scikit-learn's `cohen_kappa_score` over the items both workers answered.

use super::answers::Answers;
use std::fmt;

/// Why Fleiss' κ cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleissError {
    /// Fleiss' κ needs the same number of answers on every item.
    UnequalRaters {
        /// Fewest answers on an item.
        min: usize,
        /// Most answers on an item.
        max: usize,
        /// An item with the fewest answers.
        item: String,
    },
    /// Every item needs at least two answers.
    TooFewRaters,
    /// No items, or a single label overall (κ is 0/0).
    Undefined,
}

impl fmt::Display for FleissError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleissError::UnequalRaters { min, max, item } => write!(
                f,
                "Fleiss' kappa needs the same number of answers on every item, but items have \
                 {min} to {max} (item {item:?} has {min}); use krippendorff instead"
            ),
            FleissError::TooFewRaters => {
                f.write_str("Fleiss' kappa needs at least two answers per item")
            }
            FleissError::Undefined => {
                f.write_str("Fleiss' kappa is undefined: no items, or only one label is used")
            }
        }
    }
}

impl std::error::Error for FleissError {}

fn label_counts(answers: &Answers, i: u32, counts: &mut [u32]) -> usize {
    counts.iter_mut().for_each(|c| *c = 0);
    let rows = answers.item_rows(i);
    for r in rows.clone() {
        counts[answers.row_labels()[r] as usize] += 1;
    }
    rows.len()
}

/// Fleiss' κ over all items (rows count as raters, duplicates included).
pub fn fleiss_kappa(answers: &Answers) -> Result<f64, FleissError> {
    let n_items = answers.n_items();
    if n_items == 0 {
        return Err(FleissError::Undefined);
    }
    let sizes = (0..n_items as u32).map(|i| answers.item_rows(i).len());
    let (min, max) = (sizes.clone().min().unwrap_or(0), sizes.max().unwrap_or(0));
    if min != max {
        let item = (0..n_items as u32)
            .find(|&i| answers.item_rows(i).len() == min)
            .map(|i| answers.item_name(i).to_owned())
            .unwrap_or_default();
        return Err(FleissError::UnequalRaters { min, max, item });
    }
    if min < 2 {
        return Err(FleissError::TooFewRaters);
    }
    let n = min as f64;
    let k = answers.n_labels();
    let mut counts = vec![0u32; k];
    let mut p_j = vec![0.0; k];
    let mut p_bar = 0.0;
    for i in 0..n_items as u32 {
        label_counts(answers, i, &mut counts);
        let mut sq = 0.0;
        for (p, &c) in p_j.iter_mut().zip(&counts) {
            *p += c as f64;
            sq += (c as f64) * (c as f64);
        }
        p_bar += (sq - n) / (n * (n - 1.0));
    }
    p_bar /= n_items as f64;
    let p_e: f64 = p_j
        .iter()
        .map(|c| {
            let p = c / (n_items as f64 * n);
            p * p
        })
        .sum();
    if (1.0 - p_e).abs() < f64::EPSILON {
        return Err(FleissError::Undefined);
    }
    Ok((p_bar - p_e) / (1.0 - p_e))
}

/// Krippendorff's α for nominal data, as nltk computes it. Returns 1 when only one label occurs
/// in the whole table, and `None` when no item has two values or the expected disagreement is 0.
pub fn krippendorff_alpha(answers: &Answers) -> Option<f64> {
    if answers.n_labels() == 1 {
        return Some(1.0);
    }
    let k = answers.n_labels();
    let mut counts = vec![0u32; k];
    let mut n_c = vec![0.0; k];
    let mut observed = 0.0;
    let mut n = 0.0;
    for i in 0..answers.n_items() as u32 {
        let n_u = label_counts(answers, i, &mut counts);
        if n_u < 2 {
            continue;
        }
        let n_u = n_u as f64;
        let mut sq = 0.0;
        for (t, &c) in n_c.iter_mut().zip(&counts) {
            *t += c as f64;
            sq += (c as f64) * (c as f64);
        }
        observed += (n_u * n_u - sq) / (n_u - 1.0);
        n += n_u;
    }
    if n < 2.0 {
        return None;
    }
    let d_o = observed / n;
    let d_e = (n * n - n_c.iter().map(|c| c * c).sum::<f64>()) / (n * (n - 1.0));
    (d_e > 0.0).then(|| 1.0 - d_o / d_e)
}

/// Cohen's κ between two workers over the items both answered.
#[derive(Debug, Clone, PartialEq)]
pub struct PairAgreement {
    /// One worker (the name that sorts first).
    pub a: u32,
    /// The other worker.
    pub b: u32,
    /// Items both answered.
    pub shared: usize,
    /// Cohen's κ; 1 when both gave one and the same label throughout (scikit-learn says NaN).
    pub kappa: f64,
}

/// Each worker's (item, label) answers, sorted by item; a repeated (worker, item) keeps its last
/// row, since Cohen's κ compares one answer per rater.
fn per_worker(answers: &Answers) -> Vec<Vec<(u32, u32)>> {
    let mut lists = vec![Vec::new(); answers.n_workers()];
    for r in 0..answers.n_rows() {
        let (i, w, l) = (
            answers.row_items()[r],
            answers.row_workers()[r],
            answers.row_labels()[r],
        );
        let list: &mut Vec<(u32, u32)> = &mut lists[w as usize];
        match list.last_mut() {
            Some(last) if last.0 == i => last.1 = l,
            _ => list.push((i, l)),
        }
    }
    lists
}

fn kappa_of(answers: &Answers, x: &[(u32, u32)], y: &[(u32, u32)]) -> (usize, f64) {
    let k = answers.n_labels();
    let (mut pa, mut pb) = (vec![0.0; k], vec![0.0; k]);
    let (mut agree, mut shared) = (0usize, 0usize);
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        match x[i].0.cmp(&y[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                pa[x[i].1 as usize] += 1.0;
                pb[y[j].1 as usize] += 1.0;
                agree += usize::from(x[i].1 == y[j].1);
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    if shared == 0 {
        return (0, f64::NAN);
    }
    let s = shared as f64;
    let p_o = agree as f64 / s;
    let p_e: f64 = pa.iter().zip(&pb).map(|(a, b)| a / s * b / s).sum();
    let kappa = if (1.0 - p_e).abs() < 1e-15 {
        1.0
    } else {
        (p_o - p_e) / (1.0 - p_e)
    };
    (shared, kappa)
}

fn ordered(answers: &Answers, a: u32, b: u32) -> (u32, u32) {
    if answers.worker_name(a) <= answers.worker_name(b) {
        (a, b)
    } else {
        (b, a)
    }
}

/// Cohen's κ between workers `a` and `b`; `None` when they share no item.
pub fn cohen_kappa(answers: &Answers, a: u32, b: u32) -> Option<PairAgreement> {
    let lists = per_worker(answers);
    let (shared, kappa) = kappa_of(answers, &lists[a as usize], &lists[b as usize]);
    let (a, b) = ordered(answers, a, b);
    (shared > 0).then_some(PairAgreement {
        a,
        b,
        shared,
        kappa,
    })
}

/// How many items each pair of workers shares: `(a, b, shared)` with `a < b` as indices.
fn shared_counts(answers: &Answers) -> Vec<(u32, u32, usize)> {
    let w = answers.n_workers() as u64;
    let mut keys = Vec::new();
    let mut workers = Vec::new();
    for i in 0..answers.n_items() as u32 {
        workers.clear();
        workers.extend(answers.item_rows(i).map(|r| answers.row_workers()[r]));
        workers.sort_unstable();
        workers.dedup();
        for (x, &a) in workers.iter().enumerate() {
            for &b in &workers[x + 1..] {
                keys.push(a as u64 * w + b as u64);
            }
        }
    }
    keys.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    while start < keys.len() {
        let mut end = start;
        while end < keys.len() && keys[end] == keys[start] {
            end += 1;
        }
        out.push((
            (keys[start] / w) as u32,
            (keys[start] % w) as u32,
            end - start,
        ));
        start = end;
    }
    out
}

/// The pair of workers sharing the most items, with Cohen's κ. Among equally shared pairs the
/// one whose (first, second) names sort last wins: that is the pair `REFERENCE_RESULTS.md` reports
/// on `d_duck`, where every pair shares all 108 items.
pub fn most_shared_pair(answers: &Answers) -> Option<PairAgreement> {
    let best = shared_counts(answers).into_iter().max_by(|x, y| {
        let (xa, xb) = ordered(answers, x.0, x.1);
        let (ya, yb) = ordered(answers, y.0, y.1);
        x.2.cmp(&y.2).then_with(|| {
            (answers.worker_name(xa), answers.worker_name(xb))
                .cmp(&(answers.worker_name(ya), answers.worker_name(yb)))
        })
    })?;
    cohen_kappa(answers, best.0, best.1)
}

/// Cohen's κ for every pair of workers sharing at least `min_shared` items, most shared first.
pub fn pairwise_cohen(answers: &Answers, min_shared: usize) -> Vec<PairAgreement> {
    let lists = per_worker(answers);
    let mut out: Vec<PairAgreement> = shared_counts(answers)
        .into_iter()
        .filter(|&(_, _, n)| n >= min_shared.max(1))
        .map(|(a, b, _)| {
            let (shared, kappa) = kappa_of(answers, &lists[a as usize], &lists[b as usize]);
            let (a, b) = ordered(answers, a, b);
            PairAgreement {
                a,
                b,
                shared,
                kappa,
            }
        })
        .collect();
    out.sort_by(|x, y| {
        y.shared
            .cmp(&x.shared)
            .then(x.a.cmp(&y.a))
            .then(x.b.cmp(&y.b))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(rows: &[(&str, &str, &str)]) -> Answers {
        Answers::from_rows(rows.iter().copied())
    }

    #[test]
    fn fleiss_matches_hand_computation() {
        // Two items, three raters: [a,a,a] and [a,b,b].
        // P_1 = 1, P_2 = (1 + 4 − 3) / 6 = 1/3; p_a = 4/6, p_b = 2/6; P_e = 20/36.
        let a = table(&[
            ("1", "x", "a"),
            ("1", "y", "a"),
            ("1", "z", "a"),
            ("2", "x", "a"),
            ("2", "y", "b"),
            ("2", "z", "b"),
        ]);
        let expected = (2.0 / 3.0 - 20.0 / 36.0) / (1.0 - 20.0 / 36.0);
        assert!((fleiss_kappa(&a).unwrap() - expected).abs() < 1e-12);
        let ragged = table(&[("1", "x", "a"), ("1", "y", "a"), ("2", "x", "b")]);
        let e = fleiss_kappa(&ragged).unwrap_err();
        assert!(matches!(
            e,
            FleissError::UnequalRaters { min: 1, max: 2, .. }
        ));
        assert!(e.to_string().contains("same number of answers"));
    }

    #[test]
    fn krippendorff_matches_hand_computation_and_degenerate_cases() {
        // Units [a,a], [a,b]; the singleton unit [b] is dropped.
        // D_o = (0 + (4 − 2)/1) / 4 = 0.5; n_a = 3, n_b = 1: D_e = (16 − 10) / 12 = 0.5.
        let a = table(&[
            ("1", "x", "a"),
            ("1", "y", "a"),
            ("2", "x", "a"),
            ("2", "y", "b"),
            ("3", "x", "b"),
        ]);
        assert!((krippendorff_alpha(&a).unwrap() - 0.0).abs() < 1e-12);
        assert_eq!(krippendorff_alpha(&table(&[("1", "x", "a")])), Some(1.0));
        assert_eq!(
            krippendorff_alpha(&table(&[("1", "x", "a"), ("2", "x", "b")])),
            None
        );
    }

    #[test]
    fn cohen_matches_hand_computation() {
        // x: a a b b, y: a b b b → p_o = 3/4, p_e = (1/2·1/4 + 1/2·3/4) = 1/2, κ = 0.5.
        let rows: Vec<(String, &str, &str)> = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]
            .iter()
            .enumerate()
            .flat_map(|(i, &(x, y))| [(i.to_string(), "x", x), (i.to_string(), "y", y)])
            .collect();
        let a = Answers::from_rows(rows.iter().map(|(i, w, l)| (i.as_str(), *w, *l)));
        let pair = most_shared_pair(&a).unwrap();
        assert_eq!((pair.shared, a.worker_name(pair.a)), (4, "x"));
        assert!((pair.kappa - 0.5).abs() < 1e-12);
        assert_eq!(pairwise_cohen(&a, 5), vec![]);
        assert_eq!(pairwise_cohen(&a, 1).len(), 1);
    }

    proptest! {
        #[test]
        fn identical_raters_agree_perfectly(labels in prop::collection::vec(0u8..4, 1..40)) {
            let rows: Vec<(String, String)> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i.to_string(), l.to_string()))
                .collect();
            let a = Answers::from_rows(
                rows.iter().flat_map(|(i, l)| [(i.as_str(), "x", l.as_str()), (i.as_str(), "y", l.as_str())]),
            );
            let pair = most_shared_pair(&a).unwrap();
            prop_assert!((pair.kappa - 1.0).abs() < 1e-12);
            prop_assert_eq!(krippendorff_alpha(&a), Some(1.0));
            if a.n_labels() > 1 {
                prop_assert!((fleiss_kappa(&a).unwrap() - 1.0).abs() < 1e-12);
            }
        }
    }
}
