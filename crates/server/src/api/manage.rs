//! Managers' views: progress per task and per annotator, live reservations (leases) and
//! releasing a user's leases.

use super::auth::{require_manager, Caller, Role};
use super::error::{ApiError, ApiResult, Path, Query};
use super::labeling::release_lease;
use super::projects::ensure_project;
use super::tasks;
use super::AppState;
use crate::clock;
use crate::store::{leases, progress, users};
use axum::extract::State;
use axum::Json;
use quorum_core::consensus::majority::majority;
use quorum_core::consensus::scores::{annotator_scores, throughput_per_hour, AnnotatorScore};
use quorum_core::qualification::{may_work, Standing};
use quorum_core::time::Millis;
use serde::Deserialize;
use serde_json::{json, Value};

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
    let counts = progress::counts(&mut state.db.scan(), task_id).await?;
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
    let ids: Vec<i64> = workers.iter().map(|(id, _)| *id).collect();
    let names = users::names(&mut state.db.scan(), &ids).await?;
    let mut annotators = Vec::with_capacity(workers.len());
    for (id, s) in workers {
        let name = names.get(&id);
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
        "items": counts.items,
        "labeled": counts.labeled,
        "approved": counts.approved,
        "needs_review": counts.needs_review,
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
    let mut on = state.db.scan();
    let mut ids: Vec<i64> = if task.spec.assignees.is_empty() {
        users::with_role(&mut on, task.project_id, Role::Annotator).await?
    } else {
        task.spec.assignees.iter().map(|w| w.0).collect()
    };
    ids.sort_unstable();
    ids.dedup();
    let names = users::names(&mut on, &ids).await?;
    let work = progress::work(&mut on, task.id, &ids).await?;
    Ok(ids
        .iter()
        .map(|id| {
            let w = work.get(id).copied().unwrap_or_default();
            json!({"worker_id": id, "name": names.get(id), "planned": w.planned, "done": w.done})
        })
        .collect())
}

/// `GET /projects/{id}/reservations` (managers): live leases with their holders.
pub async fn reservations(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, project_id).await?;
    require_manager(&state, &caller, project_id).await?;
    let out: Vec<Value> = leases::live_in_project(&mut state.db.scan(), project_id, clock::now().0)
        .await?
        .into_iter()
        .map(|r| {
            json!({
                "lease_id": r.lease.id.0,
                "task_id": r.lease.task.0,
                "task_name": r.task_name,
                "worker_id": r.lease.worker.0,
                "name": r.name,
                "issued_at": r.lease.issued_at.0,
                "expires_at": r.lease.expires_at.0,
                "items": r.items,
            })
        })
        .collect();
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
    let held = leases::live_of_worker(&mut state.db.scan(), user_id, now, q.task_id).await?;
    for (_, project_id) in &held {
        require_manager(&state, &caller, *project_id).await?;
    }
    let mut released_items = 0;
    let mut w = state.db.claim().await?;
    for (lease, _) in &held {
        released_items += release_lease(&mut w, lease, now).await?;
    }
    w.commit().await?;
    Ok(Json(
        json!({"released_leases": held.len(), "released_items": released_items}),
    ))
}
