//! A lease's claim: which items a worker may take next, taking them (seats, overlap), and
//! giving seats back. Every statement is keyed by the task, and nothing locks the task's row:
//! claims on different items of one task run side by side (see `api/labeling.rs`).
//!
//! Seat accounting (invariant 1): `task_items.covered` counts seats held by leases that have not
//! been swept plus annotations that count toward overlap; every change to it is here or in
//! the label's statements, in a claim holding the item's row (PostgreSQL; SQLite has one
//! writer).

use crate::sql::{self, Tx};
use crate::store::seat_state::SeatState;
use quorum_core::ids::{ItemId, Priority};
use quorum_core::lease::Lease;
use quorum_core::lifecycle::TaskStatus;
use quorum_core::pull::{Candidate, HoneypotHistory};
use quorum_core::review::ResultState;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Which leased seats [`free`] gives back.
#[derive(Debug, Clone, Copy)]
pub enum Freed {
    /// Those of leases expired at this time.
    ExpiredAt(i64),
    /// Those of this lease.
    OfLease(i64),
}

/// Moves the task's `leased` seats that `which` names back to where they came from, and frees
/// the overlap they held: rework back to its annotator, planned seats (`planned`) to their
/// worker, pulled seats to `pulled_state`. The update says which seats it changed: on
/// PostgreSQL two claims may sweep the same expired seats at once, and only the one whose update
/// changed a seat gives its overlap back (the other waits for the seat's row, then finds it
/// freed). Returns how many seats were freed.
pub async fn free(
    tx: &mut Tx,
    task_id: i64,
    planned: bool,
    which: Freed,
    pulled_state: SeatState,
) -> sqlx::Result<u64> {
    let items: Vec<i64> = sql::query_scalar(freeing(which))
        .bind(task_id)
        .bind(which.arg())
        .bind(planned as i64)
        .bind(pulled_state.as_str())
        .fetch_all(&mut *tx)
        .await?;
    uncover(tx, task_id, &items).await?;
    Ok(items.len() as u64)
}

/// Frees the task's seats of expired leases, as [`free`] does, before a claim looks for work.
/// On PostgreSQL the seats and their items' overlap change in one statement, sent with the
/// claim's next statement (nothing waits for its answer): one round trip less per lease.
pub async fn sweep(tx: &mut Tx, task_id: i64, planned: bool, now: i64) -> sqlx::Result<()> {
    let which = Freed::ExpiredAt(now);
    if !tx.writes_in_with() {
        free(tx, task_id, planned, which, SeatState::Expired).await?;
        return Ok(());
    }
    // The items as an array: an index lookup per freed item whatever the planner knows.
    sql::query(format!(
        "WITH freed AS ({}) UPDATE task_items ti \
         SET covered = ti.covered - (SELECT COUNT(*) FROM freed f WHERE f.item_id = ti.item_id) \
         WHERE ti.task_id = $1 AND ti.item_id = ANY(ARRAY(SELECT item_id FROM freed))",
        freeing(which)
    ))
    .bind(task_id)
    .bind(which.arg())
    .bind(planned as i64)
    .bind(SeatState::Expired.as_str())
    .execute_deferred(tx)
    .await
}

/// The update that frees the task's (`$1`) leased seats `which` names (`$2`), returning their
/// items: rework back to its annotator, planned seats (`$3` = 1) to their worker, pulled seats
/// to `$4`.
fn freeing(which: Freed) -> String {
    let filter = match which {
        // Per live seat, through the lease's key: never a scan of the task's past leases.
        Freed::ExpiredAt(_) => {
            "EXISTS (SELECT 1 FROM leases l WHERE l.id = seats.lease_id AND l.expires_at <= $2)"
        }
        Freed::OfLease(_) => "lease_id = $2",
    };
    format!(
        "UPDATE seats SET state = CASE WHEN rework_comment IS NOT NULL THEN {rework} \
         WHEN $3 = 1 THEN {assigned} ELSE $4 END, lease_id = NULL \
         WHERE task_id = $1 AND state = {leased} AND {filter} RETURNING item_id",
        rework = SeatState::Rework.sql(),
        assigned = SeatState::Assigned.sql(),
        leased = SeatState::Leased.sql(),
    )
}

impl Freed {
    /// The time or lease the statement is given.
    fn arg(self) -> i64 {
        match self {
            Freed::ExpiredAt(now) => now,
            Freed::OfLease(id) => id,
        }
    }
}

/// Gives back one seat of overlap per entry of `items` (an item listed twice had two seats).
pub async fn uncover(tx: &mut Tx, task_id: i64, items: &[i64]) -> sqlx::Result<()> {
    let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
    for item in items {
        *counts.entry(*item).or_default() += 1;
    }
    // One statement per multiplicity (nearly always just one: each item once).
    let mut by_count: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (item, n) in counts {
        by_count.entry(n).or_default().push(item);
    }
    for (n, items) in by_count {
        sql::query(format!(
            "UPDATE task_items SET covered = covered - $2 WHERE task_id = $1 AND item_id IN ({})",
            sql::params(3, items.len())
        ))
        .bind(task_id)
        .bind(n)
        .bind_all(&items)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The worker's seats in the task that a claim looks at first, read by [`own_seats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnSeats {
    /// Leased seats as (item, lease), in serving order: a new session resumes them.
    pub held: Vec<(i64, i64)>,
    /// The worker's waiting seats that fit beside the held ones, rework sent back by a reviewer
    /// first, then planned items, in serving order; locked like a label's rows.
    pub waiting: Vec<i64>,
}

/// The worker's leased seats in the task and their waiting seats, in one read: as many waiting
/// seats as fit beside the held ones under `hold_limit` (the most seats a worker may hold, see
/// `pull::capacity`), counted in the statement, so it locks no waiting seat the batch will not
/// take.
pub async fn own_seats(
    tx: &mut Tx,
    task_id: i64,
    worker: i64,
    hold_limit: i64,
) -> sqlx::Result<OwnSeats> {
    static OWN: LazyLock<String> = LazyLock::new(|| {
        let from =
            "FROM seats s JOIN task_items ti ON ti.task_id = s.task_id AND ti.item_id = s.item_id \
             WHERE s.task_id = $1 AND s.worker_id = $2";
        let leased = SeatState::Leased.sql();
        format!(
            "SELECT * FROM (SELECT 0 AS part, 0 AS rework_last, ti.priority, ti.order_key, s.item_id, s.lease_id \
             {from} AND s.state = {leased}) held \
             UNION ALL SELECT * FROM (SELECT 1 AS part, CASE WHEN s.state = {rework} THEN 0 ELSE 1 END AS rework_last, \
             ti.priority, ti.order_key, s.item_id, s.lease_id {from} AND s.state IN ({assigned}, {rework}) \
             ORDER BY rework_last, ti.priority DESC, ti.order_key, s.item_id \
             LIMIT (SELECT CASE WHEN $3 > n THEN $3 - n ELSE 0 END FROM (SELECT COUNT(*) AS n FROM seats \
             WHERE task_id = $1 AND worker_id = $2 AND state = {leased}) c)",
            assigned = SeatState::Assigned.sql(),
            rework = SeatState::Rework.sql(),
        )
    });
    // Waiting seats are locked like a label's rows: a claim whose items an archive holds waits
    // for it, and the lease's status test (`take`) then sees the archive.
    let rows = sql::query(format!(
        "{}{}) waiting ORDER BY part, rework_last, priority DESC, order_key, item_id",
        OWN.as_str(),
        tx.lock_rows("s, ti")
    ))
    .bind(task_id)
    .bind(worker)
    .bind(hold_limit)
    .fetch_all(tx)
    .await?;
    let mut own = OwnSeats::default();
    for r in &rows {
        let item: i64 = r.try_get("item_id")?;
        if r.try_get::<i64>("part")? == 0 {
            own.held.push((item, r.try_get("lease_id")?));
        } else {
            own.waiting.push(item);
        }
    }
    Ok(own)
}

/// Which items a window of [`candidates`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Every item (no honeypots).
    All,
    /// Items without a gold answer (honeypots on).
    Ordinary,
    /// Gold items: honeypots.
    Gold,
}

/// Whether [`candidates`] claims the rows it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// Locks them, passing over rows other claims hold (PostgreSQL).
    Claim,
    /// Only reads.
    None,
}

/// The task a window is cut from: its id and its overlap (an item's own target replaces it).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The task.
    pub task_id: i64,
    /// Its overlap.
    pub overlap: i64,
    /// The most seats any item of the task may take (its overlap, or more where items grow
    /// their own targets): an item holding this many is full whatever its target.
    pub most: i64,
    /// The worker the items are for.
    pub worker: i64,
    /// At most this many items per claimable state.
    pub limit: u32,
}

/// A window of the task's claimable items in serving order: free seats the worker never held.
pub async fn candidates(
    tx: &mut Tx,
    window: Window,
    side: Side,
    lock: Lock,
) -> sqlx::Result<Vec<Candidate>> {
    if window.limit == 0 {
        return Ok(Vec::new());
    }
    // The hot path (no honeypots) keeps the plain claim query, with nothing for a planner to
    // weigh; the gold test is added only when honeypots are on.
    let side = match side {
        Side::All => "",
        Side::Gold => {
            "AND EXISTS (SELECT 1 FROM items i WHERE i.id = ti.item_id AND i.gold IS NOT NULL)"
        }
        Side::Ordinary => {
            "AND NOT EXISTS (SELECT 1 FROM items i WHERE i.id = ti.item_id AND i.gold IS NOT NULL)"
        }
    };
    // One ordered, limited scan per claimable state, not `state IN (...)`: with two states the
    // planner sorts every open item on each lease, so leases would slow down as tasks grow.
    // The core ranks the union.
    // `covered < $5` is the overlap test the index can answer by itself: full items sort first
    // (partially covered items go first, invariant 6), and without it every scan read each
    // full item's row to compare it with its target (1,400 buffer reads a lease at 20 workers).
    // On PostgreSQL the window's rows are locked as they are read, passing over rows another
    // claim holds: claims on one task take different items side by side, and the overlap
    // test (`covered < target`) is checked again on the row as locked, so it holds however
    // many servers hand out work.
    let lock = match lock {
        Lock::Claim => tx.claim_rows("ti"),
        Lock::None => String::new(),
    };
    // The worker's own seats are looked up item by item: made a join, the planner may instead
    // read all of them for every candidate (it did, on a new database without statistics).
    let per_row = tx.per_row();
    let scan = |state: &str| {
        format!(
            "SELECT * FROM (SELECT item_id, priority, order_key, covered, target FROM task_items ti \
             WHERE task_id = $1 AND state = '{state}' AND covered < $5 AND covered < COALESCE(target, $2) AND NOT EXISTS \
             (SELECT 1 FROM seats s WHERE s.task_id = $1 AND s.item_id = ti.item_id AND s.worker_id = $3{per_row}) {side} \
             ORDER BY priority DESC, covered DESC, order_key, item_id LIMIT $4{lock}) w_{state}"
        )
    };
    let sql = format!(
        "{} UNION ALL {}",
        scan(ResultState::Pending.as_str()),
        scan(ResultState::Rejected.as_str())
    );
    let small = |v: i64, what: &str| {
        u16::try_from(v)
            .map_err(|_| sqlx::Error::Decode(format!("task_items.{what}: {v} out of range").into()))
    };
    sql::query(&sql)
        .bind(window.task_id)
        .bind(window.overlap)
        .bind(window.worker)
        .bind(i64::from(window.limit))
        .bind(window.most)
        .fetch_all(tx)
        .await?
        .iter()
        .map(|r| {
            let priority: i64 = r.try_get("priority")?;
            Ok(Candidate {
                item: ItemId(r.try_get("item_id")?),
                priority: Priority(i32::try_from(priority).map_err(|_| {
                    sqlx::Error::Decode(
                        format!("task_items.priority: {priority} out of range").into(),
                    )
                })?),
                order_key: r.try_get("order_key")?,
                covered: small(r.try_get("covered")?, "covered")?,
                wanted: r
                    .try_get::<Option<i64>>("target")?
                    .map(|t| small(t, "target"))
                    .transpose()?,
            })
        })
        .collect()
}

/// The worker's past in the task that honeypot mixing needs: seats ever held (one per item,
/// invariant 2), those on gold items, and leases taken.
pub async fn honeypot_history(
    tx: &mut Tx,
    task_id: i64,
    worker: i64,
) -> sqlx::Result<HoneypotHistory> {
    let r = sql::query(
        "SELECT (SELECT COUNT(*) FROM seats WHERE task_id = $1 AND worker_id = $2) AS served, \
         (SELECT COUNT(*) FROM seats s JOIN items i ON i.id = s.item_id WHERE s.task_id = $1 \
            AND s.worker_id = $2 AND i.gold IS NOT NULL) AS honeypots, \
         (SELECT COUNT(*) FROM leases WHERE task_id = $1 AND worker_id = $2) AS batches",
    )
    .bind(task_id)
    .bind(worker)
    .fetch_one(tx)
    .await?;
    let count = |name: &str| -> sqlx::Result<u64> { Ok(r.try_get::<i64>(name)?.max(0) as u64) };
    Ok(HoneypotHistory {
        served: count("served")?,
        honeypots: count("honeypots")?,
        batches: count("batches")?,
    })
}

/// A batch's seats, as the claim takes them.
#[derive(Debug, Clone, Copy)]
pub struct Taking<'a> {
    /// The new lease (its id is made here).
    pub lease: &'a Lease,
    /// The worker's own waiting seats (planned, rework) it takes.
    pub own: &'a [i64],
    /// Items pulled from the queue: new seats.
    pub fresh: &'a [i64],
    /// Whether the worker already held live seats, which join the lease (one batch is one
    /// lease with one expiry; their overlap is already counted, and labels naming the old
    /// lease id are still matched to their seats).
    pub rejoin_held: bool,
}

/// Stores a batch's lease, takes its seats under it and counts the new ones toward overlap;
/// the lease's id, or `None` with nothing written when the task was archived meanwhile. The
/// primary key of `seats` (task, item, worker) makes a second hand-out impossible (invariant
/// 2). Whole-batch statements, whose text depends only on the batch's shape, so they stay
/// prepared; on PostgreSQL they are one statement (a round trip each otherwise), on SQLite (no
/// data-modifying `WITH`) one each.
pub async fn take(tx: &mut Tx, t: Taking<'_>) -> sqlx::Result<Option<i64>> {
    let picked: Vec<i64> = t.own.iter().chain(t.fresh).copied().collect();
    if !tx.writes_in_with() {
        // Claims take turns on SQLite: the status the claim read is still the task's.
        let id = super::leases::insert(&mut *tx, t.lease).await?;
        take_one_by_one(tx, &t, id, &picked).await?;
        return Ok(Some(id));
    }
    // Parameters: $1 task, $2 worker, $3 issued, $4 expires, then own, fresh, picked.
    let own_at = 5;
    let fresh_at = own_at + t.own.len();
    let picked_at = fresh_at + t.fresh.len();
    let lease_id = "(SELECT id FROM l)";
    // Every write waits for the lease, which is not written in an archived task (below).
    let taken = "EXISTS (SELECT 1 FROM l)";
    let mut writes: Vec<String> = Vec::new();
    if !t.own.is_empty() {
        writes.push(format!(
            "UPDATE seats SET state = {}, lease_id = {lease_id} WHERE task_id = $1 \
             AND worker_id = $2 AND item_id IN ({}) AND {taken}",
            SeatState::Leased.sql(),
            sql::params(own_at, t.own.len())
        ));
    }
    if !t.fresh.is_empty() {
        let rows: Vec<String> = (0..t.fresh.len())
            .map(|i| format!("(${})", fresh_at + i))
            .collect();
        writes.push(format!(
            "INSERT INTO seats (task_id, item_id, worker_id, lease_id, state) \
             SELECT $1, v.item_id, $2, {lease_id}, {} FROM (VALUES {}) v (item_id) WHERE {taken}",
            SeatState::Leased.sql(),
            rows.join(", ")
        ));
    }
    if !picked.is_empty() {
        writes.push(format!(
            "UPDATE task_items SET covered = covered + 1 WHERE task_id = $1 AND item_id IN ({}) \
             AND {taken}",
            sql::params(picked_at, picked.len())
        ));
    }
    if t.rejoin_held {
        // The seats leased before this claim (a statement's `WITH` parts all see the rows as
        // they were before it, so the fresh seats are not among them).
        writes.push(format!(
            "UPDATE seats SET lease_id = {lease_id} WHERE task_id = $1 AND worker_id = $2 \
             AND state = {} AND {taken}",
            SeatState::Leased.sql()
        ));
    }
    let parts: Vec<String> = writes
        .iter()
        .enumerate()
        .map(|(i, w)| format!(", w{i} AS ({w})"))
        .collect();
    // The claim read the task's status before its window of items; an archive that committed
    // since (it held the items' rows until then) is seen here, by a statement of its own.
    sql::query(format!(
        "WITH l AS (INSERT INTO leases (task_id, worker_id, issued_at, expires_at) \
         SELECT $1, $2, $3, $4 WHERE {} RETURNING id){} SELECT id FROM l",
        super::tasks::not_archived(""),
        parts.concat()
    ))
    .bind(t.lease.task.0)
    .bind(t.lease.worker.0)
    .bind(t.lease.issued_at.0)
    .bind(t.lease.expires_at.0)
    .bind_all(t.own)
    .bind_all(t.fresh)
    .bind_all(&picked)
    .fetch_optional(tx)
    .await?
    .map(|r| r.try_get("id"))
    .transpose()
}

/// [`take`]'s writes as separate statements (SQLite), with the lease's id as a parameter.
async fn take_one_by_one(tx: &mut Tx, t: &Taking<'_>, id: i64, picked: &[i64]) -> sqlx::Result<()> {
    let (task_id, worker) = (t.lease.task.0, t.lease.worker.0);
    if !t.own.is_empty() {
        sql::query(format!(
            "UPDATE seats SET state = {}, lease_id = $1 WHERE task_id = $2 AND worker_id = $3 \
             AND item_id IN ({})",
            SeatState::Leased.sql(),
            sql::params(4, t.own.len())
        ))
        .bind(id)
        .bind(task_id)
        .bind(worker)
        .bind_all(t.own)
        .execute(&mut *tx)
        .await?;
    }
    if !t.fresh.is_empty() {
        let rows: Vec<String> = (0..t.fresh.len())
            .map(|i| format!("($1, ${}, $2, $3, {})", i + 4, SeatState::Leased.sql()))
            .collect();
        sql::query(format!(
            "INSERT INTO seats (task_id, item_id, worker_id, lease_id, state) VALUES {}",
            rows.join(", ")
        ))
        .bind(task_id)
        .bind(worker)
        .bind(id)
        .bind_all(t.fresh)
        .execute(&mut *tx)
        .await?;
    }
    if !picked.is_empty() {
        sql::query(format!(
            "UPDATE task_items SET covered = covered + 1 WHERE task_id = $1 AND item_id IN ({})",
            sql::params(2, picked.len())
        ))
        .bind(task_id)
        .bind_all(picked)
        .execute(&mut *tx)
        .await?;
    }
    if t.rejoin_held {
        sql::query(format!(
            "UPDATE seats SET lease_id = $1 WHERE task_id = $2 AND worker_id = $3 AND state = {}",
            SeatState::Leased.sql()
        ))
        .bind(id)
        .bind(task_id)
        .bind(worker)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Marks an open task in progress. Conditional: concurrent first leases each read `open`
/// (claims do not lock the task).
pub async fn start_task(tx: &mut Tx, task_id: i64) -> sqlx::Result<()> {
    static START: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE tasks SET status = '{}' WHERE id = $1 AND status = '{}'",
            TaskStatus::InProgress,
            TaskStatus::Open
        )
    });
    sql::query(START.as_str()).bind(task_id).execute(tx).await?;
    Ok(())
}

/// One leased item as its worker sees it: never gold answers or anyone else's labels
/// (invariant 5).
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// The item.
    pub id: i64,
    /// Its data (JSON).
    pub data: Value,
    /// Its metadata (JSON).
    pub metadata: Value,
    /// Its directory.
    pub directory: String,
    /// A reviewer's note when the seat is rework.
    pub rework_comment: Option<String>,
    /// That reviewer's name.
    pub reviewer: Option<String>,
}

/// The worker's seats among `ids` with their items, in one read (any order), and the claim
/// committed: on PostgreSQL the `COMMIT` goes with the read, in the same round trip (a read the
/// database refuses leaves nothing committed; rows that do not decode fail after the commit,
/// and the next lease resumes the batch).
pub async fn batch_items_and_commit(
    tx: Tx,
    task_id: i64,
    worker: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<BatchItem>> {
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let read = batch_read(&tx, task_id, worker, ids);
    batch_rows(&tx.fetch_all_and_commit(read).await?)
}

/// [`batch_items_and_commit`]'s read alone, within the claim (the tests count what it reads).
pub async fn batch_items(
    tx: &mut Tx,
    task_id: i64,
    worker: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<BatchItem>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    batch_rows(&batch_read(tx, task_id, worker, ids).fetch_all(tx).await?)
}

/// The statement of a batch's read.
fn batch_read(tx: &Tx, task_id: i64, worker: i64, ids: &[i64]) -> sql::Query {
    // Each item's seat is looked up by its full key. As a join, the planner without statistics
    // read every seat the worker ever held in the task to find the batch's (322 pages for ten
    // items at 1,000 seats); a lateral subquery it cannot flatten stays one lookup per item.
    let seat = if tx.lateral() {
        format!(
            "CROSS JOIN LATERAL (SELECT rework_comment, rework_by FROM seats \
             WHERE task_id = $1 AND item_id = i.id AND worker_id = $2{}) s",
            tx.per_row()
        )
    } else {
        "JOIN seats s ON s.item_id = i.id AND s.task_id = $1 AND s.worker_id = $2".to_owned()
    };
    sql::query(format!(
        "SELECT i.id, i.data, i.metadata, i.directory, s.rework_comment, u.name AS reviewer FROM items i \
         {seat} LEFT JOIN users u ON u.id = s.rework_by WHERE i.id IN ({})",
        sql::params(3, ids.len())
    ))
    .bind(task_id)
    .bind(worker)
    .bind_all(ids)
}

/// The rows of [`batch_read`].
fn batch_rows(rows: &[sql::Row]) -> sqlx::Result<Vec<BatchItem>> {
    let json = |r: &sql::Row, col: &str| -> sqlx::Result<Value> {
        let text: String = r.try_get(col)?;
        serde_json::from_str(&text)
            .map_err(|e| sqlx::Error::Decode(format!("items.{col}: {e}").into()))
    };
    rows.iter()
        .map(|r| {
            Ok(BatchItem {
                id: r.try_get("id")?,
                data: json(r, "data")?,
                metadata: json(r, "metadata")?,
                directory: r.try_get("directory")?,
                rework_comment: r.try_get("rework_comment")?,
                reviewer: r.try_get("reviewer")?,
            })
        })
        .collect()
}
