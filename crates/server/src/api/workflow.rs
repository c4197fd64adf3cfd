//! Multi-step workflows on the server: the step each item waits in (`task_items.step`), who
//! decides in each step, per-step counts (progress, `/me/tasks`) and the per-step priority
//! update. Where an item goes next, step samples and priorities within a step are the core's
//! `workflow` rules; tasks without `steps` keep every item at step 0 and behave as before.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path};
use super::error_code::ErrorBody;
use super::tasks::{self, ManagerRefusals, TaskRecord};
use super::AppState;
use crate::store::reviews as results;
use crate::store::tasks as task_store;
use crate::store::workflow::{self as store, Among};
use axum::extract::State;
use axum::Json;
use quorum_core::ids::{ItemId, Priority, WorkerId};
use quorum_core::lifecycle::TaskStatus;
use quorum_core::review::ResultState;
use quorum_core::workflow::{self, ItemQueue, StepKind, StepOutcome};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

/// Whether the task runs a workflow (else it is one labeling step, as before steps existed).
pub fn has_steps(task: &TaskRecord) -> bool {
    !task.spec.steps.is_empty()
}

/// The name of the step an item waits in; `None` once it finished (or without steps).
pub fn step_name(task: &TaskRecord, step: i64) -> Option<&str> {
    usize::try_from(step)
        .ok()
        .and_then(|s| task.spec.steps.get(s))
        .map(|s| s.name.as_str())
}

/// Whether `worker` decides items waiting in `step` (managers aside). The labeling step's
/// review, and later steps that name nobody, belong to the task's reviewers; a later step that
/// names people belongs to them.
pub fn may_decide(task: &TaskRecord, worker: i64, step: usize) -> bool {
    match task.spec.steps.get(step) {
        Some(s) if step > 0 && !s.assignees.is_empty() => s.assignees.contains(&WorkerId(worker)),
        _ => task.has_reviewer(worker),
    }
}

/// Whether `worker` is named in one of the task's review or QA steps.
pub fn works_a_step(task: &TaskRecord, worker: i64) -> bool {
    task.spec
        .steps
        .iter()
        .skip(1)
        .any(|s| s.assignees.contains(&WorkerId(worker)))
}

/// A 422 naming one field, like the spec's own field errors.
fn field_error(field: &str, message: String) -> ApiError {
    ApiError::validation(format!("{field}: {message}"))
        .with_details(json!([{"field": field, "message": message}]))
}

/// Checks a `step` the caller named: one of the task's steps (a task without steps has only
/// step 0); `finished_ok` also allows `steps.len()`, the items that finished.
pub fn check_step(task: &TaskRecord, step: i64, finished_ok: bool) -> ApiResult<usize> {
    let len = task.spec.steps.len().max(1) as i64;
    let last = if finished_ok && has_steps(task) {
        len
    } else {
        len - 1
    };
    if (0..=last).contains(&step) {
        Ok(step as usize)
    } else {
        Err(field_error(
            "step",
            format!("the task's steps are numbered 0 to {last}"),
        ))
    }
}

/// The steps whose review queue `caller` reads: the named one (if theirs), else every step
/// they decide in (a manager: all).
pub fn queue_steps(
    task: &TaskRecord,
    caller: i64,
    manager: bool,
    step: Option<i64>,
) -> ApiResult<Vec<i64>> {
    let all = task.spec.steps.len().max(1);
    if let Some(step) = step {
        let s = check_step(task, step, false)?;
        if !(manager || may_decide(task, caller, s)) {
            return Err(ApiError::forbidden(format!(
                "step {step} is reviewed by other people"
            )));
        }
        return Ok(vec![step]);
    }
    Ok((0..all)
        .filter(|&s| manager || may_decide(task, caller, s))
        .map(|s| s as i64)
        .collect())
}

/// Where an item at `step` goes once that step passes it: (its next step, its state there).
/// Without steps, or after the last step, it is finished in `finished_state`.
pub fn after_pass(
    task: &TaskRecord,
    item: ItemId,
    step: i64,
    finished_state: ResultState,
) -> (i64, ResultState) {
    if !has_steps(task) {
        return (step, finished_state);
    }
    let steps = &task.spec.steps;
    let queue = ItemQueue {
        step: step.max(0) as usize,
        priority: Priority(0),
    };
    let next = workflow::pass(steps, task.spec.seed, item, queue);
    if workflow::is_finished(steps, next) {
        (steps.len() as i64, finished_state)
    } else {
        (next.step as i64, ResultState::NeedsReview)
    }
}

/// The step a rejected item returns to (the labeling step that produced it).
pub fn after_reject(task: &TaskRecord, step: i64) -> i64 {
    if !has_steps(task) {
        return 0;
    }
    let queue = ItemQueue {
        step: step.max(0) as usize,
        priority: Priority(0),
    };
    workflow::advance(&task.spec.steps, queue, StepOutcome::Rejected).step as i64
}

/// Refuses a decision on an item in `step` by someone who does not decide there, or naming a
/// step (`expected`) the item has left. Tasks without steps keep today's checks.
pub fn check_decision(
    task: &TaskRecord,
    reviewer: i64,
    manager: bool,
    step: i64,
    expected: Option<i64>,
) -> ApiResult<()> {
    if let Some(expected) = expected.filter(|&e| e != step) {
        return Err(
            ApiError::conflict(format!("the item is in step {step}, not step {expected}"))
                .with_code(ErrorCode::WrongStep),
        );
    }
    if !has_steps(task) {
        return Ok(());
    }
    let Some(name) = step_name(task, step) else {
        return Err(ApiError::conflict("the item finished the workflow")
            .with_code(ErrorCode::AlreadyDecided));
    };
    if !(manager || may_decide(task, reviewer, step as usize)) {
        return Err(ApiError::forbidden(format!(
            "items in step {step} ({name}) are decided by that step's people"
        )));
    }
    Ok(())
}

/// Items waiting in each step, by step index (length: the steps; finished items apart).
pub async fn waiting_per_step(state: &AppState, task: &TaskRecord) -> ApiResult<(Vec<i64>, i64)> {
    let len = task.spec.steps.len();
    let rows = store::waiting_per_step(&mut state.db.scan(), task.id, len as i64).await?;
    let mut waiting = vec![0; len];
    let mut finished = 0;
    for (step, n) in rows {
        match usize::try_from(step) {
            Ok(s) if s < waiting.len() => waiting[s] = n,
            Ok(_) => {}
            Err(_) => finished = n,
        }
    }
    Ok((waiting, finished))
}

/// A step with the items waiting in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepWaiting {
    /// The step's index.
    pub step: i64,
    /// Its name.
    pub name: String,
    /// `label`, `review` or `qa`.
    #[schema(value_type = String)]
    pub kind: StepKind,
    /// Items waiting there.
    pub waiting: i64,
}

/// `steps` and `finished` for a workflow task's progress: each step with its waiting items.
pub async fn progress(state: &AppState, task: &TaskRecord) -> ApiResult<Option<Value>> {
    if !has_steps(task) {
        return Ok(None);
    }
    let (waiting, finished) = waiting_per_step(state, task).await?;
    let steps: Vec<StepWaiting> = task
        .spec
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| StepWaiting {
            step: i as i64,
            name: s.name.clone(),
            kind: s.kind,
            waiting: waiting[i],
        })
        .collect();
    Ok(Some(json!({"steps": steps, "finished": finished})))
}

/// `my_review` of `/me/tasks` for a workflow task: each step the caller decides in, with the
/// items waiting there for a decision. The labeling step counts only when its review rule can
/// send items to a reviewer.
pub async fn my_review(
    state: &AppState,
    task: &TaskRecord,
    caller: i64,
) -> ApiResult<Option<Vec<StepWaiting>>> {
    if !has_steps(task) {
        return Ok(None);
    }
    let reviews_labels = !matches!(
        task.spec.review_strategy,
        quorum_core::strategy::ReviewStrategy::None
    );
    let mut out = Vec::new();
    for (i, s) in task.spec.steps.iter().enumerate() {
        if (i == 0 && !reviews_labels) || !may_decide(task, caller, i) {
            continue;
        }
        let waiting = results::waiting(&mut state.db.scan(), task.id, i as i64).await?;
        out.push(StepWaiting {
            step: i as i64,
            name: s.name.clone(),
            kind: s.kind,
            waiting,
        });
    }
    Ok(Some(out))
}

/// Refuses a spec change that would strand items: the number and kinds of steps are fixed once
/// an item has left the labeling step (names, people and samples may change).
pub async fn check_spec_change(
    state: &AppState,
    old: &TaskRecord,
    new: &[workflow::Step],
) -> ApiResult<()> {
    let kinds = |s: &[workflow::Step]| s.iter().map(|s| s.kind).collect::<Vec<StepKind>>();
    if kinds(&old.spec.steps) == kinds(new) {
        return Ok(());
    }
    if store::any_past_labeling(&mut state.db.scan(), old.id).await? {
        return Err(field_error(
            "steps",
            "items are already past the labeling step: keep the steps' number and kinds".into(),
        ));
    }
    Ok(())
}

/// The people named in each review or QA step, with the spec field that names them (they must
/// be reviewers of the project, and they review the task).
pub fn step_people(task_steps: &[workflow::Step]) -> Vec<(String, Vec<WorkerId>)> {
    task_steps
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, s)| (format!("steps[{i}].assignees"), s.assignees.clone()))
        .collect()
}

/// New priorities for items waiting in one step.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepPriorityBody {
    /// The priority to set.
    priority: i32,
    /// The items to change; omitted: every item waiting in the step.
    #[serde(default)]
    #[schema(value_type = Option<Vec<i64>>)]
    item_ids: Option<Vec<ItemId>>,
}

/// What a step's priority update changed.
#[derive(Serialize, ToSchema)]
pub struct StepPriorityAnswer {
    /// Items whose priority was set.
    pub updated: u64,
    /// Named items not waiting in the step (or not in the task), left alone.
    pub skipped: Vec<i64>,
}

/// Set the priority of items waiting in one workflow step.
///
/// Who may call: the project's managers. The named items, or all of them ("update the queue");
/// named items waiting elsewhere are left alone and listed in `skipped` (the core's
/// `set_priority`).
#[utoipa::path(
    post,
    path = "/tasks/{id}/steps/{step}/priority",
    tag = "workflow",
    params(("id" = i64, Path, description = "The task"), ("step" = i64, Path, description = "The step's index")),
    request_body = StepPriorityBody,
    responses(
        (status = 200, description = "Priorities set", body = StepPriorityAnswer),
        ManagerRefusals,
        (status = 409, description = "The task is archived", body = ErrorBody),
        (status = 422, description = "A step the task does not have", body = ErrorBody),
    )
)]
pub async fn set_priority(
    State(state): State<AppState>,
    caller: Caller,
    Path((task_id, step)): Path<(i64, i64)>,
    Body(body): Body<StepPriorityBody>,
) -> ApiResult<Json<StepPriorityAnswer>> {
    let task = tasks::load(&state, task_id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    let step = check_step(&task, step, false)?;
    if task.status == TaskStatus::Archived {
        return Err(ApiError::conflict("the task is archived").with_code(ErrorCode::TaskClosed));
    }
    let mut w = state.db.claim().await?;
    tasks::in_claim(&mut w, task_id).await?;
    let named: Option<Vec<i64>> = body
        .item_ids
        .as_ref()
        .map(|ids| ids.iter().map(|i| i.0).collect());
    let among = match &named {
        None => Among::Step(step as i64),
        Some(ids) => Among::Items(ids),
    };
    let rows = store::lock_queued(&mut w, task_id, among).await?;
    let mut updated = 0;
    let mut skipped = Vec::new();
    for r in &rows {
        let queue = ItemQueue {
            step: r.step.max(0) as usize,
            priority: Priority(r.priority as i32),
        };
        match workflow::set_priority(queue, step, Priority(body.priority)) {
            Ok(q) => {
                let p = i64::from(q.priority.0);
                updated +=
                    u64::from(task_store::set_item_priority(&mut w, task_id, r.item_id, p).await?);
            }
            Err(_) => skipped.push(r.item_id),
        }
    }
    // Named items that are not in the task are not waiting in the step either.
    for i in named.iter().flatten() {
        if !rows.iter().any(|r| r.item_id == *i) && !skipped.contains(i) {
            skipped.push(*i);
        }
    }
    w.commit().await?;
    Ok(Json(StepPriorityAnswer { updated, skipped }))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(set_priority))]
pub(crate) struct Doc;
