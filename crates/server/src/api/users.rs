//! Users and tokens: who the caller is, creating users, issuing and revoking tokens.

use super::auth::{hash_token, new_token as random_token, require_admin, Caller};
use super::error::{ApiError, ApiResult, Body, Path};
use super::AppState;
use crate::clock;
use crate::db::Db;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

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
    let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *w.tx)
        .await?;
    if taken.is_some() {
        return Err(ApiError::conflict(format!("a user named {name:?} exists")));
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (name, is_admin, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(is_admin as i64)
    .bind(now)
    .fetch_one(&mut *w.tx)
    .await?;
    sqlx::query("INSERT INTO tokens (user_id, hash, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(hash_token(&token))
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok((id, token))
}

/// `GET /me`: the caller and their projects with roles.
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let rows = if caller.is_admin {
        sqlx::query(
            "SELECT id, name, 'manager,annotator,reviewer' AS roles FROM projects ORDER BY id",
        )
        .fetch_all(state.db.pool())
        .await?
    } else {
        sqlx::query(
            "SELECT p.id, p.name, m.roles FROM members m JOIN projects p ON p.id = m.project_id \
             WHERE m.user_id = $1 ORDER BY p.id",
        )
        .bind(caller.id)
        .fetch_all(state.db.pool())
        .await?
    };
    let mut projects = Vec::new();
    for r in rows {
        let roles: String = r.try_get("roles")?;
        projects.push(json!({
            "id": r.try_get::<i64, _>("id")?,
            "name": r.try_get::<String, _>("name")?,
            "roles": roles.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        }));
    }
    Ok(Json(json!({
        "id": caller.id, "name": caller.name, "is_admin": caller.is_admin, "projects": projects,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    name: String,
    #[serde(default)]
    is_admin: bool,
}

/// `POST /users` (admin): a new user and their first token, shown once.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewUser>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    require_admin(&caller)?;
    let (id, token) = create_user(&state.db, &body.name, body.is_admin, None).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "user": {"id": id, "name": body.name.trim(), "is_admin": body.is_admin},
            "token": token,
        })),
    ))
}

/// `GET /users` (admin).
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    require_admin(&caller)?;
    let users = list_users(&state.db).await?;
    Ok(Json(json!({ "users": users })))
}

/// Every user as `{"id","name","is_admin"}`, by id (the handler above and `quorum user list`).
pub async fn list_users(db: &Db) -> Result<Vec<Value>, ApiError> {
    let rows = sqlx::query("SELECT id, name, is_admin FROM users ORDER BY id")
        .fetch_all(db.pool())
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            json!({
                "id": r.try_get::<i64, _>("id").unwrap_or_default(),
                "name": r.try_get::<String, _>("name").unwrap_or_default(),
                "is_admin": r.try_get::<i64, _>("is_admin").unwrap_or_default() != 0,
            })
        })
        .collect())
}

/// The id of the user called `name` (the CLI names users; the API uses ids).
pub async fn user_id_by_name(db: &Db, name: &str) -> Result<i64, ApiError> {
    sqlx::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name.trim())
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("user {:?}", name.trim())))
}

/// `POST /users/{id}/tokens` (admin or the user): another token.
pub async fn new_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<i64>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if !caller.is_admin && caller.id != user_id {
        return Err(ApiError::forbidden("you may only make tokens for yourself"));
    }
    let token = issue_token(&state.db, user_id).await?;
    Ok((StatusCode::CREATED, Json(json!({ "token": token }))))
}

/// Issues another token for `user_id` (404 if there is no such user); returned once, stored hashed.
pub async fn issue_token(db: &Db, user_id: i64) -> Result<String, ApiError> {
    let token = random_token();
    let mut w = db.write().await?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *w.tx)
        .await?;
    if exists.is_none() {
        return Err(ApiError::not_found("user"));
    }
    sqlx::query("INSERT INTO tokens (user_id, hash, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(hash_token(&token))
        .bind(clock::now().0)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok(token)
}

/// Revokes every live token of `user_id` (a leaked or departed account); returns how many.
pub async fn revoke_tokens(db: &Db, user_id: i64) -> Result<u64, ApiError> {
    let mut w = db.write().await?;
    let n =
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(clock::now().0)
            .bind(user_id)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
    w.commit().await?;
    Ok(n)
}

/// `DELETE /tokens/current`: signs the caller's token out for good.
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
    sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE hash = $2 AND user_id = $3")
        .bind(clock::now().0)
        .bind(hash_token(token))
        .bind(caller.id)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
