//! Tasks: create (every strategy), read, list with filters, sort and a cursor, replace and
//! patch, status moves, delete, and the task's items (add, remove, reassign, priority); and a
//! task's labels as the core's answer table, which gold scores and qualification gates read.

use super::auth::{require_manager, roles, Caller, Role};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, Query};
use super::projects::ensure_project;
use super::AppState;
use crate::clock;
use crate::db::Backend;
use crate::pg_array;
use crate::sql;
use crate::store::frames;
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
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{Any, Transaction};
use std::collections::{HashMap, HashSet};

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

/// `POST /projects/{id}/tasks` (managers).
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
    Body(spec): Body<TaskSpec>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ensure_project(&state, project_id).await?;
    require_manager(&state, &caller, project_id).await?;
    let id = create_task(&state, project_id, caller.id, &spec).await?;
    let task = load(&state, id).await?;
    Ok((StatusCode::CREATED, Json(task_json(&state, &task).await?)))
}

/// `GET /tasks/{id}`: managers, and the task's annotators and reviewers.
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let a = access(&state, &caller, id).await?;
    Ok(Json(task_view(&state, &caller, &a.task).await?))
}
