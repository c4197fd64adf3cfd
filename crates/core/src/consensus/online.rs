//! What the server decides each time a label arrives: the running majority of an item, whether
//! its result can be approved without a reviewer, and whether to collect another label.
//!
//! These run on every submission, so they work on a handful of counts, not on the answer table.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The majority of an item's labels so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Majority {
    /// The winning consensus key; ties go to the smallest key in sorted order (like crowd-kit).
    pub label: String,
    /// Votes for the winner.
    pub votes: u32,
    /// All votes.
    pub total: u32,
    /// `votes / total`, the confidence the server records.
    pub share: f64,
    /// Whether another key has as many votes.
    pub tied: bool,
}

/// The majority from `(consensus key, count)` pairs in any order; `None` without votes.
pub fn majority_of<'a, I>(counts: I) -> Option<Majority>
where
    I: IntoIterator<Item = (&'a str, u32)>,
{
    let mut best: Option<(&str, u32)> = None;
    let mut total = 0u32;
    let mut tied = false;
    for (key, n) in counts {
        if n == 0 {
            continue;
        }
        total = total.saturating_add(n);
        match best {
            Some((bk, bn)) if n < bn || (n == bn && bk < key) => tied |= n == bn,
            Some((_, bn)) => {
                tied = n == bn;
                best = Some((key, n));
            }
            None => best = Some((key, n)),
        }
    }
    let (label, votes) = best?;
    Some(Majority {
        label: label.to_owned(),
        votes,
        total,
        share: votes as f64 / total as f64,
        tied,
    })
}

/// An item's vote counts, updated one label at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoteTally {
    counts: BTreeMap<String, u32>,
}

impl VoteTally {
    /// An empty tally.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one more label (its consensus key) and returns the majority after it.
    pub fn add(&mut self, key: &str) -> Majority {
        *self.counts.entry(key.to_owned()).or_insert(0) += 1;
        self.majority().expect("a vote was just added")
    }

    /// Takes back a label (e.g. a rejected annotation).
    pub fn remove(&mut self, key: &str) {
        if let Some(n) = self.counts.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(key);
            }
        }
    }

    /// The current majority, `None` before the first vote.
    pub fn majority(&self) -> Option<Majority> {
        majority_of(self.counts.iter().map(|(k, &n)| (k.as_str(), n)))
    }

    /// Votes counted.
    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }
}

/// What to do with a result once its labels are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Confident enough: approve without a reviewer.
    AutoApprove,
    /// Send to a reviewer.
    NeedsReview,
}

/// Auto-approves when `confidence` (a vote share or posterior) reaches `approval_threshold`
/// (0–1). A threshold above 1 never auto-approves, so "always review" is expressible.
pub fn approval(confidence: f64, approval_threshold: f64) -> Approval {
    if confidence >= approval_threshold {
        Approval::AutoApprove
    } else {
        Approval::NeedsReview
    }
}

/// A task's dynamic overlap: collect `base` labels per item, then more, one at a time, while
/// the confidence stays under `confidence_threshold`, up to `max` labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DynamicOverlap {
    /// Confidence (0–1) at which an item needs no more labels.
    pub confidence_threshold: f64,
    /// Labels every item gets.
    pub base: u32,
    /// Labels no item goes beyond.
    pub max: u32,
}

/// The verdict for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum OverlapDecision {
    /// Keep the item open until it has `target` labels.
    Collect {
        /// The overlap to aim for now.
        target: u32,
    },
    /// Stop: the confidence reached the threshold.
    Confident,
    /// Stop: `max` labels are in and it is still uncertain (a reviewer should look).
    Exhausted,
}

impl DynamicOverlap {
    /// Checks the numbers: threshold in 0–1, 1 ≤ base ≤ max.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err("confidence_threshold must be between 0 and 1".into());
        }
        if self.base == 0 || self.base > self.max {
            return Err("overlap needs 1 <= base <= max".into());
        }
        Ok(())
    }

    /// Decides for an item with `collected` labels whose current result has `confidence`.
    /// Below the base overlap nothing is decided early: two agreeing labels out of a planned
    /// five are not yet evidence. After it, each uncertain item asks for exactly one more label.
    pub fn decide(&self, collected: u32, confidence: f64) -> OverlapDecision {
        if collected < self.base {
            OverlapDecision::Collect { target: self.base }
        } else if confidence >= self.confidence_threshold {
            OverlapDecision::Confident
        } else if collected < self.max {
            OverlapDecision::Collect {
                target: collected + 1,
            }
        } else {
            OverlapDecision::Exhausted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn majority_table() {
        let check = |counts: &[(&str, u32)], label: &str, share: f64, tied: bool| {
            let m = majority_of(counts.iter().copied()).unwrap();
            assert_eq!((m.label.as_str(), m.tied), (label, tied), "{counts:?}");
            assert!((m.share - share).abs() < 1e-12);
        };
        check(&[("cat", 2), ("dog", 1)], "cat", 2.0 / 3.0, false);
        check(&[("dog", 2), ("cat", 2)], "cat", 0.5, true);
        check(&[("cat", 2), ("dog", 2)], "cat", 0.5, true);
        check(&[("b", 1), ("a", 1), ("c", 3)], "c", 0.6, false);
        check(&[("c", 3), ("b", 1), ("a", 1)], "c", 0.6, false);
        check(&[("10", 1), ("9", 1)], "10", 0.5, true);
        assert_eq!(majority_of([("x", 0)]), None);
    }

    #[test]
    fn tally_tracks_additions_and_removals() {
        let mut t = VoteTally::new();
        assert_eq!(t.add("dog").label, "dog");
        assert_eq!(t.add("cat").label, "cat", "tie → smallest key");
        let m = t.add("dog");
        assert_eq!((m.label.as_str(), m.votes, m.total), ("dog", 2, 3));
        t.remove("dog");
        t.remove("dog");
        assert_eq!(t.majority().unwrap().label, "cat");
        assert_eq!(t.total(), 1);
    }

    #[test]
    fn approval_and_dynamic_overlap_table() {
        assert_eq!(approval(0.8, 0.8), Approval::AutoApprove);
        assert_eq!(approval(0.79, 0.8), Approval::NeedsReview);
        assert_eq!(approval(1.0, 1.01), Approval::NeedsReview);
        let p = DynamicOverlap {
            confidence_threshold: 0.7,
            base: 3,
            max: 5,
        };
        use OverlapDecision::*;
        for (collected, conf, expected) in [
            (0, 0.0, Collect { target: 3 }),
            (2, 1.0, Collect { target: 3 }),
            (3, 0.67, Collect { target: 4 }),
            (3, 1.0, Confident),
            (4, 0.75, Confident),
            (4, 0.5, Collect { target: 5 }),
            (5, 0.6, Exhausted),
            (6, 0.6, Exhausted),
        ] {
            assert_eq!(p.decide(collected, conf), expected, "{collected} {conf}");
        }
        assert!(p.validate().is_ok());
        assert!(DynamicOverlap { base: 6, ..p }.validate().is_err());
    }

    proptest! {
        #[test]
        fn majority_ignores_order_and_share_is_a_probability(
            mut counts in prop::collection::vec((0u8..6, 1u32..9), 1..8)
        ) {
            counts.sort();
            counts.dedup_by_key(|c| c.0);
            let named: Vec<(String, u32)> = counts.iter().map(|(k, n)| (format!("k{k}"), *n)).collect();
            let forward = majority_of(named.iter().map(|(k, n)| (k.as_str(), *n))).unwrap();
            let backward = majority_of(named.iter().rev().map(|(k, n)| (k.as_str(), *n))).unwrap();
            prop_assert_eq!(&forward, &backward);
            prop_assert!(forward.share > 0.0 && forward.share <= 1.0);
        }
    }
}
