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

/// The time of the task's last label, from its labels: a column on the task's row, written by
/// every label, made all labels on a task take turns on PostgreSQL (one row lock, one commit
/// each). `task` names the `tasks` row in the surrounding statement.
pub fn last_submitted(task: &str) -> String {
    format!("(SELECT MAX(a.created_at) FROM annotations a WHERE a.task_id = {task}.id)")
}

/// The last label time of each task in `ids` that exists: one index probe per task (the
/// latest label), not a scan of its labels.
pub async fn last_label_times(
    on: &mut impl Runner,
    ids: &[i64],
) -> sqlx::Result<Vec<(i64, Option<i64>)>> {
    let mut out = Vec::with_capacity(ids.len());
    for part in ids.chunks(500) {
        let rows = sql::query(format!(
            "SELECT t.id, {} AS last FROM tasks t WHERE t.id IN ({})",
            last_submitted("t"),
            sql::params(1, part.len())
        ))
        .bind_all(part)
        .fetch_all(&mut *on)
        .await?;
        for r in &rows {
            out.push((r.try_get("id")?, r.try_get("last")?));
        }
    }
    Ok(out)
}

/// Whether any label was ever stored on the task.
pub async fn has_labels(on: &mut impl Runner, task_id: i64) -> sqlx::Result<bool> {
    let any: Option<i64> =
        sql::query_scalar("SELECT task_id FROM annotations WHERE task_id = $1 LIMIT 1")
            .bind(task_id)
            .fetch_optional(on)
            .await?;
    Ok(any.is_some())
}

/// The task's item ids, in id order.
pub async fn item_ids(on: &mut impl Runner, task_id: i64) -> sqlx::Result<Vec<i64>> {
    sql::query_scalar("SELECT item_id FROM task_items WHERE task_id = $1 ORDER BY item_id")
        .bind(task_id)
        .fetch_all(on)
        .await
}

/// Stores a changed spec (`kind` is the spec's kind as the `kind` column names it); a new
/// task priority becomes every item's priority.
pub async fn update_spec(
    tx: &mut impl Runner,
    id: i64,
    spec: &TaskSpec,
    kind: &str,
    priority_changed: bool,
    now: i64,
) -> sqlx::Result<()> {
    let json = serde_json::to_string(spec)
        .map_err(|e| sqlx::Error::Encode(format!("tasks.spec: {e}").into()))?;
    sql::query(
        "UPDATE tasks SET name = $1, kind = $2, spec = $3, priority = $4, due_date = $5, \
         updated_at = $6 WHERE id = $7",
    )
    .bind(spec.name.trim())
    .bind(kind)
    .bind(json)
    .bind(spec.priority.map_or(0, |p| i64::from(p.0)))
    .bind(spec.due_date.map(|d| d.0))
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if let (Some(p), true) = (spec.priority, priority_changed) {
        sql::query("UPDATE task_items SET priority = $1 WHERE task_id = $2")
            .bind(i64::from(p.0))
            .bind(id)
            .execute(tx)
            .await?;
    }
    Ok(())
}

/// Moves the task to `status` (the caller checked the move with the core's lifecycle).
pub async fn set_status(
    tx: &mut impl Runner,
    id: i64,
    status: TaskStatus,
    now: Option<i64>,
) -> sqlx::Result<()> {
    match now {
        Some(now) => {
            sql::query("UPDATE tasks SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status.to_string())
                .bind(now)
                .bind(id)
                .execute(tx)
                .await?
        }
        None => {
            sql::query("UPDATE tasks SET status = $1 WHERE id = $2")
                .bind(status.to_string())
                .bind(id)
                .execute(tx)
                .await?
        }
    };
    Ok(())
}

/// Deletes a task with everything that hangs on it.
pub async fn delete(tx: &mut impl Runner, id: i64) -> sqlx::Result<()> {
    for table in [
        "seats",
        "annotations",
        "reviews",
        "leases",
        "task_items",
        "task_people",
    ] {
        sql::query(format!("DELETE FROM {table} WHERE task_id = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    sql::query("DELETE FROM tasks WHERE id = $1")
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Takes an item out of the task with its open seats (labels made stay in its history);
/// returns whether the item was in the task.
pub async fn remove_item(tx: &mut impl Runner, task_id: i64, item_id: i64) -> sqlx::Result<bool> {
    let removed = sql::query("DELETE FROM task_items WHERE task_id = $1 AND item_id = $2")
        .bind(task_id)
        .bind(item_id)
        .execute(&mut *tx)
        .await?;
    sql::query(
        "DELETE FROM seats WHERE task_id = $1 AND item_id = $2 \
         AND state IN ('assigned', 'leased', 'rework')",
    )
    .bind(task_id)
    .bind(item_id)
    .execute(tx)
    .await?;
    Ok(removed > 0)
}

/// Sets an item's priority in the task; returns whether the item is in the task.
pub async fn set_item_priority(
    tx: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    priority: i64,
) -> sqlx::Result<bool> {
    let changed =
        sql::query("UPDATE task_items SET priority = $1 WHERE task_id = $2 AND item_id = $3")
            .bind(priority)
            .bind(task_id)
            .bind(item_id)
            .execute(tx)
            .await?;
    Ok(changed > 0)
}
