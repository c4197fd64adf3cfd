//! Users, their tokens (stored as SHA-256 hashes) and their roles in projects (`members`).

use crate::sql::{self, Runner};
use std::collections::HashMap;

/// A project role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Creates and watches tasks, manages items and members.
    Manager,
    /// Labels items.
    Annotator,
    /// Approves or rejects results.
    Reviewer,
}

impl Role {
    /// Every role, in the order lists show them.
    pub const ALL: [Role; 3] = [Role::Manager, Role::Annotator, Role::Reviewer];

    /// Parses a role name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Annotator => "annotator",
            Role::Reviewer => "reviewer",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of roles. Stored as the comma-separated names (`members.roles`); a stored name that
/// is not a role is an error, never a silently smaller set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles(u8);

impl Roles {
    /// Every role (what an admin holds everywhere).
    pub fn all() -> Roles {
        Role::ALL.into_iter().collect()
    }

    /// Whether `role` is in the set (by reference, as `Vec::contains` takes it).
    pub fn contains(&self, role: &Role) -> bool {
        self.0 & role.bit() != 0
    }

    /// Whether the set is empty (no membership).
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The roles, in [`Role::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(r))
    }

    /// The role names, for JSON answers.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Role::name).collect()
    }

    /// Parses names a caller sent: an unknown one is named in the error.
    pub fn from_names(names: &[String]) -> Result<Roles, String> {
        names
            .iter()
            .map(|n| {
                Role::parse(n).ok_or_else(|| {
                    format!("unknown role {n:?}: use manager, annotator or reviewer")
                })
            })
            .collect()
    }

    /// The stored form.
    pub fn to_stored(self) -> String {
        self.names().join(",")
    }

    /// SQL that holds when the stored roles in `column` include `role`: the stored form is one
    /// per set (names in [`Role::ALL`] order, migration 17's CHECK), so the test is a
    /// comparison with the few forms that include it, not a `LIKE`.
    pub fn holding_sql(column: &str, role: Role) -> String {
        let forms: Vec<String> = (0..1u8 << Role::ALL.len())
            .map(Roles)
            .filter(|set| set.contains(&role))
            .map(|set| format!("'{}'", set.to_stored()))
            .collect();
        format!("{column} IN ({})", forms.join(", "))
    }

    /// Decodes the stored form; an unknown name is corrupt data and fails.
    pub fn from_stored(stored: &str) -> Result<Roles, sqlx::Error> {
        stored
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|n| {
                Role::parse(n).ok_or_else(|| {
                    sqlx::Error::Decode(format!("members.roles holds {n:?}, not a role").into())
                })
            })
            .collect()
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(roles: I) -> Roles {
        Roles(roles.into_iter().fold(0, |set, r| set | r.bit()))
    }
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Admins may do anything.
    pub is_admin: bool,
}

fn user(r: &sql::Row) -> sqlx::Result<User> {
    Ok(User {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        is_admin: r.try_get::<i64>("is_admin")? != 0,
    })
}

/// The id of the user called `name`.
pub async fn id_by_name(on: &mut impl Runner, name: &str) -> sqlx::Result<Option<i64>> {
    sql::query_scalar("SELECT id FROM users WHERE name = $1")
        .bind(name)
        .fetch_optional(on)
        .await
}

/// Whether user `id` exists.
pub async fn exists(on: &mut impl Runner, id: i64) -> sqlx::Result<bool> {
    let found: Option<i64> = sql::query_scalar("SELECT id FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(on)
        .await?;
    Ok(found.is_some())
}

/// The name of user `id`, if there is one.
pub async fn name_of(on: &mut impl Runner, id: i64) -> sqlx::Result<Option<String>> {
    sql::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(on)
        .await
}

/// The names of the users among `ids` (missing ones are left out).
pub async fn names(on: &mut impl Runner, ids: &[i64]) -> sqlx::Result<HashMap<i64, String>> {
    let mut out = HashMap::with_capacity(ids.len());
    for part in ids.chunks(500) {
        let rows = sql::query(format!(
            "SELECT id, name FROM users WHERE id IN ({})",
            sql::params(1, part.len())
        ))
        .bind_all(part.iter().copied())
        .fetch_all(&mut *on)
        .await?;
        for r in &rows {
            out.insert(r.try_get("id")?, r.try_get("name")?);
        }
    }
    Ok(out)
}

/// How many users there are.
pub async fn count(on: &mut impl Runner) -> sqlx::Result<i64> {
    sql::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(on)
        .await
}

/// Every user, by id.
pub async fn list(on: &mut impl Runner) -> sqlx::Result<Vec<User>> {
    sql::query("SELECT id, name, is_admin FROM users ORDER BY id")
        .fetch_all(on)
        .await?
        .iter()
        .map(user)
        .collect()
}

/// Adds a user; returns its id.
pub async fn insert(
    tx: &mut impl Runner,
    name: &str,
    is_admin: bool,
    now: i64,
) -> sqlx::Result<i64> {
    sql::query_scalar(
        "INSERT INTO users (name, is_admin, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(i64::from(is_admin))
    .bind(now)
    .fetch_one(tx)
    .await
}

/// Stores a token's hash for `user_id`.
pub async fn insert_token(
    tx: &mut impl Runner,
    user_id: i64,
    hash: &str,
    now: i64,
) -> sqlx::Result<()> {
    sql::query("INSERT INTO tokens (user_id, hash, created_at) VALUES ($1, $2, $3)")
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(tx)
        .await?;
    Ok(())
}

/// The user a live (unrevoked) token hash belongs to.
pub async fn by_token(on: &mut impl Runner, hash: &str) -> sqlx::Result<Option<User>> {
    sql::query(
        "SELECT u.id, u.name, u.is_admin FROM tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(on)
    .await?
    .as_ref()
    .map(user)
    .transpose()
}

/// Revokes every live token of `user_id`; returns how many.
pub async fn revoke_tokens(tx: &mut impl Runner, user_id: i64, now: i64) -> sqlx::Result<u64> {
    sql::query("UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(tx)
        .await
}

/// Revokes one token of `user_id` by its hash.
pub async fn revoke_token(
    tx: &mut impl Runner,
    user_id: i64,
    hash: &str,
    now: i64,
) -> sqlx::Result<()> {
    sql::query("UPDATE tokens SET revoked_at = $1 WHERE hash = $2 AND user_id = $3")
        .bind(now)
        .bind(hash)
        .bind(user_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// `user_id`'s roles in `project_id` (empty: not a member).
pub async fn roles_in(on: &mut impl Runner, project_id: i64, user_id: i64) -> sqlx::Result<Roles> {
    let stored: Option<String> =
        sql::query_scalar("SELECT roles FROM members WHERE project_id = $1 AND user_id = $2")
            .bind(project_id)
            .bind(user_id)
            .fetch_optional(on)
            .await?;
    stored.map_or(Ok(Roles::default()), |s| Roles::from_stored(&s))
}

/// One person's membership of a project.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The project.
    pub project_id: i64,
    /// Its name.
    pub project_name: String,
    /// The member.
    pub user_id: i64,
    /// Their name.
    pub user_name: String,
    /// Their roles there.
    pub roles: Roles,
}

/// The memberships whose `key` column (`project_id` or `user_id`) is `id`, ordered by the other.
async fn memberships_by(
    on: &mut impl Runner,
    key: &str,
    order: &str,
    id: i64,
) -> sqlx::Result<Vec<Membership>> {
    sql::query(format!(
        "SELECT m.project_id, p.name AS project_name, m.user_id, u.name AS user_name, m.roles \
         FROM members m JOIN users u ON u.id = m.user_id JOIN projects p ON p.id = m.project_id \
         WHERE m.{key} = $1 ORDER BY m.{order}"
    ))
    .bind(id)
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| {
        Ok(Membership {
            project_id: r.try_get("project_id")?,
            project_name: r.try_get("project_name")?,
            user_id: r.try_get("user_id")?,
            user_name: r.try_get("user_name")?,
            roles: Roles::from_stored(&r.try_get::<String>("roles")?)?,
        })
    })
    .collect()
}

/// A project's members, by user id.
pub async fn members(on: &mut impl Runner, project_id: i64) -> sqlx::Result<Vec<Membership>> {
    memberships_by(on, "project_id", "user_id", project_id).await
}

/// The projects `user_id` belongs to, by project id.
pub async fn memberships(on: &mut impl Runner, user_id: i64) -> sqlx::Result<Vec<Membership>> {
    memberships_by(on, "user_id", "project_id", user_id).await
}

/// The members of `project_id` holding `role`, by user id.
pub async fn with_role(
    on: &mut impl Runner,
    project_id: i64,
    role: Role,
) -> sqlx::Result<Vec<i64>> {
    Ok(members(on, project_id)
        .await?
        .into_iter()
        .filter(|m| m.roles.contains(&role))
        .map(|m| m.user_id)
        .collect())
}

/// Whether two users share a project.
pub async fn share_a_project(on: &mut impl Runner, a: i64, b: i64) -> sqlx::Result<bool> {
    let shared: Option<i64> = sql::query_scalar(
        "SELECT a.project_id FROM members a JOIN members b ON b.project_id = a.project_id \
         WHERE a.user_id = $1 AND b.user_id = $2 LIMIT 1",
    )
    .bind(a)
    .bind(b)
    .fetch_optional(on)
    .await?;
    Ok(shared.is_some())
}

/// Makes `user_id` a member of `project_id` with exactly `roles`.
pub async fn set_roles(
    tx: &mut impl Runner,
    project_id: i64,
    user_id: i64,
    roles: Roles,
) -> sqlx::Result<()> {
    remove_member(&mut *tx, project_id, user_id).await?;
    sql::query("INSERT INTO members (project_id, user_id, roles) VALUES ($1, $2, $3)")
        .bind(project_id)
        .bind(user_id)
        .bind(roles.to_stored())
        .execute(tx)
        .await?;
    Ok(())
}

/// Ends `user_id`'s membership of `project_id`; returns whether there was one.
pub async fn remove_member(
    tx: &mut impl Runner,
    project_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    let gone = sql::query("DELETE FROM members WHERE project_id = $1 AND user_id = $2")
        .bind(project_id)
        .bind(user_id)
        .execute(tx)
        .await?;
    Ok(gone > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_refuse_unknown_names() {
        let set: Roles = [Role::Reviewer, Role::Manager].into_iter().collect();
        assert_eq!(set.to_stored(), "manager,reviewer");
        assert_eq!(Roles::from_stored("reviewer,manager").unwrap(), set);
        assert_eq!(Roles::from_stored("").unwrap(), Roles::default());
        assert!(Roles::from_stored("manager,managers").is_err());
        assert!(Roles::from_names(&["boss".into()]).is_err());
        assert_eq!(Roles::all().names(), ["manager", "annotator", "reviewer"]);
    }

    #[test]
    fn a_role_test_lists_every_stored_set_holding_it() {
        assert_eq!(
            Roles::holding_sql("m.roles", Role::Reviewer),
            "m.roles IN ('reviewer', 'manager,reviewer', 'annotator,reviewer', \
             'manager,annotator,reviewer')"
        );
    }
}
