//! Pull selection: the next batch for a worker who asks for work.
//!
//! Order (design invariant 6): priority high→low, then partially covered items first (more
//! labels first, so items finish sooner), then item order or a seeded hash of the item. An item
//! the worker already has or labeled is never offered, nor one whose overlap is full.

use crate::ids::{ItemId, Overlap, Priority, WorkerId};
use crate::seed;
use crate::strategy::ItemOrder;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;

/// An item that might be served, with what the store knows of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The item.
    pub item: ItemId,
    /// Its priority in the task (or current step).
    pub priority: Priority,
    /// Tie-break key from [`order_key`].
    pub order_key: i64,
    /// Seats in use: live leases plus on-time annotations.
    pub covered: u16,
    /// The item's own overlap under dynamic overlap (grown or closed by its labels so far);
    /// `None` means the task's.
    pub wanted: Option<u16>,
}

/// A task's pull rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PullRules {
    /// Items per batch.
    pub batch_size: u32,
    /// Most items one worker may hold unfinished.
    pub max_batch_workload: Option<u32>,
    /// Distinct workers per item.
    pub overlap: Overlap,
}

/// The key that orders equally-ranked items: the item's position, or a seeded hash of it.
/// Stored with each task item so the database can serve in this order from an index.
pub fn order_key(order: ItemOrder, seed: u64, item: ItemId, position: i64) -> i64 {
    match order {
        ItemOrder::Sequential => position,
        ItemOrder::Random => (seed::hash(seed, &[item.0]) >> 1) as i64,
    }
}

/// The serving rank of a candidate: smaller is served first.
pub fn rank(c: &Candidate) -> (Reverse<Priority>, Reverse<u16>, i64, ItemId) {
    (Reverse(c.priority), Reverse(c.covered), c.order_key, c.item)
}

/// The most live seats one worker may hold in a task at once: one batch ahead, never more
/// (and no more than the task's workload limit). Without it a client that keeps asking would
/// hoard the queue while the next worker hears "no work".
pub fn hold_limit(rules: &PullRules) -> u32 {
    rules
        .batch_size
        .min(rules.max_batch_workload.unwrap_or(u32::MAX))
}

/// How many new items the worker may take now, given how many live seats it holds
/// (`outstanding`): what tops its holding up to [`hold_limit`]. A worker who already holds
/// seats gets those back first (the store resumes them); only the room left is filled.
pub fn capacity(rules: &PullRules, outstanding: u32) -> u32 {
    hold_limit(rules).saturating_sub(outstanding)
}

/// Picks the worker's next batch from `candidates` (any order; typically a window the store
/// fetched in rank order). `has_item` says whether the worker already holds or labeled an item.
pub fn select(
    rules: &PullRules,
    outstanding: u32,
    candidates: &[Candidate],
    has_item: impl Fn(ItemId) -> bool,
) -> Vec<ItemId> {
    let want = capacity(rules, outstanding) as usize;
    let mut eligible: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.covered < c.wanted.unwrap_or(rules.overlap.get()) && !has_item(c.item))
        .collect();
    eligible.sort_by_key(|c| rank(c));
    let mut batch: Vec<ItemId> = Vec::with_capacity(want);
    for c in eligible {
        if batch.len() == want {
            break;
        }
        if !batch.contains(&c.item) {
            batch.push(c.item);
        }
    }
    batch
}

/// How many honeypots go into a batch of `batch_len` so that, over the worker's whole history,
/// the share of honeypots tracks `rate` (0–1) without drifting.
pub fn honeypots_due(
    rate: f64,
    served_total: u64,
    honeypots_served: u64,
    batch_len: usize,
) -> usize {
    if rate.is_nan() || rate <= 0.0 || batch_len == 0 {
        return 0;
    }
    let rate = rate.min(1.0);
    let target = (rate * (served_total + batch_len as u64) as f64).floor() as u64;
    target
        .saturating_sub(honeypots_served)
        .min(batch_len as u64) as usize
}

/// Mixes honeypots into a batch: the lowest-ranked regular items make room, and each honeypot
/// lands at a seeded position so nothing about its place gives it away.
pub fn mix_honeypots(
    mut batch: Vec<ItemId>,
    honeypots: &[ItemId],
    due: usize,
    seed: u64,
    worker: WorkerId,
    batch_no: u64,
) -> Vec<ItemId> {
    let n = due.min(honeypots.len());
    batch.truncate(batch.len().saturating_sub(n));
    for (i, &h) in honeypots.iter().take(n).enumerate() {
        let at = (seed::hash(seed, &[worker.0, batch_no as i64, i as i64])
            % (batch.len() as u64 + 1)) as usize;
        batch.insert(at, h);
    }
    batch
}

/// What the store knows of a worker's past in a task, for honeypot mixing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HoneypotHistory {
    /// Items ever handed to the worker in the task (honeypots included).
    pub served: u64,
    /// Of those, honeypots.
    pub honeypots: u64,
    /// Batches leased so far; numbers this batch so honeypot places differ batch to batch.
    pub batches: u64,
}

/// Cuts a pulled batch: regular items by rank, then honeypots mixed in at `rate` (0–1) over
/// the worker's history. Honeypots are picked from their own candidates by the same rank and
/// the same overlap and ownership rules as regular items, so they only ever take a seat that
/// is free. A batch with no regular item gets no honeypot either: a batch made only of
/// honeypots would give them away.
#[allow(clippy::too_many_arguments)]
pub fn fill_batch(
    rules: &PullRules,
    outstanding: u32,
    regular: &[Candidate],
    honeypots: &[Candidate],
    rate: f64,
    history: HoneypotHistory,
    seed: u64,
    worker: WorkerId,
    has_item: impl Fn(ItemId) -> bool,
) -> Vec<ItemId> {
    let batch = select(rules, outstanding, regular, &has_item);
    let due = honeypots_due(rate, history.served, history.honeypots, batch.len());
    if due == 0 {
        return batch;
    }
    let honey_rules = PullRules {
        batch_size: due as u32,
        max_batch_workload: None,
        ..*rules
    };
    let picked = select(&honey_rules, 0, honeypots, |i| {
        has_item(i) || batch.contains(&i)
    });
    let n = picked.len();
    mix_honeypots(batch, &picked, n, seed, worker, history.batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(batch: u32, max: Option<u32>, overlap: u32) -> PullRules {
        PullRules {
            batch_size: batch,
            max_batch_workload: max,
            overlap: Overlap::new(overlap).unwrap(),
        }
    }
    fn c(item: i64, priority: i32, covered: u16, order_key: i64) -> Candidate {
        Candidate {
            item: ItemId(item),
            priority: Priority(priority),
            order_key,
            covered,
            wanted: None,
        }
    }

    #[test]
    fn an_items_own_overlap_replaces_the_tasks() {
        let grown = Candidate {
            wanted: Some(3),
            ..c(1, 0, 2, 1)
        };
        let closed = Candidate {
            wanted: Some(1),
            ..c(2, 0, 1, 2)
        };
        let plain = c(3, 0, 2, 3);
        let got = select(&rules(10, None, 2), 0, &[grown, closed, plain], |_| false);
        assert_eq!(got, vec![ItemId(1)], "only the grown item has room");
    }

    #[test]
    fn order_is_priority_then_coverage_then_item_order() {
        let cands = [
            c(1, 0, 0, 1),
            c(2, 5, 0, 2),
            c(3, 0, 1, 3),
            c(4, -1, 2, 4),
            c(5, 0, 0, 0),
        ];
        let got = select(&rules(10, None, 3), 0, &cands, |_| false);
        assert_eq!(
            got,
            vec![ItemId(2), ItemId(3), ItemId(5), ItemId(1), ItemId(4)]
        );
    }

    #[test]
    fn full_items_and_items_the_worker_has_are_skipped() {
        let cands = [c(1, 0, 2, 1), c(2, 0, 0, 2), c(3, 0, 0, 3)];
        let got = select(&rules(10, None, 2), 0, &cands, |i| i == ItemId(2));
        assert_eq!(got, vec![ItemId(3)]);
    }

    #[test]
    fn batch_size_and_workload_limit_the_batch() {
        let cands: Vec<Candidate> = (1..=20).map(|i| c(i, 0, 0, i)).collect();
        assert_eq!(select(&rules(5, None, 1), 0, &cands, |_| false).len(), 5);
        // Holding 4 of a batch of 5 (workload limit 7): one more.
        assert_eq!(select(&rules(5, Some(7), 1), 4, &cands, |_| false).len(), 1);
        assert_eq!(select(&rules(9, Some(7), 1), 4, &cands, |_| false).len(), 3);
        assert!(select(&rules(5, Some(7), 1), 7, &cands, |_| false).is_empty());
        assert_eq!(capacity(&rules(10, Some(3), 1), 9), 0);
        // Held seats count against the batch: never more than one batch ahead.
        assert_eq!(select(&rules(5, None, 1), 3, &cands, |_| false).len(), 2);
        assert!(select(&rules(5, None, 1), 5, &cands, |_| false).is_empty());
        assert_eq!(hold_limit(&rules(5, Some(3), 1)), 3);
    }

    #[test]
    fn random_order_is_seeded() {
        let a = order_key(ItemOrder::Random, 1, ItemId(5), 0);
        assert_eq!(a, order_key(ItemOrder::Random, 1, ItemId(5), 99));
        assert_ne!(a, order_key(ItemOrder::Random, 2, ItemId(5), 0));
        assert_eq!(order_key(ItemOrder::Sequential, 1, ItemId(5), 9), 9);
        assert!(a >= 0);
    }

    #[test]
    fn honeypot_share_tracks_the_rate() {
        let mut served = 0u64;
        let mut honey = 0u64;
        for _ in 0..100 {
            let n = honeypots_due(0.1, served, honey, 10);
            served += 10;
            honey += n as u64;
        }
        assert_eq!(honey, 100);
        assert_eq!(honeypots_due(0.0, 0, 0, 10), 0);
        assert_eq!(honeypots_due(1.0, 0, 0, 10), 10);
    }

    #[test]
    fn mixing_keeps_batch_size_and_places_honeypots_by_seed() {
        let batch: Vec<ItemId> = (1..=10).map(ItemId).collect();
        let mixed = mix_honeypots(
            batch.clone(),
            &[ItemId(100), ItemId(101)],
            2,
            9,
            WorkerId(1),
            0,
        );
        assert_eq!(mixed.len(), 10);
        assert!(mixed.contains(&ItemId(100)) && mixed.contains(&ItemId(101)));
        assert!(!mixed.contains(&ItemId(10)) && !mixed.contains(&ItemId(9)));
        let again = mix_honeypots(batch, &[ItemId(100), ItemId(101)], 2, 9, WorkerId(1), 0);
        assert_eq!(mixed, again);
    }

    #[test]
    fn fill_batch_mixes_at_the_rate_and_only_into_real_work() {
        let regular: Vec<Candidate> = (1..=20).map(|i| c(i, 0, 0, i)).collect();
        let honey: Vec<Candidate> = (100..=110).map(|i| c(i, 0, 0, i)).collect();
        let r = rules(5, None, 1);
        let fresh = HoneypotHistory::default();
        let got = fill_batch(&r, 0, &regular, &honey, 0.4, fresh, 7, WorkerId(3), |_| {
            false
        });
        assert_eq!(got.len(), 5);
        let honeys = got.iter().filter(|i| i.0 >= 100).count();
        assert_eq!(honeys, 2, "floor(0.4 × 5) honeypots: {got:?}");
        assert!(
            got.contains(&ItemId(100)) && got.contains(&ItemId(101)),
            "by rank"
        );
        // Honeypots obey overlap and ownership like any item.
        let full = [c(100, 0, 1, 1), c(101, 0, 0, 2)];
        let got = fill_batch(&r, 0, &regular, &full, 0.4, fresh, 7, WorkerId(3), |i| {
            i == ItemId(101)
        });
        assert!(!got.iter().any(|i| i.0 >= 100), "{got:?}");
        // No regular work: no honeypots, or the batch would be all honeypots.
        let got = fill_batch(&r, 0, &[], &honey, 1.0, fresh, 7, WorkerId(3), |_| false);
        assert!(got.is_empty());
        // Rate 0 serves regular items only.
        let got = fill_batch(&r, 0, &regular, &honey, 0.0, fresh, 7, WorkerId(3), |_| {
            false
        });
        assert_eq!(got, (1..=5).map(ItemId).collect::<Vec<_>>());
    }
}
