//! Exports, as jobs: a task's items and labels written to a file in the media store a page at
//! a time.

use super::auth::{require_manager, Caller};
use super::error::{ApiResult, Body, Path, ProjectRefusals};
use super::error_code::ErrorBody;
use super::jobs::{self, JobOutput, JobStarted};
use super::tasks;
use super::AppState;
use crate::db::Db;
use crate::export::{self, ExportFormat, ExportItem, ExportLabel};
use crate::media::{MediaStore, Upload};
use crate::store::{exports as rows, Runner};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use quorum_core::label::LabelSchema;
use quorum_core::workflow::Step;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
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
    let mut pages = Pages::new(db, task_id, step).await?;
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
pub(super) struct Pages {
    backend: crate::db::Backend,
    task_id: i64,
    step: Option<i64>,
    steps: Vec<Step>,
    after: i64,
    done: bool,
}

impl Pages {
    pub(super) async fn new(db: &Db, task_id: i64, step: Option<i64>) -> anyhow::Result<Self> {
        let steps = crate::store::tasks::get(&mut db.scan(), task_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("task {task_id} is gone"))?
            .spec
            .steps;
        Ok(Pages {
            backend: db.backend(),
            task_id,
            step,
            steps,
            after: i64::MIN,
            done: false,
        })
    }

    /// The next page; `None` after the last.
    pub(super) async fn next(
        &mut self,
        on: &mut impl Runner,
    ) -> anyhow::Result<Option<Vec<ExportItem>>> {
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
        for (item, label) in rows::active_labels(&mut *on, self.backend, self.task_id, &ids).await?
        {
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

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create), components(schemas(ExportBody, JobStarted)))]
pub(crate) struct Doc;
