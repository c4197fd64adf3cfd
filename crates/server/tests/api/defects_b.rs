//! Defects of issue 12 found by probing the API from outside (second half): review comments,
//! directory paging, id reuse, membership rules, shape bounds, Label Studio answers, CSV formula
//! injection and security headers. Each test failed on the code before its fix.

use crate::support::{item_ids, on_each_backend, submit, Env, ADMIN};
use serde_json::{json, Value};

/// A task whose every label goes to a reviewer; returns (task, annotator token, reviewer token,
/// the item labeled, which now waits for review).
async fn item_in_review(env: &Env) -> (i64, String, String, i64) {
    let (project, dataset) = env.project_with_items(2).await;
    let (a, a_t) = env.user("a", project, &["annotator"]).await;
    let (r, r_t) = env.user("r", project, &["reviewer"]).await;
    let task = env
        .pull_task(
            project,
            dataset,
            &[a],
            1,
            json!({"reviewers": [r], "review_strategy": {"type": "manual", "sample_percentage": 100.0}}),
        )
        .await;
    let batch = env
        .ok(&a_t, "POST", &format!("/tasks/{task}/batches"), None)
        .await;
    let item = item_ids(&batch)[0];
    let lease = batch["lease_id"].as_i64().unwrap();
    let r = env
        .ok(
            &a_t,
            "POST",
            "/sync",
            Some(json!({"ops": [submit("a-1", task, item, lease, "cat")]})),
        )
        .await;
    assert_eq!(r["results"][0]["status"], "applied", "{r}");
    (task, a_t, r_t, item)
}

#[tokio::test]
async fn review_comments_follow_one_rule_over_rest_and_sync() {
    on_each_backend(|env| async move {
        let (task, _a_t, r_t, item) = item_in_review(&env).await;
        let path = format!("/tasks/{task}/items/{item}/review");
        // Too long (and with NUL bytes): refused over REST, naming the field.
        let huge = format!("bad\0{}", "x".repeat(2_000_000));
        for (comment, code) in [
            (huge.as_str(), "text_too_long"),
            ("x".repeat(4001).as_str(), "text_too_long"),
            ("look\0here", "invalid_text"),
            ("bell\u{7}", "invalid_text"),
        ] {
            let (s, v) = env
                .call(&r_t, "POST", &path, Some(json!({"decision": "reject", "comment": comment})))
                .await;
            assert_eq!((s, v["error"]["code"].as_str()), (422, Some(code)), "{v}");
            assert_eq!(v["error"]["details"][0]["field"], "comment", "{v}");
        }
        // The same texts in /sync are refused by the same rule.
        for (i, comment) in ["x".repeat(4001), "look\0here".to_owned()].iter().enumerate() {
            let op = json!({"client_op_id": format!("r-{i}"), "action": {"type": "review", "task_id": task,
                "item_id": item, "decision": "reject", "comment": comment}});
            let (s, v) = env.call(&r_t, "POST", "/sync", Some(json!({"ops": [op]}))).await;
            assert_eq!(s, 400, "{v}");
            assert!(v["error"]["message"].as_str().unwrap().contains("comment"), "{v}");
        }
        // Nothing was stored: the item still waits for review.
        let queue = env.ok(&r_t, "GET", &format!("/tasks/{task}/review-queue"), None).await;
        assert_eq!(queue["items"].as_array().unwrap().len(), 1, "{queue}");
        // Exactly 4000 bytes with line breaks and tabs is fine.
        let ok = format!("line one\n\tline two {}", "y".repeat(4000 - 19));
        assert_eq!(ok.len(), 4000);
        env.ok(&r_t, "POST", &path, Some(json!({"decision": "reject", "comment": ok}))).await;
        env
    })
    .await;
}

#[tokio::test]
async fn directory_filter_pages_over_matching_items_only() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "dirs"})).await;
        let mut rows: Vec<Value> = (0..9)
            .map(|i| json!({"data": format!("a{i}"), "directory": "/a"}))
            .collect();
        rows.push(json!({"data": "bb", "directory": "/bb"}));
        rows.push(json!({"data": "b1", "directory": "/b"}));
        rows.push(json!({"data": "b2", "directory": "/b/deeper"}));
        env.ok(
            ADMIN,
            "POST",
            &format!("/datasets/{dataset}/items"),
            Some(json!(rows)),
        )
        .await;
        let mut seen = vec![];
        let mut cursor = String::new();
        for _ in 0..10 {
            let page = env
                .ok(
                    ADMIN,
                    "GET",
                    &format!("/projects/{project}/items?directory=/b&limit=4&cursor={cursor}"),
                    None,
                )
                .await;
            let items = page["items"].as_array().unwrap();
            assert!(
                !items.is_empty() || page["next_cursor"].is_null(),
                "an empty page with a cursor: {page}"
            );
            seen.extend(items.iter().map(|i| i["data"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        assert_eq!(seen, ["b1", "b2"]);
        // Two at a time: the first page is full and its cursor leads to the empty end.
        let page = env
            .ok(
                ADMIN,
                "GET",
                &format!("/projects/{project}/items?directory=/b/&limit=1"),
                None,
            )
            .await;
        assert_eq!(page["items"][0]["data"], "b1", "{page}");
        env
    })
    .await;
}

#[tokio::test]
async fn deleted_ids_are_never_reused() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(3).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let first = env.pull_task(project, dataset, &[a], 1, json!({})).await;
        let doomed = env.pull_task(project, dataset, &[a], 1, json!({})).await;
        let batch = env
            .ok(&a_t, "POST", &format!("/tasks/{doomed}/batches"), None)
            .await;
        let old_lease = batch["lease_id"].as_i64().unwrap();
        let item = item_ids(&batch)[0];
        env.ok(
            &a_t,
            "POST",
            "/sync",
            Some(json!({"ops": [submit("d-1", doomed, item, old_lease, "cat")]})),
        )
        .await;
        let (s, _) = env
            .call(ADMIN, "DELETE", &format!("/tasks/{doomed}"), None)
            .await;
        assert_eq!(s, 204);
        let next = env.pull_task(project, dataset, &[a], 1, json!({})).await;
        assert!(
            next > doomed && doomed > first,
            "task ids {first}, {doomed} (deleted), then {next}"
        );
        let batch = env
            .ok(&a_t, "POST", &format!("/tasks/{next}/batches"), None)
            .await;
        let lease = batch["lease_id"].as_i64().unwrap();
        assert!(
            lease > old_lease,
            "lease ids {old_lease} (deleted), then {lease}"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn managers_enrol_only_people_they_know_and_keep_a_manager() {
    on_each_backend(|env| async move {
        let (p1, _) = env.project_and_dataset(json!({"name": "one"})).await;
        let (p2, _) = env.project_and_dataset(json!({"name": "two"})).await;
        let (m, m_t) = env.user("manager-one", p1, &["manager"]).await;
        let (stranger, _) = env.user("stranger-in-two", p2, &["annotator"]).await;
        let (colleague, _) = env.user("colleague", p2, &["annotator"]).await;
        let lonely = env
            .ok(
                ADMIN,
                "POST",
                "/users",
                Some(json!({"name": "nobody-knows"})),
            )
            .await["user"]["id"]
            .as_i64()
            .unwrap();
        // A stranger (and a user in no project) looks like no user at all.
        for id in [stranger, lonely, 999_999] {
            let (s, v) = env
                .call(
                    &m_t,
                    "PUT",
                    &format!("/projects/{p1}/members/{id}"),
                    Some(json!({"roles": ["annotator"]})),
                )
                .await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (404, Some("not_found")),
                "{id}: {v}"
            );
        }
        let members = env
            .ok(&m_t, "GET", &format!("/projects/{p1}/members"), None)
            .await;
        assert!(!members.to_string().contains("stranger"), "{members}");
        // Someone who shares a project with the manager can be enrolled; admins enrol anyone.
        env.ok(
            ADMIN,
            "PUT",
            &format!("/projects/{p2}/members/{m}"),
            Some(json!({"roles": ["reviewer"]})),
        )
        .await;
        env.ok(
            &m_t,
            "PUT",
            &format!("/projects/{p1}/members/{colleague}"),
            Some(json!({"roles": ["annotator"]})),
        )
        .await;
        env.ok(
            ADMIN,
            "PUT",
            &format!("/projects/{p1}/members/{lonely}"),
            Some(json!({"roles": ["annotator"]})),
        )
        .await;

        // The last manager cannot be demoted or removed.
        let (p3, _) = env.project_and_dataset(json!({"name": "three"})).await;
        let admin_id = env.ok(ADMIN, "GET", "/me", None).await["id"]
            .as_i64()
            .unwrap();
        let path = format!("/projects/{p3}/members/{admin_id}");
        let (s, v) = env
            .call(ADMIN, "PUT", &path, Some(json!({"roles": ["annotator"]})))
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("last_manager")),
            "{v}"
        );
        let (s, v) = env.call(ADMIN, "DELETE", &path, None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("last_manager")),
            "{v}"
        );
        // With a second manager, the first may step down; then the second is the last.
        env.ok(
            ADMIN,
            "PUT",
            &format!("/projects/{p3}/members/{m}"),
            Some(json!({"roles": ["manager"]})),
        )
        .await;
        let (s, _) = env.call(ADMIN, "DELETE", &path, None).await;
        assert_eq!(s, 204);
        let (s, v) = env
            .call(
                &m_t,
                "PUT",
                &format!("/projects/{p3}/members/{m}"),
                Some(json!({"roles": ["reviewer"]})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("last_manager")),
            "{v}"
        );
        env
    })
    .await;
}

/// A box answer.
fn boxes(b: Value) -> Value {
    json!({"type": "bounding_box", "boxes": [b]})
}

#[tokio::test]
async fn boxes_must_be_finite_and_inside_the_image() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "boxes"})).await;
        let rows = json!([
            {"data": {"image": "http://img/1.png"}, "metadata": {"width": 100, "height": 50}},
            {"data": {"image": "http://img/2.png"}, "metadata": {"width": 100, "height": 50}},
            {"data": {"image": "http://img/3.png"}},
        ]);
        env.ok(ADMIN, "POST", &format!("/datasets/{dataset}/items"), Some(rows)).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let task = env
            .pull_task(project, dataset, &[a], 1, json!({"schema": {"annotation_type": "bounding_box", "concepts": ["cat"]}}))
            .await;
        let batch = env.ok(&a_t, "POST", &format!("/tasks/{task}/batches"), None).await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let sized: Vec<i64> = batch["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["metadata"]["width"].is_number())
            .map(|i| i["item_id"].as_i64().unwrap())
            .collect();
        let no_size = batch["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| !i["metadata"]["width"].is_number())
            .map(|i| i["item_id"].as_i64().unwrap())
            .unwrap();
        let op = |id: &str, item: i64, value: Value| {
            json!({"client_op_id": id, "action": {"type": "submit", "task_id": task, "item_id": item, "lease_id": lease, "value": value}})
        };
        let refused = [
            op("1", sized[0], boxes(json!({"concept": "cat", "x": 1e308, "y": 0, "w": 1e308, "h": 1}))),
            op("2", sized[0], boxes(json!({"concept": "cat", "x": 90, "y": 0, "w": 20, "h": 10}))),
            op("3", sized[0], boxes(json!({"concept": "cat", "x": -5, "y": 0, "w": 20, "h": 10}))),
            op("4", no_size, boxes(json!({"concept": "cat", "x": 1e308, "y": 0, "w": 10, "h": 10}))),
        ];
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": refused}))).await;
        for res in r["results"].as_array().unwrap() {
            assert_eq!(res["code"], "invalid_label", "{r}");
        }
        let fine = [
            op("5", sized[0], boxes(json!({"concept": "cat", "x": 80, "y": 0, "w": 20, "h": 50}))),
            op("6", no_size, boxes(json!({"concept": "cat", "x": 5000, "y": 0, "w": 10, "h": 10}))),
        ];
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": fine}))).await;
        for res in r["results"].as_array().unwrap() {
            assert_eq!(res["status"], "applied", "{r}");
        }
        // Changing one's answer (Back) follows the same rules as the first answer: shapes inside
        // the image, and the worker's own lease as the fencing token.
        let revise = |id: &str, lease: i64, value: Value| {
            json!({"client_op_id": id, "action": {"type": "revise", "task_id": task, "item_id": sized[0], "lease_id": lease, "value": value}})
        };
        let r = env
            .ok(&a_t, "POST", "/sync", Some(json!({"ops": [
                revise("r1", lease, boxes(json!({"concept": "cat", "x": 1e308, "y": 0, "w": 1e308, "h": 1}))),
                revise("r2", lease, boxes(json!({"concept": "cat", "x": 90, "y": 0, "w": 20, "h": 10}))),
                revise("r3", -1, boxes(json!({"concept": "cat", "x": 10, "y": 0, "w": 20, "h": 10}))),
                revise("r4", lease, boxes(json!({"concept": "cat", "x": 10, "y": 0, "w": 20, "h": 10}))),
            ]})))
            .await;
        assert_eq!(r["results"][0]["code"], "invalid_label", "{r}");
        assert_eq!(r["results"][1]["code"], "invalid_label", "{r}");
        assert_eq!(r["results"][2]["code"], "wrong_lease", "{r}");
        assert_eq!(r["results"][3]["status"], "applied", "{r}");
        // Gold answers follow the same rule, against their own item's size.
        let gold = json!([
            {"data": {"image": "http://img/4.png"}, "metadata": {"width": 100, "height": 50},
             "gold": boxes(json!({"concept": "cat", "x": 90, "y": 0, "w": 20, "h": 10}))},
            {"data": {"image": "http://img/5.png"},
             "gold": boxes(json!({"concept": "cat", "x": 1e308, "y": 0, "w": 1e308, "h": 1}))},
            {"data": {"image": "http://img/6.png"}, "metadata": {"width": 100, "height": 50},
             "gold": boxes(json!({"concept": "cat", "x": 80, "y": 0, "w": 20, "h": 10}))},
        ]);
        let (s, v) = env.call(ADMIN, "POST", &format!("/datasets/{dataset}/items"), Some(gold)).await;
        assert_eq!((s, v["inserted"].as_i64(), v["failed"].as_i64()), (200, Some(1), Some(2)), "{v}");
        assert!(v["errors"][0]["message"].as_str().unwrap().contains("gold"), "{v}");
        env
    })
    .await;
}

#[tokio::test]
async fn label_studio_answers_are_imported_or_each_row_says_why_not() {
    on_each_backend(|env| async move {
        let (_project, dataset) = env.project_and_dataset(json!({"name": "ls"})).await;
        let export = json!([{
            "id": 7,
            "data": {"text": "a cat"},
            "annotations": [{"completed_by": {"email": "ann@example.com"},
                "result": [{"type": "choices", "value": {"choices": ["cat"]}}]}],
            "predictions": [{"model_version": "v1", "score": 0.8,
                "result": [{"type": "choices", "value": {"choices": ["dog"]}}]}],
        }]);
        let (s, v) = env
            .raw(
                ADMIN,
                "POST",
                &format!("/datasets/{dataset}/items?format=label_studio"),
                "application/json",
                &export.to_string(),
            )
            .await;
        assert_eq!((s, v["inserted"].as_i64()), (200, Some(1)), "{v}");
        let warnings = v["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{v}");
        assert_eq!(warnings[0]["row"], 1, "{v}");
        let message = warnings[0]["message"].as_str().unwrap();
        assert!(
            message.contains("1 annotation") && message.contains("1 prediction"),
            "{v}"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn csv_exports_neutralise_formulas() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "csv"})).await;
        let rows = json!([
            {"external_id": "=HYPERLINK(\"http://evil\")", "data": "1"},
            {"external_id": "+1+cmd", "data": "2"},
            {"external_id": "@SUM(A1)", "data": "3"},
            {"external_id": "-3", "data": "4"},
            {"external_id": "plain", "data": "6"},
        ]);
        env.ok(
            ADMIN,
            "POST",
            &format!("/datasets/{dataset}/items"),
            Some(rows),
        )
        .await;
        let task = env.pull_task(project, dataset, &[], 1, json!({})).await;
        let job = env
            .ok(
                ADMIN,
                "POST",
                &format!("/tasks/{task}/exports"),
                Some(json!({"format": "csv"})),
            )
            .await;
        let job = env.wait_job(ADMIN, job["job_id"].as_i64().unwrap()).await;
        assert_eq!(job["status"], "complete", "{job}");
        let resp = reqwest::Client::new()
            .get(format!(
                "{}/api/v1/jobs/{}/result",
                env.server.url, job["id"]
            ))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let text = resp.text().await.unwrap();
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let ext: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
        assert_eq!(
            ext,
            [
                "'=HYPERLINK(\"http://evil\")",
                "'+1+cmd",
                "'@SUM(A1)",
                "-3",
                "plain"
            ],
            "{text}"
        );
        env
    })
    .await;
}

/// The security headers every answer carries.
fn assert_security_headers(resp: &reqwest::Response, what: &str) {
    let h = |name: &str| {
        resp.headers()
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    let csp = h("content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "connect-src 'self'",
        "img-src 'self' data: blob: http: https:",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
    ] {
        assert!(csp.contains(part), "{what}: {part:?} missing from {csp}");
    }
}

#[tokio::test]
async fn security_headers_on_the_api_and_the_web_app() {
    // The API of the usual test server.
    let env = Env::start(None).await;
    let http = reqwest::Client::new();
    for path in [
        "/api/v1/me",
        "/api/v1/no-such-route",
        "/api/v1/openapi.json",
    ] {
        let resp = http
            .get(format!("{}{path}", env.server.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_security_headers(&resp, path);
    }
    env.stop().await;
    // A server with a web app: its files and its client routes (served as index.html).
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><html><head><script type=\"module\">import init from '/app.js'; init();</script></head></html>",
    )
    .unwrap();
    std::fs::write(
        web.path().join("app.js"),
        "export default function init() {}",
    )
    .unwrap();
    let db = quorum_testkit::ScratchDatabase::create(None).await.unwrap();
    let server = quorum_testkit::ServerProcess::start_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_quorum")),
        db.url(),
        "127.0.0.1:0",
        &["--web-dir".as_ref(), web.path().as_os_str()],
    )
    .await
    .unwrap();
    for path in ["/", "/app.js", "/tasks/3/annotate"] {
        let resp = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_security_headers(&resp, path);
    }
    server.kill().await.ok();
    db.drop_database().await.ok();
}
