//! Concurrency: 50 pullers on one task never exceed overlap nor get an item twice; the same on
//! two server processes sharing one PostgreSQL database.

use crate::support::{item_ids, on_each_backend, postgres_url, submit, Env, ADMIN};
use quorum_core::ids::{ItemId, TaskId};
use quorum_server::invariants;
use quorum_server::loadgen::Acked;
use quorum_testkit::ServerProcess;
use serde_json::json;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// Each worker pulls and labels until no work is left, through `urls` in turn.
async fn swarm(urls: &[String], task: i64, tokens: Vec<(i64, String)>) -> Vec<Acked> {
    let http = reqwest::Client::new();
    let urls = Arc::new(urls.to_vec());
    let mut handles = vec![];
    for (n, (worker, token)) in tokens.into_iter().enumerate() {
        let http = http.clone();
        let urls = urls.clone();
        handles.push(tokio::spawn(async move {
            let base = &urls[n % urls.len()];
            let mut acked = vec![];
            let mut seen = HashSet::new();
            for round in 0.. {
                let batch: serde_json::Value = http
                    .post(format!("{base}/api/v1/tasks/{task}/batches"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let items: Vec<i64> = batch["items"]
                    .as_array()
                    .unwrap_or_else(|| panic!("not a batch: {batch}"))
                    .iter()
                    .map(|i| i["item_id"].as_i64().unwrap())
                    .collect();
                if items.is_empty() {
                    break;
                }
                let lease = batch["lease_id"].as_i64().unwrap();
                let mut ops = vec![];
                for item in items {
                    assert!(seen.insert(item), "worker {worker} got item {item} twice");
                    ops.push(submit(
                        &format!("w{worker}-{round}-{item}"),
                        task,
                        item,
                        lease,
                        "cat",
                    ));
                }
                let r: serde_json::Value = http
                    .post(format!("{base}/api/v1/sync"))
                    .bearer_auth(&token)
                    .json(&json!({"ops": ops}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                for (op, res) in ops.iter().zip(r["results"].as_array().unwrap()) {
                    assert_eq!(res["status"], "applied", "{res}");
                    acked.push(Acked {
                        worker,
                        item: ItemId(op["action"]["item_id"].as_i64().unwrap()),
                        client_op_id: op["client_op_id"].as_str().unwrap().to_owned(),
                    });
                }
            }
            acked
        }));
    }
    let mut all = vec![];
    for h in handles {
        all.extend(h.await.expect("worker"));
    }
    all
}

async fn check(env: &Env, task: i64, acked: &[Acked], items: u64, overlap: u64) {
    let v = invariants::check(env.db_url(), TaskId(task), acked)
        .await
        .unwrap();
    assert_eq!(v.total(), 0, "{v:?} on {}", env.backend);
    assert_eq!(
        acked.len() as u64,
        items * overlap,
        "every seat labeled once"
    );
    let full = invariants::fully_covered_items(env.db_url(), TaskId(task))
        .await
        .unwrap();
    assert_eq!(full, items);
}

#[tokio::test]
async fn fifty_pullers_never_exceed_overlap() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(120).await;
        let mut tokens = vec![];
        for n in 0..50 {
            tokens.push(env.user(&format!("w{n}"), project, &["annotator"]).await);
        }
        let ids: Vec<i64> = tokens.iter().map(|(id, _)| *id).collect();
        let task = env.pull_task(project, dataset, &ids, 3, json!({"worker_strategy": {"type": "pull", "batch_size": 4, "workers_per_input": 3}})).await;
        let acked = swarm(std::slice::from_ref(&env.server.url), task, tokens).await;
        check(&env, task, &acked, 120, 3).await;
        env
    })
    .await;
}

#[tokio::test]
async fn two_servers_share_one_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run the two-server test");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let second = ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_quorum")), env.db_url())
        .await
        .unwrap();
    let (project, dataset) = env.project_with_items(80).await;
    let mut tokens = vec![];
    for n in 0..20 {
        tokens.push(env.user(&format!("w{n}"), project, &["annotator"]).await);
    }
    let ids: Vec<i64> = tokens.iter().map(|(id, _)| *id).collect();
    let task = env.pull_task(project, dataset, &ids, 2, json!({})).await;
    let urls = vec![env.server.url.clone(), second.url.clone()];
    let acked = swarm(&urls, task, tokens).await;
    check(&env, task, &acked, 80, 2).await;
    second.kill().await.ok();
    env.stop().await;
}

/// No lock is shared by all claims of a task (PostgreSQL). Another transaction holds the task's
/// row the way a write to it does (every label used to write it, and every claim locked it) and
/// the row of the next item in line; meanwhile a lease takes other items and a label on another
/// item is applied, neither waiting for that transaction.
#[tokio::test]
async fn claims_on_other_items_do_not_wait_for_held_rows() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run the row-lock test");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let (project, dataset) = env.project_with_items(20).await;
    let a = env.user("a", project, &["annotator"]).await;
    let b = env.user("b", project, &["annotator"]).await;
    let task = env
        .pull_task(
            project,
            dataset,
            &[a.0, b.0],
            1,
            json!({"worker_strategy": {"type": "pull", "batch_size": 2, "workers_per_input": 1}}),
        )
        .await;
    let batches = format!("/tasks/{task}/batches");
    let first = env.ok(&a.1, "POST", &batches, None).await;
    let mine = item_ids(&first);
    assert_eq!(mine.len(), 2, "{first}");

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(env.db_url())
        .await
        .unwrap();
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("SELECT id FROM tasks WHERE id = $1 FOR NO KEY UPDATE")
        .bind(task)
        .execute(&mut *holder)
        .await
        .unwrap();
    let next: i64 = sqlx::query_scalar(
        "SELECT item_id FROM task_items WHERE task_id = $1 AND covered < 1 \
         ORDER BY priority DESC, covered DESC, order_key, item_id LIMIT 1 FOR UPDATE",
    )
    .bind(task)
    .fetch_one(&mut *holder)
    .await
    .unwrap();

    let wait = std::time::Duration::from_secs(5);
    let second = tokio::time::timeout(wait, env.ok(&b.1, "POST", &batches, None))
        .await
        .expect("a lease waited for a lock on the task's row or on another item's row");
    let theirs = item_ids(&second);
    assert_eq!(theirs.len(), 2, "{second}");
    assert!(
        !theirs.contains(&next),
        "the held item {next} was handed out"
    );
    assert!(theirs.iter().all(|i| !mine.contains(i)));
    let lease = first["lease_id"].as_i64().unwrap();
    let op = submit("a-1", task, mine[0], lease, "cat");
    let synced = tokio::time::timeout(
        wait,
        env.ok(&a.1, "POST", "/sync", Some(json!({ "ops": [op] }))),
    )
    .await
    .expect("a label waited for a lock on the task's row");
    assert_eq!(synced["results"][0]["status"], "applied", "{synced}");

    holder.rollback().await.unwrap();
    env.stop().await;
}

/// An archive marks its tasks archived and then locks every item row of theirs before it reads
/// what it keeps. Work that waited for one of those rows goes on after the archive committed,
/// having read the task before it: a label, a revision, a review and a skip must then find the
/// task archived (`task_closed`) and change nothing, or the archive would miss them and an
/// archived task would change under it. Labels are tried both ways they can wait: alone, after
/// their lane's group gave way (a 1 ms lock wait), and in the group (a long one).
#[tokio::test]
async fn work_waiting_behind_an_archive_is_refused_on_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run the archive race test");
        return;
    };
    for wait in ["1", "60000"] {
        let extra = &["--label-lock-wait-ms", wait][..];
        let env = Env::start_routed_with(&pg, str::to_owned, extra).await;
        refused_behind_an_archive(&env, extra).await;
        env.stop().await;
    }
}

async fn refused_behind_an_archive(env: &Env, extra: &[&str]) {
    let (project, dataset) = env.project_with_items(10).await;
    let (worker, token) = env.user("a", project, &["annotator"]).await;
    let task = env
        .pull_task(project, dataset, &[worker], 1, json!({}))
        .await;
    let batch = env
        .ok(&token, "POST", &format!("/tasks/{task}/batches"), None)
        .await;
    let lease = batch["lease_id"].as_i64().unwrap();
    let items = item_ids(&batch);
    let (revised, labeled, reviewed, skipped) = (items[0], items[1], items[2], items[3]);
    let first = [
        submit("first-0", task, revised, lease, "cat"),
        submit("first-2", task, reviewed, lease, "cat"),
    ];
    let done = env
        .ok(&token, "POST", "/sync", Some(json!({ "ops": first })))
        .await;
    assert!(
        done["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "applied"),
        "{done}"
    );
    let pool = sqlx::postgres::PgPool::connect(env.db_url()).await.unwrap();
    let before = task_state(&pool, task).await;

    let (mut archive, archive_pid) = archive_held_open(env, task).await;

    let revise = json!({"client_op_id": "revise", "action": {"type": "revise", "task_id": task,
        "item_id": revised, "lease_id": lease, "value": {"type": "classification", "concept": "dog"}}});
    let review = json!({"client_op_id": "review", "action": {"type": "review", "task_id": task,
        "item_id": reviewed, "decision": "reject", "comment": "look again"}});
    let skip = json!({"client_op_id": "skip", "action": {"type": "skip", "task_id": task,
        "item_id": skipped, "lease_id": lease}});
    let send = |who: &'static str, op: serde_json::Value| {
        let token = if who == "admin" {
            ADMIN.to_owned()
        } else {
            token.clone()
        };
        async move {
            env.call(&token, "POST", "/sync", Some(json!({ "ops": [op] })))
                .await
        }
    };
    // Committed once all four wait for the archive's rows, so none is refused by the status it
    // read before waiting.
    let commit = async {
        let waiting = blocked_by(&pool, archive_pid, 4).await;
        sqlx::query("COMMIT").execute(&mut archive).await.unwrap();
        waiting
    };
    let (label, revision, decision, skipping, waiting) = tokio::join!(
        send("worker", submit("late", task, labeled, lease, "cat")),
        send("worker", revise),
        send("admin", review),
        send("worker", skip),
        commit
    );
    assert_eq!(
        waiting, 4,
        "{extra:?}: not all four waited for the archive's rows"
    );
    let answers = [
        ("label", label),
        ("revision", revision),
        ("review", decision),
        ("skip", skipping),
    ];
    let went_through: Vec<String> = answers
        .iter()
        .filter(|(_, (status, answer))| {
            *status != 200 || answer["results"][0]["code"] != "task_closed"
        })
        .map(|(what, (status, answer))| format!("{what}: {status} {answer}"))
        .collect();
    assert!(
        went_through.is_empty(),
        "{extra:?}: not refused after the archive: {went_through:#?}"
    );
    assert_eq!(
        task_state(&pool, task).await,
        before,
        "{extra:?}: the archived task changed"
    );
    pool.close().await;
}

/// A server on a fresh PostgreSQL database with a 10-item pull task (made with `extra`) for one
/// annotator: (env, project, worker, token, task); `None` (the test skipped) without PostgreSQL.
async fn archive_test_task(extra: serde_json::Value) -> Option<(Env, i64, i64, String, i64)> {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run the archive race test");
        return None;
    };
    let env = Env::start(Some(&pg)).await;
    let (project, dataset) = env.project_with_items(10).await;
    let (worker, token) = env.user("a", project, &["annotator"]).await;
    let task = env.pull_task(project, dataset, &[worker], 1, extra).await;
    Some((env, project, worker, token, task))
}

/// A connection that has taken an archive's first steps on `task` (`store::archive::close`: the
/// task marked archived, then its item rows locked) and holds them until it sends `COMMIT`; its
/// backend's pid.
async fn archive_held_open(env: &Env, task: i64) -> (sqlx::postgres::PgConnection, i32) {
    let (mut archive, pid) = transaction(env).await;
    sqlx::query("UPDATE tasks SET status = 'archived' WHERE id = $1")
        .bind(task)
        .execute(&mut archive)
        .await
        .unwrap();
    sqlx::query("SELECT item_id FROM task_items WHERE task_id = $1 FOR UPDATE")
        .bind(task)
        .execute(&mut archive)
        .await
        .unwrap();
    (archive, pid)
}

/// A connection to the test's database with a transaction open on it; its backend's pid.
async fn transaction(env: &Env) -> (sqlx::postgres::PgConnection, i32) {
    use sqlx::Connection;
    let mut conn = sqlx::postgres::PgConnection::connect(env.db_url())
        .await
        .unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    (conn, pid)
}

/// How many backends wait for backend `pid`'s locks, once `want` do or after 10 s.
async fn blocked_by(pool: &sqlx::PgPool, pid: i32, want: i64) -> i64 {
    let mut waiting = 0;
    for _ in 0..500 {
        waiting = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind(pid)
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting >= want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    waiting
}

/// What work on a task changes: its labels, reviews and leases, its seats and its items'
/// counters and results, in a comparable order.
async fn task_state(pool: &sqlx::PgPool, task: i64) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT 'label ' || item_id || ' ' || worker_id || ' ' || consensus_key || ' ' || active \
         FROM annotations WHERE task_id = $1 \
         UNION ALL SELECT 'review ' || item_id || ' ' || decision FROM reviews WHERE task_id = $1 \
         UNION ALL SELECT 'lease ' || id || ' ' || expires_at FROM leases WHERE task_id = $1 \
         UNION ALL SELECT 'seat ' || item_id || ' ' || worker_id || ' ' || state FROM seats \
         WHERE task_id = $1 \
         UNION ALL SELECT 'item ' || item_id || ' ' || covered || ' ' || labeled || ' ' || state \
         || ' ' || COALESCE(result, '-') FROM task_items WHERE task_id = $1 ORDER BY 1",
    )
    .bind(task)
    .fetch_all(pool)
    .await
    .unwrap();
    rows.into_iter().map(|(r,)| r).collect()
}

/// A lease whose claim read the task open, found every item held by an archive and looked again
/// (claims retry while unlocked reading still finds work) must not hand out items once the
/// archive committed: the task is archived by then (`task_closed`), and no lease or seat is
/// written into it.
#[tokio::test]
async fn a_lease_waiting_out_an_archive_is_refused_on_postgres() {
    lease_behind_an_archive(json!({})).await;
}

/// The same for a worker's own seats (a planned task): they are not pulled from the queue with
/// `SKIP LOCKED`, so the claim waits for the archive's rows; then it must see the archive and
/// hand nothing out.
#[tokio::test]
async fn a_lease_of_own_seats_behind_an_archive_is_refused_on_postgres() {
    lease_behind_an_archive(json!({"worker_strategy": {"type": "full"}})).await;
}

/// A lease that resumes a full batch takes none of the worker's waiting seats, so it locks none
/// of their items' rows: here another transaction holds every other item's row (a reviewer's
/// decision or another worker's label would hold one), and the resume answers with the batch
/// the worker holds without waiting for them. The first version of the one read of held and
/// waiting seats locked a whole batch of waiting seats, and waited here.
#[tokio::test]
async fn a_resumed_batch_waits_for_no_other_items_row_on_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run the resume lock test");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let (project, dataset) = env.project_with_items(30).await;
    let (worker, token) = env.user("a", project, &["annotator"]).await;
    let strategy = json!({"worker_strategy": {"type": "full"}});
    let task = env
        .pull_task(project, dataset, &[worker], 1, strategy)
        .await;
    let path = format!("/tasks/{task}/batches");
    let first = env.ok(&token, "POST", &path, Some(json!({}))).await;
    let held = item_ids(&first);
    assert!(!held.is_empty() && held.len() < 30, "{first}");
    let (mut blocker, _) = transaction(&env).await;
    sqlx::query(
        "SELECT item_id FROM task_items WHERE task_id = $1 AND item_id <> ALL($2) FOR UPDATE",
    )
    .bind(task)
    .bind(&held)
    .execute(&mut blocker)
    .await
    .unwrap();
    let resume = env.call(&token, "POST", &path, Some(json!({})));
    let resumed = tokio::time::timeout(std::time::Duration::from_secs(10), resume).await;
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    let (status, again) = resumed.expect("the resume waited for rows of items it does not take");
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["lease_id"], first["lease_id"], "{again}");
    assert_eq!(item_ids(&again), held, "{again}");
    env.stop().await;
}

/// A lease asked for while an archive holds the task's items (of a task made with `extra`), the
/// archive committed 300 ms later: refused `task_closed`, with nothing written into the task.
async fn lease_behind_an_archive(extra: serde_json::Value) {
    let Some((env, _, _, token, task)) = archive_test_task(extra).await else {
        return;
    };
    let pool = sqlx::postgres::PgPool::connect(env.db_url()).await.unwrap();
    let before = task_state(&pool, task).await;
    let (mut archive, _) = archive_held_open(&env, task).await;
    let path = format!("/tasks/{task}/batches");
    let lease = env.call(&token, "POST", &path, None);
    let commit = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sqlx::query("COMMIT").execute(&mut archive).await.unwrap();
    };
    let ((status, answer), ()) = tokio::join!(lease, commit);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("task_closed")),
        "a lease was handed out after the archive: {answer}"
    );
    assert_eq!(
        task_state(&pool, task).await,
        before,
        "the archived task got a lease, seats or coverage"
    );
    pool.close().await;
    env.stop().await;
}

/// `POST /tasks/{id}/status` with `archived` while a claim holds one of the task's items and
/// then writes its lease (whose foreign key check reads the task's row): the archive waits for
/// the claim instead of deadlocking with it, then ends the lease the claim committed
/// meanwhile, so no live lease is left in the archived task.
#[tokio::test]
async fn archiving_by_status_waits_for_a_claim_and_ends_its_lease_on_postgres() {
    let Some((env, _, worker, _, task)) = archive_test_task(json!({})).await else {
        return;
    };
    let pool = sqlx::postgres::PgPool::connect(env.db_url()).await.unwrap();
    let (mut claim, claim_pid) = transaction(&env).await;
    sqlx::query(
        "SELECT item_id FROM task_items WHERE task_id = $1 ORDER BY item_id LIMIT 1 FOR UPDATE",
    )
    .bind(task)
    .execute(&mut claim)
    .await
    .unwrap();
    let path = format!("/tasks/{task}/status");
    let archive = env.call(ADMIN, "POST", &path, Some(json!({"status": "archived"})));
    let finish_claim = async {
        // Once the archive waits for the held item, the claim writes its lease and commits.
        blocked_by(&pool, claim_pid, 1).await;
        let lease = sqlx::query_scalar::<_, i64>(
            "INSERT INTO leases (task_id, worker_id, issued_at, expires_at) \
             VALUES ($1, $2, 0, 4000000000000) RETURNING id",
        )
        .bind(task)
        .bind(worker)
        .fetch_one(&mut claim)
        .await;
        sqlx::query("COMMIT").execute(&mut claim).await.unwrap();
        lease
    };
    let ((status, answer), lease) = tokio::join!(archive, finish_claim);
    let lease = lease.expect("the claim's lease was not written (a deadlock with the archive?)");
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("archived")),
        "{answer}"
    );
    let released: Option<i64> = sqlx::query_scalar("SELECT released_at FROM leases WHERE id = $1")
        .bind(lease)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        released.is_some(),
        "the lease committed while the archive waited is still live"
    );
    pool.close().await;
    env.stop().await;
}

/// Two archives of one task that both read it open: the second waits for the first, then finds
/// the task archived (409 `task_archived`) instead of making a second archive of it.
#[tokio::test]
async fn a_task_is_archived_once_on_postgres() {
    let Some((env, project, _, _, task)) = archive_test_task(json!({})).await else {
        return;
    };
    // The task's row held, so both archives read the task open and then wait to mark it.
    let (mut holder, _) = transaction(&env).await;
    sqlx::query("SELECT id FROM tasks WHERE id = $1 FOR UPDATE")
        .bind(task)
        .execute(&mut holder)
        .await
        .unwrap();
    let archive = || {
        env.call(
            ADMIN,
            "POST",
            "/tasks/archive",
            Some(json!({"ids": [task]})),
        )
    };
    let release = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    };
    let ((s1, a1), (s2, a2), ()) = tokio::join!(archive(), archive(), release);
    let mut statuses = [s1, s2];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a1} {a2}");
    let refused = if s1 == 409 { &a1 } else { &a2 };
    assert_eq!(refused["error"]["code"], "task_archived", "{refused}");
    let history = env
        .ok(ADMIN, "GET", &format!("/projects/{project}/archives"), None)
        .await;
    assert_eq!(
        history["archives"].as_array().unwrap().len(),
        1,
        "the task was archived twice: {history}"
    );
    env.stop().await;
}

/// A seat handed to someone else while a label on it is being stored: the reassign waits for
/// the label and then finds the seat labeled (409), so the label keeps its seat. Before, it
/// read the seat's state without waiting, and its write then gave the labeled seat away.
#[tokio::test]
async fn a_reassign_behind_a_label_leaves_the_labeled_seat_on_postgres() {
    let Some((env, project, worker, token, task)) = archive_test_task(json!({})).await else {
        return;
    };
    let (other, _) = env.user("b", project, &["annotator"]).await;
    let assignees = json!({"assignees": [worker, other]});
    env.ok(ADMIN, "PATCH", &format!("/tasks/{task}"), Some(assignees))
        .await;
    let batch = env
        .ok(&token, "POST", &format!("/tasks/{task}/batches"), None)
        .await;
    let item = item_ids(&batch)[0];
    let pool = sqlx::postgres::PgPool::connect(env.db_url()).await.unwrap();
    // A label under way: its seat and item rows locked, the seat marked submitted.
    let (mut label, label_pid) = transaction(&env).await;
    sqlx::query(
        "SELECT s.state FROM seats s JOIN task_items ti ON ti.task_id = s.task_id \
         AND ti.item_id = s.item_id WHERE s.task_id = $1 AND s.item_id = $2 FOR UPDATE",
    )
    .bind(task)
    .bind(item)
    .execute(&mut label)
    .await
    .unwrap();
    sqlx::query("UPDATE seats SET state = 'submitted' WHERE task_id = $1 AND item_id = $2")
        .bind(task)
        .bind(item)
        .execute(&mut label)
        .await
        .unwrap();
    let path = format!("/tasks/{task}/items/reassign");
    let body = json!({"item_ids": [item], "from": worker, "to": other});
    let reassign = env.call(ADMIN, "POST", &path, Some(body));
    let (status, answer) = answer_behind(&pool, (label, label_pid), reassign).await;
    assert_eq!(status, 409, "a labeled seat was handed over: {answer}");
    let seat: Vec<(i64, String)> =
        sqlx::query_as("SELECT worker_id, state FROM seats WHERE task_id = $1 AND item_id = $2")
            .bind(task)
            .bind(item)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(seat, vec![(worker, "submitted".to_owned())]);
    pool.close().await;
    env.stop().await;
}

/// A spec change that was checked against the task open while an archive was marking it: it
/// waits for the archive and then refuses (409 `task_archived`), so the archived task keeps
/// the definition it was exported with. Before, the checks ran on a read outside the change's
/// transaction, and the change was written over the archived task.
#[tokio::test]
async fn a_spec_change_behind_an_archive_is_refused_on_postgres() {
    let Some((env, _, _, _, task)) = archive_test_task(json!({})).await else {
        return;
    };
    let pool = sqlx::postgres::PgPool::connect(env.db_url()).await.unwrap();
    let (archive, archive_pid) = archive_held_open(&env, task).await;
    let path = format!("/tasks/{task}");
    let rename = env.call(ADMIN, "PATCH", &path, Some(json!({"name": "renamed"})));
    let (status, answer) = answer_behind(&pool, (archive, archive_pid), rename).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("task_archived")),
        "an archived task's spec changed: {answer}"
    );
    let name: String = sqlx::query_scalar("SELECT name FROM tasks WHERE id = $1")
        .bind(task)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "pull task");
    pool.close().await;
    env.stop().await;
}

/// A schema change while the task's first label is being stored: the change waits for the
/// label and then refuses (409 `labels_exist`), so no label is left under a schema it was not
/// checked against. Before, "has labels" was read outside the change's transaction and missed
/// the label in flight.
#[tokio::test]
async fn a_schema_change_behind_a_first_label_is_refused_on_postgres() {
    let Some((env, _, worker, token, task)) = archive_test_task(json!({})).await else {
        return;
    };
    let batch = env
        .ok(&token, "POST", &format!("/tasks/{task}/batches"), None)
        .await;
    let item = item_ids(&batch)[0];
    let pool = sqlx::postgres::PgPool::connect(env.db_url()).await.unwrap();
    // A label under way: inserted, not yet committed.
    let (mut label, label_pid) = transaction(&env).await;
    sqlx::query(
        "INSERT INTO annotations (task_id, item_id, worker_id, lease_id, value, consensus_key, \
         late, counted, created_at) VALUES ($1, $2, $3, $4, \
         '{\"type\":\"classification\",\"concept\":\"cat\"}', 'cat', 0, 1, 0)",
    )
    .bind(task)
    .bind(item)
    .bind(worker)
    .bind(batch["lease_id"].as_i64().unwrap())
    .execute(&mut label)
    .await
    .unwrap();
    let path = format!("/tasks/{task}");
    let schema = json!({"schema": {"annotation_type": "classification", "concepts": ["bird"]}});
    let change = env.call(ADMIN, "PATCH", &path, Some(schema));
    let (status, answer) = answer_behind(&pool, (label, label_pid), change).await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (409, Some("labels_exist")),
        "the schema changed under a label: {answer}"
    );
    pool.close().await;
    env.stop().await;
}

/// `request`'s answer, sent while `held` (a connection and its backend's pid) holds rows the
/// request needs: `held` commits once the request waits for it.
async fn answer_behind(
    pool: &sqlx::PgPool,
    (mut held, pid): (sqlx::postgres::PgConnection, i32),
    request: impl std::future::Future<Output = (u16, serde_json::Value)>,
) -> (u16, serde_json::Value) {
    let commit = async {
        blocked_by(pool, pid, 1).await;
        sqlx::query("COMMIT").execute(&mut held).await.unwrap();
    };
    let (answer, ()) = tokio::join!(request, commit);
    answer
}

/// A first label checked against the task's schema, then held up at its item while the
/// schema changes (allowed: the task has no label yet): it is checked again against the new
/// schema, which it no longer fits (`invalid_label`), and nothing is stored. Before, it was
/// stored under a schema it was never checked against.
#[tokio::test]
async fn a_label_checked_against_an_old_schema_is_checked_again_on_postgres() {
    let Some((env, _, _, token, task)) = archive_test_task(json!({})).await else {
        return;
    };
    let batch = env
        .ok(&token, "POST", &format!("/tasks/{task}/batches"), None)
        .await;
    let item = item_ids(&batch)[0];
    let lease = batch["lease_id"].as_i64().unwrap();
    let pool = sqlx::postgres::PgPool::connect(env.db_url()).await.unwrap();
    let (mut holder, holder_pid) = transaction(&env).await;
    sqlx::query("SELECT item_id FROM task_items WHERE task_id = $1 AND item_id = $2 FOR UPDATE")
        .bind(task)
        .bind(item)
        .execute(&mut holder)
        .await
        .unwrap();
    let ops = json!({"ops": [submit("cat-1", task, item, lease, "cat")]});
    let label = env.call(&token, "POST", "/sync", Some(ops));
    let change_then_release = async {
        blocked_by(&pool, holder_pid, 1).await;
        let schema = json!({"schema": {"annotation_type": "classification", "concepts": ["bird"]}});
        let changed = env
            .call(ADMIN, "PATCH", &format!("/tasks/{task}"), Some(schema))
            .await;
        sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
        changed
    };
    let ((status, answer), (changed, _)) = tokio::join!(label, change_then_release);
    assert_eq!(
        changed, 200,
        "the schema change (no labels yet) goes through"
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["results"][0]["code"], "invalid_label",
        "the label was stored under a schema it was not checked against: {answer}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM annotations WHERE task_id = $1")
        .bind(task)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    pool.close().await;
    env.stop().await;
}
