//! What an export reads of a task: its items with their results, and the active labels.

use super::decode;
use super::error::StoreResult;
use crate::export::{ExportItem, ExportLabel};
use crate::sql::{self, Runner};

/// The task's items (only those waiting in workflow step `step`, when given) in item order,
/// each with the number of the workflow step it waits in (the number of steps: finished); the
/// step's name and the labels are for the caller to fill in.
pub async fn task_items(
    on: &mut impl Runner,
    task_id: i64,
    step: Option<i64>,
) -> StoreResult<Vec<(ExportItem, i64)>> {
    let rows = sql::query(
        "SELECT ti.item_id, i.external_id, i.data, i.metadata, ti.state, ti.result, ti.confidence, \
         ti.step FROM task_items ti JOIN items i ON i.id = ti.item_id \
         WHERE ti.task_id = $1 AND ($2 < 0 OR ti.step = $2) ORDER BY ti.item_id",
    )
    .bind(task_id)
    .bind(step.unwrap_or(-1))
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| {
            let item = ExportItem {
                item_id: r.try_get("item_id")?,
                external_id: r.try_get("external_id")?,
                data: decode::value(r, "data")?,
                metadata: decode::value(r, "metadata")?,
                state: r.try_get("state")?,
                result: decode::json_opt(r, "result")?,
                confidence: r.try_get("confidence")?,
                step: None,
                labels: Vec::new(),
            };
            Ok((item, r.try_get("step")?))
        })
        .collect()
}

/// The task's active labels, oldest first, with the item each is on.
pub async fn active_labels(
    on: &mut impl Runner,
    task_id: i64,
) -> StoreResult<Vec<(i64, ExportLabel)>> {
    let rows = sql::query(
        "SELECT a.item_id, u.name, a.value, a.late FROM annotations a \
         LEFT JOIN users u ON u.id = a.worker_id WHERE a.task_id = $1 AND a.active = 1 ORDER BY a.id",
    )
    .bind(task_id)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|l| {
            Ok((
                l.try_get("item_id")?,
                ExportLabel {
                    // A label whose worker's account is gone keeps its place, unnamed.
                    worker: l.try_get::<Option<String>>("name")?.unwrap_or_default(),
                    value: decode::json(l, "value")?,
                    late: decode::flag(l, "late")?,
                },
            ))
        })
        .collect()
}
