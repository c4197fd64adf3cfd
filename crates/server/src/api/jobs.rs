//! Jobs (Labelbox-style long operations): statuses `in_progress, complete, canceling, canceled,
//! failed`, progress, errors and a downloadable result. Each job runs as a tokio task in the
//! process that created it; it commits its work in chunks and checks for cancellation between them.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, ErrorCode, Path, Query};
use super::AppState;
use crate::clock;
use crate::db::Db;
use crate::store::jobs::{self as store, Ending, Filter, Job, JobStatus};
use crate::store::users::{self, Role};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
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
    let mut w = db.write().await?;
    let id = store::insert(&mut w, kind, project_id, user_id, &params, clock::now().0).await?;
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
    let end = match outcome {
        Ok(Some(out)) => Ending {
            status: JobStatus::Complete,
            result: Some((out.result, out.content_type)),
            errors: out.errors,
        },
        Ok(None) => Ending {
            status: JobStatus::Canceled,
            result: None,
            errors: vec![],
        },
        Err(e) => Ending {
            status: JobStatus::Failed,
            result: None,
            errors: vec![json!({"message": format!("{e:#}")})],
        },
    };
    let mut w = db.write().await?;
    store::finish(&mut w, id, end, clock::now().0).await?;
    w.commit().await
}

/// Records progress (0–1); returns false when the job was asked to stop.
pub async fn report(db: &Db, id: i64, progress: f64) -> Result<bool, sqlx::Error> {
    let mut w = db.write().await?;
    let status = store::report(&mut w, id, progress.clamp(0.0, 1.0), clock::now().0).await?;
    w.commit().await?;
    Ok(status == JobStatus::InProgress)
}

/// Jobs whose process died with them can never finish: at start, mark them failed.
pub async fn fail_orphans(db: &Db, older_than_ms: i64) -> Result<u64, sqlx::Error> {
    let mut w = db.write().await?;
    let n = store::fail_orphans(
        &mut w,
        clock::now().0 - older_than_ms,
        "the server stopped while the job ran; start it again",
    )
    .await?;
    w.commit().await?;
    Ok(n)
}

/// What a job is, for people ("Export of “Review sentiment” as COCO"), and the file name its
/// result downloads under (`review-sentiment-task-12.coco.json`), from what it was asked.
fn describe(job: &Job) -> (String, String) {
    let p = &job.params;
    let text = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
    let task = match (p["task_name"].as_str(), p["task_id"].as_i64()) {
        (Some(name), _) => format!("\u{201c}{name}\u{201d}"),
        (None, Some(id)) => format!("task {id}"),
        _ => String::new(),
    };
    let (format, ext) = match p["format"].as_str().unwrap_or_default() {
        "csv" => ("CSV", "csv"),
        "coco" => ("COCO", "coco.json"),
        "label_studio" => ("Label Studio JSON", "label-studio.json"),
        "ndjson" => ("NDJSON", "ndjson"),
        _ => ("JSON", "json"),
    };
    let title = match job.kind.as_str() {
        "export" => format!("Export of {task} as {format}"),
        "aggregate" => format!("Consensus for {task} ({})", text("method")),
        "import" => format!(
            "Upload of {} rows ({format}) into dataset {}",
            p["rows"].as_u64().unwrap_or(0),
            p["dataset_id"].as_i64().unwrap_or(0)
        ),
        other => other.to_owned(),
    };
    // Only what is safe in a file name on every system: letters, digits and dashes.
    let mut stem: String = p["task_name"]
        .as_str()
        .unwrap_or(&job.kind)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    stem = stem
        .split('-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    stem.truncate(60);
    let file = match (job.kind.as_str(), p["task_id"].as_i64()) {
        ("export", Some(id)) => format!("{stem}-task-{id}.{ext}"),
        _ => format!("quorum-{}-{}.json", job.kind, job.id),
    };
    (title, file)
}

fn job_json(job: &Job) -> Value {
    let (title, file_name) = describe(job);
    json!({
        "id": job.id,
        "kind": job.kind,
        "title": title,
        "file_name": file_name,
        "project_id": job.project_id,
        "status": job.status.as_str(),
        "progress": job.progress,
        "params": job.params,
        "errors": job.errors,
        "has_result": job.result_type.is_some(),
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    })
}

async fn load(state: &AppState, caller: &Caller, id: i64) -> ApiResult<Job> {
    let job = store::get(&mut state.db.reader().await, id)
        .await?
        .ok_or_else(|| ApiError::not_found("job"))?;
    match job.project_id {
        Some(p) => require_manager(state, caller, p).await?,
        None => super::auth::require_admin(caller)?,
    }
    Ok(job)
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
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            ApiError::invalid(format!(
                "status {s:?}: use in_progress, complete, canceling, canceled or failed"
            ))
            .with_code(ErrorCode::InvalidQuery)
        })?),
    };
    let before = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse().ok().filter(|id| *id > 0).ok_or_else(|| {
            ApiError::invalid("cursor must be a value from next_cursor")
                .with_code(ErrorCode::InvalidQuery)
        })?),
    };
    let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 500));
    let mut on = state.db.scan();
    let managed: Option<Vec<i64>> = if caller.is_admin {
        None
    } else {
        Some(
            users::memberships(&mut on, caller.id)
                .await?
                .into_iter()
                .filter(|m| m.roles.contains(&Role::Manager))
                .map(|m| m.project_id)
                .collect(),
        )
    };
    let filter = Filter {
        status,
        project_id: q.project_id,
        projects: managed.as_deref(),
        before,
        limit: limit + 1,
    };
    let jobs = store::list(&mut on, &filter).await?;
    let page = &jobs[..jobs.len().min(limit as usize)];
    let next_cursor = (jobs.len() as i64 > limit)
        .then(|| page.last().map(|j| j.id.to_string()))
        .flatten();
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
    let changed = store::request_cancel(&mut w, id, clock::now().0).await?;
    w.commit().await?;
    let job = load(&state, &caller, id).await?;
    if !changed && job.status != JobStatus::Canceling {
        return Err(ApiError::conflict("the job already ended").with_code(ErrorCode::JobFinished));
    }
    Ok(Json(job_json(&job)))
}

/// `GET /jobs/{id}/result`: the file a complete job produced.
pub async fn result(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let job = load(&state, &caller, id).await?;
    let Some((body, content_type)) = store::result(&mut state.db.scan(), id).await? else {
        return Err(ApiError::conflict(format!(
            "the job is {}; it has no result",
            job.status.as_str()
        ))
        .with_code(ErrorCode::NoResult));
    };
    let (_, file_name) = describe(&job);
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        body,
    )
        .into_response())
}
