//! What whole-task aggregation reads and writes: which tasks are due, their counted answers and
//! gold, the revised results, and the mark of which labels a run covered.

use super::decode;
use super::error::StoreResult;
use super::tasks::last_submitted;
use crate::sql::{self, Runner};
use quorum_core::label::LabelValue;
use quorum_core::lifecycle::TaskStatus;
use quorum_core::review::ResultState;
use quorum_core::task::TaskSpec;

/// Marks the task's labels so far as aggregated (the sweep runs again after newer ones).
pub async fn mark_aggregated(on: &mut impl Runner, task_id: i64) -> StoreResult<()> {
    sql::query(format!(
        "UPDATE tasks SET aggregated_at = {} WHERE id = $1",
        last_submitted("tasks")
    ))
    .bind(task_id)
    .execute(on)
    .await?;
    Ok(())
}

/// A running task with labels newer than its last aggregation.
#[derive(Debug, Clone)]
pub struct Due {
    /// The task.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// Its definition.
    pub spec: TaskSpec,
}

/// The running tasks with labels since their last aggregation, in id order.
pub async fn due(on: &mut impl Runner) -> StoreResult<Vec<Due>> {
    let last = last_submitted("tasks");
    let rows = sql::query(format!(
        "SELECT id, project_id, spec FROM tasks WHERE status IN ('{}', '{}') \
         AND {last} IS NOT NULL AND (aggregated_at IS NULL OR aggregated_at < {last}) ORDER BY id",
        TaskStatus::InProgress,
        TaskStatus::Completed,
    ))
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Due {
                id: r.try_get("id")?,
                project_id: r.try_get("project_id")?,
                spec: decode::json(r, "spec")?,
            })
        })
        .collect()
}

/// Marks the task aggregated unless another run did since it was found due; whether this call
/// did (so of several replicas sweeping at once only one runs it).
pub async fn claim_due(on: &mut impl Runner, task_id: i64) -> StoreResult<bool> {
    let last = last_submitted("tasks");
    let n = sql::query(format!(
        "UPDATE tasks SET aggregated_at = {last} WHERE id = $1 \
         AND (aggregated_at IS NULL OR aggregated_at < {last})",
    ))
    .bind(task_id)
    .execute(on)
    .await?;
    Ok(n == 1)
}

/// A label that counts toward consensus.
#[derive(Debug, Clone)]
pub struct Counted {
    /// The item.
    pub item_id: i64,
    /// Who gave it.
    pub worker_id: i64,
    /// What equal answers share.
    pub consensus_key: String,
    /// The label, as stored (JSON text).
    pub value: String,
}

/// The task's active, counted labels, oldest first.
pub async fn counted_labels(on: &mut impl Runner, task_id: i64) -> StoreResult<Vec<Counted>> {
    let rows = sql::query(
        "SELECT item_id, worker_id, consensus_key, value FROM annotations \
         WHERE task_id = $1 AND active = 1 AND counted = 1 ORDER BY id",
    )
    .bind(task_id)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Counted {
                item_id: r.try_get("item_id")?,
                worker_id: r.try_get("worker_id")?,
                consensus_key: r.try_get("consensus_key")?,
                value: r.try_get("value")?,
            })
        })
        .collect()
}

/// (item, gold answer) of the task's items that hold one.
pub async fn gold(on: &mut impl Runner, task_id: i64) -> StoreResult<Vec<(i64, LabelValue)>> {
    let rows = sql::query(super::labels::GOLD_OF_TASK)
        .bind(task_id)
        .fetch_all(on)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, decode::json(r, "gold")?)))
        .collect()
}

/// A revised result for one item.
#[derive(Debug, Clone, Copy)]
pub struct Revised<'a> {
    /// The task.
    pub task_id: i64,
    /// The item.
    pub item_id: i64,
    /// The label (JSON text).
    pub value: &'a str,
    /// How sure.
    pub confidence: f64,
    /// The method's name.
    pub method: &'a str,
}

/// Writes a revised result unless a reviewer decided the item or it is already so; whether it
/// changed.
pub async fn revise(on: &mut impl Runner, r: Revised<'_>) -> StoreResult<bool> {
    let n = sql::query(format!(
        "UPDATE task_items SET result = $1, confidence = $2, method = $3 WHERE task_id = $4 \
         AND item_id = $5 AND state NOT IN ('{}', '{}') \
         AND (result IS NULL OR result <> $1 OR confidence <> $2)",
        ResultState::Approved.as_str(),
        ResultState::Rejected.as_str()
    ))
    .bind(r.value)
    .bind(r.confidence)
    .bind(r.method)
    .bind(r.task_id)
    .bind(r.item_id)
    .execute(on)
    .await?;
    Ok(n == 1)
}
