//! The design invariants read straight from the database (after a load or crash run): what
//! each check counts, so that every count must be zero.

use super::error::StoreResult;
use crate::sql::{self, Runner};
use crate::store::seat_state::SeatState;
use std::collections::HashSet;

/// Task `task`'s items holding more seats than `bound` at `now`: leases that are live, plus
/// annotations that count toward overlap.
pub async fn over_overlap(
    on: &mut impl Runner,
    task: i64,
    now: i64,
    bound: i64,
) -> StoreResult<i64> {
    sql::query_scalar(format!(
        "SELECT COUNT(*) FROM task_items ti WHERE ti.task_id = $1 AND \
         (SELECT COUNT(*) FROM seats s JOIN leases l ON l.id = s.lease_id WHERE s.task_id = ti.task_id \
            AND s.item_id = ti.item_id AND s.state = {} AND l.released_at IS NULL AND l.expires_at > $2) \
         + (SELECT COUNT(*) FROM annotations a WHERE a.task_id = ti.task_id AND a.item_id = ti.item_id \
            AND a.active = 1 AND a.counted = 1) > $3",
        SeatState::Leased.sql()
    ))
    .bind(task)
    .bind(now)
    .bind(bound)
    .fetch_one(on)
    .await
}

/// (item, worker) pairs of task `task` with more than one live label. (Seats have (task,
/// item, worker) as primary key, so labels are the pairs to check.)
pub async fn duplicate_labels(on: &mut impl Runner, task: i64) -> StoreResult<i64> {
    sql::query_scalar(
        "SELECT COUNT(*) FROM (SELECT item_id, worker_id FROM annotations WHERE task_id = $1 \
         AND active = 1 GROUP BY item_id, worker_id HAVING COUNT(*) > 1) d",
    )
    .bind(task)
    .fetch_one(on)
    .await
}

/// (worker, client op id) of every label of task `task` sent with an op id.
pub async fn stored_ops(on: &mut impl Runner, task: i64) -> StoreResult<HashSet<(i64, String)>> {
    let rows = sql::query(
        "SELECT worker_id, client_op_id FROM annotations WHERE task_id = $1 \
         AND client_op_id IS NOT NULL",
    )
    .bind(task)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("worker_id")?, r.try_get("client_op_id")?)))
        .collect()
}

/// Task `task`'s items holding exactly its overlap in counted labels.
pub async fn fully_covered(on: &mut impl Runner, task: i64) -> StoreResult<i64> {
    sql::query_scalar(
        "SELECT COUNT(*) FROM task_items ti JOIN tasks t ON t.id = ti.task_id WHERE ti.task_id = $1 \
         AND (SELECT COUNT(*) FROM annotations a WHERE a.task_id = ti.task_id \
         AND a.item_id = ti.item_id AND a.active = 1 AND a.counted = 1) = t.overlap",
    )
    .bind(task)
    .fetch_one(on)
    .await
}
