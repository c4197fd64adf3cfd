//! Defects found probing the API from outside (issue 12): open-to-all tasks in an annotator's
//! lists, reassigning to strangers, changing archived tasks, changing the schema under existing
//! labels, filters that name nothing, foreign lease ids in `/sync`, and gold that does not fit
//! the task's schema.

use crate::support::{item_ids, on_each_backend, submit, Env, ADMIN};
use serde_json::{json, Value};

/// Asserts a refusal: the status, the code, and that the message names `field`.
fn refused(got: (u16, Value), status: u16, code: &str, field: &str) {
    let (s, v) = got;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (status, Some(code)),
        "{v}"
    );
    let text = v["error"].to_string();
    assert!(text.contains(field), "the error names {field}: {v}");
}

fn ids_of(list: &Value) -> Vec<i64> {
    list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn open_to_all_tasks_are_listed_for_their_annotators() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(6).await;
        let (a, a_t) = env.user("anyone", project, &["annotator"]).await;
        let (r, r_t) = env.user("reviewer only", project, &["reviewer"]).await;
        let open = env.pull_task(project, dataset, &[], 1, json!({})).await;
        // The annotator can work it...
        let batch = env
            .ok(
                &a_t,
                "POST",
                &format!("/tasks/{open}/batches"),
                Some(json!({"size": 1})),
            )
            .await;
        assert_eq!(item_ids(&batch).len(), 1);
        // ...so it is in their tasks, with their progress.
        let mine = env.ok(&a_t, "GET", "/me/tasks", None).await;
        assert_eq!(ids_of(&mine), vec![open], "{mine}");
        assert_eq!(mine["tasks"][0]["my_progress"]["leased"], 1, "{mine}");
        for token in [ADMIN, a_t.as_str()] {
            let listed = env
                .ok(
                    token,
                    "GET",
                    &format!("/tasks?project_id={project}&worker={a}"),
                    None,
                )
                .await;
            assert_eq!(ids_of(&listed), vec![open], "as {token}: {listed}");
        }
        // A reviewer (no assignee list for reviewers either) reviews it, but does not label it.
        let theirs = env.ok(&r_t, "GET", "/me/tasks", None).await;
        assert_eq!(ids_of(&theirs), vec![open], "{theirs}");
        let listed = env
            .ok(
                ADMIN,
                "GET",
                &format!("/tasks?project_id={project}&worker={r}"),
                None,
            )
            .await;
        assert_eq!(ids_of(&listed), Vec::<i64>::new(), "{listed}");
        let listed = env
            .ok(
                ADMIN,
                "GET",
                &format!("/tasks?project_id={project}&reviewer={r}"),
                None,
            )
            .await;
        assert_eq!(ids_of(&listed), vec![open], "{listed}");
        env
    })
    .await;
}

#[tokio::test]
async fn reassigning_to_someone_off_the_task_is_refused() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(8).await;
        let (a, _) = env.user("a", project, &["annotator"]).await;
        let (b, _) = env.user("b", project, &["annotator"]).await;
        let (c, c_t) = env.user("c", project, &["annotator"]).await;
        let t = env
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(json!({
                    "name": "split",
                    "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
                    "input": {"type": "dataset", "dataset_id": dataset},
                    "worker_strategy": {"type": "distribution"},
                    "assignees": [a, b],
                })),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let progress = env
            .ok(ADMIN, "GET", &format!("/tasks/{t}/progress"), None)
            .await;
        let items: Vec<i64> = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        // Find one of a's items: reassigning it to b works, to c (not an assignee) does not.
        let mut of_a = None;
        for i in &items {
            let (s, _) = env
                .call(
                    ADMIN,
                    "POST",
                    &format!("/tasks/{t}/items/reassign"),
                    Some(json!({"item_ids": [i], "from": a, "to": c})),
                )
                .await;
            if s == 200 {
                of_a = Some(*i);
                break;
            }
            refused(
                env.call(
                    ADMIN,
                    "POST",
                    &format!("/tasks/{t}/items/reassign"),
                    Some(json!({"item_ids": [i], "from": a, "to": c})),
                )
                .await,
                422,
                "validation_failed",
                "to",
            );
        }
        assert_eq!(of_a, None, "an item went to a non-assignee");
        let (s, _) = env
            .call(&c_t, "POST", &format!("/tasks/{t}/batches"), None)
            .await;
        assert_eq!(s, 403, "c is not on the task");
        let moved = env
            .call(
                ADMIN,
                "POST",
                &format!("/tasks/{t}/items/reassign"),
                Some(json!({"item_ids": [items[0]], "from": a, "to": b})),
            )
            .await;
        let moved_back = env
            .call(
                ADMIN,
                "POST",
                &format!("/tasks/{t}/items/reassign"),
                Some(json!({"item_ids": [items[0]], "from": b, "to": a})),
            )
            .await;
        assert!(
            moved.0 == 200 || moved_back.0 == 200,
            "between assignees works: {moved:?} {moved_back:?}"
        );
        let after = env
            .ok(ADMIN, "GET", &format!("/tasks/{t}/progress"), None)
            .await;
        assert_eq!(progress["counts"], after["counts"], "no seat vanished");
        env
    })
    .await;
}

/// A leased item handed to someone else keeps its place in the item's overlap, now the new
/// holder's: it comes back leased in their next batch, counted once, and nobody else takes the
/// place meanwhile. Before, the new holder's lease counted the place a second time, and the
/// item was full for everyone else with one label short (the first task below); giving the
/// place back at the hand-over instead let a third worker in (the second task).
#[tokio::test]
async fn reassigning_a_leased_item_passes_its_place_on() {
    async fn batch_of(env: &Env, token: &str, task: i64) -> Value {
        env.ok(token, "POST", &format!("/tasks/{task}/batches"), None)
            .await
    }
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(1).await;
        let mut people = Vec::new();
        for name in ["a", "b", "c", "d"] {
            people.push(env.user(name, project, &["annotator"]).await);
        }
        let ids: Vec<i64> = people.iter().map(|(id, _)| *id).collect();
        let [(a, a_t), (b, b_t), (_, c_t), (_, d_t)] = &people[..] else {
            unreachable!()
        };
        for others_first in [false, true] {
            let t = env.pull_task(project, dataset, &ids, 2, json!({})).await;
            let lease = |token| batch_of(&env, token, t);
            let of_a = lease(a_t).await;
            let item = item_ids(&of_a)[0];
            let of_c = if others_first {
                Some(lease(c_t).await)
            } else {
                None
            };
            let moved = env
                .ok(
                    ADMIN,
                    "POST",
                    &format!("/tasks/{t}/items/reassign"),
                    Some(json!({"item_ids": [item], "from": a, "to": b})),
                )
                .await;
            assert_eq!(moved["reassigned"], 1);
            if others_first {
                let of_d = lease(d_t).await;
                assert_eq!(
                    item_ids(&of_d),
                    Vec::<i64>::new(),
                    "b's and c's places: {of_d}"
                );
            }
            let of_b = lease(b_t).await;
            assert_eq!(item_ids(&of_b), vec![item], "b holds a's place");
            let of_c = match of_c {
                Some(of_c) => of_c,
                None => lease(c_t).await,
            };
            assert_eq!(
                item_ids(&of_c),
                vec![item],
                "one place of two is taken: {of_c}"
            );
            let ops = |id: &str, batch: &Value| {
                let lease = batch["lease_id"].as_i64().unwrap();
                json!({"ops": [submit(&format!("{id}-{t}"), t, item, lease, "cat")]})
            };
            let late = env.ok(a_t, "POST", "/sync", Some(ops("a1", &of_a))).await;
            assert_eq!(late["results"][0]["code"], "not_leased", "{late}");
            for (token, batch, id) in [(b_t, &of_b, "b1"), (c_t, &of_c, "c1")] {
                let done = env.ok(token, "POST", "/sync", Some(ops(id, batch))).await;
                assert_eq!(done["results"][0]["status"], "applied", "{done}");
            }
            let progress = env
                .ok(ADMIN, "GET", &format!("/tasks/{t}/progress"), None)
                .await;
            assert_eq!(progress["approved"], 1, "{progress}");
        }
        env
    })
    .await;
}

#[tokio::test]
async fn archived_tasks_refuse_every_change() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(6).await;
        let (a, _) = env.user("a", project, &["annotator"]).await;
        let (b, _) = env.user("b", project, &["annotator"]).await;
        let t = env.pull_task(project, dataset, &[a, b], 1, json!({})).await;
        let items: Vec<i64> = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        let spec = env.ok(ADMIN, "GET", &format!("/tasks/{t}"), None).await;
        env.ok(
            ADMIN,
            "DELETE",
            &format!("/tasks/{t}/items"),
            Some(json!({"item_ids": [items[0]]})),
        )
        .await;
        env.ok(
            ADMIN,
            "POST",
            &format!("/tasks/{t}/status"),
            Some(json!({"status": "archived"})),
        )
        .await;
        let mut put = spec.clone();
        for k in [
            "id",
            "project_id",
            "status",
            "overlap",
            "created_at",
            "updated_at",
            "last_submitted_at",
            "counts",
        ] {
            put.as_object_mut().unwrap().remove(k);
        }
        put["name"] = json!("renamed");
        let attempts = [
            ("PATCH", format!("/tasks/{t}"), json!({"name": "renamed"})),
            ("PUT", format!("/tasks/{t}"), put),
            (
                "POST",
                format!("/tasks/{t}/items"),
                json!({"item_ids": [items[0]]}),
            ),
            (
                "DELETE",
                format!("/tasks/{t}/items"),
                json!({"item_ids": [items[1]]}),
            ),
            (
                "POST",
                format!("/tasks/{t}/items/reassign"),
                json!({"item_ids": [items[1]], "from": a, "to": b}),
            ),
            (
                "POST",
                format!("/tasks/{t}/items/priority"),
                json!({"item_ids": [items[1]], "priority": 9}),
            ),
            (
                "POST",
                format!("/tasks/{t}/predictions"),
                json!({"model": "resnet", "predictions": [{"item_id": items[1],
                    "value": {"type": "classification", "concept": "cat"}, "confidence": 0.9}]}),
            ),
            (
                "POST",
                format!("/tasks/{t}/predictions/label-studio"),
                json!([{"data": {"external_id": "t1"}, "annotations": []}]),
            ),
        ];
        for (method, path, body) in attempts {
            refused(
                env.call(ADMIN, method, &path, Some(body)).await,
                409,
                "task_archived",
                "archived",
            );
        }
        let after = env.ok(ADMIN, "GET", &format!("/tasks/{t}"), None).await;
        assert_eq!(after["name"], spec["name"]);
        assert_eq!(after["counts"]["items"], 5, "{after}");
        let results = env
            .ok(ADMIN, "GET", &format!("/tasks/{t}/results"), None)
            .await;
        assert!(
            results["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r["priority"] != 9),
            "{results}"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn schema_and_kind_are_fixed_once_labels_exist() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let t = env.pull_task(project, dataset, &[a], 1, json!({})).await;
        let boxes = json!({"annotation_type": "bounding_box", "concepts": ["cat"]});
        // Before any label, the schema may still change (and back).
        env.ok(ADMIN, "PATCH", &format!("/tasks/{t}"), Some(json!({"schema": boxes}))).await;
        env.ok(
            ADMIN,
            "PATCH",
            &format!("/tasks/{t}"),
            Some(json!({"schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]}})),
        )
        .await;
        let batch = env
            .ok(&a_t, "POST", &format!("/tasks/{t}/batches"), Some(json!({"size": 1})))
            .await;
        let item = item_ids(&batch)[0];
        let r = env
            .ok(
                &a_t,
                "POST",
                "/sync",
                Some(json!({"ops": [submit("s1", t, item, batch["lease_id"].as_i64().unwrap(), "cat")]})),
            )
            .await;
        assert_eq!(r["results"][0]["status"], "applied", "{r}");
        for (patch, field) in [
            (json!({"schema": boxes}), "schema"),
            (json!({"schema": {"annotation_type": "classification", "concepts": ["cat"]}}), "schema"),
            (json!({"schema": {"annotation_type": "classification", "concepts": ["cat", "dog", "bird"]}}), "schema"),
            (json!({"kind": "review"}), "kind"),
        ] {
            refused(
                env.call(ADMIN, "PATCH", &format!("/tasks/{t}"), Some(patch)).await,
                409,
                "labels_exist",
                field,
            );
        }
        // Other fields still change.
        let renamed = env
            .ok(ADMIN, "PATCH", &format!("/tasks/{t}"), Some(json!({"name": "still editable"})))
            .await;
        assert_eq!(renamed["name"], "still editable");
        assert_eq!(renamed["schema"]["concepts"], json!(["cat", "dog"]));
        let export = env
            .ok(ADMIN, "POST", &format!("/tasks/{t}/exports"), Some(json!({"format": "json"})))
            .await;
        let job = env.wait_job(ADMIN, export["job_id"].as_i64().unwrap()).await;
        assert_eq!(job["status"], "complete", "{job}");
        env
    })
    .await;
}

#[tokio::test]
async fn junk_filters_and_dates_are_refused_by_name() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (other, other_ds) = env.project_with_items(2).await;
        assert_ne!(project, other);
        let spec = |extra: Value| {
            let mut s = json!({
                "name": "t",
                "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
                "input": {"type": "dataset", "dataset_id": dataset},
                "worker_strategy": {"type": "pull"},
            });
            for (k, v) in extra.as_object().unwrap() {
                s[k] = v.clone();
            }
            s
        };
        let create = |body: Value| {
            let env = &env;
            async move {
                env.call(
                    ADMIN,
                    "POST",
                    &format!("/projects/{project}/tasks"),
                    Some(body),
                )
                .await
            }
        };
        refused(
            create(spec(json!({"due_date": -1}))).await,
            422,
            "validation_failed",
            "due_date",
        );
        refused(
            create(spec(
                json!({"input": {"type": "filter", "filter": {"dataset_id": other_ds}}}),
            ))
            .await,
            422,
            "validation_failed",
            "input.filter.dataset_id",
        );
        let (s, v) = env.call(ADMIN, "GET", "/tasks?kind=junk", None).await;
        assert!((400..500).contains(&s), "{s} {v}");
        assert!(v["error"].to_string().contains("kind"), "{v}");
        for q in ["status=junk", "colour=red"] {
            let (s, v) = env
                .call(
                    ADMIN,
                    "GET",
                    &format!("/projects/{project}/items?{q}"),
                    None,
                )
                .await;
            assert!((400..500).contains(&s), "{q}: {s} {v}");
            let field = q.split('=').next().unwrap();
            assert!(v["error"].to_string().contains(field), "{q}: {v}");
        }
        // The status filter the API documents works (and pages after filtering).
        let count = |v: &Value| v["items"].as_array().unwrap().len();
        let all = env
            .ok(
                ADMIN,
                "GET",
                &format!("/projects/{project}/items?status=unlabeled"),
                None,
            )
            .await;
        assert_eq!(count(&all), 4, "{all}");
        let none = env
            .ok(
                ADMIN,
                "GET",
                &format!("/projects/{project}/items?status=labeled&limit=1"),
                None,
            )
            .await;
        assert_eq!(
            (count(&none), &none["next_cursor"]),
            (0, &Value::Null),
            "{none}"
        );
        // The good spellings still work.
        env.ok(ADMIN, "GET", "/tasks?kind=labeling", None).await;
        create(spec(json!({"due_date": 1_900_000_000_000_i64}))).await;
        let t = env
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(spec(
                    json!({"input": {"type": "filter", "filter": {"dataset_id": dataset}}}),
                )),
            )
            .await;
        assert_eq!(t["counts"]["items"], 4);
        env
    })
    .await;
}

#[tokio::test]
async fn sync_refuses_a_lease_id_that_is_not_the_workers_own() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let (b, b_t) = env.user("b", project, &["annotator"]).await;
        let t = env
            .pull_task(project, dataset, &[a, b], 2, json!({"lease_seconds": 2}))
            .await;
        let la = env
            .ok(
                &a_t,
                "POST",
                &format!("/tasks/{t}/batches"),
                Some(json!({"size": 2})),
            )
            .await;
        let lb = env
            .ok(
                &b_t,
                "POST",
                &format!("/tasks/{t}/batches"),
                Some(json!({"size": 2})),
            )
            .await;
        let (la_id, lb_id) = (
            la["lease_id"].as_i64().unwrap(),
            lb["lease_id"].as_i64().unwrap(),
        );
        let items = item_ids(&la);
        let sync = |op: Value| {
            let (env, a_t) = (&env, &a_t);
            async move {
                env.ok(a_t, "POST", "/sync", Some(json!({"ops": [op]})))
                    .await["results"][0]
                    .clone()
            }
        };
        for (n, lease) in [lb_id, -1, 0, la_id + lb_id + 1000].into_iter().enumerate() {
            let r = sync(submit(&format!("bad-{n}"), t, items[0], lease, "cat")).await;
            assert_eq!(
                (r["status"].as_str(), r["code"].as_str()),
                (Some("rejected"), Some("wrong_lease")),
                "lease {lease}: {r}"
            );
            assert!(r["message"].as_str().unwrap().contains("lease"), "{r}");
        }
        let r = sync(submit("good", t, items[0], la_id, "cat")).await;
        assert_eq!(
            (r["status"].as_str(), r["late"].as_bool()),
            (Some("applied"), Some(false)),
            "{r}"
        );
        // The worker's own lease, expired, still gives a late label (invariant 4).
        tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
        let r = sync(submit("late", t, items[1], la_id, "dog")).await;
        assert_eq!(
            (r["status"].as_str(), r["late"].as_bool()),
            (Some("applied"), Some(true)),
            "{r}"
        );
        // Only the own lease's ids were stored.
        for i in &items {
            let view = env.ok(ADMIN, "GET", &format!("/items/{i}"), None).await;
            assert_eq!(view["answers"].as_array().unwrap().len(), 1, "{view}");
        }
        env
    })
    .await;
}

/// A project whose items carry classification gold (every 10th item of `project_with_items`),
/// and its first item id.
async fn gold_project(env: &Env) -> (i64, i64, Vec<i64>) {
    let (project, dataset) = env.project_with_items(20).await;
    let items = env
        .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
        .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["has_gold"] == true)
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    (project, dataset, items)
}

#[tokio::test]
async fn gold_must_fit_the_tasks_schema() {
    on_each_backend(|env| async move {
        let (project, dataset, gold) = gold_project(&env).await;
        assert_eq!(gold.len(), 2);
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let boxes = json!({"annotation_type": "bounding_box", "concepts": ["cat"]});
        // A task that checks workers against gold refuses gold of another shape, per item.
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(json!({
                    "name": "boxes with honeypots",
                    "schema": boxes,
                    "input": {"type": "dataset", "dataset_id": dataset},
                    "worker_strategy": {"type": "pull"},
                    "honeypot_rate": 0.1,
                    "assignees": [a],
                })),
            )
            .await;
        assert_eq!((s, v["error"]["code"].as_str()), (422, Some("validation_failed")), "{v}");
        let details = v["error"]["details"].to_string();
        for g in &gold {
            assert!(details.contains(&format!("item {g}")), "per-item errors: {v}");
        }
        assert!(details.contains("gold"), "{v}");
        // Gold that fits is fine.
        env.pull_task(project, dataset, &[a], 1, json!({"honeypot_rate": 0.1})).await;
        // Without honeypots the task is made, but the misfit gold never scores anyone.
        let t = env
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(json!({
                    "name": "boxes",
                    "schema": boxes,
                    "input": {"type": "item_ids", "item_ids": gold},
                    "worker_strategy": {"type": "pull"},
                    "assignees": [a],
                })),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let batch = env.ok(&a_t, "POST", &format!("/tasks/{t}/batches"), None).await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let ops: Vec<Value> = item_ids(&batch)
            .into_iter()
            .map(|i| {
                json!({"client_op_id": format!("box-{i}"), "action": {"type": "submit", "task_id": t,
                    "item_id": i, "lease_id": lease, "value": {"type": "bounding_box",
                    "boxes": [{"concept": "cat", "x": 1.0, "y": 1.0, "w": 5.0, "h": 5.0}]}}})
            })
            .collect();
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": ops}))).await;
        assert!(r["results"].as_array().unwrap().iter().all(|x| x["status"] == "applied"), "{r}");
        let progress = env.ok(ADMIN, "GET", &format!("/tasks/{t}/progress"), None).await;
        let me = progress["per_annotator"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["worker_id"] == a)
            .unwrap();
        assert_eq!(me["gold_accuracy"], Value::Null, "misfit gold is not a score: {progress}");
        // Adding misfit gold items to a task with honeypots is refused the same way.
        let h = env
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(json!({
                    "name": "boxes, honeypots later",
                    "schema": boxes,
                    "input": {"type": "item_ids", "item_ids": [gold[0] + 1]},
                    "worker_strategy": {"type": "pull"},
                    "honeypot_rate": 0.1,
                    "assignees": [a],
                })),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        refused(
            env.call(ADMIN, "POST", &format!("/tasks/{h}/items"), Some(json!({"item_ids": [gold[0]]})))
                .await,
            422,
            "validation_failed",
            "gold",
        );
        // Setting misfit gold on an item such a task holds is refused at upload, per row.
        let (s, up) = env
            .call(
                ADMIN,
                "POST",
                &format!("/datasets/{dataset}/items"),
                Some(json!([
                    {"external_id": "t1", "data": "item 1", "gold": {"type": "classification", "concept": "cat"}},
                    {"external_id": "t2", "data": "item 2 again"},
                ])),
            )
            .await;
        assert_eq!((s, up["updated"].as_i64(), up["failed"].as_i64()), (200, Some(1), Some(1)), "{up}");
        assert_eq!(up["errors"][0]["row"], 1, "{up}");
        assert!(up["errors"][0]["message"].as_str().unwrap().contains(&format!("task {h}")), "{up}");
        env
    })
    .await;
}

#[tokio::test]
async fn misfit_gold_anchors_no_aggregation() {
    on_each_backend(|env| async move {
        // Gold "cat" on a task whose classes are x and y: not an answer the task can have.
        let (project, _, gold) = gold_project(&env).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let t = env
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(json!({
                    "name": "x or y",
                    "schema": {"annotation_type": "classification", "concepts": ["x", "y"]},
                    "input": {"type": "item_ids", "item_ids": gold},
                    "worker_strategy": {"type": "pull"},
                    "assignees": [a],
                })),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let batch = env
            .ok(&a_t, "POST", &format!("/tasks/{t}/batches"), None)
            .await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let ops: Vec<Value> = item_ids(&batch)
            .into_iter()
            .map(|i| submit(&format!("xy-{i}"), t, i, lease, "x"))
            .collect();
        env.ok(&a_t, "POST", "/sync", Some(json!({"ops": ops})))
            .await;
        let started = env
            .ok(
                ADMIN,
                "POST",
                &format!("/tasks/{t}/aggregate"),
                Some(json!({"method": "majority"})),
            )
            .await;
        let job = env
            .wait_job(ADMIN, started["job_id"].as_i64().unwrap())
            .await;
        assert_eq!(job["status"], "complete", "{job}");
        let result = env
            .ok(ADMIN, "GET", &format!("/jobs/{}/result", job["id"]), None)
            .await;
        assert_eq!(result["gold_items"], 0, "{result}");
        env
    })
    .await;
}
