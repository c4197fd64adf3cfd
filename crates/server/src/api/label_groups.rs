//! Labels written in groups on PostgreSQL: one transaction, one `BEGIN` and one `COMMIT` for
//! every label that arrived while the last group was being written.
//!
//! A label alone holds its item's row for three round trips and a commit, and labels on one
//! item took turns on it: under load the seat read spent most of its time waiting. A lane takes
//! every label queued behind the group it is writing and applies them one after another in one
//! claim, each exactly as alone (the same [`label_in`]), so they share the commit, and labels on
//! one item (always the same lane in a process) no longer wait for each other.
//!
//! A lane must never stall: everything queued behind it waits for it. A group waits at most
//! its lock wait for a row another transaction holds (an archive, a review, a lease's sweep,
//! another server's lane), well under PostgreSQL's deadlock check, so a group is always the
//! side that gives way. A group that meets anything unusual (that wait, another request that
//! stored an op's answer first, any error) is rolled back, and each of its labels goes back to
//! its own request, which applies it alone, waiting as long as it must, beside the others. A
//! group is only ever a faster way to the answers the labels would get alone, and nobody is
//! answered before the commit that holds their label (invariant 3).

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::labeling::{
    self, answer, archived, check_value, label_alone, label_as_it_stands, label_in, label_of,
    no_seat, standing,
};
use super::review;
use crate::db::Db;
use crate::store::reviews::Routed;
use crate::store::tasks::TaskRecord;
use crate::store::{labels, ops, seats, Tx};
use quorum_core::ids::ItemId;
use quorum_core::lifecycle::TaskStatus;
use quorum_core::sync::{Op, Outcome};
use tokio::sync::{mpsc, oneshot};

/// Lanes per server. The next group gathers in the queue while a lane writes the last one, so
/// one lane keeps the database busy; more lanes make more, smaller groups, each with its own
/// `BEGIN`, `COMMIT` and statements per round (with labels on one item written in rounds, one
/// lane measured 8 % faster than two on one server, and 25 % on two servers).
const LANES: usize = 1;

/// Most labels in one group: its locks are held until its commit.
const MOST: usize = 32;

/// Labels waiting for a lane before senders wait too: a few seconds of work at most.
const QUEUE: usize = 1024;

/// The default wait, in milliseconds, for a row lock in a group.
pub const LOCK_WAIT_MS: u32 = 100;

/// The lanes of one server process.
pub struct LabelGroups {
    db: Db,
    lanes: Vec<mpsc::Sender<Job>>,
}

/// A label waiting for its group.
struct Job {
    caller: Caller,
    op: Op,
    item: ItemId,
    task: TaskRecord,
    now: i64,
    reply: oneshot::Sender<Written>,
}

/// What a lane did with a label.
enum Written {
    /// Applied in a committed group (or refused, its refusal committed): the answer.
    Applied(Outcome),
    /// Not written: the label's request applies it alone.
    Alone,
}

impl LabelGroups {
    /// Starts the lanes on `db` (within the server's runtime); a group waits `lock_wait_ms`
    /// for a row lock.
    pub fn start(db: &Db, lock_wait_ms: u32) -> Self {
        let lanes = (0..LANES)
            .map(|_| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                tokio::spawn(lane(db.clone(), receiver, lock_wait_ms));
                sender
            })
            .collect();
        Self {
            db: db.clone(),
            lanes,
        }
    }

    /// Applies the label op `op` on `item`, which the caller may make (its access checked, its
    /// answer not stored yet), and answers once it is committed.
    pub async fn label(
        &self,
        caller: &Caller,
        op: &Op,
        item: ItemId,
        task: &TaskRecord,
        now: i64,
    ) -> ApiResult<Outcome> {
        let lane = &self.lanes[item.0.rem_euclid(self.lanes.len() as i64) as usize];
        let (reply, answer) = oneshot::channel();
        let job = Job {
            caller: caller.clone(),
            op: op.clone(),
            item,
            task: task.clone(),
            now,
            reply,
        };
        // A lane that is gone (it panicked) leaves its labels to their requests.
        if lane.send(job).await.is_ok() {
            if let Ok(Written::Applied(outcome)) = answer.await {
                return Ok(outcome);
            }
        }
        label_alone(&self.db, caller, op, Some(task), now).await
    }
}

/// One lane: gathers what is queued, writes it as a group, answers each label.
async fn lane(db: Db, mut queue: mpsc::Receiver<Job>, lock_wait_ms: u32) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MOST {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        // Item rows are first locked in (task, item) order, so two groups' first rounds never
        // hold each other's rows crosswise (a later round locks seats of items the group holds
        // already; a wait on one ends at the lock wait); a stable sort keeps labels on one item
        // in the order they came.
        group.sort_by_key(|job| (job.task.id, job.item.0));
        match together(&db, &group, lock_wait_ms).await {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Written::Applied(outcome));
                }
            }
            Err(e) => {
                tracing::warn!(
                    "a group of {} labels was undone, each goes alone: {}",
                    group.len(),
                    e.message
                );
                for job in group {
                    let _ = job.reply.send(Written::Alone);
                }
            }
        }
    }
}

/// The group's labels in one claim, in order; an error when any of them would not be applied
/// exactly as alone, or a row stays locked longer than the lock wait.
async fn together(db: &Db, group: &[Job], lock_wait_ms: u32) -> ApiResult<Vec<Outcome>> {
    let mut w = db.claim().await?;
    w.wait_for_locks_at_most(lock_wait_ms);
    let outcomes = if group.len() > 1 && distinct_ops(group) {
        // Its statements over arrays would be planned anew for each group (0.2–0.5 ms each,
        // more than they run); every one of them is a few key lookups.
        w.plan_for_lookups();
        in_rounds(&mut w, group).await?
    } else {
        let mut outcomes = Vec::with_capacity(group.len());
        for job in group {
            match label_in(&mut w, &job.caller, &job.op, Some(&job.task), job.now).await? {
                Some(outcome) => outcomes.push(outcome),
                None => return Err(answered_elsewhere()),
            }
        }
        outcomes
    };
    w.commit().await?;
    Ok(outcomes)
}

/// Why a group gives way when an op's answer was stored by another request meanwhile.
fn answered_elsewhere() -> ApiError {
    ApiError::conflict("another request stored an op's answer first")
}

/// Whether no op is sent twice in the group: an op sent twice (a client reusing an op id for
/// another item) is applied once and answered `duplicate` the second time, which only the
/// label-by-label path tells apart.
fn distinct_ops(group: &[Job]) -> bool {
    let mut ops = std::collections::HashSet::with_capacity(group.len());
    group
        .iter()
        .all(|job| ops.insert((job.caller.id, job.op.client_op_id.as_str())))
}

/// The (sorted) group split into rounds of labels on distinct items: each item's first label
/// in the first round, its second in the next, and so on, so labels on one item keep their
/// order and each round reads what the last one wrote (its seats, votes and results). Under
/// load an item's overlap reaches its workers together, so their labels on it arrive together.
fn rounds(group: &[Job]) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut round = 0;
    for (n, job) in group.iter().enumerate() {
        let again = n > 0 && (group[n - 1].task.id, group[n - 1].item) == (job.task.id, job.item);
        round = if again { round + 1 } else { 0 };
        if rounds.len() == round {
            rounds.push(Vec::new());
        }
        rounds[round].push(n);
    }
    rounds
}

/// The group's labels, round by round (see [`rounds`]), then each task's status once, from
/// each item's result as its last label left it.
async fn in_rounds(w: &mut Tx, group: &[Job]) -> ApiResult<Vec<Outcome>> {
    let labels = group
        .iter()
        .map(|job| label_of(&job.op))
        .collect::<ApiResult<Vec<_>>>()?;
    let mut outcomes: Vec<Option<Outcome>> = vec![None; group.len()];
    // Per written (task, item): its last label and whether the item is left unfinished.
    let mut left = std::collections::BTreeMap::new();
    for round in rounds(group) {
        for (n, unfinished) in rows_at_once(w, group, &labels, &round, &mut outcomes).await? {
            left.insert((group[n].task.id, group[n].item.0), (n, unfinished));
        }
    }
    let left: Vec<(usize, bool)> = left.into_values().collect();
    for run in left.chunk_by(|a, b| group[a.0].task.id == group[b.0].task.id) {
        let unfinished = run.iter().any(|&(_, unfinished)| unfinished);
        // The latest clock reading: a honeypot task's check compares lease expiries with it.
        let now = run.iter().map(|&(n, _)| group[n].now).max().unwrap_or(0);
        let task = &group[run[0].0].task;
        review::update_status(w, task, unfinished, now).await?;
    }
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| ApiError::internal("a label of the group without its answer")))
        .collect()
}

/// One round's labels (`round`: indexes into the group, on distinct items) with one statement
/// per step instead of one per label: one locked read of every seat (in the group's order), one
/// write of every label with its seat and its op's answer, and one update of every item's
/// result. Each label is decided by the same rules as alone ([`standing`], the core's routing)
/// and its answer put in `outcomes`; a label the task refuses (archived meanwhile, a changed
/// schema) or an op answered by another request makes the whole group give way, as in
/// [`label_in`]. Returns each written label with whether it left its item unfinished.
async fn rows_at_once(
    w: &mut Tx,
    group: &[Job],
    labels: &[labeling::Label<'_>],
    round: &[usize],
    outcomes: &mut [Option<Outcome>],
) -> ApiResult<Vec<(usize, bool)>> {
    let mut asked = Vec::with_capacity(round.len());
    for &n in round {
        let (job, label) = (&group[n], &labels[n]);
        if job.task.status == TaskStatus::Archived {
            outcomes[n] = Some(archived());
        } else if let Some(refusal) = check_value(w, &job.task, label.item, label.value).await? {
            outcomes[n] = Some(refusal);
        } else {
            asked.push(n);
        }
    }
    let keys: Vec<seats::LabelKey> = asked
        .iter()
        .map(|&n| seats::LabelKey {
            task_id: labels[n].task_id.0,
            item_id: labels[n].item.0,
            worker: group[n].caller.id,
            op_lease: labels[n].lease_id.0,
        })
        .collect();
    let found = seats::for_labels(w, &keys).await?;
    let mut written = Vec::with_capacity(asked.len());
    for (&n, seat) in asked.iter().zip(found) {
        let (job, label) = (&group[n], &labels[n]);
        let Some(locked) = seat else {
            outcomes[n] = Some(no_seat(w, label.task_id, label.item, job.caller.id).await?);
            continue;
        };
        match standing(&locked.seat, &job.task, label.lease_id, job.now) {
            Ok(standing) => written.push((n, standing, locked)),
            Err(refusal) => outcomes[n] = Some(refusal),
        }
    }
    // A refusal's answer is stored on its own, as alone (only refusals are answered yet).
    for &n in round {
        let (Some(refusal), job) = (&outcomes[n], &group[n]) else {
            continue;
        };
        let text = serde_json::to_string(refusal)?;
        if !ops::store(w, &answer(&job.caller, &job.op, &text, job.now)).await? {
            return Err(answered_elsewhere());
        }
    }
    let texts = written
        .iter()
        .map(|&(n, ..)| {
            let value = labels[n].value;
            Ok((serde_json::to_string(value)?, value.consensus_key()))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let answers = written
        .iter()
        .map(|(_, standing, _)| serde_json::to_string(&standing.outcome()))
        .collect::<Result<Vec<_>, _>>()?;
    let rows: Vec<labels::NewLabel<'_>> = written
        .iter()
        .zip(&texts)
        .map(|(&(n, standing, _), text)| {
            let job = &group[n];
            label_as_it_stands(
                &job.caller,
                &job.op,
                &job.task,
                labels[n],
                standing,
                text,
                job.now,
            )
        })
        .collect();
    let answer_texts: Vec<&str> = answers.iter().map(String::as_str).collect();
    let seat_rows: Vec<&str> = written
        .iter()
        .map(|(_, _, locked)| locked.seat_row.as_str())
        .collect();
    let stored = labels::submit_many(w, &rows, &seat_rows, &answer_texts).await?;
    if stored.iter().any(|s| !s.open) {
        return Err(ApiError::conflict(
            "a task was archived or its schema changed while its labels waited",
        ));
    }
    if stored.iter().any(|s| !s.answer) {
        return Err(answered_elsewhere());
    }
    if stored.iter().any(|s| !s.seat) {
        return Err(ApiError::internal(
            "a label's seat was not where it was read",
        ));
    }
    // Each item's new result, all stored in one statement.
    let mut routes: Vec<Routed> = Vec::with_capacity(written.len());
    for ((n, standing, locked), stored) in written.iter().zip(stored) {
        let route = review::Reroute {
            current: locked.seat.item_state,
            covered_delta: standing.covered_delta,
            votes: stored.votes,
        };
        let job = &group[*n];
        routes.push(review::routed(w, &job.task, labels[*n].item, route).await?);
    }
    let items: Vec<(&str, &Routed)> = written
        .iter()
        .zip(&routes)
        .map(|((_, _, locked), routed)| (locked.item_row.as_str(), routed))
        .collect();
    crate::store::reviews::record_routes(w, &items).await?;
    Ok(written
        .iter()
        .zip(&routes)
        .map(|((n, standing, _), routed)| {
            outcomes[*n] = Some(standing.outcome());
            (*n, review::unfinished(&group[*n].task, routed))
        })
        .collect())
}
