//! Majority vote, plain or weighted by per-worker skills (crowd-kit `MajorityVote`).
//!
//! Every row is a vote, so a duplicated (item, worker) row counts twice, as in crowd-kit. The
//! confidence is the winner's vote share; ties go to the smallest label in sorted order.

use super::answers::Answers;
use super::{Aggregation, Method};

/// Vote shares per item (`n_items × n_labels`, row-major). With `skills`, each row weighs its
/// worker's skill. An item whose voters all weigh 0 falls back to plain counts, because a share
/// of 0/0 says nothing and crowd-kit would produce NaN there.
pub(crate) fn vote_shares(answers: &Answers, skills: Option<&[f64]>) -> Vec<f64> {
    let k = answers.n_labels();
    let mut shares = vec![0.0; answers.n_items() * k];
    let workers = answers.row_workers();
    let labels = answers.row_labels();
    for (i, row) in shares.chunks_exact_mut(k.max(1)).enumerate() {
        let rows = answers.item_rows(i as u32);
        let mut total = 0.0;
        if let Some(skills) = skills {
            for r in rows.clone() {
                let s = skills[workers[r] as usize];
                row[labels[r] as usize] += s;
                total += s;
            }
        }
        if total <= 0.0 {
            row.iter_mut().for_each(|v| *v = 0.0);
            for r in rows.clone() {
                row[labels[r] as usize] += 1.0;
            }
            total = rows.len() as f64;
        }
        if total > 0.0 {
            row.iter_mut().for_each(|v| *v /= total);
        }
    }
    shares
}

/// Plain majority vote.
pub fn majority(answers: &Answers) -> Aggregation {
    Aggregation::from_posteriors(
        Method::Majority,
        answers.n_labels(),
        vote_shares(answers, None),
        0,
    )
}

/// Majority vote weighted by `skills` (one weight per worker index).
pub fn weighted_majority(answers: &Answers, skills: &[f64], method: Method) -> Aggregation {
    let mut agg = Aggregation::from_posteriors(
        method,
        answers.n_labels(),
        vote_shares(answers, Some(skills)),
        0,
    );
    agg.worker_skill = skills.to_vec();
    agg
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(rows: &[(&str, &str, &str)], expected: &[(&str, &str, f64)]) {
        let a = Answers::from_rows(rows.iter().copied());
        let agg = majority(&a);
        for &(item, label, conf) in expected {
            let i = a.item_id(item).unwrap();
            assert_eq!(a.label_name(agg.labels[i as usize]), label, "item {item}");
            assert!(
                (agg.confidence[i as usize] - conf).abs() < 1e-12,
                "item {item}"
            );
        }
    }

    #[test]
    fn majority_table() {
        check(&[("1", "a", "x")], &[("1", "x", 1.0)]);
        check(
            &[("1", "a", "x"), ("1", "b", "y"), ("1", "c", "y")],
            &[("1", "y", 2.0 / 3.0)],
        );
        // Ties go to the smallest label as a string: "10" < "9".
        check(&[("1", "a", "9"), ("1", "b", "10")], &[("1", "10", 0.5)]);
        // Duplicate rows are two votes.
        check(
            &[("1", "a", "x"), ("1", "a", "x"), ("1", "b", "y")],
            &[("1", "x", 2.0 / 3.0)],
        );
    }

    #[test]
    fn weights_change_the_winner_and_zero_weights_fall_back() {
        let a = Answers::from_rows([("1", "a", "x"), ("1", "b", "y"), ("1", "c", "y")]);
        let skills = [0.9, 0.2, 0.3];
        let agg = weighted_majority(&a, &skills, Method::Weighted);
        assert_eq!(a.label_name(agg.labels[0]), "x");
        assert!((agg.confidence[0] - 0.9 / 1.4).abs() < 1e-12);
        let agg = weighted_majority(&a, &[0.0; 3], Method::Weighted);
        assert_eq!(a.label_name(agg.labels[0]), "y");
    }

    fn rows_strategy() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
        prop::collection::vec((0u8..6, 0u8..5, 0u8..4), 1..60)
    }

    proptest! {
        #[test]
        fn majority_ignores_row_order(rows in rows_strategy(), seed in any::<u64>()) {
            let names: Vec<(String, String, String)> = rows
                .iter()
                .map(|(i, w, l)| (format!("i{i}"), format!("w{w}"), format!("l{l}")))
                .collect();
            let a = Answers::from_rows(names.iter().map(|(i, w, l)| (i.as_str(), w.as_str(), l.as_str())));
            let mut shuffled = names.clone();
            let n = shuffled.len();
            for j in (1..n).rev() {
                let s = (crate::seed::hash(seed, &[j as i64]) % (j as u64 + 1)) as usize;
                shuffled.swap(j, s);
            }
            let b = Answers::from_rows(shuffled.iter().map(|(i, w, l)| (i.as_str(), w.as_str(), l.as_str())));
            let (ma, mb) = (majority(&a), majority(&b));
            for i in 0..a.n_items() as u32 {
                let j = b.item_id(a.item_name(i)).unwrap();
                prop_assert_eq!(a.label_name(ma.labels[i as usize]), b.label_name(mb.labels[j as usize]));
                prop_assert!((ma.confidence[i as usize] - mb.confidence[j as usize]).abs() < 1e-12);
                prop_assert!((0.0..=1.0).contains(&ma.confidence[i as usize]));
            }
        }
    }
}
