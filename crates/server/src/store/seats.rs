//! Seats: one worker's place on one item of a task (the primary key (task, item, worker) is
//! what makes a second hand-out impossible).

use crate::sql::{self, Runner, Tx};
use crate::store::seat_state::SeatState;
use quorum_core::ids::{ItemId, LeaseId, TaskId, WorkerId};
use quorum_core::lease::Lease;
use quorum_core::review::ResultState;
use quorum_core::time::Millis;

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
) -> sqlx::Result<Option<SeatState>> {
    sql::query_scalar::<String>(
        "SELECT state FROM seats WHERE task_id = $1 AND item_id = $2 AND worker_id = $3",
    )
    .bind(task_id)
    .bind(item_id)
    .bind(worker)
    .fetch_optional(on)
    .await?
    .as_deref()
    .map(SeatState::parse)
    .transpose()
}

/// Where a handed-over seat goes: a leased seat stays leased, under `lease` (a new one of the
/// new holder's), and keeps its place in the item's overlap; a seat not yet leased (planned,
/// rework) starts fresh, planned, as it held no place.
#[derive(Debug, Clone, Copy)]
pub enum HandedOver {
    /// The seat was leased: it goes under this lease of the new holder's.
    Leased { lease: i64 },
    /// The seat was planned or sent back: it is planned for the new holder.
    Waiting { was: SeatState },
}

/// Gives `from`'s seat on the item (read locked: [`state_locked`]) to `to` as `how` says,
/// without its rework note. Overlap is untouched: a leased seat's place passes to the new
/// holder, so nobody else takes it meanwhile and the new holder's lease does not count it
/// twice.
pub async fn hand_over(
    tx: &mut Tx,
    task_id: i64,
    item: ItemId,
    (from, to): (WorkerId, WorkerId),
    how: HandedOver,
) -> sqlx::Result<()> {
    let (was, state, lease) = match how {
        HandedOver::Leased { lease } => (SeatState::Leased, SeatState::Leased, Some(lease)),
        HandedOver::Waiting { was } => (was, SeatState::Assigned, None),
    };
    sql::query(
        "UPDATE seats SET worker_id = $1, state = $2, lease_id = $3, rework_comment = NULL, \
         rework_by = NULL WHERE task_id = $4 AND item_id = $5 AND worker_id = $6 AND state = $7",
    )
    .bind(to.0)
    .bind(state.as_str())
    .bind(lease)
    .bind(task_id)
    .bind(item.0)
    .bind(from.0)
    .bind(was.as_str())
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

/// A worker's seat on an item as a label or a revision finds it.
#[derive(Debug, Clone)]
pub struct LabelSeat {
    /// The seat's state.
    pub state: SeatState,
    /// The lease the seat is under, if any.
    pub lease: Option<Lease>,
    /// Whether the lease the op named is one of the worker's own on the task (an expired one
    /// still makes the label late, not wrong).
    pub own_lease: bool,
    /// The item's seats in use (`task_items.covered`).
    pub covered: i64,
    /// The item's result state in the task.
    pub item_state: ResultState,
}

/// The worker's seat on the item, its lease, the item's standing and whether `op_lease` is the
/// worker's own, in one read: this runs for every label. The seat's and the item's rows are
/// locked as they are read (PostgreSQL), so labels on one item take turns and each sees the
/// labels before it; labels on other items of the task go on at the same time. `None`: no seat
/// of the worker's, or the item left the task.
pub async fn for_label(
    tx: &mut Tx,
    task_id: i64,
    item_id: i64,
    worker: i64,
    op_lease: i64,
) -> sqlx::Result<Option<LabelSeat>> {
    let read = seat_read(["$1", "$2", "$3", "$4"], "");
    sql::query(format!("{read}{}", tx.lock_rows("s, ti")))
        .bind(task_id)
        .bind(item_id)
        .bind(worker)
        .bind(op_lease)
        .fetch_optional(tx)
        .await?
        .map(|r| label_seat(&r, task_id, worker))
        .transpose()
}

/// The seat a label needs read: `worker`'s on the item, and the lease the op named.
#[derive(Debug, Clone, Copy)]
pub struct LabelKey {
    pub task_id: i64,
    pub item_id: i64,
    pub worker: i64,
    pub op_lease: i64,
}

/// A seat [`for_labels`] read and locked, with where its row and its item's row are
/// (`ctid`, as text): locked, neither moves until this transaction writes it, so the group's
/// writes find them by address, whatever plan the statement has.
#[derive(Debug, Clone)]
pub struct LockedSeat {
    pub seat: LabelSeat,
    pub seat_row: String,
    pub item_row: String,
}

/// [`for_label`] for a group's labels in one statement (PostgreSQL): each key's seat, `None`
/// where it has none. Rows are locked one key after another in the keys' order (a lateral
/// read per key), as a label alone would lock them one after another.
pub async fn for_labels(tx: &mut Tx, keys: &[LabelKey]) -> sqlx::Result<Vec<Option<LockedSeat>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let read = seat_read(
        ["k.task_id", "k.item_id", "k.worker_id", "k.op_lease"],
        ", CAST(s.ctid AS TEXT) AS seat_row, CAST(ti.ctid AS TEXT) AS item_row",
    );
    let column = |f: fn(&LabelKey) -> i64| crate::pg_array::ints(keys.iter().map(f));
    let rows = sql::query(format!(
        "SELECT k.n, x.* FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) \
         WITH ORDINALITY AS k(task_id, item_id, worker_id, op_lease, n) \
         CROSS JOIN LATERAL ({read}{}) x ORDER BY k.n",
        tx.lock_rows("s, ti")
    ))
    .bind(column(|k| k.task_id))
    .bind(column(|k| k.item_id))
    .bind(column(|k| k.worker))
    .bind(column(|k| k.op_lease))
    .fetch_all(tx)
    .await?;
    let mut out = vec![None; keys.len()];
    for r in &rows {
        let n: i64 = r.try_get("n")?;
        let key = keys
            .get((n - 1) as usize)
            .ok_or_else(|| sqlx::Error::Decode("a seat read for no key".into()))?;
        out[(n - 1) as usize] = Some(LockedSeat {
            seat: label_seat(r, key.task_id, key.worker)?,
            seat_row: r.try_get("seat_row")?,
            item_row: r.try_get("item_row")?,
        });
    }
    Ok(out)
}

/// The read of a label's seat and item, for the (task, item, worker, lease named by the op)
/// given as SQL expressions, with `more` columns: one text for a label alone and a group.
fn seat_read([task, item, worker, op_lease]: [&str; 4], more: &str) -> String {
    format!(
        "SELECT s.state, l.id AS lease_id, l.issued_at, l.expires_at, l.released_at, ti.covered, \
         ti.state AS item_state, own.id AS own_lease{more} FROM seats s \
         JOIN task_items ti ON ti.task_id = s.task_id AND ti.item_id = s.item_id \
         LEFT JOIN leases l ON l.id = s.lease_id \
         LEFT JOIN leases own ON own.id = {op_lease} AND own.task_id = s.task_id \
         AND own.worker_id = s.worker_id \
         WHERE s.task_id = {task} AND s.item_id = {item} AND s.worker_id = {worker}"
    )
}

/// A row of [`for_label`]'s read: `worker`'s seat on an item of the task.
fn label_seat(r: &sql::Row, task_id: i64, worker: i64) -> sqlx::Result<LabelSeat> {
    let lease = match r.try_get::<Option<i64>>("lease_id")? {
        Some(id) => Some(Lease {
            id: LeaseId(id),
            task: TaskId(task_id),
            worker: WorkerId(worker),
            issued_at: Millis(r.try_get("issued_at")?),
            expires_at: Millis(r.try_get("expires_at")?),
            released_at: r.try_get::<Option<i64>>("released_at")?.map(Millis),
        }),
        None => None,
    };
    Ok(LabelSeat {
        state: SeatState::parse(&r.try_get::<String>("state")?)?,
        lease,
        own_lease: r.try_get::<Option<i64>>("own_lease")?.is_some(),
        covered: r.try_get("covered")?,
        item_state: super::reviews::parse_state(&r.try_get::<String>("item_state")?)?,
    })
}

/// [`state_of`], locking the seat's row and its item's until the claim ends (PostgreSQL), as a
/// label does: a skip waits for a label or an archive on the item.
pub async fn state_locked(
    tx: &mut Tx,
    task_id: i64,
    item_id: i64,
    worker: i64,
) -> sqlx::Result<Option<SeatState>> {
    let lock = tx.lock_rows("s, ti");
    sql::query_scalar::<String>(format!(
        "SELECT s.state FROM seats s \
         JOIN task_items ti ON ti.task_id = s.task_id AND ti.item_id = s.item_id \
         WHERE s.task_id = $1 AND s.item_id = $2 AND s.worker_id = $3{lock}"
    ))
    .bind(task_id)
    .bind(item_id)
    .bind(worker)
    .fetch_optional(tx)
    .await?
    .as_deref()
    .map(SeatState::parse)
    .transpose()
}

/// Marks the worker's seat on the item skipped: the item is not handed to them again.
pub async fn skip(tx: &mut Tx, task_id: i64, item_id: i64, worker: i64) -> sqlx::Result<()> {
    sql::query(format!(
        "UPDATE seats SET state = {} WHERE task_id = $1 AND item_id = $2 AND worker_id = $3",
        SeatState::Skipped.sql()
    ))
    .bind(task_id)
    .bind(item_id)
    .bind(worker)
    .execute(tx)
    .await?;
    Ok(())
}

/// The items lease `lease_id` still holds, by its task, worker and id (the partial index of
/// leased seats, see migration 0006).
pub async fn leased_by(
    on: &mut impl Runner,
    task_id: i64,
    worker: i64,
    lease_id: i64,
) -> sqlx::Result<Vec<i64>> {
    sql::query_scalar(format!(
        "SELECT item_id FROM seats WHERE task_id = $1 AND worker_id = $2 \
         AND lease_id = $3 AND state = {}",
        SeatState::Leased.sql()
    ))
    .bind(task_id)
    .bind(worker)
    .bind(lease_id)
    .fetch_all(on)
    .await
}
