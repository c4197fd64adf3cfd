//! Users and tokens: who the caller is, creating users, issuing and revoking tokens.

use super::auth::{hash_token, new_token as random_token, require_admin, Caller};
use super::error::{ApiError, ApiResult, Body, Path};
use super::AppState;
use crate::clock;
use crate::db::Db;
use crate::store::projects;
use crate::store::users::{self, Roles};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

type ErrorBody = super::error_code::ErrorBody;

/// The longest user name.
const MAX_NAME_LEN: usize = 100;

/// Creates a user and a token for it; `token` fixes the token (demo data), else it is random.
/// Returns the user id and the token, which is never stored in clear.
pub async fn create_user(
    db: &Db,
    name: &str,
    is_admin: bool,
    token: Option<&str>,
) -> Result<(i64, String), ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "a user name is 1 to {MAX_NAME_LEN} printable characters"
        )));
    }
    if name.starts_with(super::predictions::MODEL_PREFIX) {
        return Err(ApiError::validation(format!(
            "names starting with {:?} stand for models",
            super::predictions::MODEL_PREFIX
        )));
    }
    let token = token.map(str::to_owned).unwrap_or_else(random_token);
    let now = clock::now().0;
    let mut w = db.write().await?;
    if users::id_by_name(&mut w, name).await?.is_some() {
        return Err(ApiError::conflict(format!("a user named {name:?} exists")));
    }
    let id = users::insert(&mut w, name, is_admin, now).await?;
    users::insert_token(&mut w, id, &hash_token(&token), now).await?;
    w.commit().await?;
    Ok((id, token))
}

/// The caller, as `GET /me` answers.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    /// Every project for admins (with every role), else the caller's memberships.
    pub projects: Vec<MyProject>,
}

/// A project the caller belongs to, with their roles in it.
#[derive(Serialize, ToSchema)]
pub struct MyProject {
    pub id: i64,
    pub name: String,
    /// Role names: `manager`, `annotator`, `reviewer`.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<&'static str>,
}

/// The caller and their projects with roles.
///
/// Who may call: any user.
#[utoipa::path(get, path = "/me", tag = "users",
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let mut on = state.db.scan();
    let projects: Vec<MyProject> = if caller.is_admin {
        projects::visible_to(&mut on, caller.id, true)
            .await?
            .into_iter()
            .map(|p| MyProject {
                id: p.id,
                name: p.name,
                roles: Roles::all().names(),
            })
            .collect()
    } else {
        users::memberships(&mut on, caller.id)
            .await?
            .into_iter()
            .map(|m| MyProject {
                id: m.project_id,
                name: m.project_name,
                roles: m.roles.names(),
            })
            .collect()
    };
    Ok(Json(Me {
        id: caller.id,
        name: caller.name,
        is_admin: caller.is_admin,
        projects,
    }))
}

/// A user to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1 to 100 printable characters, unique.
    name: String,
    #[serde(default)]
    is_admin: bool,
}

/// A user as listed.
#[derive(Serialize, ToSchema)]
pub struct UserSummary {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
}

/// A created user and their first token.
#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: UserSummary,
    /// Shown once; only its hash is stored.
    pub token: String,
}

/// Create a user; the token is shown once.
///
/// Who may call: admin.
#[utoipa::path(post, path = "/users", tag = "users",
    request_body = NewUser,
    responses(
        (status = 201, description = "The user and their first token", body = CreatedUser),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "The name is empty, too long or a model's", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    require_admin(&caller)?;
    let (id, token) = create_user(&state.db, &body.name, body.is_admin, None).await?;
    let user = UserSummary {
        id,
        name: body.name.trim().to_owned(),
        is_admin: body.is_admin,
    };
    Ok((StatusCode::CREATED, Json(CreatedUser { user, token })))
}

/// Every user.
#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserSummary>,
}

/// List users.
///
/// Who may call: admin.
#[utoipa::path(get, path = "/users", tag = "users",
    responses(
        (status = 200, description = "Every user, by id", body = UserList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The caller is not an admin", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<UserList>> {
    require_admin(&caller)?;
    let users = list_users(&state.db).await?;
    Ok(Json(UserList { users }))
}

/// Every user, by id (the handler above and `quorum user list`).
pub async fn list_users(db: &Db) -> Result<Vec<UserSummary>, ApiError> {
    Ok(users::list(&mut db.scan())
        .await?
        .into_iter()
        .map(|u| UserSummary {
            id: u.id,
            name: u.name,
            is_admin: u.is_admin,
        })
        .collect())
}

/// The id of the user called `name` (the CLI names users; the API uses ids).
pub async fn user_id_by_name(db: &Db, name: &str) -> Result<i64, ApiError> {
    users::id_by_name(&mut db.scan(), name.trim())
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("user {:?}", name.trim())))
}

/// A new token, shown once.
#[derive(Serialize, ToSchema)]
pub struct NewToken {
    pub token: String,
}

/// Issue another token for a user.
///
/// Who may call: admin, or the user themselves.
#[utoipa::path(post, path = "/users/{id}/tokens", tag = "users",
    params(("id" = i64, Path, description = "The user")),
    responses(
        (status = 201, description = "The token, shown once", body = NewToken),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Another user's, and the caller is not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ))]
pub async fn new_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<i64>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    if !caller.is_admin && caller.id != user_id {
        return Err(ApiError::forbidden("you may only make tokens for yourself"));
    }
    let token = issue_token(&state.db, user_id).await?;
    Ok((StatusCode::CREATED, Json(NewToken { token })))
}

/// Issues another token for `user_id` (404 if there is no such user); returned once, stored hashed.
pub async fn issue_token(db: &Db, user_id: i64) -> Result<String, ApiError> {
    let token = random_token();
    let mut w = db.write().await?;
    if !users::exists(&mut w, user_id).await? {
        return Err(ApiError::not_found("user"));
    }
    users::insert_token(&mut w, user_id, &hash_token(&token), clock::now().0).await?;
    w.commit().await?;
    Ok(token)
}

/// Revokes every live token of `user_id` (a leaked or departed account); returns how many.
pub async fn revoke_tokens(db: &Db, user_id: i64) -> Result<u64, ApiError> {
    let mut w = db.write().await?;
    let n = users::revoke_tokens(&mut w, user_id, clock::now().0).await?;
    w.commit().await?;
    Ok(n)
}

/// Revoke the caller's token: signs it out for good.
///
/// Who may call: any user.
#[utoipa::path(delete, path = "/tokens/current", tag = "users",
    responses(
        (status = 204, description = "The token no longer works"),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub async fn revoke_current(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> ApiResult<StatusCode> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim();
    let mut w = state.db.write().await?;
    users::revoke_token(&mut w, caller.id, &hash_token(token), clock::now().0).await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(me, create, list, new_token, revoke_current))]
pub(crate) struct Doc;
