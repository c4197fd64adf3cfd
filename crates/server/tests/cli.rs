//! The `quorum` client commands end to end: the real binary against a real `quorum serve --demo`
//! over a fresh SQLite file, and again over PostgreSQL when `QUORUM_TEST_DATABASE_URL` is set.

use quorum_server::db::Db;
use quorum_testkit::{ScratchDatabase, ServerProcess};
use serde_json::{json, Value};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The demo admin's token (`quorum serve --demo` seeds it).
const ADMIN: &str = "demo-admin";

/// One server, its database, and a scratch directory for files.
struct Env {
    server: ServerProcess,
    db: ScratchDatabase,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// What one run of the binary did.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ok={}\n--- stdout\n{}--- stderr\n{}",
            self.ok, self.stdout, self.stderr
        )
    }
}

impl Env {
    async fn start(pg: Option<&str>) -> Env {
        // Media files of this run's servers, out of the source tree.
        static MEDIA: std::sync::Once = std::sync::Once::new();
        MEDIA.call_once(|| {
            let dir = std::env::temp_dir().join(format!("quorum-cli-media-{}", std::process::id()));
            std::env::set_var("QUORUM_MEDIA_DIR", dir);
        });
        let db = ScratchDatabase::create(pg).await.expect("scratch database");
        let server = ServerProcess::start(Path::new(env!("CARGO_BIN_EXE_quorum")), db.url())
            .await
            .expect("server starts");
        Env {
            server,
            db,
            dir: tempfile::tempdir().expect("temp dir"),
            http: reqwest::Client::new(),
        }
    }

    async fn stop(self) {
        self.server.kill().await.ok();
        self.db.drop_database().await.ok();
    }

    /// Runs `quorum ARGS` with none of the QUORUM_* settings of the outer environment.
    async fn quorum(&self, args: &[&str]) -> Run {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_quorum"))
            .args(args)
            .env_remove("QUORUM_URL")
            .env_remove("QUORUM_TOKEN")
            .env_remove("QUORUM_DATABASE_URL")
            .current_dir(self.dir.path())
            .output()
            .await
            .expect("the binary runs");
        Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a client command as `token` against this server.
    async fn client(&self, token: &str, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--url", &self.server.url, "--token", token]);
        self.quorum(&all).await
    }

    /// Runs a `quorum user` command on this server's database.
    async fn user(&self, args: &[&str]) -> Run {
        let mut all = vec!["user"];
        all.extend(args);
        all.extend(["--database-url", self.db.url()]);
        self.quorum(&all).await
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write test file");
        path
    }

    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(
                method.parse().expect("method"),
                format!("{}/api/v1{path}", self.server.url),
            )
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(token, method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// A pull classification task over the dataset, in batches of 3 with one label per item,
    /// for `assignees` (none: anyone on the project); its id.
    async fn task(&self, project: i64, dataset: i64, assignees: &[i64]) -> i64 {
        let spec = json!({
            "name": "t",
            "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
            "input": {"type": "dataset", "dataset_id": dataset},
            "worker_strategy": {"type": "pull", "batch_size": 3, "workers_per_input": 1},
            "assignees": assignees,
            "seed": 1,
        });
        let path = format!("/projects/{project}/tasks");
        self.ok(ADMIN, "POST", &path, Some(spec)).await["id"]
            .as_i64()
            .unwrap()
    }

    /// A new project with an empty dataset; returns (project, dataset).
    async fn project(&self) -> (i64, i64) {
        let p = self
            .ok(ADMIN, "POST", "/projects", Some(json!({"name": "cli"})))
            .await;
        let project = p["id"].as_i64().unwrap();
        let d = self
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/datasets"),
                Some(json!({"name": "d"})),
            )
            .await;
        (project, d["id"].as_i64().unwrap())
    }
}

/// Runs `test` on SQLite, then on PostgreSQL when one is configured.
async fn on_each_backend<F, Fut>(test: F)
where
    F: Fn(Env) -> Fut,
    Fut: Future<Output = Env>,
{
    let pg = std::env::var("QUORUM_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if pg.is_none() {
        eprintln!("PostgreSQL half skipped: set QUORUM_TEST_DATABASE_URL to run it");
    }
    for base in std::iter::once(None).chain(pg.as_deref().map(Some)) {
        let env = Env::start(base).await;
        eprintln!(
            "-- on {}",
            if base.is_some() { "postgres" } else { "sqlite" }
        );
        test(env).await.stop().await;
    }
}

#[tokio::test]
async fn users_made_on_the_database_sign_in_over_http() {
    on_each_backend(|env| async move {
        let (project, _) = env.project().await;
        let p = project.to_string();
        let made = env
            .user(&[
                "create",
                "--name",
                "carol",
                "--role",
                "annotator",
                "--project",
                &p,
                "--role",
                "reviewer",
                "--project",
                &p,
            ])
            .await;
        assert!(made.ok, "{made:?}");
        let token = made.stdout.trim().to_owned();
        assert!(token.starts_with("qrm_"), "{made:?}");
        let me = env.ok(&token, "GET", "/me", None).await;
        assert_eq!(me["name"], "carol");
        assert_eq!(me["is_admin"], false);
        assert_eq!(
            me["projects"],
            json!([{"id": project, "name": "cli", "roles": ["annotator", "reviewer"]}])
        );

        let second = env.user(&["token", "--name", "carol"]).await;
        assert!(second.ok, "{second:?}");
        let second = second.stdout.trim().to_owned();
        assert_ne!(second, token);
        assert_eq!(env.ok(&second, "GET", "/me", None).await["name"], "carol");

        for (name, flag) in [
            ("root2", &["--admin"][..]),
            ("root3", &["--role", "admin"][..]),
        ] {
            let mut args = vec!["create", "--name", name];
            args.extend(flag);
            let admin = env.user(&args).await;
            assert!(admin.ok, "{admin:?}");
            let me = env.ok(admin.stdout.trim(), "GET", "/me", None).await;
            assert_eq!(me["is_admin"], true, "{name}");
        }

        let list = env.user(&["list"]).await;
        assert!(list.ok, "{list:?}");
        assert!(
            list.stdout
                .lines()
                .any(|l| l.ends_with(" carol") && l.contains(" no ")),
            "{list:?}"
        );
        assert!(
            list.stdout
                .lines()
                .any(|l| l.ends_with(" root2") && l.contains(" yes ")),
            "{list:?}"
        );

        let revoked = env.user(&["revoke-tokens", "--name", "carol"]).await;
        assert!(revoked.ok, "{revoked:?}");
        assert!(revoked.stdout.contains("revoked 2 token(s)"), "{revoked:?}");
        for t in [&token, &second] {
            let (status, v) = env.call(t, "GET", "/me", None).await;
            assert_eq!(status, 401, "{v}");
        }

        // Nothing half-made: a taken name, a missing project or an unpaired role change nothing.
        let again = env.user(&["create", "--name", "carol"]).await;
        assert!(!again.ok && again.stderr.contains("conflict"), "{again:?}");
        let nowhere = env
            .user(&[
                "create",
                "--name",
                "dave",
                "--role",
                "annotator",
                "--project",
                "999999",
            ])
            .await;
        assert!(
            !nowhere.ok && nowhere.stderr.contains("not_found"),
            "{nowhere:?}"
        );
        let unpaired = env
            .user(&["create", "--name", "dave", "--role", "annotator"])
            .await;
        assert!(
            !unpaired.ok && unpaired.stderr.contains("--project"),
            "{unpaired:?}"
        );
        let list = env.user(&["list"]).await;
        assert!(!list.stdout.contains("dave"), "{list:?}");
        let ghost = env.user(&["token", "--name", "nobody"]).await;
        assert!(!ghost.ok && ghost.stderr.contains("not_found"), "{ghost:?}");
        env
    })
    .await;
}

#[tokio::test]
async fn user_commands_refuse_a_missing_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("typo.db").display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quorum"))
        .args(["user", "list", "--database-url", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"));
    assert!(
        !dir.path().join("typo.db").exists(),
        "list must not create a database"
    );
}

#[tokio::test]
async fn import_reports_counts_and_row_errors() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project().await;
        let d = dataset.to_string();
        let csv = env.file(
            "items.csv",
            "external_id,data,priority\ne1,first,1\ne2,,0\ne3,third,2\ne4,fourth,0\n",
        );
        let csv = csv.to_str().unwrap();
        let first = env.client(ADMIN, &["import", "--dataset", &d, csv]).await;
        assert!(first.ok, "{first:?}");
        assert!(
            first
                .stdout
                .contains("inserted 3, updated 0, unchanged 0, failed 1"),
            "{first:?}"
        );
        assert!(
            first
                .stdout
                .contains("error: row 2: line 3: the field \"data\" is required"),
            "{first:?}"
        );
        // Idempotent on external_id: the same file again changes nothing.
        let again = env.client(ADMIN, &["import", "--dataset", &d, csv]).await;
        assert!(
            again
                .stdout
                .contains("inserted 0, updated 0, unchanged 3, failed 1"),
            "{again:?}"
        );
        let items = env
            .ok(
                ADMIN,
                "GET",
                &format!("/projects/{project}/items?dataset_id={dataset}"),
                None,
            )
            .await;
        assert_eq!(items["items"].as_array().unwrap().len(), 3, "{items}");

        // Every row bad: the command fails, still showing why.
        let bad = env.file("bad.ndjson", "{\"data\": \"\"}\n{\"nope\": 1}\n");
        let bad = env
            .client(ADMIN, &["import", "--dataset", &d, bad.to_str().unwrap()])
            .await;
        assert!(!bad.ok, "{bad:?}");
        assert!(
            bad.stdout.contains("failed 2") && bad.stderr.contains("no row could be stored"),
            "{bad:?}"
        );

        // A big file becomes a job; --wait follows it to the summary.
        let mut big = String::new();
        for i in 0..5_001 {
            big.push_str(&format!(
                "{{\"external_id\":\"b{i}\",\"data\":\"row {i}\"}}\n"
            ));
        }
        big.push_str("{\"data\": oops}\n");
        let big = env.file("big.jsonl", &big);
        let waited = env
            .client(
                ADMIN,
                &[
                    "import",
                    "--dataset",
                    &d,
                    big.to_str().unwrap(),
                    "--wait",
                    "--timeout",
                    "60",
                    "--check-frequency",
                    "0.2",
                ],
            )
            .await;
        assert!(waited.ok, "{waited:?}");
        assert!(
            waited
                .stdout
                .contains("inserted 5001, updated 0, unchanged 0, failed 1"),
            "{waited:?}"
        );
        assert!(waited.stdout.contains("error: row 5002:"), "{waited:?}");
        assert!(
            waited.stderr.is_empty(),
            "no progress bar without a terminal: {waited:?}"
        );
        let unwaited = env
            .client(ADMIN, &["import", "--dataset", &d, big.to_str().unwrap()])
            .await;
        assert!(
            unwaited.ok && unwaited.stdout.contains("runs as job"),
            "{unwaited:?}"
        );

        // Label Studio exports are .json too, so the extension alone is refused.
        let unknown = env.file("items.txt", "data\nx\n");
        let unknown = env
            .client(
                ADMIN,
                &["import", "--dataset", &d, unknown.to_str().unwrap()],
            )
            .await;
        assert!(
            !unknown.ok && unknown.stderr.contains("--format"),
            "{unknown:?}"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn import_files_uploads_a_directory_of_media() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project().await;
        let root = env.dir.path().join("media");
        std::fs::create_dir_all(root.join("clips")).unwrap();
        std::fs::write(
            root.join("coins.png"),
            include_bytes!("../../../public/demo/coins.png"),
        )
        .unwrap();
        std::fs::write(
            root.join("clips/pan.webm"),
            include_bytes!("../../core/tests/fixtures/chelsea-pan.webm"),
        )
        .unwrap();
        std::fs::write(root.join("clips/readme.txt"), "not media").unwrap();
        let d = dataset.to_string();
        let dir = root.to_str().unwrap();
        let run = env
            .client(ADMIN, &["import", "--dataset", &d, "--files", dir])
            .await;
        assert!(run.ok, "{run:?}");
        assert!(
            run.stdout
                .contains("inserted 2, updated 0, unchanged 0, failed 1"),
            "{run:?}"
        );
        assert!(run.stdout.contains("readme.txt: not an image"), "{run:?}");
        let again = env
            .client(ADMIN, &["import", "--dataset", &d, "--files", dir])
            .await;
        assert!(
            again
                .stdout
                .contains("inserted 0, updated 0, unchanged 2, failed 1"),
            "{again:?}"
        );
        let items = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await;
        let video = items["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["data"]["video"].is_string())
            .cloned()
            .unwrap();
        assert_eq!(video["directory"], "/clips");
        env
    })
    .await;
}

#[tokio::test]
async fn import_task_brings_label_studio_labels_in_as_predictions() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project().await;
        let export = json!([
            {"id": 1, "data": {"image": "https://example.org/a.jpg"}, "meta": {"width": 200, "height": 100},
             "annotations": [{"result": [{"type": "rectanglelabels", "original_width": 200,
                "original_height": 100, "value": {"x": 10, "y": 20, "width": 50, "height": 40,
                "rectanglelabels": ["cat"]}}]}]},
            {"id": 2, "data": {"image": "https://example.org/b.jpg"}, "meta": {"width": 200, "height": 100}},
        ])
        .to_string();
        let file = env.file("ls.json", &export);
        let path = file.to_str().unwrap();
        let d = dataset.to_string();
        let up = env
            .client(ADMIN, &["import", "--dataset", &d, "--format", "label_studio", path])
            .await;
        assert!(up.ok, "{up:?}");
        let task = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(json!({
                "name": "from label studio",
                "schema": {"annotation_type": "bounding_box", "concepts": ["cat"]},
                "input": {"type": "dataset", "dataset_id": dataset},
                "worker_strategy": {"type": "pull", "batch_size": 2, "workers_per_input": 1},
            })))
            .await["id"]
            .as_i64()
            .unwrap();
        let t = task.to_string();
        let run = env
            .client(ADMIN, &["import", "--task", &t, "--model", "ls-2024", path])
            .await;
        assert!(run.ok, "{run:?}");
        assert!(
            run.stdout.contains("model ls-2024: accepted 0, to people 1, unchanged 0, failed 1"),
            "{run:?}"
        );
        assert!(run.stdout.contains("row 2: the task has no annotation"), "{run:?}");
        // Nothing usable is a failure; a task that is not there is the server's 404.
        let none = env.file("none.json", r#"[{"id": 2, "data": {}}]"#);
        let run = env
            .client(ADMIN, &["import", "--task", &t, none.to_str().unwrap()])
            .await;
        assert!(!run.ok && run.stderr.contains("no label could be imported"), "{run:?}");
        let run = env.client(ADMIN, &["import", "--task", "999999", path]).await;
        assert!(!run.ok && run.stderr.contains("not_found"), "{run:?}");
        env
    })
    .await;
}

#[tokio::test]
async fn export_downloads_the_file_and_jobs_follow_it() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project().await;
        let rows: Vec<Value> = (0..6)
            .map(|i| json!({"external_id": format!("x{i}"), "data": format!("item {i}")}))
            .collect();
        env.ok(ADMIN, "POST", &format!("/datasets/{dataset}/items"), Some(json!(rows)))
            .await;
        let made = env
            .user(&["create", "--name", "ann", "--role", "annotator", "--project", &project.to_string()])
            .await;
        assert!(made.ok, "{made:?}");
        let ann = made.stdout.trim().to_owned();
        let ann_id = env.ok(&ann, "GET", "/me", None).await["id"].as_i64().unwrap();
        let task = env.task(project, dataset, &[ann_id]).await;
        // One batch labeled, so the export holds both labeled and unlabeled items.
        let batch = env
            .ok(&ann, "POST", &format!("/tasks/{task}/batches"), Some(json!({})))
            .await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let labeled: Vec<i64> = batch["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["item_id"].as_i64().unwrap())
            .collect();
        assert_eq!(labeled.len(), 3);
        let ops: Vec<Value> = labeled
            .iter()
            .map(|i| json!({"client_op_id": format!("op{i}"), "action": {"type": "submit", "task_id": task,
                "item_id": i, "lease_id": lease, "value": {"type": "classification", "concept": "cat"}}}))
            .collect();
        env.ok(&ann, "POST", "/sync", Some(json!({ "ops": ops }))).await;

        let t = task.to_string();
        let out = env.dir.path().join("export.json");
        let export = env
            .client(
                ADMIN,
                &["export", "--task", &t, "--format", "json", "--out", out.to_str().unwrap(),
                  "--check-frequency", "0.1"],
            )
            .await;
        assert!(export.ok, "{export:?}");
        let items: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let items = items.as_array().unwrap();
        assert_eq!(items.len(), 6);
        for item in items {
            let id = item["item_id"].as_i64().unwrap();
            assert!(item["external_id"].as_str().unwrap().starts_with('x'));
            if labeled.contains(&id) {
                assert_eq!(item["labels"], json!([{"worker": "ann", "value": {"type": "classification", "concept": "cat"}, "late": false}]), "{item}");
            } else {
                assert_eq!(item["labels"], json!([]), "{item}");
            }
        }

        // CSV to stdout with --wait: the file itself, nothing else, on stdout.
        let csv = env
            .client(ADMIN, &["export", "--task", &t, "--format", "csv", "--wait", "--check-frequency", "0.1"])
            .await;
        assert!(csv.ok, "{csv:?}");
        let lines: Vec<&str> = csv.stdout.lines().collect();
        assert_eq!(lines[0], "item_id,external_id,state,label,confidence,labels", "{csv:?}");
        assert_eq!(lines.len(), 7, "{csv:?}");
        assert_eq!(lines.iter().filter(|l| l.ends_with(",1")).count(), 3, "{csv:?}");

        // Without --out or --wait: only the job id, which the jobs commands then follow.
        let started = env.client(ADMIN, &["export", "--task", &t, "--format", "coco"]).await;
        assert!(started.ok, "{started:?}");
        let job: i64 = started.stdout.trim().parse().expect("a job id on stdout");
        let waited = env
            .client(ADMIN, &["jobs", "wait", &job.to_string(), "--timeout", "30", "--check-frequency", "0.1"])
            .await;
        assert!(waited.ok, "{waited:?}");
        let shown: Value = serde_json::from_str(&waited.stdout).unwrap();
        assert_eq!(shown["status"], "complete");
        assert_eq!(shown["kind"], "export");

        // A finished job with a tiny timeout: answered at once, no timeout.
        let t0 = Instant::now();
        let quick = env
            .client(ADMIN, &["jobs", "wait", &job.to_string(), "--timeout", "0.01", "--check-frequency", "5"])
            .await;
        assert!(quick.ok, "{quick:?}");
        assert!(t0.elapsed() < Duration::from_secs(4), "waited {:?}", t0.elapsed());

        let got = env.client(ADMIN, &["jobs", "get", &job.to_string()]).await;
        assert!(got.ok, "{got:?}");
        assert_eq!(serde_json::from_str::<Value>(&got.stdout).unwrap()["id"], job);
        let list = env.client(ADMIN, &["jobs", "list", "--status", "complete"]).await;
        assert!(list.ok, "{list:?}");
        assert!(
            list.stdout.lines().any(|l| l.trim_start().starts_with(&format!("{job} ")) && l.contains("export")),
            "{list:?}"
        );
        let none = env.client(ADMIN, &["jobs", "list", "--status", "failed"]).await;
        assert!(none.ok && !none.stdout.contains("export"), "{none:?}");
        let late = env.client(ADMIN, &["jobs", "cancel", &job.to_string()]).await;
        assert!(!late.ok && late.stderr.contains("job_finished"), "{late:?}");
        env
    })
    .await;
}

#[tokio::test]
async fn waiting_times_out_and_reports_how_jobs_end() {
    on_each_backend(|env| async move {
        let (project, _) = env.project().await;
        // A job no process runs stays in_progress for as long as the test needs.
        let db = Db::connect(env.db.url()).await.unwrap();
        let mut w = db.write().await.unwrap();
        let job: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (kind, project_id, status, progress, params, created_at, updated_at) \
             VALUES ('import', $1, 'in_progress', 0.5, '{}', 1, 1) RETURNING id",
        )
        .bind(project)
        .fetch_one(&mut *w.tx)
        .await
        .unwrap();
        w.commit().await.unwrap();
        let id = job.to_string();

        let t0 = Instant::now();
        let timed_out = env
            .client(ADMIN, &["jobs", "wait", &id, "--timeout", "0.5", "--check-frequency", "0.1"])
            .await;
        let took = t0.elapsed();
        assert!(!timed_out.ok, "{timed_out:?}");
        assert!(timed_out.stderr.contains(&format!("job {id} is still in_progress")), "{timed_out:?}");
        assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(10), "{took:?}");

        let canceled = env.client(ADMIN, &["jobs", "cancel", &id]).await;
        assert!(canceled.ok && canceled.stdout.contains("canceling"), "{canceled:?}");
        let still = env
            .client(ADMIN, &["jobs", "wait", &id, "--timeout", "0.2", "--check-frequency", "0.1"])
            .await;
        assert!(!still.ok && still.stderr.contains("still canceling"), "{still:?}");

        let mut w = db.write().await.unwrap();
        sqlx::query("UPDATE jobs SET status = 'failed', errors = '[{\"message\":\"disk full\"}]' WHERE id = $1")
            .bind(job)
            .execute(&mut *w.tx)
            .await
            .unwrap();
        w.commit().await.unwrap();
        let failed = env.client(ADMIN, &["jobs", "wait", &id, "--timeout", "0"]).await;
        assert!(!failed.ok, "{failed:?}");
        assert!(failed.stderr.contains(&format!("job {id} ended failed: disk full")), "{failed:?}");
        env
    })
    .await;
}

#[tokio::test]
async fn api_errors_show_the_code_and_exit_non_zero() {
    on_each_backend(|env| async move {
        let bad = env.client("qrm_not-a-token", &["jobs", "list"]).await;
        assert!(!bad.ok, "{bad:?}");
        assert!(
            bad.stderr
                .contains("unauthorized (HTTP 401): unknown or revoked token"),
            "{bad:?}"
        );
        let (_, dataset) = env.project().await;
        let file = env.file("one.csv", "data\nx\n");
        let bad = env
            .client(
                "qrm_not-a-token",
                &[
                    "import",
                    "--dataset",
                    &dataset.to_string(),
                    file.to_str().unwrap(),
                ],
            )
            .await;
        assert!(!bad.ok && bad.stderr.contains("unauthorized"), "{bad:?}");
        let annotator = env
            .ok(ADMIN, "POST", "/users", Some(json!({"name": "plain"})))
            .await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let forbidden = env
            .client(
                &annotator,
                &["export", "--task", "1", "--format", "json", "--wait"],
            )
            .await;
        assert!(
            !forbidden.ok && forbidden.stderr.contains("forbidden (HTTP 403)"),
            "{forbidden:?}"
        );
        let missing = env.client(ADMIN, &["jobs", "get", "987654"]).await;
        assert!(
            !missing.ok
                && missing
                    .stderr
                    .contains("not_found (HTTP 404): job not found"),
            "{missing:?}"
        );
        let no_token = env
            .quorum(&["jobs", "list", "--url", &env.server.url])
            .await;
        assert!(
            !no_token.ok && no_token.stderr.contains("no token"),
            "{no_token:?}"
        );
        let down = env
            .quorum(&[
                "jobs",
                "list",
                "--url",
                "http://127.0.0.1:9",
                "--token",
                ADMIN,
            ])
            .await;
        assert!(
            !down.ok && down.stderr.contains("cannot reach the server"),
            "{down:?}"
        );
        env
    })
    .await;
}

/// `quorum jobs list | head`: a reader that goes away is no error; the command stops quietly.
#[tokio::test]
async fn printing_into_a_closed_pipe_exits_quietly() {
    on_each_backend(|env| async move {
        let (project, _) = env.project().await;
        // Enough jobs that the list outgrows any pipe buffer.
        let db = Db::connect(env.db.url()).await.unwrap();
        let mut w = db.write().await.unwrap();
        for _ in 0..300 {
            sqlx::query(
                "INSERT INTO jobs (kind, project_id, status, progress, params, created_at, updated_at) \
                 VALUES ('import', $1, 'complete', 1.0, '{}', 1, 1)",
            )
            .bind(project)
            .execute(&mut *w.tx)
            .await
            .unwrap();
        }
        w.commit().await.unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_quorum"))
            .args(["jobs", "list", "--url", &env.server.url, "--token", ADMIN])
            .env_remove("QUORUM_URL")
            .env_remove("QUORUM_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // `head -0`: the reader closes before the first line arrives.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && stderr.trim().is_empty(), "{stderr}");
        // No failure code either: the reader stopping is not the command failing.
        assert!(!matches!(out.status.code(), Some(c) if c != 0), "{:?}", out.status);
        env
    })
    .await;
}

/// A TCP proxy to `upstream` (`http://host:port`) that breaks off, once, the connection
/// carrying a job file's download (`/result`) after `cut_after` bytes of its answer: a train
/// going into a tunnel. Its address, as a URL.
async fn tunnel_proxy(upstream: &str, cut_after: usize) -> String {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let cut_once = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let (mut client_in, mut client_out) = client.into_split();
            let (mut server_in, mut server_out) = server.into_split();
            let downloading = Arc::new(AtomicBool::new(false));
            let seen = downloading.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                while let Ok(n @ 1..) = client_in.read(&mut buf).await {
                    if buf[..n].windows(8).any(|w| w == b"/result ") {
                        seen.store(true, Ordering::SeqCst);
                    }
                    if server_out.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let cut_once = cut_once.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 1024];
                let mut sent = 0;
                while let Ok(n @ 1..) = server_in.read(&mut buf).await {
                    let cut = downloading.load(Ordering::SeqCst)
                        && sent + n > cut_after
                        && !cut_once.swap(true, Ordering::SeqCst);
                    if cut {
                        let _ = client_out.write_all(&buf[..cut_after - sent]).await;
                        // Dropping both halves closes the client's connection mid-answer.
                        return;
                    }
                    if downloading.load(Ordering::SeqCst) {
                        sent += n;
                    }
                    if client_out.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    at
}

/// A download that breaks off is resumed where it stopped (a `Range` request tied to the same
/// file), and the file written is the server's, byte for byte. Only the client is under test,
/// so one backend is enough.
#[tokio::test]
async fn a_broken_export_download_resumes_where_it_stopped() {
    let env = Env::start(None).await;
    let (project, dataset) = env.project().await;
    let rows: Vec<Value> = (0..400)
        .map(|i| json!({"external_id": format!("x{i}"), "data": format!("a somewhat long item text {i}")}))
        .collect();
    env.ok(
        ADMIN,
        "POST",
        &format!("/datasets/{dataset}/items"),
        Some(json!(rows)),
    )
    .await;
    let task = env.task(project, dataset, &[]).await;
    let proxy = tunnel_proxy(&env.server.url, 20_000).await;
    let out = env.dir.path().join("export.json");
    let t = task.to_string();
    let args = [
        "export",
        "--task",
        &t,
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
        "--check-frequency",
        "0.1",
        "--url",
        &proxy,
        "--token",
        ADMIN,
    ];
    let run = env.quorum(&args).await;
    assert!(run.ok, "{run:?}");
    assert!(
        run.stderr.contains("resuming"),
        "the download did break off: {run:?}"
    );
    let job: i64 = run
        .stderr
        .split("export job ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a job id in {run:?}"));
    let whole = env
        .http
        .get(format!("{}/api/v1/jobs/{job}/result", env.server.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        whole.len() > 40_000,
        "a file longer than the cut: {}",
        whole.len()
    );
    let written = std::fs::read(&out).unwrap();
    assert!(
        written == whole[..],
        "the file written is the server's, byte for byte"
    );
    env.stop().await;
}
