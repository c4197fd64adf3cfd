//! Who is calling: bearer tokens (stored as SHA-256 hashes) and per-project roles.

use super::error::{ApiError, ErrorCode};
use super::AppState;
use crate::store::users;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The authenticated user of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// User id.
    pub id: i64,
    /// User name.
    pub name: String,
    /// Admins may do anything.
    pub is_admin: bool,
}

pub use crate::store::users::{Role, Roles};

/// The stored form of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random token (256 bits), shown once to its owner.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("qrm_{}", hex::encode(bytes))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Bearer(hash) = Bearer::from_request_parts(parts, state).await?;
        caller_of(state, &hash).await
    }
}

/// The bearer token a request came with, in its stored (hashed) form; 401 without one. For
/// handlers that read the caller together with what they need first (`store::ops::context`).
pub struct Bearer(pub String);

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("sign in: send Authorization: Bearer <token>"))?;
        Ok(Bearer(hash_token(token_in(header)?)))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, message)
}

/// The token of an `Authorization` header.
fn token_in(header: &str) -> Result<&str, ApiError> {
    header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be Bearer <token>"))
}

/// The caller an `Authorization` header names.
pub async fn caller_for_header(state: &AppState, header: &str) -> Result<Caller, ApiError> {
    caller_of(state, &hash_token(token_in(header)?)).await
}

/// The user a token belongs to, unless it is unknown or revoked.
pub async fn caller_for_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    caller_of(state, &hash_token(token)).await
}

/// The user a token's stored hash belongs to, unless it is unknown or revoked.
pub async fn caller_of(state: &AppState, hash: &str) -> Result<Caller, ApiError> {
    caller_from(users::by_token(&mut state.db.reader().await, hash).await?)
}

/// `refusal` for a caller whose token is valid; 401 for anyone else, who hears that first
/// whatever else is wrong with the request.
pub async fn unless_unknown(state: &AppState, hash: &str, refusal: ApiError) -> ApiError {
    match caller_of(state, hash).await {
        Ok(_) => refusal,
        Err(unknown) => unknown,
    }
}

/// The caller a token lookup found; 401 when it found nobody.
pub fn caller_from(user: Option<users::User>) -> Result<Caller, ApiError> {
    let user = user.ok_or_else(|| unauthorized("unknown or revoked token"))?;
    Ok(Caller {
        id: user.id,
        name: user.name,
        is_admin: user.is_admin,
    })
}

/// The caller's roles in a project (admins hold every role everywhere).
pub async fn roles(state: &AppState, caller: &Caller, project_id: i64) -> Result<Roles, ApiError> {
    if caller.is_admin {
        return Ok(Roles::all());
    }
    Ok(users::roles_in(&mut state.db.reader().await, project_id, caller.id).await?)
}

/// Fails with 403 unless the caller manages the project.
pub async fn require_manager(
    state: &AppState,
    caller: &Caller,
    project_id: i64,
) -> Result<(), ApiError> {
    if roles(state, caller, project_id)
        .await?
        .contains(&Role::Manager)
    {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only the project's managers may do this",
        ))
    }
}

/// Fails with 403 unless the caller has some role in the project.
pub async fn require_member(
    state: &AppState,
    caller: &Caller,
    project_id: i64,
) -> Result<Roles, ApiError> {
    let roles = roles(state, caller, project_id).await?;
    if roles.is_empty() {
        Err(ApiError::forbidden("you are not a member of this project"))
    } else {
        Ok(roles)
    }
}

/// Fails with 403 unless the caller is an admin.
pub fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden("only admins may do this"))
    }
}
