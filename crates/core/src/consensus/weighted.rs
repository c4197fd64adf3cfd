//! Skill-weighted majority votes: weights from gold (honeypot) accuracy, crowd-kit's
//! `GoldMajorityVote`, and from agreement with the plain majority, crowd-kit's `Wawa`.

use super::answers::{Answers, Gold, GoldLabel};
use super::majority::{vote_shares, weighted_majority};
use super::{Aggregation, Method};

/// Each worker's accuracy against per-item reference labels (`reference[i]`, `None` = no
/// reference), `None` for workers who answered no referenced item.
///
/// Exact duplicate (item, worker, label) rows count once here, as in crowd-kit's `get_accuracy`,
/// although the vote itself counts them twice.
pub fn accuracy_against(
    answers: &Answers,
    reference: impl Fn(u32) -> Option<GoldLabel>,
) -> Vec<Option<f64>> {
    let mut correct = vec![0u32; answers.n_workers()];
    let mut total = vec![0u32; answers.n_workers()];
    let (workers, labels) = (answers.row_workers(), answers.row_labels());
    let mut seen: Vec<(u32, u32)> = Vec::new();
    for i in 0..answers.n_items() as u32 {
        let Some(truth) = reference(i) else { continue };
        seen.clear();
        seen.extend(answers.item_rows(i).map(|r| (workers[r], labels[r])));
        seen.sort_unstable();
        seen.dedup();
        for &(w, l) in &seen {
            total[w as usize] += 1;
            correct[w as usize] += u32::from(truth == GoldLabel::Known(l));
        }
    }
    correct
        .iter()
        .zip(&total)
        .map(|(&c, &t)| (t > 0).then(|| c as f64 / t as f64))
        .collect()
}

/// Gold-accuracy weights: a worker's share of correct gold answers. Workers with no gold answer
/// get the mean weight of those with one, where crowd-kit would refuse to run: a server task
/// always has newcomers who have not met a honeypot yet. `None` when no worker met a gold item.
pub fn gold_skills(answers: &Answers, gold: &Gold) -> Option<Vec<f64>> {
    let skills = accuracy_against(answers, |i| gold.get(i));
    let known: Vec<f64> = skills.iter().flatten().copied().collect();
    if known.is_empty() {
        return None;
    }
    let mean = known.iter().sum::<f64>() / known.len() as f64;
    Some(skills.into_iter().map(|s| s.unwrap_or(mean)).collect())
}

/// Majority vote weighted by gold accuracy; `None` when no worker answered a gold item.
pub fn gold_weighted(answers: &Answers, gold: &Gold) -> Option<Aggregation> {
    let skills = gold_skills(answers, gold)?;
    Some(weighted_majority(answers, &skills, Method::Weighted))
}

/// Wawa: majority vote weighted by each worker's agreement with the plain majority.
pub fn wawa(answers: &Answers) -> Aggregation {
    let k = answers.n_labels().max(1);
    let shares = vote_shares(answers, None);
    let mv: Vec<u32> = shares.chunks_exact(k).map(super::first_argmax).collect();
    let skills: Vec<f64> = accuracy_against(answers, |i| Some(GoldLabel::Known(mv[i as usize])))
        .into_iter()
        .map(|s| s.unwrap_or(0.0))
        .collect();
    weighted_majority(answers, &skills, Method::Wawa)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gold_accuracy_weights_outvote_a_careless_majority() {
        // w1 is right on both gold items, w2 and w3 are wrong on them; on item q the two careless
        // workers outnumber w1 but weigh less.
        let rows = [
            ("g1", "w1", "a"),
            ("g1", "w2", "b"),
            ("g1", "w3", "b"),
            ("g2", "w1", "b"),
            ("g2", "w2", "a"),
            ("g2", "w3", "b"),
            ("q", "w1", "a"),
            ("q", "w2", "b"),
            ("q", "w3", "b"),
            ("r", "w4", "b"),
        ];
        let a = Answers::from_rows(rows);
        let gold = Gold::new(&a, [("g1", "a"), ("g2", "b")]);
        let skills = gold_skills(&a, &gold).unwrap();
        assert_eq!(&skills[..3], &[1.0, 0.0, 0.5]);
        assert_eq!(skills[3], 0.5, "no gold: the mean of the others");
        let agg = gold_weighted(&a, &gold).unwrap();
        let q = a.item_id("q").unwrap() as usize;
        assert_eq!(a.label_name(agg.labels[q]), "a");
        assert!((agg.confidence[q] - 1.0 / 1.5).abs() < 1e-12);
        assert!(gold_weighted(&a, &Gold::new(&a, [("zz", "a")])).is_none());
    }

    #[test]
    fn wawa_skills_are_agreement_with_majority_ignoring_exact_duplicates() {
        let a = Answers::from_rows([
            ("1", "w1", "a"),
            ("1", "w1", "a"),
            ("1", "w2", "a"),
            ("1", "w3", "b"),
            ("2", "w3", "b"),
            ("2", "w1", "a"),
            ("2", "w2", "b"),
        ]);
        let agg = wawa(&a);
        // MV: item 1 → a, item 2 → b. w1: 1 of 2, w2: 2 of 2, w3: 1 of 2.
        assert_eq!(agg.worker_skill, vec![0.5, 1.0, 0.5]);
        assert_eq!(a.label_name(agg.labels[1]), "b");
    }
}
