//! Labels (`annotations`) as the scoring code reads them, and the gold answers they are
//! scored against.

use crate::sql::{self, Runner};

/// One active label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveLabel {
    /// The item labeled.
    pub item_id: i64,
    /// Who labeled it.
    pub worker_id: i64,
    /// The answer's consensus key (equal answers, equal keys).
    pub consensus_key: String,
    /// When.
    pub created_at: i64,
}

/// The task's active labels (only `worker`'s when given), in the order they were made.
pub async fn active(
    on: &mut impl Runner,
    task_id: i64,
    worker: Option<i64>,
) -> sqlx::Result<Vec<ActiveLabel>> {
    sql::query(
        "SELECT item_id, worker_id, consensus_key, created_at FROM annotations \
         WHERE task_id = $1 AND active = 1 AND ($2 = 0 OR worker_id = $2) ORDER BY id",
    )
    .bind(task_id)
    .bind(worker.unwrap_or(0))
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| {
        Ok(ActiveLabel {
            item_id: r.try_get("item_id")?,
            worker_id: r.try_get("worker_id")?,
            consensus_key: r.try_get("consensus_key")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .collect()
}

/// The gold answers (JSON text) of the task's items that have one, by item id.
pub async fn gold(on: &mut impl Runner, task_id: i64) -> sqlx::Result<Vec<(i64, String)>> {
    sql::query(
        "SELECT i.id, i.gold FROM items i JOIN task_items ti ON ti.item_id = i.id \
         WHERE ti.task_id = $1 AND i.gold IS NOT NULL",
    )
    .bind(task_id)
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("id")?, r.try_get("gold")?)))
    .collect()
}
