//! Review routing: when an item's labels become an approved result and when a person looks.

use crate::ids::{ItemId, WorkerId};
use crate::seed;
use crate::strategy::ReviewStrategy;
use serde::{Deserialize, Serialize};

/// The state of an item's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultState {
    /// Still collecting labels.
    Pending,
    /// Approved without a reviewer.
    AutoApproved,
    /// Waiting for a reviewer.
    NeedsReview,
    /// A reviewer approved it.
    Approved,
    /// A reviewer rejected it; the work went back.
    Rejected,
}

impl ResultState {
    /// Every state, in the order an item usually passes them.
    pub const ALL: [ResultState; 5] = [
        ResultState::Pending,
        ResultState::AutoApproved,
        ResultState::NeedsReview,
        ResultState::Approved,
        ResultState::Rejected,
    ];

    /// The state's name, as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultState::Pending => "pending",
            ResultState::AutoApproved => "auto_approved",
            ResultState::NeedsReview => "needs_review",
            ResultState::Approved => "approved",
            ResultState::Rejected => "rejected",
        }
    }

    /// The state named `name`; anything else is an error naming it.
    pub fn parse(name: &str) -> Result<ResultState, String> {
        ResultState::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| format!("unknown result state {name:?}"))
    }

    /// Whether the result is final for task completion.
    pub fn is_approved(self) -> bool {
        matches!(self, ResultState::AutoApproved | ResultState::Approved)
    }
}

/// Whether the manual-review sample includes `item` (deterministic from the task seed).
pub fn in_review_sample(seed: u64, item: ItemId, sample_percentage: f64) -> bool {
    seed::unit(seed, &[item.0, 0x5245_5649]) * 100.0 < sample_percentage
}

/// Routes an item given its labels so far.
///
/// `top_votes` is the count of the most common identical label, `collected` the labels that
/// count, `overlap` the labels wanted.
pub fn route(
    strategy: &ReviewStrategy,
    seed: u64,
    item: ItemId,
    top_votes: u32,
    collected: u32,
    overlap: u32,
) -> ResultState {
    let complete = collected >= overlap;
    match *strategy {
        ReviewStrategy::None if complete => ResultState::AutoApproved,
        ReviewStrategy::Manual { sample_percentage } if complete => {
            if in_review_sample(seed, item, sample_percentage) {
                ResultState::NeedsReview
            } else {
                ResultState::AutoApproved
            }
        }
        ReviewStrategy::Consensus { approval_threshold } => {
            if top_votes >= approval_threshold.max(1) {
                ResultState::AutoApproved
            } else if complete {
                ResultState::NeedsReview
            } else {
                ResultState::Pending
            }
        }
        _ => ResultState::Pending,
    }
}

/// Where a rejected item's rework goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Rework {
    /// Back to the annotator who labeled it.
    Annotator {
        /// That annotator.
        worker: WorkerId,
    },
    /// Back to the queue, for anyone (the annotator left the task).
    Queue,
}

/// Routes a rejection: each of `annotators` still on the task gets the item back; the others'
/// seats return to the queue.
pub fn rework_after_reject(annotators: &[WorkerId], still_assigned: &[WorkerId]) -> Vec<Rework> {
    annotators
        .iter()
        .map(|&worker| {
            if still_assigned.contains(&worker) {
                Rework::Annotator { worker }
            } else {
                Rework::Queue
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_states_round_trip_by_name_and_match_serde() {
        for s in ResultState::ALL {
            assert_eq!(ResultState::parse(s.as_str()), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(ResultState::parse("done").is_err());
    }

    #[test]
    fn no_review_approves_once_complete() {
        let s = ReviewStrategy::None;
        assert_eq!(route(&s, 0, ItemId(1), 1, 1, 2), ResultState::Pending);
        assert_eq!(route(&s, 0, ItemId(1), 1, 2, 2), ResultState::AutoApproved);
    }

    #[test]
    fn consensus_approves_at_threshold_and_escalates_disagreement() {
        let s = ReviewStrategy::Consensus {
            approval_threshold: 2,
        };
        assert_eq!(route(&s, 0, ItemId(1), 1, 1, 3), ResultState::Pending);
        assert_eq!(route(&s, 0, ItemId(1), 2, 2, 3), ResultState::AutoApproved);
        assert_eq!(route(&s, 0, ItemId(1), 1, 3, 3), ResultState::NeedsReview);
    }

    #[test]
    fn manual_sample_is_deterministic_and_near_its_percentage() {
        let s = ReviewStrategy::Manual {
            sample_percentage: 25.0,
        };
        let reviewed = (0..10_000)
            .filter(|&i| route(&s, 11, ItemId(i), 1, 1, 1) == ResultState::NeedsReview)
            .count();
        assert!((2300..2700).contains(&reviewed), "{reviewed}");
        for i in 0..100 {
            assert_eq!(
                in_review_sample(11, ItemId(i), 25.0),
                in_review_sample(11, ItemId(i), 25.0)
            );
        }
        assert!(!in_review_sample(11, ItemId(3), 0.0));
        assert!(in_review_sample(11, ItemId(3), 100.0));
    }

    #[test]
    fn rejection_returns_work_to_its_annotator_or_the_queue() {
        let r = rework_after_reject(&[WorkerId(1), WorkerId(2)], &[WorkerId(2)]);
        assert_eq!(
            r,
            vec![
                Rework::Queue,
                Rework::Annotator {
                    worker: WorkerId(2)
                }
            ]
        );
    }
}
