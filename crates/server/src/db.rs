//! The database handle: one sqlx `Any` pool over SQLite (embedded default) or PostgreSQL, the
//! per-backend migrations, and write transactions that serialize claims.
//!
//! Every query in the server is written once in the SQL both backends accept (`$1` parameters,
//! `BIGINT` columns, `RETURNING`); the few places where they differ ask [`Db::backend`].

use crate::lite_writer::{Order, Turn, Writer};
use anyhow::Context;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Executor, Transaction};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server, possibly shared by several `quorum serve` processes.
    Postgres,
}

/// The migrations of each backend, numbered alike.
const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../migrations/sqlite/0002_dynamic_overlap.sql"),
    ),
    (
        3,
        include_str!("../migrations/sqlite/0003_consensus_results.sql"),
    ),
    (4, include_str!("../migrations/sqlite/0004_predictions.sql")),
    (5, include_str!("../migrations/sqlite/0005_live_seats.sql")),
    (
        6,
        include_str!("../migrations/sqlite/0006_seat_indexes.sql"),
    ),
    // 8 is taken by `ids_never_reused`, written in Rust (see `IDS_NEVER_REUSED`).
    (
        10,
        include_str!("../migrations/sqlite/0010_workflow_steps.sql"),
    ),
    (
        11,
        include_str!("../migrations/sqlite/0011_claims_without_task_lock.sql"),
    ),
    (13, include_str!("../migrations/sqlite/0013_media.sql")),
    (
        14,
        include_str!("../migrations/sqlite/0014_review_corrections.sql"),
    ),
    (
        16,
        include_str!("../migrations/sqlite/0016_task_events.sql"),
    ),
    (
        17,
        include_str!("../migrations/sqlite/0017_enumerated_columns.sql"),
    ),
    (
        19,
        include_str!("../migrations/sqlite/0019_step_index_past_labeling.sql"),
    ),
    (
        20,
        include_str!("../migrations/sqlite/0020_gold_items_index.sql"),
    ),
    (
        21,
        include_str!("../migrations/sqlite/0021_task_schema_version.sql"),
    ),
    (
        22,
        include_str!("../migrations/sqlite/0022_job_result_files.sql"),
    ),
    (
        23,
        include_str!("../migrations/sqlite/0023_archive_files.sql"),
    ),
    (
        24,
        include_str!("../migrations/sqlite/0024_task_counts.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../migrations/postgres/0002_dynamic_overlap.sql"),
    ),
    (
        3,
        include_str!("../migrations/postgres/0003_consensus_results.sql"),
    ),
    (
        4,
        include_str!("../migrations/postgres/0004_predictions.sql"),
    ),
    (
        5,
        include_str!("../migrations/postgres/0005_live_seats.sql"),
    ),
    (
        6,
        include_str!("../migrations/postgres/0006_seat_indexes.sql"),
    ),
    (
        10,
        include_str!("../migrations/postgres/0010_workflow_steps.sql"),
    ),
    (
        11,
        include_str!("../migrations/postgres/0011_claims_without_task_lock.sql"),
    ),
    // PostgreSQL only: SQLite keeps its keys, whose checks cost little in-process.
    (
        12,
        include_str!("../migrations/postgres/0012_task_items_bulk.sql"),
    ),
    (13, include_str!("../migrations/postgres/0013_media.sql")),
    (
        14,
        include_str!("../migrations/postgres/0014_review_corrections.sql"),
    ),
    (
        16,
        include_str!("../migrations/postgres/0016_task_events.sql"),
    ),
    (
        17,
        include_str!("../migrations/postgres/0017_enumerated_columns.sql"),
    ),
    // PostgreSQL only: SQLite's planner takes the primary key for a full key by itself.
    (
        18,
        include_str!("../migrations/postgres/0018_plans_without_statistics.sql"),
    ),
    (
        19,
        include_str!("../migrations/postgres/0019_step_index_past_labeling.sql"),
    ),
    (
        20,
        include_str!("../migrations/postgres/0020_gold_items_index.sql"),
    ),
    (
        21,
        include_str!("../migrations/postgres/0021_task_schema_version.sql"),
    ),
    (
        22,
        include_str!("../migrations/postgres/0022_job_result_files.sql"),
    ),
    (
        23,
        include_str!("../migrations/postgres/0023_archive_files.sql"),
    ),
    (
        24,
        include_str!("../migrations/postgres/0024_task_counts.sql"),
    ),
];

/// PostgreSQL connections for claims and point reads, per server process, unless `serve
/// --pg-connections` says otherwise. Busy backends beyond the database's cores only take turns
/// on them: on two cores, one server did as well with 8 as with 16 (about 1,800–2,000 labels/s
/// either way) and two servers better with 8 each than with 16 (1,720–1,760/s against
/// 1,460–1,540/s); see `docs/benchmarks.md`.
pub const PG_CONNECTIONS: usize = 8;

/// SQLite connections for point reads.
const READERS: usize = 3;

/// A shared handle on the store.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite allows one writer at a time; taking turns in-process avoids `SQLITE_BUSY` on lock
    /// upgrades. The turn is this connection, on which claims run (see [`crate::sql`]); other
    /// writes hold it while they run on the pool. PostgreSQL serializes claims with row locks
    /// instead, which also works across processes.
    writer: Option<Writer>,
    /// PostgreSQL's hot path: claims and point reads (see [`crate::pg`]).
    pg: Option<crate::pg::Pool>,
    /// SQLite connections for [`Db::reader`], taken in turn.
    readers: Arc<[Arc<Mutex<rusqlite::Connection>>]>,
    next_reader: Arc<AtomicUsize>,
}

/// A write transaction; on SQLite it also holds the writer's turn until commit or drop.
pub struct WriteTx {
    /// The transaction to run statements on.
    pub tx: Transaction<'static, Any>,
    _turn: Option<Turn>,
    backend: Backend,
}

impl crate::sql::Runner for WriteTx {
    fn target(&mut self) -> crate::sql::Target<'_> {
        crate::sql::Target::Tx(&mut self.tx)
    }
}

impl WriteTx {
    /// ` FOR UPDATE` on PostgreSQL, nothing on SQLite (whose writer already excludes).
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Commits; only after this returns may the caller acknowledge anything (invariant 3).
    pub async fn commit(self) -> sqlx::Result<()> {
        self.tx.commit().await
    }

    /// Undoes everything, before the writer's turn passes on (a dropped transaction would
    /// roll back only when its connection is next used, holding SQLite's write lock till then).
    pub async fn rollback(self) -> sqlx::Result<()> {
        self.tx.rollback().await
    }
}

impl Db {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        Db::connect_with(url, PG_CONNECTIONS).await
    }

    /// [`Db::connect`] with `pg_connections` hot-path connections on PostgreSQL (at least 1).
    pub async fn connect_with(url: &str, pg_connections: usize) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL {url:?}: use sqlite://FILE or postgres://…");
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let pool = AnyPoolOptions::new()
            // A ping before every checkout doubles the round trips of short queries; a dead
            // connection fails its query instead, which surfaces as a retryable 503.
            .test_before_acquire(false)
            .max_connections(match backend {
                Backend::Sqlite => 8,
                // Cold paths only: claims and point reads have their own pool.
                Backend::Postgres => 6,
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL with synchronous=NORMAL survives a killed process (not a power cut).
                        conn.execute(
                            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                             PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .with_context(|| format!("cannot open the database at {url}"))?;
        let (writer, readers) = match (backend, sqlite_path(&url)) {
            (Backend::Sqlite, Some(path)) => {
                let open = || -> anyhow::Result<_> {
                    Ok(Arc::new(Mutex::new(crate::sql::open_lite(path)?)))
                };
                // Reads run in the calling thread, so more readers than runtime threads
                // would only wait; a spare keeps a slow read from stalling the others.
                let readers = (0..READERS)
                    .map(|_| open())
                    .collect::<anyhow::Result<_>>()?;
                let writer =
                    Writer::new(crate::sql::open_lite(path)?, crate::sql::open_lite(path)?);
                (Some(writer), readers)
            }
            (Backend::Sqlite, None) => anyhow::bail!("SQLite needs a file: sqlite://FILE"),
            (Backend::Postgres, _) => (None, Vec::new().into()),
        };
        let pg = match backend {
            Backend::Postgres => Some(crate::pg::Pool::new(&url, pg_connections.max(1))?),
            Backend::Sqlite => None,
        };
        let db = Db {
            pool,
            backend,
            pg,
            writer,
            readers,
            next_reader: Arc::new(AtomicUsize::new(0)),
        };
        db.migrate(sqlite_path(&url)).await?;
        Ok(db)
    }

    /// The engine behind this handle.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction.
    pub async fn write(&self) -> sqlx::Result<WriteTx> {
        let turn = match &self.writer {
            Some(w) => {
                let mut turn = w.turn(Order::InTurn).await;
                // The pool's connection could not write while claims hold a transaction open.
                turn.finish_group();
                Some(turn)
            }
            None => None,
        };
        Ok(WriteTx {
            tx: self.pool.begin().await?,
            _turn: turn,
            backend: self.backend,
        })
    }

    /// Starts a claim transaction (labels, reviews): see [`crate::sql`].
    pub async fn claim(&self) -> sqlx::Result<crate::sql::Tx> {
        self.claim_in(Order::InTurn).await
    }

    /// Starts a bulk write (an upload chunk, a task's items): a claim in which PostgreSQL
    /// plans each statement for the values it is given and the table as it is now.
    pub async fn bulk(&self) -> sqlx::Result<crate::sql::Tx> {
        let mut tx = self.claim().await?;
        if self.backend == Backend::Postgres {
            // A prepared statement's generic plan is made once, from the statistics of that
            // moment: planned while a dataset was still empty, the lookup of a chunk's external
            // ids (as `IN (…)`) filtered every row of the dataset on every chunk after (EXPLAIN
            // ANALYZE: 2.5 s a chunk at 200,000 items). A bulk write's statements run a few
            // times each, so planning them afresh costs little.
            crate::sql::query("SET LOCAL plan_cache_mode = force_custom_plan")
                .execute(&mut tx)
                .await?;
        }
        Ok(tx)
    }

    /// Starts a lease's claim, which goes before waiting labels on SQLite: a worker waits for
    /// the batch, while labels sync in the background.
    pub async fn claim_first(&self) -> sqlx::Result<crate::sql::Tx> {
        self.claim_in(Order::First).await
    }

    async fn claim_in(&self, order: Order) -> sqlx::Result<crate::sql::Tx> {
        match (&self.writer, &self.pg) {
            (Some(w), _) => crate::sql::Tx::lite(w, order).await,
            (None, Some(pg)) => Ok(crate::sql::Tx::pg(pg.get().await?)),
            (None, None) => unreachable!("a database is SQLite or PostgreSQL"),
        }
    }

    /// Reads through the pool: lists and scans, which would hold up a [`Db::reader`]'s thread.
    pub fn scan(&self) -> crate::sql::Reader {
        crate::sql::Reader::pool(self.pool.clone())
    }

    /// A connection for point reads on the hot path: see [`crate::sql::Reader`].
    pub async fn reader(&self) -> crate::sql::Reader {
        if let Some(pg) = &self.pg {
            return crate::sql::Reader::pg(pg.clone());
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.readers.len() {
            let conn = &self.readers[(start + i) % self.readers.len()];
            if let Ok(guard) = conn.clone().try_lock_owned() {
                return crate::sql::Reader::lite(guard);
            }
        }
        let conn = &self.readers[start % self.readers.len()];
        crate::sql::Reader::lite(conn.clone().lock_owned().await)
    }

    /// `FOR UPDATE` where the backend has row locks (SQLite's single writer already excludes).
    /// It also holds back inserts that refer to the row (a foreign key check takes `KEY
    /// SHARE`): a manager's change that reads an item's state under the task's lock relies on
    /// that to keep labels out until it commits.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// A row lock that waits for other writers of the row but not for inserts that refer to it
    /// (`FOR NO KEY UPDATE`; nothing on SQLite). For a change of the row alone that then waits
    /// for rows whose holders insert into it: with [`Db::for_update`] they would deadlock.
    pub fn for_no_key_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR NO KEY UPDATE",
        }
    }

    async fn migrate(&self, sqlite_path: Option<&str>) -> anyhow::Result<()> {
        let mut w = self.write().await?;
        if self.backend == Backend::Postgres {
            // Several replicas may start at once: one migrates, the others wait for it.
            sqlx::query("SELECT pg_advisory_xact_lock(4242)")
                .execute(&mut *w.tx)
                .await?;
        }
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *w.tx)
        .await?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&mut *w.tx)
            .await?;
        let migrations = match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        };
        for (version, sql) in migrations {
            if applied.contains(version) {
                continue;
            }
            sqlx::raw_sql(sql)
                .execute(&mut *w.tx)
                .await
                .with_context(|| format!("migration {version} failed"))?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(*version)
                .bind(crate::clock::now().0)
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit().await?;
        if let (Backend::Sqlite, Some(path)) = (self.backend, sqlite_path) {
            if !applied.contains(&IDS_NEVER_REUSED) {
                // No other write may run meanwhile: take the writer's turn, as writes do.
                let _turn = match &self.writer {
                    Some(w) => {
                        let mut turn = w.turn(Order::InTurn).await;
                        turn.finish_group();
                        Some(turn)
                    }
                    None => None,
                };
                let mut conn = crate::sql::open_lite(path)?;
                ids_never_reused(&mut conn)
                    .with_context(|| format!("migration {IDS_NEVER_REUSED} failed"))?;
            }
        }
        Ok(())
    }
}

/// SQLite migration 8: ids are never reused. A plain `INTEGER PRIMARY KEY` takes the largest id
/// plus one, so deleting the newest task gave its id (and its leases' ids, which fence
/// submissions) to the next one, and jobs or links naming the deleted task then named the new
/// one. `AUTOINCREMENT` remembers the largest id ever used (in `sqlite_sequence`); PostgreSQL's
/// sequences never go back, so it needs no migration 8. SQLite cannot add `AUTOINCREMENT` to a
/// table, so each table with an `id` key is rebuilt from its own stored definition: copied,
/// dropped, renamed back and its indexes and triggers (migration 17's checks) made again. This runs in Rust, on its own connection,
/// because dropping a table with foreign keys on would cascade into the tables that point at it,
/// and foreign keys can only be switched off outside a transaction. It is recorded in
/// `schema_migrations` like the files, and runs after them.
const IDS_NEVER_REUSED: i64 = 8;

fn ids_never_reused(conn: &mut rusqlite::Connection) -> anyhow::Result<()> {
    conn.execute_batch("PRAGMA foreign_keys=OFF")?;
    let tx = conn.transaction()?;
    let tables: Vec<(String, String)> = tx
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' \
             AND sql LIKE '%id INTEGER PRIMARY KEY,%' ORDER BY name",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (name, sql) in tables {
        let indexes: Vec<String> = tx
            .prepare("SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ?1 AND sql IS NOT NULL")?
            .query_map([&name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let rebuilt = format!("{name}__rebuilt");
        let create = sql
            .replacen(
                &format!("CREATE TABLE {name}"),
                &format!("CREATE TABLE {rebuilt}"),
                1,
            )
            .replacen(
                "id INTEGER PRIMARY KEY,",
                "id INTEGER PRIMARY KEY AUTOINCREMENT,",
                1,
            );
        anyhow::ensure!(
            create.contains(&rebuilt),
            "cannot rebuild table {name}: {sql}"
        );
        tx.execute_batch(&format!(
            "{create}; INSERT INTO {rebuilt} SELECT * FROM {name}; DROP TABLE {name}; \
             ALTER TABLE {rebuilt} RENAME TO {name};"
        ))?;
        for index in indexes {
            tx.execute_batch(&index)?;
        }
    }
    let broken = tx
        .prepare("PRAGMA foreign_key_check")?
        .query_map([], |_| Ok(()))?
        .count();
    anyhow::ensure!(
        broken == 0,
        "{broken} rows lost their foreign keys; nothing was changed"
    );
    tx.execute(
        "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
        (IDS_NEVER_REUSED, crate::clock::now().0),
    )?;
    tx.commit()?;
    Ok(())
}

/// The file of a `sqlite:` URL (`None` for other URLs and in-memory databases).
pub fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.strip_prefix("sqlite:")?.trim_start_matches("//");
    let path = path.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(':')).then_some(path)
}

/// Reads a JSON text column.
pub fn json_col(row: &impl crate::sql::Columns, col: &str) -> serde_json::Value {
    row.column::<String>(col)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::{ids_never_reused, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
    use crate::store::seat_state::SeatState;

    /// Migration 8 on a database with rows: they survive with their ids, the indexes and the
    /// foreign keys (cascades included) still hold, and a deleted newest id is not handed out again.
    #[test]
    fn ids_never_reused_keeps_rows_keys_and_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = crate::sql::open_lite(path.to_str().unwrap()).unwrap();
        conn.execute_batch("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .unwrap();
        for (_, sql) in SQLITE_MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users (id, name, is_admin, created_at) VALUES (1, 'a', 1, 0); \
             INSERT INTO projects (id, name, created_by, created_at) VALUES (1, 'p', 1, 0); \
             INSERT INTO datasets (id, project_id, name, created_at) VALUES (1, 1, 'd', 0); \
             INSERT INTO items (id, project_id, dataset_id, external_id, data, metadata, directory, created_at, updated_at) \
             VALUES (1, 1, 1, 'x', '1', '{}', '/', 0, 0), (2, 1, 1, 'y', '2', '{}', '/', 0, 0);",
        )
        .unwrap();
        let count = |conn: &rusqlite::Connection, sql: &str| -> i64 {
            conn.query_row(sql, [], |r| r.get(0)).unwrap()
        };
        let indexes = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL";
        let before = count(&conn, indexes);
        drop(conn);

        let mut conn = crate::sql::open_lite(path.to_str().unwrap()).unwrap();
        ids_never_reused(&mut conn).unwrap();
        drop(conn);
        let conn = crate::sql::open_lite(path.to_str().unwrap()).unwrap();
        assert_eq!(count(&conn, indexes), before);
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM items WHERE id IN (1, 2)"),
            2
        );
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM schema_migrations WHERE version = 8"
            ),
            1
        );
        let plain = count(
            &conn,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND sql LIKE '%id INTEGER PRIMARY KEY,%'",
        );
        assert_eq!(plain, 0, "every id table has AUTOINCREMENT");
        // The newest item goes; the next one gets a new id.
        conn.execute_batch(
            "DELETE FROM items WHERE id = 2; \
             INSERT INTO items (project_id, dataset_id, data, metadata, directory, created_at, updated_at) \
             VALUES (1, 1, '3', '{}', '/', 0, 0);",
        )
        .unwrap();
        assert_eq!(count(&conn, "SELECT MAX(id) FROM items"), 3);
        // The unique index and the foreign keys still hold; cascades still run.
        assert!(conn
            .execute_batch("INSERT INTO items (project_id, dataset_id, external_id, data, metadata, directory, created_at, updated_at) VALUES (1, 1, 'x', '', '{}', '/', 0, 0)")
            .is_err());
        assert!(conn
            .execute_batch(
                "INSERT INTO datasets (project_id, name, created_at) VALUES (99, 'd', 0)"
            )
            .is_err());
        conn.execute_batch("DELETE FROM projects WHERE id = 1")
            .unwrap();
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM items"), 0);
    }

    /// Migration 17 on a database with rows: roles are rewritten in their one stored order
    /// (unknown names dropped), rows and indexes survive the rebuilt tables, a bad state is
    /// refused, and migration 8's later rebuild keeps the triggers that stand in for CHECKs.
    #[test]
    fn enumerated_columns_keep_rows_and_refuse_other_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = crate::sql::open_lite(path.to_str().unwrap()).unwrap();
        conn.execute_batch("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .unwrap();
        for (_, sql) in SQLITE_MIGRATIONS.iter().filter(|(v, _)| *v < 17) {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(&format!(
            "INSERT INTO users (id, name, is_admin, created_at) VALUES (1, 'a', 1, 0), (2, 'b', 0, 0); \
             INSERT INTO projects (id, name, created_by, created_at) VALUES (1, 'p', 1, 0); \
             INSERT INTO members (project_id, user_id, roles) VALUES (1, 1, 'reviewer,manager'), (1, 2, 'annotator,boss'); \
             INSERT INTO tasks (id, project_id, name, kind, status, spec, overlap, created_at, updated_at) \
             VALUES (1, 1, 't', 'labeling', 'open', '{{}}', 1, 0, 0); \
             INSERT INTO seats (task_id, item_id, worker_id, state) VALUES (1, 7, 2, {leased});",
            leased = SeatState::Leased.sql()
        ))
        .unwrap();
        let indexes = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL";
        let count = |conn: &rusqlite::Connection, sql: &str| -> i64 {
            conn.query_row(sql, [], |r| r.get(0)).unwrap()
        };
        let before = count(&conn, indexes);
        let (_, seventeen) = SQLITE_MIGRATIONS.iter().find(|(v, _)| *v == 17).unwrap();
        conn.execute_batch(seventeen).unwrap();
        assert_eq!(count(&conn, indexes), before);
        let roles: Vec<String> = conn
            .prepare("SELECT roles FROM members ORDER BY user_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(roles, ["manager,reviewer", "annotator"]);
        assert_eq!(
            count(
                &conn,
                &format!(
                    "SELECT COUNT(*) FROM seats WHERE state = {}",
                    SeatState::Leased.sql()
                )
            ),
            1
        );
        ids_never_reused(&mut conn).unwrap();
        drop(conn);
        let conn = crate::sql::open_lite(path.to_str().unwrap()).unwrap();
        for bad in [
            "UPDATE seats SET state = 'held'",
            "UPDATE tasks SET status = 'paused'",
            "UPDATE members SET roles = 'annotator,manager'",
            "INSERT INTO jobs (kind, status, params, created_at, updated_at) VALUES ('x', 'queued', '{}', 0, 0)",
        ] {
            let err = conn.execute_batch(bad).unwrap_err();
            assert!(err.to_string().contains("CHECK constraint failed"), "{bad}: {err}");
        }
        // Foreign keys still cascade into the rebuilt tables.
        conn.execute_batch("DELETE FROM tasks WHERE id = 1")
            .unwrap();
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM seats"), 0);
    }

    /// Migration 24 on a database with tasks: each task's kept counts start as a count of its
    /// items; then its triggers follow a state change, a deleted item and a deleted task.
    #[test]
    fn task_counts_start_from_the_items_and_follow_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = crate::sql::open_lite(path.to_str().unwrap()).unwrap();
        conn.execute_batch("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .unwrap();
        for (_, sql) in SQLITE_MIGRATIONS.iter().filter(|(v, _)| *v < 24) {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO users (id, name, is_admin, created_at) VALUES (1, 'a', 1, 0); \
             INSERT INTO projects (id, name, created_by, created_at) VALUES (1, 'p', 1, 0); \
             INSERT INTO datasets (id, project_id, name, created_at) VALUES (1, 1, 'd', 0); \
             INSERT INTO items (id, project_id, dataset_id, data, metadata, directory, created_at, updated_at) \
             VALUES (1, 1, 1, '1', '{}', '/', 0, 0), (2, 1, 1, '2', '{}', '/', 0, 0), (3, 1, 1, '3', '{}', '/', 0, 0); \
             INSERT INTO tasks (id, project_id, name, kind, status, spec, overlap, created_at, updated_at) \
             VALUES (1, 1, 't', 'labeling', 'open', '{}', 1, 0, 0), (2, 1, 'u', 'labeling', 'open', '{}', 1, 0, 0); \
             INSERT INTO task_items (task_id, item_id, priority, order_key, labeled, state) VALUES \
             (1, 1, 0, 0, 2, 'approved'), (1, 2, 0, 1, 1, 'needs_review'), (1, 3, 0, 2, 0, 'pending'), \
             (2, 1, 0, 0, 1, 'auto_approved');",
        )
        .unwrap();
        let (_, migration) = SQLITE_MIGRATIONS.iter().find(|(v, _)| *v == 24).unwrap();
        conn.execute_batch(migration).unwrap();
        let counts = |task: i64| -> [i64; 4] {
            conn.query_row(
                "SELECT COALESCE(SUM(items), 0), COALESCE(SUM(labeled), 0), \
                 COALESCE(SUM(approved), 0), COALESCE(SUM(needs_review), 0) \
                 FROM task_counts WHERE task_id = ?1",
                [task],
                |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
            )
            .unwrap()
        };
        assert_eq!(counts(1), [3, 2, 1, 1]);
        assert_eq!(counts(2), [1, 1, 1, 0]);
        // Approved after review; a second label on an approved item moves nothing.
        conn.execute_batch(
            "UPDATE task_items SET state = 'approved' WHERE task_id = 1 AND item_id = 2; \
             UPDATE task_items SET labeled = 3 WHERE task_id = 1 AND item_id = 1;",
        )
        .unwrap();
        assert_eq!(counts(1), [3, 2, 2, 0]);
        conn.execute_batch("DELETE FROM items WHERE id = 1")
            .unwrap();
        assert_eq!(counts(1), [2, 1, 1, 0]);
        assert_eq!(counts(2), [0, 0, 0, 0]);
        conn.execute_batch(
            "DELETE FROM task_items WHERE task_id = 1; DELETE FROM tasks WHERE id = 1",
        )
        .unwrap();
        assert_eq!(
            conn.query_row(
                "SELECT COUNT(*) FROM task_counts WHERE task_id = 1",
                [],
                |r| r.get::<_, i64>(0)
            )
            .unwrap(),
            0
        );
    }

    /// A migration file that is not listed would silently never run.
    #[test]
    fn every_migration_file_is_listed_for_both_backends() {
        for (dir, listed) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let path = format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            assert_eq!(files.len(), listed.len(), "{dir}: {files:?}");
            // Numbers only grow; a gap is a number reserved by a branch not merged yet.
            let mut last = 0;
            for ((version, _), file) in listed.iter().zip(&files) {
                assert!(*version > last, "{dir}: {version} after {last}");
                last = *version;
                assert!(file.starts_with(&format!("{version:04}_")), "{dir}: {file}");
            }
        }
    }
}
