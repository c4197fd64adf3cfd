//! Items as tasks select them: gold answers, priorities, the columns item filters read, saved
//! searches, and which of a project's items are labeled or approved; and items as other tools
//! name them (by the `external_id` an upload gave them).

use crate::sql::{self, Runner};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashSet;
use utoipa::ToSchema;

/// Ids per statement, well under both backends' parameter limits.
const CHUNK: usize = 1_000;

/// `columns` of the items among `ids` (of `project_id` only, when given) that meet `extra`,
/// in id order per chunk of ids.
pub(super) async fn among(
    on: &mut impl Runner,
    columns: &str,
    extra: &str,
    project_id: Option<i64>,
    ids: &[i64],
) -> sqlx::Result<Vec<sql::Row>> {
    let mut out = Vec::new();
    for part in ids.chunks(CHUNK) {
        let statement = format!(
            "SELECT {columns} FROM items WHERE ($1 = 0 OR project_id = $1){extra} \
             AND id IN ({}) ORDER BY id",
            sql::params(2, part.len())
        );
        out.extend(
            sql::query(statement)
                .bind(project_id.unwrap_or(0))
                .bind_all(part)
                .fetch_all(&mut *on)
                .await?,
        );
    }
    Ok(out)
}

/// The gold answers (JSON text) of the items among `ids` that have one.
pub async fn gold_among(on: &mut impl Runner, ids: &[i64]) -> sqlx::Result<Vec<(i64, String)>> {
    among(on, "id, gold", " AND gold IS NOT NULL", None, ids)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("gold")?)))
        .collect()
}

/// (id, priority) of the project's items among `ids` (ids of other projects are left out).
pub async fn priorities_among(
    on: &mut impl Runner,
    project_id: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<(i64, i64)>> {
    among(on, "id, priority", "", Some(project_id), ids)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("priority")?)))
        .collect()
}

/// The filter (JSON text) a project's saved search holds.
pub async fn saved_search_filter(
    on: &mut impl Runner,
    project_id: i64,
    id: i64,
) -> sqlx::Result<Option<String>> {
    sql::query_scalar("SELECT filter FROM saved_searches WHERE id = $1 AND project_id = $2")
        .bind(id)
        .bind(project_id)
        .fetch_optional(on)
        .await
}

/// What an item filter reads of an item.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The item.
    pub id: i64,
    /// Its dataset.
    pub dataset_id: i64,
    /// Its directory.
    pub directory: String,
    /// Its priority.
    pub priority: i64,
    /// Its metadata, when asked for (text that is not JSON reads as null).
    pub metadata: Value,
}

/// The project's items (of one dataset, if given; never video frames) in id order, with their
/// metadata when `with_metadata`.
pub async fn candidates(
    on: &mut impl Runner,
    project_id: i64,
    dataset_id: Option<i64>,
    with_metadata: bool,
) -> sqlx::Result<Vec<Candidate>> {
    let rows = sql::query(format!(
        "SELECT id, dataset_id, directory, priority{} FROM items \
         WHERE project_id = $1 AND ($2 = 0 OR dataset_id = $2) AND video_item_id IS NULL \
         ORDER BY id",
        if with_metadata { ", metadata" } else { "" }
    ))
    .bind(project_id)
    .bind(dataset_id.unwrap_or(0))
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Candidate {
                id: r.try_get("id")?,
                dataset_id: r.try_get("dataset_id")?,
                directory: r.try_get("directory")?,
                priority: r.try_get("priority")?,
                metadata: if with_metadata {
                    crate::db::json_col(r, "metadata")
                } else {
                    Value::Null
                },
            })
        })
        .collect()
}

/// The project's items with a label in any of its tasks.
pub async fn labeled_in(on: &mut impl Runner, project_id: i64) -> sqlx::Result<HashSet<i64>> {
    id_set(
        on,
        "SELECT DISTINCT a.item_id FROM annotations a JOIN tasks t ON t.id = a.task_id \
         WHERE t.project_id = $1",
        project_id,
    )
    .await
}

/// The project's items approved in any of its tasks.
pub async fn approved_in(on: &mut impl Runner, project_id: i64) -> sqlx::Result<HashSet<i64>> {
    id_set(
        on,
        &format!(
            "SELECT DISTINCT ti.item_id FROM task_items ti JOIN tasks t ON t.id = ti.task_id \
             WHERE t.project_id = $1 AND ti.state IN ({})",
            super::reviews::approved_sql()
        ),
        project_id,
    )
    .await
}

async fn id_set(
    on: &mut impl Runner,
    statement: &str,
    project_id: i64,
) -> sqlx::Result<HashSet<i64>> {
    let ids: Vec<i64> = sql::query_scalar(statement)
        .bind(project_id)
        .fetch_all(on)
        .await?;
    Ok(ids.into_iter().collect())
}

/// An item found by its external id.
#[derive(Debug, Clone)]
pub struct Named {
    /// Quorum's id.
    pub id: i64,
    /// The item's data (`image`, `video`, `text` …).
    pub data: Value,
    /// The item's metadata (picture size, duration …).
    pub metadata: Value,
}

/// The item of `project_id` uploaded with `external_id` (the oldest, should two datasets of
/// the project share one); frames cut from videos have none and are never found.
pub async fn by_external_id(
    on: &mut impl Runner,
    project_id: i64,
    external_id: &str,
) -> sqlx::Result<Option<Named>> {
    let row = sql::query(
        "SELECT id, data, metadata FROM items WHERE project_id = $1 AND external_id = $2 \
         ORDER BY id LIMIT 1",
    )
    .bind(project_id)
    .bind(external_id)
    .fetch_optional(on)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let json = |column: &str| -> sqlx::Result<Value> {
        serde_json::from_str(&row.try_get::<String>(column)?)
            .map_err(|e| sqlx::Error::Decode(Box::new(e)))
    };
    Ok(Some(Named {
        id: row.try_get("id")?,
        data: json("data")?,
        metadata: json("metadata")?,
    }))
}

/// The project a dataset belongs to.
pub async fn dataset_project(
    on: &mut impl Runner,
    dataset_id: i64,
) -> super::error::StoreResult<Option<i64>> {
    sql::query_scalar("SELECT project_id FROM datasets WHERE id = $1")
        .bind(dataset_id)
        .fetch_optional(on)
        .await
}

/// Which items a page of a project's items holds.
#[derive(Debug, Clone, Default)]
pub struct PageFilter<'a> {
    /// Only this dataset's.
    pub dataset_id: Option<i64>,
    /// Only this directory and what is under it (no trailing slash; empty: every directory).
    pub directory: &'a str,
    /// Only items with this labeling status across the project.
    pub status: Option<quorum_core::task::AnnotationStatus>,
    /// Items with ids above this one.
    pub after: i64,
    /// At most this many.
    pub limit: i64,
}

/// An item as a manager lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ListedItem)]
pub struct Listed {
    /// Id.
    pub id: i64,
    /// Its dataset.
    pub dataset_id: i64,
    /// The id its upload gave it.
    pub external_id: Option<String>,
    /// What is shown (`text`, `image`, `video` …).
    #[schema(value_type = Object)]
    pub data: Value,
    /// Size, duration and the team's own keys.
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Its directory.
    pub directory: String,
    /// Its priority.
    pub priority: i64,
    /// Whether it holds a gold answer.
    pub has_gold: bool,
}

impl Listed {
    fn read(r: &sql::Row, has_gold: bool) -> super::error::StoreResult<Listed> {
        Ok(Listed {
            id: r.try_get("id")?,
            dataset_id: r.try_get("dataset_id")?,
            external_id: r.try_get("external_id")?,
            data: super::decode::value(r, "data")?,
            metadata: super::decode::value(r, "metadata")?,
            directory: r.try_get("directory")?,
            priority: r.try_get("priority")?,
            has_gold,
        })
    }
}

/// A page of the project's items (never video frames) in id order, filtered in SQL so a page
/// is cut after the filter.
pub async fn page(
    on: &mut impl Runner,
    project_id: i64,
    f: &PageFilter<'_>,
) -> super::error::StoreResult<Vec<Listed>> {
    use quorum_core::task::AnnotationStatus;
    // The item's labeling status across the project, as task filters read it: approved when a
    // task approved it, else labeled when it has an annotation, else unlabeled. Keyed by the
    // project's tasks, so each check is a primary-key probe per task rather than a scan of
    // every task's rows.
    let approved = format!(
        "EXISTS (SELECT 1 FROM tasks t JOIN task_items ti ON ti.task_id = t.id \
         AND ti.item_id = items.id WHERE t.project_id = items.project_id \
         AND ti.state IN ({}))",
        super::reviews::approved_sql()
    );
    let labeled = "EXISTS (SELECT 1 FROM tasks t JOIN annotations a ON a.task_id = t.id \
                   AND a.item_id = items.id WHERE t.project_id = items.project_id)";
    let status = match f.status {
        None => String::new(),
        Some(AnnotationStatus::Approved) => format!("AND {approved}"),
        Some(AnnotationStatus::Labeled) => format!("AND {labeled} AND NOT {approved}"),
        Some(AnnotationStatus::Unlabeled) => format!("AND NOT {labeled} AND NOT {approved}"),
    };
    // The directory filter (the directory itself and everything under it, as the core's
    // `in_directory` says) runs in the query, so pages are counted over matching items only.
    let rows = sql::query(format!(
        "SELECT id, dataset_id, external_id, data, metadata, directory, priority, \
         CAST(CASE WHEN gold IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_gold \
         FROM items WHERE project_id = $1 AND id > $2 AND ($3 = 0 OR dataset_id = $3) \
         AND video_item_id IS NULL \
         AND ($4 = '' OR directory = $4 OR substr(directory, 1, length($5)) = $5) {status} \
         ORDER BY id LIMIT $6",
    ))
    .bind(project_id)
    .bind(f.after)
    .bind(f.dataset_id.unwrap_or(0))
    .bind(f.directory)
    .bind(format!("{}/", f.directory))
    .bind(f.limit)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| Listed::read(r, super::decode::flag(r, "has_gold")?))
        .collect()
}

/// An item with everything a manager may see of it.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its project.
    pub project_id: i64,
    /// What a list shows of it.
    pub listed: Listed,
    /// Its gold answer.
    pub gold: Option<Value>,
}

/// Item `id`.
pub async fn get(on: &mut impl Runner, id: i64) -> super::error::StoreResult<Option<Item>> {
    let row = sql::query(
        "SELECT id, project_id, dataset_id, external_id, data, metadata, directory, priority, gold \
         FROM items WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(on)
    .await?;
    row.map(|r| {
        let gold: Option<Value> = super::decode::json_opt(&r, "gold")?;
        Ok(Item {
            project_id: r.try_get("project_id")?,
            listed: Listed::read(&r, gold.is_some())?,
            gold,
        })
    })
    .transpose()
}

/// Whether `worker` holds (or held) a seat on item `id` in a task of `project_id`.
pub async fn held_by(
    on: &mut impl Runner,
    project_id: i64,
    id: i64,
    worker: i64,
) -> super::error::StoreResult<bool> {
    // Keyed by the project's tasks so that the seats' primary key answers it: the cost stays
    // with the project's task count, not with every seat ever handed out.
    let held: Option<i64> = sql::query_scalar(
        "SELECT item_id FROM seats WHERE task_id IN (SELECT id FROM tasks WHERE project_id = $3) \
         AND item_id = $1 AND worker_id = $2 LIMIT 1",
    )
    .bind(id)
    .bind(worker)
    .bind(project_id)
    .fetch_optional(on)
    .await?;
    Ok(held.is_some())
}

/// An answer given on an item.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = ItemAnswer)]
pub struct Answer {
    /// The annotation.
    pub annotation_id: i64,
    /// In which task.
    pub task_id: i64,
    /// By whom.
    pub worker_id: i64,
    /// Their name (none once the account is gone).
    pub worker_name: Option<String>,
    /// The label.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Given after the lease ended.
    pub late: bool,
    /// Not replaced or withdrawn.
    pub active: bool,
    /// When.
    pub created_at: i64,
}

/// The answers on item `id` in the tasks of `project_id`, by `only_worker` when given, oldest
/// first.
pub async fn answers_on(
    on: &mut impl Runner,
    project_id: i64,
    id: i64,
    only_worker: Option<i64>,
) -> super::error::StoreResult<Vec<Answer>> {
    let rows = sql::query(
        "SELECT a.id, a.task_id, a.worker_id, u.name, a.value, a.late, a.active, a.created_at \
         FROM annotations a LEFT JOIN users u ON u.id = a.worker_id WHERE a.item_id = $1 \
         AND a.task_id IN (SELECT id FROM tasks WHERE project_id = $3) \
         AND ($2 = 0 OR a.worker_id = $2) ORDER BY a.id",
    )
    .bind(id)
    .bind(only_worker.unwrap_or(0))
    .bind(project_id)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|a| {
            Ok(Answer {
                annotation_id: a.try_get("id")?,
                task_id: a.try_get("task_id")?,
                worker_id: a.try_get("worker_id")?,
                worker_name: a.try_get("name")?,
                value: super::decode::value(a, "value")?,
                late: super::decode::flag(a, "late")?,
                active: super::decode::flag(a, "active")?,
                created_at: a.try_get("created_at")?,
            })
        })
        .collect()
}

/// A named item filter of a project.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SavedSearch {
    /// Id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The item filter, as a task's input takes it.
    #[schema(value_type = Object)]
    pub filter: Value,
    /// When it was saved.
    pub created_at: i64,
}

/// The project's saved searches, oldest first.
pub async fn saved_searches(
    on: &mut impl Runner,
    project_id: i64,
) -> super::error::StoreResult<Vec<SavedSearch>> {
    let rows = sql::query(
        "SELECT id, name, filter, created_at FROM saved_searches WHERE project_id = $1 ORDER BY id",
    )
    .bind(project_id)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SavedSearch {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                filter: super::decode::value(r, "filter")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// Saves a search (its filter as JSON text); its id.
pub async fn save_search(
    on: &mut impl Runner,
    project_id: i64,
    name: &str,
    filter: &str,
    now: i64,
) -> super::error::StoreResult<i64> {
    sql::query_scalar(
        "INSERT INTO saved_searches (project_id, name, filter, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(project_id)
    .bind(name)
    .bind(filter)
    .bind(now)
    .fetch_one(on)
    .await
}

/// Item `id`'s metadata (size, duration …), if the item exists.
pub async fn metadata(on: &mut impl Runner, id: i64) -> super::error::StoreResult<Option<Value>> {
    let row = sql::query("SELECT metadata FROM items WHERE id = $1")
        .bind(id)
        .fetch_optional(on)
        .await?;
    row.map(|r| super::decode::value(&r, "metadata"))
        .transpose()
}

/// An item to add as it is, outside an upload (the demo's).
#[derive(Debug, Clone)]
pub struct NewItem<'a> {
    /// Its project.
    pub project_id: i64,
    /// Its dataset.
    pub dataset_id: i64,
    /// The id it is known by outside.
    pub external_id: &'a str,
    /// What is shown.
    pub data: &'a Value,
    /// Size, duration and the like.
    pub metadata: &'a Value,
    /// Its directory.
    pub directory: &'a str,
    /// The stored file it shows, if it is one of Quorum's.
    pub media_id: Option<i64>,
}

/// Adds an item (priority 0, no gold).
pub async fn insert(
    on: &mut impl Runner,
    item: &NewItem<'_>,
    now: i64,
) -> super::error::StoreResult<()> {
    sql::query(
        "INSERT INTO items (project_id, dataset_id, external_id, data, metadata, directory, priority, \
         created_at, updated_at, media_id) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7, $8)",
    )
    .bind(item.project_id)
    .bind(item.dataset_id)
    .bind(item.external_id)
    .bind(item.data.to_string())
    .bind(item.metadata.to_string())
    .bind(item.directory)
    .bind(now)
    .bind(item.media_id)
    .execute(on)
    .await?;
    Ok(())
}
