//! Tasks over HTTP: create with each strategy, read, list (filters, sort, cursor), PUT and PATCH,
//! status moves, delete one and many, and task items (add, remove, reassign, priority).

use crate::support::{item_ids, on_each_backend, pull_spec, ADMIN};
use serde_json::{json, Value};

#[tokio::test]
async fn tasks_are_created_listed_changed_and_deleted() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(12).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let (b, b_t) = env.user("b", project, &["annotator"]).await;
        let t1 = env.pull_task(project, dataset, &[a, b], 1, json!({"name": "first", "priority": 3})).await;
        let t2 = env.pull_task(project, dataset, &[a], 1, json!({"name": "second", "due_date": 1000})).await;

        // Planned strategies seat every item up front: `full` gives everyone everything.
        let full = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(json!({
                "name": "full", "kind": "review",
                "schema": {"annotation_type": "classification", "concepts": ["x"]},
                "input": {"type": "dataset", "dataset_id": dataset},
                "worker_strategy": {"type": "full"}, "assignees": [a, b],
            })))
            .await;
        assert_eq!(full["overlap"], 2);
        let batch = env.ok(&a_t, "POST", &format!("/tasks/{}/batches", full["id"]), Some(json!({"size": 50}))).await;
        assert_eq!(item_ids(&batch).len(), 12, "full: a gets every item");
        // Weighted partition [9,1] over 10+ items: a holds about nine tenths.
        let part = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(json!({
                "name": "weighted",
                "schema": {"annotation_type": "classification", "concepts": ["x"]},
                "input": {"type": "dataset", "dataset_id": dataset},
                "worker_strategy": {"type": "partitioned", "workers_per_input": 1,
                    "partition": {"type": "weighted", "weights": [{"worker": a, "weight": 9}, {"worker": b, "weight": 1}]}},
                "assignees": [a, b],
            })))
            .await;
        let pid = part["id"].as_i64().unwrap();
        let got_b = env.ok(&b_t, "POST", &format!("/tasks/{pid}/batches"), Some(json!({"size": 50}))).await;
        let b_items = item_ids(&got_b);
        assert!((1..=2).contains(&b_items.len()), "b's share of 12 at 1/10: {b_items:?}");
        // Reassign one of b's unfinished items to a (c is no assignee: see defects.rs).
        let moved = env
            .ok(ADMIN, "POST", &format!("/tasks/{pid}/items/reassign"), Some(json!({"item_ids": [b_items[0]], "from": b, "to": a})))
            .await;
        assert_eq!(moved["reassigned"], 1);
        let (s, v) = env
            .call(ADMIN, "POST", &format!("/tasks/{pid}/items/reassign"), Some(json!({"item_ids": [b_items[0]], "from": b, "to": a})))
            .await;
        assert!(s == 409 || s == 422, "{s} {v}");

        // List: filters, sort and cursor.
        let list = env.ok(ADMIN, "GET", &format!("/tasks?project_id={project}&sort=created&order=asc&limit=2"), None).await;
        let ids: Vec<i64> = list["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![t1, t2]);
        let cursor = list["next_cursor"].as_str().unwrap();
        let next = env.ok(ADMIN, "GET", &format!("/tasks?project_id={project}&sort=created&order=asc&limit=2&cursor={cursor}"), None).await;
        assert_eq!(next["tasks"].as_array().unwrap().len(), 2);
        let by_prio = env.ok(ADMIN, "GET", &format!("/tasks?project_id={project}&sort=priority&order=desc&limit=1"), None).await;
        assert_eq!(by_prio["tasks"][0]["id"], t1);
        let due = env.ok(ADMIN, "GET", &format!("/tasks?project_id={project}&due_before=2000"), None).await;
        assert_eq!(due["tasks"].as_array().unwrap().len(), 1);
        let kind = env.ok(ADMIN, "GET", &format!("/tasks?project_id={project}&kind=review"), None).await;
        assert_eq!(kind["tasks"][0]["id"], full["id"]);
        let of_b = env.ok(ADMIN, "GET", &format!("/tasks?project_id={project}&worker={b}"), None).await;
        assert_eq!(of_b["tasks"].as_array().unwrap().len(), 3, "t1, full and weighted have b");
        let (s, _) = env.call(ADMIN, "GET", "/tasks?sort=sideways", None).await;
        assert_eq!(s, 400);
        // An annotator lists only tasks they are on.
        let mine = env.ok(&b_t, "GET", "/tasks", None).await;
        assert!(mine["tasks"].as_array().unwrap().iter().all(|t| t["id"] != t2));

        // PATCH changes only what it names; PUT replaces; fixed fields are refused.
        let patched = env.ok(ADMIN, "PATCH", &format!("/tasks/{t1}"), Some(json!({"name": "renamed", "lease_seconds": 30}))).await;
        assert_eq!((patched["name"].as_str(), patched["lease_seconds"].as_i64(), patched["priority"].as_i64()), (Some("renamed"), Some(30), Some(3)));
        let mut spec: Value = patched.clone();
        for k in ["id", "project_id", "status", "overlap", "created_at", "updated_at", "last_submitted_at", "counts"] {
            spec.as_object_mut().unwrap().remove(k);
        }
        spec["name"] = json!("replaced");
        let put = env.ok(ADMIN, "PUT", &format!("/tasks/{t1}"), Some(spec.clone())).await;
        assert_eq!(put["name"], "replaced");
        spec["input"] = json!({"type": "all_items"});
        let (s, _) = env.call(ADMIN, "PUT", &format!("/tasks/{t1}"), Some(spec)).await;
        assert_eq!(s, 409);

        // Items: add, remove, priority.
        let removed = env.ok(ADMIN, "DELETE", &format!("/tasks/{t2}/items"), Some(json!({"item_ids": [1, 2]}))).await;
        assert!(removed["removed"].as_i64().unwrap() <= 2);
        let t2v = env.ok(ADMIN, "GET", &format!("/tasks/{t2}"), None).await;
        let left = t2v["counts"]["items"].as_i64().unwrap();
        let items = env.ok(ADMIN, "GET", &format!("/projects/{project}/items"), None).await;
        let first = items["items"][0]["id"].as_i64().unwrap();
        let last = items["items"][11]["id"].as_i64().unwrap();
        env.ok(ADMIN, "DELETE", &format!("/tasks/{t2}/items"), Some(json!({"item_ids": [first]}))).await;
        env.ok(ADMIN, "POST", &format!("/tasks/{t2}/items"), Some(json!({"item_ids": [first]}))).await;
        env.ok(ADMIN, "POST", &format!("/tasks/{t2}/items/priority"), Some(json!({"item_ids": [last], "priority": 100}))).await;
        let b = env.ok(&a_t, "POST", &format!("/tasks/{t2}/batches"), Some(json!({"size": 1}))).await;
        assert_eq!(item_ids(&b), vec![last], "the highest priority item is served first");
        let t2v = env.ok(ADMIN, "GET", &format!("/tasks/{t2}"), None).await;
        assert_eq!(t2v["counts"]["items"].as_i64().unwrap(), left);
        assert_eq!(t2v["status"], "in_progress");

        // Status: legal moves only.
        let (s, v) = env.call(ADMIN, "POST", &format!("/tasks/{t1}/status"), Some(json!({"status": "completed"}))).await;
        assert_eq!(s, 409, "open → completed is not a move: {v}");
        env.ok(ADMIN, "POST", &format!("/tasks/{t1}/status"), Some(json!({"status": "archived"}))).await;
        let (s, _) = env.call(&a_t, "POST", &format!("/tasks/{t1}/batches"), None).await;
        assert_eq!(s, 409, "an archived task hands out nothing");

        // Delete one and many.
        let (s, _) = env.call(ADMIN, "DELETE", &format!("/tasks/{t1}"), None).await;
        assert_eq!(s, 204);
        let gone = env.ok(ADMIN, "DELETE", &format!("/tasks?ids={t2},{pid}"), None).await;
        assert_eq!(gone["deleted"], json!([t2, pid]));
        let (s, _) = env.call(ADMIN, "GET", &format!("/tasks/{t2}"), None).await;
        assert_eq!(s, 404);
        env
    })
    .await;
}

/// A new task's answer is the task as a read of it shows it, counts included, however its
/// items went in: a whole dataset (one `INSERT … SELECT` on PostgreSQL), a list of items, a
/// planned strategy with seats, a honeypot rate (gold checked on the way).
#[tokio::test]
async fn a_new_tasks_answer_is_what_a_read_of_it_shows() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(30).await;
        let (a, _) = env.user("a", project, &["annotator"]).await;
        let (b, _) = env.user("b", project, &["annotator"]).await;
        let items = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await;
        let some: Vec<i64> = items["items"].as_array().unwrap()[3..10]
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        let specs = [
            ("whole dataset", json!({})),
            ("all items", json!({"input": {"type": "all_items"}})),
            (
                "listed items",
                json!({"input": {"type": "item_ids", "item_ids": some}}),
            ),
            ("planned", json!({"worker_strategy": {"type": "full"}})),
            ("honeypots", json!({"honeypot_rate": 0.2})),
        ];
        for (what, extra) in specs {
            let mut spec = pull_spec(dataset, &[a, b], 2, extra);
            spec["name"] = json!(what);
            let made = env
                .ok(
                    ADMIN,
                    "POST",
                    &format!("/projects/{project}/tasks"),
                    Some(spec),
                )
                .await;
            let id = made["id"].as_i64().unwrap();
            let read = env.ok(ADMIN, "GET", &format!("/tasks/{id}"), None).await;
            assert_eq!(made, read, "{what}: the answer differs from a read");
            assert!(
                made["counts"]["items"].as_i64().unwrap() > 0,
                "{what}: {made}"
            );
        }
        env
    })
    .await;
}
