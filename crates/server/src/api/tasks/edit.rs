//! Changing a task: replace and patch (frozen once labels exist), status moves, delete, and the
//! task's items (add, remove, reassign, priority).

use super::*;
use crate::store::seat_state::SeatState;
use crate::store::tasks as store;
use crate::store::{leases, seats};
use quorum_core::ids::{LeaseId, TaskId};
use quorum_core::lease::Lease;
use quorum_core::time::Millis;

/// A manager's write on a task's items: the task is checked (manager, not archived) before the
/// write and again, locked, inside it, so an archive that lands in between is seen.
async fn open_for_items(
    state: &AppState,
    caller: &Caller,
    id: i64,
) -> ApiResult<crate::db::WriteTx> {
    let task = load(state, id).await?;
    require_manager(state, caller, task.project_id).await?;
    refuse_archived(&task)?;
    let mut w = state.db.write().await?;
    refuse_archived(&load_for_update(state, &mut w.tx, id).await?)?;
    Ok(w)
}

/// Refuses any change to an archived task (409 `task_archived`): archiving freezes a task's
/// definition, items and seats as they were exported.
pub(crate) fn refuse_archived(task: &TaskRecord) -> ApiResult<()> {
    if task.status == TaskStatus::Archived {
        return Err(ApiError::conflict(format!(
            "task {} is archived: its definition, items and assignments no longer change",
            task.id
        ))
        .with_code(ErrorCode::TaskArchived));
    }
    Ok(())
}

/// Whether any label was ever stored on the task.
pub(super) async fn has_labels(state: &AppState, task_id: i64) -> ApiResult<bool> {
    Ok(store::has_labels(&mut state.db.reader().await, task_id).await?)
}

/// Stores a changed spec over `old`, the task as the caller read it (a change made since is
/// refused, not overwritten); the item source and the strategy are fixed once items are
/// planned; the schema and kind once labels exist (stored labels would no longer fit them).
pub(super) async fn store_spec(
    state: &AppState,
    caller: &Caller,
    old: TaskRecord,
    spec: TaskSpec,
) -> ApiResult<TaskView> {
    let id = old.id;
    require_manager(state, caller, old.project_id).await?;
    refuse_archived(&old)?;
    let errors = spec.validate();
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    let changed: Vec<&str> = [
        ("schema", spec.schema != old.spec.schema),
        ("kind", spec.kind != old.spec.kind),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect();
    if !changed.is_empty() && has_labels(state, id).await? {
        return Err(labels_exist(&changed));
    }
    if spec.input != old.spec.input || spec.worker_strategy != old.spec.worker_strategy {
        return Err(ApiError::conflict(
            "input and worker_strategy are fixed after creation: add or remove items instead, or create a new task",
        ));
    }
    if old.spec.worker_strategy.is_planned() && spec.assignees != old.spec.assignees {
        return Err(ApiError::conflict(
            "a planned task's assignees are fixed: reassign items instead",
        ));
    }
    check_people(state, old.project_id, &spec).await?;
    check_qualifications(state, old.project_id, Some(id), &spec).await?;
    // Gold was checked when the task took it up; look again only when gold starts to count
    // or the schema it must fit changes.
    if uses_gold(&spec) && (!uses_gold(&old.spec) || spec.schema != old.spec.schema) {
        let items = store::item_ids(&mut state.db.scan(), id).await?;
        check_gold(state, &spec, &items, "item_ids").await?;
    }
    crate::api::workflow::check_spec_change(state, &old, &spec.steps).await?;
    let mut tx = state.db.claim().await?;
    // Everything above was checked against `old`: the task's row, locked, must still be it. A
    // schema change also waits for labels being stored (each holds the row by key until its
    // commit) and looks for labels again once they are in.
    let lock = match changed.is_empty() {
        true => state.db.for_no_key_update(),
        false => state.db.for_update(),
    };
    let current = load_locked(&mut tx, id, lock).await?;
    refuse_archived(&current)?;
    if current.spec != old.spec {
        return Err(ApiError::conflict(
            "the task was changed by another request while this change was checked: read it \
             again and retry",
        ));
    }
    if !changed.is_empty() && store::has_labels(&mut tx, id).await? {
        return Err(labels_exist(&changed));
    }
    let change = store::SpecChange {
        schema: !changed.is_empty(),
        priority: spec.priority != old.spec.priority,
    };
    let kind = kind_name(&spec);
    store::update_spec(&mut tx, id, &spec, &kind, change, clock::now().0).await?;
    write_people(&mut tx, id, &spec).await?;
    tx.commit().await?;
    task_json(state, &load(state, id).await?).await
}

/// The refusal of a change to `fields` (schema, kind) of a task that has labels.
fn labels_exist(fields: &[&str]) -> ApiError {
    ApiError::conflict(format!(
        "{} cannot change: the task has labels made against the current one (exports and \
         scores read them by it); create a new task instead",
        fields.join(" and ")
    ))
    .with_code(ErrorCode::LabelsExist)
    .with_details(json!({ "fields": fields }))
}

/// Replace a task's spec.
///
/// Who may call: the project's managers.
#[utoipa::path(
    put,
    path = "/tasks/{id}",
    tag = "tasks",
    params(("id" = i64, Path, description = "The task")),
    request_body(content = Object, description = "The whole new spec (`TaskSpec`)"),
    responses(
        (status = 200, description = "The task as changed", body = TaskView),
        ManagerRefusals,
        (status = 409, description = "Archived, or a field that is fixed by now (input, strategy, schema once labeled)", body = ErrorBody),
        (status = 422, description = "A spec that does not validate", body = ErrorBody),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(spec): Body<TaskSpec>,
) -> ApiResult<Json<TaskView>> {
    let old = load(&state, id).await?;
    Ok(Json(store_spec(&state, &caller, old, spec).await?))
}

/// Change some fields of a task's spec.
///
/// Who may call: the project's managers.
#[utoipa::path(
    patch,
    path = "/tasks/{id}",
    tag = "tasks",
    params(("id" = i64, Path, description = "The task")),
    request_body(content = Object, description = "The spec fields to change"),
    responses(
        (status = 200, description = "The task as changed", body = TaskView),
        ManagerRefusals,
        (status = 409, description = "Archived, or a field that is fixed by now (input, strategy, schema once labeled)", body = ErrorBody),
        (status = 422, description = "A spec that does not validate", body = ErrorBody),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(patch): Body<Value>,
) -> ApiResult<Json<TaskView>> {
    let old = load(&state, id).await?;
    require_manager(&state, &caller, old.project_id).await?;
    let Value::Object(fields) = patch else {
        return Err(ApiError::invalid(
            "a PATCH body is a JSON object of the fields to change",
        ));
    };
    let mut merged = serde_json::to_value(&old.spec)?;
    for (k, v) in fields {
        merged[k] = v;
    }
    let spec: TaskSpec =
        serde_json::from_value(merged).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(Json(store_spec(&state, &caller, old, spec).await?))
}

/// A lifecycle move.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// The status to move to: `open`, `in_progress`, `completed` or `archived`.
    #[schema(value_type = String)]
    pub(super) status: TaskStatus,
}

/// Move a task along its lifecycle.
///
/// Who may call: the project's managers.
#[utoipa::path(
    post,
    path = "/tasks/{id}/status",
    tag = "tasks",
    params(("id" = i64, Path, description = "The task")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "The task in its new status", body = TaskView),
        ManagerRefusals,
        (status = 409, description = "Not a legal move from the current status", body = ErrorBody),
    )
)]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<StatusBody>,
) -> ApiResult<Json<TaskView>> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    let mut w = state.db.write().await?;
    // Only the status changes, and every other status write updates the row, which this lock
    // holds back; an archive then waits for the items' rows, whose holders may insert into the
    // task (a lease, a label) and must not wait for this lock in turn.
    let current = load_locked(&mut w.tx, id, state.db.for_no_key_update()).await?;
    let next = current
        .status
        .move_to(body.status)
        .map_err(ApiError::conflict)?;
    let now = clock::now().0;
    if next == TaskStatus::Archived {
        // As the archive closes its tasks: leases end, and labels under way finish first.
        let lock = w.for_update();
        if crate::store::archive::close(&mut w, &[id], lock, now)
            .await?
            .is_none()
        {
            return Err(ApiError::conflict("the task is archived already")
                .with_code(ErrorCode::TaskArchived));
        }
    } else {
        store::set_status(&mut w, id, next, Some(now)).await?;
    }
    w.commit().await?;
    Ok(Json(task_json(&state, &load(&state, id).await?).await?))
}

/// Delete a task.
///
/// Who may call: the project's managers.
#[utoipa::path(
    delete,
    path = "/tasks/{id}",
    tag = "tasks",
    params(("id" = i64, Path, description = "The task")),
    responses(
        (status = 204, description = "Deleted, with its items' places, seats, leases and labels"),
        ManagerRefusals,
        (status = 409, description = "The task's archive is still being written (`archive_writing`)", body = ErrorBody),
    )
)]
pub async fn delete_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    delete_tasks(&state, &[id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which tasks to delete.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdsQuery {
    /// Task ids, comma-separated (`1,2,3`).
    pub(super) ids: String,
}

/// Parses `1,2,3`.
pub fn parse_ids(text: &str) -> ApiResult<Vec<i64>> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| ApiError::invalid(format!("{s:?} is not a task id")))
        })
        .collect()
}

/// The tasks deleted.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: Vec<i64>,
}

/// Delete several tasks, all or nothing.
///
/// Who may call: managers of every listed task's project.
#[utoipa::path(
    delete,
    path = "/tasks",
    tag = "tasks",
    params(IdsQuery),
    responses(
        (status = 200, description = "Every listed task was deleted", body = Deleted),
        (status = 400, description = "No ids, or one that is not a number", body = ErrorBody),
        NoToken,
        (status = 403, description = "Not a manager of every listed task's project", body = ErrorBody),
        (status = 404, description = "A listed task does not exist", body = ErrorBody),
        (status = 409, description = "A listed task's archive is still being written (`archive_writing`): nothing was deleted", body = ErrorBody),
    )
)]
pub async fn delete_many(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<IdsQuery>,
) -> ApiResult<Json<Deleted>> {
    let ids = parse_ids(&q.ids)?;
    if ids.is_empty() {
        return Err(ApiError::invalid("ids lists the tasks to delete"));
    }
    for id in &ids {
        let task = load(&state, *id).await?;
        require_manager(&state, &caller, task.project_id).await?;
    }
    delete_tasks(&state, &ids).await?;
    Ok(Json(Deleted { deleted: ids }))
}

pub(super) async fn delete_tasks(state: &AppState, ids: &[i64]) -> ApiResult<()> {
    let mut w = state.db.write().await?;
    let mut archives = Vec::new();
    for id in ids {
        archives.extend(store::delete(&mut w, *id).await?);
    }
    // The deletes waited for the rows an archive under way held, so they name an archive that
    // committed meanwhile, and this later read sees whether its file is written.
    if let Err(e) = crate::api::archives::refuse_while_writing(&mut w, &archives).await {
        w.rollback().await.ok();
        return Err(e);
    }
    w.commit().await?;
    Ok(())
}

/// Items to add to a task.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItems {
    /// Items of the task's project.
    #[schema(value_type = Vec<i64>)]
    pub(super) item_ids: Vec<ItemId>,
    /// For planned tasks: who the new items are planned for (default: the task's assignees).
    #[serde(default)]
    #[schema(value_type = Option<Vec<i64>>)]
    pub(super) assignees: Option<Vec<WorkerId>>,
}

/// How many items a change added.
#[derive(Serialize, ToSchema)]
pub struct Added {
    /// Items new to the task (those already in it are left as they are).
    pub added: u64,
}

/// Add items to a task.
///
/// Who may call: the project's managers. Planned tasks seat the new items among the task's
/// assignees (or the given ones).
#[utoipa::path(
    post,
    path = "/tasks/{id}/items",
    tag = "tasks",
    params(("id" = i64, Path, description = "The task")),
    request_body = AddItems,
    responses(
        (status = 200, description = "Items added", body = Added),
        ManagerRefusals,
        (status = 409, description = "The task is archived", body = ErrorBody),
        (status = 422, description = "No items, items of another project, gold that does not fit, or assignees not on the task", body = ErrorBody),
    )
)]
pub async fn add_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<AddItems>,
) -> ApiResult<Json<Added>> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    refuse_archived(&task)?;
    if body.item_ids.is_empty() {
        return Err(ApiError::validation("item_ids lists at least one item"));
    }
    let items = resolve_input(
        &state,
        task.project_id,
        &InputSource::ItemIds {
            item_ids: body.item_ids.clone(),
        },
        "",
    )
    .await?;
    let assignees = body
        .assignees
        .unwrap_or_else(|| task.spec.assignees.clone());
    if let Some(stranger) = assignees.iter().find(|w| !task.spec.assignees.contains(w)) {
        return Err(ApiError::validation(format!(
            "assignees: user {} is not an assignee of this task",
            stranger.0
        )));
    }
    let ids: Vec<i64> = items.iter().map(|(i, _)| *i).collect();
    check_gold(&state, &task.spec, &ids, "").await?;
    let mut tx = state.db.bulk().await?;
    let current = load_for_update(&state, &mut tx, id).await?;
    refuse_archived(&current)?;
    let added = insert_items(
        &mut tx,
        state.db.backend(),
        id,
        &current.spec,
        &items,
        &assignees,
    )
    .await?;
    if added > 0 && current.status == TaskStatus::Completed {
        store::set_status(&mut tx, id, TaskStatus::InProgress, None).await?;
    }
    tx.commit().await?;
    Ok(Json(Added { added }))
}

/// Items of a task.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemIdsBody {
    #[schema(value_type = Vec<i64>)]
    pub(super) item_ids: Vec<ItemId>,
}

/// How many items a change removed.
#[derive(Serialize, ToSchema)]
pub struct Removed {
    /// Items that were in the task.
    pub removed: u64,
}

/// Remove items from a task.
///
/// Who may call: the project's managers. Their seats and leases' hold on them go; labels
/// already made stay in the history of the item.
#[utoipa::path(
    delete,
    path = "/tasks/{id}/items",
    tag = "tasks",
    params(("id" = i64, Path, description = "The task")),
    request_body = ItemIdsBody,
    responses(
        (status = 200, description = "Items removed", body = Removed),
        ManagerRefusals,
        (status = 409, description = "The task is archived", body = ErrorBody),
    )
)]
pub async fn remove_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<ItemIdsBody>,
) -> ApiResult<Json<Removed>> {
    let mut w = open_for_items(&state, &caller, id).await?;
    let mut removed = 0;
    for item in &body.item_ids {
        removed += u64::from(store::remove_item(&mut w, id, item.0).await?);
    }
    w.commit().await?;
    Ok(Json(Removed { removed }))
}

/// Seats to move from one worker to another.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reassign {
    #[schema(value_type = Vec<i64>)]
    pub(super) item_ids: Vec<ItemId>,
    /// Who holds them now.
    #[schema(value_type = i64)]
    pub(super) from: WorkerId,
    /// Who gets them (an assignee of the task).
    #[schema(value_type = i64)]
    pub(super) to: WorkerId,
}

/// How many seats moved.
#[derive(Serialize, ToSchema)]
pub struct Reassigned {
    pub reassigned: u64,
}

/// Move unfinished items from one worker to another.
///
/// A leased item stays leased, under a new lease of the new holder's (their next batch returns
/// it; like any lease it ends if they do not take it up in time) and keeps its place in the
/// item's overlap; a planned or sent-back item is planned for them. The new holder must be an
/// assignee who has passed the task's qualifications.
///
/// Who may call: the project's managers. The new holder must not hold the item already.
#[utoipa::path(
    post,
    path = "/tasks/{id}/items/reassign",
    tag = "tasks",
    params(("id" = i64, Path, description = "The task")),
    request_body = Reassign,
    responses(
        (status = 200, description = "Seats moved", body = Reassigned),
        ManagerRefusals,
        (status = 409, description = "Archived, the new holder already has the item, or the seat is finished", body = ErrorBody),
        (status = 422, description = "The new holder is not an assignee, or the old one does not hold the item", body = ErrorBody),
    )
)]
pub async fn reassign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<Reassign>,
) -> ApiResult<Json<Reassigned>> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    refuse_archived(&task)?;
    // Like adding items: seats go only to the task's assignees, or the new holder could not
    // lease them (403) and they would drop out of progress.
    if !task.spec.assignees.is_empty() && !task.spec.assignees.contains(&body.to) {
        return Err(field_error(
            "to".into(),
            format!(
                "user {} is not an assignee of this task: add them to its assignees first",
                body.to.0
            ),
        ));
    }
    check_people(
        &state,
        task.project_id,
        &TaskSpec {
            assignees: vec![body.to],
            reviewers: vec![],
            ..task.spec.clone()
        },
    )
    .await?;
    // The seats would be theirs (a leased one under a lease of theirs) while the task's
    // qualifications still keep them out.
    if let Err(e) = require_qualified(&state, &task, body.to.0).await {
        return Err(match e.code {
            ErrorCode::NotQualified => field_error(
                "to".into(),
                format!(
                    "user {} may not work on this task: {}",
                    body.to.0, e.message
                ),
            ),
            _ => e,
        });
    }
    let mut w = state.db.claim().await?;
    // The task's row keeps other manager changes and archives out; labels and leases, which
    // read it by key, go on, and each seat is read below as they leave it.
    let current = load_locked(&mut w, id, state.db.for_no_key_update()).await?;
    refuse_archived(&current)?;
    if current.spec.assignees != task.spec.assignees {
        return Err(ApiError::conflict(
            "the task's assignees changed while this reassign was checked: retry",
        ));
    }
    // Leased seats go under a new lease of the new holder's, one for the whole request: its
    // whole time is theirs, and their next batch takes the seats up (held seats join it).
    let fresh = Lease::new(
        LeaseId(0),
        TaskId(id),
        body.to,
        Millis(clock::now().0),
        current.spec.lease_seconds,
    );
    let mut to_lease: Option<i64> = None;
    let mut moved = 0;
    for item in &body.item_ids {
        // The seat and its item locked first, as a label or a claim does: a label under way
        // finishes (and its seat is then refused below), and no claim takes the item for the
        // new holder between the check of its holders and the move.
        let was = seats::state_locked(&mut w, id, item.0, body.from.0).await?;
        let holders = seats::holders(&mut w, id, item.0).await?;
        plan::check_reassign(*item, body.to, &holders).map_err(ApiError::conflict)?;
        let was = match was {
            Some(s @ (SeatState::Assigned | SeatState::Leased | SeatState::Rework)) => s,
            Some(other) => {
                return Err(ApiError::conflict(format!(
                    "item {} is already {other} by user {}",
                    item.0, body.from.0
                )))
            }
            None => {
                return Err(ApiError::validation(format!(
                    "user {} does not hold item {}",
                    body.from.0, item.0
                )))
            }
        };
        let how = match was {
            SeatState::Leased => {
                let lease = match to_lease {
                    Some(lease) => lease,
                    None => *to_lease.insert(leases::insert(&mut w, &fresh).await?),
                };
                seats::HandedOver::Leased { lease }
            }
            was => seats::HandedOver::Waiting { was },
        };
        seats::hand_over(&mut w, id, *item, (body.from, body.to), how).await?;
        moved += 1;
    }
    w.commit().await?;
    Ok(Json(Reassigned { reassigned: moved }))
}

/// A priority for some of a task's items.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    #[schema(value_type = Vec<i64>)]
    pub(super) item_ids: Vec<ItemId>,
    pub(super) priority: i32,
}

/// How many items changed.
#[derive(Serialize, ToSchema)]
pub struct Updated {
    /// Listed items that are in the task.
    pub updated: u64,
}

/// Set the priority of some of a task's items.
///
/// Who may call: the project's managers.
#[utoipa::path(
    post,
    path = "/tasks/{id}/items/priority",
    tag = "tasks",
    params(("id" = i64, Path, description = "The task")),
    request_body = PriorityBody,
    responses(
        (status = 200, description = "Priorities set", body = Updated),
        ManagerRefusals,
        (status = 409, description = "The task is archived", body = ErrorBody),
    )
)]
pub async fn set_priority(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<PriorityBody>,
) -> ApiResult<Json<Updated>> {
    let mut w = open_for_items(&state, &caller, id).await?;
    let mut changed = 0;
    for item in &body.item_ids {
        let priority = i64::from(body.priority);
        changed += u64::from(store::set_item_priority(&mut w, id, item.0, priority).await?);
    }
    w.commit().await?;
    Ok(Json(Updated { updated: changed }))
}
