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
use super::error::ApiResult;
use super::labeling::{label_alone, label_in};
use crate::db::Db;
use crate::store::tasks::TaskRecord;
use quorum_core::ids::ItemId;
use quorum_core::sync::{Op, Outcome};
use tokio::sync::{mpsc, oneshot};

/// Lanes per server: enough that a group is written while the next one gathers, few enough
/// that each stays large under load (one, two, four or eight measured the same).
const LANES: usize = 4;

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
        // Rows are locked in (task, item) order, so two groups never hold each other's rows
        // crosswise; a stable sort keeps labels on one item in the order they came.
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
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        match label_in(&mut w, &job.caller, &job.op, Some(&job.task), job.now).await? {
            Some(outcome) => outcomes.push(outcome),
            None => {
                return Err(super::error::ApiError::conflict(
                    "another request stored an op's answer first",
                ))
            }
        }
    }
    w.commit().await?;
    Ok(outcomes)
}
