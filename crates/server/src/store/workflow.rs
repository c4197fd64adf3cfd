//! Workflow steps in storage: items per step (`task_items.step`) and the items a step's
//! priority update reads. The step rules are the core's `workflow`, applied by `api::workflow`.

use crate::sql::{self, Runner, Tx};
use quorum_core::review::ResultState;

/// Items of the task not yet approved, per step (`(step, count)`), and those whose step is
/// `finished` or later (the workflow's end) under step `-1`.
pub async fn waiting_per_step(
    on: &mut impl Runner,
    task_id: i64,
    finished: i64,
) -> sqlx::Result<Vec<(i64, i64)>> {
    sql::query(format!(
        "SELECT step, COUNT(*) AS n FROM task_items WHERE task_id = $1 AND state <> '{}' \
         AND state <> '{}' GROUP BY step \
         UNION ALL SELECT -1 AS step, COUNT(*) AS n FROM task_items WHERE task_id = $1 AND step >= $2{}",
        ResultState::Approved.as_str(),
        ResultState::AutoApproved.as_str(),
        past_labeling(finished)
    ))
    .bind(task_id)
    .bind(finished)
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("step")?, r.try_get("n")?)))
    .collect()
}

/// ` AND step > 0` where `step` is past labeling: the step index holds only those items
/// (migration 19), and a prepared statement's plan cannot see that `$2` is above 0.
pub(super) fn past_labeling(step: i64) -> &'static str {
    if step > 0 {
        " AND step > 0"
    } else {
        ""
    }
}

/// Whether any of the task's items has left the labeling step.
pub async fn any_past_labeling(on: &mut impl Runner, task_id: i64) -> sqlx::Result<bool> {
    let moved: Option<i64> =
        sql::query_scalar("SELECT item_id FROM task_items WHERE task_id = $1 AND step > 0 LIMIT 1")
            .bind(task_id)
            .fetch_optional(on)
            .await?;
    Ok(moved.is_some())
}

/// An item's place in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    /// The item.
    pub item_id: i64,
    /// The step it waits in.
    pub step: i64,
    /// Its priority there.
    pub priority: i64,
}

/// Which of the task's items [`lock_queued`] reads.
pub enum Among<'a> {
    /// Those waiting in this step.
    Step(i64),
    /// These.
    Items(&'a [i64]),
}

/// The task's items `among`, by item id, their rows locked until the claim ends (labels move
/// items between steps).
pub async fn lock_queued(tx: &mut Tx, task_id: i64, among: Among<'_>) -> sqlx::Result<Vec<Queued>> {
    let lock = tx.lock_rows("task_items");
    let query = match among {
        Among::Step(step) => sql::query(format!(
            "SELECT item_id, step, priority FROM task_items WHERE task_id = $1 AND step = $2{} \
             ORDER BY item_id{lock}",
            past_labeling(step)
        ))
        .bind(task_id)
        .bind(step),
        Among::Items([]) => return Ok(Vec::new()),
        Among::Items(ids) => sql::query(format!(
            "SELECT item_id, step, priority FROM task_items WHERE task_id = $1 AND item_id IN ({}) \
             ORDER BY item_id{lock}",
            sql::params(2, ids.len())
        ))
        .bind(task_id)
        .bind_all(ids),
    };
    query
        .fetch_all(tx)
        .await?
        .iter()
        .map(|r| {
            Ok(Queued {
                item_id: r.try_get("item_id")?,
                step: r.try_get("step")?,
                priority: r.try_get("priority")?,
            })
        })
        .collect()
}
