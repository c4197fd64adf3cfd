//! Checks the design invariants straight from the database after a load or crash run: overlap
//! never exceeded, no item twice to one worker, nothing acknowledged lost, the task's kept
//! counts equal to its items.

use crate::db::Db;
use crate::loadgen::Acked;
use crate::store::invariants as store;
use crate::store::progress;
use crate::store::Runner;
use quorum_core::ids::TaskId;

/// What a check found; every count must be zero.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Violations {
    /// Items with more on-time annotations plus live leases than the overlap.
    pub over_overlap: u64,
    /// (item, worker) pairs handed out more than once.
    pub duplicate_seats: u64,
    /// Acknowledged submissions absent from the database.
    pub missing_acked: u64,
    /// Item counts (items, labeled, approved, needs review) whose kept figure differs from a
    /// count of the task's items.
    pub miscounted: u64,
}

impl Violations {
    /// The sum of all violations.
    pub fn total(&self) -> u64 {
        self.over_overlap + self.duplicate_seats + self.missing_acked + self.miscounted
    }
}

/// Reads the database at `url` and counts violations for `task`.
pub async fn check(url: &str, task: TaskId, acked: &[Acked]) -> anyhow::Result<Violations> {
    let db = Db::connect(url).await?;
    let now = crate::clock::now().0;
    let mut on = db.scan();
    let task_row = crate::store::tasks::get(&mut on, task.0)
        .await?
        .ok_or_else(|| anyhow::anyhow!("task {} does not exist", task.0))?;
    // A task with dynamic overlap may take up to its maximum on an uncertain item.
    let bound = i64::from(task_row.spec.most_per_item(task_row.overlap as u32));
    let over = store::over_overlap(&mut on, task.0, now, bound).await?;
    let duplicates = store::duplicate_labels(&mut on, task.0).await?;
    let stored = store::stored_ops(&mut on, task.0).await?;
    let missing = acked
        .iter()
        .filter(|a| !stored.contains(&(a.worker, a.client_op_id.clone())))
        .count();
    let miscounted = miscounted(&mut on, task.0).await?;
    db.pool().close().await;
    Ok(Violations {
        over_overlap: over as u64,
        duplicate_seats: duplicates as u64,
        missing_acked: missing as u64,
        miscounted,
    })
}

/// How many of the task's kept item counts differ from a count of its items.
async fn miscounted(on: &mut impl Runner, task: i64) -> anyhow::Result<u64> {
    let (kept, counted) = counts_both_ways(on, task).await?;
    let off = [
        (kept.items, counted.items),
        (kept.labeled, counted.labeled),
        (kept.approved, counted.approved),
        (kept.needs_review, counted.needs_review),
    ]
    .iter()
    .filter(|(a, b)| a != b)
    .count();
    Ok(off as u64)
}

async fn counts_both_ways(
    on: &mut impl Runner,
    task: i64,
) -> anyhow::Result<(progress::Counts, progress::Counts)> {
    Ok((
        progress::counts(&mut *on, task).await?,
        progress::recount(&mut *on, task).await?,
    ))
}

/// Every task of the database at `url` whose kept item counts differ from its items: what a
/// test's end checks, whatever the test did. Each as "task N: kept …, counted …".
pub async fn miscounted_tasks(url: &str) -> anyhow::Result<Vec<String>> {
    let db = Db::connect(url).await?;
    let mut on = db.scan();
    let mut off = Vec::new();
    for task in crate::store::tasks::all_ids(&mut on).await? {
        let (kept, counted) = counts_both_ways(&mut on, task).await?;
        if kept != counted {
            off.push(format!("task {task}: kept {kept:?}, counted {counted:?}"));
        }
    }
    db.pool().close().await;
    Ok(off)
}

/// Items of `task` that hold exactly their overlap in on-time annotations.
pub async fn fully_covered_items(url: &str, task: TaskId) -> anyhow::Result<u64> {
    let db = Db::connect(url).await?;
    let n = store::fully_covered(&mut db.scan(), task.0).await?;
    db.pool().close().await;
    Ok(n as u64)
}
