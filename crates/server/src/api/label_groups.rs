//! Labels written in groups on PostgreSQL: one transaction, one `BEGIN` and one `COMMIT` for
//! every label that arrived while the last group was being written.
//!
//! A label alone is seven statements and a commit, and on PostgreSQL a statement's fixed cost
//! (its locks, its executor, its round trip) is most of what a label costs: the database's
//! CPU, not its disk, bounded throughput. A lane takes every label queued behind the one it
//! is writing and applies them one after another in one claim, each exactly as alone (the same
//! [`label_in`]), so a label spends its seat's read, its writes and its route, and shares the
//! rest.
//!
//! Lanes are chosen by item, so labels on one item meet in one lane and never wait for each
//! other across lanes; a group takes its items in (task, item, worker) order, so two groups
//! never lock each other's rows crosswise. Anything unusual in a group (another request
//! stored an op's answer first, a deadlock with a review or a release, any error) rolls the
//! whole group back and applies its labels one at a time, each in its own claim: a group is
//! only ever a faster way to the answers the labels would get alone. Nothing is answered
//! before its group (or its own claim) has committed (invariant 3).

use super::error::{ApiError, ApiResult};
use super::labeling::{label_alone, label_in};
use crate::db::Db;
use crate::store::tasks::TaskRecord;
use quorum_core::sync::{Action, Op, Outcome};
use tokio::sync::{mpsc, oneshot};

use super::auth::Caller;

/// Lanes per server: enough that a group is written while the next one gathers, few enough
/// that each stays large under load.
const LANES: usize = 4;

/// Most labels in one group: its locks are held until its commit.
const MOST: usize = 32;

/// The lanes of one server process.
pub struct LabelGroups {
    lanes: Vec<mpsc::Sender<Job>>,
}

/// A label waiting for its group.
struct Job {
    caller: Caller,
    op: Op,
    task: TaskRecord,
    now: i64,
    reply: oneshot::Sender<ApiResult<Outcome>>,
}

impl Job {
    /// The order a group takes its labels (and their rows' locks) in.
    fn key(&self) -> (i64, i64, i64) {
        (self.task.id, item_of(&self.op), self.caller.id)
    }
}

fn item_of(op: &Op) -> i64 {
    match &op.action {
        Action::Submit { item_id, .. } => item_id.0,
        _ => 0,
    }
}

impl LabelGroups {
    /// Starts the lanes on `db` (within the server's runtime).
    pub fn start(db: &Db) -> Self {
        let lanes = (0..LANES)
            .map(|_| {
                let (sender, receiver) = mpsc::channel(1024);
                tokio::spawn(lane(db.clone(), receiver));
                sender
            })
            .collect();
        Self { lanes }
    }

    /// Applies a label op the caller may make (its access checked, its answer not stored yet)
    /// and answers once it is committed.
    pub async fn label(
        &self,
        caller: &Caller,
        op: &Op,
        task: &TaskRecord,
        now: i64,
    ) -> ApiResult<Outcome> {
        let lane = &self.lanes[item_of(op).rem_euclid(self.lanes.len() as i64) as usize];
        let (reply, answer) = oneshot::channel();
        let job = Job {
            caller: caller.clone(),
            op: op.clone(),
            task: task.clone(),
            now,
            reply,
        };
        let gone = || ApiError::internal("the label writer stopped");
        lane.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// One lane: gathers what is queued, writes it as a group, answers each label.
async fn lane(db: Db, mut queue: mpsc::Receiver<Job>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MOST {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        group.sort_by_key(Job::key);
        if group.len() > 1 {
            match together(&db, &group).await {
                Ok(outcomes) => {
                    for (job, outcome) in group.into_iter().zip(outcomes) {
                        let _ = job.reply.send(Ok(outcome));
                    }
                    continue;
                }
                Err(e) => tracing::debug!("a label group fell back to single labels: {e:?}"),
            }
        }
        for job in group {
            let outcome = alone(&db, &job).await;
            let _ = job.reply.send(outcome);
        }
    }
}

/// The group's labels in one claim, in order; an error when any of them would not be applied
/// exactly as alone.
async fn together(db: &Db, group: &[Job]) -> ApiResult<Vec<Outcome>> {
    let mut w = db.claim().await?;
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        match label_in(&mut w, &job.caller, &job.op, Some(&job.task), job.now).await? {
            Some(outcome) => outcomes.push(outcome),
            None => return Err(ApiError::conflict("an op's answer was stored meanwhile")),
        }
    }
    w.commit().await?;
    Ok(outcomes)
}

/// One label in its own claim.
async fn alone(db: &Db, job: &Job) -> ApiResult<Outcome> {
    label_alone(db, &job.caller, &job.op, Some(&job.task), job.now).await
}
