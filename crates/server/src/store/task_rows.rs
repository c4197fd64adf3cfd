//! A task's rows in bulk (its items, its planned seats), on either backend: multi-row `VALUES`
//! on SQLite, where the statement stays prepared in the writer; on PostgreSQL one `unnest` of
//! column arrays per [`ROWS_PER_ARRAY`] rows, a round trip and a bind of a few texts instead of
//! thousands of values per thousand rows.

use crate::db::Backend;
use crate::pg_array;
use crate::sql::{self, Tx};
use crate::store::seat_state::SeatState;

/// Rows per statement on PostgreSQL: each column is one array parameter, so the statement's
/// size is fixed and the rows' values travel as text.
const ROWS_PER_ARRAY: usize = 100_000;

/// Rows per statement on SQLite: far below its parameter limit.
const ROWS_PER_STATEMENT: usize = 1_000;

/// Adds items to the task: `[item, priority, order key]` each.
pub async fn insert_items(
    tx: &mut Tx,
    backend: Backend,
    task_id: i64,
    rows: &[[i64; 3]],
) -> sqlx::Result<()> {
    insert(
        tx,
        backend,
        task_id,
        "task_items (task_id, item_id, priority, order_key)",
        "",
        rows,
    )
    .await?;
    crate::store::progress::items_added(tx, task_id, rows.len() as i64).await
}

/// Adds planned seats to the task: `[item, worker]` each, not yet leased.
pub async fn insert_planned_seats(
    tx: &mut Tx,
    backend: Backend,
    task_id: i64,
    rows: &[[i64; 2]],
) -> sqlx::Result<()> {
    let state = format!(", {}", SeatState::Assigned.sql());
    insert(
        tx,
        backend,
        task_id,
        "seats (task_id, item_id, worker_id, state)",
        &state,
        rows,
    )
    .await
}

/// Inserts rows of `N` integer columns after the task's id (and `constants`, SQL appended to
/// each row) into `table`.
async fn insert<const N: usize>(
    tx: &mut Tx,
    backend: Backend,
    task_id: i64,
    table: &str,
    constants: &str,
    rows: &[[i64; N]],
) -> sqlx::Result<()> {
    match backend {
        Backend::Postgres => {
            let columns: Vec<String> = (0..N).map(|c| format!("c{c}")).collect();
            let arrays: Vec<String> = (0..N).map(|c| format!("${}::bigint[]", c + 2)).collect();
            let statement = format!(
                "INSERT INTO {table} SELECT $1, {}{constants} FROM unnest({}) AS u({})",
                columns.join(", "),
                arrays.join(", "),
                columns.join(", ")
            );
            for part in rows.chunks(ROWS_PER_ARRAY) {
                let mut q = sql::query(statement.clone()).bind(task_id);
                for c in 0..N {
                    q = q.bind(pg_array::ints(part.iter().map(|r| r[c])));
                }
                q.execute(tx).await?;
                tokio::task::yield_now().await;
            }
        }
        Backend::Sqlite => {
            for part in rows.chunks(ROWS_PER_STATEMENT) {
                let values: Vec<String> = (0..part.len())
                    .map(|n| format!("($1, {}{constants})", sql::params(2 + N * n, N)))
                    .collect();
                let mut q = sql::query(format!("INSERT INTO {table} VALUES {}", values.join(", ")))
                    .bind(task_id);
                for row in part {
                    q = q.bind_all(row.iter());
                }
                q.execute(tx).await?;
                // Let the runtime thread serve other requests between statements of a big
                // insert.
                tokio::task::yield_now().await;
            }
        }
    }
    Ok(())
}
