//! The archive of finished tasks: archives (everything needed to recreate their tasks), the
//! marking of tasks as archived, the history, and which tasks the auto-archive sweep takes.

use super::error::StoreResult;
use crate::sql::{self, Runner};
use quorum_core::lifecycle::TaskStatus;
use serde::Serialize;
use utoipa::ToSchema;

/// Ends the live leases of `task_ids`, marks them archived, and waits for the labels and
/// reviews under way on their items (PostgreSQL: their item rows are locked, as labels lock
/// them); the tasks as they were before, or `None` when one of them is archived already (by
/// another archive that committed since the caller read it: the caller undoes the rest).
/// Done first in the archive's transaction, so that what it then reads is all there will be: a
/// claim that reads a task after this commits finds it archived. The leases are written first
/// so that SQLite's write lock is taken before any read (a read transaction that later writes
/// fails at once if another process wrote).
pub async fn close(
    on: &mut impl Runner,
    task_ids: &[i64],
    lock: &str,
    now: i64,
) -> StoreResult<Option<Vec<TaskSnapshot>>> {
    // Archived work is over: live leases end now.
    end_leases(&mut *on, task_ids, now).await?;
    let mut before = Vec::with_capacity(task_ids.len());
    for id in task_ids {
        before.push(task_snapshot(&mut *on, *id).await?);
        let marked = sql::query(format!(
            "UPDATE tasks SET status = '{archived}', updated_at = $1 \
             WHERE id = $2 AND status <> '{archived}'",
            archived = TaskStatus::Archived
        ))
        .bind(now)
        .bind(id)
        .execute(&mut *on)
        .await?;
        if marked == 0 {
            return Ok(None);
        }
        if !lock.is_empty() {
            // Counted, not returned: a million item ids need not cross the wire to be locked.
            sql::query(format!(
                "SELECT COUNT(*) AS n FROM \
                 (SELECT item_id FROM task_items WHERE task_id = $1{lock}) locked"
            ))
            .bind(id)
            .fetch_all(&mut *on)
            .await?;
        }
    }
    if !lock.is_empty() {
        // A claim that held some of those rows committed its lease while this waited for them:
        // it ends too (this statement sees what committed before it).
        end_leases(&mut *on, task_ids, now).await?;
    }
    Ok(Some(before))
}

/// Ends the live leases of `task_ids` at `now`.
async fn end_leases(on: &mut impl Runner, task_ids: &[i64], now: i64) -> StoreResult<()> {
    sql::query(format!(
        "UPDATE leases SET released_at = $1 WHERE task_id IN ({}) AND released_at IS NULL",
        sql::params(2, task_ids.len())
    ))
    .bind(now)
    .bind_all(task_ids)
    .execute(on)
    .await?;
    Ok(())
}

/// Stores an archive of `task_ids` (all of `project_id`, [`close`]d in this transaction) whose
/// file is still to be written from `heads`, the JSON text of the tasks as they were; the
/// archive's id. Its tasks name it, so they cannot be deleted until the file is there.
pub async fn archive(
    on: &mut impl Runner,
    project_id: i64,
    task_ids: &[i64],
    heads: &str,
    by: Option<i64>,
    now: i64,
) -> StoreResult<i64> {
    let archive: i64 = sql::query_scalar(
        "INSERT INTO archives (project_id, created_by, created_at, task_count, content, writing) \
         VALUES ($1, $2, $3, $4, $5, 1) RETURNING id",
    )
    .bind(project_id)
    .bind(by)
    .bind(now)
    .bind(task_ids.len() as i64)
    .bind(heads)
    .fetch_one(&mut *on)
    .await?;
    sql::query(format!(
        "UPDATE tasks SET archive_id = $1 WHERE id IN ({})",
        sql::params(2, task_ids.len())
    ))
    .bind(archive)
    .bind_all(task_ids)
    .execute(&mut *on)
    .await?;
    Ok(archive)
}

/// Records archive `id`'s file, `sha` in the media store; false when another writer did first
/// (both wrote the same bytes, so the same file).
pub async fn written(on: &mut impl Runner, id: i64, sha: &str) -> StoreResult<bool> {
    let done =
        sql::query("UPDATE archives SET file_sha = $1, writing = 0 WHERE id = $2 AND writing = 1")
            .bind(sha)
            .bind(id)
            .execute(on)
            .await?;
    Ok(done > 0)
}

/// Archives whose file has been in writing since before `since`: the process writing it died,
/// or its write failed, and another writes it.
pub async fn unwritten(on: &mut impl Runner, since: i64) -> StoreResult<Vec<i64>> {
    let rows =
        sql::query("SELECT id FROM archives WHERE writing = 1 AND created_at < $1 ORDER BY id")
            .bind(since)
            .fetch_all(on)
            .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// Whether any of `archives` has its file still being written.
pub async fn any_in_writing(on: &mut impl Runner, archives: &[i64]) -> StoreResult<bool> {
    let rows = sql::query(format!(
        "SELECT id FROM archives WHERE id IN ({}) AND writing = 1",
        sql::params(1, archives.len())
    ))
    .bind_all(archives)
    .fetch_all(on)
    .await?;
    Ok(!rows.is_empty())
}

/// An archive in a project's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ArchiveEntry)]
pub struct Entry {
    /// Id.
    pub id: i64,
    /// When.
    pub created_at: i64,
    /// Who archived (null: the auto-archive sweep, or an account since gone).
    pub created_by: Option<String>,
    /// How many tasks it holds.
    pub task_count: i64,
    /// The archived tasks' names, in task order, so a person can tell archives apart.
    pub task_names: Vec<String>,
    /// Whether its file is written and downloads (false for the moments after archiving a big
    /// task).
    pub ready: bool,
}

/// The project's archives, newest first.
pub async fn history(on: &mut impl Runner, project_id: i64) -> StoreResult<Vec<Entry>> {
    let rows = sql::query(
        "SELECT a.id, a.created_at, a.task_count, a.writing, u.name FROM archives a \
         LEFT JOIN users u ON u.id = a.created_by WHERE a.project_id = $1 ORDER BY a.id DESC",
    )
    .bind(project_id)
    .fetch_all(&mut *on)
    .await?;
    let names = sql::query(
        "SELECT archive_id, name FROM tasks WHERE project_id = $1 AND archive_id IS NOT NULL \
         ORDER BY id",
    )
    .bind(project_id)
    .fetch_all(&mut *on)
    .await?;
    let mut entries = rows
        .iter()
        .map(|r| {
            Ok(Entry {
                id: r.try_get("id")?,
                created_at: r.try_get("created_at")?,
                created_by: r.try_get("name")?,
                task_count: r.try_get("task_count")?,
                task_names: Vec::new(),
                ready: r.try_get::<i64>("writing")? == 0,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    for r in &names {
        let archive: i64 = r.try_get("archive_id")?;
        if let Some(e) = entries.iter_mut().find(|e| e.id == archive) {
            e.task_names.push(r.try_get("name")?);
        }
    }
    Ok(entries)
}

/// What an archive holds, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The whole archive as JSON text (archives made before their files were kept apart).
    Whole(String),
    /// The whole archive in the media store, named by its SHA-256.
    File(String),
    /// The file is being written; the JSON text of the archived tasks as they were.
    Writing(String),
}

/// Archive `id`'s project and content.
pub async fn content(on: &mut impl Runner, id: i64) -> StoreResult<Option<(i64, Content)>> {
    let row =
        sql::query("SELECT project_id, content, file_sha, writing FROM archives WHERE id = $1")
            .bind(id)
            .fetch_optional(on)
            .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let text: String = r.try_get("content")?;
    let content = match (r.try_get::<i64>("writing")?, r.try_get("file_sha")?) {
        (0, Some(sha)) => Content::File(sha),
        (0, None) => Content::Whole(text),
        _ => Content::Writing(text),
    };
    Ok(Some((r.try_get("project_id")?, content)))
}

/// (task, project) of the tasks not archived whose project archives after `auto_archive_days`
/// idle and that have been idle that long at `now`, in task order.
pub async fn idle_tasks(on: &mut impl Runner, now: i64) -> StoreResult<Vec<(i64, i64)>> {
    let rows = sql::query(format!(
        "SELECT t.id, t.project_id FROM tasks t JOIN projects p ON p.id = t.project_id \
         WHERE p.auto_archive_days IS NOT NULL AND t.status <> '{}' \
         AND COALESCE({}, t.last_submitted_at, t.updated_at) + p.auto_archive_days * 86400000 <= $1 \
         ORDER BY t.id",
        TaskStatus::Archived,
        super::tasks::last_submitted("t")
    ))
    .bind(now)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("project_id")?)))
        .collect()
}

/// A task as its archive keeps it: the definition as stored, not re-read through today's types.
#[derive(Debug, Clone)]
pub struct TaskSnapshot {
    /// Lifecycle status before archiving.
    pub status: String,
    /// The definition, as stored.
    pub spec: serde_json::Value,
    /// When it was made.
    pub created_at: i64,
}

/// Task `id` as its archive keeps it.
async fn task_snapshot(on: &mut impl Runner, id: i64) -> StoreResult<TaskSnapshot> {
    let r = sql::query("SELECT status, spec, created_at FROM tasks WHERE id = $1")
        .bind(id)
        .fetch_one(on)
        .await?;
    Ok(TaskSnapshot {
        status: r.try_get("status")?,
        spec: super::decode::value(&r, "spec")?,
        created_at: r.try_get("created_at")?,
    })
}
