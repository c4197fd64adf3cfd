//! Round trips to PostgreSQL per request. Each statement costs CPU on both sides of the wire
//! (not the database's work, mostly), and on a small machine that bounds labels per second:
//! the counts are a contract, measured here by a proxy that reads both sides' messages. A
//! statement ends in `Sync` after `Execute` (or is a simple `Query`); a `Sync` alone is a ping
//! (sqlx sent one on every connection it took back into its pool) or ends a prepare (a
//! connection's first use of a statement). A round trip begins when the
//! server is sent a request while it owes no answer: requests sent together (a claim's `BEGIN`
//! with its first statement) are one.

use crate::support::{lease_batch, postgres_url, submit, Env};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Round trips the server started: statements, and pings of connections back in the pool.
#[derive(Default)]
struct Counts {
    statements: AtomicU64,
    /// Simple queries: a claim's `BEGIN` and its `COMMIT` (or `ROLLBACK`) are two.
    simple: AtomicU64,
    pings: AtomicU64,
    /// Round trips other than prepares.
    round_trips: AtomicU64,
    /// Prepares, each a round trip of its own: which connection a request gets, and so whether
    /// it prepares there first, depends on timing (a connection not yet back in the pool).
    prepares: AtomicU64,
}

/// A TCP proxy in front of PostgreSQL counting the round trips its clients start.
struct Proxy {
    port: u16,
    upstream: String,
    counts: Arc<Counts>,
}

impl Proxy {
    /// Listens on a free port and forwards every connection to `upstream` (host:port).
    async fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Counts::default());
        let (to, count) = (upstream.to_owned(), counts.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(&to).await.unwrap();
                tokio::spawn(forward(client, server, count.clone()));
            }
        });
        Proxy {
            port,
            upstream: upstream.to_owned(),
            counts,
        }
    }

    /// `url` pointed at the proxy, without TLS (the proxy reads the messages).
    fn route(&self, url: &str) -> String {
        let url = url.replacen(&self.upstream, &format!("127.0.0.1:{}", self.port), 1);
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}sslmode=disable")
    }

    /// Simple queries so far.
    fn simple(&self) -> u64 {
        self.counts.simple.load(Ordering::SeqCst)
    }

    /// Prepares so far.
    fn prepares(&self) -> u64 {
        self.counts.prepares.load(Ordering::SeqCst)
    }

    /// (statements, pings, round trips other than prepares) so far.
    fn counts(&self) -> (u64, u64, u64) {
        (
            self.counts.statements.load(Ordering::SeqCst),
            self.counts.pings.load(Ordering::SeqCst),
            self.counts.round_trips.load(Ordering::SeqCst),
        )
    }
}

/// Copies both ways, counting the client's requests: a `Sync` ('S') or a simple `Query` ('Q')
/// each, answered by one `ReadyForQuery` ('Z'); a `Sync` right after an `Execute` ('E') ends a
/// statement, one without is a ping. A request sent while none is unanswered starts a round
/// trip.
async fn forward(client: TcpStream, server: TcpStream, count: Arc<Counts>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // The startup message is answered by a `ReadyForQuery` too.
    let unanswered = Arc::new(std::sync::atomic::AtomicI64::new(1));
    let answered = unanswered.clone();
    tokio::spawn(async move {
        // The server's messages are all typed (no TLS was asked for): type, then length.
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if client_write.write_all(&chunk[..n]).await.is_err() {
                return;
            }
            pending.extend_from_slice(&chunk[..n]);
            while pending.len() >= 5 {
                let len = u32::from_be_bytes(pending[1..5].try_into().unwrap()) as usize;
                if pending.len() < 1 + len {
                    break;
                }
                if pending[0] == b'Z' {
                    answered.fetch_sub(1, Ordering::SeqCst);
                }
                pending.drain(..1 + len);
            }
        }
    });
    let mut pending: Vec<u8> = Vec::new();
    // Until the startup message: untyped messages (an SSL request, then the startup).
    let mut startup = true;
    let (mut executed, mut parsed) = (false, false);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match client_read.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if server_write.write_all(&chunk[..n]).await.is_err() {
            return;
        }
        pending.extend_from_slice(&chunk[..n]);
        loop {
            let header = if startup { 0 } else { 1 };
            if pending.len() < header + 4 {
                break;
            }
            let len = u32::from_be_bytes(pending[header..header + 4].try_into().unwrap()) as usize;
            if pending.len() < header + len {
                break;
            }
            if startup {
                // Protocol 3.0's startup message; anything else (the SSL request) comes before.
                startup = u32::from_be_bytes(pending[4..8].try_into().unwrap()) != 196_608;
            } else {
                if pending[0] == b'Q' {
                    count.simple.fetch_add(1, Ordering::SeqCst);
                }
                let counter = match pending[0] {
                    b'Q' => Some(&count.statements),
                    b'S' if executed => Some(&count.statements),
                    b'S' if parsed => Some(&count.prepares),
                    b'S' => Some(&count.pings),
                    _ => None,
                };
                if let Some(c) = counter {
                    c.fetch_add(1, Ordering::SeqCst);
                    let prepare = std::ptr::eq(c, &count.prepares);
                    if unanswered.fetch_add(1, Ordering::SeqCst) <= 0 && !prepare {
                        count.round_trips.fetch_add(1, Ordering::SeqCst);
                    }
                }
                (executed, parsed) = match pending[0] {
                    b'E' => (true, parsed),
                    b'P' => (executed, true),
                    b'S' | b'Q' => (false, false),
                    _ => (executed, parsed),
                };
            }
            pending.drain(..header + len);
        }
    }
}

/// The `host:port` of a PostgreSQL URL.
fn host_port(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap();
    let rest = rest.rsplit('@').next().unwrap();
    rest.split(['/', '?']).next().unwrap().to_owned()
}

/// A server on PostgreSQL behind a counting proxy, with a pull task over 40 items (overlap 1,
/// batches of `batch_size`) and its one annotator.
struct Counted {
    proxy: Proxy,
    env: Env,
    task: i64,
    worker: i64,
    token: String,
}

/// [`Counted`], when a PostgreSQL is configured (`None`: the test is skipped); `extra`: more
/// `serve` arguments.
async fn counted(batch_size: u32, extra: &[&str]) -> Option<Counted> {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return None;
    };
    let proxy = Proxy::start(&host_port(&pg)).await;
    let env = Env::start_routed_with(&pg, |url| proxy.route(url), extra).await;
    let (project, dataset) = env.project_with_items(40).await;
    let (worker, token) = env.user("counted", project, &["annotator"]).await;
    let strategy = json!({"type": "pull", "batch_size": batch_size, "workers_per_input": 1});
    let task = env
        .pull_task(
            project,
            dataset,
            &[worker],
            1,
            json!({ "worker_strategy": strategy }),
        )
        .await;
    Some(Counted {
        proxy,
        env,
        task,
        worker,
        token,
    })
}

/// A lease of `task` as `token` and `n` of its items that share a label lane (equal item ids
/// modulo 4 share a lane with two lanes or four).
async fn one_lanes_items(env: &Env, token: &str, task: i64, n: usize) -> (i64, Vec<i64>) {
    let (lease, batch) = lease_batch(env, token, task).await;
    let lane = batch[0].rem_euclid(4);
    let items: Vec<i64> = batch
        .into_iter()
        .filter(|i| i.rem_euclid(4) == lane)
        .take(n)
        .collect();
    assert_eq!(items.len(), n, "{items:?}");
    (lease, items)
}

/// A connection holding the row of `item` in `task` locked, until it sends `COMMIT`.
async fn hold_row(env: &Env, task: i64, item: i64) -> sqlx::postgres::PgConnection {
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(env.db_url())
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("SELECT 1 FROM task_items WHERE task_id = $1 AND item_id = $2 FOR UPDATE")
        .bind(task)
        .bind(item)
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// Sends `first`, whose group waits for the row `blocker` holds, then, once it waits, all of
/// `rest` at once, which queue behind that group; then frees the row. The answers, in order.
async fn queued_behind_a_held_row<A, B, T>(
    blocker: &mut sqlx::postgres::PgConnection,
    first: A,
    rest: Vec<B>,
) -> Vec<T>
where
    A: std::future::Future<Output = T>,
    B: std::future::Future<Output = T>,
{
    let rest = async {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        futures_util::future::join_all(rest).await
    };
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
        sqlx::query("COMMIT").execute(blocker).await.unwrap();
    };
    let (first, rest, ()) = tokio::join!(first, rest, release);
    std::iter::once(first).chain(rest).collect()
}

/// A label alone through `/sync` costs seven statements in five round trips, and no ping: the
/// read of the caller's token with the op's stored answer, the task and the caller's roles;
/// then, in its label group (alone here: each label is sent after the last one's answer),
/// `BEGIN` with the read of the caller's seat and item; one statement for the label, its seat,
/// the op's answer and the item's votes; the item's new result sent with the read of whether
/// the task is finished (the label finished its item: overlap 1); `COMMIT` (where no such read
/// is needed, the result goes with the `COMMIT`). Labels that arrive together share the
/// `BEGIN` and the `COMMIT` (see the next test). It was seven in four with the seat read by
/// token in the first round trip, seven in six (the token read before the claim, the result on
/// its own), eight in seven (the token read on its own), nine statements and three pings (one
/// per connection sqlx took back into its pool), and thirteen statements and five pings before
/// that.
///
/// A lease: nine statements in six round trips (it was ten in eight: the held and waiting seats
/// were two reads, and the `COMMIT` a round trip of its own).
#[tokio::test]
async fn a_label_takes_five_round_trips_and_a_lease_six_on_postgres() {
    let Some(Counted {
        proxy,
        env,
        task,
        token,
        ..
    }) = counted(10, &[]).await
    else {
        return;
    };
    // A burst of requests at once opens more connections than the labels below need. A pool
    // that went on cycling through them all prepared the statements again on each (the lease:
    // fifteen round trips, not eight).
    let path = format!("/tasks/{task}");
    let burst = (0..32).map(|_| env.ok(&token, "GET", &path, None));
    futures_util::future::join_all(burst).await;
    // The first rounds prepare the statements on the pool's connections; background sweeps may
    // add a statement to any round, so the cheapest round counts.
    let mut per_label = Vec::new();
    let mut per_lease = Vec::new();
    // Prepares by round: a lease's, and a label's on average.
    let mut prepares: Vec<(u64, f64)> = Vec::new();
    for round in 0..4 {
        let before = proxy.counts();
        let prepared = proxy.prepares();
        let (lease, items) = lease_batch(&env, &token, task).await;
        assert_eq!(items.len(), 10, "{items:?}");
        let after = proxy.counts();
        per_lease.push((after.0 - before.0, after.2 - before.2));
        let lease_prepares = proxy.prepares() - prepared;
        let prepared = proxy.prepares();
        let before = proxy.counts();
        for item in &items {
            let op = submit(&format!("r{round}-{item}"), task, *item, lease, "cat");
            let answer = env
                .ok(&token, "POST", "/sync", Some(json!({"ops": [op]})))
                .await;
            assert_eq!(answer["results"][0]["status"], "applied", "{answer}");
        }
        let after = proxy.counts();
        let n = items.len() as f64;
        prepares.push((lease_prepares, (proxy.prepares() - prepared) as f64 / n));
        per_label.push((
            (after.0 - before.0) as f64 / n,
            (after.1 - before.1) as f64 / n,
            (after.2 - before.2) as f64 / n,
        ));
    }
    eprintln!("(statements, pings, round trips) per label, by round: {per_label:?}");
    let best =
        |f: fn(&(f64, f64, f64)) -> f64| per_label[1..].iter().map(f).fold(f64::MAX, f64::min);
    let (statements, pings, trips) = (best(|c| c.0), best(|c| c.1), best(|c| c.2));
    // A tenth over: the last round's last label finishes the task, and a label whose
    // connection is not yet back in the pool may prepare a statement on another one.
    assert!(
        statements <= 7.1,
        "{statements} statements a label: {per_label:?}"
    );
    assert!(trips <= 5.2, "{trips} round trips a label: {per_label:?}");
    assert!(pings <= 0.1, "pings: {per_label:?}");
    // Once warm, a request finds its statements prepared on the connection it gets: a pool that
    // cycled through all its connections prepared them again on each (a lease: seven prepares).
    eprintln!("prepares (a lease's, a label's) by round: {prepares:?}");
    let lease_prepares = prepares[1..].iter().map(|p| p.0).min().unwrap();
    let label_prepares = prepares[1..].iter().map(|p| p.1).fold(f64::MAX, f64::min);
    assert!(
        lease_prepares <= 1 && label_prepares <= 0.3,
        "prepares (a lease's, a label's) by round: {prepares:?}"
    );
    // A lease: the same read, then the claim (`BEGIN` with the task's read, the expiry sweep with
    // the read of the worker's held and own waiting seats, the window, the lease's writes, the
    // batch's items with `COMMIT`). Eight round trips before the held and waiting seats were
    // one read and the commit went with the items.
    eprintln!("(statements, round trips) per lease, by round: {per_lease:?}");
    let (statements, trips) = per_lease[1..].iter().copied().min().unwrap();
    assert!(
        statements <= 9 && trips <= 6,
        "{statements} statements in {trips} round trips a lease: {per_lease:?}"
    );
    env.stop().await;
}

/// Labels that arrive while their lane writes a group are written together, in one
/// transaction: here a held lock keeps the first label's group waiting (the server's lock wait
/// is longer than the test) while four more labels (on items of the same lane: item id modulo
/// 4) queue behind it, and the five take two transactions, not five. Every label is applied
/// and answered once committed.
#[tokio::test]
async fn labels_queued_behind_a_group_share_one_transaction_on_postgres() {
    let Some(Counted {
        proxy,
        env,
        task,
        worker,
        token,
    }) = counted(40, &["--label-lock-wait-ms", "10000"]).await
    else {
        return;
    };
    let (lease, items) = one_lanes_items(&env, &token, task, 5).await;
    // The first label's seat read waits for this lock.
    let mut blocker = hold_row(&env, task, items[0]).await;
    let before = proxy.simple();
    let statements_before = proxy.counts().0;
    let label = |item: i64| {
        let op = submit(&format!("g-{item}"), task, item, lease, "cat");
        env.call(&token, "POST", "/sync", Some(json!({"ops": [op]})))
    };
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(1500));
    let first = label(items[0]);
    let rest = async {
        pause().await;
        let (a, b, c, d) = tokio::join!(
            label(items[1]),
            label(items[2]),
            label(items[3]),
            label(items[4])
        );
        [a, b, c, d]
    };
    let release = async {
        pause().await;
        pause().await;
        sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
    };
    let (first, rest, ()) = tokio::join!(first, rest, release);
    let simple = proxy.simple() - before;
    let statements = proxy.counts().0 - statements_before - simple;
    for (status, answer) in std::iter::once(first).chain(rest) {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["results"][0]["status"], "applied", "{answer}");
    }
    // Two claims: a `BEGIN` and a `COMMIT` each (a background sweep may add one claim).
    assert!(
        simple <= 6,
        "{simple} BEGIN/COMMIT for five labels: each label had its own transaction"
    );
    // Besides them: each request's first read (five), the first label alone (its seat, its
    // write, its item's result, whether the task is finished), then the four queued labels
    // together: one read of their seats, one write of the labels, their seats and answers, one
    // update of their items' results, one read of whether the task is finished: 13, and the
    // server's background work adds about one a second (16 measured; 28 with one statement per
    // label and step, 5 + 4 + 4 × 4 and the same background).
    assert_written_together(statements, 19);
    let labeled: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM annotations WHERE task_id = $1 AND worker_id = $2",
    )
    .bind(task)
    .bind(worker)
    .fetch_one(&mut blocker)
    .await
    .unwrap();
    assert_eq!(labeled, 5, "every label is stored");
    env.stop().await;
}

/// A group written at once answers each label as it would be answered alone, refusals
/// included, and leaves each item and seat as alone: here five labels queue behind a held
/// row (one on an item already labeled, one naming another lease, one on an item not in the
/// task, two that apply), and each answer, each item's result and count, each seat and each
/// replay is checked.
#[tokio::test]
async fn a_group_written_at_once_answers_each_label_as_alone_on_postgres() {
    let Some(Counted {
        proxy,
        env,
        task,
        token,
        ..
    }) = counted(40, &["--label-lock-wait-ms", "10000"]).await
    else {
        return;
    };
    let (lease, items) = one_lanes_items(&env, &token, task, 9).await;
    let sync = |op: Value| env.call(&token, "POST", "/sync", Some(json!({"ops": [op]})));
    let (status, answer) = sync(submit("before", task, items[1], lease, "cat")).await;
    assert_eq!(
        (status, &answer["results"][0]["status"]),
        (200, &json!("applied")),
        "{answer}"
    );
    let mut blocker = hold_row(&env, task, items[0]).await;
    let before = proxy.counts().0;
    // Not in the task, and in the same lane.
    let stranger = items.iter().max().unwrap() + 4 * 1000;
    let concept = |n: usize| if n.is_multiple_of(2) { "cat" } else { "dog" };
    let mut ops = vec![
        submit("again", task, items[1], lease, "dog"),
        submit("other-lease", task, items[2], lease + 1000, "cat"),
        submit("stranger", task, stranger, lease, "cat"),
    ];
    for (n, item) in items[3..].iter().enumerate() {
        ops.push(submit(&format!("ok-{n}"), task, *item, lease, concept(n)));
    }
    let first = sync(submit("first", task, items[0], lease, "cat"));
    let rest = ops.iter().cloned().map(sync).collect();
    let answers = queued_behind_a_held_row(&mut blocker, first, rest).await;
    // The queued nine went through the group's shared statements (a group that gave way and
    // went label by label answers the same): ten first reads, the first label alone (six with
    // `BEGIN` and `COMMIT`), then for the group its seat read, one refusal's seat look-up,
    // three refusals' answers, the write, the results with the finished check, `BEGIN` and
    // `COMMIT` (nine); background work adds about one a second. Label by label it is three or
    // four statements more for each label that applies.
    assert_written_together(proxy.counts().0 - before, 34);
    let answers: Vec<Value> = answers
        .into_iter()
        .map(|(status, answer)| {
            assert_eq!(status, 200, "{answer}");
            answer["results"][0].clone()
        })
        .collect();
    let said = |n: usize| {
        let a = &answers[n];
        (
            a["status"].as_str().unwrap_or("").to_owned(),
            a["code"].as_str().map(str::to_owned),
        )
    };
    let refused = |code: &str| ("rejected".to_owned(), Some(code.to_owned()));
    let applied = ("applied".to_owned(), None);
    assert_eq!(said(0), applied, "{answers:?}");
    assert_eq!(said(1), refused("already_submitted"), "{answers:?}");
    assert_eq!(said(2), refused("wrong_lease"), "{answers:?}");
    assert_eq!(said(3), refused("not_leased"), "{answers:?}");
    for n in 4..answers.len() {
        assert_eq!(said(n), applied, "{answers:?}");
    }
    // Items: overlap 1, so each labeled item is approved with its one answer.
    let conn = &mut blocker;
    let labeled = [(items[0], "cat"), (items[1], "cat")]
        .into_iter()
        .chain(items[3..].iter().enumerate().map(|(n, i)| (*i, concept(n))));
    for (item, concept) in labeled {
        let row = item_row(conn, task, item).await;
        assert_eq!(
            (row.state.as_str(), row.labeled, row.covered),
            ("auto_approved", 1, 1),
            "item {item}"
        );
        let result: Value = serde_json::from_str(&row.result.unwrap()).unwrap();
        assert_eq!(result["concept"], concept, "item {item}");
    }
    let row = item_row(conn, task, items[2]).await;
    assert_eq!(
        (row.state.as_str(), row.result, row.labeled, row.covered),
        ("pending", None, 0, 1)
    );
    let seats: Vec<(i64, String)> = sqlx::query_as(
        "SELECT item_id, state FROM seats WHERE task_id = $1 AND item_id = ANY($2) ORDER BY item_id",
    )
    .bind(task)
    .bind(&items[..])
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(seats.len(), items.len(), "{seats:?}");
    for (item, state) in &seats {
        let expected = if *item == items[2] {
            "leased"
        } else {
            "submitted"
        };
        assert_eq!(state, expected, "seat on item {item}");
    }
    // Sent again, each op gets the answer it got: applied ones are duplicates.
    for (n, op) in ops.iter().enumerate() {
        let (status, again) = sync(op.clone()).await;
        assert_eq!(status, 200, "{again}");
        let again = &again["results"][0];
        if answers[n + 1]["status"] == "applied" {
            assert_eq!(again["status"], "duplicate", "{again}");
        } else {
            assert_eq!(again, &answers[n + 1], "op {n} replayed");
        }
    }
    env.stop().await;
}

/// One op id sent for two items (a client that reuses its ids) is applied once, also when both
/// labels queue into one group: the other is answered `duplicate` and stores nothing.
#[tokio::test]
async fn one_op_sent_for_two_items_in_one_group_is_applied_once_on_postgres() {
    let Some(Counted {
        env, task, token, ..
    }) = counted(40, &["--label-lock-wait-ms", "10000"]).await
    else {
        return;
    };
    let (lease, items) = one_lanes_items(&env, &token, task, 3).await;
    let sync = |op: Value| env.call(&token, "POST", "/sync", Some(json!({"ops": [op]})));
    let mut blocker = hold_row(&env, task, items[0]).await;
    let first = sync(submit("first", task, items[0], lease, "cat"));
    let rest = vec![
        sync(submit("same", task, items[1], lease, "cat")),
        sync(submit("same", task, items[2], lease, "dog")),
    ];
    let mut said = Vec::new();
    for (status, answer) in queued_behind_a_held_row(&mut blocker, first, rest).await {
        assert_eq!(status, 200, "{answer}");
        said.push(answer["results"][0]["status"].as_str().unwrap().to_owned());
    }
    said[1..].sort();
    assert_eq!(said, ["applied", "applied", "duplicate"], "{said:?}");
    let stored: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM annotations WHERE task_id = $1 AND client_op_id = 'same'",
    )
    .bind(task)
    .fetch_one(&mut blocker)
    .await
    .unwrap();
    assert_eq!(stored, 1, "the op was applied twice");
    env.stop().await;
}

/// Labels of several workers on one item, queued into one group, are written in rounds (each
/// item's first label in the first, its second in the next: each round reads what the last
/// wrote), not label by label, and leave each item as the same labels sent one at a time: under
/// load, an item's overlap reaches its workers together, so their labels on it arrive together
/// (two thirds of the benchmark's labels went label by label). Here three workers label three
/// items of one lane while a held row keeps the lane's first group waiting; the same labels on
/// three other items, sent one after another, are the reference.
#[tokio::test]
async fn labels_of_several_workers_on_one_item_share_a_groups_statements_on_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let proxy = Proxy::start(&host_port(&pg)).await;
    let extra = ["--label-lock-wait-ms", "10000"];
    let env = Env::start_routed_with(&pg, |url| proxy.route(url), &extra).await;
    let (project, dataset) = env.project_with_items(40).await;
    let mut workers = Vec::new();
    for name in ["ana", "ben", "cy"] {
        workers.push(env.user(name, project, &["annotator"]).await);
    }
    let (reviewer, _) = env.user("rae", project, &["reviewer"]).await;
    let ids: Vec<i64> = workers.iter().map(|w| w.0).collect();
    // Two equal answers approve an item, so where a round's label finds its item decides it:
    // a label after the approval stays out of the result's state.
    let spec = json!({
        "worker_strategy": {"type": "pull", "batch_size": 40, "workers_per_input": 3},
        "schema": {"annotation_type": "classification", "concepts": ["cat", "dog", "bird"]},
        "review_strategy": {"type": "consensus", "approval_threshold": 2},
        "reviewers": [reviewer],
    });
    let task = env.pull_task(project, dataset, &ids, 3, spec).await;
    let mut leases = Vec::new();
    for (_, token) in &workers {
        leases.push(lease_batch(&env, token, task).await);
    }
    // Items every worker holds, of one lane (item id modulo 4): one to hold, three for the
    // group, three for the reference.
    let lane = leases[0].1[0].rem_euclid(4);
    let items: Vec<i64> = leases[0]
        .1
        .iter()
        .copied()
        .filter(|i| i.rem_euclid(4) == lane && leases.iter().all(|l| l.1.contains(i)))
        .take(7)
        .collect();
    assert_eq!(items.len(), 7, "{leases:?}");
    // Each item's three answers: agreement (approved at the second, the third comes after), a
    // split (approved at the second or the third, as they arrive) and disagreement (to review).
    let concepts = [
        ["cat", "cat", "cat"],
        ["cat", "dog", "cat"],
        ["dog", "cat", "bird"],
    ];
    let sync = |w: usize, op: Value| {
        let token = workers[w].1.clone();
        let env = &env;
        async move {
            env.call(&token, "POST", "/sync", Some(json!({"ops": [op]})))
                .await
        }
    };
    let label = |w: usize, name: &str, item: i64, concept: &str| {
        submit(&format!("{name}-{item}"), task, item, leases[w].0, concept)
    };
    // The reference: one label at a time.
    for (item, answers) in items[4..].iter().zip(concepts) {
        for (w, concept) in answers.into_iter().enumerate() {
            let (status, answer) = sync(w, label(w, "alone", *item, concept)).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["results"][0]["status"], "applied", "{answer}");
        }
    }
    let mut blocker = hold_row(&env, task, items[0]).await;
    let before = proxy.counts().0;
    let first = sync(0, label(0, "first", items[0], "cat"));
    let rest = items[1..4]
        .iter()
        .zip(concepts)
        .flat_map(|(item, answers)| {
            (0..3).map(move |w| sync(w, label(w, "group", *item, answers[w])))
        })
        .collect();
    let answers = queued_behind_a_held_row(&mut blocker, first, rest).await;
    // Ten first reads, the first label alone (five or six with `BEGIN` and `COMMIT`), then the
    // group: three rounds of a seat read, the write and the results, with `BEGIN` and `COMMIT`
    // (eleven, twelve with the finished check); background work adds about one a second. Label
    // by label it was 47.
    assert_written_together(proxy.counts().0 - before, 36);
    for (status, answer) in answers {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["results"][0]["status"], "applied", "{answer}");
    }
    let conn = &mut blocker;
    let mut states = Vec::new();
    for n in 0..3 {
        let (grouped, alone) = (items[1 + n], items[4 + n]);
        let row = item_row(conn, task, grouped).await;
        let reference = item_row(conn, task, alone).await;
        assert_eq!(row, reference, "item {grouped} against {alone}");
        assert_eq!(
            (row.labeled, row.covered),
            (3, 3),
            "item {grouped}: {row:?}"
        );
        states.push(row.state);
    }
    assert_eq!(states, ["auto_approved", "auto_approved", "needs_review"]);
    let submitted: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM seats WHERE task_id = $1 AND item_id = ANY($2) AND state = 'submitted'",
    )
    .bind(task)
    .bind(&items[..])
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(submitted, 19, "seats submitted");
    env.stop().await;
}

/// An item's result row in a task, as stored.
#[derive(Debug, PartialEq)]
struct ItemRow {
    state: String,
    result: Option<String>,
    labeled: i64,
    covered: i64,
    confidence: Option<f64>,
    target: Option<i64>,
    step: i64,
    method: Option<String>,
}

/// `item`'s result row in `task`.
async fn item_row(conn: &mut sqlx::postgres::PgConnection, task: i64, item: i64) -> ItemRow {
    type Columns = (
        String,
        Option<String>,
        i64,
        i64,
        Option<f64>,
        Option<i64>,
        i64,
        Option<String>,
    );
    let (state, result, labeled, covered, confidence, target, step, method): Columns =
        sqlx::query_as(
            "SELECT state, result, labeled, covered, confidence, target, step, method \
             FROM task_items WHERE task_id = $1 AND item_id = $2",
        )
        .bind(task)
        .bind(item)
        .fetch_one(conn)
        .await
        .unwrap();
    ItemRow {
        state,
        result,
        labeled,
        covered,
        confidence,
        target,
        step,
        method,
    }
}

/// Fails unless the `statements` a test's labels took stay within `limit`: a group that went
/// label by label takes more.
fn assert_written_together(statements: u64, limit: u64) {
    eprintln!("{statements} statements for the labels");
    assert!(
        statements <= limit,
        "{statements} statements: the group went label by label"
    );
}

/// A lane never waits long for a row another transaction holds: the group gives way after
/// the lock wait (100 ms by default), its label goes back to its own request, which waits for
/// the row alone, and the lane goes on. Here a label on an item whose row is held for three
/// seconds does not hold up a label on another item of its lane, which is answered while the
/// row is still held; the first is applied once the row is free.
#[tokio::test]
async fn a_label_waiting_for_a_held_row_does_not_hold_up_its_lane_on_postgres() {
    let Some(Counted {
        env, task, token, ..
    }) = counted(40, &[]).await
    else {
        return;
    };
    let (lease, items) = one_lanes_items(&env, &token, task, 2).await;
    let mut blocker = hold_row(&env, task, items[0]).await;
    let label = |item: i64| {
        let op = submit(&format!("w-{item}"), task, item, lease, "cat");
        env.call(&token, "POST", "/sync", Some(json!({"ops": [op]})))
    };
    let start = std::time::Instant::now();
    let waiting = label(items[0]);
    let other = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let answer = label(items[1]).await;
        (answer, start.elapsed())
    };
    let release = async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        sqlx::query("COMMIT").execute(&mut blocker).await.unwrap();
        start.elapsed()
    };
    let (waited, (other, answered_at), released_at) = tokio::join!(waiting, other, release);
    for (status, answer) in [&waited, &other] {
        assert_eq!(*status, 200, "{answer}");
        assert_eq!(answer["results"][0]["status"], "applied", "{answer}");
    }
    assert!(
        answered_at < released_at,
        "the other label was answered at {answered_at:?}, after the row was freed at \
         {released_at:?}: the lane waited for the held row"
    );
    env.stop().await;
}

/// A claim whose request is dropped while its `COMMIT` waits for a deferred write's statement to
/// be prepared (a round trip, before the `COMMIT` is sent) is rolled back: its connection must
/// not go back to the pool inside the transaction, holding its locks, for the next claim on it
/// to commit along with its own work.
#[tokio::test]
async fn a_claim_dropped_while_committing_is_rolled_back_on_postgres() {
    use sqlx::Connection;
    use std::future::Future;
    use std::task::{Context, Waker};
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    // A statement text this connection has never prepared.
    let (db, tx) = open_claim_with_deferred_write(
        &env,
        "UPDATE tasks SET name = name WHERE id = $1 AND 'dropped' <> ''",
    )
    .await;
    let mut commit = Box::pin(tx.commit());
    let polled = commit
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert!(polled.is_pending(), "the prepare is a round trip away");
    drop(commit);
    let mut admin = sqlx::postgres::PgConnection::connect(env.db_url())
        .await
        .unwrap();
    let mut open = -1_i64;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        open = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state LIKE 'idle in transaction%'",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if open == 0 {
            break;
        }
    }
    assert_eq!(open, 0, "a dropped claim left its transaction open");
    drop(db);
    env.stop().await;
}

/// A deferred write waits for the next statement that is sent: a statement that fails before
/// it is sent (its prepare) does not take the write with it, so the claim's `COMMIT` still
/// answers for the write, and here reports the failed transaction instead of a success.
#[tokio::test]
async fn a_deferred_write_is_not_lost_to_a_statement_that_failed_to_prepare_on_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let (db, mut tx) =
        open_claim_with_deferred_write(&env, "UPDATE tasks SET name = name WHERE id = $1").await;
    let bad = quorum_server::sql::query("SELECT no_such_column FROM tasks")
        .fetch_all(&mut tx)
        .await;
    assert!(bad.is_err(), "the statement cannot be prepared");
    assert!(
        tx.commit().await.is_err(),
        "a transaction that failed must not commit as a success"
    );
    drop(db);
    env.stop().await;
}

/// A claim on `env`'s database with its transaction begun and `write` (one parameter, given
/// -1) deferred; the `Db` it came from, to keep while the claim is used.
async fn open_claim_with_deferred_write(
    env: &Env,
    write: &str,
) -> (quorum_server::db::Db, quorum_server::store::Tx) {
    let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
    let mut tx = db.claim().await.unwrap();
    quorum_server::sql::query("SELECT 1 AS one")
        .fetch_all(&mut tx)
        .await
        .unwrap();
    quorum_server::sql::query(write)
        .bind(-1)
        .execute_deferred(&mut tx)
        .await
        .unwrap();
    (db, tx)
}
