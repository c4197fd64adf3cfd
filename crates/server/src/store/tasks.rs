//! Tasks' rows: the stored task record and its loads.

use crate::sql::{self, Columns, Runner};
use crate::store::progress;
use crate::store::seat_state::SeatState;
use crate::store::users::{Role, Roles};
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
    /// How many times its schema or kind changed: a label is stored only under the version it
    /// was checked against (`store::labels`).
    pub schema_version: i64,
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
        schema_version: r.column("schema_version")?,
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

/// The condition, inside a write, that task `$1` is not archived (nor gone), and that its row
/// also meets `and` (a further test, then a lock clause, or nothing). Writes that may have
/// waited for an item's row carry it (a lease's insert, a label's with its schema test): the
/// request read the task before the wait, and an archive marks its tasks before it locks their
/// items' rows, so only a statement run after the wait sees the archive.
pub fn not_archived(and: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM tasks WHERE id = $1 AND status <> '{}'{and})",
        TaskStatus::Archived
    )
}

/// Whether the task is archived, as of this statement: work that waited for an item's row
/// reads it again here, since an archive marks its tasks before it locks their items' rows.
pub async fn archived(on: &mut impl Runner, task_id: i64) -> sqlx::Result<bool> {
    let status: Option<String> = sql::query_scalar("SELECT status FROM tasks WHERE id = $1")
        .bind(task_id)
        .fetch_optional(on)
        .await?;
    Ok(status.is_some_and(|s| s == TaskStatus::Archived.to_string()))
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

/// What a spec change changes besides the spec itself.
#[derive(Debug, Clone, Copy)]
pub struct SpecChange {
    /// The schema or the kind: labels checked against the old one are no longer stored.
    pub schema: bool,
    /// The task priority, which becomes every item's priority.
    pub priority: bool,
}

/// Stores a changed spec (`kind` is the spec's kind as the `kind` column names it).
pub async fn update_spec(
    tx: &mut impl Runner,
    id: i64,
    spec: &TaskSpec,
    kind: &str,
    change: SpecChange,
    now: i64,
) -> sqlx::Result<()> {
    let json = serde_json::to_string(spec)
        .map_err(|e| sqlx::Error::Encode(format!("tasks.spec: {e}").into()))?;
    sql::query(
        "UPDATE tasks SET name = $1, kind = $2, spec = $3, priority = $4, due_date = $5, \
         updated_at = $6, schema_version = schema_version + $8 WHERE id = $7",
    )
    .bind(spec.name.trim())
    .bind(kind)
    .bind(json)
    .bind(spec.priority.map_or(0, |p| i64::from(p.0)))
    .bind(spec.due_date.map(|d| d.0))
    .bind(now)
    .bind(id)
    .bind(change.schema as i64)
    .execute(&mut *tx)
    .await?;
    if let (Some(p), true) = (spec.priority, change.priority) {
        sql::query("UPDATE task_items SET priority = $1 WHERE task_id = $2")
            .bind(i64::from(p.0))
            .bind(id)
            .execute(tx)
            .await?;
    }
    Ok(())
}

/// Moves the task to `status` (the caller checked the move with the core's lifecycle). An
/// archived task stays archived: the status a label or a lease works out comes from a read made
/// before an archive may have committed, and must not write over it.
pub async fn set_status(
    tx: &mut impl Runner,
    id: i64,
    status: TaskStatus,
    now: Option<i64>,
) -> sqlx::Result<()> {
    match now {
        Some(now) => {
            sql::query(
                "UPDATE tasks SET status = $1, updated_at = $2 WHERE id = $3 AND status <> $4",
            )
            .bind(status.to_string())
            .bind(now)
            .bind(id)
            .bind(TaskStatus::Archived.to_string())
            .execute(tx)
            .await?
        }
        None => {
            sql::query("UPDATE tasks SET status = $1 WHERE id = $2 AND status <> $3")
                .bind(status.to_string())
                .bind(id)
                .bind(TaskStatus::Archived.to_string())
                .execute(tx)
                .await?
        }
    };
    Ok(())
}

/// Deletes a task with everything that hangs on it; the archive it was in, if any, as of the
/// deleted row (on PostgreSQL the row an archive that held it committed).
pub async fn delete(tx: &mut impl Runner, id: i64) -> sqlx::Result<Option<i64>> {
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
    let archive: Option<Option<i64>> =
        sql::query_scalar("DELETE FROM tasks WHERE id = $1 RETURNING archive_id")
            .bind(id)
            .fetch_optional(tx)
            .await?;
    Ok(archive.flatten())
}

/// Every task's id, in order (for checks over a whole database).
pub async fn all_ids(on: &mut impl Runner) -> sqlx::Result<Vec<i64>> {
    sql::query_scalar("SELECT id FROM tasks ORDER BY id")
        .fetch_all(on)
        .await
}

/// Takes an item out of the task with its open seats (labels made stay in its history);
/// returns whether the item was in the task.
pub async fn remove_item(tx: &mut impl Runner, task_id: i64, item_id: i64) -> sqlx::Result<bool> {
    let removed = sql::query(
        "DELETE FROM task_items WHERE task_id = $1 AND item_id = $2 RETURNING labeled, state",
    )
    .bind(task_id)
    .bind(item_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = &removed {
        let labeled: i64 = row.try_get("labeled")?;
        let state: String = row.try_get("state")?;
        let state = crate::store::reviews::parse_state(&state)?;
        progress::item_removed(&mut *tx, task_id, labeled > 0, state).await?;
    }
    sql::query(format!(
        "DELETE FROM seats WHERE task_id = $1 AND item_id = $2 AND state IN ({}, {}, {})",
        SeatState::Assigned.sql(),
        SeatState::Leased.sql(),
        SeatState::Rework.sql()
    ))
    .bind(task_id)
    .bind(item_id)
    .execute(tx)
    .await?;
    Ok(removed.is_some())
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

/// SQL that holds when the user bound at `user` may work on task alias `t`: named on it, or a
/// member with the role when the task leaves that list empty (open to every annotator or
/// reviewer of the project). `role` limits it to `annotator` or `reviewer`.
fn works_on(user: &str, t: &str, role: Option<Role>) -> String {
    let roles = role.map_or(vec![Role::Annotator, Role::Reviewer], |r| vec![r]);
    let mut any = Vec::new();
    for role in roles {
        let r = role.name();
        any.push(format!(
            "EXISTS (SELECT 1 FROM task_people p WHERE p.task_id = {t}.id AND p.user_id = {user} AND p.role = '{r}') \
             OR (NOT EXISTS (SELECT 1 FROM task_people p WHERE p.task_id = {t}.id AND p.role = '{r}') \
             AND EXISTS (SELECT 1 FROM members m WHERE m.project_id = {t}.project_id AND m.user_id = {user} \
             AND {holds}))",
            holds = Roles::holding_sql("m.roles", role)
        ));
    }
    any.join(" OR ")
}

/// The order of a task list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By creation time.
    Created,
    /// By the last label's time.
    LastSubmitted,
    /// By task priority.
    Priority,
}

/// Which tasks a list shows, in which order.
pub struct ListFilter<'a> {
    /// Who asks: they see the tasks of projects they manage and those they work on.
    pub viewer: i64,
    /// Admins see every task.
    pub viewer_is_admin: bool,
    /// Only this project's.
    pub project_id: Option<i64>,
    /// Only in this status.
    pub status: Option<TaskStatus>,
    /// Only of this kind (empty: any).
    pub kind: Option<&'a str>,
    /// Only those this user may label.
    pub worker: Option<i64>,
    /// Only those this user may review.
    pub reviewer: Option<i64>,
    /// Only those due before this time.
    pub due_before: Option<i64>,
    /// The order…
    pub sort: Sort,
    /// …and its direction.
    pub descending: bool,
    /// At most this many…
    pub limit: i64,
    /// …after skipping this many.
    pub offset: i64,
}

/// A page of the tasks `filter` selects.
pub async fn list(on: &mut impl Runner, filter: &ListFilter<'_>) -> sqlx::Result<Vec<TaskRecord>> {
    let sort_col = match filter.sort {
        Sort::Created => "t.created_at".to_owned(),
        Sort::LastSubmitted => format!("COALESCE({}, t.last_submitted_at, 0)", last_submitted("t")),
        Sort::Priority => "t.priority".to_owned(),
    };
    let dir = if filter.descending { "DESC" } else { "ASC" };
    let statement = format!(
        "SELECT t.* FROM tasks t WHERE \
         ($1 = 1 OR EXISTS (SELECT 1 FROM members m WHERE m.project_id = t.project_id AND m.user_id = $2 \
            AND {manages}) \
          OR {visible}) \
         AND ($3 = 0 OR t.project_id = $3) AND ($4 = '' OR t.status = $4) AND ($5 = '' OR t.kind = $5) \
         AND ($6 = 0 OR {worker}) \
         AND ($7 = 0 OR {reviewer}) \
         AND ($8 = 0 OR (t.due_date IS NOT NULL AND t.due_date < $8)) \
         ORDER BY {sort_col} {dir}, t.id {dir} LIMIT $9 OFFSET $10",
        manages = Roles::holding_sql("m.roles", Role::Manager),
        visible = works_on("$2", "t", None),
        worker = works_on("$6", "t", Some(Role::Annotator)),
        reviewer = works_on("$7", "t", Some(Role::Reviewer)),
    );
    sql::query(statement)
        .bind(i64::from(filter.viewer_is_admin))
        .bind(filter.viewer)
        .bind(filter.project_id.unwrap_or(0))
        .bind(filter.status.map(|s| s.to_string()).unwrap_or_default())
        .bind(filter.kind.unwrap_or_default())
        .bind(filter.worker.unwrap_or(0))
        .bind(filter.reviewer.unwrap_or(0))
        .bind(filter.due_before.unwrap_or(0))
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(on)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// The tasks `user` labels or reviews that are not archived, by id.
pub async fn worked_on_by(on: &mut impl Runner, user: i64) -> sqlx::Result<Vec<TaskRecord>> {
    sql::query(format!(
        "SELECT t.* FROM tasks t WHERE t.status <> '{}' AND ({}) ORDER BY t.id",
        TaskStatus::Archived,
        works_on("$1", "t", None)
    ))
    .bind(user)
    .fetch_all(on)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

/// Replaces the task's people (`task_people`: who labels and who reviews it) with `people`,
/// each a (user, role) pair, role annotator or reviewer.
pub async fn set_people(
    tx: &mut impl Runner,
    task_id: i64,
    people: &[(i64, Role)],
) -> sqlx::Result<()> {
    sql::query("DELETE FROM task_people WHERE task_id = $1")
        .bind(task_id)
        .execute(&mut *tx)
        .await?;
    for (user, role) in people {
        sql::query("INSERT INTO task_people (task_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(task_id)
            .bind(*user)
            .bind(role.name())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// A task to store.
pub struct NewTask<'a> {
    /// Its project.
    pub project_id: i64,
    /// The manager's definition.
    pub spec: &'a TaskSpec,
    /// The spec's kind, as the `kind` column names it.
    pub kind: &'a str,
    /// Distinct workers per item.
    pub overlap: i64,
    /// Who made it.
    pub creator: i64,
    /// When.
    pub now: i64,
}

/// Stores a new task, open; its id.
pub async fn insert(tx: &mut impl Runner, task: &NewTask<'_>) -> sqlx::Result<i64> {
    let spec = task.spec;
    let json = serde_json::to_string(spec)
        .map_err(|e| sqlx::Error::Encode(format!("tasks.spec: {e}").into()))?;
    sql::query_scalar(
        "INSERT INTO tasks (project_id, name, kind, status, spec, overlap, priority, due_date, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
    )
    .bind(task.project_id)
    .bind(spec.name.trim())
    .bind(task.kind)
    .bind(TaskStatus::Open.to_string())
    .bind(json)
    .bind(task.overlap)
    .bind(spec.priority.map_or(0, |p| i64::from(p.0)))
    .bind(spec.due_date.map(|d| d.0))
    .bind(task.creator)
    .bind(task.now)
    .fetch_one(tx)
    .await
}

/// Puts every item of the dataset (0: of the project) into the task in one statement, in id
/// order, each with `priority` or else its own: the rows never travel to the server and back.
/// Video frames sampled by other tasks are not the dataset's items (as in `items::candidates`).
/// How many items it put in.
pub async fn copy_items(
    tx: &mut impl Runner,
    task_id: i64,
    project_id: i64,
    dataset_id: i64,
    priority: Option<i64>,
) -> sqlx::Result<u64> {
    let copied = sql::query(
        "INSERT INTO task_items (task_id, item_id, priority, order_key) \
         SELECT $1, id, COALESCE($2, priority), row_number() OVER (ORDER BY id) - 1 \
         FROM items WHERE project_id = $3 AND ($4 = 0 OR dataset_id = $4) \
         AND video_item_id IS NULL",
    )
    .bind(task_id)
    .bind(priority)
    .bind(project_id)
    .bind(dataset_id)
    .execute(&mut *tx)
    .await?;
    progress::items_added(tx, task_id, copied as i64).await?;
    Ok(copied)
}
