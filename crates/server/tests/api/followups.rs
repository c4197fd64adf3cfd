//! The web app's follow-up requests: per-assignee progress, each result's priority, input-source
//! errors as field errors, and `GET /jobs` by project with a cursor.

use crate::support::{item_ids, on_each_backend, submit, Env, ADMIN};
use serde_json::{json, Value};

/// Creates a task from `spec` merged over a small classification task in `project`.
async fn task(env: &Env, project: i64, spec: Value) -> i64 {
    let mut full = json!({
        "name": "t",
        "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
        "input": {"type": "all_items"},
        "worker_strategy": {"type": "pull", "batch_size": 5, "workers_per_input": 1},
        "seed": 1,
    });
    for (k, v) in spec.as_object().unwrap() {
        full[k] = v.clone();
    }
    let t = env
        .ok(
            ADMIN,
            "POST",
            &format!("/projects/{project}/tasks"),
            Some(full),
        )
        .await;
    t["id"].as_i64().unwrap()
}

/// The `per_assignee` rows as (worker, planned, done), in the order given.
fn assignee_rows(progress: &Value) -> Vec<(i64, i64, i64)> {
    progress["per_assignee"]
        .as_array()
        .unwrap_or_else(|| panic!("no per_assignee: {progress}"))
        .iter()
        .map(|r| {
            assert!(r["name"].is_string(), "{r}");
            (
                r["worker_id"].as_i64().unwrap(),
                r["planned"].as_i64().unwrap(),
                r["done"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn progress_lists_every_assignee_with_planned_and_done() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let (b, _) = env.user("b", project, &["annotator"]).await;
        let (c, c_t) = env.user("c", project, &["annotator", "reviewer"]).await;
        env.user("m", project, &["manager"]).await;

        // `full` plans every item for each assignee up front; b never starts.
        let full = task(
            &env,
            project,
            json!({"input": {"type": "dataset", "dataset_id": dataset},
                   "worker_strategy": {"type": "full"}, "assignees": [b, a]}),
        )
        .await;
        let batch = env
            .ok(
                &a_t,
                "POST",
                &format!("/tasks/{full}/batches"),
                Some(json!({"size": 2})),
            )
            .await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let ops: Vec<Value> = item_ids(&batch)
            .iter()
            .map(|i| submit(&format!("f{i}"), full, *i, lease, "cat"))
            .collect();
        env.ok(&a_t, "POST", "/sync", Some(json!({ "ops": ops })))
            .await;
        let p = env
            .ok(ADMIN, "GET", &format!("/tasks/{full}/progress"), None)
            .await;
        assert_eq!(assignee_rows(&p), vec![(a, 4, 2), (b, 4, 0)], "{p}");
        // The existing fields are still there, and still list only people with labels.
        assert_eq!(p["items"], 4);
        assert_eq!(p["labeled"], 2);
        let scored: Vec<i64> = p["per_annotator"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["worker_id"].as_i64().unwrap())
            .collect();
        assert_eq!(scored, vec![a]);
        assert_eq!(p["per_annotator"][0]["annotations"], 2);

        // A task naming nobody is open to every annotator of the project: each is listed, and
        // a pulled batch counts as planned even after it goes back unlabeled.
        let open = task(&env, project, json!({})).await;
        let pulled = env
            .ok(
                &c_t,
                "POST",
                &format!("/tasks/{open}/batches"),
                Some(json!({"size": 3})),
            )
            .await;
        assert_eq!(item_ids(&pulled).len(), 3);
        env.ok(
            &c_t,
            "POST",
            &format!("/leases/{}/release", pulled["lease_id"]),
            None,
        )
        .await;
        let p = env
            .ok(ADMIN, "GET", &format!("/tasks/{open}/progress"), None)
            .await;
        assert_eq!(
            assignee_rows(&p),
            vec![(a, 0, 0), (b, 0, 0), (c, 3, 0)],
            "{p}"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn results_carry_each_items_priority() {
    on_each_backend(|env| async move {
        let (project, _) = env.project_with_items(3).await;
        let t = task(&env, project, json!({})).await;
        let items = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await;
        let urgent = items["items"][1]["id"].as_i64().unwrap();
        env.ok(
            ADMIN,
            "POST",
            &format!("/tasks/{t}/items/priority"),
            Some(json!({"item_ids": [urgent], "priority": 7})),
        )
        .await;
        let r = env
            .ok(ADMIN, "GET", &format!("/tasks/{t}/results"), None)
            .await;
        let rows = r["results"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        for row in rows {
            let want = if row["item_id"] == urgent { 7 } else { 0 };
            assert_eq!(row["priority"], want, "{row}");
        }
        // A task's own priority is every item's priority in it.
        let high = task(&env, project, json!({"priority": -2})).await;
        let r = env
            .ok(ADMIN, "GET", &format!("/tasks/{high}/results"), None)
            .await;
        assert!(
            r["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|row| row["priority"] == -2),
            "{r}"
        );
        env
    })
    .await;
}

/// Asserts a 422 `validation_failed` naming exactly `field`.
fn assert_field_error(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "validation_failed", "{body}");
    let details = body["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("details are not a list: {body}"));
    assert_eq!(details.len(), 1, "{body}");
    assert_eq!(details[0]["field"], field, "{body}");
    assert!(
        !details[0]["message"].as_str().unwrap_or("").is_empty(),
        "{body}"
    );
}

#[tokio::test]
async fn input_source_errors_are_field_errors() {
    on_each_backend(|env| async move {
        let (project, _) = env.project_with_items(2).await;
        let (other, other_dataset) = env.project_with_items(1).await;
        let foreign_item = env
            .ok(ADMIN, "GET", &format!("/projects/{other}/items"), None)
            .await["items"][0]["id"]
            .as_i64()
            .unwrap();
        let search = env
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{other}/saved-searches"),
                Some(json!({"name": "all", "filter": {}})),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let own_item = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await["items"][0]["id"]
            .as_i64()
            .unwrap();
        let base = json!({
            "name": "t",
            "schema": {"annotation_type": "classification", "concepts": ["cat"]},
            "worker_strategy": {"type": "pull", "batch_size": 5, "workers_per_input": 1},
        });
        for (input, field) in [
            (
                json!({"type": "dataset", "dataset_id": other_dataset}),
                "input.dataset_id",
            ),
            (
                json!({"type": "saved_search", "saved_search_id": search}),
                "input.saved_search_id",
            ),
            (
                json!({"type": "item_ids", "item_ids": [own_item, foreign_item]}),
                "input.item_ids",
            ),
        ] {
            let mut spec = base.clone();
            spec["input"] = input;
            let (s, v) = env
                .call(
                    ADMIN,
                    "POST",
                    &format!("/projects/{project}/tasks"),
                    Some(spec),
                )
                .await;
            assert_field_error(s, &v, field);
        }
        let listed = env
            .ok(ADMIN, "GET", &format!("/tasks?project_id={project}"), None)
            .await;
        assert_eq!(listed["tasks"], json!([]), "nothing was created");

        // Adding items names the body's own field.
        let t = task(&env, project, json!({})).await;
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                &format!("/tasks/{t}/items"),
                Some(json!({"item_ids": [foreign_item]})),
            )
            .await;
        assert_field_error(s, &v, "item_ids");
        env
    })
    .await;
}

#[tokio::test]
async fn jobs_filter_by_project_and_page_with_a_cursor() {
    on_each_backend(|env| async move {
        let (p1, _) = env.project_with_items(2).await;
        let (p2, _) = env.project_with_items(2).await;
        let (_, m2) = env.user("m2", p2, &["manager"]).await;
        let t1 = task(&env, p1, json!({})).await;
        let t2 = task(&env, p2, json!({})).await;
        let mut jobs1 = Vec::new();
        for (t, n) in [(t1, 3), (t2, 2)] {
            for _ in 0..n {
                let j = env
                    .ok(
                        ADMIN,
                        "POST",
                        &format!("/tasks/{t}/exports"),
                        Some(json!({"format": "json"})),
                    )
                    .await["job_id"]
                    .as_i64()
                    .unwrap();
                env.wait_job(ADMIN, j).await;
                if t == t1 {
                    jobs1.push(j);
                }
            }
        }
        jobs1.reverse();

        // Two pages of project 1's jobs, newest first, each job once.
        let page = env
            .ok(
                ADMIN,
                "GET",
                &format!("/jobs?project_id={p1}&limit=2"),
                None,
            )
            .await;
        let ids = |v: &Value| -> Vec<i64> {
            v["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(ids(&page), jobs1[..2].to_vec(), "{page}");
        let cursor = page["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_owned();
        let rest = env
            .ok(
                ADMIN,
                "GET",
                &format!("/jobs?project_id={p1}&limit=2&cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(ids(&rest), jobs1[2..].to_vec(), "{rest}");
        assert!(rest["next_cursor"].is_null(), "{rest}");

        // The status filter still applies, alone and with the others.
        let done = env
            .ok(
                ADMIN,
                "GET",
                &format!("/jobs?project_id={p1}&status=complete"),
                None,
            )
            .await;
        assert_eq!(ids(&done), jobs1);
        let failed = env
            .ok(
                ADMIN,
                "GET",
                &format!("/jobs?project_id={p1}&status=failed"),
                None,
            )
            .await;
        assert_eq!(failed["jobs"], json!([]));

        // A manager sees only their projects' jobs, whatever project they ask for.
        let mine = env.ok(&m2, "GET", "/jobs", None).await;
        assert_eq!(ids(&mine).len(), 2, "{mine}");
        assert!(mine["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["project_id"] == p2));
        let theirs = env
            .ok(&m2, "GET", &format!("/jobs?project_id={p1}"), None)
            .await;
        assert_eq!(theirs["jobs"], json!([]));
        assert!(theirs["next_cursor"].is_null());

        // The default page is 50; an admin sees every project's jobs.
        let all = env.ok(ADMIN, "GET", "/jobs", None).await;
        assert_eq!(ids(&all).len(), 5, "{all}");
        for bad in ["cursor=abc", "cursor=-3", "limit=x"] {
            let (s, v) = env.call(ADMIN, "GET", &format!("/jobs?{bad}"), None).await;
            assert_eq!(s, 400, "{bad}: {v}");
            assert_eq!(v["error"]["code"], "invalid_query", "{bad}: {v}");
        }
        env
    })
    .await;
}
