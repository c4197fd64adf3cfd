//! Tasks: create (every strategy), read, list with filters, sort and a cursor, replace and
//! patch, status moves, delete, and the task's items (add, remove, reassign, priority); and a
//! task's labels as the core's answer table, which gold scores and qualification gates read.

use super::auth::{require_manager, roles, Caller, Role};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, Query};
use super::error_code::ErrorBody;
use super::projects::ensure_project;
use super::AppState;
use crate::clock;
use crate::db::Backend;
use crate::store::frames;
use crate::store::progress::Counts;
use crate::store::{Runner, Tx};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use quorum_core::consensus::scores::{gold_records, GoldRecord};
use quorum_core::consensus::{Answers, Gold};
use quorum_core::ids::{ItemId, WorkerId};
use quorum_core::label::LabelValue;
use quorum_core::lifecycle::TaskStatus;
use quorum_core::plan;
use quorum_core::pull::{items_ahead, order_key, HoneypotHistory};
use quorum_core::qualification::{may_work, QualificationGate, Standing};
use quorum_core::task::{AnnotationStatus, InputSource, ItemFacts, ItemFilter, TaskKind, TaskSpec};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use utoipa::{IntoParams, ToSchema};

mod create;
mod edit;
mod input;
mod list;
mod qualification;
mod record;

pub use create::*;
pub use edit::*;
pub(crate) use input::*;
pub use list::*;
pub use qualification::*;
pub use record::*;

/// The refusals of a manager's endpoint on one task, listed once for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // Never built: it only lists responses.
pub(crate) enum ManagerRefusals {
    #[response(status = 400, description = "A malformed path, query string or body")]
    Malformed(ErrorBody),
    #[response(status = 401, description = "No valid token")]
    NoToken(ErrorBody),
    #[response(status = 403, description = "Not a manager of the project")]
    NotManager(ErrorBody),
    #[response(status = 404, description = "No such task")]
    NoTask(ErrorBody),
}

/// The refusal of a request without a valid token, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[response(status = 401, description = "No valid token")]
#[allow(dead_code)] // Never built: it only lists a response.
pub(crate) struct NoToken(ErrorBody);

/// Create a task (any strategy) with its items.
///
/// Who may call: the project's managers.
#[utoipa::path(
    post,
    path = "/projects/{id}/tasks",
    tag = "tasks",
    params(("id" = i64, Path, description = "The project")),
    request_body(content = Object, description = "The task's spec (`TaskSpec`: name, schema, input, worker_strategy, review_strategy, …)"),
    responses(
        (status = 201, description = "The task, with its items in place", body = TaskView),
        (status = 400, description = "A malformed spec", body = ErrorBody),
        NoToken,
        (status = 403, description = "Not a manager of the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 422, description = "A spec that does not validate, or people, items or gold that do not fit", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
    Body(spec): Body<TaskSpec>,
) -> ApiResult<(StatusCode, Json<TaskView>)> {
    ensure_project(&state, project_id).await?;
    require_manager(&state, &caller, project_id).await?;
    let made = create_task(&state, project_id, caller.id, &spec).await?;
    let task = load(&state, made.id).await?;
    let counts = Counts {
        items: made.items as i64,
        ..Counts::default()
    };
    Ok((
        StatusCode::CREATED,
        Json(task_json_with(&task, Some((counts, None)))?),
    ))
}

/// One task with its counts.
///
/// Who may call: the project's managers, and the task's annotators and reviewers.
#[utoipa::path(
    get,
    path = "/tasks/{id}",
    tag = "tasks",
    params(("id" = i64, Path, description = "The task")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        NoToken,
        (status = 403, description = "Not on the task", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
    )
)]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<TaskView>> {
    let a = access(&state, &caller, id).await?;
    Ok(Json(task_view(&state, &caller, &a.task).await?))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    create,
    get_one,
    list,
    my_tasks,
    replace,
    update,
    set_status,
    delete_one,
    delete_many,
    add_items,
    remove_items,
    reassign,
    set_priority
))]
pub(crate) struct Doc;
