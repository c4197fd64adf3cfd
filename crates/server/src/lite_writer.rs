//! SQLite's writing connection, with group commit.
//!
//! Claims (leases, labels, reviews) take turns on one connection. A claim runs inside a
//! savepoint of a shared "group" transaction; when it ends and another claim is already waiting
//! for the turn, it hands the open transaction on instead of committing, and waits until the
//! group commits. The last claim of a burst commits for everyone. One commit then writes each
//! touched page to the WAL once for the whole group: the commit was most of a label's cost.
//!
//! Nothing is acknowledged before its group has committed (invariant 3): a claim's
//! [`Group::wait`] returns the commit's outcome, and a failed commit fails every member.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Mutex, OwnedMutexGuard};

/// The outcome of a group's commit (the error's text when it failed).
type Outcome = Option<Result<(), String>>;

/// The claims sharing one transaction.
pub struct Group {
    done: watch::Sender<Outcome>,
}

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
            let mut turn = writer.turn().await;
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

/// The writing connection and the queue for it.
#[derive(Clone)]
pub struct Writer {
    state: Arc<Mutex<State>>,
    waiting: Arc<AtomicUsize>,
}

/// A claim's or a write's turn on the connection.
pub struct Turn {
    guard: OwnedMutexGuard<State>,
    waiting: Arc<AtomicUsize>,
}

/// Counts a caller as waiting for its turn, also when its request is cancelled meanwhile.
struct Queued(Arc<AtomicUsize>);

impl Drop for Queued {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Writer {
    /// Wraps the connection that writes, and starts checkpointing the WAL beside it (see
    /// [`checkpoint_loop`]).
    pub fn new(conn: rusqlite::Connection, checkpoints: rusqlite::Connection) -> Writer {
        // A failure leaves SQLite's own checkpoints on: slower, still correct.
        let _ = conn.execute_batch("PRAGMA wal_autocheckpoint=0");
        let writer = Writer {
            state: Arc::new(Mutex::new(State { conn, group: None })),
            waiting: Arc::new(AtomicUsize::new(0)),
        };
        let state = Arc::downgrade(&writer.state);
        let waiting = writer.waiting.clone();
        let spawned = std::thread::Builder::new()
            .name("quorum-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpoints, &state, &waiting));
        if let Err(e) = spawned {
            tracing::warn!("no background checkpoints ({e}); SQLite checkpoints in commits");
            if let Ok(s) = writer.state.try_lock() {
                let _ = s.conn.execute_batch("PRAGMA wal_autocheckpoint=1000");
            }
        }
        writer
    }

    /// Waits for the turn.
    pub async fn turn(&self) -> Turn {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let queued = Queued(self.waiting.clone());
        let guard = self.state.clone().lock_owned().await;
        drop(queued);
        Turn {
            guard,
            waiting: self.waiting.clone(),
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
    pub fn join_group(&mut self) -> rusqlite::Result<Arc<Group>> {
        if let Some(group) = &self.guard.group {
            return Ok(group.clone());
        }
        self.guard.conn.execute_batch("BEGIN IMMEDIATE")?;
        let group = Arc::new(Group {
            done: watch::channel(None).0,
        });
        self.guard.group = Some(group.clone());
        Ok(group)
    }

    /// Whether someone is waiting for the turn (and will carry the group on).
    pub fn has_successor(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// Commits the open group, if any, and tells its members.
    pub fn finish_group(&mut self) {
        let Some(group) = self.guard.group.take() else {
            return;
        };
        let outcome = self.guard.conn.execute_batch("COMMIT").map_err(|e| {
            let _ = self.guard.conn.execute_batch("ROLLBACK");
            tracing::error!("group commit failed: {e}");
            e.to_string()
        });
        group.done.send_replace(Some(outcome));
    }

    /// Undoes the whole open group after an error that broke the transaction.
    pub fn abort_group(&mut self, why: &str) {
        if let Some(group) = self.guard.group.take() {
            let _ = self.guard.conn.execute_batch("ROLLBACK");
            group.done.send_replace(Some(Err(why.to_owned())));
        }
    }
}

/// WAL frames after which the log is restarted (16 MiB of 4 KiB pages).
const RESTART_FRAMES: i64 = 4096;

/// Copies the WAL into the database beside the writer, so that claims never wait for it.
///
/// SQLite's own checkpoints run inside a commit, and every claim waiting for the turn would
/// wait for the copy and its fsync too. Here PASSIVE checkpoints copy frames while claims go on.
/// The log only starts over once a checkpoint has caught up with it, which never happens while
/// claims keep writing; so once it is long, a few more passes close the gap and then a short
/// turn, with no claim running, copies the last frames and restarts it.
fn checkpoint_loop(
    conn: &rusqlite::Connection,
    state: &std::sync::Weak<Mutex<State>>,
    waiting: &Arc<AtomicUsize>,
) {
    let checkpoint = |mode: &str| -> rusqlite::Result<(i64, i64)> {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })
    };
    while state.strong_count() > 0 {
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
                let Some(state) = state.upgrade() else { return };
                waiting.fetch_add(1, Ordering::SeqCst);
                let queued = Queued(waiting.clone());
                let guard = state.blocking_lock_owned();
                drop(queued);
                let mut turn = Turn {
                    guard,
                    waiting: waiting.clone(),
                };
                turn.finish_group();
                if let Err(e) = checkpoint("RESTART") {
                    tracing::warn!("WAL restart failed: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("WAL checkpoint failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lite_writer::Writer;
    use crate::sql::{open_lite, query, Tx};
    use std::time::Duration;

    fn open(dir: &tempfile::TempDir) -> (Writer, String) {
        let path = dir.path().join("g.db").to_str().unwrap().to_owned();
        let w = Writer::new(open_lite(&path).unwrap(), open_lite(&path).unwrap());
        (w, path)
    }

    fn count(path: &str) -> i64 {
        open_lite(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap()
    }

    async fn insert(w: &Writer, v: i64, keep: bool) -> sqlx::Result<()> {
        let mut tx = Tx::lite(w).await?;
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
        let (w, path) = open(&dir);
        let mut tx = Tx::lite(&w).await.unwrap();
        query("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .execute(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
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
        let (w, path) = open(&dir);
        let mut tx = Tx::lite(&w).await.unwrap();
        query("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .execute(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut first = Tx::lite(&w).await.unwrap();
        query("INSERT INTO t (v) VALUES (1)")
            .execute(&mut first)
            .await
            .unwrap();
        // A second claim queues for the turn, so the first hands the group on to it...
        let second = Box::pin(Tx::lite(&w));
        let mut second = second;
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
}
