//! Managers' views: progress per task and per annotator, live reservations (leases) and
//! releasing a user's leases.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Path, Query};
use super::labeling::release_lease;
use super::projects::ensure_project;
use super::tasks;
use super::AppState;
use crate::clock;
use axum::extract::State;
use axum::Json;
use quorum_core::ids::{LeaseId, TaskId, WorkerId};
use quorum_core::lease::Lease;
use quorum_core::time::Millis;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

/// `GET /tasks/{id}/progress` (managers): counts, and per annotator their throughput, accuracy
/// on gold items and agreement with the current results.
pub async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let a = tasks::access(&state, &caller, task_id).await?;
    if !a.manager {
        return Err(ApiError::forbidden(
            "only the project's managers see progress",
        ));
    }
    let counts = sqlx::query(
        "SELECT COUNT(*) AS items, \
         COALESCE(SUM(CASE WHEN labeled > 0 THEN 1 ELSE 0 END), 0) AS labeled, \
         COALESCE(SUM(CASE WHEN state IN ('approved', 'auto_approved') THEN 1 ELSE 0 END), 0) AS approved, \
         COALESCE(SUM(CASE WHEN state = 'needs_review' THEN 1 ELSE 0 END), 0) AS needs_review \
         FROM task_items WHERE task_id = $1",
    )
    .bind(task_id)
    .fetch_one(state.db.pool())
    .await?;
    let per = sqlx::query(
        "SELECT a.worker_id, u.name, COUNT(*) AS annotations, MIN(a.created_at) AS first_at, MAX(a.created_at) AS last_at, \
         COALESCE(SUM(CASE WHEN i.gold IS NOT NULL THEN 1 ELSE 0 END), 0) AS gold_seen, \
         COALESCE(SUM(CASE WHEN i.gold IS NOT NULL AND a.value = i.gold THEN 1 ELSE 0 END), 0) AS gold_right, \
         COALESCE(SUM(CASE WHEN ti.result IS NOT NULL THEN 1 ELSE 0 END), 0) AS with_result, \
         COALESCE(SUM(CASE WHEN ti.result IS NOT NULL AND a.value = ti.result THEN 1 ELSE 0 END), 0) AS agreeing \
         FROM annotations a JOIN items i ON i.id = a.item_id \
         JOIN task_items ti ON ti.task_id = a.task_id AND ti.item_id = a.item_id \
         LEFT JOIN users u ON u.id = a.worker_id WHERE a.task_id = $1 AND a.active = 1 \
         GROUP BY a.worker_id, u.name ORDER BY a.worker_id",
    )
    .bind(task_id)
    .fetch_all(state.db.pool())
    .await?;
    let mut annotators = Vec::new();
    for r in &per {
        let n: i64 = r.try_get("annotations")?;
        let span_h =
            (r.try_get::<i64, _>("last_at")? - r.try_get::<i64, _>("first_at")?) as f64 / 3.6e6;
        let ratio = |num: &str, den: &str| {
            let d = sum(r, den);
            (d > 0).then(|| sum(r, num) as f64 / d as f64)
        };
        annotators.push(json!({
            "worker_id": r.try_get::<i64, _>("worker_id")?,
            "name": r.try_get::<Option<String>, _>("name")?,
            "annotations": n,
            // Under a minute of work gives no meaningful rate.
            "per_hour": (span_h > 1.0 / 60.0).then(|| n as f64 / span_h),
            "gold_accuracy": ratio("gold_right", "gold_seen"),
            "agreement": ratio("agreeing", "with_result"),
        }));
    }
    Ok(Json(json!({
        "task_id": task_id,
        "status": a.task.status,
        "items": counts.try_get::<i64, _>("items")?,
        "labeled": sum(&counts, "labeled"),
        "approved": sum(&counts, "approved"),
        "needs_review": sum(&counts, "needs_review"),
        "per_annotator": annotators,
    })))
}

fn sum(r: &sqlx::any::AnyRow, col: &str) -> i64 {
    r.try_get::<i64, _>(col)
        .or_else(|_| r.try_get::<f64, _>(col).map(|f| f as i64))
        .unwrap_or(0)
}

/// `GET /projects/{id}/reservations` (managers): live leases with their holders.
pub async fn reservations(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, project_id).await?;
    require_manager(&state, &caller, project_id).await?;
    let rows = sqlx::query(
        "SELECT l.id, l.task_id, l.worker_id, u.name, l.issued_at, l.expires_at, \
         (SELECT COUNT(*) FROM seats s WHERE s.lease_id = l.id AND s.state = 'leased') AS items \
         FROM leases l JOIN tasks t ON t.id = l.task_id LEFT JOIN users u ON u.id = l.worker_id \
         WHERE t.project_id = $1 AND l.released_at IS NULL AND l.expires_at > $2 ORDER BY l.worker_id, l.id",
    )
    .bind(project_id)
    .bind(clock::now().0)
    .fetch_all(state.db.pool())
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let items: i64 = r.try_get("items")?;
        if items == 0 {
            continue;
        }
        out.push(json!({
            "lease_id": r.try_get::<i64, _>("id")?,
            "task_id": r.try_get::<i64, _>("task_id")?,
            "worker_id": r.try_get::<i64, _>("worker_id")?,
            "name": r.try_get::<Option<String>, _>("name")?,
            "issued_at": r.try_get::<i64, _>("issued_at")?,
            "expires_at": r.try_get::<i64, _>("expires_at")?,
            "items": items,
        }));
    }
    Ok(Json(json!({ "reservations": out })))
}

#[derive(Deserialize)]
pub struct ReleaseQuery {
    task_id: Option<i64>,
}

/// `POST /users/{id}/leases/release[?task_id=]` (managers of the tasks concerned): releases all
/// of a user's live leases, e.g. when they left for the day with a batch in hand.
pub async fn release_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<i64>,
    Query(q): Query<ReleaseQuery>,
) -> ApiResult<Json<Value>> {
    let now = clock::now().0;
    let rows = sqlx::query(
        "SELECT l.*, t.project_id FROM leases l JOIN tasks t ON t.id = l.task_id \
         WHERE l.worker_id = $1 AND l.released_at IS NULL AND l.expires_at > $2 AND ($3 = 0 OR l.task_id = $3)",
    )
    .bind(user_id)
    .bind(now)
    .bind(q.task_id.unwrap_or(0))
    .fetch_all(state.db.pool())
    .await?;
    for r in &rows {
        require_manager(&state, &caller, r.try_get("project_id")?).await?;
    }
    let mut released_items = 0;
    let mut w = state.db.write().await?;
    for r in &rows {
        let lease = Lease {
            id: LeaseId(r.try_get("id")?),
            task: TaskId(r.try_get("task_id")?),
            worker: WorkerId(user_id),
            issued_at: Millis(r.try_get("issued_at")?),
            expires_at: Millis(r.try_get("expires_at")?),
            released_at: None,
        };
        released_items += release_lease(&state, &mut w.tx, &lease, now).await?;
    }
    w.commit().await?;
    Ok(Json(
        json!({"released_leases": rows.len(), "released_items": released_items}),
    ))
}
