//! A reviewer corrects the annotators' answer (issue 11): the correction is checked like an
//! annotator's answer, kept as the reviewer's own and becomes the item's result, over the REST
//! endpoint and over `/sync`; only the task's reviewers may send one. My tasks says how many
//! items wait for the reviewer.

use crate::support::{item_ids, on_each_backend, result_of, Env, ADMIN};
use serde_json::{json, Value};

fn boxes(x: f64, y: f64, w: f64, h: f64) -> Value {
    json!({"type": "bounding_box", "boxes": [{"concept": "cat", "x": x, "y": y, "w": w, "h": h}]})
}

/// A box task over two 100×50 images, each labeled by one annotator and waiting for review;
/// returns (task, reviewer token, outsider reviewer token, annotator token, items).
async fn boxes_in_review(env: &Env) -> (i64, String, String, String, Vec<i64>) {
    let (project, dataset) = env.project_and_dataset(json!({"name": "fix"})).await;
    let rows = json!([
        {"data": {"image": "http://img/1.png"}, "metadata": {"width": 100, "height": 50}},
        {"data": {"image": "http://img/2.png"}, "metadata": {"width": 100, "height": 50}},
    ]);
    env.ok(
        ADMIN,
        "POST",
        &format!("/datasets/{dataset}/items"),
        Some(rows),
    )
    .await;
    let (a, a_t) = env.user("a", project, &["annotator"]).await;
    let (r, r_t) = env.user("r", project, &["reviewer"]).await;
    let (_, other_t) = env.user("other", project, &["reviewer"]).await;
    let task = env
        .pull_task(
            project,
            dataset,
            &[a],
            1,
            json!({"schema": {"annotation_type": "bounding_box", "concepts": ["cat", "dog"]},
                   "reviewers": [r], "review_strategy": {"type": "manual", "sample_percentage": 100.0}}),
        )
        .await;
    let batch = env
        .ok(&a_t, "POST", &format!("/tasks/{task}/batches"), None)
        .await;
    let items = item_ids(&batch);
    let lease = batch["lease_id"].as_i64().unwrap();
    let ops: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({"client_op_id": format!("a-{i}"), "action": {"type": "submit", "task_id": task,
            "item_id": i, "lease_id": lease, "value": boxes(10.0, 10.0, 20.0, 20.0)}})
        })
        .collect();
    let r = env
        .ok(&a_t, "POST", "/sync", Some(json!({ "ops": ops })))
        .await;
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["status"] == "applied"),
        "{r}"
    );
    (task, r_t, other_t, a_t, items)
}

/// What `/me/tasks` says waits for `token`'s review on `task` (`None`: nothing is said).
async fn waiting(env: &Env, token: &str, task: i64) -> Option<i64> {
    let v = env.ok(token, "GET", "/me/tasks", None).await;
    let t = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == task)
        .cloned()?;
    t["my_review"]
        .as_array()
        .map(|steps| steps.iter().map(|s| s["waiting"].as_i64().unwrap()).sum())
}

#[tokio::test]
async fn a_reviewers_correction_becomes_the_result() {
    on_each_backend(|env| async move {
        let (task, r_t, other_t, a_t, items) = boxes_in_review(&env).await;
        assert_eq!(waiting(&env, &r_t, task).await, Some(2), "two items wait for the reviewer");
        assert_eq!(waiting(&env, &a_t, task).await, None, "annotators are not told");
        let path = format!("/tasks/{task}/items/{}/review", items[0]);
        let fixed = boxes(12.5, 8.0, 40.0, 30.0);

        // Annotators and reviewers not on the task may not correct it.
        for token in [&a_t, &other_t] {
            let (s, v) = env
                .call(token, "POST", &path, Some(json!({"decision": "approve", "value": fixed})))
                .await;
            assert_eq!((s, v["error"]["code"].as_str()), (403, Some("forbidden")), "{v}");
        }
        // The correction follows the annotators' rules: the schema, and inside the image.
        for (bad, code) in [
            (boxes(90.0, 0.0, 20.0, 10.0), "invalid_label"),
            (json!({"type": "bounding_box", "boxes": [{"concept": "bird", "x": 1, "y": 1, "w": 2, "h": 2}]}), "invalid_label"),
            (json!({"type": "classification", "concept": "cat"}), "invalid_label"),
        ] {
            let (s, v) = env
                .call(&r_t, "POST", &path, Some(json!({"decision": "approve", "value": bad})))
                .await;
            assert_eq!((s, v["error"]["code"].as_str()), (422, Some(code)), "{bad} {v}");
        }
        // A correction approves: rejecting with one is refused.
        let (s, v) = env
            .call(&r_t, "POST", &path, Some(json!({"decision": "reject", "comment": "no", "value": fixed})))
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("correction_not_rejection")),
            "{v}"
        );
        assert_eq!(result_of(&env, task, items[0]).await["state"], "needs_review");

        let v = env
            .ok(&r_t, "POST", &path, Some(json!({"decision": "approve", "value": fixed})))
            .await;
        assert_eq!(v["state"], "approved", "{v}");
        let res = result_of(&env, task, items[0]).await;
        assert_eq!(res["value"], fixed, "{res}");
        assert_eq!(res["method"], "review", "{res}");
        assert_eq!(waiting(&env, &r_t, task).await, Some(1));

        // The same over /sync (the outbox's way), idempotent, with the same checks.
        let op = |id: &str, value: Value| {
            json!({"client_op_id": id, "action": {"type": "review", "task_id": task, "item_id": items[1],
                "decision": "approve", "value": value}})
        };
        let r = env
            .ok(&r_t, "POST", "/sync", Some(json!({"ops": [op("bad", boxes(0.0, 40.0, 10.0, 20.0))]})))
            .await;
        assert_eq!(r["results"][0]["code"], "invalid_label", "{r}");
        let r = env
            .ok(&other_t, "POST", "/sync", Some(json!({"ops": [op("x", fixed.clone())]})))
            .await;
        assert_eq!(r["results"][0]["code"], "forbidden", "{r}");
        let fixed2 = boxes(1.0, 2.0, 3.0, 4.0);
        for expect in ["applied", "duplicate"] {
            let r = env
                .ok(&r_t, "POST", "/sync", Some(json!({"ops": [op("fix-2", fixed2.clone())]})))
                .await;
            assert_eq!(r["results"][0]["status"], expect, "{r}");
        }
        let res = result_of(&env, task, items[1]).await;
        assert_eq!((&res["value"], &res["state"]), (&fixed2, &json!("approved")), "{res}");

        // The export carries the corrected result.
        let job = env
            .ok(ADMIN, "POST", &format!("/tasks/{task}/exports"), Some(json!({"format": "json"})))
            .await;
        let job = job["job_id"].as_i64().unwrap();
        assert_eq!(env.wait_job(ADMIN, job).await["status"], "complete");
        let body = reqwest::Client::new()
            .get(format!("{}/api/v1/jobs/{job}/result", env.server.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let export: Value = serde_json::from_str(&body).unwrap();
        let first = export
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["item_id"] == items[0])
            .unwrap_or_else(|| panic!("{export}"));
        assert_eq!(first["result"], fixed, "{first}");
        env
    })
    .await;
}

/// Two annotators disagree: approving as it stands would make the tie-break's pick the result,
/// so the reviewer must take one answer or correct it (found in a browser walkthrough: Approve
/// on a "no consensus" item stored one annotator's box as the majority).
#[tokio::test]
async fn a_tie_is_not_approved_as_it_stands() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "tie"})).await;
        let rows = json!([{"data": {"image": "http://img/1.png"}, "metadata": {"width": 100, "height": 50}}]);
        env.ok(ADMIN, "POST", &format!("/datasets/{dataset}/items"), Some(rows))
            .await;
        let (a, a_t) = env.user("tie-a", project, &["annotator"]).await;
        let (b, b_t) = env.user("tie-b", project, &["annotator"]).await;
        let (r, r_t) = env.user("tie-r", project, &["reviewer"]).await;
        let task = env
            .pull_task(
                project,
                dataset,
                &[a, b],
                2,
                json!({"schema": {"annotation_type": "bounding_box", "concepts": ["cat", "dog"]},
                       "reviewers": [r], "review_strategy": {"type": "manual", "sample_percentage": 100.0}}),
            )
            .await;
        let mut item = 0;
        for (token, x) in [(&a_t, 10.0), (&b_t, 30.0)] {
            let batch = env
                .ok(token, "POST", &format!("/tasks/{task}/batches"), None)
                .await;
            item = item_ids(&batch)[0];
            let op = json!({"client_op_id": format!("tie-{x}"), "action": {"type": "submit", "task_id": task,
                "item_id": item, "lease_id": batch["lease_id"], "value": boxes(x, 10.0, 20.0, 20.0)}});
            env.ok(token, "POST", "/sync", Some(json!({ "ops": [op] })))
                .await;
        }
        let path = format!("/tasks/{task}/items/{item}/review");
        let (s, v) = env
            .call(&r_t, "POST", &path, Some(json!({"decision": "approve"})))
            .await;
        assert_eq!((s, v["error"]["code"].as_str()), (409, Some("no_consensus")), "{v}");
        assert_eq!(result_of(&env, task, item).await["state"], "needs_review");
        // Taking one answer decides it.
        let taken = boxes(30.0, 10.0, 20.0, 20.0);
        let v = env
            .ok(&r_t, "POST", &path, Some(json!({"decision": "approve", "value": taken})))
            .await;
        assert_eq!(v["state"], "approved", "{v}");
        assert_eq!(result_of(&env, task, item).await["value"], taken);
        env
    })
    .await;
}
