//! A task's progress as managers see it: item counts by state and each worker's planned and
//! done work.

use crate::db::Backend;
use crate::sql::{self, Runner};
use crate::store::seat_state::SeatState;
use quorum_core::review::ResultState;
use std::collections::HashMap;

/// How many of a task's items are where.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Items in the task.
    pub items: i64,
    /// Items with at least one label.
    pub labeled: i64,
    /// Items approved (by a reviewer or automatically).
    pub approved: i64,
    /// Items waiting for a reviewer.
    pub needs_review: i64,
}

/// The task's item counts.
pub async fn counts(on: &mut impl Runner, task_id: i64) -> sqlx::Result<Counts> {
    Ok(counts_of(on, &[task_id])
        .await?
        .remove(&task_id)
        .unwrap_or_default())
}

/// The item counts of each task in `ids` (tasks without items may be missing), summed from
/// their rows in `task_counts`: a few rows a task, whatever its size.
pub async fn counts_of(on: &mut impl Runner, ids: &[i64]) -> sqlx::Result<HashMap<i64, Counts>> {
    let mut out = HashMap::with_capacity(ids.len());
    for part in ids.chunks(CHUNK) {
        let rows = sql::query(format!(
            "SELECT task_id, CAST(SUM(items) AS BIGINT) AS items, \
             CAST(SUM(labeled) AS BIGINT) AS labeled, CAST(SUM(approved) AS BIGINT) AS approved, \
             CAST(SUM(needs_review) AS BIGINT) AS needs_review \
             FROM task_counts WHERE task_id IN ({}) GROUP BY task_id",
            sql::params(1, part.len()),
        ))
        .bind_all(part)
        .fetch_all(&mut *on)
        .await?;
        read_counts(&rows, &mut out)?;
    }
    Ok(out)
}

/// The task's item counts as its items say, counted one by one: what [`counts`] must equal.
pub async fn recount(on: &mut impl Runner, task_id: i64) -> sqlx::Result<Counts> {
    let rows = sql::query(format!(
        "SELECT task_id, COUNT(*) AS items, \
         CAST(COALESCE(SUM(CASE WHEN labeled > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS labeled, \
         CAST(COALESCE(SUM(CASE WHEN state IN ({approved}) THEN 1 ELSE 0 END), 0) AS BIGINT) AS approved, \
         CAST(COALESCE(SUM(CASE WHEN state = {review} THEN 1 ELSE 0 END), 0) AS BIGINT) AS needs_review \
         FROM task_items WHERE task_id = $1 GROUP BY task_id",
        approved = super::reviews::approved_sql(),
        review = literal(ResultState::NeedsReview),
    ))
    .bind(task_id)
    .fetch_all(&mut *on)
    .await?;
    let mut out = HashMap::new();
    read_counts(&rows, &mut out)?;
    Ok(out.remove(&task_id).unwrap_or_default())
}

fn read_counts(rows: &[sql::Row], out: &mut HashMap<i64, Counts>) -> sqlx::Result<()> {
    for r in rows {
        let counts = Counts {
            items: r.try_get("items")?,
            labeled: r.try_get("labeled")?,
            approved: r.try_get("approved")?,
            needs_review: r.try_get("needs_review")?,
        };
        out.insert(r.try_get("task_id")?, counts);
    }
    Ok(())
}

/// Counts `items` new items (pending, unlabeled) into the task. Every write that puts items
/// into a task calls this in its transaction; changes of state the database counts itself.
pub async fn items_added(tx: &mut impl Runner, task_id: i64, items: i64) -> sqlx::Result<()> {
    if items == 0 {
        return Ok(());
    }
    add(
        tx,
        task_id,
        Counts {
            items,
            ..Counts::default()
        },
    )
    .await
}

/// Counts an item that left the task, as it was when it left (`labeled`, `state`).
pub async fn item_removed(
    tx: &mut impl Runner,
    task_id: i64,
    labeled: bool,
    state: ResultState,
) -> sqlx::Result<()> {
    let change = Counts {
        items: -1,
        labeled: -i64::from(labeled),
        approved: -i64::from(state.is_approved()),
        needs_review: -i64::from(state == ResultState::NeedsReview),
    };
    add(tx, task_id, change).await
}

async fn add(tx: &mut impl Runner, task_id: i64, c: Counts) -> sqlx::Result<()> {
    sql::query(
        "INSERT INTO task_counts (task_id, items, labeled, approved, needs_review) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(task_id)
    .bind(c.items)
    .bind(c.labeled)
    .bind(c.approved)
    .bind(c.needs_review)
    .execute(tx)
    .await?;
    Ok(())
}

/// Tasks with more than `rows` rows of counts, for [`fold`].
pub async fn unfolded(on: &mut impl Runner, rows: i64) -> sqlx::Result<Vec<i64>> {
    sql::query_scalar(
        "SELECT task_id FROM task_counts GROUP BY task_id HAVING COUNT(*) > $1 ORDER BY task_id",
    )
    .bind(rows)
    .fetch_all(on)
    .await
}

/// Rows one fold takes on SQLite, whose one writer all other writes wait for meanwhile
/// (20,000 rows: about 40 ms).
const FOLD_ROWS: u64 = 20_000;

/// Replaces the task's rows of counts by their sum (on SQLite, its first [`FOLD_ROWS`] rows);
/// whether rows may be left to fold.
pub async fn fold(tx: &mut impl Runner, backend: Backend, task_id: i64) -> sqlx::Result<bool> {
    let sums = "SELECT task_id, SUM(items), SUM(labeled), SUM(approved), SUM(needs_review)";
    let into = "INSERT INTO task_counts (task_id, items, labeled, approved, needs_review)";
    match backend {
        // It sums exactly the rows it deletes, so a change committed meanwhile loses nothing;
        // rows another replica's fold holds are left to it, so two folds never wait for each
        // other (nor deadlock).
        Backend::Postgres => {
            sql::query(format!(
                "WITH gone AS (DELETE FROM task_counts WHERE ctid = ANY(ARRAY( \
                 SELECT ctid FROM task_counts WHERE task_id = $1 FOR UPDATE SKIP LOCKED)) \
                 RETURNING task_id, items, labeled, approved, needs_review) \
                 {into} {sums} FROM gone GROUP BY task_id"
            ))
            .bind(task_id)
            .execute(tx)
            .await?;
            Ok(false)
        }
        // One writer: nothing is written between these statements. The sum's row comes after
        // every row it sums.
        Backend::Sqlite => {
            let last: Option<i64> = sql::query_scalar(
                "SELECT rowid FROM task_counts WHERE task_id = $1 ORDER BY rowid LIMIT 1 OFFSET $2",
            )
            .bind(task_id)
            .bind(FOLD_ROWS as i64 - 1)
            .fetch_optional(&mut *tx)
            .await?;
            let last = match last {
                Some(last) => last,
                None => {
                    sql::query_scalar(
                        "SELECT COALESCE(MAX(rowid), 0) FROM task_counts WHERE task_id = $1",
                    )
                    .bind(task_id)
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            sql::query(format!(
                "{into} {sums} FROM task_counts WHERE task_id = $1 AND rowid <= $2 GROUP BY task_id"
            ))
            .bind(task_id)
            .bind(last)
            .execute(&mut *tx)
            .await?;
            let folded = sql::query("DELETE FROM task_counts WHERE task_id = $1 AND rowid <= $2")
                .bind(task_id)
                .bind(last)
                .execute(tx)
                .await?;
            Ok(folded >= FOLD_ROWS)
        }
    }
}

/// A result state as a SQL literal, for a statement's text.
fn literal(state: ResultState) -> String {
    format!("'{}'", state.as_str())
}

/// One worker's share of a task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Seats ever planned or handed to them, whatever became of them.
    pub planned: i64,
    /// Their active annotations.
    pub done: i64,
}

/// Ids per statement, well under both backends' parameter limits.
const CHUNK: usize = 500;

/// Each of `workers`' work in the task (workers with none are missing from the map).
pub async fn work(
    on: &mut impl Runner,
    task_id: i64,
    workers: &[i64],
) -> sqlx::Result<HashMap<i64, Work>> {
    let mut out: HashMap<i64, Work> = HashMap::new();
    for part in workers.chunks(CHUNK) {
        let ids = sql::params(2, part.len());
        for (table, extra, done) in [
            ("seats", "", false),
            ("annotations", " AND active = 1", true),
        ] {
            let rows = sql::query(format!(
                "SELECT worker_id, COUNT(*) AS n FROM {table} \
                 WHERE task_id = $1 AND worker_id IN ({ids}){extra} GROUP BY worker_id"
            ))
            .bind(task_id)
            .bind_all(part.iter().copied())
            .fetch_all(&mut *on)
            .await?;
            for r in &rows {
                let entry = out.entry(r.try_get("worker_id")?).or_default();
                let n: i64 = r.try_get("n")?;
                if done {
                    entry.done = n;
                } else {
                    entry.planned = n;
                }
            }
        }
    }
    Ok(out)
}

/// Items open to a worker that `/me/tasks` counts in a task before it says "at least this
/// many": counted to the end, the open items of two 1M-item tasks took a second at every load.
pub const OPEN_COUNTED_TO: i64 = 10_000;

/// One worker's counts in one task, for `/me/tasks`.
#[derive(Debug, Default, Clone, Copy)]
pub struct MyProgress {
    /// Active annotations.
    pub done: i64,
    /// Seats under unexpired leases.
    pub leased: i64,
    /// Seats planned for the worker or sent back to them.
    pub mine: i64,
    /// Items still open to the worker, not gold; [`OPEN_COUNTED_TO`] when `open_at_least`.
    pub open: i64,
    /// Gold items still open to the worker (0 when `open_at_least`).
    pub open_gold: i64,
    /// At least [`OPEN_COUNTED_TO`] items that are not gold are open to the worker, so they
    /// were not counted further.
    pub open_at_least: bool,
    /// Seats ever held: the honeypot history.
    pub served: i64,
    /// Seats ever held on gold items.
    pub served_gold: i64,
    /// Gold items of the task's project: at least as many as the task holds open.
    pub project_gold: i64,
}

/// Stores a count statement's two figures (`a`, `b`) in a task's [`MyProgress`].
type SetCounts = fn(&mut MyProgress, i64, i64);

/// [`MyProgress`] of `worker` in each of `tasks`: one grouped statement per count over all the
/// tasks, not one round of counts per task.
pub async fn mine(
    on: &mut impl Runner,
    backend: Backend,
    tasks: &[i64],
    worker: i64,
    now: i64,
) -> sqlx::Result<HashMap<i64, MyProgress>> {
    // The project's gold bounds the task's from above (the task may take fewer of its items).
    let project_gold = match backend {
        // Behind `OFFSET 0`, so that it stays a read of the project's gold index.
        Backend::Postgres => {
            "SELECT t.id AS task_id, COUNT(*) AS a, 0 AS b FROM tasks t \
             CROSS JOIN LATERAL (SELECT i.id FROM items i WHERE i.project_id = t.project_id \
             AND i.gold IS NOT NULL OFFSET 0) g WHERE t.id IN ({list}) GROUP BY t.id"
        }
        Backend::Sqlite => {
            "SELECT t.id AS task_id, COUNT(*) AS a, 0 AS b FROM tasks t \
             JOIN items i ON i.project_id = t.project_id AND i.gold IS NOT NULL \
             WHERE t.id IN ({list}) GROUP BY t.id"
        }
    };
    // The worker's share and history, and what bounds the open items that are not theirs.
    let known: [(&str, Option<i64>, SetCounts); 5] = [
        (
            "SELECT task_id, COUNT(*) AS a, 0 AS b FROM annotations WHERE worker_id = $1 \
             AND task_id IN ({list}) AND active = 1 GROUP BY task_id",
            None,
            |p, a, _| p.done = a,
        ),
        (
            "SELECT s.task_id, COUNT(*) AS a, 0 AS b FROM seats s JOIN leases l ON l.id = s.lease_id \
             WHERE s.task_id IN ({list}) AND s.worker_id = $1 AND s.state = {leased} \
             AND l.expires_at > $2 GROUP BY s.task_id",
            Some(now),
            |p, a, _| p.leased = a,
        ),
        (
            "SELECT task_id, COUNT(*) AS a, 0 AS b FROM seats WHERE task_id IN ({list}) \
             AND worker_id = $1 AND state IN ({assigned}, {rework}) GROUP BY task_id",
            None,
            |p, a, _| p.mine = a,
        ),
        (
            "SELECT s.task_id, COUNT(*) AS a, \
             COALESCE(SUM(CASE WHEN i.gold IS NULL THEN 0 ELSE 1 END), 0) AS b \
             FROM seats s JOIN items i ON i.id = s.item_id WHERE s.task_id IN ({list}) \
             AND s.worker_id = $1 GROUP BY s.task_id",
            None,
            |p, a, b| (p.served, p.served_gold) = (a, b),
        ),
        (project_gold, None, |p, a, _| p.project_gold = a),
    ];
    let mut out: HashMap<i64, MyProgress> =
        tasks.iter().map(|&t| (t, MyProgress::default())).collect();
    run_counts(on, &known, tasks, worker, &mut out).await?;
    // The open items are counted only as far as needed to know that the floor is reached once
    // every seat the worker ever held and every gold item of the project are taken off: a
    // count that moves alike whichever item, gold or not, is taken. It reads the floor plus the
    // worker's seats plus the project's gold at most (the largest of those of the tasks asked
    // about together), however big the task.
    let most = OPEN_COUNTED_TO
        + out
            .values()
            .map(|p| p.served + p.project_gold)
            .max()
            .unwrap_or(0);
    let up_to: [(&str, Option<i64>, SetCounts); 1] = [(
        "SELECT t.id AS task_id, (SELECT COUNT(*) FROM (SELECT 1 FROM task_items ti \
         WHERE ti.task_id = t.id AND {open} LIMIT $2) x) AS a, 0 AS b \
         FROM tasks t WHERE t.id IN ({list})",
        Some(most),
        |p, a, _| {
            if a - p.served - p.project_gold >= OPEN_COUNTED_TO {
                (p.open, p.open_at_least) = (OPEN_COUNTED_TO, true);
            } else {
                // Under the limit: every open item was counted.
                p.open = a;
            }
        },
    )];
    run_counts(on, &up_to, tasks, worker, &mut out).await?;
    // Below the floor the count is exact: it was read to its end.
    let counted: Vec<i64> = tasks
        .iter()
        .copied()
        .filter(|t| !out[t].open_at_least)
        .collect();
    // Open and gold open items add up; the worker's seats on open items come off. Each is
    // read from the project's gold or the worker's seats, never item by item: asked item by
    // item ("no seat of theirs"), PostgreSQL without statistics scanned the worker's seats for
    // each open item (52 s for a 1M-item task where they held 500 seats).
    let open_gold = match backend {
        // Each step behind `OFFSET 0`, so that the planner cannot start from the task's items.
        Backend::Postgres => {
            "SELECT t.id AS task_id, COUNT(*) AS a, 0 AS b FROM tasks t \
             CROSS JOIN LATERAL (SELECT i.id FROM items i WHERE i.project_id = t.project_id \
             AND i.gold IS NOT NULL OFFSET 0) g \
             CROSS JOIN LATERAL (SELECT ti.state, ti.covered, ti.target FROM task_items ti \
             WHERE ti.task_id = t.id AND ti.item_id = g.id OFFSET 0) ti \
             WHERE t.id IN ({list}) AND {open} GROUP BY t.id"
        }
        Backend::Sqlite => {
            "SELECT t.id AS task_id, COUNT(*) AS a, 0 AS b FROM tasks t \
             JOIN items i ON i.project_id = t.project_id AND i.gold IS NOT NULL \
             JOIN task_items ti ON ti.task_id = t.id AND ti.item_id = i.id \
             WHERE t.id IN ({list}) AND {open} GROUP BY t.id"
        }
    };
    let exact: [(&str, Option<i64>, SetCounts); 2] = [
        (open_gold, None, |p, a, _| {
            p.open -= a;
            p.open_gold += a;
        }),
        (
            "SELECT s.task_id, \
             COALESCE(SUM(CASE WHEN i.gold IS NULL THEN 1 ELSE 0 END), 0) AS a, \
             COALESCE(SUM(CASE WHEN i.gold IS NULL THEN 0 ELSE 1 END), 0) AS b \
             FROM seats s JOIN tasks t ON t.id = s.task_id \
             JOIN task_items ti ON ti.task_id = s.task_id AND ti.item_id = s.item_id \
             JOIN items i ON i.id = s.item_id \
             WHERE s.task_id IN ({list}) AND s.worker_id = $1 \
             AND {open} GROUP BY s.task_id",
            None,
            |p, a, b| {
                p.open -= a;
                p.open_gold -= b;
            },
        ),
    ];
    run_counts(on, &exact, &counted, worker, &mut out).await?;
    Ok(out)
}

/// Runs each of `counts` over `tasks` for `worker` (`$1`; `$2` is a count's second parameter
/// where it has one — the clock, a limit —, and the tasks follow), storing each row's figures
/// in its task's entry of `out`.
async fn run_counts(
    on: &mut impl Runner,
    counts: &[(&str, Option<i64>, SetCounts)],
    tasks: &[i64],
    worker: i64,
    out: &mut HashMap<i64, MyProgress>,
) -> sqlx::Result<()> {
    for ids in tasks.chunks(CHUNK) {
        for &(statement, second, set) in counts {
            let first = if second.is_some() { 3 } else { 2 };
            // An item still to be served: waiting for labels and under its overlap.
            let statement = statement
                .replace(
                    "{open}",
                    "ti.state IN ({pending}, {rejected}) AND ti.covered < COALESCE(ti.target, t.overlap)",
                )
                .replace("{list}", &sql::params(first, ids.len()))
                .replace("{leased}", SeatState::Leased.sql())
                .replace("{assigned}", SeatState::Assigned.sql())
                .replace("{rework}", SeatState::Rework.sql())
                .replace("{pending}", &literal(ResultState::Pending))
                .replace("{rejected}", &literal(ResultState::Rejected));
            let mut q = sql::query(statement).bind(worker);
            if let Some(value) = second {
                q = q.bind(value);
            }
            let rows = q.bind_all(ids).fetch_all(&mut *on).await?;
            for r in &rows {
                let task: i64 = r.try_get("task_id")?;
                set(
                    out.entry(task).or_default(),
                    sum_col(r, "a")?,
                    sum_col(r, "b")?,
                );
            }
        }
    }
    Ok(())
}

/// Reads a count or a `SUM(...)`: an integer, or a float where a backend sums to one; anything
/// else is a decode error.
fn sum_col(r: &sql::Row, col: &str) -> sqlx::Result<i64> {
    r.try_get::<i64>(col)
        .or_else(|_| r.try_get::<f64>(col).map(|f| f as i64))
}
