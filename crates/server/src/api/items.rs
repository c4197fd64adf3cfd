//! Items: uploads (idempotent on `external_id`, per-row errors, upload history), listing with
//! filters and a cursor, one item's detail, and saved searches.

use super::auth::{require_manager, require_member, Caller, Role};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, ProjectRefusals, Query, RawBody};
use super::error_code::ErrorBody;
use super::jobs;
use super::projects::ensure_project;
use super::AppState;
use crate::clock;
use crate::store::error::StoreResult;
use crate::store::items as store;
use crate::store::uploads::{self, NewUpload};
use crate::store::Runner;
use crate::upload::{self, Format};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use quorum_core::label::{ImageSize, LabelValue};
use quorum_core::task::{in_directory, AnnotationStatus, ItemFilter, TaskSpec};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// `json`, `ndjson`, `csv` or `label_studio`; by default from the Content-Type.
    format: Option<String>,
}

/// What an upload did (a big one answers at once with its job, and zero counts).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct UploadSummary {
    /// Its entry in the upload history (none while a job stores it).
    pub upload_id: Option<i64>,
    /// The job storing a big upload.
    pub job_id: Option<i64>,
    /// New items.
    pub inserted: i64,
    /// Items changed.
    pub updated: i64,
    /// Items sent again as they were.
    pub unchanged: i64,
    /// Rows refused.
    pub failed: i64,
    /// The refused rows: `{row, message}`.
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<upload::RowError>,
    /// Rows stored with a remark: `{row, message}` (absent from a job's first answer).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub warnings: Option<Vec<upload::RowError>>,
}

/// `POST /datasets/{id}/items` (managers): adds or updates items; bad rows are reported, good
/// rows are stored, and the outcome is kept in the upload history.
///
/// Who may call: the managers of the dataset's project.
#[utoipa::path(
    post,
    path = "/datasets/{id}/items",
    operation_id = "upload_items",
    tag = "items",
    params(("id" = i64, Path, description = "The dataset"), UploadQuery),
    request_body(content = String, description = "Items as a JSON array, NDJSON, CSV or a Label Studio export", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (with any refused rows)", body = UploadSummary),
        (status = 202, description = "A big upload, stored by a job", body = UploadSummary),
        (status = 400, description = "Unknown format, bad UTF-8, empty or malformed body", body = ErrorBody),
        ProjectRefusals,
        (status = 413, description = "Too many rows or too large a body", body = ErrorBody),
        (status = 415, description = "A Content-Type that is no upload format", body = ErrorBody),
        (status = 422, description = "Every row was refused", body = UploadSummary),
    )
)]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(dataset_id): Path<i64>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<UploadSummary>)> {
    let project_id = store::dataset_project(&mut state.db.reader().await, dataset_id)
        .await?
        .ok_or_else(|| ApiError::not_found("dataset"))?;
    require_manager(&state, &caller, project_id).await?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = Format::detect(q.format.as_deref(), content_type).map_err(upload_error)?;
    let mut parsed = upload::parse(format, &body).map_err(upload_error)?;
    parsed.warn_labels_not_stored();
    let to = Destination {
        project_id,
        dataset_id,
        user_id: caller.id,
        format: serde_json::to_value(format)?
            .as_str()
            .unwrap_or("json")
            .to_owned(),
    };
    if parsed.rows.len() > ASYNC_ROWS {
        let job = upload_as_job(&state.db, to, parsed).await?;
        let summary = UploadSummary {
            job_id: Some(job),
            ..UploadSummary::default()
        };
        return Ok((StatusCode::ACCEPTED, Json(summary)));
    }
    let summary = store_upload(&state.db, &to, parsed, None)
        .await
        .map_err(|e| ApiError::new(ErrorCode::StorageUnavailable, format!("{e:#}")))?
        .ok_or_else(|| ApiError::internal("an upload without a job was canceled"))?;
    let stored = summary.inserted + summary.updated + summary.unchanged;
    let status = if stored == 0 && summary.failed > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(summary)))
}

/// Where an upload goes, who sent it and in which format.
#[derive(Debug, Clone)]
pub(super) struct Destination {
    /// The dataset's project.
    pub project_id: i64,
    /// The dataset.
    pub dataset_id: i64,
    /// Who uploads.
    pub user_id: i64,
    /// The format's name, for the history.
    pub format: String,
}

/// Starts a job storing a big upload, which answers at once and commits chunk by chunk.
async fn upload_as_job(
    db: &crate::db::Db,
    to: Destination,
    parsed: upload::Parsed,
) -> StoreResult<i64> {
    let params =
        json!({"dataset_id": to.dataset_id, "format": to.format, "rows": parsed.rows.len()});
    jobs::spawn(
        db,
        "import",
        to.project_id,
        Some(to.user_id),
        params,
        move |db, job| async move {
            let Some(summary) = store_upload(&db, &to, parsed, Some(job)).await? else {
                return Ok(None);
            };
            Ok(Some(jobs::JobOutput {
                errors: summary
                    .errors
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<Result<_, _>>()?,
                result: jobs::ResultBody::Inline(serde_json::to_string(&summary)?),
                content_type: "application/json",
            }))
        },
    )
    .await
}

/// Uploads with more rows than this run as a job.
const ASYNC_ROWS: usize = 5_000;
/// Items an upload inserts before PostgreSQL's statistics of them are refreshed at its end.
const ANALYZE_AFTER_ROWS: i64 = 10_000;
/// Rows per transaction in a job: progress is visible and a cancel stops between chunks.
const CHUNK_ROWS: usize = 1_000;

/// Stores parsed rows and records the upload in the history; `None` when its job was canceled.
pub(super) async fn store_upload(
    db: &crate::db::Db,
    to: &Destination,
    parsed: upload::Parsed,
    job: Option<i64>,
) -> anyhow::Result<Option<UploadSummary>> {
    let Destination {
        project_id,
        dataset_id,
        user_id,
        ref format,
    } = *to;
    let now = clock::now().0;
    let (mut inserted, mut updated, mut unchanged) = (0i64, 0i64, 0i64);
    let chunks: Vec<&[upload::ItemRow]> = parsed.rows.chunks(CHUNK_ROWS.max(1)).collect();
    let total = chunks.len().max(1);
    let mut canceled = false;
    let mut row_errors = parsed.errors.clone();
    for (n, chunk) in chunks.iter().enumerate() {
        if let Some(job) = job {
            if !jobs::report(db, job, n as f64 / total as f64).await? {
                canceled = true;
                break;
            }
        }
        // A claim runs on SQLite's own writer connection in this thread (no statement hops to a
        // worker thread); each chunk commits on its own, so progress shows and a cancel stops
        // between chunks.
        let mut tx = db.bulk().await?;
        let counts = uploads::store_chunk(
            &mut tx,
            db.backend(),
            (project_id, dataset_id),
            chunk,
            now,
            gold_misfit,
        )
        .await?;
        tx.commit().await?;
        inserted += counts.inserted;
        updated += counts.updated;
        unchanged += counts.unchanged;
        row_errors.extend(counts.refused);
        tokio::task::yield_now().await;
    }
    if db.backend() == crate::db::Backend::Postgres && inserted >= ANALYZE_AFTER_ROWS {
        // Without statistics (autovacuum gathers them only after a while, or never where it
        // is off) the planner takes a table just filled for nearly empty: the items page
        // then sorted every item of the project for its first 50 (0.35 s at a million).
        if let Err(e) = uploads::analyze_items(&mut db.scan()).await {
            tracing::warn!("statistics of items not refreshed after an upload: {e}");
        }
    }
    row_errors.sort_by_key(|e| e.row);
    let errors = serde_json::to_value(&row_errors)?;
    let failed = row_errors.len() as i64;
    let mut w = db.write().await?;
    let upload_id = uploads::record(
        &mut w,
        &NewUpload {
            project_id,
            dataset_id,
            user_id,
            format,
            created_at: now,
            inserted,
            updated,
            unchanged,
            failed,
            errors: &errors,
        },
    )
    .await?;
    w.commit().await?;
    if canceled {
        return Ok(None);
    }
    Ok(Some(UploadSummary {
        upload_id: Some(upload_id),
        job_id: job,
        inserted,
        updated,
        unchanged,
        failed,
        errors: row_errors,
        warnings: Some(parsed.warnings),
    }))
}

fn upload_error(err: upload::UploadError) -> ApiError {
    use upload::UploadError as E;
    let code = match &err {
        E::UnknownFormat(_) => ErrorCode::UnknownFormat,
        E::UnsupportedContentType(_) => ErrorCode::UnsupportedMediaType,
        E::InvalidUtf8 { .. } => ErrorCode::InvalidUtf8,
        E::Empty => ErrorCode::EmptyUpload,
        E::Malformed(_) => ErrorCode::MalformedUpload,
        E::TooManyRows => ErrorCode::TooManyRows,
    };
    debug_assert_eq!(code.as_str(), err.code());
    ApiError::new(code, err.to_string())
}

/// Why a new gold answer cannot be stored on item `item`: task `task`, which holds it, scores
/// workers against its gold and has a schema the answer does not fit.
fn gold_misfit(task: i64, item: i64, spec: &TaskSpec, gold: &LabelValue) -> Option<String> {
    if !super::tasks::uses_gold(spec) {
        return None;
    }
    let e = spec.schema.validate_value(gold).err()?;
    Some(format!(
        "\"gold\" does not fit the schema of task {task}, which checks workers against \
         item {item}'s gold: {e}"
    ))
}

/// The upload history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadList {
    /// Newest first.
    pub uploads: Vec<uploads::Upload>,
}

/// `GET /projects/{id}/uploads` (managers): the upload history, newest first.
///
/// Who may call: the project's managers.
#[utoipa::path(
    get,
    path = "/projects/{id}/uploads",
    tag = "items",
    params(("id" = i64, Path, description = "The project")),
    responses(
        (status = 200, description = "The history", body = UploadList),
        ProjectRefusals,
    )
)]
pub async fn uploads(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<UploadList>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let uploads = uploads::history(&mut state.db.scan(), id).await?;
    Ok(Json(UploadList { uploads }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
// An unknown filter is refused by name rather than silently ignored.
#[serde(deny_unknown_fields)]
pub struct ItemQuery {
    /// Only this directory and what is under it.
    directory: Option<String>,
    /// `unlabeled`, `labeled` or `approved` across the project's tasks.
    status: Option<String>,
    /// Only this dataset's items.
    dataset_id: Option<i64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
    /// Items per page, 1 to 1000 (100 unless given).
    limit: Option<u32>,
}

/// A page of items.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemPage {
    /// In id order.
    pub items: Vec<store::Listed>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `GET /projects/{id}/items` (managers): items by id, filtered, one page at a time.
///
/// Who may call: the project's managers.
#[utoipa::path(
    get,
    path = "/projects/{id}/items",
    operation_id = "list_items",
    tag = "items",
    params(("id" = i64, Path, description = "The project"), ItemQuery),
    responses(
        (status = 200, description = "A page of items", body = ItemPage),
        (status = 400, description = "A bad cursor or status, or an unknown filter", body = ErrorBody),
        ProjectRefusals,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<ItemQuery>,
) -> ApiResult<Json<ItemPage>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let after: i64 = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse()
            .map_err(|_| ApiError::invalid("cursor must be a value from next_cursor"))?,
    };
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let status = status.map(annotation_status).transpose()?;
    let directory = q
        .directory
        .as_deref()
        .map(|d| d.trim_end_matches('/'))
        .unwrap_or_default();
    let filter = store::PageFilter {
        dataset_id: q.dataset_id,
        directory,
        status,
        after,
        limit,
    };
    let items = store::page(&mut state.db.scan(), id, &filter).await?;
    debug_assert!(items.iter().all(|i| in_directory(&i.directory, directory)));
    let next_cursor = (items.len() as i64 == limit)
        .then(|| items.last().map(|l| l.id.to_string()))
        .flatten();
    Ok(Json(ItemPage { items, next_cursor }))
}

/// The labeling status a list filter names.
fn annotation_status(text: &str) -> ApiResult<AnnotationStatus> {
    serde_json::from_value(json!(text)).map_err(|_| {
        ApiError::invalid(format!(
            "status {text:?}: use unlabeled, labeled or approved"
        ))
    })
}

/// An item. The fields after `answers` are for managers only and absent for annotators.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemDetail {
    /// Id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// What is shown.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Size, duration and the team's own keys.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Its directory.
    pub directory: String,
    /// Every answer (managers) or the caller's own (annotators), oldest first.
    pub answers: Vec<store::Answer>,
    /// Its dataset (managers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_id: Option<i64>,
    /// The id its upload gave it (managers; null when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<Option<String>>,
    /// Its priority (managers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// Its gold answer (managers; null when it has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub gold: Option<Value>,
}

/// `GET /items/{id}`: managers see everything (gold, every answer); an annotator who holds the
/// item sees its data and only their own answers (invariant 5).
///
/// Who may call: the project's managers, and an annotator who holds or held the item (who sees only their own answers).
#[utoipa::path(
    get,
    path = "/items/{id}",
    operation_id = "get_item",
    tag = "items",
    params(("id" = i64, Path, description = "The item")),
    responses(
        (status = 200, description = "The item", body = ItemDetail),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a member, or an annotator who never held the item", body = ErrorBody),
        (status = 404, description = "No such item", body = ErrorBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<ItemDetail>> {
    let mut on = state.db.reader().await;
    let item = store::get(&mut on, id)
        .await?
        .ok_or_else(|| ApiError::not_found("item"))?;
    drop(on);
    let roles = require_member(&state, &caller, item.project_id).await?;
    let manager = roles.contains(&Role::Manager);
    let mut on = state.db.reader().await;
    if !manager && !store::held_by(&mut on, item.project_id, id, caller.id).await? {
        return Err(ApiError::forbidden("this item is not in your work"));
    }
    let only = (!manager).then_some(caller.id);
    let answers = store::answers_on(&mut on, item.project_id, id, only).await?;
    let listed = item.listed;
    // Not for annotators: gold kept in a dataset of its own would be told by its dataset.
    let for_manager = |v| manager.then_some(v);
    Ok(Json(ItemDetail {
        id,
        project_id: item.project_id,
        data: listed.data,
        metadata: listed.metadata,
        directory: listed.directory,
        answers,
        dataset_id: for_manager(listed.dataset_id),
        external_id: manager.then_some(listed.external_id),
        priority: for_manager(listed.priority),
        gold: manager.then(|| item.gold.unwrap_or(Value::Null)),
    }))
}

/// A project's saved searches.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SavedSearchList {
    /// Oldest first.
    pub saved_searches: Vec<store::SavedSearch>,
}

/// `GET /projects/{id}/saved-searches` (managers).
///
/// Who may call: the project's managers.
#[utoipa::path(
    get,
    path = "/projects/{id}/saved-searches",
    tag = "items",
    params(("id" = i64, Path, description = "The project")),
    responses(
        (status = 200, description = "The saved searches", body = SavedSearchList),
        ProjectRefusals,
    )
)]
pub async fn saved_searches(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<SavedSearchList>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let saved_searches = store::saved_searches(&mut state.db.scan(), id).await?;
    Ok(Json(SavedSearchList { saved_searches }))
}

/// A search to save.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSavedSearch {
    /// 1 to 200 characters.
    name: String,
    /// The item filter.
    #[schema(value_type = Object)]
    filter: ItemFilter,
}

/// A search just saved.
#[derive(Serialize, ToSchema)]
pub struct SavedSearchCreated {
    /// Id.
    pub id: i64,
    /// Its name, trimmed.
    pub name: String,
    /// The item filter.
    #[schema(value_type = Object)]
    pub filter: ItemFilter,
}

/// `POST /projects/{id}/saved-searches` (managers): a named filter, usable as a task's input.
///
/// Who may call: the project's managers.
#[utoipa::path(
    post,
    path = "/projects/{id}/saved-searches",
    tag = "items",
    params(("id" = i64, Path, description = "The project")),
    request_body = NewSavedSearch,
    responses(
        (status = 201, description = "Saved", body = SavedSearchCreated),
        (status = 400, description = "Not a saved search", body = ErrorBody),
        ProjectRefusals,
        (status = 422, description = "A name that is empty or longer than 200 characters", body = ErrorBody),
    )
)]
pub async fn create_saved_search(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<NewSavedSearch>,
) -> ApiResult<(StatusCode, Json<SavedSearchCreated>)> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::validation("a name is 1 to 200 characters"));
    }
    let filter = serde_json::to_string(&body.filter)?;
    let mut w = state.db.write().await?;
    let new_id = store::save_search(&mut w, id, name, &filter, clock::now().0).await?;
    w.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(SavedSearchCreated {
            id: new_id,
            name: name.to_owned(),
            filter: body.filter,
        }),
    ))
}

/// The image size `item`'s metadata declares, which shapes must stay inside; read only for
/// shape answers, so a classification label costs no extra read.
pub async fn image_size(
    tx: &mut impl Runner,
    item: i64,
    value: &LabelValue,
) -> ApiResult<Option<ImageSize>> {
    if matches!(value, LabelValue::Classification { .. }) {
        return Ok(None);
    }
    let metadata = store::metadata(tx, item).await?;
    Ok(metadata.and_then(|m| ImageSize::from_metadata(&m)))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(upload, uploads, list, get_one, saved_searches, create_saved_search),
    components(schemas(
        UploadSummary,
        UploadList,
        ItemPage,
        ItemDetail,
        SavedSearchList,
        NewSavedSearch,
        SavedSearchCreated
    ))
)]
pub(crate) struct Doc;
