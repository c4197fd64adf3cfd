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

/// How many of the first `n` items served to `worker` are honeypot places at `rate` (0–1).
/// The stream is cut into windows of `1/rate` items and the k-th honeypot sits at a seeded place
/// inside the k-th window: the share tracks the rate (never off by more than one) and, without
/// the task's seed, one place says nothing about the next. A fixed period (every fourth item at
/// 25%) would let a worker who spotted one honeypot find them all.
pub fn honeypot_places(rate: f64, seed: u64, worker: WorkerId, n: u64) -> u64 {
    if rate.is_nan() || rate <= 0.0 || n == 0 {
        return 0;
    }
    let rate = rate.min(1.0);
    // Window k covers [start(k), start(k + 1)); each holds at least one item as rate <= 1.
    let start = |k: u64| (k as f64 / rate).floor() as u64;
    // The last window that starts before n; windows before it lie wholly before n.
    let mut k = ((n as f64 * rate).ceil() as u64).saturating_sub(1);
    while start(k + 1) < n {
        k += 1;
    }
    while k > 0 && start(k) >= n {
        k -= 1;
    }
    k + u64::from(honeypot_place(rate, seed, worker, k) < n)
}

/// Where the k-th honeypot (from 0) sits in `worker`'s stream: a seeded place in window k.
/// `rate` is in (0, 1].
fn honeypot_place(rate: f64, seed: u64, worker: WorkerId, k: u64) -> u64 {
    let start = |k: u64| (k as f64 / rate).floor() as u64;
    let len = (start(k + 1) - start(k)).max(1);
    start(k) + seed::hash(seed, &[worker.0, k as i64]) % len
}

/// How many honeypots go into a batch of `batch_len` so that the worker's history keeps to
/// their [`honeypot_places`] (the share tracks `rate` without drifting).
pub fn honeypots_due(
    rate: f64,
    seed: u64,
    worker: WorkerId,
    served_total: u64,
    honeypots_served: u64,
    batch_len: usize,
) -> usize {
    if batch_len == 0 {
        return 0;
    }
    honeypot_places(rate, seed, worker, served_total + batch_len as u64)
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
    let due = honeypots_due(
        rate,
        seed,
        worker,
        history.served,
        history.honeypots,
        batch.len(),
    );
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

/// How many items a worker will still be served in a pulled task with honeypots: every regular
/// item open to them (`regular_left`) plus the honeypots [`fill_batch`] will mix in on the way,
/// at most `gold_left` (gold items open to them). Pulling one item at a time is the schedule:
/// an item is a honeypot exactly when one is due, and serving stops once no regular item is
/// left. `/me/tasks` reports this as what is available, so the figure falls by one for every
/// item handed out, honeypot or not: a worker cannot tell them apart by watching it.
pub fn items_ahead(
    rate: f64,
    seed: u64,
    worker: WorkerId,
    history: HoneypotHistory,
    regular_left: u64,
    gold_left: u64,
) -> u64 {
    if rate.is_nan() || rate <= 0.0 {
        return regular_left;
    }
    let rate = rate.min(1.0);
    let (mut served, mut honeypots) = (history.served, history.honeypots);
    let (mut regular, mut gold) = (regular_left, gold_left);
    let mut ahead = 0;
    // Honeypot by honeypot, not item by item: the next one is served at its place (at once if
    // overdue), after the regular items before it, and only while a regular item is left.
    while regular > 0 && gold > 0 {
        let at = honeypot_place(rate, seed, worker, honeypots).max(served);
        let before = at - served;
        if before >= regular {
            break;
        }
        regular -= before;
        ahead += before + 1;
        served = at + 1;
        honeypots += 1;
        gold -= 1;
    }
    ahead + regular
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
        let w = WorkerId(4);
        for _ in 0..100 {
            let n = honeypots_due(0.1, 9, w, served, honey, 10);
            served += 10;
            honey += n as u64;
        }
        assert_eq!(honey, 100);
        assert_eq!(honeypots_due(0.0, 9, w, 0, 0, 10), 0);
        assert_eq!(honeypots_due(1.0, 9, w, 0, 0, 10), 10);
        // Item by item, the count never strays more than one from the rate, and the places
        // within their windows are not one fixed offset (that would be a period to spot).
        for rate in [0.05, 0.1, 0.25, 1.0 / 3.0, 0.5, 0.9] {
            let mut offsets = std::collections::BTreeSet::new();
            let mut last = 0;
            for n in 1..=400u64 {
                let places = honeypot_places(rate, 9, w, n);
                let ideal = rate * n as f64;
                assert!(
                    (places as f64 - ideal).abs() <= 1.0 + 1e-9,
                    "rate {rate}, {n}: {places}"
                );
                assert!(places == last || places == last + 1, "one place per item");
                if places > last {
                    offsets.insert((n - 1) - ((places - 1) as f64 / rate).floor() as u64);
                }
                last = places;
            }
            if rate < 0.5 {
                assert!(offsets.len() > 1, "rate {rate}: one offset {offsets:?}");
            }
        }
        // Another worker (or seed) meets them elsewhere.
        let at = |worker, seed| {
            (1..=200u64)
                .filter(|&n| {
                    honeypot_places(0.25, seed, WorkerId(worker), n)
                        > honeypot_places(0.25, seed, WorkerId(worker), n - 1)
                })
                .collect::<Vec<_>>()
        };
        assert_ne!(at(1, 9), at(2, 9));
        assert_ne!(at(1, 9), at(1, 10));
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

    #[test]
    fn items_ahead_falls_by_one_per_item_served_whatever_the_item() {
        let regular: Vec<Candidate> = (1..=16).map(|i| c(i, 0, 0, i)).collect();
        let cases = [(0.25, 8), (0.1, 8), (0.5, 8), (0.5, 3), (0.9, 20), (1.0, 4)];
        for ((rate, golds), seed) in cases
            .into_iter()
            .flat_map(|c| (1..=12).map(move |s| (c, s)))
        {
            let honey: Vec<Candidate> = (100..100 + golds).map(|i| c(i, 0, 0, i)).collect();
            for size in [1, 3, 5] {
                let r = rules(size, None, 1);
                let w = WorkerId(seed as i64);
                let mut history = HoneypotHistory::default();
                let mut held: Vec<ItemId> = Vec::new();
                let left = |held: &[ItemId], gold: bool| {
                    let pool = if gold { &honey } else { &regular };
                    pool.iter().filter(|c| !held.contains(&c.item)).count() as u64
                };
                let mut ahead = items_ahead(rate, seed, w, history, 16, golds as u64);
                let case = format!("rate {rate}, {golds} gold, seed {seed}, size {size}");
                if (rate, golds) == (0.25, 8) {
                    assert!((20..=22).contains(&ahead), "{case}: {ahead}");
                }
                loop {
                    let got = fill_batch(&r, 0, &regular, &honey, rate, history, seed, w, |i| {
                        held.contains(&i)
                    });
                    if got.is_empty() {
                        break;
                    }
                    history.served += got.len() as u64;
                    history.honeypots += got.iter().filter(|i| i.0 >= 100).count() as u64;
                    history.batches += 1;
                    held.extend(&got);
                    let now = items_ahead(
                        rate,
                        seed,
                        w,
                        history,
                        left(&held, false),
                        left(&held, true),
                    );
                    assert_eq!(ahead - now, got.len() as u64, "{case}: {got:?}");
                    ahead = now;
                }
                assert_eq!(ahead, 0, "{case}: nothing ahead once batches are empty");
            }
        }
        // Without gold, or at rate 0, only regular work is ahead.
        let fresh = HoneypotHistory::default();
        assert_eq!(items_ahead(0.5, 1, WorkerId(1), fresh, 7, 0), 7);
        assert_eq!(items_ahead(0.0, 1, WorkerId(1), fresh, 7, 9), 7);
        assert_eq!(items_ahead(0.5, 1, WorkerId(1), fresh, 0, 9), 0);
    }
}
