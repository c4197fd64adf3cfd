//! Review: routing an item's labels to a result (auto-approve, review or wait), the review
//! queue with every label and the agreement, and reviewers' decisions.

use super::auth::Caller;
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, Query};
use super::tasks::{self, TaskRecord};
use super::workflow;
use super::AppState;
use crate::clock;
use crate::db::json_col;
use crate::sql::{self, Tx};
use axum::extract::State;
use axum::Json;
use quorum_core::consensus::online::{self, OverlapDecision};
use quorum_core::ids::{ItemId, WorkerId};
use quorum_core::label::LabelValue;
use quorum_core::lifecycle::TaskStatus;
use quorum_core::review::{self as rules, ResultState, Rework};
use quorum_core::sync::{self, Decision};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::BTreeMap;

fn state_name(s: ResultState) -> &'static str {
    match s {
        ResultState::Pending => "pending",
        ResultState::AutoApproved => "auto_approved",
        ResultState::NeedsReview => "needs_review",
        ResultState::Approved => "approved",
        ResultState::Rejected => "rejected",
    }
}

/// Whether the item's counted answers tie for the most votes.
async fn tied(tx: &mut Tx, task: &TaskRecord, item: ItemId) -> ApiResult<bool> {
    let counts: Vec<i64> = sql::query_scalar(
        "SELECT COUNT(*) FROM annotations WHERE task_id = $1 AND item_id = $2 AND active = 1 \
         AND counted = 1 GROUP BY consensus_key",
    )
    .bind(task.id)
    .bind(item.0)
    .fetch_all(tx)
    .await?;
    let keys: Vec<String> = (0..counts.len()).map(|i| i.to_string()).collect();
    let votes = keys
        .iter()
        .zip(&counts)
        .map(|(k, n)| (k.as_str(), *n as u32));
    Ok(online::majority_of(votes).is_some_and(|m| m.tied))
}

/// Re-decides an item's result after a new label: the online majority vote of the core, and,
/// for tasks with dynamic overlap, how many labels the item should collect now. `current` is
/// the item's result state as read in this transaction; the item's seat count moves by
/// `covered_delta` and its label count by one, in the same statement as the result.
pub async fn reroute(
    tx: &mut Tx,
    task: &TaskRecord,
    item: ItemId,
    current: &str,
    covered_delta: i64,
    now: i64,
) -> ApiResult<()> {
    let votes = sql::query(
        "SELECT consensus_key, MIN(value) AS value, COUNT(*) AS n FROM annotations \
         WHERE task_id = $1 AND item_id = $2 AND active = 1 AND counted = 1 GROUP BY consensus_key",
    )
    .bind(task.id)
    .bind(item.0)
    .fetch_all(tx)
    .await?;
    let mut tally: BTreeMap<String, (u32, String)> = BTreeMap::new();
    for v in &votes {
        let n = v.try_get::<i64>("n")? as u32;
        tally.insert(v.try_get("consensus_key")?, (n, v.try_get("value")?));
    }
    let majority = online::majority_of(tally.iter().map(|(k, (n, _))| (k.as_str(), *n)));
    let (top, collected, confidence) = majority
        .as_ref()
        .map_or((0, 0, None), |m| (m.votes, m.total, Some(m.share)));
    let value = majority.as_ref().map(|m| tally[&m.label].1.clone());
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
    let step: i64 = if workflow::has_steps(task) {
        sql::query_scalar("SELECT step FROM task_items WHERE task_id = $1 AND item_id = $2")
            .bind(task.id)
            .bind(item.0)
            .fetch_one(tx)
            .await?
    } else {
        0
    };
    let routed = if matches!(current, "approved" | "auto_approved") || step > 0 {
        // A late label after approval is kept but does not reopen the result.
        current.to_owned()
    } else {
        state_name(rules::route(
            &task.spec.review_strategy,
            task.spec.seed,
            item,
            top,
            collected,
            target.unwrap_or(task.overlap as u32),
        ))
        .to_owned()
    };
    // Labels the labeling step accepts move on to the workflow's next step.
    // A reviewer's correction (method 'review') stays the result whatever labels come late.
    let (step, routed) = if step == 0 && matches!(routed.as_str(), "approved" | "auto_approved") {
        workflow::after_pass(task, item, 0, &routed)
    } else {
        (step, routed)
    };
    sql::query(
        "UPDATE task_items SET state = $1, result = CASE WHEN method = 'review' THEN result ELSE $2 END, \
         confidence = NULLIF($3, -1.0), target = $4, \
         method = CASE WHEN method = 'review' THEN method ELSE 'majority' END, covered = covered + $7, labeled = labeled + 1, step = $8 WHERE task_id = $5 AND item_id = $6",
    )
    .bind(&routed)
    .bind(value)
    // Never a NULL float: sqlx 0.8's Any driver declares it float4 on PostgreSQL, and the cached
    // statement then refuses the next real confidence. -1 (no confidence is negative) means none.
    .bind(confidence.unwrap_or(-1.0))
    .bind(target.map(i64::from))
    .bind(task.id)
    .bind(item.0)
    .bind(covered_delta)
    .bind(step)
    .execute(tx)
    .await?;
    // An unfinished honeypot says nothing about the task (see `update_status`).
    let this_unfinished =
        !matches!(routed.as_str(), "approved" | "auto_approved") && !uses_honeypots(task);
    update_status(tx, task, this_unfinished, now).await
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
async fn update_status(
    tx: &mut Tx,
    task: &TaskRecord,
    known_unfinished: bool,
    now: i64,
) -> ApiResult<()> {
    // Named states, not NOT IN: each is an index seek, however many items are done.
    let scan = if uses_honeypots(task) {
        "SELECT ti.item_id FROM task_items ti JOIN items i ON i.id = ti.item_id WHERE ti.task_id = $1 \
         AND ti.state IN ('pending', 'needs_review', 'rejected') AND i.gold IS NULL \
         UNION ALL SELECT s.item_id FROM seats s JOIN leases l ON l.id = s.lease_id \
         WHERE s.task_id = $1 AND s.state = 'leased' AND l.expires_at > $2 LIMIT 1"
    } else {
        "SELECT item_id FROM task_items WHERE task_id = $1 AND state IN ('pending', 'needs_review', 'rejected') LIMIT 1"
    };
    let unfinished = known_unfinished || {
        let mut q = sql::query_scalar::<i64>(scan).bind(task.id);
        if uses_honeypots(task) {
            q = q.bind(now);
        }
        q.fetch_optional(tx).await?.is_some()
    };
    let (items, approved) = if unfinished { (1, 0) } else { (1, 1) };
    let next = task.status.derived(true, items, approved);
    if next != task.status {
        sql::query("UPDATE tasks SET status = $1 WHERE id = $2")
            .bind(next.to_string())
            .bind(task.id)
            .execute(tx)
            .await?;
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
    let row = sql::query(format!(
        "SELECT state, step, method FROM task_items WHERE task_id = $1 AND item_id = $2{}",
        tx.lock_rows("task_items")
    ))
    .bind(task.id)
    .bind(item.0)
    .fetch_optional(tx)
    .await?;
    let Some(row) = row else {
        return Err(ApiError::not_found("item in this task"));
    };
    let current: String = row.try_get("state")?;
    let step: i64 = row.try_get("step")?;
    workflow::check_decision(task, reviewer, who.manager, step, who.step)?;
    let annotators: Vec<WorkerId> = sql::query_scalar::<i64>(
        "SELECT worker_id FROM annotations WHERE task_id = $1 AND item_id = $2 AND active = 1 ORDER BY id",
    )
    .bind(task.id)
    .bind(item.0)
    .fetch_all(tx)
    .await?
    .into_iter()
    .map(WorkerId)
    .collect();
    if annotators.is_empty() {
        return Err(ApiError::conflict("the item has no labels to review")
            .with_code(ErrorCode::NothingToReview));
    }
    if current == "rejected" {
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
        sql::query(
            "UPDATE task_items SET result = $1, confidence = NULL, method = 'review' \
             WHERE task_id = $2 AND item_id = $3",
        )
        .bind(serde_json::to_string(v)?)
        .bind(task.id)
        .bind(item.0)
        .execute(tx)
        .await?;
    }
    match decision {
        Decision::Approve => {
            // Approving a tie would make the tie-break's pick the result: the reviewer picks or
            // corrects instead (a correction made in an earlier step is a decided result).
            let decided = value.is_some()
                || row.try_get::<Option<String>>("method")?.as_deref() == Some("review");
            if !decided && tied(tx, task, item).await? {
                return Err(ApiError::conflict(
                    "the answers tie: take one of them (keys 1–9) or correct the label, then approve",
                )
                .with_code(ErrorCode::NoConsensus));
            }
            let (next, state) = workflow::after_pass(task, item, step, "approved");
            sql::query(
                "UPDATE task_items SET state = $1, step = $2 WHERE task_id = $3 AND item_id = $4",
            )
            .bind(state)
            .bind(next)
            .bind(task.id)
            .bind(item.0)
            .execute(tx)
            .await?;
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
            let counted: i64 = sql::query_scalar(
                "SELECT COUNT(*) FROM annotations WHERE task_id = $1 AND item_id = $2 AND active = 1 AND counted = 1",
            )
            .bind(task.id)
            .bind(item.0)
            .fetch_one(tx)
            .await?;
            sql::query("UPDATE annotations SET active = 0 WHERE task_id = $1 AND item_id = $2 AND active = 1")
                .bind(task.id)
                .bind(item.0)
                .execute(tx)
                .await?;
            for (worker, to) in annotators
                .iter()
                .zip(rules::rework_after_reject(&annotators, &still))
            {
                let next = match to {
                    Rework::Annotator { .. } => "rework",
                    Rework::Queue => "released",
                };
                sql::query(
                    "UPDATE seats SET state = $1, lease_id = NULL, rework_comment = $2, rework_by = $3 \
                     WHERE task_id = $4 AND item_id = $5 AND worker_id = $6",
                )
                .bind(next)
                .bind((next == "rework").then_some(comment))
                .bind(reviewer)
                .bind(task.id)
                .bind(item.0)
                .bind(worker.0)
                .execute(tx)
                .await?;
            }
            sql::query(
                "UPDATE task_items SET state = 'rejected', covered = covered - $1, labeled = 0, result = NULL, \
                 confidence = NULL, step = $4 WHERE task_id = $2 AND item_id = $3",
            )
            .bind(counted)
            .bind(task.id)
            .bind(item.0)
            .bind(workflow::after_reject(task, step))
            .execute(tx)
            .await?;
        }
    }
    sql::query(
        "INSERT INTO reviews (task_id, item_id, reviewer_id, decision, comment, value, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(task.id)
    .bind(item.0)
    .bind(reviewer)
    .bind(match decision {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
    })
    .bind(comment.map(str::to_owned))
    .bind(value.map(serde_json::to_string).transpose()?)
    .bind(now)
    .execute(tx)
    .await?;
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
) -> ApiResult<Option<Value>> {
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
    let waiting: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM task_items WHERE task_id = $1 AND step = 0 AND state = 'needs_review'",
    )
    .bind(task.id)
    .fetch_one(state.db.pool())
    .await?;
    Ok(Some(
        json!([{"step": 0, "name": "review", "kind": "review", "waiting": waiting}]),
    ))
}

#[derive(Deserialize)]
pub struct QueueQuery {
    #[serde(default)]
    disagreements_only: bool,
    limit: Option<u32>,
    /// A workflow step (default: every step the caller decides in).
    step: Option<i64>,
}

/// Every active label of each item, with the share of the most common answer.
async fn labels_of(
    state: &AppState,
    task_id: i64,
    item: i64,
) -> ApiResult<(Vec<Value>, Option<f64>)> {
    let rows = sqlx::query(
        "SELECT a.id, a.worker_id, u.name, a.value, a.consensus_key, a.late FROM annotations a \
         LEFT JOIN users u ON u.id = a.worker_id WHERE a.task_id = $1 AND a.item_id = $2 AND a.active = 1 ORDER BY a.id",
    )
    .bind(task_id)
    .bind(item)
    .fetch_all(state.db.pool())
    .await?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let labels = rows
        .iter()
        .map(|r| {
            *counts.entry(r.try_get::<String, _>("consensus_key").unwrap_or_default()).or_default() += 1;
            json!({
                "annotation_id": r.try_get::<i64, _>("id").unwrap_or_default(),
                "worker_id": r.try_get::<i64, _>("worker_id").unwrap_or_default(),
                "worker_name": r.try_get::<Option<String>, _>("name").ok().flatten().unwrap_or_default(),
                "value": json_col(r, "value"),
                "late": r.try_get::<i64, _>("late").unwrap_or_default() != 0,
            })
        })
        .collect::<Vec<_>>();
    let agreement =
        (!rows.is_empty()).then(|| *counts.values().max().unwrap_or(&0) as f64 / rows.len() as f64);
    Ok((labels, agreement))
}

/// `GET /tasks/{id}/review-queue` (reviewers and managers): least confident first.
pub async fn queue(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Query(q): Query<QueueQuery>,
) -> ApiResult<Json<Value>> {
    let a = tasks::access(&state, &caller, task_id).await?;
    if !(a.reviewer || a.manager) {
        return Err(ApiError::forbidden(
            "only the task's reviewers see its review queue",
        ));
    }
    let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 500));
    let steps = workflow::queue_steps(&a.task, caller.id, a.manager, q.step)?;
    if steps.is_empty() {
        return Ok(Json(json!({ "items": [] })));
    }
    // Least confident consensus first (within a priority), so reviewers start where the crowd is
    // least sure; items with no confidence (2 sorts after any) keep their order after them. The
    // COALESCE also keeps NULLs in the same place on SQLite and PostgreSQL.
    let rows = sqlx::query(&format!(
        "SELECT ti.item_id, ti.result, ti.confidence, ti.step, i.data FROM task_items ti JOIN items i ON i.id = ti.item_id \
         WHERE ti.task_id = $1 AND ti.state = 'needs_review' AND ti.step IN ({}) \
         ORDER BY ti.priority DESC, COALESCE(ti.confidence, 2.0), ti.order_key, ti.item_id LIMIT $2",
        steps.iter().map(i64::to_string).collect::<Vec<_>>().join(", ")
    ))
    .bind(task_id)
    .bind(limit)
    .fetch_all(state.db.pool())
    .await?;
    let mut items = Vec::new();
    for r in &rows {
        let item: i64 = r.try_get("item_id")?;
        let (labels, agreement) = labels_of(&state, task_id, item).await?;
        if q.disagreements_only && agreement.is_some_and(|a| a >= 1.0) {
            continue;
        }
        let mut entry = json!({
            "item_id": item,
            "data": json_col(r, "data"),
            "labels": labels,
            "agreement": agreement,
            "consensus": {"value": json_col(r, "result"), "confidence": r.try_get::<Option<f64>, _>("confidence")?},
        });
        if workflow::has_steps(&a.task) {
            let step: i64 = r.try_get("step")?;
            entry["step"] = json!(step);
            entry["step_name"] = json!(workflow::step_name(&a.task, step));
        }
        items.push(entry);
    }
    Ok(Json(json!({ "items": items })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    decision: Decision,
    #[serde(default)]
    comment: Option<String>,
    /// The workflow step the decision is for (refused if the item is elsewhere by now).
    #[serde(default)]
    step: Option<i64>,
    /// The reviewer's corrected answer (approve only): it becomes the item's result.
    #[serde(default)]
    value: Option<LabelValue>,
}

/// `POST /tasks/{id}/items/{item_id}/review` (reviewers and managers).
pub async fn decide_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    Path((task_id, item)): Path<(i64, i64)>,
    Body(body): Body<DecisionBody>,
) -> ApiResult<Json<Value>> {
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
    let now_row =
        sql::query("SELECT state, step FROM task_items WHERE task_id = $1 AND item_id = $2")
            .bind(task_id)
            .bind(item)
            .fetch_one(&mut w)
            .await?;
    w.commit().await?;
    let mut out = json!({"item_id": item, "state": now_row.try_get::<String>("state")?});
    if workflow::has_steps(&task) {
        let step: i64 = now_row.try_get("step")?;
        out["step"] = json!(step);
        out["step_name"] = json!(workflow::step_name(&task, step));
    }
    Ok(Json(out))
}

/// `GET /tasks/{id}/results` (managers): each item's result state, answer, confidence and its
/// priority in this task (which decides when it was served, so a result page can sort by it).
/// A page of results: `limit` items (default and cap below) after the item id `cursor`.
#[derive(Deserialize)]
pub struct ResultsQuery {
    limit: Option<i64>,
    cursor: Option<i64>,
}

/// Results per page unless asked otherwise; a million-item task is read page by page.
const RESULTS_PAGE: i64 = 1_000;
/// The largest page a caller may ask for.
const RESULTS_PAGE_MAX: i64 = 10_000;

pub async fn results(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Query(q): Query<ResultsQuery>,
) -> ApiResult<Json<Value>> {
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
    let rows = sqlx::query(
        "SELECT ti.item_id, i.external_id, ti.state, ti.result, ti.confidence, ti.method, ti.labeled, ti.priority, ti.step FROM task_items ti \
         JOIN items i ON i.id = ti.item_id WHERE ti.task_id = $1 AND ti.item_id > $2 \
         ORDER BY ti.item_id LIMIT $3",
    )
    .bind(task_id)
    .bind(q.cursor.unwrap_or(i64::MIN))
    .bind(limit + 1)
    .fetch_all(state.db.pool())
    .await?;
    let more = rows.len() as i64 > limit;
    let out: Vec<Value> = rows
        .iter()
        .take(limit as usize)
        .map(|r| {
            let mut v = json!({
                "item_id": r.try_get::<i64, _>("item_id").unwrap_or_default(),
                "external_id": r.try_get::<Option<String>, _>("external_id").ok().flatten(),
                "state": r.try_get::<String, _>("state").unwrap_or_default(),
                "value": json_col(r, "result"),
                "confidence": r.try_get::<Option<f64>, _>("confidence").ok().flatten(),
                "method": r.try_get::<Option<String>, _>("method").ok().flatten(),
                "labels": r.try_get::<i64, _>("labeled").unwrap_or_default(),
                "priority": r.try_get::<i64, _>("priority").unwrap_or_default(),
            });
            if workflow::has_steps(&a.task) {
                let step = r.try_get::<i64, _>("step").unwrap_or_default();
                v["step"] = json!(step);
                v["step_name"] = json!(workflow::step_name(&a.task, step));
            }
            v
        })
        .collect();
    let next_cursor = more
        .then(|| out.last().map(|r| r["item_id"].to_string()))
        .flatten();
    Ok(Json(json!({ "results": out, "next_cursor": next_cursor })))
}
