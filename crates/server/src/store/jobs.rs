//! Jobs: long operations' rows (status, progress, errors, result).

use crate::sql::{self, Runner};
use serde_json::Value;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Running.
    InProgress,
    /// Done, with a result.
    Complete,
    /// Asked to stop; stops at its next check.
    Canceling,
    /// Stopped on request.
    Canceled,
    /// Ended with an error (or with the process that ran it).
    Failed,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::InProgress,
        JobStatus::Complete,
        JobStatus::Canceling,
        JobStatus::Canceled,
        JobStatus::Failed,
    ];

    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::InProgress => "in_progress",
            JobStatus::Complete => "complete",
            JobStatus::Canceling => "canceling",
            JobStatus::Canceled => "canceled",
            JobStatus::Failed => "failed",
        }
    }

    /// The status called `name`.
    pub fn parse(name: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    fn decode(name: &str) -> sqlx::Result<JobStatus> {
        JobStatus::parse(name)
            .ok_or_else(|| sqlx::Error::Decode(format!("jobs.status holds {name:?}").into()))
    }
}

/// A job, without its result body.
#[derive(Debug, Clone)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// What it does (`upload`, `export`, `aggregate` …).
    pub kind: String,
    /// Its project (none: an admin's job).
    pub project_id: Option<i64>,
    /// Where it is.
    pub status: JobStatus,
    /// 0–1.
    pub progress: f64,
    /// What it was asked.
    pub params: Value,
    /// Problems met, for people.
    pub errors: Value,
    /// The result's content type, once there is one.
    pub result_type: Option<String>,
    /// When it started.
    pub created_at: i64,
    /// When it last reported.
    pub updated_at: i64,
}

const JOB_COLUMNS: &str =
    "id, kind, project_id, status, progress, params, errors, result_type, created_at, updated_at";

fn job(r: &sql::Row) -> sqlx::Result<Job> {
    Ok(Job {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        project_id: r.try_get("project_id")?,
        status: JobStatus::decode(&r.try_get::<String>("status")?)?,
        progress: r.try_get("progress")?,
        params: super::decode::value_or_null(r, "params")?,
        errors: super::decode::value_or_null(r, "errors")?,
        result_type: r.try_get("result_type")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Records a new running job; returns its id.
pub async fn insert(
    tx: &mut impl Runner,
    kind: &str,
    project_id: i64,
    user_id: Option<i64>,
    params: &Value,
    now: i64,
) -> sqlx::Result<i64> {
    sql::query_scalar(
        "INSERT INTO jobs (kind, project_id, user_id, status, progress, params, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, $5, $6, $6) RETURNING id",
    )
    .bind(kind)
    .bind(project_id)
    .bind(user_id)
    .bind(JobStatus::InProgress.as_str())
    .bind(params.to_string())
    .bind(now)
    .fetch_one(tx)
    .await
}

/// A complete job's result: in its row, or a file of the media store (exports, which can be
/// bigger than a row's field may hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultBody {
    /// The body itself.
    Inline(String),
    /// The SHA-256 of the file holding it.
    File(String),
}

/// How a job ended.
pub struct Ending {
    /// Complete, canceled or failed.
    pub status: JobStatus,
    /// The result and its content type (complete jobs).
    pub result: Option<(ResultBody, &'static str)>,
    /// Problems met.
    pub errors: Vec<Value>,
}

/// Records a job's end (a complete job's progress becomes 1).
pub async fn finish(tx: &mut impl Runner, id: i64, end: Ending, now: i64) -> sqlx::Result<()> {
    let (body, result_type) = end.result.unzip();
    let (inline, file) = match body {
        Some(ResultBody::Inline(text)) => (Some(text), None),
        Some(ResultBody::File(sha)) => (None, Some(sha)),
        None => (None, None),
    };
    sql::query(
        "UPDATE jobs SET status = $1, progress = CASE WHEN $1 = 'complete' THEN 1 ELSE progress END, \
         result = $2, result_type = $3, errors = $4, updated_at = $5, result_sha = $7 WHERE id = $6",
    )
    .bind(end.status.as_str())
    .bind(inline)
    .bind(result_type)
    .bind(Value::Array(end.errors).to_string())
    .bind(now)
    .bind(id)
    .bind(file)
    .execute(tx)
    .await?;
    Ok(())
}

/// Records a running job's progress; returns its status (still running, or asked to stop).
pub async fn report(
    tx: &mut impl Runner,
    id: i64,
    progress: f64,
    now: i64,
) -> sqlx::Result<JobStatus> {
    sql::query(format!(
        "UPDATE jobs SET progress = $1, updated_at = $2 WHERE id = $3 AND status = '{}'",
        JobStatus::InProgress.as_str()
    ))
    .bind(progress)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let status: String = sql::query_scalar("SELECT status FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_one(tx)
        .await?;
    JobStatus::decode(&status)
}

/// Marks failed the jobs still running that last reported before `before` (their process
/// died with them); returns how many.
pub async fn fail_orphans(tx: &mut impl Runner, before: i64, message: &str) -> sqlx::Result<u64> {
    sql::query(format!(
        "UPDATE jobs SET status = '{}', errors = $1 \
         WHERE status IN ('{}', '{}') AND updated_at < $2",
        JobStatus::Failed.as_str(),
        JobStatus::InProgress.as_str(),
        JobStatus::Canceling.as_str()
    ))
    .bind(serde_json::json!([{ "message": message }]).to_string())
    .bind(before)
    .execute(tx)
    .await
}

/// Job `id`, if any.
pub async fn get(on: &mut impl Runner, id: i64) -> sqlx::Result<Option<Job>> {
    sql::query(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(on)
        .await?
        .as_ref()
        .map(job)
        .transpose()
}

/// A finished job's result and content type.
pub async fn result(on: &mut impl Runner, id: i64) -> sqlx::Result<Option<(ResultBody, String)>> {
    let Some(r) = sql::query("SELECT result, result_sha, result_type FROM jobs WHERE id = $1")
        .bind(id)
        .fetch_optional(on)
        .await?
    else {
        return Ok(None);
    };
    let body = match r.try_get::<Option<String>>("result_sha")? {
        Some(sha) => Some(ResultBody::File(sha)),
        None => r
            .try_get::<Option<String>>("result")?
            .map(ResultBody::Inline),
    };
    Ok(body.zip(r.try_get::<Option<String>>("result_type")?))
}

/// Which jobs a page lists.
pub struct Filter<'a> {
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this project.
    pub project_id: Option<i64>,
    /// Only these projects (none: every job, for admins).
    pub projects: Option<&'a [i64]>,
    /// Only ids below this (the cursor).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: i64,
}

/// Jobs matching `filter`, newest first.
pub async fn list(on: &mut impl Runner, filter: &Filter<'_>) -> sqlx::Result<Vec<Job>> {
    let projects = match filter.projects {
        None => String::new(),
        Some([]) => return Ok(Vec::new()),
        Some(ids) => format!(" AND project_id IN ({})", sql::params(5, ids.len())),
    };
    sql::query(format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 = '' OR status = $1) \
         AND ($2 = 0 OR project_id = $2) AND ($3 = 0 OR id < $3){projects} \
         ORDER BY id DESC LIMIT $4"
    ))
    .bind(filter.status.map_or("", JobStatus::as_str))
    .bind(filter.project_id.unwrap_or(0))
    .bind(filter.before.unwrap_or(0))
    .bind(filter.limit)
    .bind_all(filter.projects.unwrap_or_default().iter().copied())
    .fetch_all(on)
    .await?
    .iter()
    .map(job)
    .collect()
}

/// Asks a running job to stop; returns whether it was running.
pub async fn request_cancel(tx: &mut impl Runner, id: i64, now: i64) -> sqlx::Result<bool> {
    let changed = sql::query(format!(
        "UPDATE jobs SET status = '{}', updated_at = $1 WHERE id = $2 AND status = '{}'",
        JobStatus::Canceling.as_str(),
        JobStatus::InProgress.as_str()
    ))
    .bind(now)
    .bind(id)
    .execute(tx)
    .await?;
    Ok(changed > 0)
}
