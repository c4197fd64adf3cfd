//! Review: routing an item's labels to a result (auto-approve, review or wait), the review
//! queue with every label and the agreement, and reviewers' decisions.

use super::auth::Caller;
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, Query};
use super::error_code::ErrorBody;
use super::tasks::{self, ManagerRefusals, NoToken, TaskRecord};
use super::workflow::{self, StepWaiting};
use super::AppState;
use crate::clock;
use crate::store::reviews::{self as store, NewReview, Routed, SendBack};
use crate::store::seat_state::SeatState;
use crate::store::Tx;
use axum::extract::State;
use axum::Json;
use quorum_core::consensus::online::{self, OverlapDecision};
use quorum_core::ids::{ItemId, WorkerId};
use quorum_core::label::LabelValue;
use quorum_core::lifecycle::TaskStatus;
use quorum_core::review::{self as rules, ResultState, Rework};
use quorum_core::sync::{self, Decision};
use quorum_core::workflow::StepKind;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Whether the item's counted answers tie for the most votes.
async fn tied(tx: &mut Tx, task: &TaskRecord, item: ItemId) -> ApiResult<bool> {
    let votes = store::votes(tx, task.id, item.0).await?;
    let tally = votes.iter().map(|v| (v.key.as_str(), v.n as u32));
    Ok(online::majority_of(tally).is_some_and(|m| m.tied))
}

/// What a new label left to re-decide on its item.
pub struct Reroute {
    /// The item's result state as read in this transaction.
    pub current: ResultState,
    /// How far the item's seat count moves.
    pub covered_delta: i64,
    /// The item's votes with the new label in, when the label's write read them already.
    pub votes: Option<Vec<store::Vote>>,
}

/// Re-decides an item's result after a new label: the online majority vote of the core, and,
/// for tasks with dynamic overlap, how many labels the item should collect now. The item's
/// seat count moves by `covered_delta` and its label count by one, in the same statement as the
/// result.
pub async fn reroute(
    tx: &mut Tx,
    task: &TaskRecord,
    item: ItemId,
    route: Reroute,
    now: i64,
) -> ApiResult<()> {
    let result = routed(tx, task, item, route).await?;
    store::record_route(tx, task.id, item.0, &result).await?;
    update_status(tx, task, unfinished(task, &result), now).await
}

/// Whether a routed item keeps its task open, as far as this item tells: an unfinished
/// honeypot says nothing about the task (see `update_status`).
pub fn unfinished(task: &TaskRecord, result: &Routed) -> bool {
    !result.state.is_approved() && !uses_honeypots(task)
}

/// The item's new result after a new label (not yet stored); reads the item's votes and its
/// workflow step where the label's write did not.
pub async fn routed(
    tx: &mut Tx,
    task: &TaskRecord,
    item: ItemId,
    route: Reroute,
) -> ApiResult<Routed> {
    let Reroute {
        current,
        covered_delta,
        votes,
    } = route;
    let votes = match votes {
        Some(votes) => votes,
        None => store::votes(tx, task.id, item.0).await?,
    };
    let tally: BTreeMap<&str, (u32, &str)> = votes
        .iter()
        .map(|v| (v.key.as_str(), (v.n as u32, v.value.as_str())))
        .collect();
    let majority = online::majority_of(tally.iter().map(|(k, (n, _))| (*k, *n)));
    let (top, collected, confidence) = majority
        .as_ref()
        .map_or((0, 0, None), |m| (m.votes, m.total, Some(m.share)));
    let value = majority
        .as_ref()
        .map(|m| tally[m.label.as_str()].1.to_owned());
    // With dynamic overlap the item's own target replaces the task's overlap: it grows while
    // the item stays uncertain and closes once confident (or at the maximum).
    let target = task.spec.dynamic_overlap.map(|d| {
        match d
            .rule(task.overlap as u32)
            .decide(collected, confidence.unwrap_or(0.0))
        {
            OverlapDecision::Collect { target } => target,
            OverlapDecision::Confident | OverlapDecision::Exhausted => collected,
        }
    });
    // In a workflow the item may already be past labeling (a late label): it stays where it is.
    let step = if workflow::has_steps(task) {
        store::step(tx, task.id, item.0).await?
    } else {
        0
    };
    let routed = if current.is_approved() || step > 0 {
        // A late label after approval is kept but does not reopen the result.
        current
    } else {
        rules::route(
            &task.spec.review_strategy,
            task.spec.seed,
            item,
            top,
            collected,
            target.unwrap_or(task.overlap as u32),
        )
    };
    // Labels the labeling step accepts move on to the workflow's next step.
    let (step, routed) = if step == 0 && routed.is_approved() {
        workflow::after_pass(task, item, 0, routed)
    } else {
        (step, routed)
    };
    Ok(Routed {
        state: routed,
        value,
        confidence,
        target: target.map(i64::from),
        covered_delta,
        step,
    })
}

/// With honeypots on, gold items only check workers: they reach people as honeypots, maybe
/// never, so they do not hold the task open — unless someone holds one: once the regular work
/// is done, whatever a worker still holds is gold, so a task that completed then would say so.
fn uses_honeypots(task: &TaskRecord) -> bool {
    task.spec.honeypot_rate > 0.0
}

/// Moves the task to the status its items imply (completed once every result is approved).
/// `known_unfinished` spares the look-up when the caller just left an item unfinished: this
/// runs on every label, and the scan is the one part that grows with the task.
pub async fn update_status(
    tx: &mut Tx,
    task: &TaskRecord,
    known_unfinished: bool,
    now: i64,
) -> ApiResult<()> {
    let unfinished =
        known_unfinished || store::any_unfinished(tx, task.id, uses_honeypots(task), now).await?;
    let (items, approved) = if unfinished { (1, 0) } else { (1, 1) };
    let next = task.status.derived(true, items, approved);
    if next != task.status {
        crate::store::tasks::set_status(tx, task.id, next, None).await?;
    }
    Ok(())
}

/// Who decides, and which step they think the item is in (`None`: wherever it is).
#[derive(Debug, Clone, Copy)]
pub struct Decider {
    /// The reviewer's user id.
    pub id: i64,
    /// Whether they manage the task's project (managers decide in every step).
    pub manager: bool,
    /// The step the decision is meant for; a different current step is a 409 `wrong_step`.
    pub step: Option<i64>,
}

/// A reviewer's decision. Approve makes the result final, or in a workflow passes the item to
/// its next step; with a corrected answer (`value`), that answer is the reviewer's own, kept
/// with the decision, and becomes the result. Reject sends the item back to each annotator
/// still on the task, with the comment, and their labels stop counting (in a workflow, back to
/// the labeling step).
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    tx: &mut Tx,
    task: &TaskRecord,
    who: Decider,
    item: ItemId,
    decision: Decision,
    comment: Option<&str>,
    value: Option<&LabelValue>,
    now: i64,
) -> Result<(), ApiError> {
    let reviewer = who.id;
    // The item's row is locked before its labels are read: a label on it waits, and routes the
    // item again after this decision (claims do not lock the task).
    let Some(current) = store::lock_result(tx, task.id, item.0).await? else {
        return Err(ApiError::not_found("item in this task"));
    };
    // `task` was read before the wait for that row, which may have been an archive's.
    if crate::store::tasks::archived(&mut *tx, task.id).await? {
        return Err(ApiError::conflict("the task is archived").with_code(ErrorCode::TaskClosed));
    }
    let step = current.step;
    workflow::check_decision(task, reviewer, who.manager, step, who.step)?;
    let annotators: Vec<WorkerId> = store::labelers(tx, task.id, item.0)
        .await?
        .into_iter()
        .map(WorkerId)
        .collect();
    if annotators.is_empty() {
        return Err(ApiError::conflict("the item has no labels to review")
            .with_code(ErrorCode::NothingToReview));
    }
    if current.state == ResultState::Rejected {
        return Err(
            ApiError::conflict("the item was rejected and waits for rework")
                .with_code(ErrorCode::AlreadyDecided),
        );
    }
    if let Some(v) = value {
        // The same rule as an annotator's answer: the task's schema, shapes inside the image.
        let image = super::items::image_size(tx, item.0, v).await?;
        task.spec
            .schema
            .validate_value_in(v, image)
            .map_err(|e| ApiError::validation(e.to_string()).with_code(ErrorCode::InvalidLabel))?;
        store::correct(tx, task.id, item.0, &serde_json::to_string(v)?).await?;
    }
    match decision {
        Decision::Approve => {
            // Approving a tie would make the tie-break's pick the result: the reviewer picks or
            // corrects instead (a correction made in an earlier step is a decided result).
            let decided = value.is_some() || current.method.as_deref() == Some("review");
            if !decided && tied(tx, task, item).await? {
                return Err(ApiError::conflict(
                    "the answers tie: take one of them (keys 1–9) or correct the label, then approve",
                )
                .with_code(ErrorCode::NoConsensus));
            }
            let (next, state) = workflow::after_pass(task, item, step, ResultState::Approved);
            store::set_state(tx, task.id, item.0, state, next).await?;
        }
        Decision::Reject => {
            let comment = comment
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    ApiError::validation("a rejection needs a comment for the annotator")
                        .with_code(ErrorCode::CommentRequired)
                })?;
            let still: Vec<WorkerId> = if task.spec.assignees.is_empty() {
                annotators.clone()
            } else {
                task.spec.assignees.clone()
            };
            store::reject(tx, task.id, item.0, workflow::after_reject(task, step)).await?;
            for (worker, to) in annotators
                .iter()
                .zip(rules::rework_after_reject(&annotators, &still))
            {
                let back = match to {
                    Rework::Annotator { .. } => SendBack {
                        worker: worker.0,
                        to: SeatState::Rework,
                        comment: Some(comment),
                        reviewer,
                    },
                    Rework::Queue => SendBack {
                        worker: worker.0,
                        to: SeatState::Released,
                        comment: None,
                        reviewer,
                    },
                };
                store::send_back(tx, task.id, item.0, &back).await?;
            }
        }
    }
    let review = NewReview {
        task_id: task.id,
        item_id: item.0,
        reviewer,
        approve: decision == Decision::Approve,
        comment,
        value: value.map(serde_json::to_string).transpose()?,
        at: now,
    };
    store::insert(tx, &review).await?;
    update_status(tx, task, false, now).await
}

/// Re-derives a task's status when a worker finds no work. Held honeypots kept it open (see
/// [`uses_honeypots`]), and once their leases end nothing else would complete it. And labels
/// on one task no longer take turns: the last two, on different items, may each see the
/// other's item unfinished, so neither completes the task; the next worker to look does.
pub async fn settle_status(tx: &mut Tx, task: &TaskRecord, now: i64) -> ApiResult<()> {
    if task.status == TaskStatus::InProgress {
        update_status(tx, task, false, now).await?;
    }
    Ok(())
}

/// `my_review` of `/me/tasks` for a task without workflow steps: when the caller reviews it,
/// the items waiting for a decision, in the same shape as a workflow's (one step, `review`).
pub async fn my_review(
    state: &AppState,
    caller: &Caller,
    task: &TaskRecord,
) -> ApiResult<Option<Vec<StepWaiting>>> {
    if matches!(
        task.spec.review_strategy,
        quorum_core::strategy::ReviewStrategy::None
    ) || !task.has_reviewer(caller.id)
    {
        return Ok(None);
    }
    let roles = super::auth::roles(state, caller, task.project_id).await?;
    if !roles.contains(&super::auth::Role::Reviewer) {
        return Ok(None);
    }
    let waiting = store::waiting(&mut state.db.scan(), task.id, 0).await?;
    Ok(Some(vec![StepWaiting {
        step: 0,
        name: "review".into(),
        kind: StepKind::Review,
        waiting,
    }]))
}

/// `GET /tasks/{id}/review-queue` query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Only items whose labels disagree.
    #[serde(default)]
    disagreements_only: bool,
    /// At most this many items (1–500, default 50).
    limit: Option<u32>,
    /// A workflow step (default: every step the caller decides in).
    step: Option<i64>,
}

/// Where an item waits in a workflow: both fields are absent for tasks without steps.
#[derive(Serialize, ToSchema)]
pub struct StepPlace {
    /// The step's index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<i64>,
    /// The step's name (null once the item finished the workflow).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub step_name: Option<Option<String>>,
}

impl StepPlace {
    /// The item's place, named only for a task with steps.
    fn of(task: &TaskRecord, step: i64) -> StepPlace {
        let steps = workflow::has_steps(task);
        StepPlace {
            step: steps.then_some(step),
            step_name: steps.then(|| workflow::step_name(task, step).map(str::to_owned)),
        }
    }
}

/// One active label in the review queue.
#[derive(Serialize, ToSchema)]
pub struct QueueLabel {
    pub annotation_id: i64,
    pub worker_id: i64,
    /// Empty once the user is gone.
    pub worker_name: String,
    #[schema(value_type = Object)]
    pub value: Value,
    /// Whether it came after its lease ended.
    pub late: bool,
}

/// The consensus so far.
#[derive(Serialize, ToSchema)]
pub struct QueueConsensus {
    #[schema(value_type = Object)]
    pub value: Value,
    pub confidence: Option<f64>,
}

/// An item waiting for a reviewer.
#[derive(Serialize, ToSchema)]
pub struct QueueItem {
    pub item_id: i64,
    #[schema(value_type = Object)]
    pub data: Value,
    pub labels: Vec<QueueLabel>,
    /// The share of the most common answer (null without labels).
    pub agreement: Option<f64>,
    pub consensus: QueueConsensus,
    #[serde(flatten)]
    pub place: StepPlace,
}

/// The review queue.
#[derive(Serialize, ToSchema)]
pub struct QueueAnswer {
    pub items: Vec<QueueItem>,
}

/// Every active label of the item, with the share of the most common answer.
async fn labels_of(
    state: &AppState,
    task_id: i64,
    item: i64,
) -> ApiResult<(Vec<QueueLabel>, Option<f64>)> {
    let rows = store::labels(&mut state.db.scan(), task_id, item).await?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        *counts.entry(r.consensus_key.as_str()).or_default() += 1;
    }
    let agreement =
        (!rows.is_empty()).then(|| *counts.values().max().unwrap_or(&0) as f64 / rows.len() as f64);
    let labels = rows
        .into_iter()
        .map(|r| QueueLabel {
            annotation_id: r.annotation_id,
            worker_id: r.worker_id,
            worker_name: r.worker_name.unwrap_or_default(),
            value: r.value,
            late: r.late,
        })
        .collect();
    Ok((labels, agreement))
}

/// Items waiting for a reviewer, least confident first.
///
/// Who may call: the task's reviewers (or a step's people) and the project's managers.
#[utoipa::path(
    get,
    path = "/tasks/{id}/review-queue",
    tag = "review",
    params(("id" = i64, Path, description = "The task"), QueueQuery),
    responses(
        (status = 200, description = "Items waiting for a reviewer, least confident first", body = QueueAnswer),
        (status = 400, description = "A bad step or parameter", body = ErrorBody),
        NoToken,
        (status = 403, description = "Not a reviewer of the task or of the step", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 422, description = "A step the task does not have", body = ErrorBody),
    )
)]
pub async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Query(q): Query<QueueQuery>,
) -> ApiResult<Json<QueueAnswer>> {
    let a = tasks::access(&state, &caller, task_id).await?;
    if !(a.reviewer || a.manager) {
        return Err(ApiError::forbidden(
            "only the task's reviewers see its review queue",
        ));
    }
    let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 500));
    let steps = workflow::queue_steps(&a.task, caller.id, a.manager, q.step)?;
    if steps.is_empty() {
        return Ok(Json(QueueAnswer { items: Vec::new() }));
    }
    // Least confident consensus first (within a priority), so reviewers start where the crowd is
    // least sure.
    let waiting = store::queue(&mut state.db.scan(), task_id, &steps, limit).await?;
    let mut items = Vec::new();
    for w in waiting {
        let (labels, agreement) = labels_of(&state, task_id, w.item_id).await?;
        if q.disagreements_only && agreement.is_some_and(|a| a >= 1.0) {
            continue;
        }
        items.push(QueueItem {
            item_id: w.item_id,
            data: w.data,
            labels,
            agreement,
            consensus: QueueConsensus {
                value: w.result,
                confidence: w.confidence,
            },
            place: StepPlace::of(&a.task, w.step),
        });
    }
    Ok(Json(QueueAnswer { items }))
}

/// A reviewer's decision on one item.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// `approve` or `reject`.
    #[schema(value_type = String)]
    decision: Decision,
    /// Required to reject: what the annotator should change.
    #[serde(default)]
    comment: Option<String>,
    /// The workflow step the decision is for (refused if the item is elsewhere by now).
    #[serde(default)]
    step: Option<i64>,
    /// The reviewer's corrected answer (approve only): it becomes the item's result.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    value: Option<LabelValue>,
}

/// The item after a decision.
#[derive(Serialize, ToSchema)]
pub struct DecisionAnswer {
    pub item_id: i64,
    /// Its result state now.
    #[schema(value_type = String)]
    pub state: ResultState,
    #[serde(flatten)]
    pub place: StepPlace,
}

/// Approve or reject an item's result (approve may correct the answer).
///
/// Who may call: the task's reviewers (or the item's step's people) and the project's managers.
#[utoipa::path(
    post,
    path = "/tasks/{id}/items/{item_id}/review",
    tag = "review",
    params(("id" = i64, Path, description = "The task"), ("item_id" = i64, Path, description = "The item")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "The decision was recorded", body = DecisionAnswer),
        (status = 400, description = "A malformed body", body = ErrorBody),
        NoToken,
        (status = 403, description = "Not a reviewer of the task or of the item's step", body = ErrorBody),
        (status = 404, description = "No such task, or the item is not in it", body = ErrorBody),
        (status = 409, description = "Nothing to review, already decided, a tie, the item is in another step, or the task is archived (`task_closed`)", body = ErrorBody),
        (status = 422, description = "A rejection without a comment, a correction on a rejection, or an invalid label", body = ErrorBody),
    )
)]
pub async fn decide_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((task_id, item)): Path<(i64, i64)>,
    Body(body): Body<DecisionBody>,
) -> ApiResult<Json<DecisionAnswer>> {
    let a = tasks::access(&state, &caller, task_id).await?;
    if !(a.reviewer || a.manager) {
        return Err(ApiError::forbidden("only the task's reviewers review it"));
    }
    // The rule `/sync` applies to the same decision (the core's), before anything is read.
    sync::check_review(body.decision, body.comment.as_deref(), body.value.is_some()).map_err(|e| {
        ApiError::validation(e.message.clone())
            .with_code(ErrorCode::from_core(e.code))
            .with_details(json!([{"field": if e.code == "correction_not_rejection" { "value" } else { "comment" }, "message": e.message}]))
    })?;
    let now = clock::now().0;
    let mut w = state.db.claim().await?;
    let task = tasks::in_claim(&mut w, task_id).await?;
    let who = Decider {
        id: caller.id,
        manager: a.manager,
        step: body.step,
    };
    decide(
        &mut w,
        &task,
        who,
        ItemId(item),
        body.decision,
        body.comment.as_deref(),
        body.value.as_ref(),
        now,
    )
    .await?;
    let (result, step) = store::state_and_step(&mut w, task_id, item).await?;
    w.commit().await?;
    Ok(Json(DecisionAnswer {
        item_id: item,
        state: result,
        place: StepPlace::of(&task, step),
    }))
}

/// A page of results: `limit` items (default and cap below) after the item id `cursor`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResultsQuery {
    /// Items per page (1–10,000, default 1,000).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<i64>,
}

/// Results per page unless asked otherwise; a million-item task is read page by page.
const RESULTS_PAGE: i64 = 1_000;
/// The largest page a caller may ask for.
const RESULTS_PAGE_MAX: i64 = 10_000;

/// One item's result.
#[derive(Serialize, ToSchema)]
pub struct ResultRow {
    pub item_id: i64,
    pub external_id: Option<String>,
    #[schema(value_type = String)]
    pub state: ResultState,
    /// The answer (null until there is one).
    #[schema(value_type = Object)]
    pub value: Value,
    pub confidence: Option<f64>,
    /// How the answer was reached: `majority`, `review`, or an aggregation model.
    pub method: Option<String>,
    /// Labels made on the item.
    pub labels: i64,
    /// Its priority in this task.
    pub priority: i64,
    #[serde(flatten)]
    pub place: StepPlace,
}

/// A page of results.
#[derive(Serialize, ToSchema)]
pub struct ResultsPage {
    pub results: Vec<ResultRow>,
    /// The cursor of the next page (null on the last).
    pub next_cursor: Option<String>,
}

/// Each item's result, a page at a time.
///
/// Who may call: the project's managers. Each item's result state, answer, confidence and its
/// priority in this task (which decides when it was served, so a result page can sort by it).
#[utoipa::path(
    get,
    path = "/tasks/{id}/results",
    tag = "review",
    params(("id" = i64, Path, description = "The task"), ResultsQuery),
    responses(
        (status = 200, description = "A page of results, by item id", body = ResultsPage),
        ManagerRefusals,
        (status = 422, description = "A limit out of range", body = ErrorBody),
    )
)]
pub async fn results(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Query(q): Query<ResultsQuery>,
) -> ApiResult<Json<ResultsPage>> {
    let limit = q.limit.unwrap_or(RESULTS_PAGE);
    if !(1..=RESULTS_PAGE_MAX).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit must be between 1 and {RESULTS_PAGE_MAX}"
        )));
    }
    let a = tasks::access(&state, &caller, task_id).await?;
    if !a.manager {
        return Err(ApiError::forbidden(
            "only the project's managers see results",
        ));
    }
    let after = q.cursor.unwrap_or(i64::MIN);
    let mut rows = store::results(&mut state.db.scan(), task_id, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|r| r.item_id.to_string()))
        .flatten();
    let results = rows
        .into_iter()
        .map(|r| ResultRow {
            item_id: r.item_id,
            external_id: r.external_id,
            state: r.state,
            value: r.value,
            confidence: r.confidence,
            method: r.method,
            labels: r.labels,
            priority: r.priority,
            place: StepPlace::of(&a.task, r.step),
        })
        .collect();
    Ok(Json(ResultsPage {
        results,
        next_cursor,
    }))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(queue, decide_endpoint, results))]
pub(crate) struct Doc;
