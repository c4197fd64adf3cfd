//! Items as other tools name them: found by the `external_id` an upload gave them.

use crate::sql::{self, Runner};
use serde_json::Value;

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
