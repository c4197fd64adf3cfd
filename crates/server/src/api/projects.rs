//! Projects, their members (with roles) and their datasets.

use super::auth::{require_admin, require_manager, require_member, Caller, Role};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path};
use super::AppState;
use crate::clock;
use crate::db::Db;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

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

fn project_json(r: &sqlx::any::AnyRow) -> ApiResult<Value> {
    Ok(json!({
        "id": r.try_get::<i64, _>("id")?,
        "name": r.try_get::<String, _>("name")?,
        "auto_archive_days": r.try_get::<Option<i64>, _>("auto_archive_days")?,
        "created_at": r.try_get::<i64, _>("created_at")?,
    }))
}

/// Fails with 404 unless the project exists.
pub async fn ensure_project(state: &AppState, id: i64) -> ApiResult<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("project"))
}

/// `GET /projects`: the projects the caller belongs to (all, for admins).
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let rows = sqlx::query(
        "SELECT id, name, auto_archive_days, created_at FROM projects p WHERE $1 = 1 OR EXISTS \
         (SELECT 1 FROM members m WHERE m.project_id = p.id AND m.user_id = $2) ORDER BY id",
    )
    .bind(caller.is_admin as i64)
    .bind(caller.id)
    .fetch_all(state.db.pool())
    .await?;
    let projects = rows
        .iter()
        .map(project_json)
        .collect::<ApiResult<Vec<_>>>()?;
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
    let row = sqlx::query(
        "INSERT INTO projects (name, auto_archive_days, created_by, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id, name, auto_archive_days, created_at",
    )
    .bind(&name)
    .bind(body.auto_archive_days.map(i64::from))
    .bind(caller.id)
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await?;
    let project = project_json(&row)?;
    sqlx::query("INSERT INTO members (project_id, user_id, roles) VALUES ($1, $2, 'manager')")
        .bind(project["id"].as_i64())
        .bind(caller.id)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok((StatusCode::CREATED, Json(project)))
}

/// `GET /projects/{id}`.
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    ensure_project(&state, id).await?;
    let roles = require_member(&state, &caller, id).await?;
    let row =
        sqlx::query("SELECT id, name, auto_archive_days, created_at FROM projects WHERE id = $1")
            .bind(id)
            .fetch_one(state.db.pool())
            .await?;
    let mut project = project_json(&row)?;
    project["roles"] = json!(roles.iter().map(|r| r.name()).collect::<Vec<_>>());
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
    let rows = sqlx::query(
        "SELECT u.id, u.name, m.roles FROM members m JOIN users u ON u.id = m.user_id \
         WHERE m.project_id = $1 ORDER BY u.id",
    )
    .bind(id)
    .fetch_all(state.db.pool())
    .await?;
    let mut members = Vec::new();
    for r in rows {
        let roles: String = r.try_get("roles")?;
        members.push(json!({
            "user_id": r.try_get::<i64, _>("id")?,
            "name": r.try_get::<String, _>("name")?,
            "roles": roles.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        }));
    }
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
    Ok(Json(
        json!({ "user_id": user_id, "roles": roles.iter().map(|r| r.name()).collect::<Vec<_>>() }),
    ))
}

/// Whether `caller` may enrol `user_id`: managers enrol people they already work with (members
/// of a project they belong to); everyone else is enrolled by an admin first. Otherwise any
/// manager could enrol every user id in turn and read every user's name from the member list.
async fn knows(db: &Db, caller: i64, user_id: i64) -> ApiResult<bool> {
    let shared: Option<i64> = sqlx::query_scalar(
        "SELECT a.project_id FROM members a JOIN members b ON b.project_id = a.project_id \
         WHERE a.user_id = $1 AND b.user_id = $2 LIMIT 1",
    )
    .bind(caller)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    Ok(shared.is_some())
}

/// Refuses (409) to leave `project_id` without a manager once `user_id` stops being one: locks
/// the project (PostgreSQL) so two managers cannot demote each other at the same time.
async fn keep_a_manager(
    db: &Db,
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    project_id: i64,
    user_id: i64,
) -> ApiResult<()> {
    sqlx::query(&format!(
        "SELECT id FROM projects WHERE id = $1{}",
        db.for_update()
    ))
    .bind(project_id)
    .fetch_optional(&mut **tx)
    .await?;
    let rows = sqlx::query("SELECT user_id, roles FROM members WHERE project_id = $1")
        .bind(project_id)
        .fetch_all(&mut **tx)
        .await?;
    let mut managers = Vec::new();
    for r in &rows {
        let roles: String = r.try_get("roles")?;
        if roles.split(',').any(|role| role == Role::Manager.name()) {
            managers.push(r.try_get::<i64, _>("user_id")?);
        }
    }
    if managers == [user_id] {
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
) -> ApiResult<Vec<Role>> {
    let mut roles: Vec<Role> = Vec::new();
    for name in names {
        let role = Role::parse(name).ok_or_else(|| {
            ApiError::validation(format!(
                "unknown role {name:?}: use manager, annotator or reviewer"
            ))
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err(ApiError::validation(
            "give at least one role, or DELETE the member",
        ));
    }
    let joined = roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(",");
    let mut w = db.write().await?;
    let user: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *w.tx)
        .await?;
    if user.is_none() {
        return Err(ApiError::not_found("user"));
    }
    if !roles.contains(&Role::Manager) {
        if let Err(e) = keep_a_manager(db, &mut w.tx, project_id, user_id).await {
            w.rollback().await?;
            return Err(e);
        }
    }
    sqlx::query("DELETE FROM members WHERE project_id = $1 AND user_id = $2")
        .bind(project_id)
        .bind(user_id)
        .execute(&mut *w.tx)
        .await?;
    sqlx::query("INSERT INTO members (project_id, user_id, roles) VALUES ($1, $2, $3)")
        .bind(project_id)
        .bind(user_id)
        .bind(&joined)
        .execute(&mut *w.tx)
        .await?;
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
    if let Err(e) = keep_a_manager(&state.db, &mut w.tx, id, user_id).await {
        w.rollback().await?;
        return Err(e);
    }
    let gone = sqlx::query("DELETE FROM members WHERE project_id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
    w.commit().await?;
    if gone == 0 {
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
    let rows = sqlx::query(
        "SELECT d.id, d.name, d.created_at, (SELECT COUNT(*) FROM items i WHERE i.dataset_id = d.id) AS items \
         FROM datasets d WHERE d.project_id = $1 ORDER BY d.id",
    )
    .bind(id)
    .fetch_all(state.db.pool())
    .await?;
    let mut out = Vec::new();
    for r in rows {
        out.push(json!({
            "id": r.try_get::<i64, _>("id")?,
            "name": r.try_get::<String, _>("name")?,
            "created_at": r.try_get::<i64, _>("created_at")?,
            "items": r.try_get::<i64, _>("items")?,
        }));
    }
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
    let dataset_id: i64 = sqlx::query_scalar(
        "INSERT INTO datasets (project_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(id)
    .bind(&name)
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await?;
    w.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": dataset_id, "project_id": id, "name": name, "created_at": now, "items": 0}),
        ),
    ))
}
