//! Media files a project holds (`media` rows) and the items made from them.

use crate::sql::{self, Runner};

/// What kind of file a media row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// A still picture.
    Image,
    /// A video clip.
    Video,
}

impl MediaKind {
    /// The stored name (the column's CHECK constraint lists these).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        }
    }
}

/// A file to record as held by a project.
pub struct NewMedia<'a> {
    /// The project.
    pub project_id: i64,
    /// The file's SHA-256 (lowercase hex).
    pub sha256: &'a str,
    /// Image or video.
    pub kind: MediaKind,
    /// Its MIME type.
    pub mime: &'a str,
    /// Its size in bytes.
    pub bytes: i64,
    /// The name it was uploaded under.
    pub name: &'a str,
    /// When (ms since the epoch).
    pub now: i64,
}

/// Records that the project holds a file (once: a second upload of the same bytes keeps the
/// first row) and returns the row's id.
pub async fn record(tx: &mut impl Runner, media: &NewMedia<'_>) -> sqlx::Result<i64> {
    sql::query(
        "INSERT INTO media (project_id, sha256, kind, mime, bytes, name, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, sha256) DO NOTHING",
    )
    .bind(media.project_id)
    .bind(media.sha256)
    .bind(media.kind.as_str())
    .bind(media.mime)
    .bind(media.bytes)
    .bind(media.name)
    .bind(media.now)
    .execute(&mut *tx)
    .await?;
    sql::query_scalar("SELECT id FROM media WHERE project_id = $1 AND sha256 = $2")
        .bind(media.project_id)
        .bind(media.sha256)
        .fetch_one(tx)
        .await
}

/// Points the dataset's item with `external_id` at a media row.
pub async fn link_item(
    tx: &mut impl Runner,
    dataset_id: i64,
    external_id: &str,
    media_id: i64,
) -> sqlx::Result<()> {
    sql::query("UPDATE items SET media_id = $1 WHERE dataset_id = $2 AND external_id = $3")
        .bind(media_id)
        .bind(dataset_id)
        .bind(external_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// One project's copy of a file.
#[derive(Debug, Clone)]
pub struct Held {
    /// The media row.
    pub id: i64,
    /// The project holding it.
    pub project_id: i64,
    /// Its MIME type.
    pub mime: String,
    /// The name it was uploaded under.
    pub name: String,
}

/// Every project's row for a file.
pub async fn holders(on: &mut impl Runner, sha256: &str) -> sqlx::Result<Vec<Held>> {
    sql::query("SELECT id, project_id, mime, name FROM media WHERE sha256 = $1 ORDER BY id")
        .bind(sha256)
        .fetch_all(on)
        .await?
        .iter()
        .map(|r| {
            Ok(Held {
                id: r.try_get("id")?,
                project_id: r.try_get("project_id")?,
                mime: r.try_get("mime")?,
                name: r.try_get("name")?,
            })
        })
        .collect()
}

/// Whether `worker` holds or held (has a seat on) an item made from the media row, in any of
/// its project's tasks. Looked up by seat key per task, so the cost grows with the project's
/// tasks, not with the seats in the database.
pub async fn worker_has_seat(on: &mut impl Runner, held: &Held, worker: i64) -> sqlx::Result<bool> {
    let found: Option<i64> = sql::query_scalar(
        "SELECT 1 FROM items i JOIN tasks t ON t.project_id = i.project_id \
         JOIN seats s ON s.task_id = t.id AND s.item_id = i.id AND s.worker_id = $3 \
         WHERE i.media_id = $1 AND i.project_id = $2 LIMIT 1",
    )
    .bind(held.id)
    .bind(held.project_id)
    .bind(worker)
    .fetch_optional(on)
    .await?;
    Ok(found.is_some())
}
