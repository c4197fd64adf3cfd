//! What changed last on a task: the mark a live task page compares to know when to refresh.

use crate::sql::{self, Runner};

/// A task's latest activity: its newest labels (time and how many at that time, so a second
/// label in the same millisecond still shows), its newest review and lease, its own last
/// change, and its project's newest job update. Equal marks mean nothing a task page shows
/// has changed, save leases running out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark(Vec<i64>);

impl Mark {
    /// A short text for the event stream (`e.g. 1732912000123.2.41.77.1732911000000.0`).
    pub fn text(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(i64::to_string).collect();
        parts.join(".")
    }
}

/// Reads the task's mark. Every part is the top of one index range of the task (or the
/// project's handful of jobs), so the cost does not grow with the task or the database.
pub async fn mark(on: &mut impl Runner, task_id: i64, project_id: i64) -> sqlx::Result<Mark> {
    let row = sql::query(
        "SELECT \
           COALESCE((SELECT MAX(created_at) FROM annotations WHERE task_id = $1), 0) AS label_at, \
           (SELECT COUNT(*) FROM annotations WHERE task_id = $1 AND created_at = \
              (SELECT MAX(created_at) FROM annotations WHERE task_id = $1)) AS labels_then, \
           COALESCE((SELECT MAX(id) FROM reviews WHERE task_id = $1), 0) AS review, \
           COALESCE((SELECT MAX(id) FROM leases WHERE task_id = $1), 0) AS lease, \
           COALESCE((SELECT updated_at FROM tasks WHERE id = $1), 0) AS task_at, \
           COALESCE((SELECT MAX(updated_at) FROM jobs WHERE project_id = $2), 0) AS job_at",
    )
    .bind(task_id)
    .bind(project_id)
    .fetch_one(on)
    .await?;
    let mut parts = Vec::with_capacity(6);
    for column in [
        "label_at",
        "labels_then",
        "review",
        "lease",
        "task_at",
        "job_at",
    ] {
        parts.push(row.try_get::<i64>(column)?);
    }
    Ok(Mark(parts))
}
