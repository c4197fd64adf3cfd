//! Labels (`annotations`): storing a submitted or revised label, and reading them back as the
//! scoring code and the rework screen need them, with the gold answers they are scored against.

use crate::sql::{self, Runner, Tx};
use crate::store::seat_state::SeatState;
use std::sync::{LazyLock, OnceLock};

/// One active label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveLabel {
    /// The item labeled.
    pub item_id: i64,
    /// Who labeled it.
    pub worker_id: i64,
    /// The answer's consensus key (equal answers, equal keys).
    pub consensus_key: String,
    /// When.
    pub created_at: i64,
}

/// The task's active labels (only `worker`'s when given), in the order they were made.
pub async fn active(
    on: &mut impl Runner,
    task_id: i64,
    worker: Option<i64>,
) -> sqlx::Result<Vec<ActiveLabel>> {
    sql::query(
        "SELECT item_id, worker_id, consensus_key, created_at FROM annotations \
         WHERE task_id = $1 AND active = 1 AND ($2 = 0 OR worker_id = $2) ORDER BY id",
    )
    .bind(task_id)
    .bind(worker.unwrap_or(0))
    .fetch_all(on)
    .await?
    .iter()
    .map(|r| {
        Ok(ActiveLabel {
            item_id: r.try_get("item_id")?,
            worker_id: r.try_get("worker_id")?,
            consensus_key: r.try_get("consensus_key")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .collect()
}

/// The task's (`$1`) items that have a gold answer: `id` and `gold` (JSON text). Keyed by the
/// task's project, so the planner may start from the project's gold (`items_gold`, migration
/// 0020) when there is little of it, rather than from every item of the task.
pub const GOLD_OF_TASK: &str = "SELECT i.id, i.gold FROM items i \
     JOIN task_items ti ON ti.task_id = $1 AND ti.item_id = i.id \
     WHERE i.gold IS NOT NULL AND i.project_id = (SELECT project_id FROM tasks WHERE id = $1)";

/// The gold answers (JSON text) of the task's items that have one, by item id.
pub async fn gold(on: &mut impl Runner, task_id: i64) -> sqlx::Result<Vec<(i64, String)>> {
    sql::query(GOLD_OF_TASK)
        .bind(task_id)
        .fetch_all(on)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("gold")?)))
        .collect()
}

/// A new label, as stored.
#[derive(Debug, Clone)]
pub struct NewLabel<'a> {
    /// The task.
    pub task_id: i64,
    /// The item.
    pub item_id: i64,
    /// Who gave it.
    pub worker_id: i64,
    /// The lease the op named (its fencing token).
    pub lease_id: i64,
    /// The answer (JSON).
    pub value: &'a str,
    /// The answer's consensus key.
    pub consensus_key: &'a str,
    /// Made after its lease ended.
    pub late: bool,
    /// Counts toward the item's overlap.
    pub counted: bool,
    /// How long the worker took, if the client said.
    pub duration_ms: Option<i64>,
    /// The op that made it.
    pub client_op_id: &'a str,
    /// When.
    pub at: i64,
    /// The task's `schema_version` the answer was checked against.
    pub schema_version: i64,
}

/// Inserts a label unless its task is archived (or gone) by now, or its schema changed since
/// the label was checked against it (`$12`, the task's `schema_version` then): nothing is
/// written when it inserts no row ([`super::tasks::not_archived`]). On PostgreSQL the task's row
/// is read locked by key (`key_share`), as the foreign key check does anyway: a schema change
/// holds it (`FOR UPDATE`) until it commits, and the label then reads the new version.
fn insert_label_sql(key_share: &str) -> String {
    format!(
        "INSERT INTO annotations (task_id, item_id, worker_id, lease_id, value, \
         consensus_key, late, counted, duration_ms, client_op_id, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE {}",
        super::tasks::not_archived(&format!(" AND schema_version = $12{key_share}"))
    )
}

/// The label insert for `tx`'s backend (its [`Tx::key_share`]), made once per backend: it runs
/// for every label.
fn insert_for(tx: &Tx) -> &'static str {
    static MADE: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let key_share = tx.key_share();
    MADE[usize::from(!key_share.is_empty())].get_or_init(|| insert_label_sql(key_share))
}

fn insert_label(label: &NewLabel<'_>, sql: &str) -> sql::Query {
    sql::query(sql)
        .bind(label.task_id)
        .bind(label.item_id)
        .bind(label.worker_id)
        .bind(label.lease_id)
        .bind(label.value)
        .bind(label.consensus_key)
        .bind(label.late as i64)
        .bind(label.counted as i64)
        .bind(label.duration_ms)
        .bind(label.client_op_id)
        .bind(label.at)
        .bind(label.schema_version)
}

/// What storing a label found: whether the op's answer was stored with it, and on PostgreSQL
/// the item's votes with the new label in.
#[derive(Debug, Clone)]
pub struct Stored {
    /// False when the task was archived, or its schema changed, while the label waited for
    /// its item: nothing was written, not even the op's answer.
    pub open: bool,
    /// False when another request stored the op's answer first (see [`super::ops::store`]):
    /// the caller undoes the transaction.
    pub answer: bool,
    /// False when the label's seat was not marked `submitted` ([`submit_many`] finds it by the
    /// address its locked read gave): the caller undoes the transaction.
    pub seat: bool,
    /// The item's active, counted labels by answer, the new one included; `None` where they
    /// are read afterwards (SQLite).
    pub votes: Option<Vec<super::reviews::Vote>>,
}

/// Stores a submitted label with the op's answer: the label, its seat marked `submitted`, and
/// the answer. On PostgreSQL the three writes and the read of the item's votes that routing
/// needs next are one statement (each statement is a round trip between processes that share
/// the CPU); SQLite runs in-process and has no data-modifying `WITH`, so it runs them one by
/// one. The votes are read after the item's row was locked (`seats::for_label`), so they hold
/// every label committed before; the new one comes from the insert (a statement does not see
/// its own `WITH` writes).
pub async fn submit(
    tx: &mut Tx,
    label: &NewLabel<'_>,
    answer: &super::ops::Answer<'_>,
) -> sqlx::Result<Stored> {
    if tx.writes_in_with() {
        let rows = insert_label(
            label,
            &format!(
                "WITH a AS ({insert} RETURNING consensus_key, value, counted), \
                 s AS (UPDATE seats SET state = {submitted}, rework_comment = NULL \
                    WHERE task_id = $1 AND item_id = $2 AND worker_id = $3 AND EXISTS (SELECT 1 FROM a)), \
                 o AS (INSERT INTO ops (user_id, client_op_id, outcome, created_at) \
                    SELECT $13, $14, $15, $16 WHERE EXISTS (SELECT 1 FROM a) \
                    ON CONFLICT (user_id, client_op_id) DO NOTHING RETURNING 1), \
                 v AS (SELECT consensus_key, value FROM annotations \
                    WHERE task_id = $1 AND item_id = $2 AND active = 1 AND counted = 1 \
                    UNION ALL SELECT consensus_key, value FROM a WHERE counted = 1) \
                 SELECT (SELECT COUNT(*) FROM a) AS open, (SELECT COUNT(*) FROM o) AS stored, \
                    k.consensus_key, k.value, k.n \
                 FROM (SELECT 1 AS one) one LEFT JOIN (SELECT consensus_key, MIN(value) AS value, \
                    COUNT(*) AS n FROM v GROUP BY consensus_key) k ON TRUE",
                insert = insert_for(tx),
                submitted = SeatState::Submitted.sql(),
            ),
        )
        .bind(answer.user_id)
        .bind(answer.client_op_id)
        .bind(answer.outcome)
        .bind(answer.at)
        .fetch_all(&mut *tx)
        .await?;
        let (open, stored): (i64, i64) = match rows.first() {
            Some(r) => (r.try_get("open")?, r.try_get("stored")?),
            None => (0, 0),
        };
        let mut votes = Vec::new();
        for r in &rows {
            if let Some(key) = r.try_get::<Option<String>>("consensus_key")? {
                votes.push(super::reviews::Vote {
                    key,
                    value: r.try_get("value")?,
                    n: r.try_get("n")?,
                });
            }
        }
        return Ok(Stored {
            open: open == 1,
            answer: stored == 1,
            seat: true,
            votes: Some(votes),
        });
    }
    let inserted = insert_label(label, insert_for(tx))
        .execute(&mut *tx)
        .await?;
    if inserted == 0 {
        return Ok(Stored {
            open: false,
            answer: false,
            seat: true,
            votes: None,
        });
    }
    static SUBMITTED: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE seats SET state = {}, rework_comment = NULL \
             WHERE task_id = $1 AND item_id = $2 AND worker_id = $3",
            SeatState::Submitted.sql()
        )
    });
    sql::query(SUBMITTED.as_str())
        .bind(label.task_id)
        .bind(label.item_id)
        .bind(label.worker_id)
        .execute(&mut *tx)
        .await?;
    Ok(Stored {
        open: true,
        answer: super::ops::store(tx, answer).await?,
        seat: true,
        votes: None,
    })
}

/// [`submit`] for a group's labels on distinct items, in one statement (PostgreSQL): each
/// label with its seat (locked, at `seat_rows`) marked `submitted` and its op's answer
/// (`outcomes`), and each item's votes with its new label in. A label is inserted only if its
/// task is open and its schema unchanged, as alone; the caller undoes the claim when one was
/// not (`open`) or another request stored an op's answer first (`answer`), so the seats and
/// answers need not wait for the labels. Every read is by key or by row address: the claim
/// runs on generic plans (`Tx::plan_for_lookups`).
pub async fn submit_many(
    tx: &mut Tx,
    labels: &[NewLabel<'_>],
    seat_rows: &[&str],
    outcomes: &[&str],
) -> sqlx::Result<Vec<Stored>> {
    use crate::pg_array::{ints, texts};
    if labels.is_empty() {
        return Ok(Vec::new());
    }
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH j AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], \
                $4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], \
                $10::text[], $11::bigint[], $12::bigint[], $13::text[]) WITH ORDINALITY AS \
                j(task_id, item_id, worker_id, lease_id, value, consensus_key, late, counted, \
                duration_ms, client_op_id, created_at, schema_version, outcome, n)), \
             a AS (INSERT INTO annotations (task_id, item_id, worker_id, lease_id, value, \
                consensus_key, late, counted, duration_ms, client_op_id, created_at) \
                SELECT task_id, item_id, worker_id, lease_id, value, consensus_key, late, counted, \
                duration_ms, client_op_id, created_at FROM j WHERE EXISTS (SELECT 1 FROM tasks t \
                WHERE t.id = j.task_id AND t.status <> '{archived}' \
                AND t.schema_version = j.schema_version FOR KEY SHARE) \
                RETURNING task_id, item_id, consensus_key, value, counted), \
             s AS (UPDATE seats SET state = {submitted}, rework_comment = NULL \
                WHERE ctid = ANY($14::tid[]) RETURNING task_id, item_id), \
             o AS (INSERT INTO ops (user_id, client_op_id, outcome, created_at) \
                SELECT worker_id, client_op_id, outcome, created_at FROM j \
                ON CONFLICT (user_id, client_op_id) DO NOTHING RETURNING user_id, client_op_id), \
             v AS (SELECT c.task_id, c.item_id, c.consensus_key, c.value FROM j CROSS JOIN LATERAL \
                (SELECT task_id, item_id, consensus_key, value FROM annotations \
                WHERE task_id = j.task_id AND item_id = j.item_id AND active = 1 AND counted = 1 \
                OFFSET 0) c \
                UNION ALL SELECT task_id, item_id, consensus_key, value FROM a WHERE counted = 1) \
             SELECT j.n, (SELECT COUNT(*) FROM a WHERE a.task_id = j.task_id \
                AND a.item_id = j.item_id) AS open, \
                (SELECT COUNT(*) FROM o WHERE o.user_id = j.worker_id \
                AND o.client_op_id = j.client_op_id) AS stored, \
                (SELECT COUNT(*) FROM s WHERE s.task_id = j.task_id \
                AND s.item_id = j.item_id) AS seat, \
                k.consensus_key, k.value, k.n AS votes \
             FROM j LEFT JOIN (SELECT task_id, item_id, consensus_key, MIN(value) AS value, \
                COUNT(*) AS n FROM v GROUP BY task_id, item_id, consensus_key) k \
                ON k.task_id = j.task_id AND k.item_id = j.item_id ORDER BY j.n",
            archived = quorum_core::lifecycle::TaskStatus::Archived,
            submitted = SeatState::Submitted.sql(),
        )
    });
    let ints_of = |f: fn(&NewLabel<'_>) -> i64| ints(labels.iter().map(f));
    let durations: Vec<Option<String>> = labels
        .iter()
        .map(|l| l.duration_ms.map(|d| d.to_string()))
        .collect();
    let rows = sql::query(SQL.as_str())
        .bind(ints_of(|l| l.task_id))
        .bind(ints_of(|l| l.item_id))
        .bind(ints_of(|l| l.worker_id))
        .bind(ints_of(|l| l.lease_id))
        .bind(texts(labels.iter().map(|l| Some(l.value))))
        .bind(texts(labels.iter().map(|l| Some(l.consensus_key))))
        .bind(ints_of(|l| l.late as i64))
        .bind(ints_of(|l| l.counted as i64))
        .bind(texts(durations.iter().map(|d| d.as_deref())))
        .bind(texts(labels.iter().map(|l| Some(l.client_op_id))))
        .bind(ints_of(|l| l.at))
        .bind(ints_of(|l| l.schema_version))
        .bind(texts(outcomes.iter().map(|o| Some(*o))))
        .bind(texts(seat_rows.iter().map(|r| Some(*r))))
        .fetch_all(&mut *tx)
        .await?;
    let mut out: Vec<Stored> = labels
        .iter()
        .map(|_| Stored {
            open: false,
            answer: false,
            seat: false,
            votes: Some(Vec::new()),
        })
        .collect();
    for r in &rows {
        let n: i64 = r.try_get("n")?;
        let stored = out
            .get_mut((n - 1) as usize)
            .ok_or_else(|| sqlx::Error::Decode("a label stored for no label".into()))?;
        stored.open = r.try_get::<i64>("open")? == 1;
        stored.answer = r.try_get::<i64>("stored")? == 1;
        stored.seat = r.try_get::<i64>("seat")? == 1;
        if let (Some(key), Some(votes)) = (
            r.try_get::<Option<String>>("consensus_key")?,
            stored.votes.as_mut(),
        ) {
            votes.push(super::reviews::Vote {
                key,
                value: r.try_get("value")?,
                n: r.try_get("votes")?,
            });
        }
    }
    Ok(out)
}

/// The worker's active label on the item, which a revision replaces: its id and standing.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    /// The label.
    pub id: i64,
    /// Made after its lease ended.
    pub late: bool,
    /// Counts toward the item's overlap.
    pub counted: bool,
}

/// The worker's newest active label on the item, if any.
pub async fn active_own(
    on: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    worker: i64,
) -> sqlx::Result<Option<Standing>> {
    sql::query(
        "SELECT id, late, counted FROM annotations WHERE task_id = $1 AND item_id = $2 \
         AND worker_id = $3 AND active = 1 ORDER BY id DESC LIMIT 1",
    )
    .bind(task_id)
    .bind(item_id)
    .bind(worker)
    .fetch_optional(on)
    .await?
    .map(|r| {
        Ok(Standing {
            id: r.try_get("id")?,
            late: r.try_get::<i64>("late")? != 0,
            counted: r.try_get::<i64>("counted")? != 0,
        })
    })
    .transpose()
}

/// The worker's newest answer (JSON) on the item, active or not: what rework opens with.
pub async fn last_own_value(
    on: &mut impl Runner,
    task_id: i64,
    item_id: i64,
    worker: i64,
) -> sqlx::Result<Option<String>> {
    sql::query_scalar(
        "SELECT value FROM annotations WHERE task_id = $1 AND item_id = $2 AND worker_id = $3 \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(task_id)
    .bind(item_id)
    .bind(worker)
    .fetch_optional(on)
    .await
}

/// Replaces label `old` with `new` (which keeps its standing): the old one stays in the
/// history, inactive. False, with nothing written, when the task was archived meanwhile (see
/// [`insert_label_sql`]).
pub async fn replace(tx: &mut Tx, old: i64, new: &NewLabel<'_>) -> sqlx::Result<bool> {
    let inserted = insert_label(new, insert_for(tx)).execute(&mut *tx).await?;
    if inserted == 0 {
        return Ok(false);
    }
    sql::query("UPDATE annotations SET active = 0 WHERE id = $1")
        .bind(old)
        .execute(tx)
        .await?;
    Ok(true)
}

/// Takes back one count of the item's labels (`labeled`): a revision replaces a label, and
/// routing it again counted it as new.
pub async fn uncount(tx: &mut Tx, task_id: i64, item_id: i64) -> sqlx::Result<()> {
    sql::query("UPDATE task_items SET labeled = labeled - 1 WHERE task_id = $1 AND item_id = $2")
        .bind(task_id)
        .bind(item_id)
        .execute(tx)
        .await?;
    Ok(())
}
