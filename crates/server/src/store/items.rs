//! Items as tasks select them: gold answers, priorities, the columns item filters read, saved
//! searches, and which of a project's items are labeled or approved; and items as other tools
//! name them (by the `external_id` an upload gave them).

use crate::sql::{self, Runner};
use serde_json::Value;
use std::collections::HashSet;

/// Ids per statement, well under both backends' parameter limits.
const CHUNK: usize = 1_000;

/// `columns` of the items among `ids` (of `project_id` only, when given) that meet `extra`,
/// in id order per chunk of ids.
async fn among(
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
        "SELECT DISTINCT ti.item_id FROM task_items ti JOIN tasks t ON t.id = ti.task_id \
         WHERE t.project_id = $1 AND ti.state IN ('approved', 'auto_approved')",
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
