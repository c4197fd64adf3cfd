//! Results and reviews: an item's result in a task (`task_items`: state, answer, confidence,
//! step), the labels a reviewer weighs, reviewers' decisions (`reviews`) and what a decision
//! does to labels and seats. The rules (routing, rework, steps) are the core's, applied by
//! `api::review`; these are their statements.

use crate::sql::{self, Row, Runner, Tx};
use crate::store::decode::value_or_null as json;
use crate::store::seat_state::SeatState;
use quorum_core::review::ResultState;
use serde_json::Value;
use std::sync::LazyLock;

/// A result state as stored (`task_items.state`); a name that is not one is a decode error.
pub fn parse_state(stored: &str) -> sqlx::Result<ResultState> {
    ResultState::parse(stored)
        .map_err(|e| sqlx::Error::Decode(format!("task_items.state: {e}").into()))
}

/// The approved result states as a SQL list (`'auto_approved', 'approved'`), for `IN (…)`:
/// [`ResultState::is_approved`] decides, so the statements and the core agree.
pub fn approved_sql() -> String {
    ResultState::ALL
        .iter()
        .filter(|s| s.is_approved())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn result_state(r: &Row, col: &str) -> sqlx::Result<ResultState> {
    parse_state(&r.try_get::<String>(col)?)
}

/// One answer among an item's counted labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    /// The answer's consensus key.
    pub key: String,
    /// One label's stored value with that key.
    pub value: String,
    /// How many counted labels give it.
    pub n: i64,
}

/// The item's active, counted labels grouped by answer.
pub async fn votes(tx: &mut impl Runner, task_id: i64, item_id: i64) -> sqlx::Result<Vec<Vote>> {
    sql::query(
        "SELECT consensus_key, MIN(value) AS value, COUNT(*) AS n FROM annotations \
         WHERE task_id = $1 AND item_id = $2 AND active = 1 AND counted = 1 GROUP BY consensus_key",
    )
    .bind(task_id)
    .bind(item_id)
    .fetch_all(tx)
    .await?
    .iter()
    .map(|r| {
        Ok(Vote {
            key: r.try_get("consensus_key")?,
            value: r.try_get("value")?,
            n: r.try_get("n")?,
        })
    })
    .collect()
}

/// The workflow step the item waits in.
pub async fn step(tx: &mut impl Runner, task_id: i64, item_id: i64) -> sqlx::Result<i64> {
    sql::query_scalar("SELECT step FROM task_items WHERE task_id = $1 AND item_id = $2")
        .bind(task_id)
        .bind(item_id)
        .fetch_one(tx)
        .await
}

/// An item's result after a new label, as routing decided it.
#[derive(Debug, Clone)]
pub struct Routed {
    /// Its state.
    pub state: ResultState,
    /// The majority's answer (kept when a reviewer's correction is the result).
    pub value: Option<String>,
    /// The majority's share.
    pub confidence: Option<f64>,
    /// Labels to collect (dynamic overlap), else none.
    pub target: Option<i64>,
    /// The change in the item's held seats and counted labels.
    pub covered_delta: i64,
    /// The step it waits in.
    pub step: i64,
}

/// Stores a routed result; the item's label count grows by one in the same statement. On
/// PostgreSQL it is sent with the claim's next statement (see [`sql::Query::execute_deferred`]).
pub async fn record_route(
    tx: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    routed: &Routed,
) -> sqlx::Result<()> {
    static ONE: LazyLock<String> = LazyLock::new(|| {
        let set = route_set(["$1", "$2", "$3", "$4", "$7", "$8"]);
        format!("UPDATE task_items AS ti SET {set} WHERE task_id = $5 AND item_id = $6")
    });
    sql::query(ONE.as_str())
        .bind(routed.state.as_str())
        .bind(routed.value.clone())
        // Never a NULL float: sqlx 0.8's Any driver declares it float4 on PostgreSQL, and the cached
        // statement then refuses the next real confidence. -1 (no confidence is negative) means none.
        .bind(routed.confidence.unwrap_or(-1.0))
        .bind(routed.target)
        .bind(task_id)
        .bind(item_id)
        .bind(routed.covered_delta)
        .bind(routed.step)
        .execute_deferred(tx)
        .await
}

/// The `SET` clause storing an item's new result (of `task_items AS ti`), from SQL expressions
/// for its state, result, confidence (-1: none), target, seat count change and step: one text
/// for an item alone and many. A reviewer's correction (method 'review') stays the result
/// whatever labels come late.
fn route_set([state, result, confidence, target, covered_delta, step]: [&str; 6]) -> String {
    format!(
        "state = {state}, result = CASE WHEN ti.method = 'review' THEN ti.result ELSE {result} END, \
         confidence = NULLIF({confidence}, -1.0), target = {target}, \
         method = CASE WHEN ti.method = 'review' THEN ti.method ELSE 'majority' END, \
         covered = ti.covered + {covered_delta}, labeled = ti.labeled + 1, step = {step}"
    )
}

/// [`record_route`] for several items in one statement (PostgreSQL), sent with the claim's
/// next statement: each item's row, locked, is found by its address (`ctid`, as text).
pub async fn record_routes(tx: &mut Tx, routes: &[(&str, &Routed)]) -> sqlx::Result<()> {
    use crate::pg_array::{ints, texts};
    if routes.is_empty() {
        return Ok(());
    }
    let confidences: Vec<String> = routes
        .iter()
        .map(|(_, r)| r.confidence.unwrap_or(-1.0).to_string())
        .collect();
    let targets: Vec<Option<String>> = routes
        .iter()
        .map(|(_, r)| r.target.map(|t| t.to_string()))
        .collect();
    static MANY: LazyLock<String> = LazyLock::new(|| {
        let set = route_set([
            "r.state",
            "r.result",
            "r.confidence",
            "r.target",
            "r.covered_delta",
            "r.step",
        ]);
        format!(
            "UPDATE task_items AS ti SET {set} \
             FROM unnest($1::tid[], $2::text[], $3::text[], $4::float8[], $5::bigint[], \
             $6::bigint[], $7::bigint[]) AS r(row_at, state, result, confidence, target, \
             covered_delta, step) WHERE ti.ctid = ANY($1::tid[]) AND ti.ctid = r.row_at"
        )
    });
    sql::query(MANY.as_str())
        .bind(texts(routes.iter().map(|(row, _)| Some(*row))))
        .bind(texts(routes.iter().map(|(_, r)| Some(r.state.as_str()))))
        .bind(texts(routes.iter().map(|(_, r)| r.value.as_deref())))
        .bind(texts(confidences.iter().map(|c| Some(c.as_str()))))
        .bind(texts(targets.iter().map(|t| t.as_deref())))
        .bind(ints(routes.iter().map(|(_, r)| r.covered_delta)))
        .bind(ints(routes.iter().map(|(_, r)| r.step)))
        .execute_deferred(tx)
        .await
}

/// Whether any of the task's items is unfinished. With `honeypots`, gold items count only
/// while someone holds one under a live lease (at `now`).
pub async fn any_unfinished(
    tx: &mut impl Runner,
    task_id: i64,
    honeypots: bool,
    now: i64,
) -> sqlx::Result<bool> {
    // Named states, not NOT IN: each is an index seek, however many items are done.
    let open = [
        ResultState::Pending,
        ResultState::NeedsReview,
        ResultState::Rejected,
    ]
    .map(|s| format!("'{}'", s.as_str()))
    .join(", ");
    let found: Option<i64> = if honeypots {
        sql::query_scalar(format!(
            "SELECT ti.item_id FROM task_items ti JOIN items i ON i.id = ti.item_id WHERE ti.task_id = $1 \
             AND ti.state IN ({open}) AND i.gold IS NULL \
             UNION ALL SELECT s.item_id FROM seats s JOIN leases l ON l.id = s.lease_id \
             WHERE s.task_id = $1 AND s.state = {leased} AND l.expires_at > $2 LIMIT 1",
            leased = SeatState::Leased.sql()
        ))
        .bind(task_id)
        .bind(now)
        .fetch_optional(tx)
        .await?
    } else {
        sql::query_scalar(format!(
            "SELECT item_id FROM task_items WHERE task_id = $1 AND state IN ({open}) LIMIT 1"
        ))
        .bind(task_id)
        .fetch_optional(tx)
        .await?
    };
    Ok(found.is_some())
}

/// An item's result as a decision finds it.
#[derive(Debug, Clone)]
pub struct Decided {
    /// Its state.
    pub state: ResultState,
    /// The step it waits in.
    pub step: i64,
    /// How the result was reached (`review`: a reviewer's correction).
    pub method: Option<String>,
}

/// The item's result in the task, its row locked until the claim ends (PostgreSQL), so a label
/// on it waits and routes the item again after the decision.
pub async fn lock_result(tx: &mut Tx, task_id: i64, item_id: i64) -> sqlx::Result<Option<Decided>> {
    let row = sql::query(format!(
        "SELECT state, step, method FROM task_items WHERE task_id = $1 AND item_id = $2{}",
        tx.lock_rows("task_items")
    ))
    .bind(task_id)
    .bind(item_id)
    .fetch_optional(tx)
    .await?;
    row.map(|r| {
        Ok(Decided {
            state: result_state(&r, "state")?,
            step: r.try_get("step")?,
            method: r.try_get("method")?,
        })
    })
    .transpose()
}

/// The state and step of the item in the task.
pub async fn state_and_step(
    on: &mut impl Runner,
    task_id: i64,
    item_id: i64,
) -> sqlx::Result<(ResultState, i64)> {
    let r = sql::query("SELECT state, step FROM task_items WHERE task_id = $1 AND item_id = $2")
        .bind(task_id)
        .bind(item_id)
        .fetch_one(on)
        .await?;
    Ok((result_state(&r, "state")?, r.try_get("step")?))
}

/// The workers of the item's active labels, in label order.
pub async fn labelers(tx: &mut impl Runner, task_id: i64, item_id: i64) -> sqlx::Result<Vec<i64>> {
    sql::query_scalar(
        "SELECT worker_id FROM annotations WHERE task_id = $1 AND item_id = $2 AND active = 1 ORDER BY id",
    )
    .bind(task_id)
    .bind(item_id)
    .fetch_all(tx)
    .await
}

/// Makes a reviewer's answer (`value`, JSON) the item's result.
pub async fn correct(
    tx: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    value: &str,
) -> sqlx::Result<()> {
    sql::query(
        "UPDATE task_items SET result = $1, confidence = NULL, method = 'review' \
         WHERE task_id = $2 AND item_id = $3",
    )
    .bind(value)
    .bind(task_id)
    .bind(item_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Moves the item to `state` in `step`.
pub async fn set_state(
    tx: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    state: ResultState,
    step: i64,
) -> sqlx::Result<()> {
    sql::query("UPDATE task_items SET state = $1, step = $2 WHERE task_id = $3 AND item_id = $4")
        .bind(state.as_str())
        .bind(step)
        .bind(task_id)
        .bind(item_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Rejects the item's result: its active labels stop counting and it waits in `step` for
/// rework, with no answer. Returns how many of its labels counted.
pub async fn reject(
    tx: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    step: i64,
) -> sqlx::Result<i64> {
    let counted: i64 = sql::query_scalar(
        "SELECT COUNT(*) FROM annotations WHERE task_id = $1 AND item_id = $2 AND active = 1 AND counted = 1",
    )
    .bind(task_id)
    .bind(item_id)
    .fetch_one(&mut *tx)
    .await?;
    sql::query(
        "UPDATE annotations SET active = 0 WHERE task_id = $1 AND item_id = $2 AND active = 1",
    )
    .bind(task_id)
    .bind(item_id)
    .execute(&mut *tx)
    .await?;
    sql::query(format!(
        "UPDATE task_items SET state = '{}', covered = covered - $1, labeled = 0, result = NULL, \
         confidence = NULL, step = $4 WHERE task_id = $2 AND item_id = $3",
        ResultState::Rejected.as_str()
    ))
    .bind(counted)
    .bind(task_id)
    .bind(item_id)
    .bind(step)
    .execute(tx)
    .await?;
    Ok(counted)
}

/// Where a rejected label's seat goes: back to its worker with the comment, or to the queue.
pub struct SendBack<'a> {
    /// The seat's worker.
    pub worker: i64,
    /// [`SeatState::Rework`] or [`SeatState::Released`].
    pub to: SeatState,
    /// The reviewer's comment, for rework.
    pub comment: Option<&'a str>,
    /// Who rejected.
    pub reviewer: i64,
}

/// Moves a rejected label's seat (see [`SendBack`]).
pub async fn send_back(
    tx: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    back: &SendBack<'_>,
) -> sqlx::Result<()> {
    sql::query(
        "UPDATE seats SET state = $1, lease_id = NULL, rework_comment = $2, rework_by = $3 \
         WHERE task_id = $4 AND item_id = $5 AND worker_id = $6",
    )
    .bind(back.to.as_str())
    .bind(back.comment)
    .bind(back.reviewer)
    .bind(task_id)
    .bind(item_id)
    .bind(back.worker)
    .execute(tx)
    .await?;
    Ok(())
}

/// A reviewer's decision, as kept.
pub struct NewReview<'a> {
    /// The task.
    pub task_id: i64,
    /// The item.
    pub item_id: i64,
    /// Who decided.
    pub reviewer: i64,
    /// `true`: approve; `false`: reject.
    pub approve: bool,
    /// Their comment.
    pub comment: Option<&'a str>,
    /// Their corrected answer (JSON).
    pub value: Option<String>,
    /// When.
    pub at: i64,
}

/// Keeps a decision.
pub async fn insert(tx: &mut impl Runner, review: &NewReview<'_>) -> sqlx::Result<()> {
    sql::query(
        "INSERT INTO reviews (task_id, item_id, reviewer_id, decision, comment, value, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(review.task_id)
    .bind(review.item_id)
    .bind(review.reviewer)
    .bind(if review.approve { "approve" } else { "reject" })
    .bind(review.comment)
    .bind(review.value.clone())
    .bind(review.at)
    .execute(tx)
    .await?;
    Ok(())
}

/// How many of the task's items wait for a reviewer in `step`.
pub async fn waiting(on: &mut impl Runner, task_id: i64, step: i64) -> sqlx::Result<i64> {
    sql::query_scalar(format!(
        "SELECT COUNT(*) FROM task_items WHERE task_id = $1 AND step = $2 AND state = '{}'{}",
        ResultState::NeedsReview.as_str(),
        super::workflow::past_labeling(step)
    ))
    .bind(task_id)
    .bind(step)
    .fetch_one(on)
    .await
}

/// An active label as a reviewer sees it.
#[derive(Debug, Clone)]
pub struct ReviewLabel {
    /// The label's id.
    pub annotation_id: i64,
    /// Its worker.
    pub worker_id: i64,
    /// Their name (none once the user is gone).
    pub worker_name: Option<String>,
    /// The answer.
    pub value: Value,
    /// The answer's consensus key.
    pub consensus_key: String,
    /// Whether it came after its lease ended.
    pub late: bool,
}

/// The item's active labels, in label order.
pub async fn labels(
    on: &mut impl Runner,
    task_id: i64,
    item_id: i64,
) -> sqlx::Result<Vec<ReviewLabel>> {
    sql::query(
        "SELECT a.id, a.worker_id, u.name, a.value, a.consensus_key, a.late FROM annotations a \
         LEFT JOIN users u ON u.id = a.worker_id WHERE a.task_id = $1 AND a.item_id = $2 AND a.active = 1 ORDER BY a.id",
    )
    .bind(task_id)
    .bind(item_id)
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| {
        Ok(ReviewLabel {
            annotation_id: r.try_get("id")?,
            worker_id: r.try_get("worker_id")?,
            worker_name: r.try_get("name")?,
            value: json(r, "value")?,
            consensus_key: r.try_get("consensus_key")?,
            late: r.try_get::<i64>("late")? != 0,
        })
    })
    .collect()
}

/// An item waiting for a reviewer.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The item.
    pub item_id: i64,
    /// Its data.
    pub data: Value,
    /// The consensus answer so far.
    pub result: Value,
    /// Its confidence.
    pub confidence: Option<f64>,
    /// The step it waits in.
    pub step: i64,
}

/// Up to `limit` of the task's items waiting for a reviewer in one of `steps`: by priority,
/// then least confident first (items with no confidence after), then serving order.
pub async fn queue(
    on: &mut impl Runner,
    task_id: i64,
    steps: &[i64],
    limit: i64,
) -> sqlx::Result<Vec<Waiting>> {
    // The COALESCE keeps NULLs in the same place on SQLite and PostgreSQL.
    sql::query(format!(
        "SELECT ti.item_id, ti.result, ti.confidence, ti.step, i.data FROM task_items ti JOIN items i ON i.id = ti.item_id \
         WHERE ti.task_id = $1 AND ti.state = '{}' AND ti.step IN ({}){} \
         ORDER BY ti.priority DESC, COALESCE(ti.confidence, 2.0), ti.order_key, ti.item_id LIMIT $2",
        ResultState::NeedsReview.as_str(),
        sql::params(3, steps.len()),
        // `items` has no `step`: the clause names the task item's.
        super::workflow::past_labeling(steps.iter().copied().min().unwrap_or(0))
    ))
    .bind(task_id)
    .bind(limit)
    .bind_all(steps)
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| {
        Ok(Waiting {
            item_id: r.try_get("item_id")?,
            data: json(r, "data")?,
            result: json(r, "result")?,
            confidence: r.try_get("confidence")?,
            step: r.try_get("step")?,
        })
    })
    .collect()
}

/// One item's result, as the results page lists it.
#[derive(Debug, Clone)]
pub struct ItemResult {
    /// The item.
    pub item_id: i64,
    /// Its external id.
    pub external_id: Option<String>,
    /// Its result state.
    pub state: ResultState,
    /// The answer.
    pub value: Value,
    /// Its confidence.
    pub confidence: Option<f64>,
    /// How it was reached (`majority`, `review`, an aggregation model).
    pub method: Option<String>,
    /// Labels made on it.
    pub labels: i64,
    /// Its priority in the task.
    pub priority: i64,
    /// The step it waits in.
    pub step: i64,
}

/// Up to `limit` of the task's results after item id `after`, by item id.
pub async fn results(
    on: &mut impl Runner,
    task_id: i64,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<ItemResult>> {
    sql::query(
        "SELECT ti.item_id, i.external_id, ti.state, ti.result, ti.confidence, ti.method, ti.labeled, \
         ti.priority, ti.step FROM task_items ti JOIN items i ON i.id = ti.item_id \
         WHERE ti.task_id = $1 AND ti.item_id > $2 ORDER BY ti.item_id LIMIT $3",
    )
    .bind(task_id)
    .bind(after)
    .bind(limit)
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| {
        Ok(ItemResult {
            item_id: r.try_get("item_id")?,
            external_id: r.try_get("external_id")?,
            state: result_state(r, "state")?,
            value: json(r, "result")?,
            confidence: r.try_get("confidence")?,
            method: r.try_get("method")?,
            labels: r.try_get("labeled")?,
            priority: r.try_get("priority")?,
            step: r.try_get("step")?,
        })
    })
    .collect()
}
