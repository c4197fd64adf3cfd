//! Worker and review strategies: how a task hands out items and how results get approved.

use crate::ids::{Overlap, WorkerId};
use serde::{Deserialize, Serialize};

/// The default number of items in a pulled batch.
pub const DEFAULT_BATCH_SIZE: u32 = 10;
/// The largest batch a worker may pull at once.
pub const MAX_BATCH_SIZE: u32 = 1000;

fn default_batch_size() -> u32 {
    DEFAULT_BATCH_SIZE
}

/// How items reach workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WorkerStrategy {
    /// Workers pull batches on demand (Clarifai DYNAMIC, Dataloop pulling).
    Pull {
        /// Items per batch.
        #[serde(default = "default_batch_size")]
        batch_size: u32,
        /// The most items one worker may hold unfinished at once (none: no limit).
        #[serde(default)]
        max_batch_workload: Option<u32>,
        /// Distinct workers per item.
        #[serde(default)]
        workers_per_input: Overlap,
    },
    /// Items are split evenly among the named assignees when the task is created, one each.
    Distribution,
    /// Items are split among the assignees, each item to `workers_per_input` of them.
    Partitioned {
        /// Even or weighted shares.
        partition: Partition,
        /// Distinct workers per item.
        workers_per_input: Overlap,
    },
    /// Every assignee labels every item.
    Full,
}

impl WorkerStrategy {
    /// The overlap (distinct workers per item) under this strategy with `assignees` assignees.
    pub fn overlap(&self, assignees: usize) -> Overlap {
        match self {
            WorkerStrategy::Pull {
                workers_per_input, ..
            }
            | WorkerStrategy::Partitioned {
                workers_per_input, ..
            } => *workers_per_input,
            WorkerStrategy::Distribution => Overlap::ONE,
            WorkerStrategy::Full => {
                Overlap::new(assignees.clamp(1, Overlap::MAX as usize) as u32).unwrap_or_default()
            }
        }
    }

    /// True when items are assigned up front (a plan), false when workers pull.
    pub fn is_planned(&self) -> bool {
        !matches!(self, WorkerStrategy::Pull { .. })
    }
}

/// How a partitioned task shares items among its assignees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Partition {
    /// Equal shares.
    Evenly,
    /// Shares proportional to the weights (they need not sum to 100: [9,1] ≡ [90,10]).
    Weighted {
        /// One weight per assignee.
        weights: Vec<WorkerWeight>,
    },
}

/// A worker's weight in a weighted partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerWeight {
    /// The worker.
    pub worker: WorkerId,
    /// Relative share (0 means no items).
    pub weight: u32,
}

/// How an item's result gets approved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReviewStrategy {
    /// Results are approved as soon as the item has its labels.
    #[default]
    None,
    /// A deterministic sample of items (from the task seed) goes to reviewers.
    Manual {
        /// Share of items reviewed, 0–100.
        sample_percentage: f64,
    },
    /// Items with `approval_threshold` identical labels are auto-approved; others go to review.
    Consensus {
        /// Identical labels needed.
        approval_threshold: u32,
    },
}

/// The order in which equally-ranked items are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ItemOrder {
    /// Item order (upload order).
    #[default]
    Sequential,
    /// A seeded hash of the item id: random-looking but reproducible.
    Random,
}
