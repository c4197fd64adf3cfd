//! Leases: taking, renewing and ending them, and who holds what now (as managers see it).

use crate::sql::{self, Runner};
use crate::store::seat_state::SeatState;
use quorum_core::ids::{LeaseId, TaskId, WorkerId};
use quorum_core::lease::Lease;
use quorum_core::time::Millis;

/// A live lease and what it holds.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// The lease.
    pub lease: Lease,
    /// Its holder's name (none: the user is gone).
    pub name: Option<String>,
    /// Its task's name.
    pub task_name: String,
    /// Items it still holds.
    pub items: i64,
}

fn lease(r: &sql::Row) -> sqlx::Result<Lease> {
    Ok(Lease {
        id: LeaseId(r.try_get("id")?),
        task: TaskId(r.try_get("task_id")?),
        worker: WorkerId(r.try_get("worker_id")?),
        issued_at: Millis(r.try_get("issued_at")?),
        expires_at: Millis(r.try_get("expires_at")?),
        released_at: r.try_get::<Option<i64>>("released_at")?.map(Millis),
    })
}

/// Lease `id`, if any.
pub async fn get(on: &mut impl Runner, id: i64) -> sqlx::Result<Option<Lease>> {
    sql::query(
        "SELECT id, task_id, worker_id, issued_at, expires_at, released_at FROM leases WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(on)
    .await?
    .as_ref()
    .map(lease)
    .transpose()
}

/// The project's leases live at `now` that still hold items, by holder and lease.
pub async fn live_in_project(
    on: &mut impl Runner,
    project_id: i64,
    now: i64,
) -> sqlx::Result<Vec<Reservation>> {
    let rows = sql::query(format!(
        "SELECT l.id, l.task_id, l.worker_id, l.issued_at, l.expires_at, l.released_at, u.name, \
         t.name AS task_name, (SELECT COUNT(*) FROM seats s WHERE s.task_id = l.task_id AND s.worker_id = l.worker_id \
            AND s.lease_id = l.id AND s.state = {}) AS items \
         FROM leases l JOIN tasks t ON t.id = l.task_id LEFT JOIN users u ON u.id = l.worker_id \
         WHERE t.project_id = $1 AND l.released_at IS NULL AND l.expires_at > $2 \
         ORDER BY l.worker_id, l.id",
        SeatState::Leased.sql()
    ))
    .bind(project_id)
    .bind(now)
    .fetch_all(on)
    .await?;
    let mut out = Vec::new();
    for r in &rows {
        let items: i64 = r.try_get("items")?;
        if items > 0 {
            out.push(Reservation {
                lease: lease(r)?,
                name: r.try_get("name")?,
                task_name: r.try_get("task_name")?,
                items,
            });
        }
    }
    Ok(out)
}

/// `worker`'s leases live at `now` (in one task, if given), each with its task's project.
pub async fn live_of_worker(
    on: &mut impl Runner,
    worker: i64,
    now: i64,
    task_id: Option<i64>,
) -> sqlx::Result<Vec<(Lease, i64)>> {
    sql::query(
        "SELECT l.id, l.task_id, l.worker_id, l.issued_at, l.expires_at, l.released_at, \
         t.project_id FROM leases l JOIN tasks t ON t.id = l.task_id \
         WHERE l.worker_id = $1 AND l.released_at IS NULL AND l.expires_at > $2 \
         AND ($3 = 0 OR l.task_id = $3)",
    )
    .bind(worker)
    .bind(now)
    .bind(task_id.unwrap_or(0))
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| Ok((lease(r)?, r.try_get("project_id")?)))
    .collect()
}

/// Stores a new lease; its id.
pub async fn insert(tx: &mut impl Runner, lease: &Lease) -> sqlx::Result<i64> {
    sql::query_scalar(
        "INSERT INTO leases (task_id, worker_id, issued_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(lease.task.0)
    .bind(lease.worker.0)
    .bind(lease.issued_at.0)
    .bind(lease.expires_at.0)
    .fetch_one(tx)
    .await
}

/// Moves lease `id`'s expiry to `expires_at` (a renewal).
pub async fn extend(tx: &mut impl Runner, id: i64, expires_at: i64) -> sqlx::Result<()> {
    sql::query("UPDATE leases SET expires_at = $1 WHERE id = $2")
        .bind(expires_at)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Ends lease `id` at `now`, unless it already ended.
pub async fn end(tx: &mut impl Runner, id: i64, now: i64) -> sqlx::Result<()> {
    sql::query("UPDATE leases SET released_at = $1 WHERE id = $2 AND released_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(())
}
