//! Label Studio labels into a task. A team moving from Label Studio uploads its export as items
//! (each keeps `label-studio:{id}` as its external id), creates a task over them, and sends the
//! same file here: each Label Studio task's annotation (or, without one, its prediction)
//! becomes a prediction of the Quorum task — accepted as the model's label in the task's
//! auto-accept range, otherwise kept for comparison with people's answers — so earlier work is
//! neither lost nor mistaken for answers given in Quorum. Video tracks (`videorectangle`) become boxes on each frame the task
//! samples, interpolated between Label Studio's key frames the way Quorum's own tracks are.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Body, Path, ProjectRefusals, Query};
use super::error_code::ErrorBody;
use super::predictions::{self, Prediction};
use super::tasks::{self, load_for_update};
use super::AppState;
use crate::clock;
use crate::db::WriteTx;
use crate::store::{frames, items};
use crate::upload::label_studio::{convert_results, video_regions};
use axum::extract::State;
use axum::Json;
use quorum_core::label::LabelValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Label Studio tasks per request, as for uploads of items.
const MAX_TASKS: usize = 10_000;

/// How close a sampled frame must be to a key frame to take its box when the clip's frame rate
/// is unknown: half a frame at 25 fps.
const DEFAULT_TOLERANCE_MS: u64 = 20;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ModelQuery {
    /// The model the labels are kept under; `label-studio` unless named.
    model: Option<String>,
}

/// One Label Studio task's outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskOutcome {
    /// 1-based, in the export's order.
    pub row: usize,
    /// `failed` when nothing of the task could be used (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    /// The Quorum item it was uploaded as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<i64>,
    /// Its predictions per outcome (`accepted`, `to_people`, `unchanged`, `failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<BTreeMap<&'static str, u64>>,
    /// Why it failed (the first reason, when several predictions failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What an import of a Label Studio export did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabelStudioImported {
    /// The model the labels are kept under.
    pub model: String,
    /// Predictions per outcome, and Label Studio tasks that `failed`.
    pub counts: BTreeMap<&'static str, u64>,
    /// Each Label Studio task's outcome, in order.
    pub rows: Vec<TaskOutcome>,
}

/// `POST /tasks/{id}/predictions/label-studio?model=NAME` with a Label Studio JSON export as the
/// body (managers). Answers per-row outcomes and counts like `POST /tasks/{id}/predictions`.
///
/// Who may call: the managers of the task's project.
#[utoipa::path(
    post,
    path = "/tasks/{id}/predictions/label-studio",
    operation_id = "import_label_studio",
    tag = "label_studio",
    params(("id" = i64, Path, description = "The task"), ModelQuery),
    request_body(content = Vec<Object>, description = "A Label Studio JSON export: its tasks", content_type = "application/json"),
    responses(
        (status = 200, description = "Each Label Studio task's outcome", body = LabelStudioImported),
        (status = 400, description = "Not a JSON array", body = ErrorBody),
        ProjectRefusals,
        (status = 409, description = "The task is archived (`task_archived`)", body = ErrorBody),
        (status = 422, description = "A bad model name, or no or too many tasks", body = ErrorBody),
    )
)]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Query(query): Query<ModelQuery>,
    Body(export): Body<Vec<Value>>,
) -> ApiResult<Json<LabelStudioImported>> {
    let task = tasks::load(&state, task_id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    let model = predictions::model_name(query.model.as_deref().unwrap_or("label-studio"))?;
    if export.is_empty() || export.len() > MAX_TASKS {
        return Err(ApiError::validation(format!(
            "send a Label Studio export of 1 to {MAX_TASKS} tasks per request"
        )));
    }
    let now = clock::now().0;
    let mut w = state.db.write().await?;
    let task = load_for_update(&state, &mut w.tx, task_id).await?;
    tasks::refuse_archived(&task)?;
    let worker = predictions::model_worker(&mut w, model, now).await?;
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut rows = Vec::with_capacity(export.len());
    for (i, ls_task) in export.iter().enumerate() {
        let row = i + 1;
        let found = match answers_of(&mut w, &task, ls_task).await? {
            Ok(found) => found,
            Err(message) => {
                *counts.entry("failed").or_default() += 1;
                rows.push(TaskOutcome {
                    row,
                    status: Some("failed"),
                    item_id: None,
                    predictions: None,
                    message: Some(message),
                });
                continue;
            }
        };
        let mut outcome: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut messages = Vec::new();
        for p in &found.predictions {
            match predictions::store(&mut w, &task, worker, model, p, now).await? {
                Ok(status) => *outcome.entry(status).or_default() += 1,
                Err(message) => {
                    *outcome.entry("failed").or_default() += 1;
                    messages.push(message);
                }
            }
        }
        for (status, n) in &outcome {
            *counts.entry(status).or_default() += n;
        }
        rows.push(TaskOutcome {
            row,
            status: None,
            item_id: Some(found.item_id),
            predictions: Some(outcome),
            message: messages.into_iter().next(),
        });
    }
    w.commit().await?;
    Ok(Json(LabelStudioImported {
        model: model.to_owned(),
        counts,
        rows,
    }))
}

/// What one Label Studio task gives the Quorum task.
struct Found {
    /// The Quorum item it was uploaded as (the video, for frames).
    item_id: i64,
    predictions: Vec<Prediction>,
}

/// The predictions one Label Studio task yields; `Err` is the row's message for people.
async fn answers_of(
    tx: &mut WriteTx,
    task: &tasks::TaskRecord,
    ls_task: &Value,
) -> ApiResult<Result<Found, String>> {
    let external_id = match ls_task.get("id") {
        Some(Value::String(s)) => format!("label-studio:{s}"),
        Some(Value::Number(n)) => format!("label-studio:{n}"),
        _ => return Ok(Err("a Label Studio task needs its \"id\"".into())),
    };
    let Some(item) = items::by_external_id(&mut *tx, task.project_id, &external_id).await? else {
        return Ok(Err(format!(
            "no item of this project was uploaded as {external_id}: upload the export to a dataset first"
        )));
    };
    let Some((results, confidence)) = chosen_answer(ls_task) else {
        return Ok(Err(
            "the task has no annotation or prediction to import".into()
        ));
    };
    let predictions = if item.data.get("video").is_some() && task.spec.sample_ms.is_some() {
        let frames = frames::in_task(&mut *tx, task.id, item.id).await?;
        match frame_boxes(results, &item.metadata, &frames) {
            Ok(boxes) => boxes
                .into_iter()
                .map(|(item_id, value)| Prediction {
                    item_id,
                    value,
                    confidence,
                })
                .collect(),
            Err(message) => return Ok(Err(message)),
        }
    } else {
        match convert_results(Some(results)) {
            Ok(Some(value)) => vec![Prediction {
                item_id: item.id,
                value,
                confidence,
            }],
            Ok(None) => Vec::new(),
            Err(message) => return Ok(Err(message)),
        }
    };
    Ok(Ok(Found {
        item_id: item.id,
        predictions,
    }))
}

/// The `result` list to import and its confidence: the first annotation not cancelled (a
/// person's finished work, confidence 1), else the first prediction (its `score`, or 1).
fn chosen_answer(ls_task: &Value) -> Option<(&Value, f64)> {
    let first = |key: &str| {
        ls_task
            .get(key)?
            .as_array()?
            .iter()
            .find(|e| e.get("was_cancelled") != Some(&Value::Bool(true)))
    };
    if let Some(annotation) = first("annotations") {
        return Some((annotation.get("result")?, 1.0));
    }
    let prediction = first("predictions")?;
    let score = prediction
        .get("score")
        .and_then(Value::as_f64)
        .filter(|s| (0.0..=1.0).contains(s))
        .unwrap_or(1.0);
    Some((prediction.get("result")?, score))
}

/// The boxes of a video's tracks on each of the task's frames that shows at least one object
/// (a frame with none is left to people: "no object" is an answer Label Studio never gave).
fn frame_boxes(
    results: &Value,
    video_metadata: &Value,
    frames: &[(i64, u64)],
) -> Result<Vec<(i64, LabelValue)>, String> {
    let regions = video_regions(results)?;
    let size = |k: &str| {
        results
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|r| r.get(format!("original_{k}"))?.as_f64())
            .or_else(|| video_metadata.get(k)?.as_f64())
            .filter(|v| *v > 0.0)
    };
    let (Some(width), Some(height)) = (size("width"), size("height")) else {
        return Err(
            "the video's size is unknown: upload the file itself, or give width and height in the item's metadata"
                .into(),
        );
    };
    let tolerance = video_metadata
        .get("fps")
        .and_then(Value::as_f64)
        .filter(|fps| *fps > 0.0)
        .map_or(DEFAULT_TOLERANCE_MS, |fps| (500.0 / fps) as u64);
    Ok(frames
        .iter()
        .filter_map(|&(frame, time_ms)| {
            let boxes: Vec<_> = regions
                .iter()
                .filter_map(|r| r.box_at(time_ms, tolerance, width, height))
                .collect();
            (!boxes.is_empty()).then_some((frame, LabelValue::BoundingBox { boxes }))
        })
        .collect())
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(import), components(schemas(LabelStudioImported)))]
pub(crate) struct Doc;
