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
    (
        10,
        include_str!("../migrations/sqlite/0010_workflow_steps.sql"),
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
];

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
    /// SQLite connections for [`Db::reader`], taken in turn.
    readers: Arc<[Arc<Mutex<rusqlite::Connection>>]>,
    next_reader: Arc<AtomicUsize>,
}

/// A write transaction; on SQLite it also holds the writer's turn until commit or drop.
pub struct WriteTx {
    /// The transaction to run statements on.
    pub tx: Transaction<'static, Any>,
    _turn: Option<Turn>,
}

impl WriteTx {
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
                Backend::Postgres => 16,
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
        let db = Db {
            pool,
            backend,
            writer,
            readers,
            next_reader: Arc::new(AtomicUsize::new(0)),
        };
        db.migrate().await?;
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
        })
    }

    /// Starts a claim transaction (labels, reviews): see [`crate::sql`].
    pub async fn claim(&self) -> sqlx::Result<crate::sql::Tx> {
        self.claim_in(Order::InTurn).await
    }

    /// Starts a lease's claim, which goes before waiting labels on SQLite: a worker waits for
    /// the batch, while labels sync in the background.
    pub async fn claim_first(&self) -> sqlx::Result<crate::sql::Tx> {
        self.claim_in(Order::First).await
    }

    async fn claim_in(&self, order: Order) -> sqlx::Result<crate::sql::Tx> {
        match &self.writer {
            Some(w) => crate::sql::Tx::lite(w, order).await,
            None => Ok(crate::sql::Tx::any(self.pool.begin().await?)),
        }
    }

    /// A connection for point reads on the hot path: see [`crate::sql::Reader`].
    pub async fn reader(&self) -> crate::sql::Reader {
        if self.readers.is_empty() {
            return crate::sql::Reader::pool(self.pool.clone());
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
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    async fn migrate(&self) -> anyhow::Result<()> {
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
        Ok(())
    }
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
    use super::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

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
