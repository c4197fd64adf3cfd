//! Frames of video items. A task with `sample_ms` labels each sampled frame as an item of its
//! own; a frame is made once per (video, time) and shared by every task sampling that time, so
//! two tasks at 500 ms and 1000 ms agree on the frame at 1000 ms.

use crate::sql::{self, Runner};
use quorum_core::video::{sample_times, SampleError};
use serde_json::{json, Value};

/// A video item, as far as cutting it into frames needs.
#[derive(Debug, Clone)]
pub struct Video {
    id: i64,
    dataset_id: i64,
    directory: String,
    priority: i64,
    media_id: Option<i64>,
    url: String,
    metadata: Value,
    duration_ms: u64,
}

/// Ids per statement, well under both backends' parameter limits.
const CHUNK: usize = 500;

/// The video items among `ids`: data with a `video` URL, metadata with a `duration_ms` (read
/// from the file at upload, or given by the uploader for a video elsewhere).
async fn videos_among(
    on: &mut impl Runner,
    project_id: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<Video>> {
    let mut videos = Vec::new();
    for part in ids.chunks(CHUNK) {
        let rows = sql::query(format!(
            "SELECT id, dataset_id, directory, priority, media_id, data, metadata FROM items \
             WHERE project_id = $1 AND id IN ({})",
            sql::params(2, part.len())
        ))
        .bind(project_id)
        .bind_all(part)
        .fetch_all(&mut *on)
        .await?;
        for r in &rows {
            let data: Value =
                serde_json::from_str(&r.try_get::<String>("data")?).unwrap_or_default();
            let metadata: Value =
                serde_json::from_str(&r.try_get::<String>("metadata")?).unwrap_or_default();
            let (Some(url), Some(duration_ms)) =
                (data["video"].as_str(), metadata["duration_ms"].as_u64())
            else {
                continue;
            };
            videos.push(Video {
                id: r.try_get("id")?,
                dataset_id: r.try_get("dataset_id")?,
                directory: r.try_get("directory")?,
                priority: r.try_get("priority")?,
                media_id: r.try_get("media_id")?,
                url: url.to_owned(),
                metadata,
                duration_ms,
            });
        }
    }
    Ok(videos)
}

/// Why a sampled input cannot be made.
#[derive(Debug)]
pub enum SampleFail {
    /// The step does not fit a video.
    Step {
        /// The video item.
        item_id: i64,
        /// Why.
        error: SampleError,
    },
    /// The database failed.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for SampleFail {
    fn from(e: sqlx::Error) -> Self {
        SampleFail::Db(e)
    }
}

/// The task's items for a `sample_ms` input: each video item of `items` (id, priority) is
/// replaced by its frames at `0, N, 2N, …` before its end (made if missing); other items stay.
pub async fn sample(
    tx: &mut impl Runner,
    project_id: i64,
    items: Vec<(i64, i64)>,
    sample_ms: u32,
    now: i64,
) -> Result<Vec<(i64, i64)>, SampleFail> {
    let ids: Vec<i64> = items.iter().map(|(id, _)| *id).collect();
    let videos = videos_among(&mut *tx, project_id, &ids).await?;
    let video_ids: std::collections::HashSet<i64> = videos.iter().map(|v| v.id).collect();
    let mut out: Vec<(i64, i64)> = items
        .into_iter()
        .filter(|(id, _)| !video_ids.contains(id))
        .collect();
    for video in &videos {
        let times: Vec<u64> = sample_times(video.duration_ms, u64::from(sample_ms))
            .map_err(|error| SampleFail::Step {
                item_id: video.id,
                error,
            })?
            .collect();
        out.extend(frames(&mut *tx, project_id, video, &times, now).await?);
    }
    out.sort_unstable();
    Ok(out)
}

/// Frames made per statement (three parameters each).
const FRAMES_PER_INSERT: usize = 100;

/// The frames of `video` at `times` (id, priority), made where missing. A frame's data names
/// the video and the time; its metadata is the video's (picture size, so shapes are checked
/// against it) with the frame's `time_ms`.
async fn frames(
    tx: &mut impl Runner,
    project_id: i64,
    video: &Video,
    times: &[u64],
    now: i64,
) -> sqlx::Result<Vec<(i64, i64)>> {
    for part in times.chunks(FRAMES_PER_INSERT) {
        let values: Vec<String> = (0..part.len())
            .map(|i| {
                let p = 8 + i * 3;
                format!(
                    "($1, $2, ${p}, ${}, $3, $4, $5, $5, $6, $7, ${})",
                    p + 1,
                    p + 2
                )
            })
            .collect();
        let mut q = sql::query(format!(
            "INSERT INTO items (project_id, dataset_id, data, metadata, directory, priority, \
             created_at, updated_at, media_id, video_item_id, time_ms) VALUES {} \
             ON CONFLICT (video_item_id, time_ms) WHERE video_item_id IS NOT NULL DO NOTHING",
            values.join(", ")
        ))
        .bind(project_id)
        .bind(video.dataset_id)
        .bind(video.directory.as_str())
        .bind(video.priority)
        .bind(now)
        .bind(video.media_id)
        .bind(video.id);
        for &t in part {
            let mut metadata = video.metadata.clone();
            metadata["time_ms"] = json!(t);
            metadata["video_item_id"] = json!(video.id);
            q = q
                .bind(json!({"video": video.url, "time_ms": t}).to_string())
                .bind(metadata.to_string())
                .bind(t as i64);
        }
        q.execute(&mut *tx).await?;
    }
    let mut found = Vec::with_capacity(times.len());
    for part in times.chunks(CHUNK) {
        let rows = sql::query(format!(
            "SELECT id, priority FROM items WHERE video_item_id = $1 AND time_ms IN ({})",
            sql::params(2, part.len())
        ))
        .bind(video.id)
        .bind_all(part.iter().map(|t| *t as i64))
        .fetch_all(&mut *tx)
        .await?;
        for r in &rows {
            found.push((r.try_get("id")?, r.try_get("priority")?));
        }
    }
    Ok(found)
}

/// The frames of `video_item_id` that task `task_id` labels, as (frame item, time in ms), in
/// time order.
pub async fn in_task(
    on: &mut impl Runner,
    task_id: i64,
    video_item_id: i64,
) -> sqlx::Result<Vec<(i64, u64)>> {
    let rows = sql::query(
        "SELECT i.id, i.time_ms FROM items i JOIN task_items ti ON ti.item_id = i.id \
         WHERE ti.task_id = $1 AND i.video_item_id = $2 ORDER BY i.time_ms",
    )
    .bind(task_id)
    .bind(video_item_id)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get::<i64>("time_ms")? as u64)))
        .collect()
}

/// `worker`'s active answers in task `task_id` on the frames of `video_item_id`, as (time,
/// answer JSON) in time order: the labeling screen's key frames for tracks, whichever session
/// or browser labelled them. The worker's own labels only (invariant 5).
pub async fn own_answers(
    on: &mut impl Runner,
    task_id: i64,
    worker: i64,
    video_item_id: i64,
) -> sqlx::Result<Vec<(u64, String)>> {
    let rows = sql::query(
        "SELECT i.time_ms, a.value FROM annotations a JOIN items i ON i.id = a.item_id \
         WHERE a.task_id = $1 AND a.worker_id = $2 AND a.active = 1 AND i.video_item_id = $3 \
         ORDER BY i.time_ms",
    )
    .bind(task_id)
    .bind(worker)
    .bind(video_item_id)
    .fetch_all(on)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get::<i64>("time_ms")? as u64, r.try_get("value")?)))
        .collect()
}
