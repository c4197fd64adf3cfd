//! What the benchmarks write straight into the database: months of labeling in one statement,
//! so that a measurement starts from a realistic table without replaying the API.

use super::error::StoreResult;
use crate::sql::{self, Runner};

/// Writes three classification labels (workers 1000001–1000003) on each of task `task`'s
/// first `items` items and approves every third of them; the task's label count after.
pub async fn write_labels(on: &mut impl Runner, task: i64, items: i64) -> StoreResult<i64> {
    sql::query(
        "INSERT INTO annotations (task_id, item_id, worker_id, value, consensus_key, late, counted, \
         active, created_at) \
         SELECT ti.task_id, ti.item_id, w.n, '{\"type\":\"classification\",\"concept\":\"a\"}', 'a', 0, 1, 1, 0 FROM \
         (SELECT task_id, item_id FROM task_items WHERE task_id = $1 ORDER BY item_id LIMIT $2) ti \
         CROSS JOIN (SELECT 1000001 AS n UNION ALL SELECT 1000002 UNION ALL SELECT 1000003) w",
    )
    .bind(task)
    .bind(items)
    .execute(&mut *on)
    .await?;
    sql::query(format!(
        "UPDATE task_items SET state = '{}' WHERE task_id = $1 AND item_id % 3 = 0 \
         AND item_id IN (SELECT item_id FROM task_items WHERE task_id = $1 ORDER BY item_id LIMIT $2)",
        quorum_core::review::ResultState::Approved.as_str()
    ))
    .bind(task)
    .bind(items)
    .execute(&mut *on)
    .await?;
    sql::query_scalar("SELECT COUNT(*) FROM annotations WHERE task_id = $1")
        .bind(task)
        .fetch_one(on)
        .await
}
