//! SQLite's writing connection, with group commit.
//!
//! Claims (leases, labels, reviews) take turns on one connection. A claim runs inside a
//! savepoint of a shared "group" transaction; when it ends and another claim is already waiting
//! for the turn, it hands the open transaction on instead of committing, and waits until the
//! group commits. The last claim of a burst, or the first to end once the group has been open
//! for [`GROUP_SPAN`], commits for everyone. One commit then writes each
//! touched page to the WAL once for the whole group: the commit was most of a label's cost.
//!
//! Nothing is acknowledged before its group has committed (invariant 3): a claim's
//! [`Group::wait`] returns the commit's outcome, and a failed commit fails every member.
//!
//! The turn goes to leases before labels ([`Order::First`]): a worker waits for the next batch
//! with nothing to do, while labels are synced in the background (the web app queues them).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch, Mutex, OwnedMutexGuard};

/// The outcome of a group's commit (the error's text when it failed).
type Outcome = Option<Result<(), String>>;

/// The claims sharing one transaction.
pub struct Group {
    done: watch::Sender<Outcome>,
    began: std::time::Instant,
}

/// How long a group may stay open while claims keep coming: its members wait for its commit,
/// so under steady load this, not the commit, bounds their latency.
const GROUP_SPAN: Duration = Duration::from_micros(400);

impl Group {
    /// Waits until the group has committed (or failed). Normally the claim that ends the group
    /// wakes everyone; should it never come (its request was cancelled while it waited), a
    /// member takes the turn after a moment and commits itself.
    pub async fn wait(self: Arc<Self>, writer: &Writer) -> Result<(), String> {
        let mut done = self.done.subscribe();
        loop {
            let finished =
                tokio::time::timeout(Duration::from_millis(20), done.wait_for(Option::is_some))
                    .await
                    .map(|outcome| outcome.map(|o| o.clone()));
            if let Ok(Ok(outcome)) = finished {
                return outcome.unwrap_or(Ok(()));
            }
            let mut turn = writer.turn(Order::InTurn).await;
            if turn.open_group().is_some_and(|g| Arc::ptr_eq(&g, &self)) {
                turn.finish_group();
            }
        }
    }
}

struct State {
    conn: rusqlite::Connection,
    group: Option<Arc<Group>>,
}

/// Where a caller joins the queue for the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Before every waiting [`Order::InTurn`] caller (leases).
    First,
    /// In arrival order (labels, reviews, other writes).
    InTurn,
}

/// The queue for the turn: whether it is held, and who waits, in two lines.
#[derive(Default)]
struct Queue {
    held: bool,
    first: VecDeque<oneshot::Sender<()>>,
    in_turn: VecDeque<oneshot::Sender<()>>,
}

impl Queue {
    /// Passes the turn to the next live waiter, or frees it.
    fn pass_on(&mut self) {
        while let Some(next) = self.first.pop_front().or_else(|| self.in_turn.pop_front()) {
            if next.send(()).is_ok() {
                return;
            }
        }
        self.held = false;
    }

    fn has_waiters(&self) -> bool {
        self.first
            .iter()
            .chain(&self.in_turn)
            .any(|w| !w.is_closed())
    }
}

/// The writing connection and the queue for it.
#[derive(Clone)]
pub struct Writer {
    state: Arc<Mutex<State>>,
    queue: Arc<std::sync::Mutex<Queue>>,
}

/// Holding the turn; dropping it passes the turn on.
struct Ticket(Arc<std::sync::Mutex<Queue>>);

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.0).pass_on();
    }
}

/// Waiting in the queue. Cancelled after the turn was passed to it, it passes the turn on.
struct Waiting {
    rx: Option<oneshot::Receiver<()>>,
    queue: Arc<std::sync::Mutex<Queue>>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                lock(&self.queue).pass_on();
            }
        }
    }
}

fn lock(queue: &std::sync::Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    // The queue's state stays consistent even if a holder panicked.
    queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A claim's or a write's turn on the connection.
pub struct Turn {
    guard: OwnedMutexGuard<State>,
    queue: Arc<std::sync::Mutex<Queue>>,
    // Dropped after the guard (fields drop in order): the connection is free before the next
    // holder is woken.
    _ticket: Ticket,
}

impl Writer {
    /// Wraps the connection that writes, and starts checkpointing the WAL beside it (see
    /// [`checkpoint_loop`]).
    pub fn new(conn: rusqlite::Connection, checkpoints: rusqlite::Connection) -> Writer {
        // A failure leaves SQLite's own checkpoints on: slower, still correct.
        let _ = conn.execute_batch("PRAGMA wal_autocheckpoint=0");
        let writer = Writer {
            state: Arc::new(Mutex::new(State { conn, group: None })),
            queue: Arc::default(),
        };
        let alive = Arc::downgrade(&writer.state);
        let queue = writer.queue.clone();
        let spawned = std::thread::Builder::new()
            .name("quorum-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpoints, &alive, &queue));
        if let Err(e) = spawned {
            tracing::warn!("no background checkpoints ({e}); SQLite checkpoints in commits");
            if let Ok(s) = writer.state.try_lock() {
                let _ = s.conn.execute_batch("PRAGMA wal_autocheckpoint=1000");
            }
        }
        writer
    }

    /// Waits for the turn.
    pub async fn turn(&self, order: Order) -> Turn {
        let rx = {
            let mut q = lock(&self.queue);
            if q.held {
                let (tx, rx) = oneshot::channel();
                match order {
                    Order::First => q.first.push_back(tx),
                    Order::InTurn => q.in_turn.push_back(tx),
                }
                Some(rx)
            } else {
                q.held = true;
                None
            }
        };
        let mut waiting = Waiting {
            rx,
            queue: self.queue.clone(),
        };
        if let Some(rx) = waiting.rx.as_mut() {
            // The sender lives in the queue until it is used, so this only returns with the turn.
            let _ = rx.await;
            waiting.rx = None;
        }
        let ticket = Ticket(self.queue.clone());
        Turn {
            // The ticket excludes everyone else, so the lock is free.
            guard: self.state.clone().lock_owned().await,
            queue: self.queue.clone(),
            _ticket: ticket,
        }
    }
}

impl Turn {
    /// The connection.
    pub fn conn(&self) -> &rusqlite::Connection {
        &self.guard.conn
    }

    /// The group transaction open on the connection, if any.
    pub fn open_group(&self) -> Option<Arc<Group>> {
        self.guard.group.clone()
    }

    /// Joins the open group, beginning one if none is open.
    pub fn join_group(&mut self) -> rusqlite::Result<()> {
        if self.guard.group.is_none() {
            run(&self.guard.conn, "BEGIN IMMEDIATE")?;
            self.guard.group = Some(Arc::new(Group {
                done: watch::channel(None).0,
                began: std::time::Instant::now(),
            }));
        }
        Ok(())
    }

    /// Whether the open group should commit now rather than pass to the next claim: nobody
    /// waits to carry it on, or it has been open long enough.
    pub fn should_commit(&self) -> bool {
        self.guard
            .group
            .as_ref()
            .is_some_and(|g| g.began.elapsed() >= GROUP_SPAN)
            || !lock(&self.queue).has_waiters()
    }

    /// Commits the open group, if any, and tells its members.
    pub fn finish_group(&mut self) {
        let Some(group) = self.guard.group.take() else {
            return;
        };
        let outcome = run(&self.guard.conn, "COMMIT").map_err(|e| {
            let _ = run(&self.guard.conn, "ROLLBACK");
            tracing::error!("group commit failed: {e}");
            e.to_string()
        });
        group.done.send_replace(Some(outcome));
    }

    /// Undoes the whole open group after an error that broke the transaction.
    pub fn abort_group(&mut self, why: &str) {
        if let Some(group) = self.guard.group.take() {
            let _ = run(&self.guard.conn, "ROLLBACK");
            group.done.send_replace(Some(Err(why.to_owned())));
        }
    }
}

/// Runs a statement that returns nothing, kept prepared: transaction control runs several
/// times per claim, and parsing it each time showed in profiles.
pub fn run(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.raw_execute().map(drop)
}

/// WAL frames after which the log is restarted (128 MiB of 4 KiB pages).
const RESTART_FRAMES: i64 = 32_768;

/// Copies the WAL into the database beside the writer, so that claims never wait for it.
///
/// SQLite's own checkpoints run inside a commit, and every claim waiting for the turn would
/// wait for the copy and its fsync too. Here PASSIVE checkpoints copy frames while claims go on.
/// The log only starts over once a checkpoint has caught up with it, which never happens while
/// claims keep writing; so once it is long, a few more passes close the gap and then a short
/// turn, with no claim running, copies the last frames.
fn checkpoint_loop(
    conn: &rusqlite::Connection,
    alive: &std::sync::Weak<Mutex<State>>,
    queue: &Arc<std::sync::Mutex<Queue>>,
) {
    let checkpoint = |mode: &str| -> rusqlite::Result<(i64, i64)> {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    while alive.strong_count() > 0 {
        std::thread::sleep(Duration::from_millis(100));
        let mut pass = checkpoint("PASSIVE");
        for _ in 0..4 {
            match pass {
                Ok((log, done)) if log >= RESTART_FRAMES && log - done > 64 => {
                    pass = checkpoint("PASSIVE");
                }
                _ => break,
            }
        }
        match pass {
            Ok((log, _)) if log >= RESTART_FRAMES => {
                let Some(state) = alive.upgrade() else { return };
                let writer = Writer {
                    state,
                    queue: queue.clone(),
                };
                let mut turn = runtime.block_on(writer.turn(Order::First));
                turn.finish_group();
                // Not RESTART, which would wait (in the busy handler's millisecond sleeps) for
                // readers of older snapshots: once the log is copied whole, the next write
                // starts it over by itself unless such a reader is still there.
                if let Err(e) = checkpoint("PASSIVE") {
                    tracing::warn!("WAL checkpoint failed: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("WAL checkpoint failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lite_writer::{Order, Writer};
    use crate::sql::{open_lite, query, Tx};
    use std::time::Duration;

    /// A writer on a fresh database with one table, `t (v)`.
    async fn open(dir: &tempfile::TempDir) -> (Writer, String) {
        let path = dir.path().join("g.db").to_str().unwrap().to_owned();
        let w = Writer::new(open_lite(&path).unwrap(), open_lite(&path).unwrap());
        let mut tx = Tx::lite(&w, Order::InTurn).await.unwrap();
        query("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .execute(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        (w, path)
    }

    fn count(path: &str) -> i64 {
        open_lite(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    async fn insert(w: &Writer, v: i64, keep: bool) -> sqlx::Result<()> {
        let mut tx = Tx::lite(w, Order::InTurn).await?;
        query("INSERT INTO t (v) VALUES ($1)")
            .bind(v)
            .execute(&mut tx)
            .await?;
        tokio::task::yield_now().await;
        if keep {
            tx.commit().await
        } else {
            tx.rollback().await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_claims_commit_in_groups_and_a_rolled_back_one_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let (w, path) = open(&dir).await;
        let mut handles = Vec::new();
        for v in 0..200 {
            let w = w.clone();
            handles.push(tokio::spawn(
                async move { insert(&w, v, v % 10 != 3).await },
            ));
        }
        for h in handles {
            h.await.unwrap().unwrap();
        }
        // Every acknowledged claim is there once acknowledged, and only those.
        assert_eq!(count(&path), 180);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_commits_even_when_the_claim_meant_to_carry_it_on_is_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let (w, path) = open(&dir).await;
        let mut first = Tx::lite(&w, Order::InTurn).await.unwrap();
        query("INSERT INTO t (v) VALUES (1)")
            .execute(&mut first)
            .await
            .unwrap();
        // A second claim queues for the turn, so the first hands the group on to it...
        let mut second = Box::pin(Tx::lite(&w, Order::InTurn));
        assert!(tokio::time::timeout(Duration::from_millis(5), &mut second)
            .await
            .is_err());
        let committed = tokio::spawn(first.commit());
        tokio::time::sleep(Duration::from_millis(5)).await;
        // ...and is cancelled before it runs: the first still gets its commit.
        drop(second);
        tokio::time::timeout(Duration::from_secs(5), committed)
            .await
            .expect("the group must not wait forever")
            .unwrap()
            .unwrap();
        assert_eq!(count(&path), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lease_waiting_for_the_turn_goes_before_labels_that_came_earlier() {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = open(&dir).await;
        let held = w.turn(Order::InTurn).await;
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for (name, how) in [
            ("label 1", Order::InTurn),
            ("label 2", Order::InTurn),
            ("lease", Order::First),
        ] {
            let (w, order) = (w.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let _turn = w.turn(how).await;
                order.lock().unwrap().push(name);
            }));
            // Queue them in this order.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(held);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["lease", "label 1", "label 2"]);
    }
}
