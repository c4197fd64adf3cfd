//! Items: uploads (idempotent on `external_id`, per-row errors, upload history), listing with
//! filters and a cursor, one item's detail, and saved searches.

use super::auth::{require_manager, require_member, Caller, Role};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, Query, RawBody};
use super::jobs;
use super::projects::ensure_project;
use super::AppState;
use crate::clock;
use crate::db::{json_col, Backend};
use crate::pg_array;
use crate::sql::{self, Tx};
use crate::upload::{self, Format, ItemRow};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use quorum_core::label::{ImageSize, LabelValue};
use quorum_core::task::{in_directory, AnnotationStatus, ItemFilter};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::{HashMap, HashSet};

#[derive(Deserialize)]
pub struct UploadQuery {
    format: Option<String>,
}

/// `POST /datasets/{id}/items` (managers): adds or updates items; bad rows are reported, good
/// rows are stored, and the outcome is kept in the upload history.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(dataset_id): Path<i64>,
    Query(q): Query<UploadQuery>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let project_id: i64 = sqlx::query_scalar("SELECT project_id FROM datasets WHERE id = $1")
        .bind(dataset_id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or_else(|| ApiError::not_found("dataset"))?;
    require_manager(&state, &caller, project_id).await?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let format = Format::detect(q.format.as_deref(), content_type).map_err(upload_error)?;
    let mut parsed = upload::parse(format, &body).map_err(upload_error)?;
    parsed.warn_labels_not_stored();
    let format_name = serde_json::to_value(format)?
        .as_str()
        .unwrap_or("json")
        .to_owned();
    if parsed.rows.len() > ASYNC_ROWS {
        // Big uploads answer at once and store in the background, committing chunk by chunk.
        let job = jobs::spawn(
            &state.db,
            "import",
            project_id,
            Some(caller.id),
            json!({"dataset_id": dataset_id, "format": format_name, "rows": parsed.rows.len()}),
            move |db, job| async move {
                let summary = store_upload(
                    &db,
                    project_id,
                    dataset_id,
                    caller.id,
                    &format_name,
                    parsed,
                    Some(job),
                )
                .await?;
                Ok(summary.map(|s| jobs::JobOutput {
                    errors: s["errors"].as_array().cloned().unwrap_or_default(),
                    result: s.to_string(),
                    content_type: "application/json",
                }))
            },
        )
        .await?;
        return Ok((
            StatusCode::ACCEPTED,
            Json(
                json!({"upload_id": null, "job_id": job, "inserted": 0, "updated": 0, "unchanged": 0,
                        "failed": 0, "errors": []}),
            ),
        ));
    }
    let summary = store_upload(
        &state.db,
        project_id,
        dataset_id,
        caller.id,
        &format_name,
        parsed,
        None,
    )
    .await
    .map_err(|e| ApiError::new(ErrorCode::StorageUnavailable, format!("{e:#}")))?
    .unwrap_or_default();
    let stored = ["inserted", "updated", "unchanged"]
        .iter()
        .map(|k| summary[k].as_i64().unwrap_or(0))
        .sum::<i64>();
    let status = if stored == 0 && summary["failed"].as_i64().unwrap_or(0) > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, Json(summary)))
}

/// Uploads with more rows than this run as a job.
const ASYNC_ROWS: usize = 5_000;
/// Rows per transaction in a job: progress is visible and a cancel stops between chunks.
const CHUNK_ROWS: usize = 1_000;

/// Stores parsed rows and records the upload in the history; `None` when its job was canceled.
pub(super) async fn store_upload(
    db: &crate::db::Db,
    project_id: i64,
    dataset_id: i64,
    user_id: i64,
    format: &str,
    parsed: upload::Parsed,
    job: Option<i64>,
) -> anyhow::Result<Option<Value>> {
    let now = clock::now().0;
    let (mut inserted, mut updated, mut unchanged) = (0i64, 0i64, 0i64);
    let chunks: Vec<&[ItemRow]> = parsed.rows.chunks(CHUNK_ROWS.max(1)).collect();
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
        let counts = store_chunk(&mut tx, db.backend(), project_id, dataset_id, chunk, now).await?;
        tx.commit().await?;
        inserted += counts.inserted;
        updated += counts.updated;
        unchanged += counts.unchanged;
        row_errors.extend(counts.refused);
        tokio::task::yield_now().await;
    }
    row_errors.sort_by_key(|e| e.row);
    let errors = serde_json::to_value(&row_errors)?;
    let warnings = serde_json::to_value(&parsed.warnings)?;
    let failed = row_errors.len() as i64;
    let mut w = db.write().await?;
    let upload_id: i64 = sqlx::query_scalar(
        "INSERT INTO uploads (project_id, dataset_id, user_id, format, created_at, inserted, updated, \
         unchanged, failed, errors) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(project_id)
    .bind(dataset_id)
    .bind(user_id)
    .bind(format)
    .bind(now)
    .bind(inserted)
    .bind(updated)
    .bind(unchanged)
    .bind(failed)
    .bind(errors.to_string())
    .fetch_one(&mut *w.tx)
    .await?;
    w.commit().await?;
    if canceled {
        return Ok(None);
    }
    Ok(Some(json!({
        "upload_id": upload_id, "job_id": job, "inserted": inserted, "updated": updated,
        "unchanged": unchanged, "failed": failed, "errors": errors, "warnings": warnings,
    })))
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

/// What a chunk of rows did to the dataset.
#[derive(Default)]
struct ChunkCounts {
    inserted: i64,
    updated: i64,
    unchanged: i64,
    /// Rows not stored, with the reason.
    refused: Vec<upload::RowError>,
}

/// An item row as stored: JSON columns as text, so that "unchanged" is a string comparison.
struct StoredRow {
    data: String,
    metadata: String,
    directory: String,
    priority: i64,
    gold: Option<String>,
}

impl StoredRow {
    fn of(row: &ItemRow) -> Self {
        StoredRow {
            data: row.data.to_string(),
            metadata: Value::Object(row.metadata.clone()).to_string(),
            directory: row.directory.clone(),
            priority: i64::from(row.priority),
            gold: row
                .gold
                .as_ref()
                .map(|g| serde_json::to_string(g).unwrap_or_default()),
        }
    }

    fn read(r: &sql::Row) -> sqlx::Result<(i64, StoredRow)> {
        Ok((
            r.try_get("id")?,
            StoredRow {
                data: r.try_get("data")?,
                metadata: r.try_get("metadata")?,
                directory: r.try_get("directory")?,
                priority: r.try_get("priority")?,
                gold: r.try_get("gold")?,
            },
        ))
    }
}

/// Rows per multi-row statement: 6 parameters a row stays far below both backends' limits
/// (SQLite 32,766, PostgreSQL 65,535), and on PostgreSQL one statement carries many rows.
const ROWS_PER_STATEMENT: usize = 500;

/// Stores one chunk of rows in a few statements: one read of the chunk's external ids already
/// in the dataset, an UPDATE per changed row, and multi-row INSERTs for the new ones. The cost
/// is per row of the upload, never per row already in the database.
async fn store_chunk(
    tx: &mut sql::Tx,
    backend: Backend,
    project_id: i64,
    dataset_id: i64,
    rows: &[ItemRow],
    now: i64,
) -> sqlx::Result<ChunkCounts> {
    let mut counts = ChunkCounts::default();
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.external_id.as_deref())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    let mut existing = existing_rows(tx, backend, dataset_id, &ids).await?;
    let mut new = Vec::new();
    for row in rows {
        let found = row.external_id.as_deref().and_then(|e| existing.remove(e));
        if unique.len() != ids.len() {
            // The same external id twice in one chunk: a later row updates the earlier one,
            // so this chunk is applied row by row, in order.
            let found = match found {
                Some(found) => Some(found),
                None => find_external(tx, dataset_id, row).await?,
            };
            store_one(tx, project_id, dataset_id, row, found, now, &mut counts).await?;
            continue;
        }
        match found {
            Some(found) => {
                store_one(
                    tx,
                    project_id,
                    dataset_id,
                    row,
                    Some(found),
                    now,
                    &mut counts,
                )
                .await?
            }
            None => new.push(row),
        }
    }
    for part in new.chunks(ROWS_PER_STATEMENT) {
        insert_rows(tx, project_id, dataset_id, part, now).await?;
        counts.inserted += part.len() as i64;
    }
    Ok(counts)
}

/// The stored rows of the dataset with these external ids, by external id.
async fn existing_rows(
    tx: &mut sql::Tx,
    backend: Backend,
    dataset_id: i64,
    external_ids: &[&str],
) -> sqlx::Result<HashMap<String, (i64, StoredRow)>> {
    let mut found = HashMap::new();
    for part in external_ids.chunks(ROWS_PER_STATEMENT) {
        let lookup = match backend {
            // One probe of the unique key per id, whatever the statistics say: a lateral
            // subquery with a limit runs once per id. As `external_id IN (…)` (and as a plain
            // join) the planner, without statistics on the growing table (the test server runs
            // without autovacuum; elsewhere it lags a bulk load), took the list for unselective
            // and read every item of the dataset on each chunk (EXPLAIN ANALYZE: 212 ms a chunk
            // at 480,000 items; a generic plan cached while the table was empty did the same),
            // so uploads slowed down as they went.
            Backend::Postgres => sql::query(
                "SELECT i.id, i.external_id, i.data, i.metadata, i.directory, i.priority, i.gold \
                 FROM unnest($2::text[]) AS e(external_id) CROSS JOIN LATERAL \
                 (SELECT * FROM items WHERE dataset_id = $1 AND external_id = e.external_id \
                 LIMIT 1) i",
            )
            .bind(dataset_id)
            .bind(pg_array::texts(part.iter().map(|e| Some(*e)))),
            Backend::Sqlite => sql::query(format!(
                "SELECT id, external_id, data, metadata, directory, priority, gold FROM items \
                 WHERE dataset_id = $1 AND external_id IN ({})",
                sql::params(2, part.len())
            ))
            .bind(dataset_id)
            .bind_all(part.iter().copied()),
        };
        let rows = lookup.fetch_all(tx).await?;
        for r in &rows {
            found.insert(r.try_get("external_id")?, StoredRow::read(r)?);
        }
    }
    Ok(found)
}

async fn find_external(
    tx: &mut sql::Tx,
    dataset_id: i64,
    row: &ItemRow,
) -> sqlx::Result<Option<(i64, StoredRow)>> {
    let Some(ext) = &row.external_id else {
        return Ok(None);
    };
    let found = sql::query(
        "SELECT id, data, metadata, directory, priority, gold FROM items \
         WHERE dataset_id = $1 AND external_id = $2",
    )
    .bind(dataset_id)
    .bind(ext)
    .fetch_optional(tx)
    .await?;
    found.as_ref().map(StoredRow::read).transpose()
}

/// Stores one row against what the dataset already holds under its external id.
async fn store_one(
    tx: &mut sql::Tx,
    project_id: i64,
    dataset_id: i64,
    row: &ItemRow,
    existing: Option<(i64, StoredRow)>,
    now: i64,
    counts: &mut ChunkCounts,
) -> sqlx::Result<()> {
    let Some((id, old)) = existing else {
        insert_rows(tx, project_id, dataset_id, &[row], now).await?;
        counts.inserted += 1;
        return Ok(());
    };
    let new = StoredRow::of(row);
    if let Some(new_gold) = row.gold.as_ref() {
        if old.gold != new.gold {
            if let Some(message) = gold_misfit(tx, project_id, id, new_gold).await? {
                counts.refused.push(upload::RowError {
                    row: row.row,
                    message,
                });
                return Ok(());
            }
        }
    }
    if old.data == new.data
        && old.metadata == new.metadata
        && old.directory == new.directory
        && old.priority == new.priority
        && old.gold == new.gold
    {
        counts.unchanged += 1;
        return Ok(());
    }
    sql::query(
        "UPDATE items SET data = $1, metadata = $2, directory = $3, priority = $4, gold = $5, \
         updated_at = $6 WHERE id = $7",
    )
    .bind(new.data)
    .bind(new.metadata)
    .bind(new.directory)
    .bind(new.priority)
    .bind(new.gold)
    .bind(now)
    .bind(id)
    .execute(tx)
    .await?;
    counts.updated += 1;
    Ok(())
}

/// One multi-row INSERT of new items.
async fn insert_rows(
    tx: &mut sql::Tx,
    project_id: i64,
    dataset_id: i64,
    rows: &[&ItemRow],
    now: i64,
) -> sqlx::Result<()> {
    // Project, dataset and time are shared by every row: $1, $2, $3.
    let values: Vec<String> = (0..rows.len())
        .map(|n| format!("($1, $2, {}, $3, $3)", sql::params(4 + 6 * n, 6)))
        .collect();
    let mut q = sql::query(format!(
        "INSERT INTO items (project_id, dataset_id, external_id, data, metadata, directory, priority, \
         gold, created_at, updated_at) VALUES {}",
        values.join(", ")
    ))
    .bind(project_id)
    .bind(dataset_id)
    .bind(now);
    for row in rows {
        let s = StoredRow::of(row);
        q = q
            .bind(row.external_id.clone())
            .bind(s.data)
            .bind(s.metadata)
            .bind(s.directory)
            .bind(s.priority)
            .bind(s.gold);
    }
    q.execute(tx).await?;
    Ok(())
}

/// Why a new gold answer cannot be stored on item `id`: a task of the project that scores
/// workers against this item's gold has a schema the answer does not fit. Keyed by the
/// project's tasks, so it costs a primary-key probe per task, not a scan of every task item.
async fn gold_misfit(
    tx: &mut sql::Tx,
    project_id: i64,
    id: i64,
    gold: &quorum_core::label::LabelValue,
) -> sqlx::Result<Option<String>> {
    let specs = sql::query(
        "SELECT t.id, t.spec FROM tasks t JOIN task_items ti ON ti.task_id = t.id AND ti.item_id = $1 \
         WHERE t.project_id = $2 AND t.status <> 'archived' ORDER BY t.id",
    )
    .bind(id)
    .bind(project_id)
    .fetch_all(tx)
    .await?;
    for r in &specs {
        let task: i64 = r.try_get("id")?;
        let spec: String = r.try_get("spec")?;
        let Ok(spec) = serde_json::from_str::<quorum_core::task::TaskSpec>(&spec) else {
            continue;
        };
        if !super::tasks::uses_gold(&spec) {
            continue;
        }
        if let Err(e) = spec.schema.validate_value(gold) {
            return Ok(Some(format!(
                "\"gold\" does not fit the schema of task {task}, which checks workers against \
                 item {id}'s gold: {e}"
            )));
        }
    }
    Ok(None)
}

/// `GET /projects/{id}/uploads` (managers): the upload history, newest first.
pub async fn uploads(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let rows = sqlx::query(
        "SELECT u.*, us.name AS user_name FROM uploads u LEFT JOIN users us ON us.id = u.user_id \
         WHERE u.project_id = $1 ORDER BY u.id DESC",
    )
    .bind(id)
    .fetch_all(state.db.pool())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        out.push(json!({
            "id": r.try_get::<i64, _>("id")?,
            "dataset_id": r.try_get::<i64, _>("dataset_id")?,
            "user": r.try_get::<Option<String>, _>("user_name")?,
            "format": r.try_get::<String, _>("format")?,
            "created_at": r.try_get::<i64, _>("created_at")?,
            "inserted": r.try_get::<i64, _>("inserted")?,
            "updated": r.try_get::<i64, _>("updated")?,
            "unchanged": r.try_get::<i64, _>("unchanged")?,
            "failed": r.try_get::<i64, _>("failed")?,
            "errors": json_col(&r, "errors"),
        }));
    }
    Ok(Json(json!({ "uploads": out })))
}

#[derive(Deserialize)]
// An unknown filter is refused by name rather than silently ignored.
#[serde(deny_unknown_fields)]
pub struct ItemQuery {
    directory: Option<String>,
    status: Option<String>,
    dataset_id: Option<i64>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /projects/{id}/items` (managers): items by id, filtered, one page at a time.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<ItemQuery>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let after: i64 = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse()
            .map_err(|_| ApiError::invalid("cursor must be a value from next_cursor"))?,
    };
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
    // The item's labeling status across the project, as task filters read it: approved when a
    // task approved it, else labeled when it has an annotation, else unlabeled. In SQL, so a
    // page is cut after the filter; keyed by the project's tasks, so each check is a
    // primary-key probe per task rather than a scan of every task's rows.
    let approved = "EXISTS (SELECT 1 FROM tasks t JOIN task_items ti ON ti.task_id = t.id \
                    AND ti.item_id = items.id WHERE t.project_id = items.project_id \
                    AND ti.state IN ('approved', 'auto_approved'))";
    let labeled = "EXISTS (SELECT 1 FROM tasks t JOIN annotations a ON a.task_id = t.id \
                   AND a.item_id = items.id WHERE t.project_id = items.project_id)";
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => String::new(),
        Some(text) => match serde_json::from_value::<AnnotationStatus>(json!(text)) {
            Ok(AnnotationStatus::Approved) => format!("AND {approved}"),
            Ok(AnnotationStatus::Labeled) => format!("AND {labeled} AND NOT {approved}"),
            Ok(AnnotationStatus::Unlabeled) => format!("AND NOT {labeled} AND NOT {approved}"),
            Err(_) => {
                return Err(ApiError::invalid(format!(
                    "status {text:?}: use unlabeled, labeled or approved"
                )))
            }
        },
    };
    // The directory filter (the directory itself and everything under it, as the core's
    // `in_directory` says) runs in the query, so pages are counted over matching items only.
    let dir = q
        .directory
        .as_deref()
        .map(|d| d.trim_end_matches('/'))
        .unwrap_or_default();
    let rows = sqlx::query(&format!(
        "SELECT id, dataset_id, external_id, data, metadata, directory, priority, gold IS NOT NULL AS has_gold \
         FROM items WHERE project_id = $1 AND id > $2 AND ($3 = 0 OR dataset_id = $3) \
         AND video_item_id IS NULL \
         AND ($4 = '' OR directory = $4 OR substr(directory, 1, length($5)) = $5) {status} \
         ORDER BY id LIMIT $6",
    ))
    .bind(id)
    .bind(after)
    .bind(q.dataset_id.unwrap_or(0))
    .bind(dir)
    .bind(format!("{dir}/"))
    .bind(limit)
    .fetch_all(state.db.pool())
    .await?;
    let mut items = Vec::new();
    let mut last = None;
    for r in &rows {
        let item_id: i64 = r.try_get("id")?;
        last = Some(item_id);
        let directory: String = r.try_get("directory")?;
        debug_assert!(in_directory(&directory, dir));
        items.push(json!({
            "id": item_id,
            "dataset_id": r.try_get::<i64, _>("dataset_id")?,
            "external_id": r.try_get::<Option<String>, _>("external_id")?,
            "data": json_col(r, "data"),
            "metadata": json_col(r, "metadata"),
            "directory": directory,
            "priority": r.try_get::<i64, _>("priority")?,
            "has_gold": r.try_get::<i64, _>("has_gold").unwrap_or(0) != 0
                || r.try_get::<bool, _>("has_gold").unwrap_or(false),
        }));
    }
    let next = (rows.len() as i64 == limit).then(|| last.map(|l| l.to_string()));
    Ok(Json(
        json!({ "items": items, "next_cursor": next.flatten() }),
    ))
}

/// `GET /items/{id}`: managers see everything (gold, every answer); an annotator who holds the
/// item sees its data and only their own answers (invariant 5).
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let item = sqlx::query("SELECT * FROM items WHERE id = $1")
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or_else(|| ApiError::not_found("item"))?;
    let project_id: i64 = item.try_get("project_id")?;
    let roles = require_member(&state, &caller, project_id).await?;
    let manager = roles.contains(&Role::Manager);
    if !manager {
        let holds: Option<i64> = sqlx::query_scalar(
            // Keyed by the project's tasks so that the seats' primary key answers it: the
            // cost stays with the project's task count, not with every seat ever handed out.
            "SELECT item_id FROM seats WHERE task_id IN (SELECT id FROM tasks WHERE project_id = $3) \
             AND item_id = $1 AND worker_id = $2 LIMIT 1",
        )
        .bind(id)
        .bind(caller.id)
        .bind(project_id)
        .fetch_optional(state.db.pool())
        .await?;
        if holds.is_none() {
            return Err(ApiError::forbidden("this item is not in your work"));
        }
    }
    let answers = sqlx::query(
        "SELECT a.id, a.task_id, a.worker_id, u.name, a.value, a.late, a.active, a.created_at \
         FROM annotations a LEFT JOIN users u ON u.id = a.worker_id WHERE a.item_id = $1 \
         AND a.task_id IN (SELECT id FROM tasks WHERE project_id = $4) \
         AND ($2 = 1 OR a.worker_id = $3) ORDER BY a.id",
    )
    .bind(id)
    .bind(manager as i64)
    .bind(caller.id)
    .bind(project_id)
    .fetch_all(state.db.pool())
    .await?;
    let answers: Vec<Value> = answers
        .iter()
        .map(|a| {
            json!({
                "annotation_id": a.try_get::<i64, _>("id").unwrap_or_default(),
                "task_id": a.try_get::<i64, _>("task_id").unwrap_or_default(),
                "worker_id": a.try_get::<i64, _>("worker_id").unwrap_or_default(),
                "worker_name": a.try_get::<Option<String>, _>("name").ok().flatten(),
                "value": json_col(a, "value"),
                "late": a.try_get::<i64, _>("late").unwrap_or_default() != 0,
                "active": a.try_get::<i64, _>("active").unwrap_or_default() != 0,
                "created_at": a.try_get::<i64, _>("created_at").unwrap_or_default(),
            })
        })
        .collect();
    let mut out = json!({
        "id": id,
        "project_id": project_id,
        "data": json_col(&item, "data"),
        "metadata": json_col(&item, "metadata"),
        "directory": item.try_get::<String, _>("directory")?,
        "answers": answers,
    });
    if manager {
        // Not for annotators: gold kept in a dataset of its own would be told by its dataset.
        out["dataset_id"] = json!(item.try_get::<i64, _>("dataset_id")?);
        out["external_id"] = json!(item.try_get::<Option<String>, _>("external_id")?);
        out["priority"] = json!(item.try_get::<i64, _>("priority")?);
        out["gold"] = json_col(&item, "gold");
    }
    Ok(Json(out))
}

/// `GET /projects/{id}/saved-searches` (managers).
pub async fn saved_searches(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let rows = sqlx::query(
        "SELECT id, name, filter, created_at FROM saved_searches WHERE project_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(state.db.pool())
    .await?;
    let out: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.try_get::<i64, _>("id").unwrap_or_default(),
                "name": r.try_get::<String, _>("name").unwrap_or_default(),
                "filter": json_col(r, "filter"),
                "created_at": r.try_get::<i64, _>("created_at").unwrap_or_default(),
            })
        })
        .collect();
    Ok(Json(json!({ "saved_searches": out })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSavedSearch {
    name: String,
    filter: ItemFilter,
}

/// `POST /projects/{id}/saved-searches` (managers): a named filter, usable as a task's input.
pub async fn create_saved_search(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<NewSavedSearch>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::validation("a name is 1 to 200 characters"));
    }
    let filter = serde_json::to_string(&body.filter)?;
    let mut w = state.db.write().await?;
    let new_id: i64 = sqlx::query_scalar(
        "INSERT INTO saved_searches (project_id, name, filter, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(id)
    .bind(name)
    .bind(&filter)
    .bind(clock::now().0)
    .fetch_one(&mut *w.tx)
    .await?;
    w.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": new_id, "name": name, "filter": body.filter})),
    ))
}

/// The image size `item`'s metadata declares, which shapes must stay inside; read only for
/// shape answers, so a classification label costs no extra read.
pub async fn image_size(
    tx: &mut Tx,
    item: i64,
    value: &LabelValue,
) -> ApiResult<Option<ImageSize>> {
    if matches!(value, LabelValue::Classification { .. }) {
        return Ok(None);
    }
    let row = sql::query("SELECT metadata FROM items WHERE id = $1")
        .bind(item)
        .fetch_optional(tx)
        .await?;
    Ok(row.and_then(|r| ImageSize::from_metadata(&json_col(&r, "metadata"))))
}
