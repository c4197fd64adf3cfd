//! Archives of big tasks: written after their tasks close, outside the transaction that closes
//! them, into the media store; not downloadable nor deletable until written; finished by the
//! sweep when their writer died.

use super::support::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A project whose dataset holds `n` text items, uploaded as one NDJSON import job; returns
/// (project, dataset).
async fn project_with_many_items(env: &Env, n: usize) -> (i64, i64) {
    let (project, dataset) = env.project_and_dataset(json!({"name": "big"})).await;
    let mut ndjson = String::with_capacity(n * 48);
    for i in 0..n {
        ndjson.push_str(&format!(
            "{{\"external_id\":\"e{i}\",\"data\":\"row {i} of a big dataset\"}}\n"
        ));
    }
    let (s, v) = env
        .raw(
            ADMIN,
            "POST",
            &format!("/datasets/{dataset}/items"),
            "application/x-ndjson",
            &ndjson,
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let done = env.wait_job(ADMIN, v["job_id"].as_i64().unwrap()).await;
    assert_eq!(done["status"], "complete", "{done}");
    (project, dataset)
}

/// The raw bytes of archive `archive`'s download, with its status.
async fn download(env: &Env, archive: i64) -> (u16, Vec<u8>) {
    let resp = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/archives/{archive}/download",
            env.server.url
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

/// Archiving a big task kept SQLite's one write lock while it read every item and built the
/// whole archive in memory: every lease and label on the server waited for it. A lease on
/// another task must be answered while the archive's file is still being written.
#[tokio::test]
async fn archiving_a_big_task_holds_up_no_other_work() {
    on_each_backend(|env| async move {
        const ITEMS: usize = 60_000;
        let (project, dataset) = project_with_many_items(&env, ITEMS).await;
        let big = env.pull_task(project, dataset, &[], 1, json!({})).await;
        let (small_project, small_dataset) = env.project_with_items(5).await;
        let (worker, token) = env.user("busy-worker", small_project, &["annotator"]).await;
        let other = env
            .pull_task(small_project, small_dataset, &[worker], 1, json!({}))
            .await;

        let started = Instant::now();
        let archiving = {
            let (url, http) = (env.server.url.clone(), reqwest::Client::new());
            tokio::spawn(async move {
                let out: Value = http
                    .post(format!("{url}/api/v1/tasks/archive"))
                    .bearer_auth(ADMIN)
                    .json(&json!({"ids": [big]}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                (out, started.elapsed())
            })
        };
        // Well into the archive (its tasks close in moments; its file takes longer).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let asked = Instant::now();
        let (s, v) = env
            .call(&token, "POST", &format!("/tasks/{other}/batches"), Some(json!({})))
            .await;
        let lease_took = asked.elapsed();
        assert_eq!(s, 200, "{v}");
        let (out, archive_took) = archiving.await.unwrap();
        eprintln!(
            "on {}: archive of {ITEMS} items {archive_took:?}, a lease meanwhile {lease_took:?}",
            env.backend
        );
        assert!(
            archive_took > Duration::from_millis(600),
            "the archive must outlast the lease's start for the test to say anything: {archive_took:?}"
        );
        // Waiting for the archive, a lease took most of it (1.53 s of 1.84 s at 40,000 items);
        // alone, milliseconds: half leaves room for a busy machine.
        assert!(
            lease_took * 2 < archive_took,
            "a lease on another task waited for the archive: {lease_took:?} of {archive_took:?}"
        );

        assert_eq!(out["archives"][0]["ready"], true, "{out}");
        let archive = out["archives"][0]["id"].as_i64().unwrap();
        let (s, body) = download(&env, archive).await;
        assert_eq!(s, 200);
        let content: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(content["project_id"], project);
        assert_eq!(content["tasks"][0]["id"], big);
        assert_eq!(content["tasks"][0]["status"], "open", "the status before archiving");
        let items = content["tasks"][0]["items"].as_array().unwrap();
        assert_eq!(items.len(), ITEMS);
        assert_eq!(items[7]["data"], "row 7 of a big dataset");
        env
    })
    .await;
}

/// A writer that died after closing the tasks leaves the archive in writing: it does not
/// download, its tasks (the only copy) are not deleted, and a sweep writes the same file.
#[tokio::test]
async fn an_archive_left_in_writing_is_finished_by_the_sweep() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (worker, token) = env.user("arch-w", project, &["annotator"]).await;
        let task = env
            .pull_task(project, dataset, &[worker], 1, json!({"name": "kept"}))
            .await;
        let (lease, items) = lease_batch(&env, &token, task).await;
        let ops: Vec<Value> = items
            .iter()
            .enumerate()
            .map(|(n, item)| submit(&format!("w{n}"), task, *item, lease, "dog"))
            .collect();
        env.ok(&token, "POST", "/sync", Some(json!({"ops": ops})))
            .await;
        let out = env
            .ok(
                ADMIN,
                "POST",
                "/tasks/archive",
                Some(json!({"ids": [task]})),
            )
            .await;
        assert_eq!(out["archives"][0]["ready"], true, "{out}");
        let archive = out["archives"][0]["id"].as_i64().unwrap();
        let (s, written) = download(&env, archive).await;
        assert_eq!(s, 200);
        let content: Value = serde_json::from_slice(&written).unwrap();
        let items = content["tasks"][0]["items"].as_array().unwrap();
        assert_eq!(items.len(), 4, "{content}");
        assert!(
            items
                .iter()
                .all(|i| i["labels"][0]["value"]["concept"] == "dog"),
            "{content}"
        );

        // As if the writer died right after the tasks closed (the sweep leaves a young
        // archive to its writer).
        let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
        let set = |sql: String| {
            let db = db.clone();
            async move {
                let mut w = db.write().await.unwrap();
                sqlx::query(&sql).execute(&mut *w.tx).await.unwrap();
                w.commit().await.unwrap();
            }
        };
        set(format!(
            "UPDATE archives SET writing = 1, file_sha = NULL WHERE id = {archive}"
        ))
        .await;
        let history = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/archives"), None)
            .await;
        assert_eq!(history["archives"][0]["ready"], false, "{history}");
        let (s, body) = download(&env, archive).await;
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (409, Some("archive_writing")),
            "{body}"
        );
        let (s, v) = env
            .call(ADMIN, "DELETE", &format!("/tasks/{task}"), None)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("archive_writing")),
            "{v}"
        );
        assert_eq!(
            env.ok(ADMIN, "GET", &format!("/tasks/{task}"), None).await["status"],
            "archived"
        );

        // Its writer is long gone: the sweep (every second in tests) writes it.
        set(format!(
            "UPDATE archives SET created_at = created_at - 3600000 WHERE id = {archive}"
        ))
        .await;
        let mut ready = false;
        for _ in 0..100 {
            let history = env
                .ok(ADMIN, "GET", &format!("/projects/{project}/archives"), None)
                .await;
            if history["archives"][0]["ready"] == true {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "the sweep did not write the archive");
        assert_eq!(download(&env, archive).await, (200, written));
        env.ok(ADMIN, "DELETE", &format!("/tasks/{task}"), None)
            .await;
        // The archive outlives its task.
        assert_eq!(download(&env, archive).await.0, 200);
        env
    })
    .await;
}

/// A delete that waited for an archive under way (on PostgreSQL for the rows the archive
/// holds, on SQLite for the write lock) must see that archive once it commits: the task is
/// then the only copy of what the archive's file will hold. Checked before its writes, the
/// delete found no archive on PostgreSQL and removed everything.
#[tokio::test]
async fn a_delete_that_waited_for_an_archive_is_refused() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(3).await;
        let task = env.pull_task(project, dataset, &[], 1, json!({})).await;
        let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        // An archive as its close leaves it just before committing.
        let mut w = db.write().await.unwrap();
        let archive: i64 = sqlx::query_scalar(&format!(
            "INSERT INTO archives (project_id, created_at, task_count, content, writing) \
             VALUES ({project}, {now}, 1, '{{}}', 1) RETURNING id"
        ))
        .fetch_one(&mut *w.tx)
        .await
        .unwrap();
        sqlx::query(&format!(
            "UPDATE tasks SET status = 'archived', archive_id = {archive} WHERE id = {task}"
        ))
        .execute(&mut *w.tx)
        .await
        .unwrap();
        let commit_later = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            w.commit().await.unwrap();
        };
        let path = format!("/tasks/{task}");
        let ((), (s, v)) = tokio::join!(commit_later, env.call(ADMIN, "DELETE", &path, None));
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("archive_writing")),
            "{v}"
        );
        let kept = env.ok(ADMIN, "GET", &format!("/tasks/{task}"), None).await;
        assert_eq!(kept["counts"]["items"], 3, "{kept}");
        env
    })
    .await;
}

/// Aggregation revises results without a lease: on an archived task it would change what the
/// archive froze.
#[tokio::test]
async fn an_archived_task_is_not_aggregated() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(3).await;
        let task = env.pull_task(project, dataset, &[], 1, json!({})).await;
        env.ok(
            ADMIN,
            "POST",
            "/tasks/archive",
            Some(json!({"ids": [task]})),
        )
        .await;
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                &format!("/tasks/{task}/aggregate"),
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("task_archived")),
            "{v}"
        );
        env
    })
    .await;
}
