//! Model predictions and answer comparison. Imported predictions inside a task's auto-accept
//! range become annotations by the model's worker and close their item (auto-annotation); the
//! rest stay as predictions for people to label. Managers compare two annotators, or an
//! annotator against a model, item by item with the core's agreement measures.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, ProjectRefusals, Query};
use super::error_code::ErrorBody;
use super::tasks::{self, load_for_update};
use super::AppState;
use crate::clock;
use crate::db::WriteTx;
use crate::store::error::StoreResult;
use crate::store::predictions::{self as store, Acceptance};
use axum::extract::State;
use axum::Json;
use quorum_core::auto_annotation::{self, PredictionRoute};
use quorum_core::consensus::agreement::cohen_kappa;
use quorum_core::consensus::shapes::answer_agreement;
use quorum_core::consensus::Answers;
use quorum_core::label::{ImageSize, LabelValue};
use quorum_core::review::ResultState;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Users standing for models carry this prefix; people cannot take such names.
pub const MODEL_PREFIX: &str = "model:";

/// Predictions per request; bigger sets are sent in several.
const MAX_PREDICTIONS: usize = 10_000;

/// IoU from which two shapes count as the same object.
const IOU_THRESHOLD: f64 = 0.5;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PredictionsBody {
    /// The model's name, 1 to 100 printable characters.
    model: String,
    /// `{"item_id", "value", "confidence"}` each; a row that is not one is a failed row.
    #[schema(value_type = Vec<Object>)]
    predictions: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Prediction {
    pub item_id: i64,
    pub value: LabelValue,
    pub confidence: f64,
}

/// One row's outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowOutcome {
    /// 1-based, in the order sent.
    pub row: usize,
    /// `accepted`, `to_people`, `unchanged` or `failed`.
    pub status: &'static str,
    /// Why a row failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What an import of predictions did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PredictionsImported {
    /// The model, as stored.
    pub model: String,
    /// Rows per status.
    pub counts: BTreeMap<&'static str, u64>,
    /// Each row's outcome, in order.
    pub rows: Vec<RowOutcome>,
}

/// `POST /tasks/{id}/predictions {"model", "predictions": [{"item_id", "value", "confidence"}]}`
/// (managers). Answers per-row outcomes: `accepted`, `to_people`, `unchanged`, or an error.
///
/// Who may call: the managers of the task's project.
#[utoipa::path(
    post,
    path = "/tasks/{id}/predictions",
    operation_id = "import_predictions",
    tag = "predictions",
    params(("id" = i64, Path, description = "The task")),
    request_body = PredictionsBody,
    responses(
        (status = 200, description = "Each row's outcome", body = PredictionsImported),
        (status = 400, description = "Not a predictions body", body = ErrorBody),
        ProjectRefusals,
        (status = 409, description = "The task is archived (`task_archived`)", body = ErrorBody),
        (status = 422, description = "A bad model name, or no or too many predictions", body = ErrorBody),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Body(body): Body<PredictionsBody>,
) -> ApiResult<Json<PredictionsImported>> {
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
    tasks::refuse_archived(&task)?;
    let worker = model_worker(&mut w, model, now).await?;
    let mut rows = Vec::with_capacity(body.predictions.len());
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (row, raw) in body.predictions.into_iter().enumerate() {
        let outcome = match serde_json::from_value::<Prediction>(raw) {
            Err(e) => Err(format!("not a prediction: {e}")),
            Ok(p) => store(&mut w, &task, worker, model, &p, now).await?,
        };
        let (status, message) = match outcome {
            Ok(status) => (status, None),
            Err(message) => ("failed", Some(message)),
        };
        *counts.entry(status).or_default() += 1;
        rows.push(RowOutcome {
            row: row + 1,
            status,
            message,
        });
    }
    w.commit().await?;
    Ok(Json(PredictionsImported {
        model: model.to_owned(),
        counts,
        rows,
    }))
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
pub(super) async fn model_worker(tx: &mut WriteTx, model: &str, now: i64) -> StoreResult<i64> {
    store::model_user(tx, &format!("{MODEL_PREFIX}{model}"), now).await
}

/// Stores one prediction; `Err` is the row's message for people.
pub(super) async fn store(
    tx: &mut WriteTx,
    task: &tasks::TaskRecord,
    worker: i64,
    model: &str,
    p: &Prediction,
    now: i64,
) -> Result<Result<&'static str, String>, ApiError> {
    if !(0.0..=1.0).contains(&p.confidence) {
        return Ok(Err("confidence is between 0 and 1".into()));
    }
    let metadata = crate::store::items::metadata(tx, p.item_id).await?;
    let image = metadata.and_then(|m| ImageSize::from_metadata(&m));
    if let Err(e) = task.spec.schema.validate_value_in(&p.value, image) {
        return Ok(Err(format!("invalid label: {e}")));
    }
    let Some(standing) = store::standing(tx, task.id, p.item_id).await? else {
        return Ok(Err(format!("item {} is not in this task", p.item_id)));
    };
    let value = serde_json::to_string(&p.value)?;
    if let Some((v, c)) = store::existing(tx, task.id, p.item_id, model).await? {
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
    let accept = route == PredictionRoute::Accept
        && standing.state == ResultState::Pending
        && standing.labels == 0;
    let stored = store::Prediction {
        task_id: task.id,
        item_id: p.item_id,
        model,
        value: &value,
        confidence: p.confidence,
    };
    store::insert(tx, stored, accept, now).await?;
    if !accept {
        return Ok(Ok("to_people"));
    }
    // In a workflow the model's label goes on to the next step's people, like anyone's.
    let (step, state) = super::workflow::after_pass(
        task,
        quorum_core::ids::ItemId(p.item_id),
        0,
        ResultState::AutoApproved,
    );
    let acceptance = Acceptance {
        worker,
        consensus_key: &p.value.consensus_key(),
        method: &format!("{MODEL_PREFIX}{model}"),
        step,
        state: state.as_str(),
    };
    store::accept(tx, stored, acceptance, now).await?;
    Ok(Ok("accepted"))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    /// `worker:<id>` or `model:<name>`.
    a: String,
    /// `worker:<id>` or `model:<name>`.
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
        let mut on = state.db.scan();
        let rows = match self {
            Side::Worker(w) => store::worker_answers(&mut on, task, *w).await?,
            Side::Model(m) => store::model_answers(&mut on, task, m).await?,
        };
        let mut out = BTreeMap::new();
        for (item, value) in rows {
            out.insert(item, serde_json::from_str(&value)?);
        }
        Ok(out)
    }
}

/// Both sides' answers on one item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComparedItem {
    /// The item.
    pub item_id: i64,
    /// Side a's answer (null: none).
    #[schema(value_type = Option<Object>)]
    pub a: Option<LabelValue>,
    /// Side b's answer (null: none).
    #[schema(value_type = Option<Object>)]
    pub b: Option<LabelValue>,
    /// 0–1 when both answered (equal class, or matched-shape IoU).
    pub agreement: Option<f64>,
}

/// Two sides' answers compared.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Comparison {
    /// Side a, as asked.
    pub a: String,
    /// Side b, as asked.
    pub b: String,
    /// Items both answered.
    pub shared: usize,
    /// The mean agreement over shared items (null: none shared).
    pub agreement: Option<f64>,
    /// Cohen's kappa, for classification (null when undefined).
    pub kappa: Option<f64>,
    /// Every item either answered, in id order.
    pub items: Vec<ComparedItem>,
}

/// `GET /tasks/{id}/compare?a=worker:1&b=worker:2|model:NAME` (managers): both answers on
/// every item either gave, each shared item's agreement (equal class, or matched-shape IoU),
/// their mean and, for classification, Cohen's kappa.
///
/// Who may call: the managers of the task's project.
#[utoipa::path(
    get,
    path = "/tasks/{id}/compare",
    tag = "predictions",
    params(("id" = i64, Path, description = "The task"), CompareQuery),
    responses(
        (status = 200, description = "The comparison", body = Comparison),
        (status = 400, description = "A side that is not worker:<id> or model:<name>", body = ErrorBody),
        ProjectRefusals,
    )
)]
pub async fn compare(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Query(q): Query<CompareQuery>,
) -> ApiResult<Json<Comparison>> {
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
        items.push(ComparedItem {
            item_id: id,
            a: va.cloned(),
            b: vb.cloned(),
            agreement,
        });
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
    Ok(Json(Comparison {
        a: q.a,
        b: q.b,
        shared,
        agreement: (shared > 0).then(|| sum / shared as f64),
        kappa: kappa.filter(|k| k.is_finite()),
        items,
    }))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(import, compare),
    components(schemas(PredictionsBody, PredictionsImported, Comparison))
)]
pub(crate) struct Doc;
