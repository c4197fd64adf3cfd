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
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

type ErrorBody = super::error_code::ErrorBody;

/// A task's progress.
#[derive(Serialize, ToSchema)]
pub struct Progress {
    pub task_id: i64,
    /// The task's lifecycle status (`open`, `in_progress`, `completed`, `archived`, …).
    #[schema(value_type = String)]
    pub status: quorum_core::lifecycle::TaskStatus,
    pub items: i64,
    pub labeled: i64,
    pub approved: i64,
    pub needs_review: i64,
    pub per_annotator: Vec<AnnotatorProgress>,
    pub per_assignee: Vec<AssigneeProgress>,
    /// Workflow tasks only: each step with the items waiting in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub steps: Option<Value>,
    /// Workflow tasks only: items through every step.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub finished: Option<Value>,
}

/// One annotator's work and scores, from the core.
#[derive(Serialize, ToSchema)]
pub struct AnnotatorProgress {
    pub worker_id: i64,
    /// None: the user is gone.
    pub name: Option<String>,
    pub annotations: u32,
    pub per_hour: Option<f64>,
    /// Share of gold items answered right (none without gold answers).
    pub gold_accuracy: Option<f64>,
    pub gold_answered: u32,
    /// Share of answers that agree with the majority of the same labels.
    pub agreement: Option<f64>,
    /// Whether they passed the task's qualifications (only on tasks that have some).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualified: Option<bool>,
}

/// One assignee's planned work against their done work.
#[derive(Serialize, ToSchema)]
pub struct AssigneeProgress {
    pub worker_id: i64,
    pub name: Option<String>,
    /// Seats ever planned or handed to them in the task.
    pub planned: i64,
    /// Their active annotations.
    pub done: i64,
}

/// Progress per task, per annotator and per assignee (planned vs done).
///
/// Who may call: a manager of the task's project. Counts, and per annotator their throughput,
/// accuracy on gold items, agreement with the majority and, where the task has qualifications,
/// whether they passed them — all scored by the core; and per assignee how much work they were
/// given against how much they did.
#[utoipa::path(get, path = "/tasks/{id}/progress", tag = "manage",
    params(("id" = i64, Path, description = "The task")),
    responses(
        (status = 200, description = "The task's progress", body = Progress),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager of the task's project", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
    ))]
pub async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
) -> ApiResult<Json<Progress>> {
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
        let qualified = (!quals.is_empty()).then(|| {
            let standings: Vec<Standing> = quals.iter().map(|q| q.standing(id)).collect();
            may_work(&standings)
        });
        annotators.push(AnnotatorProgress {
            worker_id: id,
            name: name.cloned(),
            annotations: s.answers,
            per_hour: throughput_per_hour(u64::from(s.answers), Millis(first), Millis(last)),
            gold_accuracy: s.gold_accuracy(),
            gold_answered: s.gold_answered,
            agreement: s.consensus_agreement(),
            qualified,
        });
    }
    let mut workflow = super::workflow::progress(&state, &a.task).await?;
    let mut step_part = |key: &str| {
        workflow
            .as_mut()
            .and_then(|w| w.get_mut(key))
            .map(Value::take)
    };
    let (steps, finished) = (step_part("steps"), step_part("finished"));
    Ok(Json(Progress {
        task_id,
        status: a.task.status,
        items: counts.items,
        labeled: counts.labeled,
        approved: counts.approved,
        needs_review: counts.needs_review,
        per_annotator: annotators,
        per_assignee: per_assignee(&state, &a.task).await?,
        steps,
        finished,
    }))
}

/// Each assignee's planned work (seats ever planned or handed to them in the task, whatever
/// became of them) and done work (active annotations). Per-annotator scores list only people
/// with labels; this lists everyone expected to work, so a manager sees who has not started.
/// A task that names no assignees is open to every annotator of the project, so they are its
/// assignees here.
async fn per_assignee(
    state: &AppState,
    task: &tasks::TaskRecord,
) -> ApiResult<Vec<AssigneeProgress>> {
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
            AssigneeProgress {
                worker_id: *id,
                name: names.get(id).cloned(),
                planned: w.planned,
                done: w.done,
            }
        })
        .collect())
}

/// A live lease and its holder.
#[derive(Serialize, ToSchema)]
pub struct Reservation {
    pub lease_id: i64,
    pub task_id: i64,
    pub task_name: String,
    pub worker_id: i64,
    /// The holder's name (none: the user is gone).
    pub name: Option<String>,
    /// Milliseconds since the epoch.
    pub issued_at: i64,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
    /// Items the lease still holds.
    pub items: i64,
}

/// A project's live leases.
#[derive(Serialize, ToSchema)]
pub struct Reservations {
    pub reservations: Vec<Reservation>,
}

/// Live leases per user.
///
/// Who may call: a manager of the project.
#[utoipa::path(get, path = "/projects/{id}/reservations", tag = "manage",
    params(("id" = i64, Path, description = "The project")),
    responses(
        (status = 200, description = "The live leases with their holders", body = Reservations),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager of the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn reservations(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
) -> ApiResult<Json<Reservations>> {
    ensure_project(&state, project_id).await?;
    require_manager(&state, &caller, project_id).await?;
    let reservations = leases::live_in_project(&mut state.db.scan(), project_id, clock::now().0)
        .await?
        .into_iter()
        .map(|r| Reservation {
            lease_id: r.lease.id.0,
            task_id: r.lease.task.0,
            task_name: r.task_name,
            worker_id: r.lease.worker.0,
            name: r.name,
            issued_at: r.lease.issued_at.0,
            expires_at: r.lease.expires_at.0,
            items: r.items,
        })
        .collect();
    Ok(Json(Reservations { reservations }))
}

/// Which of the user's leases to release.
#[derive(Deserialize, IntoParams)]
pub struct ReleaseQuery {
    /// Only the leases on this task (default: all).
    task_id: Option<i64>,
}

/// How much was released.
#[derive(Serialize, ToSchema)]
pub struct ReleasedLeases {
    pub released_leases: usize,
    pub released_items: u64,
}

/// Release a user's live leases.
///
/// Who may call: a manager of every task concerned. E.g. when someone left for the day with a
/// batch in hand.
#[utoipa::path(post, path = "/users/{id}/leases/release", tag = "manage",
    params(("id" = i64, Path, description = "The user"), ReleaseQuery),
    responses(
        (status = 200, description = "How many leases and items were released", body = ReleasedLeases),
        (status = 400, description = "A bad query string", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager of a task the user holds a lease on", body = ErrorBody),
    ))]
pub async fn release_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<i64>,
    Query(q): Query<ReleaseQuery>,
) -> ApiResult<Json<ReleasedLeases>> {
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
    Ok(Json(ReleasedLeases {
        released_leases: held.len(),
        released_items,
    }))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(progress, reservations, release_user))]
pub(crate) struct Doc;

/// Rows of counts a task may gather before [`fold_counts`] folds them: a quiet task's read sums
/// at most this many (well under a millisecond), and a busy task's rows are folded each sweep
/// (at 3,000 labels a second, some 360,000 rows gather in a minute: a read of about 90 ms, as measured at 333,334).
const FOLD_AFTER_ROWS: i64 = 256;

/// The periodic fold of tasks' kept item counts (see `progress::fold`), one short write per
/// task, so that a task's counts stay a few rows to read however much work it sees. Safe with
/// several replicas sweeping at once. How many tasks it folded.
pub async fn fold_counts(db: &crate::db::Db) -> anyhow::Result<u64> {
    let due = progress::unfolded(&mut db.scan(), FOLD_AFTER_ROWS).await?;
    let mut folded = 0;
    for task in &due {
        // One task's failure (a busy database) leaves the others to fold.
        match fold_task(db, *task).await {
            Ok(()) => folded += 1,
            Err(e) => tracing::warn!("counts of task {task} not folded: {e}"),
        }
    }
    Ok(folded)
}

async fn fold_task(db: &crate::db::Db, task: i64) -> sqlx::Result<()> {
    loop {
        let mut w = db.write().await?;
        let more = progress::fold(&mut w, db.backend(), task).await?;
        w.commit().await?;
        if !more {
            return Ok(());
        }
    }
}
