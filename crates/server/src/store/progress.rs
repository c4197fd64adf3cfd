//! A task's progress as managers see it: item counts by state and each worker's planned and
//! done work.

use crate::sql::{self, Runner};
use std::collections::HashMap;

/// How many of a task's items are where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Items in the task.
    pub items: i64,
    /// Items with at least one label.
    pub labeled: i64,
    /// Items approved (by a reviewer or automatically).
    pub approved: i64,
    /// Items waiting for a reviewer.
    pub needs_review: i64,
}

/// The task's item counts.
pub async fn counts(on: &mut impl Runner, task_id: i64) -> sqlx::Result<Counts> {
    Ok(counts_of(on, &[task_id])
        .await?
        .remove(&task_id)
        .unwrap_or_default())
}

/// The item counts of each task in `ids` (tasks without items are missing), in one statement
/// per chunk of tasks: a page of tasks is not one scan per task in turn.
pub async fn counts_of(on: &mut impl Runner, ids: &[i64]) -> sqlx::Result<HashMap<i64, Counts>> {
    let mut out = HashMap::with_capacity(ids.len());
    for part in ids.chunks(CHUNK) {
        let rows = sql::query(format!(
            "SELECT task_id, COUNT(*) AS items, \
             CAST(COALESCE(SUM(CASE WHEN labeled > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS labeled, \
             CAST(COALESCE(SUM(CASE WHEN state IN ('approved', 'auto_approved') THEN 1 ELSE 0 END), 0) AS BIGINT) AS approved, \
             CAST(COALESCE(SUM(CASE WHEN state = 'needs_review' THEN 1 ELSE 0 END), 0) AS BIGINT) AS needs_review \
             FROM task_items WHERE task_id IN ({}) GROUP BY task_id",
            sql::params(1, part.len())
        ))
        .bind_all(part)
        .fetch_all(&mut *on)
        .await?;
        for r in &rows {
            let counts = Counts {
                items: r.try_get("items")?,
                labeled: r.try_get("labeled")?,
                approved: r.try_get("approved")?,
                needs_review: r.try_get("needs_review")?,
            };
            out.insert(r.try_get("task_id")?, counts);
        }
    }
    Ok(out)
}

/// One worker's share of a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Seats ever planned or handed to them, whatever became of them.
    pub planned: i64,
    /// Their active annotations.
    pub done: i64,
}

/// Ids per statement, well under both backends' parameter limits.
const CHUNK: usize = 500;

/// Each of `workers`' work in the task (workers with none are missing from the map).
pub async fn work(
    on: &mut impl Runner,
    task_id: i64,
    workers: &[i64],
) -> sqlx::Result<HashMap<i64, Work>> {
    let mut out: HashMap<i64, Work> = HashMap::new();
    for part in workers.chunks(CHUNK) {
        let ids = sql::params(2, part.len());
        for (table, extra, done) in [
            ("seats", "", false),
            ("annotations", " AND active = 1", true),
        ] {
            let rows = sql::query(format!(
                "SELECT worker_id, COUNT(*) AS n FROM {table} \
                 WHERE task_id = $1 AND worker_id IN ({ids}){extra} GROUP BY worker_id"
            ))
            .bind(task_id)
            .bind_all(part.iter().copied())
            .fetch_all(&mut *on)
            .await?;
            for r in &rows {
                let entry = out.entry(r.try_get("worker_id")?).or_default();
                let n: i64 = r.try_get("n")?;
                if done {
                    entry.done = n;
                } else {
                    entry.planned = n;
                }
            }
        }
    }
    Ok(out)
}
