//! Multi-step workflows over HTTP: items go label → review → QA, each step with its own people;
//! a rejection in a later step sends the item back to its annotator as rework; progress, the
//! review queue, `/me/tasks`, results, exports and priority updates are per step.

use crate::support::{item_ids, on_each_backend, submit, Env, ADMIN};
use serde_json::{json, Value};

/// A three-step task (label by `a`, review by `r`, QA by `q`) over `dataset`, pull, overlap 1.
async fn three_steps(env: &Env, project: i64, dataset: i64, a: i64, r: i64, q: i64) -> i64 {
    let t = env
        .ok(
            ADMIN,
            "POST",
            &format!("/projects/{project}/tasks"),
            Some(json!({
                "name": "three steps",
                "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
                "input": {"type": "dataset", "dataset_id": dataset},
                "worker_strategy": {"type": "pull", "batch_size": 10, "workers_per_input": 1},
                "assignees": [a],
                "reviewers": [r],
                "seed": 1,
                "steps": [
                    {"name": "label", "kind": "label"},
                    {"name": "review", "kind": "review", "assignees": [r]},
                    {"name": "QA", "kind": "qa", "assignees": [q]},
                ],
            })),
        )
        .await;
    t["id"].as_i64().unwrap()
}

/// Each item's result row by item id.
async fn results(env: &Env, task: i64) -> Vec<Value> {
    let v = env
        .ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None)
        .await;
    v["results"].as_array().unwrap().clone()
}

fn result_of(rows: &[Value], item: i64) -> Value {
    rows.iter().find(|r| r["item_id"] == item).cloned().unwrap()
}

/// The caller's `my_review` entry for `task` in `/me/tasks` (None when the task is not listed).
async fn my_review(env: &Env, token: &str, task: i64) -> Option<Value> {
    let mine = env.ok(token, "GET", "/me/tasks", None).await;
    mine["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == task)
        .map(|t| t["my_review"].clone())
}

async fn queue(env: &Env, token: &str, task: i64, query: &str) -> Vec<Value> {
    let v = env
        .ok(
            token,
            "GET",
            &format!("/tasks/{task}/review-queue{query}"),
            None,
        )
        .await;
    v["items"].as_array().unwrap().clone()
}

fn ids(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|i| i["item_id"].as_i64().unwrap())
        .collect()
}

async fn decide(env: &Env, token: &str, task: i64, item: i64, body: Value) -> (u16, Value) {
    env.call(
        token,
        "POST",
        &format!("/tasks/{task}/items/{item}/review"),
        Some(body),
    )
    .await
}

/// Leases `a`'s next batch and labels every item in it with `concept`; returns the items.
async fn label_all(
    env: &Env,
    token: &str,
    task: i64,
    concept: &str,
    tag: &str,
) -> (Vec<i64>, Value) {
    let batch = env
        .ok(token, "POST", &format!("/tasks/{task}/batches"), None)
        .await;
    let lease = batch["lease_id"].as_i64().unwrap();
    let items = item_ids(&batch);
    let ops: Vec<Value> = items
        .iter()
        .map(|&i| submit(&format!("{tag}-{i}"), task, i, lease, concept))
        .collect();
    let r = env
        .ok(token, "POST", "/sync", Some(json!({ "ops": ops })))
        .await;
    assert!(
        r["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "applied"),
        "{r}"
    );
    (items, batch)
}

#[tokio::test]
async fn items_go_through_label_review_and_qa() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(3).await;
        let (a, a_t) = env.user("ann", project, &["annotator"]).await;
        let (r, r_t) = env.user("rev", project, &["reviewer"]).await;
        let (q, q_t) = env.user("qa", project, &["reviewer"]).await;
        let task = three_steps(&env, project, dataset, a, r, q).await;

        let (items, _) = label_all(&env, &a_t, task, "cat", "a").await;
        assert_eq!(items.len(), 3);
        // Labeled items wait in the review step, not approved.
        let rows = results(&env, task).await;
        for row in &rows {
            assert_eq!(
                (
                    row["state"].as_str(),
                    row["step"].as_i64(),
                    row["step_name"].as_str()
                ),
                (Some("needs_review"), Some(1), Some("review")),
                "{row}"
            );
        }
        // The QA assignee sees the task with nothing waiting yet; the reviewer sees three.
        let q_mine = my_review(&env, &q_t, task)
            .await
            .expect("the QA assignee's /me/tasks lists the task");
        assert_eq!(
            q_mine,
            json!([{"step": 2, "name": "QA", "kind": "qa", "waiting": 0}])
        );
        let r_mine = my_review(&env, &r_t, task)
            .await
            .expect("listed for the reviewer");
        assert_eq!(
            r_mine,
            json!([{"step": 1, "name": "review", "kind": "review", "waiting": 3}])
        );
        assert!(
            queue(&env, &q_t, task, "").await.is_empty(),
            "nothing in QA yet"
        );
        let rq = queue(&env, &r_t, task, "").await;
        assert_eq!(ids(&rq), items);
        assert_eq!(
            (rq[0]["step"].as_i64(), rq[0]["step_name"].as_str()),
            (Some(1), Some("review"))
        );
        // QA cannot decide an item still in review, nor can the annotator.
        let (s, v) = decide(&env, &q_t, task, items[0], json!({"decision": "approve"})).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{v}"
        );
        let (s, _) = decide(&env, &a_t, task, items[0], json!({"decision": "approve"})).await;
        assert_eq!(s, 403);

        // The reviewer approves two: they move to QA, still needing a decision.
        for &i in &items[..2] {
            let (s, v) = decide(
                &env,
                &r_t,
                task,
                i,
                json!({"decision": "approve", "step": 1}),
            )
            .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(
                (v["state"].as_str(), v["step"].as_i64()),
                (Some("needs_review"), Some(2)),
                "{v}"
            );
        }
        // A decision naming a step the item has left is refused.
        let (s, v) = decide(
            &env,
            &r_t,
            task,
            items[0],
            json!({"decision": "approve", "step": 1}),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (409, Some("wrong_step")),
            "{v}"
        );
        assert_eq!(my_review(&env, &q_t, task).await.unwrap()[0]["waiting"], 2);
        let qq = queue(&env, &q_t, task, "").await;
        assert_eq!(ids(&qq), items[..2].to_vec());
        assert_eq!(qq[0]["step_name"], "QA");
        assert_eq!(
            qq[0]["labels"][0]["worker_id"], a,
            "QA sees the labels: {qq:?}"
        );
        assert_eq!(ids(&queue(&env, &r_t, task, "").await), vec![items[2]]);
        // A manager reads any step's queue.
        assert_eq!(
            ids(&queue(&env, ADMIN, task, "?step=2").await),
            items[..2].to_vec()
        );
        assert_eq!(
            ids(&queue(&env, ADMIN, task, "?step=1").await),
            vec![items[2]]
        );
        let (s, v) = env
            .call(
                ADMIN,
                "GET",
                &format!("/tasks/{task}/review-queue?step=9"),
                None,
            )
            .await;
        assert_eq!(
            (s, v["error"]["details"][0]["field"].as_str()),
            (422, Some("step")),
            "{v}"
        );
        // Progress per step.
        let p = env
            .ok(ADMIN, "GET", &format!("/tasks/{task}/progress"), None)
            .await;
        assert_eq!(
            p["steps"],
            json!([
                {"step": 0, "name": "label", "kind": "label", "waiting": 0},
                {"step": 1, "name": "review", "kind": "review", "waiting": 1},
                {"step": 2, "name": "QA", "kind": "qa", "waiting": 2},
            ]),
            "{p}"
        );
        assert_eq!(p["finished"], 0);

        // QA approves the first: it is final.
        let (s, v) = decide(&env, &q_t, task, items[0], json!({"decision": "approve"})).await;
        assert_eq!(
            (s, v["state"].as_str(), v["step"].as_i64()),
            (200, Some("approved"), Some(3)),
            "{v}"
        );
        let row = result_of(&results(&env, task).await, items[0]);
        assert_eq!(
            (
                row["state"].as_str(),
                row["step"].as_i64(),
                row["step_name"].as_str()
            ),
            (Some("approved"), Some(3), None),
            "{row}"
        );
        // QA rejects the second: back to the annotator as rework, with the comment.
        let (s, v) = decide(&env, &q_t, task, items[1], json!({"decision": "reject"})).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("comment_required"))
        );
        let (s, v) = decide(
            &env,
            &q_t,
            task,
            items[1],
            json!({"decision": "reject", "comment": "that is a dog"}),
        )
        .await;
        assert_eq!(
            (s, v["state"].as_str(), v["step"].as_i64()),
            (200, Some("rejected"), Some(0)),
            "{v}"
        );
        assert_eq!(my_review(&env, &q_t, task).await.unwrap()[0]["waiting"], 0);
        let (back, batch) = label_all(&env, &a_t, task, "dog", "a2").await;
        assert_eq!(back, vec![items[1]]);
        assert_eq!(batch["items"][0]["rework"]["comment"], "that is a dog");
        assert_eq!(batch["items"][0]["rework"]["reviewer"], "qa");
        // Through the steps again: review, then QA.
        let row = result_of(&results(&env, task).await, items[1]);
        assert_eq!(
            (row["state"].as_str(), row["step"].as_i64()),
            (Some("needs_review"), Some(1)),
            "{row}"
        );
        assert_eq!(
            env.ok(ADMIN, "GET", &format!("/tasks/{task}"), None).await["status"],
            "in_progress"
        );
        for (t, i) in [
            (&r_t, items[1]),
            (&r_t, items[2]),
            (&q_t, items[1]),
            (&q_t, items[2]),
        ] {
            let (s, v) = decide(&env, t, task, i, json!({"decision": "approve"})).await;
            assert_eq!(s, 200, "{v}");
        }
        let rows = results(&env, task).await;
        assert!(
            rows.iter()
                .all(|r| r["state"] == "approved" && r["step"] == 3),
            "{rows:?}"
        );
        assert_eq!(result_of(&rows, items[1])["value"]["concept"], "dog");
        let t = env.ok(ADMIN, "GET", &format!("/tasks/{task}"), None).await;
        assert_eq!(t["status"], "completed", "{t}");
        let p = env
            .ok(ADMIN, "GET", &format!("/tasks/{task}/progress"), None)
            .await;
        assert_eq!(p["finished"], 3, "{p}");
        env
    })
    .await;
}

#[tokio::test]
async fn priority_updates_apply_within_one_step_and_exports_name_the_step() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (a, a_t) = env.user("ann", project, &["annotator"]).await;
        let (r, r_t) = env.user("rev", project, &["reviewer"]).await;
        let (q, q_t) = env.user("qa", project, &["reviewer"]).await;
        let task = three_steps(&env, project, dataset, a, r, q).await;
        let (items, _) = label_all(&env, &a_t, task, "cat", "a").await;
        assert_eq!(items.len(), 4);
        for &i in &items[..2] {
            let (s, v) = decide(&env, &r_t, task, i, json!({"decision": "approve"})).await;
            assert_eq!(s, 200, "{v}");
        }
        // items 0, 1 are in QA; 2, 3 in review. The whole QA queue goes up.
        let path = |step: i64| format!("/tasks/{task}/steps/{step}/priority");
        let v = env
            .ok(ADMIN, "POST", &path(2), Some(json!({"priority": 9})))
            .await;
        assert_eq!(v, json!({"updated": 2, "skipped": []}));
        // Named items: only those waiting in the step change.
        let v = env
            .ok(
                ADMIN,
                "POST",
                &path(1),
                Some(json!({"priority": 5, "item_ids": [items[0], items[3]]})),
            )
            .await;
        assert_eq!(v, json!({"updated": 1, "skipped": [items[0]]}));
        let rows = results(&env, task).await;
        let prio: Vec<i64> = items
            .iter()
            .map(|&i| result_of(&rows, i)["priority"].as_i64().unwrap())
            .collect();
        assert_eq!(prio, vec![9, 9, 0, 5]);
        // The review queue serves by priority.
        assert_eq!(
            ids(&queue(&env, &r_t, task, "").await),
            vec![items[3], items[2]]
        );
        // The item keeps its priority into the next step.
        decide(&env, &r_t, task, items[3], json!({"decision": "approve"})).await;
        let rows = results(&env, task).await;
        assert_eq!(
            (
                result_of(&rows, items[3])["step"].as_i64(),
                result_of(&rows, items[3])["priority"].as_i64()
            ),
            (Some(2), Some(5))
        );
        assert_eq!(
            ids(&queue(&env, &q_t, task, "").await),
            vec![items[0], items[1], items[3]]
        );
        // Bad steps and bodies name the field; only managers change priorities.
        let (s, v) = env
            .call(ADMIN, "POST", &path(3), Some(json!({"priority": 1})))
            .await;
        assert_eq!(
            (s, v["error"]["details"][0]["field"].as_str()),
            (422, Some("step")),
            "{v}"
        );
        let (s, _) = env
            .call(&r_t, "POST", &path(1), Some(json!({"priority": 1})))
            .await;
        assert_eq!(s, 403);
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                &path(1),
                Some(json!({"priority": 1, "colour": 2})),
            )
            .await;
        assert_eq!(s, 400, "{v}");

        // Exports say where each item is, and can take one step's items.
        let job = env
            .ok(
                ADMIN,
                "POST",
                &format!("/tasks/{task}/exports"),
                Some(json!({"format": "json", "step": 2})),
            )
            .await;
        let done = env.wait_job(ADMIN, job["job_id"].as_i64().unwrap()).await;
        assert_eq!(done["status"], "complete", "{done}");
        let out = env
            .ok(
                ADMIN,
                "GET",
                &format!("/jobs/{}/result", job["job_id"]),
                None,
            )
            .await;
        let exported = out
            .as_array()
            .unwrap_or_else(|| out["items"].as_array().unwrap());
        let mut got: Vec<i64> = exported
            .iter()
            .map(|i| i["item_id"].as_i64().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, vec![items[0], items[1], items[3]], "{out}");
        assert!(exported.iter().all(|i| i["step"] == "QA"), "{out}");
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                &format!("/tasks/{task}/exports"),
                Some(json!({"format": "json", "step": 4})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["details"][0]["field"].as_str()),
            (422, Some("step")),
            "{v}"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn workflow_specs_are_checked() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(1).await;
        let (a, a_t) = env.user("ann", project, &["annotator"]).await;
        let (r, _) = env.user("rev", project, &["reviewer"]).await;
        let spec = |steps: Value| json!({
            "name": "wf", "schema": {"annotation_type": "classification", "concepts": ["cat"]},
            "input": {"type": "dataset", "dataset_id": dataset}, "worker_strategy": {"type": "pull"},
            "assignees": [a], "steps": steps,
        });
        // A QA step naming an annotator who is no reviewer.
        let (s, v) = env
            .call(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(spec(json!([
                {"name": "label", "kind": "label"}, {"name": "QA", "kind": "qa", "assignees": [a]}]))))
            .await;
        assert_eq!((s, v["error"]["details"][0]["field"].as_str()), (422, Some("steps[1].assignees")), "{v}");
        // A second labeling step, and a review sample out of range.
        let (s, v) = env
            .call(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(spec(json!([
                {"name": "label", "kind": "label"}, {"name": "again", "kind": "label"},
                {"name": "QA", "kind": "qa", "assignees": [r], "sample_percentage": 120.0}]))))
            .await;
        assert_eq!(s, 422, "{v}");
        let fields: Vec<&str> = v["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec!["steps[1].kind", "steps[2].sample_percentage"], "{v}");
        // A QA step sampling no item passes every labeled item straight through to the end.
        let t = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(spec(json!([
                {"name": "label", "kind": "label"}, {"name": "QA", "kind": "qa", "assignees": [r], "sample_percentage": 0.0}]))))
            .await;
        let task = t["id"].as_i64().unwrap();
        let (items, _) = label_all(&env, &a_t, task, "cat", "s").await;
        let row = result_of(&results(&env, task).await, items[0]);
        assert_eq!((row["state"].as_str(), row["step"].as_i64(), row["step_name"].as_str()), (Some("auto_approved"), Some(2), None), "{row}");
        assert_eq!(env.ok(ADMIN, "GET", &format!("/tasks/{task}"), None).await["status"], "completed");
        env
    })
    .await;
}
