//! Checks the design invariants straight from the database after a load or crash run: overlap
//! never exceeded, no item twice to one worker, nothing acknowledged lost.

use crate::db::Db;
use crate::loadgen::Acked;
use quorum_core::ids::TaskId;
use std::collections::HashSet;

/// What a check found; every count must be zero.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Violations {
    /// Items with more on-time annotations plus live leases than the overlap.
    pub over_overlap: u64,
    /// (item, worker) pairs handed out more than once.
    pub duplicate_seats: u64,
    /// Acknowledged submissions absent from the database.
    pub missing_acked: u64,
}

impl Violations {
    /// The sum of all violations.
    pub fn total(&self) -> u64 {
        self.over_overlap + self.duplicate_seats + self.missing_acked
    }
}

/// Reads the database at `url` and counts violations for `task`.
pub async fn check(url: &str, task: TaskId, acked: &[Acked]) -> anyhow::Result<Violations> {
    let db = Db::connect(url).await?;
    let now = crate::clock::now().0;
    // A task with dynamic overlap may take up to its maximum on an uncertain item.
    let (spec, overlap): (String, i64) =
        sqlx::query_as("SELECT spec, overlap FROM tasks WHERE id = $1")
            .bind(task.0)
            .fetch_one(db.pool())
            .await?;
    let spec: quorum_core::task::TaskSpec = serde_json::from_str(&spec)?;
    let bound = spec
        .dynamic_overlap
        .map_or(overlap, |d| i64::from(d.max_overlap).max(overlap));
    // Seats held now: leases that are live, plus annotations that count toward overlap.
    let over: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM task_items ti WHERE ti.task_id = $1 AND \
         (SELECT COUNT(*) FROM seats s JOIN leases l ON l.id = s.lease_id WHERE s.task_id = ti.task_id \
            AND s.item_id = ti.item_id AND s.state = 'leased' AND l.released_at IS NULL AND l.expires_at > $2) \
         + (SELECT COUNT(*) FROM annotations a WHERE a.task_id = ti.task_id AND a.item_id = ti.item_id \
            AND a.active = 1 AND a.counted = 1) > $3",
    )
    .bind(task.0)
    .bind(now)
    .bind(bound)
    .fetch_one(db.pool())
    .await?;
    // Seats have (task, item, worker) as primary key; live labels must be one per worker too.
    let duplicates: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT item_id, worker_id FROM annotations WHERE task_id = $1 AND active = 1 \
         GROUP BY item_id, worker_id HAVING COUNT(*) > 1) d",
    )
    .bind(task.0)
    .fetch_one(db.pool())
    .await?;
    let stored: HashSet<(i64, String)> = sqlx::query_as::<_, (i64, String)>(
        "SELECT worker_id, client_op_id FROM annotations WHERE task_id = $1 AND client_op_id IS NOT NULL",
    )
    .bind(task.0)
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .collect();
    let missing = acked
        .iter()
        .filter(|a| !stored.contains(&(a.worker, a.client_op_id.clone())))
        .count();
    db.pool().close().await;
    Ok(Violations {
        over_overlap: over as u64,
        duplicate_seats: duplicates as u64,
        missing_acked: missing as u64,
    })
}

/// Items of `task` that hold exactly their overlap in on-time annotations.
pub async fn fully_covered_items(url: &str, task: TaskId) -> anyhow::Result<u64> {
    let db = Db::connect(url).await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM task_items ti JOIN tasks t ON t.id = ti.task_id WHERE ti.task_id = $1 AND \
         (SELECT COUNT(*) FROM annotations a WHERE a.task_id = ti.task_id AND a.item_id = ti.item_id \
            AND a.active = 1 AND a.counted = 1) = t.overlap",
    )
    .bind(task.0)
    .fetch_one(db.pool())
    .await?;
    db.pool().close().await;
    Ok(n as u64)
}
