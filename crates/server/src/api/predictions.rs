//! Model predictions and answer comparison. Imported predictions inside a task's auto-accept
//! range become annotations by the model's worker and close their item (auto-annotation); the
//! rest stay as predictions for people to label. Managers compare two annotators, or an
//! annotator against a model, item by item with the core's agreement measures.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, Query};
use super::tasks::{self, load_for_update};
use super::AppState;
use crate::clock;
use axum::extract::State;
use axum::Json;
use quorum_core::auto_annotation::{self, PredictionRoute};
use quorum_core::consensus::agreement::cohen_kappa;
use quorum_core::consensus::shapes::answer_agreement;
use quorum_core::consensus::Answers;
use quorum_core::label::{ImageSize, LabelValue};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{Any, Transaction};
use std::collections::BTreeMap;

type Tx = Transaction<'static, Any>;

/// Users standing for models carry this prefix; people cannot take such names.
pub const MODEL_PREFIX: &str = "model:";

/// Predictions per request; bigger sets are sent in several.
const MAX_PREDICTIONS: usize = 10_000;

/// IoU from which two shapes count as the same object.
const IOU_THRESHOLD: f64 = 0.5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictionsBody {
    model: String,
    predictions: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Prediction {
    pub item_id: i64,
    pub value: LabelValue,
    pub confidence: f64,
}

/// `POST /tasks/{id}/predictions {"model", "predictions": [{"item_id", "value", "confidence"}]}`
/// (managers). Answers per-row outcomes: `accepted`, `to_people`, `unchanged`, or an error.
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Body(body): Body<PredictionsBody>,
) -> ApiResult<Json<Value>> {
    let task = tasks::load(&state, task_id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    let model = model_name(&body.model)?;
    if body.predictions.is_empty() || body.predictions.len() > MAX_PREDICTIONS {
        return Err(ApiError::validation(format!(
            "send 1 to {MAX_PREDICTIONS} predictions per request"
        )));
    }
    let now = clock::now().0;
    let mut w = state.db.write().await?;
    let task = load_for_update(&state, &mut w.tx, task_id).await?;
    let worker = model_worker(&mut w.tx, model, now).await?;
    let mut outcomes = Vec::with_capacity(body.predictions.len());
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (row, raw) in body.predictions.into_iter().enumerate() {
        let outcome = match serde_json::from_value::<Prediction>(raw) {
            Err(e) => Err(format!("not a prediction: {e}")),
            Ok(p) => store(&mut w.tx, &task, worker, model, &p, now).await?,
        };
        let entry = match outcome {
            Ok(status) => {
                *counts.entry(status).or_default() += 1;
                json!({"row": row + 1, "status": status})
            }
            Err(message) => {
                *counts.entry("failed").or_default() += 1;
                json!({"row": row + 1, "status": "failed", "message": message})
            }
        };
        outcomes.push(entry);
    }
    w.commit().await?;
    Ok(Json(
        json!({"model": model, "counts": counts, "rows": outcomes}),
    ))
}

/// A model's name as given, trimmed; refused unless 1 to 100 printable characters.
pub(super) fn model_name(raw: &str) -> ApiResult<&str> {
    let model = raw.trim();
    if model.is_empty() || model.len() > 100 || model.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "model is a name of 1 to 100 printable characters",
        ));
    }
    Ok(model)
}

/// The model's worker id, created on first use (no token: nobody signs in as a model).
pub(super) async fn model_worker(tx: &mut Tx, model: &str, now: i64) -> Result<i64, sqlx::Error> {
    let name = format!("{MODEL_PREFIX}{model}");
    if let Some(id) = sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(&name)
        .fetch_optional(&mut **tx)
        .await?
    {
        return Ok(id);
    }
    sqlx::query_scalar(
        "INSERT INTO users (name, is_admin, created_at) VALUES ($1, 0, $2) RETURNING id",
    )
    .bind(&name)
    .bind(now)
    .fetch_one(&mut **tx)
    .await
}

/// Stores one prediction; `Err` is the row's message for people.
pub(super) async fn store(
    tx: &mut Tx,
    task: &tasks::TaskRecord,
    worker: i64,
    model: &str,
    p: &Prediction,
    now: i64,
) -> Result<Result<&'static str, String>, ApiError> {
    if !(0.0..=1.0).contains(&p.confidence) {
        return Ok(Err("confidence is between 0 and 1".into()));
    }
    let metadata: Option<String> = sqlx::query_scalar("SELECT metadata FROM items WHERE id = $1")
        .bind(p.item_id)
        .fetch_optional(&mut **tx)
        .await?;
    let image = metadata
        .and_then(|m| serde_json::from_str(&m).ok())
        .and_then(|m| ImageSize::from_metadata(&m));
    if let Err(e) = task.spec.schema.validate_value_in(&p.value, image) {
        return Ok(Err(format!("invalid label: {e}")));
    }
    let item: Option<(String, i64)> = sqlx::query_as(
        "SELECT state, (SELECT COUNT(*) FROM annotations a WHERE a.task_id = ti.task_id \
         AND a.item_id = ti.item_id AND a.active = 1) FROM task_items ti WHERE task_id = $1 AND item_id = $2",
    )
    .bind(task.id)
    .bind(p.item_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((state, labels)) = item else {
        return Ok(Err(format!("item {} is not in this task", p.item_id)));
    };
    let value = serde_json::to_string(&p.value)?;
    let existing: Option<(String, f64)> = sqlx::query_as(
        "SELECT value, confidence FROM predictions WHERE task_id = $1 AND item_id = $2 AND model = $3",
    )
    .bind(task.id)
    .bind(p.item_id)
    .bind(model)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((v, c)) = existing {
        // Re-sending a file is harmless; changing a model's answer after the fact is not.
        return Ok(if v == value && c == p.confidence {
            Ok("unchanged")
        } else {
            Err(format!(
                "{model} already predicted item {}; predictions are not replaced",
                p.item_id
            ))
        });
    }
    let route = task
        .spec
        .auto_accept
        .map_or(PredictionRoute::ToPeople, |range| {
            auto_annotation::route(&range, p.confidence)
        });
    // Only untouched items are taken by the model: people's work is never overruled.
    let accept = route == PredictionRoute::Accept && state == "pending" && labels == 0;
    sqlx::query(
        "INSERT INTO predictions (task_id, item_id, model, value, confidence, accepted, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(task.id)
    .bind(p.item_id)
    .bind(model)
    .bind(&value)
    .bind(p.confidence)
    .bind(accept as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if !accept {
        return Ok(Ok("to_people"));
    }
    sqlx::query(
        "INSERT INTO annotations (task_id, item_id, worker_id, value, consensus_key, late, counted, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, 1, $6)",
    )
    .bind(task.id)
    .bind(p.item_id)
    .bind(worker)
    .bind(&value)
    .bind(p.value.consensus_key())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    // The item leaves the queue: planned seats not yet leased go, and it wants no more labels.
    sqlx::query("DELETE FROM seats WHERE task_id = $1 AND item_id = $2 AND state = 'assigned'")
        .bind(task.id)
        .bind(p.item_id)
        .execute(&mut **tx)
        .await?;
    // In a workflow the model's label goes on to the next step's people, like anyone's.
    let (step, state) = super::workflow::after_pass(
        task,
        quorum_core::ids::ItemId(p.item_id),
        0,
        quorum_core::review::ResultState::AutoApproved,
    );
    sqlx::query(
        "UPDATE task_items SET state = $6, step = $7, result = $1, confidence = $2, method = $3, \
         labeled = labeled + 1, covered = covered + 1, target = covered + 1 WHERE task_id = $4 AND item_id = $5",
    )
    .bind(&value)
    .bind(p.confidence)
    .bind(format!("{MODEL_PREFIX}{model}"))
    .bind(task.id)
    .bind(p.item_id)
    .bind(state.as_str())
    .bind(step)
    .execute(&mut **tx)
    .await?;
    Ok(Ok("accepted"))
}

#[derive(Deserialize)]
pub struct CompareQuery {
    a: String,
    b: String,
}

/// Whose answers a side of a comparison holds.
enum Side {
    Worker(i64),
    Model(String),
}

impl Side {
    fn parse(s: &str) -> Result<Side, ApiError> {
        match s.split_once(':') {
            Some(("worker", id)) => id
                .parse()
                .map(Side::Worker)
                .map_err(|_| ApiError::invalid(format!("{s:?}: worker:<id> takes a number"))),
            Some(("model", name)) if !name.is_empty() => Ok(Side::Model(name.to_owned())),
            _ => Err(
                ApiError::invalid(format!("{s:?}: compare worker:<id> or model:<name>"))
                    .with_code(ErrorCode::InvalidQuery),
            ),
        }
    }

    /// The side's answers per item of the task.
    async fn answers(&self, state: &AppState, task: i64) -> ApiResult<BTreeMap<i64, LabelValue>> {
        let rows: Vec<(i64, String)> = match self {
            Side::Worker(w) => {
                sqlx::query_as(
                    "SELECT item_id, value FROM annotations WHERE task_id = $1 AND worker_id = $2 AND active = 1",
                )
                .bind(task)
                .bind(w)
                .fetch_all(state.db.pool())
                .await?
            }
            Side::Model(m) => {
                sqlx::query_as("SELECT item_id, value FROM predictions WHERE task_id = $1 AND model = $2")
                    .bind(task)
                    .bind(m)
                    .fetch_all(state.db.pool())
                    .await?
            }
        };
        let mut out = BTreeMap::new();
        for (item, value) in rows {
            out.insert(item, serde_json::from_str(&value)?);
        }
        Ok(out)
    }
}

/// `GET /tasks/{id}/compare?a=worker:1&b=worker:2|model:NAME` (managers): both answers on
/// every item either gave, each shared item's agreement (equal class, or matched-shape IoU),
/// their mean and, for classification, Cohen's kappa.
pub async fn compare(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Query(q): Query<CompareQuery>,
) -> ApiResult<Json<Value>> {
    let task = tasks::load(&state, task_id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    let (a, b) = (Side::parse(&q.a)?, Side::parse(&q.b)?);
    let (ans_a, ans_b) = (
        a.answers(&state, task_id).await?,
        b.answers(&state, task_id).await?,
    );
    let mut items = Vec::new();
    let mut sum = 0.0;
    let mut shared = 0usize;
    let mut rows: Vec<(String, &str, String)> = Vec::new();
    let ids: std::collections::BTreeSet<i64> = ans_a.keys().chain(ans_b.keys()).copied().collect();
    for id in ids {
        let (va, vb) = (ans_a.get(&id), ans_b.get(&id));
        let agreement = match (va, vb) {
            (Some(x), Some(y)) => answer_agreement(x, y, IOU_THRESHOLD),
            _ => None,
        };
        if let (Some(x), Some(y), Some(score)) = (va, vb, agreement) {
            shared += 1;
            sum += score;
            rows.push((id.to_string(), "a", x.consensus_key()));
            rows.push((id.to_string(), "b", y.consensus_key()));
        }
        items.push(json!({"item_id": id, "a": va, "b": vb, "agreement": agreement}));
    }
    let classification =
        task.spec.schema.annotation_type == quorum_core::label::AnnotationType::Classification;
    let kappa = if classification && shared > 0 {
        let table = Answers::from_rows(rows.iter().map(|(i, w, l)| (i.as_str(), *w, l.as_str())));
        let (wa, wb) = (table.worker_id("a"), table.worker_id("b"));
        wa.zip(wb)
            .and_then(|(x, y)| cohen_kappa(&table, x, y))
            .map(|p| p.kappa)
    } else {
        None
    };
    Ok(Json(json!({
        "a": q.a,
        "b": q.b,
        "shared": shared,
        "agreement": (shared > 0).then(|| sum / shared as f64),
        "kappa": kappa.filter(|k| k.is_finite()),
        "items": items,
    })))
}
