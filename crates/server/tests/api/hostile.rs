//! Hostile input over HTTP: oversized, deep, non-UTF-8 and SQL-looking bodies, huge page sizes,
//! out-of-range priorities, unknown enum values, and bad or revoked tokens. Each gets a 4xx JSON
//! error with a stable code, and the data is unchanged afterwards.

use crate::support::{item_ids, on_each_backend, result_of, submit, Env, ADMIN};
use serde_json::{json, Value};

/// Sends raw bytes (which need not be UTF-8) as `token`.
async fn bytes(env: &Env, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1{path}", env.server.url))
        .bearer_auth(ADMIN)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A snapshot of what a refused request must not change.
async fn snapshot(env: &Env, project: i64, task: i64) -> Value {
    json!({
        "tasks": env.ok(ADMIN, "GET", &format!("/tasks?project_id={project}"), None).await,
        "items": env.ok(ADMIN, "GET", &format!("/projects/{project}/items?limit=500"), None).await,
        "results": env.ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None).await,
        "projects": env.ok(ADMIN, "GET", "/projects", None).await,
    })
}

#[tokio::test]
async fn hostile_bodies_get_json_errors_and_change_nothing() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(5).await;
        let task = env.pull_task(project, dataset, &[], 1, json!({})).await;
        let before = snapshot(&env, project, task).await;
        let tasks_path = format!("/projects/{project}/tasks");

        let mut refused: Vec<(u16, Value, &str)> = Vec::new();
        // Bigger than the body limit.
        let huge = vec![b' '; quorum_server::api::MAX_BODY_BYTES + 1024];
        let (s, v) = bytes(&env, "/sync", "application/json", huge).await;
        refused.push((s, v, "oversized"));
        // Nesting deeper than any real document.
        let deep = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
        let (s, v) = bytes(&env, &tasks_path, "application/json", deep.into_bytes()).await;
        refused.push((s, v, "deep"));
        // Not UTF-8, as JSON and as an upload.
        let (s, v) = bytes(&env, &tasks_path, "application/json", b"{\"name\": \"\xff\xfe\"}".to_vec()).await;
        refused.push((s, v, "invalid utf-8 json"));
        let (s, v) = bytes(&env, &format!("/datasets/{dataset}/items"), "text/csv", b"data\n\xff\xfe\n".to_vec()).await;
        refused.push((s, v, "invalid utf-8 csv"));
        // Unknown enum values.
        for (path, body, what) in [
            (tasks_path.clone(), json!({"name": "t", "schema": {"annotation_type": "classification", "concepts": ["a"]},
                "input": {"type": "all_items"}, "worker_strategy": {"type": "teleport"}}), "unknown strategy"),
            (tasks_path.clone(), json!({"name": "t", "schema": {"annotation_type": "hologram", "concepts": ["a"]},
                "input": {"type": "all_items"}, "worker_strategy": {"type": "pull"}}), "unknown annotation type"),
            (format!("/tasks/{task}/status"), json!({"status": "exploded"}), "unknown status"),
            (format!("/tasks/{task}/exports"), json!({"format": "xlsx"}), "unknown export format"),
        ] {
            let (s, v) = env.call(ADMIN, "POST", &path, Some(body)).await;
            refused.push((s, v, what));
        }
        // Priorities beyond the 32-bit range, both ways.
        for p in [json!(2_147_483_648i64), json!(-2_147_483_649i64), json!(1.5)] {
            let (s, v) = env
                .call(ADMIN, "POST", &format!("/tasks/{task}/items/priority"), Some(json!({"item_ids": [1], "priority": p})))
                .await;
            refused.push((s, v, "priority out of range"));
        }
        // An upload reports the row instead, in its per-row format, and stores nothing.
        let (s, v) = env
            .raw(ADMIN, "POST", &format!("/datasets/{dataset}/items"), "application/json", "[{\"data\": \"x\", \"priority\": 99999999999}]")
            .await;
        assert_eq!((s, v["inserted"].as_i64(), v["failed"].as_i64()), (422, Some(0), Some(1)), "{v}");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("2147483647"), "{v}");
        // Huge page sizes and malformed query values.
        for q in ["/tasks?limit=99999999999", "/tasks?limit=-1", "/tasks?status=exploded", "/tasks?sort=chaos"] {
            let (s, v) = env.call(ADMIN, "GET", q, None).await;
            refused.push((s, v, "bad query"));
        }
        for (status, v, what) in &refused {
            assert!((400..500).contains(status), "{what}: {status} {v}");
            assert!(v["error"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{what}: no JSON error: {v}");
            assert!(v["error"]["message"].is_string(), "{what}: {v}");
        }
        assert_eq!(refused[0].0, 413, "{:?}", refused[0].1);
        assert_eq!(snapshot(&env, project, task).await, before, "refused requests changed data");

        // A big limit is served, clamped; a negative priority is a valid priority.
        let page = env.ok(ADMIN, "GET", "/tasks?limit=100000", None).await;
        assert!(page["tasks"].as_array().unwrap().len() <= 500);
        let (s, v) = env
            .raw(ADMIN, "POST", &format!("/datasets/{dataset}/items"), "application/json", "[{\"external_id\": \"neg\", \"data\": \"x\", \"priority\": -2147483648}]")
            .await;
        assert_eq!((s, v["inserted"].as_i64()), (200, Some(1)), "{v}");

        // SQL-looking text is data, stored and returned verbatim.
        let evil = "Robert'); DROP TABLE users; -- \" OR 1=1 /* \\ %_";
        let p = env.ok(ADMIN, "POST", "/projects", Some(json!({"name": evil}))).await;
        let back = env.ok(ADMIN, "GET", &format!("/projects/{}", p["id"]), None).await;
        assert_eq!(back["name"], evil);
        let found = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items?directory={}", urlencode(evil)), None)
            .await;
        assert_eq!(found["items"].as_array().unwrap().len(), 0, "{found}");
        assert!(env.ok(ADMIN, "GET", "/users", None).await["users"].as_array().unwrap().len() > 1);
        env
    })
    .await;
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[tokio::test]
async fn bad_and_revoked_tokens_are_refused() {
    on_each_backend(|env| async move {
        let (project, _) = env.project_with_items(1).await;
        let (_, token) = env.user("revoked-soon", project, &["annotator"]).await;
        assert_eq!(
            env.ok(&token, "GET", "/me", None).await["name"],
            "revoked-soon"
        );
        let http = reqwest::Client::new();
        for header in [
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "bearer-ish abc",
            "Bearer \u{1F600}",
        ] {
            let resp = http
                .get(format!("{}/api/v1/me", env.server.url))
                .header("authorization", header)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 401, "{header:?}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["error"]["code"], "unauthorized", "{header:?}: {v}");
        }
        env.ok(&token, "DELETE", "/tokens/current", None).await;
        let (s, v) = env.call(&token, "GET", "/me", None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "revoked: {v}"
        );
        env
    })
    .await;
}

/// `/sync` and a lease read the caller's token together with the task: a revoked or unknown
/// token is refused there as everywhere (401, nothing stored), and before any
/// complaint about the path or the body.
#[tokio::test]
async fn labeling_refuses_a_revoked_or_unknown_token_before_anything_else() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(3).await;
        let (worker, token) = env.user("syncs-then-leaves", project, &["annotator"]).await;
        let task = env
            .pull_task(project, dataset, &[worker], 1, json!({}))
            .await;
        let batches = format!("/tasks/{task}/batches");
        let batch = env.ok(&token, "POST", &batches, Some(json!({}))).await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let items = item_ids(&batch);
        let first = json!({"ops": [submit("before", task, items[0], lease, "cat")]});
        let answer = env.ok(&token, "POST", "/sync", Some(first)).await;
        assert_eq!(answer["results"][0]["status"], "applied", "{answer}");
        env.ok(&token, "DELETE", "/tokens/current", None).await;
        let unauthorized = |(s, v): (u16, Value), what: &str| {
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (401, Some("unauthorized")),
                "{what}: {v}"
            );
        };
        for (who, what) in [(token.as_str(), "revoked"), ("qrm_nobody", "unknown")] {
            let late =
                json!({"ops": [submit(&format!("after-{what}"), task, items[1], lease, "dog")]});
            unauthorized(env.call(who, "POST", "/sync", Some(late)).await, what);
            // A replay of an applied op names its stored answer: a bad token still learns nothing.
            let replay = json!({"ops": [submit("before", task, items[0], lease, "cat")]});
            unauthorized(env.call(who, "POST", "/sync", Some(replay)).await, what);
            let (s, v) = env
                .raw(who, "POST", "/sync", "application/json", "{not json")
                .await;
            unauthorized((s, v), what);
            let lease = env.call(who, "POST", &batches, Some(json!({}))).await;
            unauthorized(lease, what);
            let bad_size = json!({"size": 0});
            unauthorized(env.call(who, "POST", &batches, Some(bad_size)).await, what);
            let bad_path = env.call(who, "POST", "/tasks/x/batches", None).await;
            unauthorized(bad_path, what);
        }
        let untouched = result_of(&env, task, items[1]).await;
        assert_eq!(untouched["labels"], 0, "{untouched}");
        env
    })
    .await;
}
