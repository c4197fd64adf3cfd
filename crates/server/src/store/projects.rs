//! Projects and their datasets.

use crate::sql::{self, Runner};

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Tasks finished this many days ago are archived (none: never).
    pub auto_archive_days: Option<i64>,
    /// When it was made (ms since the epoch).
    pub created_at: i64,
}

const PROJECT_COLUMNS: &str = "id, name, auto_archive_days, created_at";

fn project(r: &sql::Row) -> sqlx::Result<Project> {
    Ok(Project {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        auto_archive_days: r.try_get("auto_archive_days")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Project `id`, if it exists.
pub async fn get(on: &mut impl Runner, id: i64) -> sqlx::Result<Option<Project>> {
    sql::query(format!(
        "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(on)
    .await?
    .as_ref()
    .map(project)
    .transpose()
}

/// Whether project `id` exists.
pub async fn exists(on: &mut impl Runner, id: i64) -> sqlx::Result<bool> {
    let found: Option<i64> = sql::query_scalar("SELECT id FROM projects WHERE id = $1")
        .bind(id)
        .fetch_optional(on)
        .await?;
    Ok(found.is_some())
}

/// The projects `user_id` belongs to (every project for an admin), by id.
pub async fn visible_to(
    on: &mut impl Runner,
    user_id: i64,
    is_admin: bool,
) -> sqlx::Result<Vec<Project>> {
    sql::query(format!(
        "SELECT {PROJECT_COLUMNS} FROM projects p WHERE $1 = 1 OR EXISTS \
         (SELECT 1 FROM members m WHERE m.project_id = p.id AND m.user_id = $2) ORDER BY id"
    ))
    .bind(i64::from(is_admin))
    .bind(user_id)
    .fetch_all(on)
    .await?
    .iter()
    .map(project)
    .collect()
}

/// Adds a project.
pub async fn insert(
    tx: &mut impl Runner,
    name: &str,
    auto_archive_days: Option<i64>,
    created_by: i64,
    now: i64,
) -> sqlx::Result<Project> {
    let row = sql::query(format!(
        "INSERT INTO projects (name, auto_archive_days, created_by, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING {PROJECT_COLUMNS}"
    ))
    .bind(name)
    .bind(auto_archive_days)
    .bind(created_by)
    .bind(now)
    .fetch_one(tx)
    .await?;
    project(&row)
}

/// Locks project `id`'s row until the transaction ends (PostgreSQL: `lock` is the backend's
/// `FOR UPDATE`, empty on SQLite whose single writer already excludes).
pub async fn lock(tx: &mut impl Runner, id: i64, lock: &str) -> sqlx::Result<()> {
    sql::query(format!("SELECT id FROM projects WHERE id = $1{lock}"))
        .bind(id)
        .fetch_optional(tx)
        .await?;
    Ok(())
}

/// Whether dataset `dataset_id` belongs to project `project_id`.
pub async fn has_dataset(
    on: &mut impl Runner,
    project_id: i64,
    dataset_id: i64,
) -> sqlx::Result<bool> {
    let found: Option<i64> =
        sql::query_scalar("SELECT id FROM datasets WHERE id = $1 AND project_id = $2")
            .bind(dataset_id)
            .bind(project_id)
            .fetch_optional(on)
            .await?;
    Ok(found.is_some())
}

/// A dataset with its item count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// When it was made.
    pub created_at: i64,
    /// How many items it holds.
    pub items: i64,
}

/// A project's datasets, by id.
pub async fn datasets(on: &mut impl Runner, project_id: i64) -> sqlx::Result<Vec<Dataset>> {
    sql::query(
        "SELECT d.id, d.name, d.created_at, \
         (SELECT COUNT(*) FROM items i WHERE i.dataset_id = d.id) AS items \
         FROM datasets d WHERE d.project_id = $1 ORDER BY d.id",
    )
    .bind(project_id)
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| {
        Ok(Dataset {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            created_at: r.try_get("created_at")?,
            items: r.try_get("items")?,
        })
    })
    .collect()
}

/// Adds an empty dataset; returns its id.
pub async fn insert_dataset(
    tx: &mut impl Runner,
    project_id: i64,
    name: &str,
    now: i64,
) -> sqlx::Result<i64> {
    sql::query_scalar(
        "INSERT INTO datasets (project_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(project_id)
    .bind(name)
    .bind(now)
    .fetch_one(tx)
    .await
}
