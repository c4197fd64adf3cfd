//! Ops' stored answers (`ops`): each op a client sends through `/sync` is applied once, and its
//! answer is kept with its effect, so a replay gets the same answer and changes nothing
//! (invariants 3 and 4). Also the one read a labeling request starts with.

use super::tasks::{self as task_rows, TaskRecord};
use super::users::{Roles, User};
use crate::sql::{self, Runner};

/// An op's answer as stored: who sent it, its id, the answer (JSON), when.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The op's sender.
    pub user_id: i64,
    /// The client's id of the op.
    pub client_op_id: &'a str,
    /// The answer, serialized.
    pub outcome: &'a str,
    /// When it was applied.
    pub at: i64,
}

/// The answer stored for `user`'s op `client_op_id`, if it was applied before.
pub async fn stored(
    on: &mut impl Runner,
    user: i64,
    client_op_id: &str,
) -> sqlx::Result<Option<String>> {
    sql::query_scalar("SELECT outcome FROM ops WHERE user_id = $1 AND client_op_id = $2")
        .bind(user)
        .bind(client_op_id)
        .fetch_optional(on)
        .await
}

/// Stores an op's answer in the transaction that applied it; false when another request
/// stored the op's answer first (the insert waits for it on PostgreSQL), and this
/// transaction's effect must be undone.
pub async fn store(tx: &mut impl Runner, answer: &Answer<'_>) -> sqlx::Result<bool> {
    let stored = sql::query(
        "INSERT INTO ops (user_id, client_op_id, outcome, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, client_op_id) DO NOTHING",
    )
    .bind(answer.user_id)
    .bind(answer.client_op_id)
    .bind(answer.outcome)
    .bind(answer.at)
    .execute(tx)
    .await?;
    Ok(stored == 1)
}

/// Who a request is from: a user already known, or the hash of the token it came with.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// A known user.
    User(i64),
    /// A bearer token's stored hash, read with the rest.
    Token(&'a str),
}

/// What a request on a task needs to know before it writes: who is calling (when asked by
/// token), the task, the caller's roles in its project, and (for an op) the op's stored answer.
#[derive(Debug, Clone)]
pub struct Context {
    /// The user of a live token (`Who::Token`; none: the token is unknown or revoked).
    pub caller: Option<User>,
    /// The task (none: no such task).
    pub task: Option<TaskRecord>,
    /// The caller's roles in the task's project as stored (an admin's are not stored).
    pub roles: Roles,
    /// The op's stored answer, when it was applied before.
    pub prior: Option<String>,
}

/// The caller, the task, the caller's roles in its project and the op's stored answer, in one
/// statement: on PostgreSQL each statement is a round trip between two processes sharing the
/// CPU, and these four were four of a label's twelve.
pub async fn context(
    on: &mut impl Runner,
    who: Who<'_>,
    task_id: i64,
    client_op_id: Option<&str>,
) -> sqlx::Result<Context> {
    let row = context_query(who, task_id, client_op_id)
        .fetch_one(on)
        .await?;
    context_from(who, &row)
}

/// The statement of [`context`].
fn context_query(who: Who<'_>, task_id: i64, client_op_id: Option<&str>) -> sql::Query {
    // One text per shape, so each stays prepared. The token's joins are those of
    // `users::by_token`.
    let (caller, from, me) = match who {
        Who::User(_) => ("", "", "$1"),
        Who::Token(_) => (
            "u.id AS caller_id, u.name AS caller_name, u.is_admin AS caller_is_admin, ",
            "LEFT JOIN tokens tk ON tk.hash = $1 AND tk.revoked_at IS NULL \
             LEFT JOIN users u ON u.id = tk.user_id ",
            "u.id",
        ),
    };
    let (prior, join) = match client_op_id {
        Some(_) => (
            "o.outcome".to_owned(),
            format!("LEFT JOIN ops o ON o.user_id = {me} AND o.client_op_id = $3"),
        ),
        None => ("CAST(NULL AS TEXT)".to_owned(), String::new()),
    };
    let mut query = sql::query(format!(
        "SELECT {caller}{prior} AS prior_outcome, m.roles AS member_roles, t.* FROM (SELECT 1 AS one) one \
         {from}{join} LEFT JOIN tasks t ON t.id = $2 \
         LEFT JOIN members m ON m.project_id = t.project_id AND m.user_id = {me}"
    ));
    query = match who {
        Who::User(id) => query.bind(id),
        Who::Token(hash) => query.bind(hash),
    };
    query = query.bind(task_id);
    if let Some(id) = client_op_id {
        query = query.bind(id);
    }
    query
}

/// The row of [`context_query`], read.
fn context_from(who: Who<'_>, row: &sql::Row) -> sqlx::Result<Context> {
    let caller = match who {
        Who::Token(_) => match row.try_get::<Option<i64>>("caller_id")? {
            Some(id) => Some(User {
                id,
                name: row.try_get("caller_name")?,
                is_admin: row.try_get::<i64>("caller_is_admin")? != 0,
            }),
            None => None,
        },
        Who::User(_) => None,
    };
    let task = match row.try_get::<Option<i64>>("id")? {
        Some(_) => Some(task_rows::from_row(row)?),
        None => None,
    };
    let roles = match row.try_get::<Option<String>>("member_roles")? {
        Some(stored) => Roles::from_stored(&stored)?,
        None => Roles::default(),
    };
    Ok(Context {
        caller,
        task,
        roles,
        prior: row.try_get("prior_outcome")?,
    })
}
