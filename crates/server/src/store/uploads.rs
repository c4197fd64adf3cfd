//! Uploads of items: a chunk of parsed rows written against what the dataset already holds
//! under their external ids (insert, update or leave unchanged), and the upload history.

use super::decode;
use super::error::StoreResult;
use crate::db::Backend;
use crate::pg_array;
use crate::sql::{self, Runner};
use crate::upload::{ItemRow, RowError};
use quorum_core::label::LabelValue;
use quorum_core::lifecycle::TaskStatus;
use quorum_core::task::TaskSpec;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;

/// Why a new gold answer on an item cannot be stored, given one live task that holds the item
/// (its id and definition); `None` when that task has nothing against it.
pub type GoldRule = fn(task: i64, item: i64, spec: &TaskSpec, gold: &LabelValue) -> Option<String>;

/// What a chunk of rows did to the dataset.
#[derive(Debug, Default)]
pub struct ChunkCounts {
    /// New items.
    pub inserted: i64,
    /// Items whose stored row changed.
    pub updated: i64,
    /// Items sent again as they were.
    pub unchanged: i64,
    /// Rows not stored, with the reason.
    pub refused: Vec<RowError>,
}

/// An item row as stored: JSON columns as text, so that "unchanged" is a string comparison.
#[derive(Debug, PartialEq)]
struct StoredRow {
    data: String,
    metadata: String,
    directory: String,
    priority: i64,
    gold: Option<String>,
}

impl StoredRow {
    fn of(row: &ItemRow) -> StoreResult<Self> {
        Ok(StoredRow {
            data: row.data.to_string(),
            metadata: Value::Object(row.metadata.clone()).to_string(),
            directory: row.directory.clone(),
            priority: i64::from(row.priority),
            gold: row
                .gold
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| sqlx::Error::Encode(format!("a gold answer as JSON: {e}").into()))?,
        })
    }

    fn read(r: &sql::Row) -> StoreResult<(i64, StoredRow)> {
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
/// is per row of the upload, never per row already in the database. A changed gold answer is
/// refused when `gold_rule` says so for a live task holding the item.
pub async fn store_chunk(
    tx: &mut impl Runner,
    backend: Backend,
    dataset: (i64, i64),
    rows: &[ItemRow],
    now: i64,
    gold_rule: GoldRule,
) -> StoreResult<ChunkCounts> {
    let (project_id, dataset_id) = dataset;
    let mut counts = ChunkCounts::default();
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.external_id.as_deref())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    let mut existing = existing_rows(tx, backend, dataset_id, &ids).await?;
    let mut new = Vec::new();
    let one = Target {
        project_id,
        dataset_id,
        now,
        gold_rule,
    };
    for row in rows {
        let found = row.external_id.as_deref().and_then(|e| existing.remove(e));
        if unique.len() != ids.len() {
            // The same external id twice in one chunk: a later row updates the earlier one,
            // so this chunk is applied row by row, in order.
            let found = match found {
                Some(found) => Some(found),
                None => find_external(tx, dataset_id, row).await?,
            };
            one.store(tx, row, found, &mut counts).await?;
            continue;
        }
        match found {
            Some(found) => one.store(tx, row, Some(found), &mut counts).await?,
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
    tx: &mut impl Runner,
    backend: Backend,
    dataset_id: i64,
    external_ids: &[&str],
) -> StoreResult<HashMap<String, (i64, StoredRow)>> {
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
    tx: &mut impl Runner,
    dataset_id: i64,
    row: &ItemRow,
) -> StoreResult<Option<(i64, StoredRow)>> {
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

/// Where one chunk's rows go, and the rule for their gold.
struct Target {
    project_id: i64,
    dataset_id: i64,
    now: i64,
    gold_rule: GoldRule,
}

impl Target {
    /// Stores one row against what the dataset already holds under its external id.
    async fn store(
        &self,
        tx: &mut impl Runner,
        row: &ItemRow,
        existing: Option<(i64, StoredRow)>,
        counts: &mut ChunkCounts,
    ) -> StoreResult<()> {
        let Some((id, old)) = existing else {
            insert_rows(tx, self.project_id, self.dataset_id, &[row], self.now).await?;
            counts.inserted += 1;
            return Ok(());
        };
        let new = StoredRow::of(row)?;
        if let Some(new_gold) = row.gold.as_ref() {
            if old.gold != new.gold {
                if let Some(message) = self.gold_misfit(tx, id, new_gold).await? {
                    counts.refused.push(RowError {
                        row: row.row,
                        message,
                    });
                    return Ok(());
                }
            }
        }
        if old == new {
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
        .bind(self.now)
        .bind(id)
        .execute(tx)
        .await?;
        counts.updated += 1;
        Ok(())
    }

    /// The first objection of a live task holding item `id` to its new gold answer. Keyed by
    /// the project's tasks, so it costs a primary-key probe per task, not a scan of every
    /// task item.
    async fn gold_misfit(
        &self,
        tx: &mut impl Runner,
        id: i64,
        gold: &LabelValue,
    ) -> StoreResult<Option<String>> {
        let specs = sql::query(format!(
            "SELECT t.id, t.spec FROM tasks t JOIN task_items ti ON ti.task_id = t.id AND ti.item_id = $1 \
             WHERE t.project_id = $2 AND t.status <> '{}' ORDER BY t.id",
            TaskStatus::Archived
        ))
        .bind(id)
        .bind(self.project_id)
        .fetch_all(tx)
        .await?;
        for r in &specs {
            let spec: TaskSpec = decode::json(r, "spec")?;
            if let Some(why) = (self.gold_rule)(r.try_get("id")?, id, &spec, gold) {
                return Ok(Some(why));
            }
        }
        Ok(None)
    }
}

/// One multi-row INSERT of new items.
async fn insert_rows(
    tx: &mut impl Runner,
    project_id: i64,
    dataset_id: i64,
    rows: &[&ItemRow],
    now: i64,
) -> StoreResult<()> {
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
        let s = StoredRow::of(row)?;
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

/// An upload's outcome, for the history.
#[derive(Debug)]
pub struct NewUpload<'a> {
    /// The project.
    pub project_id: i64,
    /// The dataset written to.
    pub dataset_id: i64,
    /// Who uploaded.
    pub user_id: i64,
    /// The file format's name.
    pub format: &'a str,
    /// When.
    pub created_at: i64,
    /// Rows inserted.
    pub inserted: i64,
    /// Rows updated.
    pub updated: i64,
    /// Rows sent again unchanged.
    pub unchanged: i64,
    /// Rows refused.
    pub failed: i64,
    /// The refused rows and why (a JSON array).
    pub errors: &'a Value,
}

/// Records an upload in the history; its id.
pub async fn record(on: &mut impl Runner, u: &NewUpload<'_>) -> StoreResult<i64> {
    sql::query_scalar(
        "INSERT INTO uploads (project_id, dataset_id, user_id, format, created_at, inserted, updated, \
         unchanged, failed, errors) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(u.project_id)
    .bind(u.dataset_id)
    .bind(u.user_id)
    .bind(u.format)
    .bind(u.created_at)
    .bind(u.inserted)
    .bind(u.updated)
    .bind(u.unchanged)
    .bind(u.failed)
    .bind(u.errors.to_string())
    .fetch_one(on)
    .await
}

/// An upload in the history.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = UploadEntry)]
pub struct Upload {
    /// Id.
    pub id: i64,
    /// The dataset written to.
    pub dataset_id: i64,
    /// Who uploaded (none once their account is gone).
    pub user: Option<String>,
    /// The file format's name.
    pub format: String,
    /// When.
    pub created_at: i64,
    /// Rows inserted.
    pub inserted: i64,
    /// Rows updated.
    pub updated: i64,
    /// Rows sent again unchanged.
    pub unchanged: i64,
    /// Rows refused.
    pub failed: i64,
    /// The refused rows: `{row, message}`.
    #[schema(value_type = Object)]
    pub errors: Value,
}

/// The project's upload history, newest first.
pub async fn history(on: &mut impl Runner, project_id: i64) -> StoreResult<Vec<Upload>> {
    let rows = sql::query(
        "SELECT u.id, u.dataset_id, us.name AS user_name, u.format, u.created_at, u.inserted, \
         u.updated, u.unchanged, u.failed, u.errors FROM uploads u \
         LEFT JOIN users us ON us.id = u.user_id WHERE u.project_id = $1 ORDER BY u.id DESC",
    )
    .bind(project_id)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Upload {
                id: r.try_get("id")?,
                dataset_id: r.try_get("dataset_id")?,
                user: r.try_get("user_name")?,
                format: r.try_get("format")?,
                created_at: r.try_get("created_at")?,
                inserted: r.try_get("inserted")?,
                updated: r.try_get("updated")?,
                unchanged: r.try_get("unchanged")?,
                failed: r.try_get("failed")?,
                errors: decode::value(r, "errors")?,
            })
        })
        .collect()
}

/// Refreshes PostgreSQL's statistics of `items` (a sample of some 30,000 rows: a fifth of a
/// second at a million items).
pub async fn analyze_items(on: &mut impl Runner) -> sqlx::Result<()> {
    sql::query("ANALYZE items").execute(on).await?;
    Ok(())
}
