//! Claim transactions: the statements of leasing, labeling and reviewing (and the point reads
//! every such request makes), written once and run on either engine. On PostgreSQL they go
//! through sqlx. On SQLite they run directly on the server's own connections (rusqlite: the one
//! writing connection, or a [`Reader`]), in the calling thread: sqlx hands every SQLite
//! statement to a worker thread and back, and those hand-offs, not SQLite, were what bounded
//! labels per second (`quorum bench load`, see ARCHITECTURE.md).
//!
//! The surface mirrors sqlx's (`query(sql).bind(v).fetch_all(&mut tx)`, `row.try_get("col")`),
//! with the same `$n` parameters, so a statement reads the same in both places.

use crate::lite_writer::{run, Order, Turn, Writer};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row as _, Transaction};
use std::marker::PhantomData;
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;

/// A bound value. Nulls keep their type: sqlx's `Any` driver declares a parameter's type from
/// the value bound, and PostgreSQL holds a prepared statement to it.
#[derive(Debug, Clone)]
pub enum Arg {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A text.
    Text(String),
    /// NULL in an integer column.
    NullInt,
    /// NULL in a text column.
    NullText,
}

/// Values a statement accepts as a parameter.
pub trait IntoArg {
    /// The parameter.
    fn into_arg(self) -> Arg;
}

impl IntoArg for i64 {
    fn into_arg(self) -> Arg {
        Arg::Int(self)
    }
}

impl IntoArg for &i64 {
    fn into_arg(self) -> Arg {
        Arg::Int(*self)
    }
}

impl IntoArg for f64 {
    fn into_arg(self) -> Arg {
        Arg::Float(self)
    }
}

impl IntoArg for String {
    fn into_arg(self) -> Arg {
        Arg::Text(self)
    }
}

impl IntoArg for &str {
    fn into_arg(self) -> Arg {
        Arg::Text(self.to_owned())
    }
}

impl IntoArg for &String {
    fn into_arg(self) -> Arg {
        Arg::Text(self.clone())
    }
}

impl IntoArg for Option<i64> {
    fn into_arg(self) -> Arg {
        self.map_or(Arg::NullInt, Arg::Int)
    }
}

impl IntoArg for Option<String> {
    fn into_arg(self) -> Arg {
        self.map_or(Arg::NullText, Arg::Text)
    }
}

impl IntoArg for Option<&str> {
    fn into_arg(self) -> Arg {
        self.map_or(Arg::NullText, |s| Arg::Text(s.to_owned()))
    }
}

/// A statement and its parameters.
pub struct Query {
    sql: String,
    args: Vec<Arg>,
}

/// A statement; bind its `$1`, `$2`, … in order.
pub fn query(sql: impl Into<String>) -> Query {
    Query {
        sql: sql.into(),
        args: Vec::new(),
    }
}

/// `$from, $from+1, …`, `count` of them: a list of values as parameters, so that a statement's
/// text depends only on the list's length and stays prepared (values in the text would make
/// every statement new and push the ones that run on every label out of the cache).
pub fn params(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Query {
    /// Binds the next parameter.
    pub fn bind(mut self, value: impl IntoArg) -> Self {
        self.args.push(value.into_arg());
        self
    }

    /// Binds the next parameters, in order (see [`params`]).
    pub fn bind_all<T: IntoArg>(mut self, values: impl IntoIterator<Item = T>) -> Self {
        self.args.extend(values.into_iter().map(IntoArg::into_arg));
        self
    }

    /// The statement's text.
    pub(crate) fn sql(&self) -> &str {
        &self.sql
    }

    /// The bound parameters, in order.
    pub(crate) fn args(&self) -> &[Arg] {
        &self.args
    }

    /// Runs a statement that returns no rows; the number of rows it changed.
    pub async fn execute(self, on: &mut impl Runner) -> sqlx::Result<u64> {
        match on.target() {
            Target::Tx(t) => Ok(self.any().execute(&mut **t).await?.rows_affected()),
            Target::Pool(p) => Ok(self.any().execute(p).await?.rows_affected()),
            Target::Pg(c) => c.execute(&self).await,
            Target::PgPool(p) => p.execute(&self).await,
            Target::Lite(c) => lite_execute(c, &self).map_err(lite_error),
        }
    }

    /// Runs a write whose answer the caller does not need. In a PostgreSQL claim it goes with
    /// the claim's next statement or its commit, one round trip less; elsewhere it runs now.
    /// Its failure comes back from that next statement.
    pub async fn execute_deferred(self, on: &mut impl Runner) -> sqlx::Result<()> {
        if let Target::Pg(c) = on.target() {
            return c.defer(self).await;
        }
        self.execute(on).await.map(drop)
    }

    /// Every row.
    pub async fn fetch_all(self, on: &mut impl Runner) -> sqlx::Result<Vec<Row>> {
        let rows = match on.target() {
            Target::Tx(t) => self.any().fetch_all(&mut **t).await?,
            Target::Pool(p) => self.any().fetch_all(p).await?,
            Target::Pg(c) => return Ok(c.rows(&self).await?.into_iter().map(Row::Pg).collect()),
            Target::PgPool(p) => {
                return Ok(p.rows(&self).await?.into_iter().map(Row::Pg).collect())
            }
            Target::Lite(c) => {
                return lite_rows(c, &self, usize::MAX).map_err(lite_error);
            }
        };
        Ok(rows.into_iter().map(Row::Any).collect())
    }

    /// The first row, if any (the rest are not read).
    pub async fn fetch_optional(self, on: &mut impl Runner) -> sqlx::Result<Option<Row>> {
        let row = match on.target() {
            Target::Tx(t) => self.any().fetch_optional(&mut **t).await?,
            Target::Pool(p) => self.any().fetch_optional(p).await?,
            Target::Pg(c) => return Ok(c.rows(&self).await?.into_iter().next().map(Row::Pg)),
            Target::PgPool(p) => return Ok(p.rows(&self).await?.into_iter().next().map(Row::Pg)),
            Target::Lite(c) => {
                let rows = lite_rows(c, &self, 1).map_err(lite_error)?;
                return Ok(rows.into_iter().next());
            }
        };
        Ok(row.map(Row::Any))
    }

    /// The first row; `RowNotFound` without one.
    pub async fn fetch_one(self, on: &mut impl Runner) -> sqlx::Result<Row> {
        self.fetch_optional(on)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    fn any(&self) -> sqlx::query::Query<'_, Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.sql);
        for arg in &self.args {
            q = match arg {
                Arg::Int(v) => q.bind(*v),
                Arg::Float(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
                Arg::NullInt => q.bind(None::<i64>),
                Arg::NullText => q.bind(None::<String>),
            };
        }
        q
    }
}

/// A statement whose rows are one value each.
pub struct QueryScalar<T> {
    query: Query,
    _value: PhantomData<T>,
}

/// A statement read as its first column.
pub fn query_scalar<T: Column>(sql: impl Into<String>) -> QueryScalar<T> {
    QueryScalar {
        query: query(sql),
        _value: PhantomData,
    }
}

impl<T: Column> QueryScalar<T> {
    /// Binds the next parameter.
    pub fn bind(mut self, value: impl IntoArg) -> Self {
        self.query = self.query.bind(value);
        self
    }

    /// Every row's value.
    pub async fn fetch_all(self, on: &mut impl Runner) -> sqlx::Result<Vec<T>> {
        self.query
            .fetch_all(on)
            .await?
            .iter()
            .map(|r| r.get_at(0))
            .collect()
    }

    /// The first row's value, if any.
    pub async fn fetch_optional(self, on: &mut impl Runner) -> sqlx::Result<Option<T>> {
        self.query
            .fetch_optional(on)
            .await?
            .map(|r| r.get_at(0))
            .transpose()
    }

    /// The first row's value; `RowNotFound` without one.
    pub async fn fetch_one(self, on: &mut impl Runner) -> sqlx::Result<T> {
        self.query.fetch_one(on).await?.get_at(0)
    }
}

/// A value as SQLite returned it.
#[derive(Debug, Clone)]
pub enum Cell {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A text (or a blob, read as text).
    Text(String),
}

/// A result row of either engine.
pub enum Row {
    /// From sqlx (PostgreSQL's cold paths).
    Any(AnyRow),
    /// From tokio-postgres (PostgreSQL's claims and point reads).
    Pg(tokio_postgres::Row),
    /// From the SQLite connection.
    Lite {
        /// Column names, shared by the statement's rows.
        columns: Arc<[String]>,
        /// The values, in column order.
        cells: Vec<Cell>,
    },
}

/// Types a column decodes to.
pub trait Column: Sized + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> {
    /// The value of a SQLite cell, `None` when the type does not fit.
    fn from_cell(cell: &Cell) -> Option<Self>;
}

impl Column for i64 {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Int(v) => Some(*v),
            _ => None,
        }
    }
}

impl Column for f64 {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Float(v) => Some(*v),
            Cell::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
}

impl Column for String {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl<T: Column> Column for Option<T>
where
    Option<T>: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Null => Some(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

impl Row {
    /// The value of column `name`.
    pub fn try_get<T: Column>(&self, name: &str) -> sqlx::Result<T> {
        match self {
            Row::Any(r) => r.try_get(name),
            Row::Pg(r) => match r.columns().iter().position(|c| c.name() == name) {
                Some(i) => self.get_at(i),
                None => Err(sqlx::Error::ColumnNotFound(name.to_owned())),
            },
            Row::Lite { columns, .. } => match columns.iter().position(|c| c == name) {
                Some(i) => self.get_at(i),
                None => Err(sqlx::Error::ColumnNotFound(name.to_owned())),
            },
        }
    }

    fn get_at<T: Column>(&self, index: usize) -> sqlx::Result<T> {
        match self {
            Row::Any(r) => r.try_get(index),
            Row::Pg(r) => decode_cell(&crate::pg::cell(r, index)?, index),
            Row::Lite { cells, .. } => {
                let cell = cells
                    .get(index)
                    .ok_or(sqlx::Error::ColumnIndexOutOfBounds {
                        index,
                        len: cells.len(),
                    })?;
                decode_cell(cell, index)
            }
        }
    }
}

fn decode_cell<T: Column>(cell: &Cell, index: usize) -> sqlx::Result<T> {
    T::from_cell(cell).ok_or_else(|| sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: format!("{cell:?} is not a {}", std::any::type_name::<T>()).into(),
    })
}

/// Reading columns by name from either kind of row, for records loaded in both places.
pub trait Columns {
    /// The value of column `name`.
    fn column<T: Column>(&self, name: &str) -> sqlx::Result<T>;
}

impl Columns for Row {
    fn column<T: Column>(&self, name: &str) -> sqlx::Result<T> {
        self.try_get(name)
    }
}

impl Columns for AnyRow {
    fn column<T: Column>(&self, name: &str) -> sqlx::Result<T> {
        self.try_get(name)
    }
}

/// Where a statement runs: a claim transaction or a [`Reader`].
pub trait Runner: Send {
    /// The connection to use.
    fn target(&mut self) -> Target<'_>;
}

/// A connection to run a statement on.
pub enum Target<'a> {
    /// A sqlx transaction.
    Tx(&'a mut Transaction<'static, Any>),
    /// Any connection of the sqlx pool.
    Pool(&'a AnyPool),
    /// A PostgreSQL connection of the hot path's pool, in a claim.
    Pg(&'a mut crate::pg::Conn),
    /// Any connection of the hot path's PostgreSQL pool.
    PgPool(&'a crate::pg::Pool),
    /// A SQLite connection of this process.
    Lite(&'a rusqlite::Connection),
}

/// The cold paths' sqlx transaction ([`crate::db::WriteTx`]), so the store's functions serve them
/// too.
impl Runner for Transaction<'static, Any> {
    fn target(&mut self) -> Target<'_> {
        Target::Tx(self)
    }
}

impl Runner for Tx {
    fn target(&mut self) -> Target<'_> {
        match &mut self.0 {
            Inner::Pg(c) => Target::Pg(c),
            Inner::Lite(l) => Target::Lite(l.conn()),
        }
    }
}

/// Point reads on the hot path (who is calling, their roles, the task): on SQLite a
/// connection of this process, used in the calling thread; on PostgreSQL the pool. Not for
/// long reads, which would hold up the thread.
pub struct Reader(ReaderInner);

enum ReaderInner {
    Pool(AnyPool),
    Pg(crate::pg::Pool),
    Lite(OwnedMutexGuard<rusqlite::Connection>),
}

impl Reader {
    /// Reads through the pool.
    pub fn pool(pool: AnyPool) -> Reader {
        Reader(ReaderInner::Pool(pool))
    }

    /// Reads through the hot path's PostgreSQL pool.
    pub fn pg(pool: crate::pg::Pool) -> Reader {
        Reader(ReaderInner::Pg(pool))
    }

    /// Reads on a SQLite connection.
    pub fn lite(conn: OwnedMutexGuard<rusqlite::Connection>) -> Reader {
        Reader(ReaderInner::Lite(conn))
    }
}

impl Runner for Reader {
    fn target(&mut self) -> Target<'_> {
        match &mut self.0 {
            ReaderInner::Pool(p) => Target::Pool(p),
            ReaderInner::Pg(p) => Target::PgPool(p),
            ReaderInner::Lite(c) => Target::Lite(c),
        }
    }
}

/// A claim transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx(Inner);

enum Inner {
    Pg(Box<crate::pg::Conn>),
    Lite(LiteTx),
}

/// A claim on SQLite: a savepoint in the writer's group transaction, holding the turn.
struct LiteTx {
    turn: Option<Turn>,
    writer: Writer,
    order: Order,
}

impl LiteTx {
    fn conn(&mut self) -> &rusqlite::Connection {
        self.turn
            .as_ref()
            .expect("an open claim holds the turn")
            .conn()
    }
}

/// Undoes a claim's savepoint and passes the turn on, committing the group when no claim
/// waits to carry it on (the other members' work must not wait for a request that may never
/// come).
fn undo(mut turn: Turn) {
    let undone =
        run(turn.conn(), "ROLLBACK TO claim").and_then(|()| run(turn.conn(), "RELEASE claim"));
    match undone {
        Err(e) => turn.abort_group(&format!("a claim could not be undone: {e}")),
        Ok(()) if turn.should_commit() => turn.finish_group(),
        Ok(()) => {}
    }
}

impl Drop for LiteTx {
    fn drop(&mut self) {
        if let Some(turn) = self.turn.take() {
            undo(turn);
        }
    }
}

impl Tx {
    /// A transaction on a PostgreSQL connection; `BEGIN` goes with its first statement.
    pub fn pg(mut conn: crate::pg::Conn) -> Tx {
        conn.begin();
        Tx(Inner::Pg(Box::new(conn)))
    }

    /// Begins a claim on the SQLite writer: waits for the turn and joins its group.
    pub async fn lite(writer: &Writer, order: Order) -> sqlx::Result<Tx> {
        let mut turn = writer.turn(order).await;
        turn.join_group().map_err(lite_error)?;
        if let Err(e) = run(turn.conn(), "SAVEPOINT claim") {
            turn.abort_group(&e.to_string());
            return Err(lite_error(e));
        }
        Ok(Tx(Inner::Lite(LiteTx {
            turn: Some(turn),
            writer: writer.clone(),
            order,
        })))
    }

    /// Commits; only after this returns may the caller acknowledge anything (invariant 3).
    /// On SQLite that is when the claim's group has committed.
    pub async fn commit(self) -> sqlx::Result<()> {
        match self.0 {
            Inner::Pg(c) => c.commit().await,
            Inner::Lite(mut l) => {
                let mut turn = l.turn.take().expect("a claim ends once");
                let group = turn.open_group().expect("a claim is in a group");
                if let Err(e) = run(turn.conn(), "RELEASE claim") {
                    undo(turn);
                    return Err(lite_error(e));
                }
                // A lease commits at once: its worker is waiting, labels are not.
                if l.order == Order::First || turn.should_commit() {
                    turn.finish_group();
                }
                drop(turn);
                group.wait(&l.writer).await.map_err(sqlx::Error::Protocol)
            }
        }
    }

    /// ` FOR UPDATE OF {tables}` on PostgreSQL, where claims on one task run side by side and
    /// lock the rows they change; nothing on SQLite, whose single writer already excludes.
    pub fn lock_rows(&self, tables: &str) -> String {
        match self.0 {
            Inner::Pg(_) => format!(" FOR UPDATE OF {tables}"),
            Inner::Lite(_) => String::new(),
        }
    }

    /// ` FOR KEY SHARE` on PostgreSQL: the row read stays as read (no update of it commits)
    /// while other readers and non-key updates go on; nothing on SQLite.
    pub fn key_share(&self) -> &'static str {
        match self.0 {
            Inner::Pg(_) => " FOR KEY SHARE",
            Inner::Lite(_) => "",
        }
    }

    /// Like [`Tx::lock_rows`], passing over rows another claim holds (`SKIP LOCKED`): two
    /// leases on one task take different items instead of waiting for each other.
    pub fn claim_rows(&self, tables: &str) -> String {
        match self.0 {
            Inner::Pg(_) => format!(" FOR UPDATE OF {tables} SKIP LOCKED"),
            Inner::Lite(_) => String::new(),
        }
    }

    /// Ends a correlated `EXISTS` subquery so that it stays one lookup per outer row: ` OFFSET 0`
    /// on PostgreSQL, whose planner would otherwise turn it into a join and choose how to read
    /// it from statistics a new database lacks; nothing on SQLite, which runs it per row anyway.
    pub fn per_row(&self) -> &'static str {
        match self.0 {
            Inner::Pg(_) => " OFFSET 0",
            Inner::Lite(_) => "",
        }
    }

    /// Whether a subquery in `FROM` may refer to the tables before it (`LATERAL`, PostgreSQL).
    pub fn lateral(&self) -> bool {
        matches!(self.0, Inner::Pg(_))
    }

    /// Makes a claim that has not run a statement yet wait at most `ms` milliseconds for a row
    /// another transaction holds; then the statement fails. PostgreSQL only: SQLite's one
    /// writer holds no row locks.
    pub fn wait_for_locks_at_most(&mut self, ms: u32) {
        if let Inner::Pg(c) = &mut self.0 {
            c.wait_for_locks_at_most(ms);
        }
    }

    /// Makes a claim that has not run a statement yet run its statements on generic plans
    /// made of index probes (PostgreSQL; see `pg::Conn::plan_for_lookups`).
    pub fn plan_for_lookups(&mut self) {
        if let Inner::Pg(c) = &mut self.0 {
            c.plan_for_lookups();
        }
    }

    /// Whether [`Tx::claim_rows`] may pass over rows (PostgreSQL).
    pub fn skips_locked(&self) -> bool {
        matches!(self.0, Inner::Pg(_))
    }

    /// Whether a statement may write in `WITH` (PostgreSQL), so several writes of a claim can
    /// be one statement; SQLite has no data-modifying `WITH`.
    pub fn writes_in_with(&self) -> bool {
        matches!(self.0, Inner::Pg(_))
    }

    /// Runs a read and commits the claim: on PostgreSQL the `COMMIT` goes with the read, in
    /// the same round trip (a read the database refuses leaves nothing committed; see
    /// `pg::Conn::rows_then_commit`).
    pub async fn fetch_all_and_commit(self, query: Query) -> sqlx::Result<Vec<Row>> {
        match self.0 {
            Inner::Pg(c) => Ok(c
                .rows_then_commit(&query)
                .await?
                .into_iter()
                .map(Row::Pg)
                .collect()),
            lite => {
                let mut tx = Tx(lite);
                let rows = query.fetch_all(&mut tx).await?;
                tx.commit().await?;
                Ok(rows)
            }
        }
    }

    /// Undoes everything.
    pub async fn rollback(self) -> sqlx::Result<()> {
        match self.0 {
            Inner::Pg(c) => c.rollback().await,
            // Dropping undoes the claim.
            Inner::Lite(_) => Ok(()),
        }
    }
}

use crate::engine_error::sqlite as lite_error;

/// Prepares (from the connection's cache) and binds `$n` parameters the way sqlx does: SQLite
/// numbers named parameters by first appearance, so `$2 … $1` must be mapped by name.
/// The `$n` parameters of `sql` in order of first appearance, as SQLite numbers them.
fn first_appearance(sql: &str) -> Vec<usize> {
    let bytes = sql.as_bytes();
    let mut seen = Vec::new();
    let mut known = std::collections::HashSet::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            if let Ok(n) = sql[start..end].parse::<usize>() {
                if known.insert(n) {
                    seen.push(n);
                }
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    seen
}

fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    query: &Query,
) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let args = &query.args;
    let mut stmt = conn.prepare_cached(&query.sql)?;
    let count = stmt.parameter_count();
    // `sqlite3_bind_parameter_name` walks a list, so asking it for every parameter is
    // quadratic: a 3,000-parameter INSERT spent two thirds of an upload there. The order of
    // first appearance in the text is the same mapping; the library is asked only when the
    // text does not account for every parameter (a `$` inside a string literal, say), and for
    // the few parameters of a claim's statements, where the list is short.
    let from_text = if count > 32 {
        first_appearance(&query.sql)
    } else {
        Vec::new()
    };
    for index in 1..=count {
        let arg = match from_text.len() == count {
            true => from_text[index - 1],
            false => stmt
                .parameter_name(index)
                .and_then(|n| n.strip_prefix('$').and_then(|n| n.parse::<usize>().ok()))
                .unwrap_or(index),
        };
        let value = args
            .get(arg - 1)
            .ok_or(rusqlite::Error::InvalidParameterCount(arg, args.len()))?;
        match value {
            Arg::Int(v) => stmt.raw_bind_parameter(index, v)?,
            Arg::Float(v) => stmt.raw_bind_parameter(index, v)?,
            Arg::Text(v) => stmt.raw_bind_parameter(index, v)?,
            Arg::NullInt | Arg::NullText => {
                stmt.raw_bind_parameter(index, rusqlite::types::Null)?
            }
        }
    }
    Ok(stmt)
}

fn lite_execute(conn: &rusqlite::Connection, query: &Query) -> rusqlite::Result<u64> {
    Ok(prepare(conn, query)?.raw_execute()? as u64)
}

/// Up to `limit` rows.
fn lite_rows(
    conn: &rusqlite::Connection,
    query: &Query,
    limit: usize,
) -> rusqlite::Result<Vec<Row>> {
    let mut stmt = prepare(conn, query)?;
    let columns: Arc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
    let width = columns.len();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(row) = rows.next()? else { break };
        let mut cells = Vec::with_capacity(width);
        for i in 0..width {
            use rusqlite::types::ValueRef;
            cells.push(match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Float(v),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Cell::Text(String::from_utf8_lossy(t).into_owned())
                }
            });
        }
        out.push(Row::Lite {
            columns: columns.clone(),
            cells,
        });
    }
    Ok(out)
}

/// Opens the SQLite file behind `path` for claims, set up like the pool's connections.
pub fn open_lite(path: &str) -> anyhow::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; \
         PRAGMA temp_store=MEMORY; PRAGMA cache_size=-32768;",
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &tempfile::TempDir) -> Writer {
        let path = dir.path().join("t.db");
        let path = path.to_str().unwrap();
        Writer::new(open_lite(path).unwrap(), open_lite(path).unwrap())
    }

    async fn setup(w: &Writer) {
        let mut tx = Tx::lite(w, Order::InTurn).await.unwrap();
        query("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b TEXT, c REAL)")
            .execute(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn constraint_violations_keep_their_kind() {
        use sqlx::error::ErrorKind;
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        let mut tx = Tx::lite(&w, Order::InTurn).await.unwrap();
        query(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, \
             n INTEGER CHECK (n > 0), parent INTEGER REFERENCES p (id))",
        )
        .execute(&mut tx)
        .await
        .unwrap();
        query("INSERT INTO p (id, name, n) VALUES (1, 'a', 1)")
            .execute(&mut tx)
            .await
            .unwrap();
        for (sql, kind) in [
            (
                "INSERT INTO p (name, n) VALUES ('a', 1)",
                ErrorKind::UniqueViolation,
            ),
            (
                "INSERT INTO p (id, name, n) VALUES (1, 'b', 1)",
                ErrorKind::UniqueViolation,
            ),
            (
                "INSERT INTO p (name, n) VALUES ('c', 0)",
                ErrorKind::CheckViolation,
            ),
            (
                "INSERT INTO p (name, n) VALUES (NULL, 1)",
                ErrorKind::NotNullViolation,
            ),
            (
                "INSERT INTO p (name, n, parent) VALUES ('d', 1, 99)",
                ErrorKind::ForeignKeyViolation,
            ),
        ] {
            let err = query(sql).execute(&mut tx).await.unwrap_err();
            let db = err
                .as_database_error()
                .unwrap_or_else(|| panic!("{sql}: {err:?}"));
            assert_eq!(db.kind(), kind, "{sql}: {err}");
        }
    }

    #[tokio::test]
    async fn parameters_bind_by_number_like_sqlx() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        setup(&w).await;
        let mut tx = Tx::lite(&w, Order::InTurn).await.unwrap();
        // $2 appears first and $1 twice: SQLite alone would number them 1, 2.
        query("INSERT INTO t (b, a, c) VALUES ($2, $1, $1 + 0.5)")
            .bind(7)
            .bind("seven")
            .execute(&mut tx)
            .await
            .unwrap();
        let row = query("SELECT a, b, c FROM t WHERE a = $1")
            .bind(7)
            .fetch_one(&mut tx)
            .await
            .unwrap();
        assert_eq!(row.try_get::<i64>("a").unwrap(), 7);
        assert_eq!(row.try_get::<String>("b").unwrap(), "seven");
        assert_eq!(row.try_get::<f64>("c").unwrap(), 7.5);
        assert!(
            row.try_get::<String>("a").is_err(),
            "an integer is not a text"
        );
        assert!(matches!(
            row.try_get::<i64>("nope"),
            Err(sqlx::Error::ColumnNotFound(_))
        ));
    }

    #[tokio::test]
    async fn many_rows_bind_by_number_when_shared_parameters_come_last() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        setup(&w).await;
        let mut tx = Tx::lite(&w, Order::InTurn).await.unwrap();
        // 100 rows: $1 is shared and written last in each row, so first appearance is
        // $2, $3, $1, $4, $5, … — the mapping the long-statement path reads from the text.
        let values: Vec<String> = (0..100)
            .map(|n| format!("(${}, ${}, $1)", 2 * n + 2, 2 * n + 3))
            .collect();
        let mut q = query(format!(
            "INSERT INTO t (a, b, c) VALUES {}",
            values.join(", ")
        ))
        .bind(0.25);
        for n in 0..100i64 {
            q = q.bind(n).bind(format!("row {n}"));
        }
        q.execute(&mut tx).await.unwrap();
        let rows = query("SELECT a, b, c FROM t ORDER BY a")
            .fetch_all(&mut tx)
            .await
            .unwrap();
        assert_eq!(rows.len(), 100);
        for (n, row) in rows.iter().enumerate() {
            assert_eq!(row.try_get::<i64>("a").unwrap(), n as i64);
            assert_eq!(row.try_get::<String>("b").unwrap(), format!("row {n}"));
            assert_eq!(row.try_get::<f64>("c").unwrap(), 0.25);
        }
        assert_eq!(first_appearance("($2, '$', $1, $2, $10)"), vec![2, 1, 10]);
    }

    #[tokio::test]
    async fn nulls_and_scalars_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        setup(&w).await;
        let mut tx = Tx::lite(&w, Order::InTurn).await.unwrap();
        query("INSERT INTO t (a, b) VALUES ($1, $2)")
            .bind(None::<i64>)
            .bind(None::<&str>)
            .execute(&mut tx)
            .await
            .unwrap();
        let row = query("SELECT a, b FROM t")
            .fetch_one(&mut tx)
            .await
            .unwrap();
        assert_eq!(row.try_get::<Option<i64>>("a").unwrap(), None);
        assert_eq!(row.try_get::<Option<String>>("b").unwrap(), None);
        assert!(row.try_get::<i64>("a").is_err(), "NULL is not an integer");
        let n: i64 = query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&mut tx)
            .await
            .unwrap();
        assert_eq!(n, 1);
        let none: Option<i64> = query_scalar("SELECT a FROM t WHERE id = -1")
            .fetch_optional(&mut tx)
            .await
            .unwrap();
        assert_eq!(none, None);
        assert!(matches!(
            query("SELECT a FROM t WHERE id = -1")
                .fetch_one(&mut tx)
                .await,
            Err(sqlx::Error::RowNotFound)
        ));
        // A list of values as parameters.
        let changed = query(format!(
            "UPDATE t SET a = $1 WHERE id IN ({})",
            params(2, 2)
        ))
        .bind(3)
        .bind_all([1, 2])
        .execute(&mut tx)
        .await
        .unwrap();
        assert_eq!(changed, 1);
        assert_eq!(params(4, 3), "$4, $5, $6");
    }

    #[tokio::test]
    async fn a_dropped_claim_leaves_nothing_and_a_committed_one_is_readable() {
        let dir = tempfile::tempdir().unwrap();
        let w = writer(&dir);
        setup(&w).await;
        let mut tx = Tx::lite(&w, Order::InTurn).await.unwrap();
        query("INSERT INTO t (a) VALUES (1)")
            .execute(&mut tx)
            .await
            .unwrap();
        drop(tx);
        let mut tx = Tx::lite(&w, Order::InTurn).await.unwrap();
        query("INSERT INTO t (a) VALUES (2)")
            .execute(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let path = dir.path().join("t.db");
        let other = open_lite(path.to_str().unwrap()).unwrap();
        let seen: Vec<i64> = other
            .prepare("SELECT a FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(seen, vec![2]);
    }
}
