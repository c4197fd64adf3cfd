//! Jobs (Labelbox-style long operations): statuses `in_progress, complete, canceling, canceled,
//! failed`, progress, errors and a downloadable result. Each job runs as a tokio task in the
//! process that created it; it commits its work in chunks and checks for cancellation between them.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, ErrorCode, Path, ProjectRefusals, Query};
use super::error_code::ErrorBody;
use super::AppState;
use crate::clock;
use crate::db::Db;
use crate::store::error::StoreResult;
pub use crate::store::jobs::ResultBody;
use crate::store::jobs::{self as store, Ending, Filter, Job, JobStatus};
use crate::store::users::{self, Role};
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::future::Future;
use utoipa::{IntoParams, ToSchema};

/// The answer of a request that started a job: follow it at `GET /jobs/{job_id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobStarted {
    /// The job.
    pub job_id: i64,
    /// Always `in_progress`.
    pub status: &'static str,
}

impl JobStarted {
    /// Job `job_id`, just started.
    pub fn new(job_id: i64) -> JobStarted {
        JobStarted {
            job_id,
            status: JobStatus::InProgress.as_str(),
        }
    }
}

/// What a finished job leaves behind.
pub struct JobOutput {
    /// The downloadable result (an export file, or a JSON summary).
    pub result: ResultBody,
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
) -> StoreResult<i64>
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

async fn finish(db: &Db, id: i64, outcome: anyhow::Result<Option<JobOutput>>) -> StoreResult<()> {
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
pub async fn report(db: &Db, id: i64, progress: f64) -> StoreResult<bool> {
    let mut w = db.write().await?;
    let status = store::report(&mut w, id, progress.clamp(0.0, 1.0), clock::now().0).await?;
    w.commit().await?;
    Ok(status == JobStatus::InProgress)
}

/// Jobs whose process died with them can never finish: at start, mark them failed.
pub async fn fail_orphans(db: &Db, older_than_ms: i64) -> StoreResult<u64> {
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

/// A job, as every jobs endpoint shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    /// Id.
    pub id: i64,
    /// `upload`, `import`, `export`, `aggregate` …
    pub kind: String,
    /// What it is, for people.
    pub title: String,
    /// The name its result downloads under.
    pub file_name: String,
    /// Its project (null: an admin's job).
    pub project_id: Option<i64>,
    /// `in_progress`, `complete`, `canceling`, `canceled` or `failed`.
    pub status: &'static str,
    /// 0 to 1.
    pub progress: f64,
    /// What it was asked.
    #[schema(value_type = Object)]
    pub params: Value,
    /// Problems met, for people.
    #[schema(value_type = Object)]
    pub errors: Value,
    /// Whether `GET /jobs/{id}/result` has a file.
    pub has_result: bool,
    /// When it started (ms since the epoch).
    pub created_at: i64,
    /// When it last reported.
    pub updated_at: i64,
}

impl JobView {
    fn of(job: Job) -> JobView {
        let (title, file_name) = describe(&job);
        JobView {
            id: job.id,
            title,
            file_name,
            project_id: job.project_id,
            status: job.status.as_str(),
            progress: job.progress,
            has_result: job.result_type.is_some(),
            created_at: job.created_at,
            updated_at: job.updated_at,
            kind: job.kind,
            params: job.params,
            errors: job.errors,
        }
    }
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
///
/// Who may call: the managers of the job's project (a job of no project: admins).
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    operation_id = "get_job",
    tag = "jobs",
    params(("id" = i64, Path, description = "The job")),
    responses(
        (status = 200, description = "The job", body = JobView),
        ProjectRefusals,
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<JobView>> {
    Ok(Json(JobView::of(load(&state, &caller, id).await?)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only jobs with this status.
    status: Option<String>,
    /// Only this project's jobs.
    project_id: Option<i64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
    /// Jobs per page, 1 to 500 (50 unless given).
    limit: Option<u32>,
}

/// A page of jobs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobPage {
    /// Newest first.
    pub jobs: Vec<JobView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `GET /jobs?status=&project_id=&cursor=&limit=`: jobs of the projects the caller manages
/// (admins: every job), newest first, a page at a time. The cursor is the id of the last job
/// returned rather than an offset: jobs start while someone pages, and an offset would then show
/// a job twice.
///
/// Who may call: any signed-in user; it lists the jobs of the projects they manage (admins: every job).
#[utoipa::path(
    get,
    path = "/jobs",
    operation_id = "list_jobs",
    tag = "jobs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobPage),
        (status = 400, description = "An unknown status or a bad cursor", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<JobPage>> {
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
    let mut jobs = store::list(&mut on, &filter).await?;
    let more = jobs.len() as i64 > limit;
    jobs.truncate(limit as usize);
    let next_cursor = more
        .then(|| jobs.last().map(|j| j.id.to_string()))
        .flatten();
    Ok(Json(JobPage {
        jobs: jobs.into_iter().map(JobView::of).collect(),
        next_cursor,
    }))
}

/// `POST /jobs/{id}/cancel`: asks a running job to stop; it ends `canceled` at its next check.
///
/// Who may call: the managers of the job's project (a job of no project: admins).
#[utoipa::path(
    post,
    path = "/jobs/{id}/cancel",
    operation_id = "cancel_job",
    tag = "jobs",
    params(("id" = i64, Path, description = "The job")),
    responses(
        (status = 200, description = "The job, canceling", body = JobView),
        ProjectRefusals,
        (status = 409, description = "The job already ended", body = ErrorBody),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<JobView>> {
    load(&state, &caller, id).await?;
    let mut w = state.db.write().await?;
    let changed = store::request_cancel(&mut w, id, clock::now().0).await?;
    w.commit().await?;
    let job = load(&state, &caller, id).await?;
    if !changed && job.status != JobStatus::Canceling {
        return Err(ApiError::conflict("the job already ended").with_code(ErrorCode::JobFinished));
    }
    Ok(Json(JobView::of(job)))
}

/// `GET /jobs/{id}/result`: the file a complete job produced; an export's in byte ranges too.
/// Besides the bearer token it takes the web app's media cookie, so the browser downloads a big
/// export itself (to disk, resuming a broken download) from a plain link.
///
/// Who may call: the managers of the job's project (a job of no project: admins).
#[utoipa::path(
    get,
    path = "/jobs/{id}/result",
    operation_id = "job_result",
    tag = "jobs",
    params(("id" = i64, Path, description = "The job")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The result file, in the job's content type (JSON, CSV, NDJSON …)", content_type = "application/octet-stream", body = String),
        (status = 206, description = "The byte range a `Range` header asked of an export file (a broken download resumes)", content_type = "application/octet-stream", body = String),
        ProjectRefusals,
        (status = 409, description = "The job has no result (yet, or it failed)", body = ErrorBody),
        (status = 416, description = "A range past the export file's end", body = ErrorBody),
    )
)]
pub async fn result(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let caller = super::media::cookie_caller(&state, &headers).await?;
    let job = load(&state, &caller, id).await?;
    let Some((body, content_type)) = store::result(&mut state.db.scan(), id).await? else {
        return Err(ApiError::conflict(format!(
            "the job is {}; it has no result",
            job.status.as_str()
        ))
        .with_code(ErrorCode::NoResult));
    };
    let (_, file_name) = describe(&job);
    let disposition = format!("attachment; filename=\"{file_name}\"");
    match body {
        ResultBody::Inline(body) => Ok((
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            body,
        )
            .into_response()),
        ResultBody::File(sha) => {
            super::media::send_download(state.media()?, &sha, &headers, &content_type, &disposition)
                .await
        }
    }
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(get_one, list, cancel, result),
    components(schemas(JobView, JobPage, JobStarted))
)]
pub(crate) struct Doc;
