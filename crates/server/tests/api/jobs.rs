//! Jobs, exports and the archive: big uploads as jobs, export files, cancel, bulk archive with
//! its history and download, and the auto-archive sweep.

use crate::support::{item_ids, lease_batch, on_each_backend, session_cookie, submit, Env, ADMIN};
use quorum_server::media::sha256_hex;
use serde_json::{json, Value};

/// Labels every item of a one-worker pull task as `concept`; returns how many were labeled.
async fn label_all(env: &Env, token: &str, task: i64, concept: &str) -> usize {
    let mut n = 0;
    loop {
        let batch = env
            .ok(
                token,
                "POST",
                &format!("/tasks/{task}/batches"),
                Some(json!({})),
            )
            .await;
        let items = item_ids(&batch);
        if items.is_empty() {
            return n;
        }
        let lease = batch["lease_id"].as_i64().unwrap();
        let ops: Vec<Value> = items
            .iter()
            .map(|i| submit(&format!("{task}-{i}"), task, *i, lease, concept))
            .collect();
        let out = env
            .ok(token, "POST", "/sync", Some(json!({ "ops": ops })))
            .await;
        assert!(
            out["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["status"] == "applied"),
            "{out}"
        );
        n += items.len();
    }
}

/// A one-worker pull task over 12 items, each labeled "dog" by `worker` (made here): the task
/// and the worker's token.
async fn dogs_task(env: &Env, worker: &str) -> (i64, String) {
    let (project, dataset) = env.project_with_items(12).await;
    let (worker, token) = env.user(worker, project, &["annotator"]).await;
    let task = env
        .pull_task(project, dataset, &[worker], 1, json!({}))
        .await;
    assert_eq!(label_all(env, &token, task, "dog").await, 12);
    (task, token)
}

/// Exports `task` in `format` as the admin and waits for the job to complete: its id.
async fn export(env: &Env, task: i64, format: &str) -> i64 {
    let path = format!("/tasks/{task}/exports");
    let v = env
        .ok(ADMIN, "POST", &path, Some(json!({ "format": format })))
        .await;
    let job = v["job_id"].as_i64().unwrap();
    let done = env.wait_job(ADMIN, job).await;
    assert_eq!(done["status"], "complete", "{format}: {done}");
    job
}

/// `GET /jobs/{job}/result` as the admin, with a `Range` header when given: status, headers and
/// body.
async fn job_file_part(
    env: &Env,
    job: i64,
    range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    job_file_part_if(env, job, range, None).await
}

/// [`job_file_part`] with an `If-Range` header.
async fn job_file_part_if(
    env: &Env,
    job: i64,
    range: Option<&str>,
    if_range: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = reqwest::Client::new()
        .get(format!("{}/api/v1/jobs/{job}/result", env.server.url))
        .bearer_auth(ADMIN);
    if let Some(range) = range {
        req = req.header("range", range);
    }
    if let Some(tag) = if_range {
        req = req.header("if-range", tag);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

/// An export is kept as a file (a million items' export outgrows a row's field) and downloads
/// in ranges, so a broken download of a big one resumes where it stopped; the file is not
/// served as media.
#[tokio::test]
async fn an_export_downloads_in_ranges() {
    on_each_backend(|env| async move {
        let (task, _) = dogs_task(&env, "range-worker").await;
        let job = export(&env, task, "csv").await;

        let (s, head, whole) = job_file_part(&env, job, None).await;
        assert_eq!(s, 200);
        assert_eq!(head["accept-ranges"], "bytes");
        assert_eq!(head["content-type"], "text/csv");
        let disposition = head["content-disposition"].to_str().unwrap();
        assert!(disposition.ends_with(".csv\""), "{disposition}");
        let sha = sha256_hex(&whole);
        assert_eq!(head["etag"], format!("\"{sha}\"").as_str());
        let csv = String::from_utf8(whole.clone()).unwrap();
        assert_eq!(
            csv.lines().count(),
            13,
            "a header and a row per item: {csv}"
        );

        let (s, head, first) = job_file_part(&env, job, Some("bytes=0-9")).await;
        assert_eq!(s, 206, "{}", String::from_utf8_lossy(&first));
        assert_eq!(first, whole[..10]);
        let total = whole.len();
        assert_eq!(head["content-range"], format!("bytes 0-9/{total}").as_str());
        let (s, _, rest) = job_file_part(&env, job, Some("bytes=10-")).await;
        assert_eq!(s, 206);
        assert_eq!([first.clone(), rest].concat(), whole);
        // A resume tied to the file it started (If-Range): the rest only of that same file.
        let tag = format!("\"{sha}\"");
        let (s, _, rest) = job_file_part_if(&env, job, Some("bytes=10-"), Some(&tag)).await;
        assert_eq!(s, 206);
        assert_eq!([first, rest].concat(), whole);
        let weak = format!("W/{tag}");
        for other in ["\"0000\"", &weak, "Mon, 30 Nov 2026 00:00:00 GMT"] {
            let (s, head, body) = job_file_part_if(&env, job, Some("bytes=10-"), Some(other)).await;
            assert_eq!((s, body.len()), (200, whole.len()), "If-Range {other}");
            assert!(!head.contains_key("content-range"), "{head:?}");
        }
        // Past the end: a JSON error, not a file to save.
        let (s, head, body) = job_file_part(&env, job, Some(&format!("bytes={total}-"))).await;
        assert_eq!(s, 416);
        assert_eq!(head["content-type"], "application/json");
        assert!(!head.contains_key("content-disposition"), "{head:?}");
        let err: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["error"]["code"], "range_not_satisfiable", "{err}");

        // A client that takes gzip still gets the file's own bytes, in ranges: compressed, it
        // could not resume, and its ETag would not name what it carried.
        let gz = reqwest::Client::new()
            .get(format!("{}/api/v1/jobs/{job}/result", env.server.url))
            .bearer_auth(ADMIN)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert!(
            !gz.headers().contains_key("content-encoding"),
            "{:?}",
            gz.headers()
        );
        assert_eq!(gz.headers()["accept-ranges"], "bytes");
        assert_eq!(gz.bytes().await.unwrap(), whole);

        // Named by its content, it is still not media anyone may fetch.
        let (s, _) = env.call(ADMIN, "GET", &format!("/media/{sha}"), None).await;
        assert_eq!(s, 404);
        env
    })
    .await;
}

/// An export reads a big task a page at a time: every item once, in item order, each with its
/// own labels and none of another's, whichever page it fell on.
#[tokio::test]
async fn a_big_export_has_every_item_once_with_its_own_labels() {
    on_each_backend(|env| async move {
        // More than two of the export's pages (5,000 items each), in uploads small enough to
        // be answered at once.
        let n = 12_000;
        let (project, dataset) = env.project_with_items(4_000).await;
        for from in [4_000, 8_000] {
            let more: Vec<Value> = (from..from + 4_000)
                .map(|i| json!({"external_id": format!("t{i}"), "data": format!("item {i}")}))
                .collect();
            let path = format!("/datasets/{dataset}/items");
            let up = env.ok(ADMIN, "POST", &path, Some(json!(more))).await;
            assert_eq!(up["inserted"], 4_000, "{up}");
        }
        let (worker, token) = env.user("pages-worker", project, &["annotator"]).await;
        let task = env
            .pull_task(project, dataset, &[worker], 1, json!({}))
            .await;
        // Items are served in a seeded shuffle, so these land all over the task.
        let mut labeled = std::collections::BTreeMap::new();
        for _ in 0..8 {
            let (lease, items) = lease_batch(&env, &token, task).await;
            let ops: Vec<Value> = items
                .into_iter()
                .map(|i| {
                    let concept = if i % 2 == 0 { "cat" } else { "dog" };
                    labeled.insert(i, concept);
                    submit(&format!("p-{i}"), task, i, lease, concept)
                })
                .collect();
            env.ok(&token, "POST", "/sync", Some(json!({ "ops": ops })))
                .await;
        }
        assert_eq!(labeled.len(), 40);

        let job = export(&env, task, "json").await;
        let (s, body) = job_file(&env, job).await;
        assert_eq!(s, 200);
        let items: Vec<Value> = serde_json::from_str(&body).unwrap();
        let ids: Vec<i64> = items
            .iter()
            .map(|i| i["item_id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids.len(), n, "every item once");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "in item order, no repeats"
        );
        for item in &items {
            let id = item["item_id"].as_i64().unwrap();
            let concepts: Vec<&str> = item["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["value"]["concept"].as_str().unwrap())
                .collect();
            let want: Vec<&str> = labeled.get(&id).into_iter().copied().collect();
            assert_eq!(concepts, want, "item {id}'s labels");
        }
        let job = export(&env, task, "csv").await;
        let (_, csv) = job_file(&env, job).await;
        assert_eq!(csv.lines().count(), n + 1, "a header and a row per item");
        let with_labels = csv.lines().skip(1).filter(|l| l.ends_with(",1")).count();
        assert_eq!(
            with_labels,
            labeled.len(),
            "the labels column counts each item's own"
        );
        env
    })
    .await;
}

/// The web app downloads a job's file through a plain link, which carries the media cookie
/// and no token: the file's GET takes the cookie (its project's managers only), no other job
/// endpoint does.
#[tokio::test]
async fn a_job_file_downloads_with_the_browser_cookie() {
    on_each_backend(|env| async move {
        let (task, worker) = dogs_task(&env, "cookie-worker").await;
        let job = export(&env, task, "csv").await;
        let cookie_of = |token: String| {
            let env = &env;
            async move {
                let jobs = session_cookie(env, &token, "/api/v1/jobs").await;
                assert!(jobs.contains("HttpOnly") && jobs.contains("SameSite=Strict"));
                jobs.split(';').next().unwrap().to_owned()
            }
        };
        let get = |path: String, cookie: String| {
            let url = format!("{}/api/v1{path}", env.server.url);
            async move {
                let resp = reqwest::Client::new()
                    .get(url)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .unwrap();
                (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
            }
        };
        let (_, _, whole) = job_file_part(&env, job, None).await;
        let manager = cookie_of(ADMIN.to_owned()).await;
        let file = format!("/jobs/{job}/result");
        assert_eq!(get(file.clone(), manager.clone()).await, (200, whole));
        // The cookie opens the file only: the job itself still wants the token.
        assert_eq!(get(format!("/jobs/{job}"), manager).await.0, 401);
        // An annotator's cookie is an annotator's: not a manager of the project.
        let annotator = cookie_of(worker.clone()).await;
        assert_eq!(get(file.clone(), annotator).await.0, 403);
        assert_eq!(get(file, "quorum_media=nonsense".into()).await.0, 401);
        // An archive's file too, as its project's managers download it.
        let made = env
            .ok(
                ADMIN,
                "POST",
                "/tasks/archive",
                Some(json!({"ids": [task]})),
            )
            .await;
        let archive = made["archives"][0]["id"].as_i64().unwrap();
        let file = format!("/archives/{archive}/download");
        let (status, body) = get(file.clone(), cookie_of(ADMIN.to_owned()).await).await;
        assert_eq!(status, 200);
        let content: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(content["tasks"][0]["id"], task);
        assert_eq!(get(file, cookie_of(worker).await).await.0, 403);
        env
    })
    .await;
}

/// Downloads a complete job's file as text.
async fn job_file(env: &Env, job: i64) -> (u16, String) {
    let resp = reqwest::Client::new()
        .get(format!("{}/api/v1/jobs/{job}/result", env.server.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn large_uploads_run_as_jobs_and_land_whole() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "big"})).await;
        let mut ndjson = String::new();
        for i in 0..6_001 {
            ndjson.push_str(&format!(
                "{{\"external_id\":\"e{i}\",\"data\":\"row {i}\"}}\n"
            ));
        }
        ndjson.push_str("{\"data\": oops}\n");
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
        let job = v["job_id"].as_i64().expect("a job id");
        let done = env.wait_job(ADMIN, job).await;
        assert_eq!(done["status"], "complete", "{done}");
        assert_eq!(done["progress"], 1.0);
        assert_eq!(done["kind"], "import");
        assert_eq!(
            done["errors"][0]["row"], 6_002,
            "per-row errors reach the job: {done}"
        );

        let (s, summary) = job_file(&env, job).await;
        assert_eq!(s, 200);
        let summary: Value = serde_json::from_str(&summary).unwrap();
        assert_eq!(
            (summary["inserted"].as_i64(), summary["failed"].as_i64()),
            (Some(6_001), Some(1))
        );
        let history = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/uploads"), None)
            .await;
        assert_eq!(history["uploads"][0]["inserted"], 6_001, "{history}");

        // The jobs list filters by status; a finished job cannot be canceled.
        let list = env.ok(ADMIN, "GET", "/jobs?status=complete", None).await;
        assert!(
            list["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|j| j["id"] == job),
            "{list}"
        );
        let none = env.ok(ADMIN, "GET", "/jobs?status=failed", None).await;
        assert!(!none["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == job));
        let (s, v) = env.call(ADMIN, "GET", "/jobs?status=exploded", None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("invalid_query")),
            "{v}"
        );
        let (s, v) = env
            .call(ADMIN, "POST", &format!("/jobs/{job}/cancel"), None)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("job_finished")),
            "{v}"
        );
        let (s, _) = env.call(ADMIN, "GET", "/jobs/999999", None).await;
        assert_eq!(s, 404);
        env
    })
    .await;
}

#[tokio::test]
async fn exports_render_every_format_and_stay_with_managers() {
    on_each_backend(|env| async move {
        let (task, token) = dogs_task(&env, "exp-worker").await;

        // Annotators neither export nor see jobs.
        let (s, v) = env
            .call(
                &token,
                "POST",
                &format!("/tasks/{task}/exports"),
                Some(json!({"format": "csv"})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{v}"
        );
        let (s, _) = env
            .call(
                ADMIN,
                "POST",
                &format!("/tasks/{task}/exports"),
                Some(json!({"format": "xml"})),
            )
            .await;
        assert_eq!(s, 400, "unknown format is refused");

        let mut files = std::collections::BTreeMap::new();
        for format in ["json", "csv", "label_studio"] {
            let job = export(&env, task, format).await;
            let (s, _) = env.call(&token, "GET", &format!("/jobs/{job}"), None).await;
            assert_eq!(s, 403, "an annotator cannot read a manager's job");
            let (s, body) = job_file(&env, job).await;
            assert_eq!(s, 200);
            files.insert(format, body);
        }
        let json_export: Value = serde_json::from_str(&files["json"]).unwrap();
        let items = json_export.as_array().expect("an array of items");
        assert_eq!(items.len(), 12);
        assert!(
            items
                .iter()
                .all(|i| i["labels"][0]["value"]["concept"] == "dog"),
            "{json_export}"
        );
        let csv_rows: Vec<&str> = files["csv"].lines().collect();
        assert_eq!(
            csv_rows.len(),
            13,
            "a header and one row per item:\n{}",
            files["csv"]
        );
        assert!(csv_rows[1..].iter().all(|r| r.contains("dog")));
        let ls: Value = serde_json::from_str(&files["label_studio"]).unwrap();
        assert_eq!(ls.as_array().unwrap().len(), 12);
        env
    })
    .await;
}

/// Archive `archive`'s file, as the admin downloads it.
async fn download_archive(env: &Env, archive: i64) -> Value {
    reqwest::Client::new()
        .get(format!(
            "{}/api/v1/archives/{archive}/download",
            env.server.url
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn archive_keeps_history_and_recreatable_content() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(5).await;
        let (worker, token) = env.user("arch-worker", project, &["annotator"]).await;
        let a = env
            .pull_task(project, dataset, &[worker], 1, json!({"name": "first"}))
            .await;
        let b = env
            .pull_task(project, dataset, &[worker], 1, json!({"name": "second"}))
            .await;
        label_all(&env, &token, a, "cat").await;

        let (s, _) = env
            .call(&token, "POST", "/tasks/archive", Some(json!({"ids": [a]})))
            .await;
        assert_eq!(s, 403);
        let (s, v) = env
            .call(ADMIN, "POST", "/tasks/archive", Some(json!({"ids": []})))
            .await;
        assert_eq!(s, 422, "{v}");
        let out = env
            .ok(
                ADMIN,
                "POST",
                "/tasks/archive",
                Some(json!({"ids": [a, b]})),
            )
            .await;
        let archive = out["archives"][0]["id"].as_i64().unwrap();
        assert_eq!(out["archives"][0]["task_count"], 2);
        let (s, v) = env
            .call(ADMIN, "POST", "/tasks/archive", Some(json!({"ids": [a]})))
            .await;
        assert_eq!(s, 409, "archiving twice is refused: {v}");
        assert_eq!(
            env.ok(ADMIN, "GET", &format!("/tasks/{a}"), None).await["status"],
            "archived"
        );
        // Archived work is not handed out.
        let (s, v) = env
            .call(
                &token,
                "POST",
                &format!("/tasks/{b}/batches"),
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("task_closed")),
            "{v}"
        );

        let history = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/archives"), None)
            .await;
        assert_eq!(
            history["archives"][0]["created_by"], "demo-admin",
            "{history}"
        );
        let content = download_archive(&env, archive).await;
        let tasks = content["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 2);
        assert_eq!(tasks[0]["spec"]["name"], "first");
        assert_eq!(tasks[0]["items"].as_array().unwrap().len(), 5);
        assert_eq!(tasks[0]["items"][0]["labels"][0]["value"]["concept"], "cat");
        env
    })
    .await;
}

#[tokio::test]
async fn idle_tasks_archive_themselves_without_a_creator() {
    on_each_backend(|env| async move {
        let (project, dataset) = env
            .project_and_dataset(json!({"name": "sleepy", "auto_archive_days": 0}))
            .await;
        env.ok(
            ADMIN,
            "POST",
            &format!("/datasets/{dataset}/items"),
            Some(json!([{"data": "x"}])),
        )
        .await;
        let task = env.pull_task(project, dataset, &[], 1, json!({})).await;
        // The test servers sweep every second.
        let mut archives = Value::Null;
        for _ in 0..100 {
            archives = env
                .ok(ADMIN, "GET", &format!("/projects/{project}/archives"), None)
                .await;
            if !archives["archives"].as_array().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(archives["archives"][0]["task_count"], 1, "{archives}");
        assert_eq!(
            archives["archives"][0]["created_by"],
            Value::Null,
            "the sweep has no creator"
        );
        assert_eq!(
            env.ok(ADMIN, "GET", &format!("/tasks/{task}"), None).await["status"],
            "archived"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn jobs_reservations_and_archives_say_which_task() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(3).await;
        let (w, w_token) = env.user("named-worker", project, &["annotator"]).await;
        let task = env
            .pull_task(
                project,
                dataset,
                &[w],
                1,
                json!({"name": "Review sentiment / EU"}),
            )
            .await;
        env.ok(&w_token, "POST", &format!("/tasks/{task}/batches"), None)
            .await;
        let held = env
            .ok(
                ADMIN,
                "GET",
                &format!("/projects/{project}/reservations"),
                None,
            )
            .await;
        assert_eq!(
            held["reservations"][0]["task_name"], "Review sentiment / EU",
            "{held}"
        );

        let started = env
            .ok(
                ADMIN,
                "POST",
                &format!("/tasks/{task}/exports"),
                Some(json!({"format": "csv"})),
            )
            .await;
        let job = env
            .wait_job(ADMIN, started["job_id"].as_i64().unwrap())
            .await;
        assert_eq!(
            job["title"], "Export of \u{201c}Review sentiment / EU\u{201d} as CSV",
            "{job}"
        );
        let name = format!("review-sentiment-eu-task-{task}.csv");
        assert_eq!(job["file_name"], name.as_str(), "{job}");
        let resp = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/jobs/{}/result",
                env.server.url, job["id"]
            ))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let disposition = resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(disposition, format!("attachment; filename=\"{name}\""));

        env.ok(
            ADMIN,
            "POST",
            "/tasks/archive",
            Some(json!({"ids": [task]})),
        )
        .await;
        let history = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/archives"), None)
            .await;
        assert_eq!(
            history["archives"][0]["task_names"],
            json!(["Review sentiment / EU"]),
            "{history}"
        );
        env
    })
    .await;
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_gives_items_jobs_exports_and_predictions_their_schemas() {
    on_each_backend(|env| async move {
        let doc = env.ok("", "GET", "/openapi.json", None).await;
        // (method, path, success status, takes a body, answers JSON)
        let typed = [
            ("post", "/datasets/{id}/items", "200", true, true),
            ("get", "/projects/{id}/uploads", "200", false, true),
            ("get", "/projects/{id}/items", "200", false, true),
            ("get", "/items/{id}", "200", false, true),
            ("get", "/projects/{id}/saved-searches", "200", false, true),
            ("post", "/projects/{id}/saved-searches", "201", true, true),
            ("post", "/datasets/{id}/media", "201", true, true),
            ("get", "/media/{file}", "200", false, false),
            ("post", "/media/session", "204", false, false),
            ("delete", "/media/session", "204", false, false),
            ("post", "/tasks/{id}/aggregate", "202", true, true),
            ("post", "/tasks/{id}/predictions", "200", true, true),
            (
                "post",
                "/tasks/{id}/predictions/label-studio",
                "200",
                true,
                true,
            ),
            ("get", "/tasks/{id}/compare", "200", false, true),
            ("post", "/tasks/{id}/exports", "202", true, true),
            ("post", "/tasks/archive", "200", true, true),
            ("get", "/projects/{id}/archives", "200", false, true),
            ("get", "/archives/{id}/download", "200", false, true),
            ("get", "/jobs", "200", false, true),
            ("get", "/jobs/{id}", "200", false, true),
            ("post", "/jobs/{id}/cancel", "200", false, true),
            ("get", "/jobs/{id}/result", "200", false, false),
        ];
        for (method, path, status, body, json) in typed {
            let op = &doc["paths"][path][method];
            let answer = &op["responses"][status];
            assert!(
                answer.is_object(),
                "{method} {path}: no {status} answer: {op}"
            );
            let schema = &answer["content"]["application/json"]["schema"];
            assert_eq!(
                schema.is_object(),
                json,
                "{method} {path}: {status} body: {answer}"
            );
            assert_eq!(
                op["requestBody"].is_object(),
                body,
                "{method} {path}: request body: {op}"
            );
            if (method, path) != ("delete", "/media/session") {
                let refused = &op["responses"]["401"]["content"]["application/json"]["schema"];
                assert!(
                    refused["$ref"]
                        .as_str()
                        .is_some_and(|r| r.ends_with("/ErrorBody")),
                    "{method} {path}: {op}"
                );
            }
            for name in path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == name && p["in"] == "path"),
                    "{method} {path}: {op}"
                );
            }
        }
        // Query strings are parameters too.
        let params = doc["paths"]["/projects/{id}/items"]["get"]["parameters"]
            .as_array()
            .unwrap();
        for name in ["directory", "status", "dataset_id", "cursor", "limit"] {
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "query"),
                "{name}"
            );
        }
        // Operation ids name one operation each.
        let mut ids = std::collections::HashSet::new();
        for methods in doc["paths"].as_object().unwrap().values() {
            for op in methods.as_object().unwrap().values() {
                if let Some(id) = op["operationId"].as_str() {
                    assert!(ids.insert(id.to_owned()), "operationId {id} twice");
                }
            }
        }
        // Every schema named is in the document.
        let mut named = Vec::new();
        refs(&doc, &mut named);
        for r in named {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} is named but not in the document"
            );
        }
        env
    })
    .await;
}

/// A write that lands while an archive is being made is in the archive or waits for it: the
/// archive reads its tasks inside its own write, after marking them. Here a write holds the
/// item rows (and on SQLite the write lock) while the archive request starts; before, the
/// archive read the items first and stored them without the change.
#[tokio::test]
async fn a_write_during_archiving_is_in_the_archive() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(2).await;
        let task = env.pull_task(project, dataset, &[], 1, json!({})).await;
        let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
        let mut w = db.write().await.unwrap();
        sqlx::query(&format!(
            "UPDATE task_items SET confidence = 0.25 WHERE task_id = {task}"
        ))
        .execute(&mut *w.tx)
        .await
        .unwrap();
        let commit_later = async {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            w.commit().await.unwrap();
        };
        let ((), out) = tokio::join!(
            commit_later,
            env.ok(
                ADMIN,
                "POST",
                "/tasks/archive",
                Some(json!({"ids": [task]}))
            )
        );
        let archive = out["archives"][0]["id"].as_i64().unwrap();
        let content = download_archive(&env, archive).await;
        let items = content["tasks"][0]["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{content}");
        for item in items {
            assert_eq!(item["confidence"], 0.25, "{item}");
        }
        env
    })
    .await;
}
