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
use quorum_core::consensus::majority::majority;
use quorum_core::consensus::scores::{annotator_scores, throughput_per_hour, AnnotatorScore};
use quorum_core::ids::{LeaseId, TaskId, WorkerId};
use quorum_core::lease::Lease;
use quorum_core::qualification::{may_work, Standing};
use quorum_core::time::Millis;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

/// `GET /tasks/{id}/progress` (managers): counts, and per annotator their throughput, accuracy
/// on gold items, agreement with the majority and, where the task has qualifications, whether
/// they passed them — all scored by the core; and per assignee how much work they were given
/// against how much they did.
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
    // Scores come from the core over the task's labels by consensus key: agreement is with the
    // majority of the same labels, on items someone else labeled too.
    let labels = tasks::task_labels(&state, task_id, None).await?;
    let consensus = majority(&labels.answers);
    let gold = (!labels.gold.is_empty()).then_some(&labels.gold);
    let scores = annotator_scores(&labels.answers, &consensus, gold);
    let quals = tasks::qualifications(&state, &a.task, None).await?;
    let mut workers: Vec<(i64, &AnnotatorScore)> = scores
        .iter()
        .filter_map(|s| {
            let id = labels.answers.worker_name(s.worker).parse::<i64>().ok()?;
            Some((id, s))
        })
        .collect();
    workers.sort_by_key(|(id, _)| *id);
    let mut annotators = Vec::with_capacity(workers.len());
    for (id, s) in workers {
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(state.db.pool())
            .await?;
        let (first, last) = labels.spans.get(&id).copied().unwrap_or((0, 0));
        let mut row = json!({
            "worker_id": id,
            "name": name,
            "annotations": s.answers,
            "per_hour": throughput_per_hour(u64::from(s.answers), Millis(first), Millis(last)),
            "gold_accuracy": s.gold_accuracy(),
            "gold_answered": s.gold_answered,
            "agreement": s.consensus_agreement(),
        });
        if !quals.is_empty() {
            let standings: Vec<Standing> = quals.iter().map(|q| q.standing(id)).collect();
            row["qualified"] = json!(may_work(&standings));
        }
        annotators.push(row);
    }
    let mut out = json!({
        "task_id": task_id,
        "status": a.task.status,
        "items": counts.try_get::<i64, _>("items")?,
        "labeled": sum(&counts, "labeled"),
        "approved": sum(&counts, "approved"),
        "needs_review": sum(&counts, "needs_review"),
        "per_annotator": annotators,
        "per_assignee": per_assignee(&state, &a.task).await?,
    });
    if let Some(Value::Object(steps)) = super::workflow::progress(&state, &a.task).await? {
        for (k, v) in steps {
            out[k] = v;
        }
    }
    Ok(Json(out))
}

/// Each assignee's planned work (seats ever planned or handed to them in the task, whatever
/// became of them) and done work (active annotations). Per-annotator scores list only people
/// with labels; this lists everyone expected to work, so a manager sees who has not started.
/// A task that names no assignees is open to every annotator of the project, so they are its
/// assignees here.
async fn per_assignee(state: &AppState, task: &tasks::TaskRecord) -> ApiResult<Vec<Value>> {
    let mut ids: Vec<i64> = if task.spec.assignees.is_empty() {
        let members = sqlx::query("SELECT user_id, roles FROM members WHERE project_id = $1")
            .bind(task.project_id)
            .fetch_all(state.db.pool())
            .await?;
        let mut ids = Vec::new();
        for m in &members {
            // Roles are a comma-separated list; LIKE would also match a longer role name.
            if m.try_get::<String, _>("roles")?
                .split(',')
                .any(|r| r == "annotator")
            {
                ids.push(m.try_get("user_id")?);
            }
        }
        ids
    } else {
        task.spec.assignees.iter().map(|w| w.0).collect()
    };
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let r = sqlx::query(
            "SELECT (SELECT name FROM users WHERE id = $2) AS name, \
             (SELECT COUNT(*) FROM seats WHERE task_id = $1 AND worker_id = $2) AS planned, \
             (SELECT COUNT(*) FROM annotations WHERE task_id = $1 AND worker_id = $2 AND active = 1) AS done",
        )
        .bind(task.id)
        .bind(id)
        .fetch_one(state.db.pool())
        .await?;
        out.push(json!({
            "worker_id": id,
            "name": r.try_get::<Option<String>, _>("name")?,
            "planned": r.try_get::<i64, _>("planned")?,
            "done": r.try_get::<i64, _>("done")?,
        }));
    }
    Ok(out)
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
         (SELECT COUNT(*) FROM seats s WHERE s.task_id = l.task_id AND s.worker_id = l.worker_id \
            AND s.lease_id = l.id AND s.state = 'leased') AS items \
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
    let mut w = state.db.claim().await?;
    for r in &rows {
        let lease = Lease {
            id: LeaseId(r.try_get("id")?),
            task: TaskId(r.try_get("task_id")?),
            worker: WorkerId(user_id),
            issued_at: Millis(r.try_get("issued_at")?),
            expires_at: Millis(r.try_get("expires_at")?),
            released_at: None,
        };
        released_items += release_lease(&mut w, &lease, now).await?;
    }
    w.commit().await?;
    Ok(Json(
        json!({"released_leases": rows.len(), "released_items": released_items}),
    ))
}
