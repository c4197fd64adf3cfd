//! What an export reads of a task, a page of items at a time: the items with their results,
//! and the active labels on them. A page is read by item id after the last one, so each costs
//! the same however far into a big task it is, and an export never holds the task whole.

use super::decode;
use super::error::StoreResult;
use crate::db::Backend;
use crate::export::{ExportItem, ExportLabel};
use crate::sql::{self, Runner};
use serde_json::Value;
use std::collections::HashMap;

/// Up to `limit` of the task's items after item `after` (only those waiting in workflow step
/// `step`, when given), in item order, each with the number of the workflow step it waits in
/// (the number of steps: finished); the step's name and the labels are for the caller to fill
/// in. The page's rows of the task come first, by key; then their items by id: a join let the
/// planner walk every item of the database for each page.
pub async fn task_items(
    on: &mut impl Runner,
    task_id: i64,
    step: Option<i64>,
    after: i64,
    limit: i64,
) -> StoreResult<Page> {
    let rows = sql::query(
        "SELECT item_id, state, result, confidence, step FROM task_items \
         WHERE task_id = $1 AND item_id > $3 AND ($2 < 0 OR step = $2) \
         ORDER BY item_id LIMIT $4",
    )
    .bind(task_id)
    .bind(step.unwrap_or(-1))
    .bind(after)
    .bind(limit)
    .fetch_all(&mut *on)
    .await?;
    let ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get("item_id"))
        .collect::<Result<_, _>>()?;
    let mut items: HashMap<i64, (Option<String>, Value, Value)> = HashMap::with_capacity(ids.len());
    let columns = "id, external_id, data, metadata";
    for r in &super::items::among(&mut *on, columns, "", None, &ids).await? {
        let item = (
            r.try_get("external_id")?,
            decode::value(r, "data")?,
            decode::value(r, "metadata")?,
        );
        items.insert(r.try_get("id")?, item);
    }
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let item_id: i64 = r.try_get("item_id")?;
        // An item deleted since its row was read goes with it (the row is deleted with it).
        let Some((external_id, data, metadata)) = items.remove(&item_id) else {
            continue;
        };
        let item = ExportItem {
            item_id,
            external_id,
            data,
            metadata,
            state: r.try_get("state")?,
            result: decode::json_opt(r, "result")?,
            confidence: r.try_get("confidence")?,
            step: None,
            labels: Vec::new(),
        };
        out.push((item, r.try_get("step")?));
    }
    Ok(Page {
        items: out,
        last: ids.last().copied(),
        full: ids.len() as i64 == limit,
    })
}

/// A page of a task's items, as [`task_items`] read it.
pub struct Page {
    /// The items, each with the number of its workflow step.
    pub items: Vec<(ExportItem, i64)>,
    /// The last item id the page covered (where the next starts after); `None`: no more.
    pub last: Option<i64>,
    /// Whether the page was full, so that more may follow.
    pub full: bool,
}

/// Ids per statement, well under both backends' parameter limits.
const CHUNK: usize = 1_000;

/// How many items an export of the task (only step `step`'s, when given) holds: its progress
/// is counted against this.
pub async fn count(on: &mut impl Runner, task_id: i64, step: Option<i64>) -> StoreResult<i64> {
    sql::query_scalar(
        "SELECT COUNT(*) FROM task_items WHERE task_id = $1 AND ($2 < 0 OR step = $2)",
    )
    .bind(task_id)
    .bind(step.unwrap_or(-1))
    .fetch_one(on)
    .await
}

/// Whether any of the task's items (only step `step`'s, when given) is a frame cut from a
/// video: the CSV export's extra columns. Stops at the first.
pub async fn has_frames(
    on: &mut impl Runner,
    task_id: i64,
    step: Option<i64>,
) -> StoreResult<bool> {
    let found: Option<i64> = sql::query_scalar(
        "SELECT ti.item_id FROM task_items ti JOIN items i ON i.id = ti.item_id \
         WHERE ti.task_id = $1 AND ($2 < 0 OR ti.step = $2) AND i.video_item_id IS NOT NULL \
         LIMIT 1",
    )
    .bind(task_id)
    .bind(step.unwrap_or(-1))
    .fetch_optional(on)
    .await?;
    Ok(found.is_some())
}

/// The task's active labels on items `ids`, oldest first per item, with the item each is on.
pub async fn active_labels(
    on: &mut impl Runner,
    backend: Backend,
    task_id: i64,
    ids: &[i64],
) -> StoreResult<Vec<(i64, ExportLabel)>> {
    let mut out = Vec::new();
    for part in ids.chunks(CHUNK) {
        let rows = match backend {
            // Looked up item by item: PostgreSQL without statistics (autovacuum off or not
            // there yet) planned the list of a thousand items as a scan of every label of the
            // task (5.4 s a page at 3M labels, with the ids as parameters or as an array); the
            // lateral lookup, fenced by `OFFSET 0` so it is not flattened back into that join,
            // reads 3 labels an item through (task_id, item_id): 25 ms a page.
            Backend::Postgres => {
                sql::query(
                    "SELECT a.item_id, u.name, a.value, a.late \
                     FROM unnest(CAST($2 AS bigint[])) AS i(id) CROSS JOIN LATERAL \
                     (SELECT a.id, a.item_id, a.worker_id, a.value, a.late FROM annotations a \
                      WHERE a.task_id = $1 AND a.item_id = i.id AND a.active = 1 OFFSET 0) a \
                     LEFT JOIN users u ON u.id = a.worker_id ORDER BY a.id",
                )
                .bind(task_id)
                .bind(crate::pg_array::ints(part.iter().copied()))
                .fetch_all(&mut *on)
                .await?
            }
            Backend::Sqlite => {
                sql::query(format!(
                    "SELECT a.item_id, u.name, a.value, a.late FROM annotations a \
                     LEFT JOIN users u ON u.id = a.worker_id \
                     WHERE a.task_id = $1 AND a.item_id IN ({}) AND a.active = 1 ORDER BY a.id",
                    sql::params(2, part.len())
                ))
                .bind(task_id)
                .bind_all(part)
                .fetch_all(&mut *on)
                .await?
            }
        };
        for l in &rows {
            out.push((
                l.try_get("item_id")?,
                ExportLabel {
                    // A label whose worker's account is gone keeps its place, unnamed.
                    worker: l.try_get::<Option<String>>("name")?.unwrap_or_default(),
                    value: decode::json(l, "value")?,
                    late: decode::flag(l, "late")?,
                },
            ));
        }
    }
    Ok(out)
}
