//! Exports (as jobs) and the archive of finished tasks: bulk archive, history, download, and
//! the auto-archive sweep after a project's inactivity period.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, ProjectRefusals};
use super::error_code::ErrorBody;
use super::jobs::{self, JobOutput, JobStarted};
use super::tasks;
use super::AppState;
use crate::clock;
use crate::db::{Db, WriteTx};
use crate::export::{self, ExportFormat, ExportItem, ExportLabel};
use crate::media::{MediaStore, Upload};
use crate::store::error::{is_transient, StoreError};
use crate::store::{archive as store, exports as rows, Runner};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use quorum_core::label::LabelSchema;
use quorum_core::workflow::Step;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

/// Items an export reads at a time: what it holds in memory besides the file's parts in flight.
const PAGE: i64 = 5_000;

/// Writes a task's export (only the items waiting in workflow step `step` when given; the
/// number of steps: the finished items) into the media store a page at a time, reporting
/// progress to `job`. `None` when the job was canceled meanwhile.
async fn write_export(
    db: &Db,
    media: &MediaStore,
    task_id: i64,
    step: Option<i64>,
    format: ExportFormat,
    schema: LabelSchema,
    job: i64,
) -> anyhow::Result<Option<JobOutput>> {
    let frames =
        format == ExportFormat::Csv && rows::has_frames(&mut db.scan(), task_id, step).await?;
    let total = rows::count(&mut db.scan(), task_id, step).await?;
    let writer = export::Writer::new(format, schema, frames);
    let mut upload = media.upload().await?;
    let errors = match write_file(db, &mut upload, writer, (task_id, step), (job, total)).await {
        Ok(Some(errors)) => errors,
        // Canceled (`Ok(None)`) or failed: nothing of it is kept.
        other => {
            upload.abort().await;
            return other.map(|_| None);
        }
    };
    Ok(Some(JobOutput {
        result: jobs::ResultBody::File(upload.finish().await?),
        content_type: format.content_type(),
        errors,
    }))
}

/// [`write_export`]'s file, whole: the main part as it comes, the second part kept in a
/// temporary file until the main part is written, then the tail. The per-item errors, or
/// `None` when the job was canceled.
async fn write_file(
    db: &Db,
    upload: &mut Upload,
    mut writer: export::Writer,
    (task_id, step): (i64, Option<i64>),
    (job, total): (i64, i64),
) -> anyhow::Result<Option<Vec<serde_json::Value>>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
    upload.write(&writer.head()).await?;
    let mut side: Option<tokio::fs::File> = None;
    let mut pages = Pages::new(&mut db.scan(), task_id, step).await?;
    let mut done = 0;
    while let Some(items) = pages.next(&mut db.scan()).await? {
        done += items.len();
        let piece = writer.page(items);
        upload.write(&piece.main).await?;
        if !piece.side.is_empty() {
            if side.is_none() {
                side = Some(tokio::fs::File::from_std(tempfile::tempfile()?));
            }
            if let Some(file) = side.as_mut() {
                file.write_all(&piece.side).await?;
            }
        }
        if !jobs::report(db, job, done as f64 / total.max(1) as f64).await? {
            return Ok(None);
        }
    }
    upload.write(&writer.middle()).await?;
    if let Some(mut file) = side {
        // A write that failed in the background reports it here, not at the rewind.
        file.flush().await?;
        file.rewind().await?;
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            upload.write(&buf[..n]).await?;
        }
    }
    let (tail, errors) = writer.tail();
    upload.write(&tail).await?;
    Ok(Some(errors))
}

/// A task's items (only those waiting in one workflow step, when asked) with their results and
/// active labels, read a page at a time in item order. In a workflow each item names its step.
struct Pages {
    task_id: i64,
    step: Option<i64>,
    steps: Vec<Step>,
    after: i64,
    done: bool,
}

impl Pages {
    async fn new(on: &mut impl Runner, task_id: i64, step: Option<i64>) -> anyhow::Result<Self> {
        let steps = crate::store::tasks::get(&mut *on, task_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("task {task_id} is gone"))?
            .spec
            .steps;
        Ok(Pages {
            task_id,
            step,
            steps,
            after: i64::MIN,
            done: false,
        })
    }

    /// The next page; `None` after the last.
    async fn next(&mut self, on: &mut impl Runner) -> anyhow::Result<Option<Vec<ExportItem>>> {
        if self.done {
            return Ok(None);
        }
        let page = rows::task_items(&mut *on, self.task_id, self.step, self.after, PAGE).await?;
        self.done = !page.full;
        let Some(last) = page.last else {
            return Ok(None);
        };
        self.after = last;
        let rows = page.items;
        let mut labels: HashMap<i64, Vec<ExportLabel>> = HashMap::new();
        let ids: Vec<i64> = rows.iter().map(|(item, _)| item.item_id).collect();
        for (item, label) in rows::active_labels(&mut *on, self.task_id, &ids).await? {
            labels.entry(item).or_default().push(label);
        }
        let items = rows
            .into_iter()
            .map(|(mut item, step)| {
                item.step = (!self.steps.is_empty()).then(|| {
                    usize::try_from(step)
                        .ok()
                        .and_then(|s| self.steps.get(s))
                        .map_or_else(|| "done".to_owned(), |s| s.name.clone())
                });
                item.labels = labels.remove(&item.item_id).unwrap_or_default();
                item
            })
            .collect();
        Ok(Some(items))
    }

    /// Every item at once (an archive keeps a task whole in its row).
    async fn all(mut self, on: &mut impl Runner) -> anyhow::Result<Vec<ExportItem>> {
        let mut items = Vec::new();
        while let Some(page) = self.next(&mut *on).await? {
            items.extend(page);
        }
        Ok(items)
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// `json`, `csv`, `coco` or `label_studio`.
    #[schema(value_type = String)]
    format: ExportFormat,
    /// Only the items waiting in this workflow step (the number of steps: finished items).
    #[serde(default)]
    step: Option<i64>,
}

/// `POST /tasks/{id}/exports` (managers): starts an export job; download its result when complete.
///
/// Who may call: the managers of the task's project.
#[utoipa::path(
    post,
    path = "/tasks/{id}/exports",
    operation_id = "create_export",
    tag = "exports",
    params(("id" = i64, Path, description = "The task")),
    request_body = ExportBody,
    responses(
        (status = 202, description = "The export job started", body = JobStarted),
        (status = 400, description = "Not an export request", body = ErrorBody),
        ProjectRefusals,
        (status = 422, description = "A step the task's workflow does not have", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Body(body): Body<ExportBody>,
) -> ApiResult<(StatusCode, Json<JobStarted>)> {
    let task = tasks::load(&state, task_id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    if let Some(step) = body.step {
        super::workflow::check_step(&task, step, true)?;
    }
    let step = body.step;
    let schema = task.spec.schema.clone();
    let format = body.format;
    let media = state.media()?.clone();
    let job = jobs::spawn(
        &state.db,
        "export",
        task.project_id,
        Some(caller.id),
        json!({"task_id": task_id, "task_name": task.spec.name, "format": format, "step": step}),
        move |db, job| async move {
            // Kept as a file: a big task's export outgrows what a row's field may hold.
            write_export(&db, &media, task_id, step, format, schema, job).await
        },
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(JobStarted::new(job))))
}

/// Archives `ids` (all of one project): stores everything needed to recreate them, then marks
/// them archived. `by` is None for the auto-archive sweep. An archive holds its tasks' rows
/// while it waits for their items', so it can deadlock with a label that holds an item and
/// then writes its task (the one that finishes the task); PostgreSQL then rolls one back, and
/// a rolled-back archive is tried again.
async fn archive_tasks(
    db: &Db,
    project_id: i64,
    ids: &[i64],
    by: Option<i64>,
) -> anyhow::Result<i64> {
    let mut tries = 1;
    loop {
        match archive_once(db, project_id, ids, by).await {
            Err(e) if tries < 3 && e.downcast_ref().is_some_and(is_transient) => {
                tracing::warn!("archive of tasks {ids:?} rolled back ({e:#}); trying again");
                tries += 1;
            }
            done => return done,
        }
    }
}

/// An archive that found one of its tasks archived by another, which committed first.
#[derive(Debug)]
struct AlreadyArchived;

impl std::fmt::Display for AlreadyArchived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a task was archived by another request meanwhile")
    }
}

impl std::error::Error for AlreadyArchived {}

/// One try of [`archive_tasks`]: committed whole, or rolled back whole.
async fn archive_once(
    db: &Db,
    project_id: i64,
    ids: &[i64],
    by: Option<i64>,
) -> anyhow::Result<i64> {
    let now = clock::now().0;
    let mut w = db.write().await?;
    let made = archive_in(&mut w, project_id, ids, by, now).await;
    if let Ok(Some(archive)) = made {
        w.commit().await?;
        return Ok(archive);
    }
    if let Err(e) = w.rollback().await {
        tracing::warn!("rolling back an archive of tasks {ids:?} failed: {e}");
    }
    Err(made.err().unwrap_or_else(|| AlreadyArchived.into()))
}

/// [`archive_once`]'s work in `w`: the archive's id, or `None` when a task was archived already.
async fn archive_in(
    w: &mut WriteTx,
    project_id: i64,
    ids: &[i64],
    by: Option<i64>,
    now: i64,
) -> anyhow::Result<Option<i64>> {
    let lock = w.for_update();
    let Some(snapshots) = store::close(&mut *w, ids, lock, now).await? else {
        return Ok(None);
    };
    let mut tasks_out = Vec::new();
    for (id, task) in ids.iter().zip(snapshots) {
        let items = Pages::new(&mut *w, *id, None).await?.all(&mut *w).await?;
        tasks_out.push(json!({
            "id": id,
            "status": task.status,
            "spec": task.spec,
            "created_at": task.created_at,
            "items": items,
        }));
    }
    let content = json!({"project_id": project_id, "tasks": tasks_out}).to_string();
    let archive = store::archive(&mut *w, project_id, ids, &content, by, now).await?;
    Ok(Some(archive))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveBody {
    /// The tasks to archive (any projects the caller manages).
    ids: Vec<i64>,
}

/// An archive just made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArchiveMade {
    /// Id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// How many tasks it holds.
    pub task_count: usize,
}

/// The archives one request made: one per project.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArchivesMade {
    /// In project order.
    pub archives: Vec<ArchiveMade>,
}

/// `POST /tasks/archive {"ids"}` (managers of every task): one archive per project.
///
/// Who may call: managers of every named task's project.
#[utoipa::path(
    post,
    path = "/tasks/archive",
    operation_id = "archive_tasks",
    tag = "exports",
    request_body = ArchiveBody,
    responses(
        (status = 200, description = "Archived", body = ArchivesMade),
        (status = 400, description = "Not a list of task ids", body = ErrorBody),
        ProjectRefusals,
        (status = 409, description = "A task already archived", body = ErrorBody),
        (status = 422, description = "No ids", body = ErrorBody),
        (status = 500, description = "The archive could not be written", body = ErrorBody),
    )
)]
pub async fn archive(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<ArchiveBody>,
) -> ApiResult<Json<ArchivesMade>> {
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
    let mut archives = Vec::new();
    for (project_id, ids) in by_project {
        let id = archive_tasks(&state.db, project_id, &ids, Some(caller.id))
            .await
            .map_err(|e| match e.downcast::<StoreError>() {
                Ok(db) if is_transient(&db) => ApiError::from(db),
                Err(e) if e.is::<AlreadyArchived>() => {
                    ApiError::conflict(format!("{e}")).with_code(ErrorCode::TaskArchived)
                }
                Ok(db) => ApiError::new(ErrorCode::ArchiveFailed, format!("{db:#}")),
                Err(e) => ApiError::new(ErrorCode::ArchiveFailed, format!("{e:#}")),
            })?;
        archives.push(ArchiveMade {
            id,
            project_id,
            task_count: ids.len(),
        });
    }
    Ok(Json(ArchivesMade { archives }))
}

/// A project's archives.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArchiveList {
    /// Newest first.
    pub archives: Vec<store::Entry>,
}

/// `GET /projects/{id}/archives` (managers): when, by whom (none for auto-archive), how many.
///
/// Who may call: the project's managers.
#[utoipa::path(
    get,
    path = "/projects/{id}/archives",
    operation_id = "archive_history",
    tag = "exports",
    params(("id" = i64, Path, description = "The project")),
    responses(
        (status = 200, description = "The project's archives", body = ArchiveList),
        ProjectRefusals,
    )
)]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<i64>,
) -> ApiResult<Json<ArchiveList>> {
    super::projects::ensure_project(&state, project).await?;
    require_manager(&state, &caller, project).await?;
    let archives = store::history(&mut state.db.scan(), project).await?;
    Ok(Json(ArchiveList { archives }))
}

/// `GET /archives/{id}/download` (managers): the archived tasks, specs and labels as JSON.
/// Besides the bearer token it takes the web app's media cookie, so the browser saves the file
/// itself from a plain link.
///
/// Who may call: the managers of the archive's project.
#[utoipa::path(
    get,
    path = "/archives/{id}/download",
    operation_id = "download_archive",
    tag = "exports",
    params(("id" = i64, Path, description = "The archive")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The archive as a JSON file: {project_id, tasks}", content_type = "application/json", body = Object),
        ProjectRefusals,
    )
)]
pub async fn download(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let caller = super::media::cookie_caller(&state, &headers).await?;
    let (project_id, content) = store::content(&mut state.db.scan(), id)
        .await?
        .ok_or_else(|| ApiError::not_found("archive"))?;
    require_manager(&state, &caller, project_id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"quorum-archive-{id}.json\""),
            ),
        ],
        content,
    )
        .into_response())
}

/// Archives tasks idle longer than their project's `auto_archive_days`; returns how many.
pub async fn auto_archive(db: &Db) -> anyhow::Result<u64> {
    let idle = store::idle_tasks(&mut db.scan(), clock::now().0).await?;
    let mut by_project: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (task, project) in idle {
        by_project.entry(project).or_default().push(task);
    }
    let mut n = 0;
    for (project, ids) in by_project {
        archive_tasks(db, project, &ids, None).await?;
        n += ids.len() as u64;
    }
    Ok(n)
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create, archive, history, download),
    components(schemas(ExportBody, JobStarted, ArchiveBody, ArchivesMade, ArchiveList))
)]
pub(crate) struct Doc;
