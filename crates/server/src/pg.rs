//! PostgreSQL on the hot path: claims (leases, labels, reviews, bulk writes) and point reads
//! run on tokio-postgres connections of this pool, not on sqlx.
//!
//! Why not sqlx here: on two cores, a label's round trips between `quorum serve` and the
//! database (not the database's work) bound labels per second, and sqlx 0.8 added three of its
//! own per label, a ping on every connection it took back into its pool. Here a connection goes
//! back as it is (a broken one is dropped when it is next taken), statements stay prepared per
//! connection, and a claim's `BEGIN` travels with its first statement (tokio-postgres sends
//! requests in order on one connection without waiting for each answer).
//!
//! Parameters are declared with the types sqlx's `Any` driver gives them (`BIGINT`, `DOUBLE
//! PRECISION`, `TEXT`), so a statement means the same on either path, and failures come back
//! as sqlx errors with their SQLSTATE, classified like any other (see `store::error`).

use crate::engine_error::postgres as to_sqlx;
use crate::sql::{Arg, Query};
use deadpool_postgres::{Manager, ManagerConfig, Object, RecyclingMethod};
use tokio_postgres::types::{ToSql, Type};

/// Prepared statements a connection keeps before it forgets them all: statements whose text
/// grows with a list (`IN ($1, …, $n)`) would otherwise pile up on both sides.
const STATEMENTS_KEPT: usize = 256;

/// The hot path's connections to one PostgreSQL database.
#[derive(Clone)]
pub struct Pool(deadpool_postgres::Pool);

impl Pool {
    /// A pool of at most `size` connections to `url` (made as they are first needed).
    pub fn new(url: &str, size: usize) -> anyhow::Result<Pool> {
        let config: tokio_postgres::Config = url.parse()?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                // No query on the way back into the pool: that is the ping this replaces.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(size)
            // The connection back last goes out first: a quiet server keeps using the few it
            // has, whose statements are prepared, rather than cycling through every one the
            // last burst opened (each preparing them all again, a round trip apiece).
            .queue_mode(deadpool_postgres::QueueMode::Lifo)
            .build()?;
        Ok(Pool(pool))
    }

    /// Runs a statement on a connection of the pool; its rows.
    pub async fn rows(&self, query: &Query) -> sqlx::Result<Vec<tokio_postgres::Row>> {
        self.get().await?.rows(query).await
    }

    /// Runs a statement on a connection of the pool; how many rows it changed.
    pub async fn execute(&self, query: &Query) -> sqlx::Result<u64> {
        self.get().await?.execute(query).await
    }

    /// A connection; none free means waiting for one.
    pub async fn get(&self) -> sqlx::Result<Conn> {
        let client = self.0.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => to_sqlx(e),
            other => sqlx::Error::Io(std::io::Error::other(other.to_string())),
        })?;
        Ok(Conn {
            client: Some(client),
            state: TxState::None,
            deferred: None,
        })
    }
}

/// Where a connection stands towards a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    /// Each statement on its own (a reader).
    None,
    /// `BEGIN` is due, and goes with the next statement; with a lock wait, the transaction
    /// waits at most that many milliseconds for a row lock (`lock_timeout`); with
    /// `lookups`, its statements run on generic plans made of index probes (see
    /// [`Conn::plan_for_lookups`]).
    Due {
        lock_wait_ms: Option<u32>,
        lookups: bool,
    },
    /// Inside the transaction.
    Open,
}

/// One connection, used by one request at a time. With a transaction open, dropping it rolls
/// the transaction back before the connection is used again.
pub struct Conn {
    client: Option<Object>,
    state: TxState,
    /// A write whose answer nobody waits for, sent with the next statement or the commit.
    deferred: Option<Box<Query>>,
}

impl Conn {
    /// Starts a transaction, sent with the next statement.
    pub fn begin(&mut self) {
        self.state = TxState::Due {
            lock_wait_ms: None,
            lookups: false,
        };
    }

    /// Makes the transaction about to begin wait at most `ms` milliseconds for any row lock
    /// (then its statement fails): set with its `BEGIN`, in the same message.
    pub fn wait_for_locks_at_most(&mut self, ms: u32) {
        if let TxState::Due { lock_wait_ms, .. } = &mut self.state {
            *lock_wait_ms = Some(ms);
        }
    }

    /// Makes the transaction about to begin run its statements on generic plans made of index
    /// probes, set with its `BEGIN`. A statement over arrays of rows (a label group's) is
    /// otherwise planned again on every run (0.2–0.5 ms, more than it runs), since only a plan
    /// made for the arrays at hand knows their length; and a generic plan made while a table
    /// was small (a new database: no statistics yet) reads it whole once it is large.
    pub fn plan_for_lookups(&mut self) {
        if let TxState::Due { lookups, .. } = &mut self.state {
            *lookups = true;
        }
    }

    /// Runs a write inside the open transaction without waiting for its answer: it travels
    /// with the next statement, or with the commit, in the same round trip. Its failure is
    /// that statement's (or the commit's) failure. A second deferred write first sends the
    /// one before.
    pub async fn defer(&mut self, query: Query) -> sqlx::Result<()> {
        if let Some(before) = self.deferred.take() {
            self.execute(&before).await?;
        }
        self.deferred = Some(Box::new(query));
        Ok(())
    }

    /// The client.
    fn client(&self) -> &Object {
        self.client
            .as_ref()
            .expect("a connection is used until dropped")
    }

    /// The client, the transaction's state and the deferred write, taken to be sent (borrowed
    /// apart, for [`sent`]). Statements are prepared before, so that a failed prepare leaves the
    /// deferred write in place.
    fn parts(&mut self) -> (&Object, &mut TxState, Option<Box<Query>>) {
        let Conn {
            client,
            state,
            deferred,
        } = self;
        let client = client.as_ref().expect("a connection is used until dropped");
        (client, state, deferred.take())
    }

    /// Runs a statement; its rows.
    pub async fn rows(&mut self, query: &Query) -> sqlx::Result<Vec<tokio_postgres::Row>> {
        let statement = prepare(self.client(), query).await?;
        let (client, state, deferred) = self.parts();
        let params = params(query);
        sent(client, state, deferred, client.query(&statement, &params)).await
    }

    /// Runs a statement; how many rows it changed.
    pub async fn execute(&mut self, query: &Query) -> sqlx::Result<u64> {
        let statement = prepare(self.client(), query).await?;
        let (client, state, deferred) = self.parts();
        let params = params(query);
        sent(client, state, deferred, client.execute(&statement, &params)).await
    }

    /// Runs a statement and commits behind it, in the same round trip; its rows. A statement
    /// PostgreSQL refuses aborts the transaction, and PostgreSQL answers the `COMMIT` by rolling
    /// back; one that fails before it is sent (its parameters) is never followed by the
    /// `COMMIT`, and the connection, still in the transaction, is closed.
    pub async fn rows_then_commit(
        mut self,
        query: &Query,
    ) -> sqlx::Result<Vec<tokio_postgres::Row>> {
        let statement = prepare(self.client(), query).await?;
        let (client, state, deferred) = self.parts();
        let params = params(query);
        let both = async {
            use std::future::Future;
            use std::task::Poll;
            let mut rows = std::pin::pin!(client.query(&statement, &params));
            // The first poll sends the statement, or fails without sending anything: only a
            // statement on its way may have the `COMMIT` follow it.
            let first = std::future::poll_fn(|cx| Poll::Ready(rows.as_mut().poll(cx))).await;
            if let Poll::Ready(done) = first {
                let rows = done?;
                client.batch_execute("COMMIT").await?;
                return Ok(rows);
            }
            let (rows, committed) =
                futures_util::future::join(rows, client.batch_execute("COMMIT")).await;
            let rows = rows?;
            committed?;
            Ok(rows)
        };
        let answer = sent(client, state, deferred, both).await;
        self.state = TxState::None;
        if answer.is_err() {
            // Whatever failed, the connection may still be in a transaction: not back to the
            // pool.
            self.discard();
        }
        answer
    }

    /// Commits the open transaction (nothing ran: nothing to commit).
    pub async fn commit(self) -> sqlx::Result<()> {
        self.end("COMMIT").await
    }

    /// Rolls the open transaction back.
    pub async fn rollback(self) -> sqlx::Result<()> {
        self.end("ROLLBACK").await
    }

    async fn end(mut self, how: &str) -> sqlx::Result<()> {
        let (client, state, deferred) = self.parts();
        // A rollback has no use for a deferred write; a commit sends it first (with a `BEGIN`
        // still due, if the write was all the claim did), and after a failed one PostgreSQL
        // answers the `COMMIT` by rolling back.
        let deferred = deferred.filter(|_| how == "COMMIT");
        let due = matches!(*state, TxState::Due { .. });
        if *state == TxState::None || (due && deferred.is_none()) {
            *state = TxState::None;
            return Ok(());
        }
        // The state says "open" until the end has been sent: a request dropped on the way
        // (a statement to prepare first is a round trip) leaves the rollback to `Drop`.
        let ended = sent(client, state, deferred, client.batch_execute(how)).await;
        *state = TxState::None;
        if ended.is_err() {
            // The transaction may still be open on a connection that failed mid-way: it must
            // not go back to the pool.
            self.discard();
        }
        ended
    }

    /// Takes the connection out of the pool for good (it closes when dropped).
    fn discard(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.state != TxState::Open {
            return;
        }
        let Some(client) = self.client.take() else {
            return;
        };
        // The connection goes back to the pool only once the rollback is done; one whose
        // rollback failed is closed instead.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}

/// The statement, prepared on this connection once (see [`STATEMENTS_KEPT`]).
async fn prepare(client: &Object, query: &Query) -> sqlx::Result<tokio_postgres::Statement> {
    if client.statement_cache.size() >= STATEMENTS_KEPT {
        client.statement_cache.clear();
    }
    let types: Vec<Type> = query.args().iter().map(pg_type).collect();
    client
        .prepare_typed_cached(query.sql(), &types)
        .await
        .map_err(to_sqlx)
}

fn params(query: &Query) -> Vec<&(dyn ToSql + Sync)> {
    query
        .args()
        .iter()
        .map(|a| a as &(dyn ToSql + Sync))
        .collect()
}

/// Awaits a statement's answer, with a due `BEGIN` and a deferred write sent just before it:
/// `join3` polls them in that order, and each sends its request when first polled, so all go
/// in one round trip and in that order. The first failure is the answer.
async fn sent<T>(
    client: &Object,
    state: &mut TxState,
    deferred: Option<Box<Query>>,
    statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> sqlx::Result<T> {
    use futures_util::future::{join3, OptionFuture};
    // Only a due `BEGIN` is text to make: every other statement passes here too.
    let begin_text: Option<std::borrow::Cow<str>> = match *state {
        TxState::Due {
            lock_wait_ms: None,
            lookups: false,
        } => Some("BEGIN".into()),
        TxState::Due {
            lock_wait_ms,
            lookups,
        } => {
            let mut text = String::from("BEGIN");
            if let Some(ms) = lock_wait_ms {
                text.push_str(&format!("; SET LOCAL lock_timeout = {ms}"));
            }
            if lookups {
                text.push_str(
                    "; SET LOCAL plan_cache_mode = force_generic_plan; \
                     SET LOCAL enable_seqscan = off",
                );
            }
            Some(text.into())
        }
        TxState::None | TxState::Open => None,
    };
    let begin = begin_text.as_deref().map(|text| client.batch_execute(text));
    if begin.is_some() {
        *state = TxState::Open;
    }
    let write = match &deferred {
        Some(query) => Some((prepare(client, query).await?, params(query))),
        None => None,
    };
    let write = write
        .as_ref()
        .map(|(statement, params)| client.execute(statement, params));
    let (begun, written, answer) = join3(
        OptionFuture::from(begin),
        OptionFuture::from(write),
        statement,
    )
    .await;
    begun.transpose().map_err(to_sqlx)?;
    written.transpose().map_err(to_sqlx)?;
    answer.map_err(to_sqlx)
}

/// The type a parameter is declared with: sqlx's `Any` driver's choice for the same value.
fn pg_type(arg: &Arg) -> Type {
    match arg {
        Arg::Int(_) | Arg::NullInt => Type::INT8,
        Arg::Float(_) => Type::FLOAT8,
        Arg::Text(_) | Arg::NullText => Type::TEXT,
    }
}

impl ToSql for Arg {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Arg::Int(v) => v.to_sql(ty, out),
            Arg::Float(v) => v.to_sql(ty, out),
            Arg::Text(v) => v.to_sql(ty, out),
            Arg::NullInt | Arg::NullText => Ok(tokio_postgres::types::IsNull::Yes),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::INT8 | Type::FLOAT8 | Type::TEXT)
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A value of a result column, read the way sqlx's `Any` driver widens it: any integer as
/// `i64`, any float (or integer) as `f64`, any text as `String`.
pub fn cell(row: &tokio_postgres::Row, index: usize) -> sqlx::Result<crate::sql::Cell> {
    use crate::sql::Cell;
    let decode = |e: tokio_postgres::Error| sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: Box::new(e),
    };
    let column = row
        .columns()
        .get(index)
        .ok_or(sqlx::Error::ColumnIndexOutOfBounds {
            index,
            len: row.len(),
        })?;
    let ty = column.type_().clone();
    let cell = match ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(index)
            .map_err(decode)?
            .map(Cell::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(index)
            .map_err(decode)?
            .map(|v| Cell::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(index)
            .map_err(decode)?
            .map(|v| Cell::Int(v.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(index)
            .map_err(decode)?
            .map(Cell::Float),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(index)
            .map_err(decode)?
            .map(|v| Cell::Float(v.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => row
            .try_get::<_, Option<String>>(index)
            .map_err(decode)?
            .map(Cell::Text),
        other => {
            return Err(sqlx::Error::ColumnDecode {
                index: column.name().to_owned(),
                source: format!("column type {other} is not read by this server").into(),
            })
        }
    };
    Ok(cell.unwrap_or(Cell::Null))
}
