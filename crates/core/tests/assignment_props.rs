//! Property tests of the assignment invariants (design notes 1, 2 and 6) over random tasks,
//! workers, priorities, expiries and interleavings, against a small in-memory model store that
//! applies the core's rules exactly as the server does: select a batch from a snapshot, then
//! claim each seat with the atomic "covered < overlap" guard.

use proptest::prelude::*;
use quorum_core::ids::{ItemId, LeaseId, Overlap, Priority, TaskId, WorkerId};
use quorum_core::lease::{counts_toward_overlap, Lease, Timeliness};
use quorum_core::plan::{self, Seat};
use quorum_core::pull::{self, Candidate, PullRules};
use quorum_core::strategy::{ItemOrder, Partition, WorkerStrategy, WorkerWeight};
use quorum_core::time::Millis;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq)]
enum SeatState {
    Leased,
    Annotated { counted: bool },
    Skipped,
}

#[derive(Debug, Clone, PartialEq)]
struct HeldSeat {
    item: ItemId,
    worker: WorkerId,
    lease: usize,
    state: SeatState,
}

/// The model store.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    rules: PullRules,
    order: ItemOrder,
    seed: u64,
    lease_seconds: u32,
    items: Vec<(ItemId, Priority, i64)>,
    leases: Vec<Lease>,
    seats: Vec<HeldSeat>,
    now: Millis,
    /// Every batch handed out, in order, for the determinism check.
    history: Vec<(WorkerId, Vec<ItemId>)>,
}

#[derive(Debug, Clone)]
enum Event {
    Pull(i64),
    /// Two workers select from the same snapshot, then both claim: a race.
    RacingPulls(i64, i64),
    Submit(i64, usize),
    Skip(i64, usize),
    Advance(u32),
    Release(usize),
}

impl Model {
    fn new(task: &TaskParams) -> Model {
        let items = task
            .priorities
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let id = ItemId(i as i64 + 1);
                (
                    id,
                    Priority(p),
                    pull::order_key(task.order, task.seed, id, i as i64),
                )
            })
            .collect();
        Model {
            rules: PullRules {
                batch_size: task.batch_size,
                max_batch_workload: task.max_workload,
                overlap: Overlap::new(task.overlap).unwrap(),
            },
            order: task.order,
            seed: task.seed,
            lease_seconds: task.lease_seconds,
            items,
            leases: vec![],
            seats: vec![],
            now: Millis(1_000_000),
            history: vec![],
        }
    }

    fn live(&self, seat: &HeldSeat) -> bool {
        seat.state == SeatState::Leased && self.leases[seat.lease].is_live(self.now)
    }

    fn covered(&self, item: ItemId) -> u16 {
        self.seats
            .iter()
            .filter(|s| s.item == item)
            .filter(|s| self.live(s) || s.state == (SeatState::Annotated { counted: true }))
            .count() as u16
    }

    fn candidates(&self) -> Vec<Candidate> {
        self.items
            .iter()
            .map(|&(item, priority, order_key)| Candidate {
                item,
                priority,
                order_key,
                covered: self.covered(item),
                wanted: None,
            })
            .collect()
    }

    fn outstanding(&self, worker: WorkerId) -> u32 {
        self.seats
            .iter()
            .filter(|s| s.worker == worker && self.live(s))
            .count() as u32
    }

    fn has_item(&self, worker: WorkerId, item: ItemId) -> bool {
        self.seats
            .iter()
            .any(|s| s.worker == worker && s.item == item)
    }

    fn select(&self, worker: WorkerId) -> Vec<ItemId> {
        let outstanding = self.outstanding(worker);
        pull::select(&self.rules, outstanding, &self.candidates(), |i| {
            self.has_item(worker, i)
        })
    }

    /// The server's claim: a seat is taken only while the item has room and the worker lacks it.
    fn claim(&mut self, worker: WorkerId, selected: Vec<ItemId>) {
        let lease = Lease::new(
            LeaseId(self.leases.len() as i64 + 1),
            TaskId(1),
            worker,
            self.now,
            self.lease_seconds,
        );
        self.leases.push(lease);
        let lease = self.leases.len() - 1;
        let mut got = vec![];
        for item in selected {
            if self.covered(item) < self.rules.overlap.get() && !self.has_item(worker, item) {
                self.seats.push(HeldSeat {
                    item,
                    worker,
                    lease,
                    state: SeatState::Leased,
                });
                got.push(item);
            }
        }
        self.history.push((worker, got));
    }

    fn nth_open_seat(&self, worker: WorkerId, n: usize) -> Option<usize> {
        let open: Vec<usize> = (0..self.seats.len())
            .filter(|&i| self.seats[i].worker == worker && self.seats[i].state == SeatState::Leased)
            .collect();
        (!open.is_empty()).then(|| open[n % open.len()])
    }

    fn apply(&mut self, event: &Event) {
        match *event {
            Event::Pull(w) => {
                let batch = self.select(WorkerId(w));
                self.claim(WorkerId(w), batch);
            }
            Event::RacingPulls(a, b) => {
                let first = self.select(WorkerId(a));
                let second = self.select(WorkerId(b));
                self.claim(WorkerId(a), first);
                self.claim(WorkerId(b), second);
            }
            Event::Submit(w, n) => {
                if let Some(i) = self.nth_open_seat(WorkerId(w), n) {
                    let seat = self.seats[i].clone();
                    let timeliness = self.leases[seat.lease].timeliness(self.now);
                    let others = if timeliness == Timeliness::OnTime {
                        0
                    } else {
                        self.covered(seat.item)
                    };
                    let counted =
                        counts_toward_overlap(timeliness, others, self.rules.overlap.get());
                    self.seats[i].state = SeatState::Annotated { counted };
                }
            }
            Event::Skip(w, n) => {
                if let Some(i) = self.nth_open_seat(WorkerId(w), n) {
                    self.seats[i].state = SeatState::Skipped;
                }
            }
            Event::Advance(seconds) => self.now = self.now.plus_seconds(seconds),
            Event::Release(n) => {
                if !self.leases.is_empty() {
                    let k = n % self.leases.len();
                    let now = self.now;
                    self.leases[k].release(now);
                }
            }
        }
    }

    fn check_invariants(&self) -> Result<(), TestCaseError> {
        for &(item, _, _) in &self.items {
            let covered = self.covered(item);
            prop_assert!(
                covered <= self.rules.overlap.get(),
                "invariant 1: item {item} covered {covered} > overlap {}",
                self.rules.overlap.get()
            );
        }
        // One batch ahead at most: a worker's live seats never exceed the hold limit.
        let mut workers: Vec<WorkerId> = self.seats.iter().map(|s| s.worker).collect();
        workers.dedup();
        for w in workers {
            let held = self.outstanding(w);
            prop_assert!(
                held <= pull::hold_limit(&self.rules),
                "worker {w} holds {held} live seats > the limit {}",
                pull::hold_limit(&self.rules)
            );
        }
        let mut seen = HashSet::new();
        for s in &self.seats {
            prop_assert!(
                seen.insert((s.worker, s.item)),
                "invariant 2: worker {} got item {} twice",
                s.worker,
                s.item
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct TaskParams {
    priorities: Vec<i32>,
    overlap: u32,
    batch_size: u32,
    max_workload: Option<u32>,
    order: ItemOrder,
    seed: u64,
    lease_seconds: u32,
}

fn task_params() -> impl Strategy<Value = TaskParams> {
    (
        prop::collection::vec(-3i32..=3, 1..25),
        1u32..=4,
        1u32..=6,
        prop::option::of(1u32..=10),
        prop_oneof![Just(ItemOrder::Sequential), Just(ItemOrder::Random)],
        any::<u64>(),
        1u32..=120,
    )
        .prop_map(
            |(priorities, overlap, batch_size, max_workload, order, seed, lease_seconds)| {
                TaskParams {
                    priorities,
                    overlap,
                    batch_size,
                    max_workload: max_workload.map(|m| m.max(batch_size)),
                    order,
                    seed,
                    lease_seconds,
                }
            },
        )
}

fn events(workers: i64) -> impl Strategy<Value = Vec<Event>> {
    let w = 1..=workers;
    prop::collection::vec(
        prop_oneof![
            4 => w.clone().prop_map(Event::Pull),
            2 => (w.clone(), w.clone()).prop_map(|(a, b)| Event::RacingPulls(a, b)),
            6 => (w.clone(), 0usize..10).prop_map(|(a, n)| Event::Submit(a, n)),
            1 => (w.clone(), 0usize..10).prop_map(|(a, n)| Event::Skip(a, n)),
            2 => (1u32..200).prop_map(Event::Advance),
            1 => (0usize..10).prop_map(Event::Release),
        ],
        1..60,
    )
}

fn rank_sorted(mut c: Vec<Candidate>) -> Vec<Candidate> {
    c.sort_by_key(pull::rank);
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Invariants 1 and 2 hold after every event of any interleaving.
    #[test]
    fn overlap_is_never_exceeded_and_no_worker_gets_an_item_twice(
        task in task_params(),
        workers in 1i64..=6,
        script in events(6),
    ) {
        let mut m = Model::new(&task);
        for e in &script {
            let e = match *e {
                Event::Pull(w) => Event::Pull(1 + (w - 1) % workers),
                Event::RacingPulls(a, b) => Event::RacingPulls(1 + (a - 1) % workers, 1 + (b - 1) % workers),
                ref other => other.clone(),
            };
            m.apply(&e);
            m.check_invariants()?;
        }
    }

    /// Invariant 6: the same seed and history give the same batches to the same people.
    #[test]
    fn allocation_is_deterministic(task in task_params(), script in events(4)) {
        let run = || {
            let mut m = Model::new(&task);
            for e in &script {
                m.apply(e);
            }
            m
        };
        prop_assert_eq!(run(), run());
    }

    /// Invariant 6: a batch is the top of the rank order among items the worker may take:
    /// priority high→low, more covered first, then item order or the seeded hash.
    #[test]
    fn batches_follow_the_explained_order(task in task_params(), warmup in events(3), worker in 1i64..=3) {
        let mut m = Model::new(&task);
        for e in &warmup {
            m.apply(e);
        }
        let w = WorkerId(worker);
        let batch = m.select(w);
        let expected: Vec<ItemId> = rank_sorted(m.candidates())
            .into_iter()
            .filter(|c| c.covered < m.rules.overlap.get() && !m.has_item(w, c.item))
            .map(|c| c.item)
            .take(pull::capacity(&m.rules, m.outstanding(w)) as usize)
            .collect();
        prop_assert_eq!(&batch, &expected);
        for pair in batch.windows(2) {
            let p = |i: ItemId| m.items.iter().find(|x| x.0 == i).unwrap().1;
            prop_assert!(p(pair[0]) >= p(pair[1]), "priority order broken");
        }
        let _ = m.order;
        let _ = m.seed;
    }

    /// Plans cover each item with exactly `workers_per_input` distinct workers, keep weighted
    /// shares within one item of the exact proportion, and depend only on the seed.
    #[test]
    fn plans_cover_every_item_exactly_and_fairly(
        n_items in 1usize..60,
        weights in prop::collection::vec(1u32..20, 1..7),
        k_raw in 1u32..=7,
        seed in any::<u64>(),
    ) {
        let k = k_raw.min(weights.len() as u32);
        let workers: Vec<WorkerId> = (1..=weights.len() as i64).map(WorkerId).collect();
        let items: Vec<ItemId> = (1..=n_items as i64).map(ItemId).collect();
        let strategy = WorkerStrategy::Partitioned {
            partition: Partition::Weighted {
                weights: workers.iter().zip(&weights).map(|(&worker, &weight)| WorkerWeight { worker, weight }).collect(),
            },
            workers_per_input: Overlap::new(k).unwrap(),
        };
        let seats: Vec<Seat> = plan::plan(&strategy, &items, &workers, seed).unwrap();
        prop_assert_eq!(seats.clone(), plan::plan(&strategy, &items, &workers, seed).unwrap());
        let mut per_item: HashMap<ItemId, HashSet<WorkerId>> = HashMap::new();
        let mut load: HashMap<WorkerId, u64> = HashMap::new();
        for s in &seats {
            prop_assert!(per_item.entry(s.item).or_default().insert(s.worker), "a worker holds an item twice");
            *load.entry(s.worker).or_default() += 1;
        }
        for item in &items {
            prop_assert_eq!(per_item[item].len(), k as usize);
        }
        // Exact proportion applies when no worker's share is capped at one seat per item.
        let total: u64 = weights.iter().map(|&w| w as u64).sum();
        let seats_total = (n_items as u64) * k as u64;
        let capped = weights.iter().any(|&w| seats_total * w as u64 > n_items as u64 * total);
        if !capped {
            for (w, &weight) in workers.iter().zip(&weights) {
                let exact = seats_total as f64 * weight as f64 / total as f64;
                let got = *load.get(w).unwrap_or(&0) as f64;
                prop_assert!((got - exact).abs() < 1.0 + 1e-9, "worker {w}: {got} vs exact {exact}");
            }
        }
        // Scaling every weight by ten changes nothing.
        let scaled = WorkerStrategy::Partitioned {
            partition: Partition::Weighted {
                weights: workers.iter().zip(&weights).map(|(&worker, &weight)| WorkerWeight { worker, weight: weight * 10 }).collect(),
            },
            workers_per_input: Overlap::new(k).unwrap(),
        };
        prop_assert_eq!(seats, plan::plan(&scaled, &items, &workers, seed).unwrap());
    }
}
