//! Seats: one worker's place on one item of a task (the primary key (task, item, worker) is
//! what makes a second hand-out impossible).

use crate::sql::{self, Runner};
use crate::store::seat_state::SeatState;
use quorum_core::ids::WorkerId;

/// Who holds a seat on the item, whatever its state.
pub async fn holders(
    on: &mut impl Runner,
    task_id: i64,
    item_id: i64,
) -> sqlx::Result<Vec<WorkerId>> {
    let ids: Vec<i64> =
        sql::query_scalar("SELECT worker_id FROM seats WHERE task_id = $1 AND item_id = $2")
            .bind(task_id)
            .bind(item_id)
            .fetch_all(on)
            .await?;
    Ok(ids.into_iter().map(WorkerId).collect())
}

/// The state of `worker`'s seat on the item, if they hold one.
pub async fn state_of(
    on: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    worker: i64,
) -> sqlx::Result<Option<String>> {
    sql::query_scalar(
        "SELECT state FROM seats WHERE task_id = $1 AND item_id = $2 AND worker_id = $3",
    )
    .bind(task_id)
    .bind(item_id)
    .bind(worker)
    .fetch_optional(on)
    .await
}

/// Gives `from`'s seat on the item to `to`, who starts fresh: the old lease no longer covers it.
pub async fn hand_over(
    tx: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    from: i64,
    to: i64,
) -> sqlx::Result<()> {
    sql::query(format!(
        "UPDATE seats SET worker_id = $1, state = {}, lease_id = NULL \
         WHERE task_id = $2 AND item_id = $3 AND worker_id = $4",
        SeatState::Assigned.sql()
    ))
    .bind(to)
    .bind(task_id)
    .bind(item_id)
    .bind(from)
    .execute(tx)
    .await?;
    Ok(())
}

/// How many seats each worker holds in the task (planned or handed out, any state).
pub async fn loads(on: &mut impl Runner, task_id: i64) -> sqlx::Result<Vec<(WorkerId, u64)>> {
    sql::query("SELECT worker_id, COUNT(*) AS n FROM seats WHERE task_id = $1 GROUP BY worker_id")
        .bind(task_id)
        .fetch_all(on)
        .await?
        .iter()
        .map(|r| {
            let n: i64 = r.try_get("n")?;
            Ok((WorkerId(r.try_get("worker_id")?), n as u64))
        })
        .collect()
}
