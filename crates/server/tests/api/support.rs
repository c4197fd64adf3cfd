//! The integration tests' harness: a real `quorum serve --demo` on port 0 over a fresh SQLite
//! file, and again over a fresh PostgreSQL database when `QUORUM_TEST_DATABASE_URL` is set.

use quorum_testkit::{ScratchDatabase, ServerProcess};
use serde_json::{json, Value};
use std::future::Future;
use std::path::Path;

/// One running server and its database.
pub struct Env {
    /// The server process.
    pub server: ServerProcess,
    /// Its database (dropped at the end).
    pub db: Option<ScratchDatabase>,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    http: reqwest::Client,
}

/// The PostgreSQL server to test against, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var("QUORUM_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl Env {
    /// Starts a server over a fresh database of `backend`.
    pub async fn start(pg: Option<&str>) -> Env {
        // Servers inherit these: the auto-archive sweep runs every second so a test can see it;
        // the aggregation sweep is off so results change only when a test says so.
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(|| {
            std::env::set_var("QUORUM_AUTO_ARCHIVE_INTERVAL", "1");
            std::env::set_var("QUORUM_AGGREGATE_INTERVAL", "0");
            // Media files of every test server of this run, content-addressed, out of the tree.
            let media =
                std::env::temp_dir().join(format!("quorum-test-media-{}", std::process::id()));
            std::env::set_var("QUORUM_MEDIA_DIR", media);
        });
        let db = ScratchDatabase::create(pg).await.expect("scratch database");
        let server = ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_quorum")), db.url())
            .await
            .expect("server starts");
        Env {
            server,
            db: Some(db),
            backend: if pg.is_some() { "postgres" } else { "sqlite" },
            http: reqwest::Client::new(),
        }
    }

    /// Starts a server over a fresh PostgreSQL database at `pg`, which it reaches at the URL
    /// `route` makes of the database's (a test's proxy in between), with `extra` `serve`
    /// arguments.
    pub async fn start_routed_with(
        pg: &str,
        route: impl FnOnce(&str) -> String,
        extra: &[&str],
    ) -> Env {
        let db = ScratchDatabase::create(Some(pg))
            .await
            .expect("scratch database");
        let extra: Vec<&std::ffi::OsStr> = extra.iter().map(std::ffi::OsStr::new).collect();
        let server = ServerProcess::start_with(
            Path::new(env!("CARGO_BIN_EXE_quorum")),
            &route(db.url()),
            "127.0.0.1:0",
            &extra,
        )
        .await
        .expect("server starts");
        Env {
            server,
            db: Some(db),
            backend: "postgres",
            http: reqwest::Client::new(),
        }
    }

    /// The database URL.
    pub fn db_url(&self) -> &str {
        self.db.as_ref().map(|d| d.url()).unwrap_or_default()
    }

    /// Sends a request as `token` (empty: no Authorization) and returns status and JSON body.
    pub async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(
            method.parse().expect("method"),
            format!("{}/api/v1{path}", self.server.url),
        );
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request")).await
    }

    /// Sends raw bytes with a content type.
    pub async fn raw(
        &self,
        token: &str,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, Value) {
        let req = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}/api/v1{path}", self.server.url),
            )
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body.to_owned());
        read(req.send().await.expect("request")).await
    }

    /// Like [`Env::call`], asserting a 2xx status.
    pub async fn ok(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(token, method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} as {token}: {status} {v}"
        );
        v
    }

    /// Stops the server and drops the database.
    pub async fn stop(self) {
        let url = self.db_url().to_owned();
        self.server.kill().await.ok();
        // Whatever the test did, every task's kept item counts must equal its items.
        let off = quorum_server::invariants::miscounted_tasks(&url)
            .await
            .unwrap();
        if let Some(db) = self.db {
            db.drop_database().await.ok();
        }
        assert!(off.is_empty(), "kept item counts off: {off:?}");
    }

    /// Creates a user with `roles` in `project` and returns (id, token).
    pub async fn user(&self, name: &str, project: i64, roles: &[&str]) -> (i64, String) {
        let v = self
            .ok(ADMIN, "POST", "/users", Some(json!({"name": name})))
            .await;
        let id = v["user"]["id"].as_i64().unwrap();
        if !roles.is_empty() {
            self.ok(
                ADMIN,
                "PUT",
                &format!("/projects/{project}/members/{id}"),
                Some(json!({"roles": roles})),
            )
            .await;
        }
        (id, v["token"].as_str().unwrap().to_owned())
    }

    /// An empty project made from `project` (its JSON body) with one empty dataset; returns
    /// (project, dataset).
    pub async fn project_and_dataset(&self, project: Value) -> (i64, i64) {
        let p = self.ok(ADMIN, "POST", "/projects", Some(project)).await;
        let project = p["id"].as_i64().unwrap();
        let d = self
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/datasets"),
                Some(json!({"name": "items"})),
            )
            .await;
        (project, d["id"].as_i64().unwrap())
    }

    /// A project with a dataset of `n` text items; returns (project, dataset).
    pub async fn project_with_items(&self, n: usize) -> (i64, i64) {
        let (project, dataset) = self
            .project_and_dataset(json!({"name": "test project"}))
            .await;
        let rows: Vec<Value> = (0..n)
            .map(|i| json!({"external_id": format!("t{i}"), "data": format!("item {i}"), "gold": if i % 10 == 0 {json!({"type":"classification","concept":"cat"})} else {Value::Null}}))
            .collect();
        let up = self
            .ok(
                ADMIN,
                "POST",
                &format!("/datasets/{dataset}/items"),
                Some(json!(rows)),
            )
            .await;
        // A big upload runs as a job: its count is in the project's upload history.
        if let Some(job) = up["job_id"].as_i64() {
            let done = self.wait_job(ADMIN, job).await;
            assert_eq!(done["status"], "complete", "{done}");
            let path = format!("/projects/{project}/uploads");
            let history = self.ok(ADMIN, "GET", &path, None).await;
            assert_eq!(history["uploads"][0]["inserted"], n as i64, "{history}");
        } else {
            assert_eq!(up["inserted"], n as i64, "{up}");
        }
        (project, dataset)
    }

    /// `token`'s row of `task` in `GET /me/tasks` (`None`: the task is not listed).
    pub async fn my_task(&self, token: &str, task: i64) -> Option<Value> {
        let mine = self.ok(token, "GET", "/me/tasks", None).await;
        mine["tasks"]
            .as_array()
            .unwrap_or_else(|| panic!("no task list in {mine}"))
            .iter()
            .find(|t| t["id"] == task)
            .cloned()
    }

    /// A pull task over a dataset.
    pub async fn pull_task(
        &self,
        project: i64,
        dataset: i64,
        assignees: &[i64],
        overlap: u32,
        extra: Value,
    ) -> i64 {
        let spec = pull_spec(dataset, assignees, overlap, extra);
        let t = self
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(spec),
            )
            .await;
        t["id"].as_i64().unwrap()
    }

    /// Polls a job until it leaves `in_progress`; returns it.
    pub async fn wait_job(&self, token: &str, id: i64) -> Value {
        for _ in 0..600 {
            let job = self.ok(token, "GET", &format!("/jobs/{id}"), None).await;
            if job["status"] != "in_progress" && job["status"] != "canceling" {
                return job;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("job {id} did not finish in 30 s");
    }
}

async fn read(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, v)
}

/// The spec of [`Env::pull_task`]: a classification task over `dataset`, pulled in batches of
/// five by `assignees`, `overlap` workers an item, with `extra`'s fields set over it.
pub fn pull_spec(dataset: i64, assignees: &[i64], overlap: u32, extra: Value) -> Value {
    let mut spec = json!({
        "name": "pull task",
        "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
        "input": {"type": "dataset", "dataset_id": dataset},
        "worker_strategy": {"type": "pull", "batch_size": 5, "workers_per_input": overlap},
        "assignees": assignees,
        "seed": 1,
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            spec[k] = v;
        }
    }
    spec
}

/// Leases the next batch of `task` as `token`: the lease and its items.
pub async fn lease_batch(env: &Env, token: &str, task: i64) -> (i64, Vec<i64>) {
    let path = format!("/tasks/{task}/batches");
    let batch = env.ok(token, "POST", &path, Some(json!({}))).await;
    (batch["lease_id"].as_i64().unwrap(), item_ids(&batch))
}

/// The `Set-Cookie` line that `POST /media/session`, as `token`, sends for `path` (the web app's
/// cookie for what a browser fetches without script).
pub async fn session_cookie(env: &Env, token: &str, path: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/media/session", env.server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let cookies: Vec<String> = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    cookies
        .into_iter()
        .find(|c| c.contains(&format!("Path={path};")))
        .unwrap_or_else(|| panic!("no cookie for {path}"))
}

/// The demo admin's token.
pub const ADMIN: &str = "demo-admin";

/// A submit op.
pub fn submit(id: &str, task: i64, item: i64, lease: i64, concept: &str) -> Value {
    json!({"client_op_id": id, "action": {"type": "submit", "task_id": task, "item_id": item, "lease_id": lease,
        "value": {"type": "classification", "concept": concept}}})
}

/// Runs `test` on SQLite, then on PostgreSQL when one is configured.
pub async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Env) -> Fut,
    Fut: Future<Output = Env>,
{
    let pg = postgres_url();
    if pg.is_none() {
        eprintln!("PostgreSQL half skipped: set QUORUM_TEST_DATABASE_URL to run it");
    }
    for base in std::iter::once(None).chain(pg.as_deref().map(Some)) {
        let env = Env::start(base).await;
        eprintln!("-- on {}", env.backend);
        test(env).await.stop().await;
    }
}

/// An item's row of `GET /tasks/{task}/results` (as the admin).
pub async fn result_of(env: &Env, task: i64, item: i64) -> Value {
    let all = env
        .ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None)
        .await;
    all["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["item_id"] == item)
        .cloned()
        .unwrap()
}

/// The item ids of a batch answer.
pub fn item_ids(batch: &Value) -> Vec<i64> {
    batch["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_i64().unwrap())
        .collect()
}
