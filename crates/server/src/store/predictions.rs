//! Model predictions: the users that stand for models, predictions as stored, a prediction
//! taken as the model's label (auto-annotation), and the answers compared side by side.

use super::error::StoreResult;
use crate::sql::{self, Runner};
use crate::store::seat_state::SeatState;

/// The id of the user called `name` (a model's), created without a token on first use.
pub async fn model_user(on: &mut impl Runner, name: &str, now: i64) -> StoreResult<i64> {
    if let Some(id) = sql::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *on)
        .await?
    {
        return Ok(id);
    }
    sql::query_scalar(
        "INSERT INTO users (name, is_admin, created_at) VALUES ($1, 0, $2) RETURNING id",
    )
    .bind(name)
    .bind(now)
    .fetch_one(on)
    .await
}

/// Where an item stands in a task, as a prediction needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// Its result state in the task.
    pub state: quorum_core::review::ResultState,
    /// Its active labels.
    pub labels: i64,
}

/// Item `item_id`'s standing in task `task_id`; none when the task does not hold it.
pub async fn standing(
    on: &mut impl Runner,
    task_id: i64,
    item_id: i64,
) -> StoreResult<Option<Standing>> {
    let row = sql::query(
        "SELECT state, (SELECT COUNT(*) FROM annotations a WHERE a.task_id = ti.task_id \
         AND a.item_id = ti.item_id AND a.active = 1) AS labels FROM task_items ti \
         WHERE task_id = $1 AND item_id = $2",
    )
    .bind(task_id)
    .bind(item_id)
    .fetch_optional(on)
    .await?;
    row.map(|r| {
        Ok(Standing {
            state: super::reviews::parse_state(&r.try_get::<String>("state")?)?,
            labels: r.try_get("labels")?,
        })
    })
    .transpose()
}

/// A prediction of a model on an item of a task.
#[derive(Debug, Clone, Copy)]
pub struct Prediction<'a> {
    /// The task.
    pub task_id: i64,
    /// The item.
    pub item_id: i64,
    /// The model's name.
    pub model: &'a str,
    /// The label (JSON text).
    pub value: &'a str,
    /// How sure the model is, 0–1.
    pub confidence: f64,
}

/// The model's stored prediction on the item: (label as JSON text, confidence).
pub async fn existing(
    on: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    model: &str,
) -> StoreResult<Option<(String, f64)>> {
    let row = sql::query(
        "SELECT value, confidence FROM predictions WHERE task_id = $1 AND item_id = $2 AND model = $3",
    )
    .bind(task_id)
    .bind(item_id)
    .bind(model)
    .fetch_optional(on)
    .await?;
    row.map(|r| Ok((r.try_get("value")?, r.try_get("confidence")?)))
        .transpose()
}

/// Stores a prediction, `accepted` when it became the model's label.
pub async fn insert(
    on: &mut impl Runner,
    p: Prediction<'_>,
    accepted: bool,
    now: i64,
) -> StoreResult<()> {
    sql::query(
        "INSERT INTO predictions (task_id, item_id, model, value, confidence, accepted, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(p.task_id)
    .bind(p.item_id)
    .bind(p.model)
    .bind(p.value)
    .bind(p.confidence)
    .bind(accepted as i64)
    .bind(now)
    .execute(on)
    .await?;
    Ok(())
}

/// Where an accepted prediction takes its item.
#[derive(Debug, Clone, Copy)]
pub struct Acceptance<'a> {
    /// The model's user, who gives the label.
    pub worker: i64,
    /// The label's consensus key.
    pub consensus_key: &'a str,
    /// The result's method (the model's user name).
    pub method: &'a str,
    /// The workflow step the item moves to.
    pub step: i64,
    /// The item's state there.
    pub state: &'a str,
}

/// Takes a prediction as the label of the model's user: the label is stored, planned seats
/// not yet leased go (the item wants no more labels), and the item moves on with the
/// prediction as its result.
pub async fn accept(
    on: &mut impl Runner,
    p: Prediction<'_>,
    a: Acceptance<'_>,
    now: i64,
) -> StoreResult<()> {
    let Acceptance {
        worker,
        consensus_key,
        method,
        step,
        state,
    } = a;
    sql::query(
        "INSERT INTO annotations (task_id, item_id, worker_id, value, consensus_key, late, counted, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, 1, $6)",
    )
    .bind(p.task_id)
    .bind(p.item_id)
    .bind(worker)
    .bind(p.value)
    .bind(consensus_key)
    .bind(now)
    .execute(&mut *on)
    .await?;
    sql::query(format!(
        "DELETE FROM seats WHERE task_id = $1 AND item_id = $2 AND state = {}",
        SeatState::Assigned.sql()
    ))
    .bind(p.task_id)
    .bind(p.item_id)
    .execute(&mut *on)
    .await?;
    sql::query(
        "UPDATE task_items SET state = $6, step = $7, result = $1, confidence = $2, method = $3, \
         labeled = labeled + 1, covered = covered + 1, target = covered + 1 \
         WHERE task_id = $4 AND item_id = $5",
    )
    .bind(p.value)
    .bind(p.confidence)
    .bind(method)
    .bind(p.task_id)
    .bind(p.item_id)
    .bind(state)
    .bind(step)
    .execute(on)
    .await?;
    Ok(())
}

/// (item, label as JSON text) of a worker's active answers on the task.
pub async fn worker_answers(
    on: &mut impl Runner,
    task_id: i64,
    worker: i64,
) -> StoreResult<Vec<(i64, String)>> {
    pairs(
        sql::query(
            "SELECT item_id, value FROM annotations WHERE task_id = $1 AND worker_id = $2 AND active = 1",
        )
        .bind(task_id)
        .bind(worker)
        .fetch_all(on)
        .await?,
    )
}

/// (item, label as JSON text) of a model's predictions on the task.
pub async fn model_answers(
    on: &mut impl Runner,
    task_id: i64,
    model: &str,
) -> StoreResult<Vec<(i64, String)>> {
    pairs(
        sql::query("SELECT item_id, value FROM predictions WHERE task_id = $1 AND model = $2")
            .bind(task_id)
            .bind(model)
            .fetch_all(on)
            .await?,
    )
}

fn pairs(rows: Vec<sql::Row>) -> StoreResult<Vec<(i64, String)>> {
    rows.iter()
        .map(|r| Ok((r.try_get("item_id")?, r.try_get("value")?)))
        .collect()
}
