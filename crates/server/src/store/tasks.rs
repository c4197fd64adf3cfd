//! Tasks' rows: the stored task record and its loads.

use crate::sql::{self, Columns, Runner};
use quorum_core::ids::WorkerId;
use quorum_core::lifecycle::TaskStatus;
use quorum_core::task::TaskSpec;

/// A stored task.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// The manager's definition.
    pub spec: TaskSpec,
    /// Lifecycle status.
    pub status: TaskStatus,
    /// Distinct workers per item.
    pub overlap: i64,
    /// When it was made.
    pub created_at: i64,
    /// When its definition last changed.
    pub updated_at: i64,
    /// The stored last label time (older rows; now read from the labels).
    pub last_submitted_at: Option<i64>,
}

impl TaskRecord {
    /// Whether `worker` may label this task.
    pub fn has_assignee(&self, worker: i64) -> bool {
        self.spec.assignees.is_empty() || self.spec.assignees.contains(&WorkerId(worker))
    }

    /// Whether `worker` may review this task.
    pub fn has_reviewer(&self, worker: i64) -> bool {
        self.spec.reviewers.is_empty() || self.spec.reviewers.contains(&WorkerId(worker))
    }
}

/// Decodes a `tasks` row (all columns); a spec or status that does not parse is an error.
pub fn from_row(r: &impl Columns) -> sqlx::Result<TaskRecord> {
    let decode = |what: &str, e: String| sqlx::Error::Decode(format!("tasks.{what}: {e}").into());
    Ok(TaskRecord {
        id: r.column("id")?,
        project_id: r.column("project_id")?,
        spec: serde_json::from_str(&r.column::<String>("spec")?)
            .map_err(|e| decode("spec", e.to_string()))?,
        status: r
            .column::<String>("status")?
            .parse()
            .map_err(|e| decode("status", e))?,
        overlap: r.column("overlap")?,
        created_at: r.column("created_at")?,
        updated_at: r.column("updated_at")?,
        last_submitted_at: r.column("last_submitted_at")?,
    })
}

/// Task `id`, if any. `lock` is appended to the statement: the backend's ` FOR UPDATE` to
/// lock the row until the transaction ends, or nothing.
pub async fn get_with(
    on: &mut impl Runner,
    id: i64,
    lock: &str,
) -> sqlx::Result<Option<TaskRecord>> {
    sql::query(format!("SELECT * FROM tasks WHERE id = $1{lock}"))
        .bind(id)
        .fetch_optional(on)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Task `id`, if any.
pub async fn get(on: &mut impl Runner, id: i64) -> sqlx::Result<Option<TaskRecord>> {
    get_with(on, id, "").await
}
