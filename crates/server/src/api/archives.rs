//! The archive of finished tasks: bulk archive, history, download, and the auto-archive sweep
//! after a project's inactivity period.
//!
//! Archiving is two steps. First, in one short transaction, the tasks are closed (leases
//! ended, marked archived, labels under way waited for) and the archive row is stored with the
//! tasks as they were. Then the archive's file (every item with its labels, the JSON that can
//! recreate the tasks) is written into the media store a page at a time, outside any
//! transaction: nothing changes an archived task's items, labels or results (invariant 7), so
//! what it reads is what the close froze; only the items' own data and metadata are read as the
//! dataset holds them then (a re-upload by external id in the moments between shows). A million-item
//! task's archive is gigabytes of JSON; built inside the transaction it held SQLite's one write
//! lock (every label on the server waited) and the whole text in memory, and a row's field
//! stops at 1 GB. Until the file is there the archive is not `ready`, it does not download, and
//! its tasks cannot be deleted (they are the only copy); a file whose writer died is written by
//! the sweep of any server.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, ProjectRefusals};
use super::error_code::ErrorBody;
use super::exports::Pages;
use super::tasks;
use super::AppState;
use crate::clock;
use crate::db::{Db, WriteTx};
use crate::media::{MediaStore, Upload};
use crate::store::archive::{self as store, Content};
use crate::store::error::{is_transient, StoreError};
use anyhow::Context;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// How long an archive's file may be in writing before another writer takes over: far longer
/// than a million-item task takes (40 s), so two writers are rare, and harmless: the first to
/// record its file wins (the other's, almost always the same bytes, is kept once by the media
/// store).
const WRITER_GIVES_UP_MS: i64 = 10 * 60 * 1000;

/// An archive as stored before its file is written: the tasks as they were, without items.
#[derive(Serialize, Deserialize)]
struct Heads {
    project_id: i64,
    tasks: Vec<Map<String, Value>>,
}

/// Archives `ids` (all of one project): closes them and stores the archive, then writes its
/// file. The archive's id, and whether its file is written (if not, the sweep writes it). `by`
/// is None for the auto-archive sweep. An archive holds its tasks' rows while it waits for
/// their items', so it can deadlock with a label that holds an item and then writes its task
/// (the one that finishes the task); PostgreSQL then rolls one back, and a rolled-back archive
/// is tried again.
async fn archive_tasks(
    db: &Db,
    media: &MediaStore,
    project_id: i64,
    ids: &[i64],
    by: Option<i64>,
) -> anyhow::Result<(i64, bool)> {
    let mut tries = 1;
    let id = loop {
        match archive_once(db, project_id, ids, by).await {
            Err(e) if tries < 3 && e.downcast_ref().is_some_and(is_transient) => {
                tracing::warn!("archive of tasks {ids:?} rolled back ({e:#}); trying again");
                tries += 1;
            }
            done => break done?,
        }
    };
    // Written apart from the request: a client that gives up waiting leaves it to finish.
    let writing = tokio::spawn({
        let (db, media) = (db.clone(), media.clone());
        async move { write_file(&db, &media, id).await }
    });
    let ready = match writing.await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::error!("archive {id}'s file was not written ({e:#}); a sweep writes it");
            false
        }
        Err(e) => {
            tracing::error!("archive {id}'s writer stopped ({e}); a sweep writes it");
            false
        }
    };
    Ok((id, ready))
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

/// One try of [`archive_tasks`]' transaction: committed whole, or rolled back whole.
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
    let tasks = ids
        .iter()
        .zip(snapshots)
        .map(|(id, task)| {
            Map::from_iter([
                ("id".to_owned(), json!(id)),
                ("status".to_owned(), json!(task.status)),
                ("spec".to_owned(), task.spec),
                ("created_at".to_owned(), json!(task.created_at)),
            ])
        })
        .collect();
    let heads = serde_json::to_string(&Heads { project_id, tasks })?;
    let archive = store::archive(&mut *w, project_id, ids, &heads, by, now).await?;
    Ok(Some(archive))
}

/// Writes archive `id`'s file, `{"project_id", "tasks": [{…, "items": […]}]}`, a page of items
/// at a time, and records it; nothing when it is written already.
async fn write_file(db: &Db, media: &MediaStore, id: i64) -> anyhow::Result<()> {
    let Some((_, Content::Writing(heads))) = store::content(&mut db.scan(), id).await? else {
        return Ok(());
    };
    let heads: Heads = serde_json::from_str(&heads).context("an archive's stored tasks")?;
    let mut upload = media.upload().await?;
    if let Err(e) = write_tasks(db, &mut upload, heads).await {
        upload.abort().await;
        return Err(e);
    }
    let sha = upload.finish().await?;
    let mut w = db.write().await?;
    store::written(&mut w, id, &sha).await?;
    w.commit().await?;
    Ok(())
}

/// [`write_file`]'s text: each task's head with its items spliced in as they are read.
async fn write_tasks(db: &Db, upload: &mut Upload, heads: Heads) -> anyhow::Result<()> {
    upload
        .write(format!("{{\"project_id\":{},\"tasks\":[", heads.project_id).as_bytes())
        .await?;
    for (n, head) in heads.tasks.into_iter().enumerate() {
        let task_id = head
            .get("id")
            .and_then(Value::as_i64)
            .context("an archived task without an id")?;
        // The head's object, left open for its items.
        let mut text = serde_json::to_vec(&head)?;
        text.pop();
        let open = if n == 0 { "" } else { "," };
        upload.write(open.as_bytes()).await?;
        upload.write(&text).await?;
        upload.write(b",\"items\":[").await?;
        let mut pages = Pages::new(db, task_id, None).await?;
        let mut first = true;
        while let Some(items) = pages.next(&mut db.scan()).await? {
            let mut buf = Vec::new();
            for item in &items {
                if !first {
                    buf.push(b',');
                }
                first = false;
                serde_json::to_writer(&mut buf, item)?;
            }
            upload.write(&buf).await?;
        }
        upload.write(b"]}").await?;
    }
    upload.write(b"]}").await?;
    Ok(())
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
    /// Whether its file is written and downloads; false when writing it failed (the tasks are
    /// archived all the same, and a server's sweep writes the file later).
    pub ready: bool,
}

/// The archives one request made: one per project.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ArchivesMade {
    /// In project order.
    pub archives: Vec<ArchiveMade>,
}

/// `POST /tasks/archive {"ids"}` (managers of every task): one archive per project, answered
/// once each archive's file is written.
///
/// Who may call: managers of every named task's project.
#[utoipa::path(
    post,
    path = "/tasks/archive",
    operation_id = "archive_tasks",
    tag = "archives",
    request_body = ArchiveBody,
    responses(
        (status = 200, description = "Archived", body = ArchivesMade),
        (status = 400, description = "Not a list of task ids", body = ErrorBody),
        ProjectRefusals,
        (status = 409, description = "A task already archived", body = ErrorBody),
        (status = 422, description = "No ids", body = ErrorBody),
        (status = 500, description = "The archive could not be stored", body = ErrorBody),
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
    let media = state.media()?;
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
        let (id, ready) = archive_tasks(&state.db, media, project_id, &ids, Some(caller.id))
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
            ready,
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

/// `GET /projects/{id}/archives` (managers): when, by whom (none for auto-archive), how many,
/// whether it downloads yet.
///
/// Who may call: the project's managers.
#[utoipa::path(
    get,
    path = "/projects/{id}/archives",
    operation_id = "archive_history",
    tag = "archives",
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

/// `GET /archives/{id}/download` (managers): the archived tasks, specs and labels as JSON, in
/// byte ranges too. Besides the bearer token it takes the web app's media cookie, so the
/// browser saves the file itself from a plain link.
///
/// Who may call: the managers of the archive's project.
#[utoipa::path(
    get,
    path = "/archives/{id}/download",
    operation_id = "download_archive",
    tag = "archives",
    params(("id" = i64, Path, description = "The archive")),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The archive as a JSON file: {project_id, tasks}", content_type = "application/json", body = Object),
        (status = 206, description = "The byte range a `Range` header asked (a broken download resumes)", content_type = "application/json", body = String),
        ProjectRefusals,
        (status = 409, description = "The archive's file is still being written", body = ErrorBody),
        (status = 416, description = "A range past the file's end", body = ErrorBody),
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
    let disposition = format!("attachment; filename=\"quorum-archive-{id}.json\"");
    match content {
        Content::Whole(text) => Ok((
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            text,
        )
            .into_response()),
        Content::File(sha) => {
            let json = "application/json";
            super::media::send_download(state.media()?, &sha, &headers, json, &disposition).await
        }
        Content::Writing(_) => Err(ApiError::conflict(
            "the archive's file is still being written: try again in a moment",
        )
        .with_code(ErrorCode::ArchiveWriting)),
    }
}

/// A sweep: writes the files of archives whose writer died or failed; returns how many.
pub async fn write_archive_files(db: &Db, media: &MediaStore) -> anyhow::Result<u64> {
    let mut n = 0;
    let since = clock::now().0 - WRITER_GIVES_UP_MS;
    for id in store::unwritten(&mut db.scan(), since).await? {
        match write_file(db, media, id).await {
            Ok(()) => n += 1,
            Err(e) => tracing::error!("archive {id}'s file was not written ({e:#}); trying again"),
        }
    }
    Ok(n)
}

/// The auto-archive sweep: archives tasks idle longer than their project's
/// `auto_archive_days`; returns how many.
pub async fn auto_archive(db: &Db, media: &MediaStore) -> anyhow::Result<u64> {
    let idle = store::idle_tasks(&mut db.scan(), clock::now().0).await?;
    let mut by_project: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (task, project) in idle {
        by_project.entry(project).or_default().push(task);
    }
    let mut n = 0;
    for (project, ids) in by_project {
        archive_tasks(db, media, project, &ids, None).await?;
        n += ids.len() as u64;
    }
    Ok(n)
}

/// Refuses to delete tasks in `archives` while one's file is being written: the tasks are still
/// the only copy of what it will hold.
pub(super) async fn refuse_while_writing(on: &mut WriteTx, archives: &[i64]) -> ApiResult<()> {
    if !archives.is_empty() && store::any_in_writing(on, archives).await? {
        return Err(ApiError::conflict(
            "the task's archive is still being written: delete it once the archive is ready",
        )
        .with_code(ErrorCode::ArchiveWriting));
    }
    Ok(())
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(archive, history, download),
    components(schemas(ArchiveBody, ArchivesMade, ArchiveList))
)]
pub(crate) struct Doc;
