//! Projects, their members (with roles) and their datasets.

use super::auth::{require_admin, require_manager, require_member, Caller, Role, Roles};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path};
use super::AppState;
use crate::clock;
use crate::db::{Db, WriteTx};
use crate::store::projects::{self, Project};
use crate::store::users;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

const MAX_NAME_LEN: usize = 200;

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(ApiError::validation(format!(
            "a name is 1 to {MAX_NAME_LEN} characters"
        )));
    }
    Ok(name.to_owned())
}

fn project_json(p: &Project) -> Value {
    json!({
        "id": p.id, "name": p.name, "auto_archive_days": p.auto_archive_days,
        "created_at": p.created_at,
    })
}

/// Fails with 404 unless the project exists.
pub async fn ensure_project(state: &AppState, id: i64) -> ApiResult<()> {
    if projects::exists(&mut state.db.reader().await, id).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("project"))
    }
}

/// `GET /projects`: the projects the caller belongs to (all, for admins).
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let projects = projects::visible_to(&mut state.db.scan(), caller.id, caller.is_admin).await?;
    let projects: Vec<Value> = projects.iter().map(project_json).collect();
    Ok(Json(json!({ "projects": projects })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    name: String,
    #[serde(default)]
    auto_archive_days: Option<u32>,
}

/// `POST /projects` (admin): the creator becomes its manager.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewProject>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&caller)?;
    let name = check_name(&body.name)?;
    let now = clock::now().0;
    let mut w = state.db.write().await?;
    let project = projects::insert(
        &mut w,
        &name,
        body.auto_archive_days.map(i64::from),
        caller.id,
        now,
    )
    .await?;
    users::set_roles(
        &mut w,
        project.id,
        caller.id,
        [Role::Manager].into_iter().collect(),
    )
    .await?;
    w.commit().await?;
    Ok((StatusCode::CREATED, Json(project_json(&project))))
}

/// `GET /projects/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, id).await?;
    let roles = require_member(&state, &caller, id).await?;
    let project = projects::get(&mut state.db.reader().await, id)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    let mut project = project_json(&project);
    project["roles"] = json!(roles.names());
    Ok(Json(project))
}

/// `GET /projects/{id}/members` (managers).
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let members: Vec<Value> = users::members(&mut state.db.scan(), id)
        .await?
        .into_iter()
        .map(|m| json!({"user_id": m.user_id, "name": m.user_name, "roles": m.roles.names()}))
        .collect();
    Ok(Json(json!({ "members": members })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRoles {
    roles: Vec<String>,
}

/// `PUT /projects/{id}/members/{user_id}` (managers): sets a member's roles.
pub async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(i64, i64)>,
    Body(body): Body<MemberRoles>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    if !caller.is_admin && !knows(&state.db, caller.id, user_id).await? {
        // The same answer as for no such user: a manager learns nothing about strangers.
        return Err(ApiError::not_found("user"));
    }
    let roles = set_member_roles(&state.db, id, user_id, &body.roles).await?;
    Ok(Json(json!({ "user_id": user_id, "roles": roles.names() })))
}

/// Whether `caller` may enrol `user_id`: managers enrol people they already work with (members
/// of a project they belong to); everyone else is enrolled by an admin first. Otherwise any
/// manager could enrol every user id in turn and read every user's name from the member list.
async fn knows(db: &Db, caller: i64, user_id: i64) -> ApiResult<bool> {
    Ok(users::share_a_project(&mut db.reader().await, caller, user_id).await?)
}

/// Refuses (409) to leave `project_id` without a manager once `user_id` stops being one: locks
/// the project (PostgreSQL) so two managers cannot demote each other at the same time.
async fn keep_a_manager(w: &mut WriteTx, project_id: i64, user_id: i64) -> ApiResult<()> {
    let lock = w.for_update();
    projects::lock(w, project_id, lock).await?;
    if users::with_role(w, project_id, Role::Manager).await? == [user_id] {
        return Err(ApiError::conflict(
            "this is the project's last manager: make someone else a manager first",
        )
        .with_code(ErrorCode::LastManager)
        .with_details(json!([{"field": "roles", "message": "the project needs a manager"}])));
    }
    Ok(())
}

/// Makes `user_id` a member of `project_id` with exactly `names` (replacing earlier roles);
/// shared with `quorum user create`, which has no caller to check.
pub async fn set_member_roles(
    db: &Db,
    project_id: i64,
    user_id: i64,
    names: &[String],
) -> ApiResult<Roles> {
    let roles = Roles::from_names(names).map_err(ApiError::validation)?;
    if roles.is_empty() {
        return Err(ApiError::validation(
            "give at least one role, or DELETE the member",
        ));
    }
    let mut w = db.write().await?;
    if !users::exists(&mut w, user_id).await? {
        return Err(ApiError::not_found("user"));
    }
    if !roles.contains(&Role::Manager) {
        if let Err(e) = keep_a_manager(&mut w, project_id, user_id).await {
            w.rollback().await?;
            return Err(e);
        }
    }
    users::set_roles(&mut w, project_id, user_id, roles).await?;
    w.commit().await?;
    Ok(roles)
}

/// `DELETE /projects/{id}/members/{user_id}` (managers).
pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(i64, i64)>,
) -> ApiResult<StatusCode> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let mut w = state.db.write().await?;
    if let Err(e) = keep_a_manager(&mut w, id, user_id).await {
        w.rollback().await?;
        return Err(e);
    }
    let gone = users::remove_member(&mut w, id, user_id).await?;
    w.commit().await?;
    if !gone {
        return Err(ApiError::not_found("member"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /projects/{id}/datasets` (members).
pub async fn datasets(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let out: Vec<Value> = projects::datasets(&mut state.db.scan(), id)
        .await?
        .into_iter()
        .map(|d| json!({"id": d.id, "name": d.name, "created_at": d.created_at, "items": d.items}))
        .collect();
    Ok(Json(json!({ "datasets": out })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDataset {
    name: String,
}

/// `POST /projects/{id}/datasets` (managers).
pub async fn create_dataset(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<NewDataset>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let name = check_name(&body.name)?;
    let now = clock::now().0;
    let mut w = state.db.write().await?;
    let dataset_id = projects::insert_dataset(&mut w, id, &name, now).await?;
    w.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": dataset_id, "project_id": id, "name": name, "created_at": now, "items": 0}),
        ),
    ))
}
