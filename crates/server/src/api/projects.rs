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
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

type ErrorBody = super::error_code::ErrorBody;

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

/// A project.
#[derive(Serialize, ToSchema)]
pub struct ProjectView {
    pub id: i64,
    pub name: String,
    /// Completed tasks are archived this many days after their last change (none: never).
    pub auto_archive_days: Option<i64>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        ProjectView {
            id: p.id,
            name: p.name,
            auto_archive_days: p.auto_archive_days,
            created_at: p.created_at,
        }
    }
}

/// Fails with 404 unless the project exists.
pub async fn ensure_project(state: &AppState, id: i64) -> ApiResult<()> {
    if projects::exists(&mut state.db.reader().await, id).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("project"))
    }
}

/// Projects.
#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
}

/// Projects the caller belongs to.
///
/// Who may call: any user (admins see every project).
#[utoipa::path(get, path = "/projects", tag = "projects",
    responses(
        (status = 200, description = "The projects", body = ProjectList),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ProjectList>> {
    let projects = projects::visible_to(&mut state.db.scan(), caller.id, caller.is_admin).await?;
    let projects = projects.into_iter().map(ProjectView::from).collect();
    Ok(Json(ProjectList { projects }))
}

/// A project to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    /// 1 to 200 characters.
    name: String,
    #[serde(default)]
    auto_archive_days: Option<u32>,
}

/// Create a project.
///
/// Who may call: admin. The creator becomes its manager.
#[utoipa::path(post, path = "/projects", tag = "projects",
    request_body = NewProject,
    responses(
        (status = 201, description = "The project", body = ProjectView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 422, description = "The name is empty or too long", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewProject>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
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
    Ok((StatusCode::CREATED, Json(project.into())))
}

/// A project and the caller's roles in it.
#[derive(Serialize, ToSchema)]
pub struct ProjectWithRoles {
    #[serde(flatten)]
    pub project: ProjectView,
    /// Role names: `manager`, `annotator`, `reviewer`.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<&'static str>,
}

/// One project, with the caller's roles in it.
///
/// Who may call: a member of the project.
#[utoipa::path(get, path = "/projects/{id}", tag = "projects",
    params(("id" = i64, Path, description = "The project")),
    responses(
        (status = 200, description = "The project", body = ProjectWithRoles),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a member", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<ProjectWithRoles>> {
    ensure_project(&state, id).await?;
    let roles = require_member(&state, &caller, id).await?;
    let project = projects::get(&mut state.db.reader().await, id)
        .await?
        .ok_or_else(|| ApiError::not_found("project"))?;
    Ok(Json(ProjectWithRoles {
        project: project.into(),
        roles: roles.names(),
    }))
}

/// A member of a project and their roles.
#[derive(Serialize, ToSchema)]
pub struct Member {
    pub user_id: i64,
    pub name: String,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<&'static str>,
}

/// A project's members.
#[derive(Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// Members and their roles.
///
/// Who may call: a manager of the project.
#[utoipa::path(get, path = "/projects/{id}/members", tag = "projects",
    params(("id" = i64, Path, description = "The project")),
    responses(
        (status = 200, description = "The members", body = MemberList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager of the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<MemberList>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let members = users::members(&mut state.db.scan(), id)
        .await?
        .into_iter()
        .map(|m| Member {
            user_id: m.user_id,
            name: m.user_name,
            roles: m.roles.names(),
        })
        .collect();
    Ok(Json(MemberList { members }))
}

/// The roles to give a member (replacing the ones they had).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRoles {
    /// At least one of `manager`, `annotator`, `reviewer`.
    roles: Vec<String>,
}

/// A member's roles as set.
#[derive(Serialize, ToSchema)]
pub struct MemberRolesSet {
    pub user_id: i64,
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<&'static str>,
}

/// Set a member's roles, enrolling them if need be.
///
/// Who may call: a manager of the project. A manager enrols only users they share a project
/// with; the last manager cannot stop being one.
#[utoipa::path(put, path = "/projects/{id}/members/{user_id}", tag = "projects",
    params(
        ("id" = i64, Path, description = "The project"),
        ("user_id" = i64, Path, description = "The user"),
    ),
    request_body = MemberRoles,
    responses(
        (status = 200, description = "The roles as set", body = MemberRolesSet),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager of the project", body = ErrorBody),
        (status = 404, description = "No such project or user", body = ErrorBody),
        (status = 409, description = "The project would have no manager (`last_manager`)", body = ErrorBody),
        (status = 422, description = "No role, or an unknown one", body = ErrorBody),
    ))]
pub async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(i64, i64)>,
    Body(body): Body<MemberRoles>,
) -> ApiResult<Json<MemberRolesSet>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    if !caller.is_admin && !knows(&state.db, caller.id, user_id).await? {
        // The same answer as for no such user: a manager learns nothing about strangers.
        return Err(ApiError::not_found("user"));
    }
    let roles = set_member_roles(&state.db, id, user_id, &body.roles).await?;
    Ok(Json(MemberRolesSet {
        user_id,
        roles: roles.names(),
    }))
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

/// Remove a member.
///
/// Who may call: a manager of the project. The last manager cannot be removed.
#[utoipa::path(delete, path = "/projects/{id}/members/{user_id}", tag = "projects",
    params(
        ("id" = i64, Path, description = "The project"),
        ("user_id" = i64, Path, description = "The member"),
    ),
    responses(
        (status = 204, description = "No longer a member"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager of the project", body = ErrorBody),
        (status = 404, description = "No such project or member", body = ErrorBody),
        (status = 409, description = "The project would have no manager (`last_manager`)", body = ErrorBody),
    ))]
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

/// A dataset and how many items it holds.
#[derive(Serialize, ToSchema)]
pub struct DatasetView {
    pub id: i64,
    pub name: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub items: i64,
}

/// A project's datasets.
#[derive(Serialize, ToSchema)]
pub struct DatasetList {
    pub datasets: Vec<DatasetView>,
}

/// Datasets with item counts.
///
/// Who may call: a manager of the project.
#[utoipa::path(get, path = "/projects/{id}/datasets", tag = "projects",
    params(("id" = i64, Path, description = "The project")),
    responses(
        (status = 200, description = "The datasets", body = DatasetList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager of the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
    ))]
pub async fn datasets(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<DatasetList>> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let datasets = projects::datasets(&mut state.db.scan(), id)
        .await?
        .into_iter()
        .map(|d| DatasetView {
            id: d.id,
            name: d.name,
            created_at: d.created_at,
            items: d.items,
        })
        .collect();
    Ok(Json(DatasetList { datasets }))
}

/// A dataset to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDataset {
    /// 1 to 200 characters.
    name: String,
}

/// A created dataset.
#[derive(Serialize, ToSchema)]
pub struct CreatedDataset {
    pub project_id: i64,
    #[serde(flatten)]
    pub dataset: DatasetView,
}

/// Create a dataset.
///
/// Who may call: a manager of the project.
#[utoipa::path(post, path = "/projects/{id}/datasets", tag = "projects",
    params(("id" = i64, Path, description = "The project")),
    request_body = NewDataset,
    responses(
        (status = 201, description = "The dataset (empty)", body = CreatedDataset),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a manager of the project", body = ErrorBody),
        (status = 404, description = "No such project", body = ErrorBody),
        (status = 422, description = "The name is empty or too long", body = ErrorBody),
    ))]
pub async fn create_dataset(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<NewDataset>,
) -> ApiResult<(StatusCode, Json<CreatedDataset>)> {
    ensure_project(&state, id).await?;
    require_manager(&state, &caller, id).await?;
    let name = check_name(&body.name)?;
    let now = clock::now().0;
    let mut w = state.db.write().await?;
    let dataset_id = projects::insert_dataset(&mut w, id, &name, now).await?;
    w.commit().await?;
    let dataset = DatasetView {
        id: dataset_id,
        name,
        created_at: now,
        items: 0,
    };
    Ok((
        StatusCode::CREATED,
        Json(CreatedDataset {
            project_id: id,
            dataset,
        }),
    ))
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list,
    create,
    get_one,
    members,
    set_member,
    remove_member,
    datasets,
    create_dataset
))]
pub(crate) struct Doc;
