//! Costs that must grow with the request, not with the database: uploads into a big dataset,
//! and pages that show many tasks at once (their counts are read for all of them together).

use crate::support::{item_ids, lease_batch, on_each_backend, postgres_url, submit, Env, ADMIN};
use serde_json::{json, Value};
use sqlx::Connection;

/// Rows of `items` PostgreSQL has read so far (sequential and index reads), once the server's
/// statistics show `inserted` rows written: each chunk's reads and writes commit together, so
/// seeing the writes means seeing the reads.
async fn items_read(url: &str, inserted: i64) -> i64 {
    let mut conn = sqlx::postgres::PgConnection::connect(url).await.unwrap();
    for _ in 0..300 {
        let (ins, read): (i64, i64) = sqlx::query_as(
            "SELECT n_tup_ins, COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) \
             FROM pg_stat_user_tables WHERE relname = 'items'",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if ins >= inserted {
            return read;
        }
        // Server processes publish their counters about once a second.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the statistics never showed {inserted} items inserted");
}

async fn upload(env: &Env, dataset: i64, from: usize, to: usize) {
    let body: String = (from..to)
        .map(|i| format!("{{\"external_id\":\"s{i}\",\"data\":\"item {i}\"}}\n"))
        .collect();
    upload_ndjson(env, dataset, &body).await;
}

async fn upload_ndjson(env: &Env, dataset: i64, body: &str) {
    let (status, v) = env
        .raw(
            ADMIN,
            "POST",
            &format!("/datasets/{dataset}/items"),
            "application/x-ndjson",
            body,
        )
        .await;
    assert!(status == 200 || status == 202, "{status} {v}");
    if let Some(job) = v["job_id"].as_i64() {
        let job = env.wait_job(ADMIN, job).await;
        assert_eq!(job["status"], "complete", "{job}");
    }
}

/// An upload looks up its own external ids, whatever the dataset holds. On PostgreSQL the
/// lookup's prepared statement got a generic plan while the dataset was empty, which filtered
/// every item of the dataset for each chunk of 1,000 rows: uploads slowed as the dataset grew.
#[tokio::test]
async fn uploads_into_a_big_dataset_read_only_their_own_rows_on_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let (_, dataset) = env.project_and_dataset(json!({"name": "big"})).await;
    // Chunks of 1,000 rows while the dataset is still small: each connection's lookup runs
    // often enough for PostgreSQL to settle on a plan.
    for n in 0..8 {
        upload(&env, dataset, n * 1_000, n * 1_000 + 1_000).await;
    }
    upload(&env, dataset, 8_000, 30_000).await;
    let before = items_read(env.db_url(), 30_000).await;
    // 20 chunks into a dataset of 30,000 items; their rows are new, so nothing matches.
    upload(&env, dataset, 30_000, 50_000).await;
    let read = items_read(env.db_url(), 50_000).await - before;
    assert!(
        read <= 20_000,
        "an upload of 20,000 new rows read {read} stored rows of the dataset"
    );
    // Uploading the same rows again reads each once and changes nothing.
    upload(&env, dataset, 30_000, 50_000).await;
    env.stop().await;
}

fn find(tasks: &Value, id: i64) -> &Value {
    tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("task {id} not in {tasks}"))
}

/// The task list and `/me/tasks` read the counts of all their tasks at once; each task still
/// gets its own.
#[tokio::test]
async fn task_pages_count_each_task_on_its_own() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "pages"})).await;
        upload(&env, dataset, 0, 12).await;
        let (annotator, token) = env.user("ann", project, &["annotator"]).await;
        let all = env
            .pull_task(project, dataset, &[annotator], 1, json!({}))
            .await;
        let items = env
            .ok(
                ADMIN,
                "GET",
                &format!("/projects/{project}/items?limit=4"),
                None,
            )
            .await;
        let some: Vec<i64> = items["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        let few = env
            .pull_task(
                project,
                dataset,
                &[annotator],
                1,
                json!({"input": {"type": "item_ids", "item_ids": some}}),
            )
            .await;
        let untouched = env
            .pull_task(
                project,
                dataset,
                &[annotator],
                1,
                json!({"input": {"type": "item_ids", "item_ids": [some[0]]}}),
            )
            .await;

        // Five items leased in the big task, two of them labeled; one leased in the small one.
        let batch = env
            .ok(&token, "POST", &format!("/tasks/{all}/batches"), None)
            .await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let held = item_ids(&batch);
        assert_eq!(held.len(), 5, "{batch}");
        let ops: Vec<Value> = held[..2]
            .iter()
            .enumerate()
            .map(|(n, item)| submit(&format!("op{n}"), all, *item, lease, "cat"))
            .collect();
        env.ok(&token, "POST", "/sync", Some(json!({"ops": ops})))
            .await;
        let small = env
            .ok(&token, "POST", &format!("/tasks/{few}/batches"), None)
            .await;
        assert_eq!(item_ids(&small).len(), 4, "{small}");

        let list = env
            .ok(ADMIN, "GET", &format!("/tasks?project_id={project}"), None)
            .await;
        for (task, items, labeled) in [(all, 12, 2), (few, 4, 0), (untouched, 1, 0)] {
            let counts = &find(&list, task)["counts"];
            assert_eq!(counts["items"], items, "task {task}: {counts}");
            assert_eq!(counts["labeled"], labeled, "task {task}: {counts}");
        }

        let mine = env.ok(&token, "GET", "/me/tasks", None).await;
        for (task, done, leased, available) in
            [(all, 2, 3, 7), (few, 0, 4, 0), (untouched, 0, 0, 1)]
        {
            let p = &find(&mine, task)["my_progress"];
            assert_eq!(
                (
                    p["done"].as_i64(),
                    p["leased"].as_i64(),
                    p["available"].as_i64()
                ),
                (Some(done), Some(leased), Some(available)),
                "task {task}: {p}"
            );
            let t = find(&mine, task);
            assert!(t.get("seed").is_none(), "an annotator sees no seed: {t}");
        }
        env
    })
    .await;
}

/// PostgreSQL checks no foreign keys on each task item (migration 12); deleting items or tasks
/// by hand still takes their task items with them, as the keys' cascades did.
#[tokio::test]
async fn deleted_items_and_tasks_take_their_task_items_on_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let (project, dataset) = env.project_and_dataset(json!({"name": "keys"})).await;
    upload(&env, dataset, 0, 10).await;
    let first = env.pull_task(project, dataset, &[], 1, json!({})).await;
    let second = env.pull_task(project, dataset, &[], 1, json!({})).await;
    let mut conn = sqlx::postgres::PgConnection::connect(env.db_url())
        .await
        .unwrap();
    let count = |task: i64| format!("SELECT COUNT(*) FROM task_items WHERE task_id = {task}");
    let gone: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM items WHERE dataset_id = $1 ORDER BY id LIMIT 3")
            .bind(dataset)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    sqlx::query("DELETE FROM items WHERE id = ANY($1)")
        .bind(&gone)
        .execute(&mut conn)
        .await
        .unwrap();
    for task in [first, second] {
        let left: i64 = sqlx::query_scalar(&count(task))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(left, 7, "task {task} keeps the 7 items that exist");
    }
    sqlx::query("DELETE FROM tasks WHERE id = $1")
        .bind(first)
        .execute(&mut conn)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar(&count(first))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "a deleted task leaves no task items");
    let kept: i64 = sqlx::query_scalar(&count(second))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, 7, "the other task keeps its items");
    conn.close().await.unwrap();
    env.stop().await;
}

/// Pages of `seats` and its indexes PostgreSQL has read in this transaction so far (this
/// backend's own count, cached or not).
async fn seats_fetched(tx: &mut quorum_server::store::Tx) -> i64 {
    pages_fetched(tx, "seats").await
}

/// Pages of `table` and its indexes PostgreSQL has read in this transaction so far.
async fn pages_fetched(tx: &mut quorum_server::store::Tx, table: &str) -> i64 {
    quorum_server::sql::query_scalar(
        "SELECT CAST(SUM(pg_stat_get_xact_blocks_fetched(oid)) AS BIGINT) FROM pg_class \
         WHERE oid = CAST($1 AS regclass) \
         OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = CAST($1 AS regclass))",
    )
    .bind(table)
    .fetch_one(tx)
    .await
    .unwrap()
}

/// A lease's window, a label's seat read and a batch's item read each fetch a few seats on a
/// new database too, before autovacuum has gathered statistics (it looks once a minute): the
/// planner then read every seat the worker ever held in the task, for each candidate, each
/// label and each batch (`quorum bench load` on PostgreSQL, 750 rows a lookup after 15,000
/// labels, and growing).
#[tokio::test]
async fn claims_read_a_few_seats_however_many_the_worker_holds_on_a_new_database() {
    use quorum_server::store::claims::{self, Lock, Side, Window};
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let mut admin = sqlx::postgres::PgConnection::connect(env.db_url())
        .await
        .unwrap();
    // No statistics on seats, as on a new database, for the whole test.
    sqlx::query("ALTER TABLE seats SET (autovacuum_enabled = false)")
        .execute(&mut admin)
        .await
        .unwrap();
    let (project, dataset) = env.project_with_items(1_200).await;
    let (worker, token) = env.user("busy", project, &["annotator"]).await;
    let task = env
        .pull_task(
            project,
            dataset,
            &[worker],
            1,
            json!({"worker_strategy": {"type": "pull", "batch_size": 500, "workers_per_input": 1}}),
        )
        .await;
    // The worker labels 1,000 items.
    for round in 0..2 {
        let (lease, items) = lease_batch(&env, &token, task).await;
        let ops: Vec<Value> = items
            .iter()
            .map(|item| submit(&format!("p{round}-{item}"), task, *item, lease, "cat"))
            .collect();
        assert_eq!(ops.len(), 500);
        env.ok(&token, "POST", "/sync", Some(json!({ "ops": ops })))
            .await;
    }
    // Other workers' seats, as in a busy task (the plan changes with the table's size).
    sqlx::query(
        "INSERT INTO seats (task_id, item_id, worker_id, state) \
         SELECT $1, g % 750 + 1, 100000 + g / 750, 'submitted' FROM generate_series(0, 14999) g",
    )
    .bind(task)
    .execute(&mut admin)
    .await
    .unwrap();
    let never: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_statistic WHERE starelid = 'seats'::regclass")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(never, 0, "seats must have no statistics yet");
    let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
    let mut tx = db.claim().await.unwrap();
    let window = Window {
        task_id: task,
        overlap: 1,
        most: 1,
        worker,
        limit: 10,
    };
    let before = seats_fetched(&mut tx).await;
    let candidates = claims::candidates(&mut tx, window, Side::All, Lock::Claim)
        .await
        .unwrap();
    assert_eq!(candidates.len(), 10);
    let window_reads = seats_fetched(&mut tx).await - before;
    // The worker's latest labeled items: one seat each.
    let held: Vec<i64> = sqlx::query_scalar(
        "SELECT item_id FROM seats WHERE task_id = $1 AND worker_id = $2 ORDER BY item_id DESC LIMIT 10",
    )
    .bind(task)
    .bind(worker)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let before = seats_fetched(&mut tx).await;
    let seat = quorum_server::store::seats::for_label(&mut tx, task, held[0], worker, 0)
        .await
        .unwrap();
    assert!(seat.is_some());
    let label_reads = seats_fetched(&mut tx).await - before;
    let before = seats_fetched(&mut tx).await;
    let items = claims::batch_items(&mut tx, task, worker, &held)
        .await
        .unwrap();
    assert_eq!(items.len(), 10);
    let batch_reads = seats_fetched(&mut tx).await - before;
    tx.rollback().await.unwrap();
    eprintln!("seats read: window {window_reads}, label {label_reads}, batch {batch_reads}");
    // Bounds sit between these plans (25, 6-7, 41-51 pages) and the scans they replaced (135,
    // 15, 322): where rows land on pages varies from run to run.
    assert!(
        window_reads <= 70 && label_reads <= 12 && batch_reads <= 120,
        "seats read: window {window_reads}, label {label_reads}, batch {batch_reads}"
    );
    env.stop().await;
}

/// A new task's items go into the heap, the primary key and the serving order, and nothing
/// else: the step index holds only items past labeling (migration 19). It took one entry per
/// item, a quarter of a 1M-item task's writes (`quorum bench create`: 6.9 and 7.7 s for the
/// insert with it, 5.3 and 5.5 s without, on a 2-core machine).
#[tokio::test]
async fn a_new_task_writes_no_step_index_entries_on_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let (project, dataset) = env.project_and_dataset(json!({"name": "steps"})).await;
    upload(&env, dataset, 0, 5_000).await;
    let mut conn = sqlx::postgres::PgConnection::connect(env.db_url())
        .await
        .unwrap();
    let size = "SELECT pg_relation_size('task_items_step')";
    let before: i64 = sqlx::query_scalar(size).fetch_one(&mut conn).await.unwrap();
    env.pull_task(project, dataset, &[], 1, json!({})).await;
    let after: i64 = sqlx::query_scalar(size).fetch_one(&mut conn).await.unwrap();
    // An empty B-tree is its metapage; 5,000 entries would be some 30 pages.
    assert!(
        after <= 2 * 8192,
        "the step index grew from {before} to {after} bytes for a new task"
    );
    env.stop().await;
}

/// Scoring a task (progress, quality, aggregation) reads the gold answers of its items. With no
/// index on gold, that joined every item of the task to its row, or scanned every item in the
/// database (1.1 s and 80 ms of a 1M-item task's progress page on PostgreSQL, before and after
/// autovacuum's statistics). From the project's gold items (`items_gold`, migration 20) it reads
/// a few pages when the project holds a little gold; where most items are gold the planner
/// still starts from the task (0.44 s for 200,000 gold items of a 1M-item task, measured).
#[tokio::test]
async fn a_tasks_gold_is_read_from_its_projects_gold_on_postgres() {
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let mut admin = sqlx::postgres::PgConnection::connect(env.db_url())
        .await
        .unwrap();
    let (project, dataset) = env.project_and_dataset(json!({"name": "gold"})).await;
    let gold = r#"{"type":"classification","concept":"cat"}"#;
    let body: String = (0..5_000)
        .map(|i| match i % 2_500 {
            0 => format!("{{\"external_id\":\"g{i}\",\"data\":\"item {i}\",\"gold\":{gold}}}\n"),
            _ => format!("{{\"external_id\":\"g{i}\",\"data\":\"item {i}\"}}\n"),
        })
        .collect();
    upload_ndjson(&env, dataset, &body).await;
    let task = env.pull_task(project, dataset, &[], 1, json!({})).await;
    // Statistics as autovacuum gathers them within a minute of a big change.
    sqlx::query("ANALYZE items, task_items")
        .execute(&mut admin)
        .await
        .unwrap();
    let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
    let mut tx = db.claim().await.unwrap();
    let before = pages_fetched(&mut tx, "items").await + pages_fetched(&mut tx, "task_items").await;
    let read = quorum_server::store::labels::gold(&mut tx, task)
        .await
        .unwrap();
    let pages =
        pages_fetched(&mut tx, "items").await + pages_fetched(&mut tx, "task_items").await - before;
    tx.rollback().await.unwrap();
    assert_eq!(read.len(), 2, "{read:?}");
    assert!(
        pages <= 30,
        "the gold read fetched {pages} pages for 2 gold items"
    );
    env.stop().await;
}

/// A task's counts (the task list, the task page, progress) are kept as its items change, not
/// counted from its items at each read: counting read every item of each task shown (a page of
/// 1M-item tasks took about a second on either backend, and grew with the tasks listed). The
/// kept counts follow labels and reviews, and no page of `task_items` is read to show them.
#[tokio::test]
async fn a_tasks_counts_are_read_without_reading_its_items_on_postgres() {
    use quorum_server::store::progress;
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let (project, dataset) = env.project_with_items(3_000).await;
    let (worker, token) = env.user("counted", project, &["annotator"]).await;
    let task = env
        .pull_task(
            project,
            dataset,
            &[worker],
            1,
            json!({"worker_strategy": {"type": "pull", "batch_size": 7, "workers_per_input": 1}}),
        )
        .await;
    let (lease, items) = lease_batch(&env, &token, task).await;
    let ops: Vec<Value> = items
        .iter()
        .map(|item| submit(&format!("c-{item}"), task, *item, lease, "cat"))
        .collect();
    env.ok(&token, "POST", "/sync", Some(json!({ "ops": ops })))
        .await;
    let shown = env.ok(ADMIN, "GET", &format!("/tasks/{task}"), None).await;
    assert_eq!(shown["counts"]["items"], 3_000, "{shown}");
    assert_eq!(shown["counts"]["labeled"], 7, "{shown}");
    assert_eq!(shown["counts"]["approved"], 7, "{shown}");

    let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
    let mut tx = db.claim().await.unwrap();
    let before = pages_fetched(&mut tx, "task_items").await;
    let counts = progress::counts_of(&mut tx, &[task]).await.unwrap()[&task];
    let read = pages_fetched(&mut tx, "task_items").await - before;
    assert_eq!((counts.items, counts.labeled), (3_000, 7));
    assert_eq!(read, 0, "pages of task_items read for the counts");
    tx.rollback().await.unwrap();
    db.pool().close().await;
    env.stop().await;
}

/// A task's rows of counts fold into one and keep their sum, however many there are (on
/// SQLite a fold takes a share at a time, so the one writer is never held long).
#[tokio::test]
async fn a_tasks_count_rows_fold_into_one_and_keep_their_sum() {
    use quorum_server::store::progress;
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(30).await;
        let task = env.pull_task(project, dataset, &[], 1, json!({})).await;
        let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
        let rows = |task: i64| {
            quorum_server::sql::query_scalar::<i64>(
                "SELECT COUNT(*) FROM task_counts WHERE task_id = $1",
            )
            .bind(task)
        };
        // 45,001 rows: changes that cancel out, two by two, after the task's own row.
        let mut w = db.write().await.unwrap();
        quorum_server::sql::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 45000) \
             INSERT INTO task_counts (task_id, items, labeled, approved, needs_review) \
             SELECT $1, 0, CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END, 0, 0 FROM n",
        )
        .bind(task)
        .execute(&mut w)
        .await
        .unwrap();
        w.commit().await.unwrap();
        assert_eq!(rows(task).fetch_one(&mut db.scan()).await.unwrap(), 45_001);
        quorum_server::api::fold_counts(&db).await.unwrap();
        assert_eq!(rows(task).fetch_one(&mut db.scan()).await.unwrap(), 1);
        let counts = progress::counts(&mut db.scan(), task).await.unwrap();
        assert_eq!((counts.items, counts.labeled), (30, 0), "{counts:?}");
        db.pool().close().await;
        env
    })
    .await;
}

/// The items page of a project just filled by an upload reads its page, not the project: on
/// PostgreSQL without statistics the planner took the new rows for a handful and sorted every
/// item of the project for the first 50 (`quorum bench create`: 541 ms at a million items;
/// `EXPLAIN ANALYZE`: a bitmap scan of 1M rows, 0.35 s, against 0.05 ms once analyzed). An
/// upload of many items refreshes the statistics at its end.
#[tokio::test]
async fn the_items_page_after_a_big_upload_reads_its_page_on_postgres() {
    use quorum_server::store::items::{page, PageFilter};
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let (project, dataset) = env.project_and_dataset(json!({"name": "paged"})).await;
    upload(&env, dataset, 0, 30_000).await;
    let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
    let mut tx = db.claim().await.unwrap();
    let filter = PageFilter {
        dataset_id: None,
        directory: "",
        status: None,
        after: 0,
        limit: 50,
    };
    let before = pages_fetched(&mut tx, "items").await;
    let items = page(&mut tx, project, &filter).await.unwrap();
    let read = pages_fetched(&mut tx, "items").await - before;
    assert_eq!(items.len(), 50);
    assert!(read <= 100, "{read} pages of items read for a page of 50");
    tx.rollback().await.unwrap();
    db.pool().close().await;
    env.stop().await;
}

/// `/me/tasks` counts the items still open to the caller from the open items, the project's
/// gold and the caller's own seats, not item by item: asked "no seat of theirs" for each open
/// item, PostgreSQL without statistics read all the caller's seats in the task for each one
/// (52 s for a 1M-item task where they held 500 seats; `quorum bench create`'s annotator, with
/// no seats, waited 3.7 s).
#[tokio::test]
async fn my_open_items_are_counted_without_reading_my_seats_per_item_on_postgres() {
    use quorum_server::store::progress;
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let mut admin = sqlx::postgres::PgConnection::connect(env.db_url())
        .await
        .unwrap();
    sqlx::query("ALTER TABLE seats SET (autovacuum_enabled = false)")
        .execute(&mut admin)
        .await
        .unwrap();
    let (project, dataset) = env.project_with_items(3_000).await;
    let (worker, _) = env.user("busy", project, &["annotator"]).await;
    let task = env
        .pull_task(project, dataset, &[worker], 1, json!({}))
        .await;
    // The worker went through 400 items (seats written straight in: no counts move).
    sqlx::query(
        "INSERT INTO seats (task_id, item_id, worker_id, state) \
         SELECT $1, item_id, $2, 'skipped' FROM task_items WHERE task_id = $1 \
         ORDER BY item_id LIMIT 400",
    )
    .bind(task)
    .bind(worker)
    .execute(&mut admin)
    .await
    .unwrap();
    let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
    let mut tx = db.claim().await.unwrap();
    let before = pages_fetched(&mut tx, "seats").await;
    let mine = progress::mine(&mut tx, db.backend(), &[task], worker, 0)
        .await
        .unwrap()[&task];
    let read = pages_fetched(&mut tx, "seats").await - before;
    // A tenth of the items are gold; the worker saw 40 of them.
    assert_eq!((mine.open, mine.open_gold), (2_340, 260), "{mine:?}");
    assert!(
        read < 200,
        "{read} pages of seats read to count the open items"
    );
    tx.rollback().await.unwrap();
    db.pool().close().await;
    conn_close(admin).await;
    env.stop().await;
}

async fn conn_close(conn: sqlx::postgres::PgConnection) {
    conn.close().await.unwrap();
}

/// `/me/tasks` stops counting a task's open items once it knows that ten thousand of them are
/// open to the caller (read on a 1M-item task, the count took a second per page load): it says
/// "at least" that many, the same figure however the items move, and exact figures below it.
#[tokio::test]
async fn my_open_items_are_counted_up_to_a_floor() {
    on_each_backend(|env| async move {
        // Gold items (a tenth) are served as any other in a task without honeypots.
        let (project, dataset) = env.project_with_items(12_000).await;
        let (worker, token) = env.user("eager", project, &["annotator"]).await;
        let big = env
            .pull_task(project, dataset, &[worker], 1, json!({}))
            .await;
        // 11,000 items of which 1,100 gold: 9,900 surely open, under the floor, so counted.
        let (middle_project, middle_dataset) = env.project_with_items(11_000).await;
        let (small_project, small_dataset) = env.project_with_items(30).await;
        for project in [small_project, middle_project] {
            env.ok(
                ADMIN,
                "PUT",
                &format!("/projects/{project}/members/{worker}"),
                Some(json!({"roles": ["annotator"]})),
            )
            .await;
        }
        let small = env
            .pull_task(small_project, small_dataset, &[worker], 1, json!({}))
            .await;
        let middle = env
            .pull_task(middle_project, middle_dataset, &[worker], 1, json!({}))
            .await;
        let path = format!("/tasks/{big}/batches");
        let batch = env.ok(&token, "POST", &path, Some(json!({}))).await;
        let progress = |task: i64| {
            let (env, token) = (&env, &token);
            async move {
                let row = env.my_task(token, task).await;
                row.unwrap_or_else(|| panic!("task {task} not in /me/tasks"))["my_progress"].clone()
            }
        };
        assert_eq!(
            progress(big).await,
            json!({"done": 0, "leased": 5, "available": 10_000, "available_at_least": true})
        );
        assert_eq!(
            progress(small).await,
            json!({"done": 0, "leased": 0, "available": 30, "available_at_least": false})
        );
        assert_eq!(
            progress(middle).await,
            json!({"done": 0, "leased": 0, "available": 11_000, "available_at_least": false})
        );
        // The floor stays put while items go: five labeled, five more leased.
        let lease = batch["lease_id"].as_i64().unwrap();
        let ops: Vec<Value> = item_ids(&batch)
            .iter()
            .map(|item| submit(&format!("f-{item}"), big, *item, lease, "cat"))
            .collect();
        env.ok(&token, "POST", "/sync", Some(json!({"ops": ops})))
            .await;
        env.ok(&token, "POST", &path, Some(json!({}))).await;
        assert_eq!(
            progress(big).await,
            json!({"done": 5, "leased": 5, "available": 10_000, "available_at_least": true})
        );
        env
    })
    .await;
}

/// The count that stops at the floor reads about as many items as the floor, not the task:
/// counted to the end, the open items of a 40,000-item task took 12,920 page reads.
#[tokio::test]
async fn my_open_items_stop_being_read_at_the_floor_on_postgres() {
    use quorum_server::store::progress;
    let Some(pg) = postgres_url() else {
        eprintln!("skipped: set QUORUM_TEST_DATABASE_URL to run it");
        return;
    };
    let env = Env::start(Some(&pg)).await;
    let (project, dataset) = env.project_with_items(40_000).await;
    let (worker, _) = env.user("eager", project, &["annotator"]).await;
    let task = env
        .pull_task(project, dataset, &[worker], 1, json!({}))
        .await;
    let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
    let mut tx = db.claim().await.unwrap();
    let before = pages_fetched(&mut tx, "task_items").await;
    let mine = progress::mine(&mut tx, db.backend(), &[task], worker, 0)
        .await
        .unwrap()[&task];
    let read = pages_fetched(&mut tx, "task_items").await - before;
    assert!(
        read < 6_000,
        "{read} pages of task_items read to count the open items of 40,000"
    );
    assert_eq!((mine.open, mine.open_at_least), (10_000, true), "{mine:?}");
    tx.rollback().await.unwrap();
    db.pool().close().await;
    env.stop().await;
}
