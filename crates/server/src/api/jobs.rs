//! Jobs (Labelbox-style long operations): statuses `in_progress, complete, canceling, canceled,
//! failed`, progress, errors and a downloadable result. Each job runs as a tokio task in the
//! process that created it; it commits its work in chunks and checks for cancellation between them.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, ErrorCode, Path, Query};
use super::AppState;
use crate::clock;
use crate::db::{json_col, Db};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;
use std::future::Future;

/// What a finished job leaves behind.
pub struct JobOutput {
    /// The downloadable result (an export file, or a JSON summary).
    pub result: String,
    /// Its content type.
    pub content_type: &'static str,
    /// Problems met along the way (per row or per item), for people.
    pub errors: Vec<Value>,
}

/// Creates a job row and runs `work` in the background. `work` gets the job id to report
/// progress and to ask whether it was canceled.
pub async fn spawn<F, Fut>(
    db: &Db,
    kind: &str,
    project_id: i64,
    user_id: Option<i64>,
    params: Value,
    work: F,
) -> Result<i64, sqlx::Error>
where
    F: FnOnce(Db, i64) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<Option<JobOutput>>> + Send + 'static,
{
    let now = clock::now().0;
    let mut w = db.write().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (kind, project_id, user_id, status, progress, params, created_at, updated_at) \
         VALUES ($1, $2, $3, 'in_progress', 0, $4, $5, $5) RETURNING id",
    )
    .bind(kind)
    .bind(project_id)
    .bind(user_id)
    .bind(params.to_string())
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await?;
    w.commit().await?;
    let db = db.clone();
    tokio::spawn(async move {
        let outcome = work(db.clone(), id).await;
        if let Err(e) = finish(&db, id, outcome).await {
            tracing::error!("job {id} could not record its end: {e}");
        }
    });
    Ok(id)
}

async fn finish(
    db: &Db,
    id: i64,
    outcome: anyhow::Result<Option<JobOutput>>,
) -> Result<(), sqlx::Error> {
    let mut w = db.write().await?;
    let (status, result, content_type, errors) = match outcome {
        Ok(Some(out)) => (
            "complete",
            Some(out.result),
            Some(out.content_type),
            out.errors,
        ),
        Ok(None) => ("canceled", None, None, vec![]),
        Err(e) => (
            "failed",
            None,
            None,
            vec![json!({"message": format!("{e:#}")})],
        ),
    };
    sqlx::query(
        "UPDATE jobs SET status = $1, progress = CASE WHEN $1 = 'complete' THEN 1 ELSE progress END, \
         result = $2, result_type = $3, errors = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(result)
    .bind(content_type)
    .bind(Value::Array(errors).to_string())
    .bind(clock::now().0)
    .bind(id)
    .execute(&mut *w.tx)
    .await?;
    w.commit().await
}

/// Records progress (0–1); returns false when the job was asked to stop.
pub async fn report(db: &Db, id: i64, progress: f64) -> Result<bool, sqlx::Error> {
    let mut w = db.write().await?;
    sqlx::query(
        "UPDATE jobs SET progress = $1, updated_at = $2 WHERE id = $3 AND status = 'in_progress'",
    )
    .bind(progress.clamp(0.0, 1.0))
    .bind(clock::now().0)
    .bind(id)
    .execute(&mut *w.tx)
    .await?;
    let status: String = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok(status == "in_progress")
}

/// Jobs whose process died with them can never finish: at start, mark them failed.
pub async fn fail_orphans(db: &Db, older_than_ms: i64) -> Result<u64, sqlx::Error> {
    let mut w = db.write().await?;
    let n = sqlx::query(
        "UPDATE jobs SET status = 'failed', errors = '[{\"message\":\"the server stopped while the job ran; start it again\"}]' \
         WHERE status IN ('in_progress', 'canceling') AND updated_at < $1",
    )
    .bind(clock::now().0 - older_than_ms)
    .execute(&mut *w.tx)
    .await?
    .rows_affected();
    w.commit().await?;
    Ok(n)
}

fn job_json(r: &sqlx::any::AnyRow) -> Value {
    json!({
        "id": r.try_get::<i64, _>("id").unwrap_or_default(),
        "kind": r.try_get::<String, _>("kind").unwrap_or_default(),
        "project_id": r.try_get::<Option<i64>, _>("project_id").ok().flatten(),
        "status": r.try_get::<String, _>("status").unwrap_or_default(),
        "progress": r.try_get::<f64, _>("progress").unwrap_or_default(),
        "params": json_col(r, "params"),
        "errors": json_col(r, "errors"),
        "has_result": r.try_get::<Option<String>, _>("result_type").ok().flatten().is_some(),
        "created_at": r.try_get::<i64, _>("created_at").unwrap_or_default(),
        "updated_at": r.try_get::<i64, _>("updated_at").unwrap_or_default(),
    })
}

async fn load(state: &AppState, caller: &Caller, id: i64) -> ApiResult<sqlx::any::AnyRow> {
    let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    let project: Option<i64> = row.try_get("project_id")?;
    match project {
        Some(p) => require_manager(state, caller, p).await?,
        None => super::auth::require_admin(caller)?,
    }
    Ok(row)
}

/// `GET /jobs/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    Ok(Json(job_json(&load(&state, &caller, id).await?)))
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    project_id: Option<i64>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /jobs?status=&project_id=&cursor=&limit=`: jobs of the projects the caller manages
/// (admins: every job), newest first, a page at a time. The cursor is the id of the last job
/// returned rather than an offset: jobs start while someone pages, and an offset would then show
/// a job twice.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let status = q.status.unwrap_or_default();
    if !status.is_empty()
        && !["in_progress", "complete", "canceling", "canceled", "failed"]
            .contains(&status.as_str())
    {
        return Err(ApiError::invalid(format!(
            "status {status:?}: use in_progress, complete, canceling, canceled or failed"
        ))
        .with_code(ErrorCode::InvalidQuery));
    }
    let before: i64 = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
            ApiError::invalid("cursor must be a value from next_cursor")
                .with_code(ErrorCode::InvalidQuery)
        })?,
    };
    let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 500));
    let rows = sqlx::query(
        "SELECT * FROM jobs j WHERE ($1 = '' OR j.status = $1) AND ($2 = 1 OR EXISTS (SELECT 1 FROM members m \
         WHERE m.project_id = j.project_id AND m.user_id = $3 AND m.roles LIKE '%manager%')) \
         AND ($4 = 0 OR j.project_id = $4) AND ($5 = 0 OR j.id < $5) ORDER BY j.id DESC LIMIT $6",
    )
    .bind(&status)
    .bind(caller.is_admin as i64)
    .bind(caller.id)
    .bind(q.project_id.unwrap_or(0))
    .bind(before)
    .bind(limit + 1)
    .fetch_all(state.db.pool())
    .await?;
    let page = &rows[..rows.len().min(limit as usize)];
    let next_cursor = (rows.len() as i64 > limit)
        .then(|| page.last().and_then(|r| r.try_get::<i64, _>("id").ok()))
        .flatten()
        .map(|id| id.to_string());
    Ok(Json(json!({
        "jobs": page.iter().map(job_json).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

/// `POST /jobs/{id}/cancel`: asks a running job to stop; it ends `canceled` at its next check.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    load(&state, &caller, id).await?;
    let mut w = state.db.write().await?;
    let changed = sqlx::query("UPDATE jobs SET status = 'canceling', updated_at = $1 WHERE id = $2 AND status = 'in_progress'")
        .bind(clock::now().0)
        .bind(id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
    w.commit().await?;
    let row = load(&state, &caller, id).await?;
    if changed == 0 && row.try_get::<String, _>("status")? != "canceling" {
        return Err(ApiError::conflict("the job already ended").with_code(ErrorCode::JobFinished));
    }
    Ok(Json(job_json(&row)))
}

/// `GET /jobs/{id}/result`: the file a complete job produced.
pub async fn result(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let row = load(&state, &caller, id).await?;
    let status: String = row.try_get("status")?;
    let (Some(body), Some(content_type)) = (
        row.try_get::<Option<String>, _>("result")?,
        row.try_get::<Option<String>, _>("result_type")?,
    ) else {
        return Err(
            ApiError::conflict(format!("the job is {status}; it has no result"))
                .with_code(ErrorCode::NoResult),
        );
    };
    let ext = match content_type.as_str() {
        "text/csv" => "csv",
        _ => "json",
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"quorum-job-{id}.{ext}\""),
            ),
        ],
        body,
    )
        .into_response())
}
