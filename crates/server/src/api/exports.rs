//! Exports (as jobs) and the archive of finished tasks: bulk archive, history, download, and
//! the auto-archive sweep after a project's inactivity period.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path};
use super::jobs::{self, JobOutput};
use super::tasks;
use super::AppState;
use crate::clock;
use crate::db::{json_col, Db};
use crate::export::{self, ExportFormat, ExportItem, ExportLabel};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// Every item of a task with its result and active labels, reporting progress to `job`.
pub async fn export_items(
    db: &Db,
    task_id: i64,
    job: Option<i64>,
) -> anyhow::Result<Option<Vec<ExportItem>>> {
    export_step_items(db, task_id, None, job).await
}

/// Like [`export_items`], only the items waiting in workflow step `step` when given (the
/// number of steps: the finished items). In a workflow each item names its step.
pub async fn export_step_items(
    db: &Db,
    task_id: i64,
    step: Option<i64>,
    job: Option<i64>,
) -> anyhow::Result<Option<Vec<ExportItem>>> {
    let spec: String = sqlx::query_scalar("SELECT spec FROM tasks WHERE id = $1")
        .bind(task_id)
        .fetch_one(db.pool())
        .await?;
    let steps = serde_json::from_str::<quorum_core::task::TaskSpec>(&spec)?.steps;
    let rows = sqlx::query(
        "SELECT ti.item_id, i.external_id, i.data, i.metadata, ti.state, ti.result, ti.confidence, ti.step FROM task_items ti \
         JOIN items i ON i.id = ti.item_id WHERE ti.task_id = $1 AND ($2 < 0 OR ti.step = $2) ORDER BY ti.item_id",
    )
    .bind(task_id)
    .bind(step.unwrap_or(-1))
    .fetch_all(db.pool())
    .await?;
    let labels = sqlx::query(
        "SELECT a.item_id, u.name, a.value, a.late FROM annotations a LEFT JOIN users u ON u.id = a.worker_id \
         WHERE a.task_id = $1 AND a.active = 1 ORDER BY a.id",
    )
    .bind(task_id)
    .fetch_all(db.pool())
    .await?;
    let mut by_item: HashMap<i64, Vec<ExportLabel>> = HashMap::new();
    for l in &labels {
        by_item
            .entry(l.try_get("item_id")?)
            .or_default()
            .push(ExportLabel {
                worker: l.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
                value: serde_json::from_str(&l.try_get::<String, _>("value")?)?,
                late: l.try_get::<i64, _>("late")? != 0,
            });
    }
    let mut items = Vec::with_capacity(rows.len());
    for (n, r) in rows.iter().enumerate() {
        if let (Some(job), true) = (job, n % 2000 == 1999) {
            if !jobs::report(db, job, n as f64 / rows.len() as f64).await? {
                return Ok(None);
            }
        }
        let item_id: i64 = r.try_get("item_id")?;
        items.push(ExportItem {
            item_id,
            external_id: r.try_get("external_id")?,
            data: json_col(r, "data"),
            metadata: json_col(r, "metadata"),
            state: r.try_get("state")?,
            result: r
                .try_get::<Option<String>, _>("result")?
                .map(|s| serde_json::from_str(&s))
                .transpose()?,
            confidence: r.try_get("confidence")?,
            step: (!steps.is_empty()).then(|| {
                let step = r.try_get::<i64, _>("step").unwrap_or_default();
                usize::try_from(step)
                    .ok()
                    .and_then(|s| steps.get(s))
                    .map_or_else(|| "done".to_owned(), |s| s.name.clone())
            }),
            labels: by_item.remove(&item_id).unwrap_or_default(),
        });
    }
    Ok(Some(items))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    format: ExportFormat,
    /// Only the items waiting in this workflow step (the number of steps: finished items).
    #[serde(default)]
    step: Option<i64>,
}

/// `POST /tasks/{id}/exports` (managers): starts an export job; download its result when complete.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Body(body): Body<ExportBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let task = tasks::load(&state, task_id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    if let Some(step) = body.step {
        super::workflow::check_step(&task, step, true)?;
    }
    let step = body.step;
    let schema = task.spec.schema.clone();
    let format = body.format;
    let job = jobs::spawn(
        &state.db,
        "export",
        task.project_id,
        Some(caller.id),
        json!({"task_id": task_id, "task_name": task.spec.name, "format": format, "step": step}),
        move |db, job| async move {
            let Some(items) = export_step_items(&db, task_id, step, Some(job)).await? else {
                return Ok(None);
            };
            let out = export::render(format, &schema, &items);
            Ok(Some(JobOutput {
                result: out.body,
                content_type: out.content_type,
                errors: out.errors,
            }))
        },
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"job_id": job, "status": "in_progress"})),
    ))
}

/// Archives `ids` (all of one project): stores everything needed to recreate them, then marks
/// them archived. `by` is None for the auto-archive sweep.
async fn archive_tasks(
    db: &Db,
    project_id: i64,
    ids: &[i64],
    by: Option<i64>,
) -> anyhow::Result<i64> {
    let mut tasks_out = Vec::new();
    for id in ids {
        let row = sqlx::query("SELECT * FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_one(db.pool())
            .await?;
        let items = export_items(db, *id, None).await?.unwrap_or_default();
        tasks_out.push(json!({
            "id": id,
            "status": row.try_get::<String, _>("status")?,
            "spec": json_col(&row, "spec"),
            "created_at": row.try_get::<i64, _>("created_at")?,
            "items": items,
        }));
    }
    let content = json!({"project_id": project_id, "tasks": tasks_out}).to_string();
    let now = clock::now().0;
    let mut w = db.write().await?;
    let archive: i64 = sqlx::query_scalar(
        "INSERT INTO archives (project_id, created_by, created_at, task_count, content) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(project_id)
    .bind(by)
    .bind(now)
    .bind(ids.len() as i64)
    .bind(content)
    .fetch_one(&mut *w.tx)
    .await?;
    for id in ids {
        sqlx::query(
            "UPDATE tasks SET status = 'archived', archive_id = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(archive)
        .bind(now)
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        // Archived work is over: live leases end now.
        sqlx::query(
            "UPDATE leases SET released_at = $1 WHERE task_id = $2 AND released_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
    }
    w.commit().await?;
    Ok(archive)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveBody {
    ids: Vec<i64>,
}

/// `POST /tasks/archive {"ids"}` (managers of every task): one archive per project.
pub async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<ArchiveBody>,
) -> ApiResult<Json<Value>> {
    if body.ids.is_empty() {
        return Err(ApiError::validation("ids lists the tasks to archive"));
    }
    let mut by_project: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for id in &body.ids {
        let task = tasks::load(&state, *id).await?;
        require_manager(&state, &caller, task.project_id).await?;
        if task.status == quorum_core::lifecycle::TaskStatus::Archived {
            return Err(ApiError::conflict(format!("task {id} is already archived")));
        }
        by_project.entry(task.project_id).or_default().push(*id);
    }
    let mut out = Vec::new();
    for (project, ids) in by_project {
        let id = archive_tasks(&state.db, project, &ids, Some(caller.id))
            .await
            .map_err(|e| ApiError::new(ErrorCode::ArchiveFailed, format!("{e:#}")))?;
        out.push(json!({"id": id, "project_id": project, "task_count": ids.len()}));
    }
    Ok(Json(json!({ "archives": out })))
}

/// `GET /projects/{id}/archives` (managers): when, by whom (none for auto-archive), how many.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<i64>,
) -> ApiResult<Json<Value>> {
    super::projects::ensure_project(&state, project).await?;
    require_manager(&state, &caller, project).await?;
    let rows = sqlx::query(
        "SELECT a.id, a.created_at, a.task_count, u.name FROM archives a LEFT JOIN users u ON u.id = a.created_by \
         WHERE a.project_id = $1 ORDER BY a.id DESC",
    )
    .bind(project)
    .fetch_all(state.db.pool())
    .await?;
    // The archived tasks' names, so a person can tell archives apart.
    let mut names: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for r in sqlx::query(
        "SELECT archive_id, name FROM tasks WHERE project_id = $1 AND archive_id IS NOT NULL ORDER BY id",
    )
    .bind(project)
    .fetch_all(state.db.pool())
    .await?
    {
        names
            .entry(r.try_get("archive_id")?)
            .or_default()
            .push(r.try_get("name")?);
    }
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let id = r.try_get::<i64, _>("id").unwrap_or_default();
            json!({
                "id": id,
                "created_at": r.try_get::<i64, _>("created_at").unwrap_or_default(),
                "created_by": r.try_get::<Option<String>, _>("name").ok().flatten(),
                "task_count": r.try_get::<i64, _>("task_count").unwrap_or_default(),
                "task_names": names.remove(&id).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({ "archives": list })))
}

/// `GET /archives/{id}/download` (managers): the archived tasks, specs and labels as JSON.
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let row = sqlx::query("SELECT project_id, content FROM archives WHERE id = $1")
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or_else(|| ApiError::not_found("archive"))?;
    require_manager(&state, &caller, row.try_get("project_id")?).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"quorum-archive-{id}.json\""),
            ),
        ],
        row.try_get::<String, _>("content")?,
    )
        .into_response())
}

/// Archives tasks idle longer than their project's `auto_archive_days`; returns how many.
pub async fn auto_archive(db: &Db) -> anyhow::Result<u64> {
    let now = clock::now().0;
    let rows = sqlx::query(&format!(
        "SELECT t.id, t.project_id FROM tasks t JOIN projects p ON p.id = t.project_id \
         WHERE p.auto_archive_days IS NOT NULL AND t.status <> 'archived' \
         AND COALESCE({}, t.last_submitted_at, t.updated_at) + p.auto_archive_days * 86400000 <= $1 ORDER BY t.id",
        super::tasks::last_submitted("t")
    ))
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    let mut by_project: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for r in &rows {
        by_project
            .entry(r.try_get("project_id")?)
            .or_default()
            .push(r.try_get("id")?);
    }
    let mut n = 0;
    for (project, ids) in by_project {
        archive_tasks(db, project, &ids, None).await?;
        n += ids.len() as u64;
    }
    Ok(n)
}
