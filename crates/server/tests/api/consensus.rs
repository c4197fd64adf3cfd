//! Online consensus on the server: the core's majority decides each result as labels arrive,
//! and dynamic overlap stops collecting on confident items and asks for more on uncertain ones.

use crate::support::{item_ids, on_each_backend, result_of, submit, Env, ADMIN};
use serde_json::{json, Value};

/// Leases a batch as `token` and labels every item in it with `concept`; returns the items.
async fn label_batch(env: &Env, token: &str, task: i64, concept: &str) -> Vec<i64> {
    let batch = env
        .ok(token, "POST", &format!("/tasks/{task}/batches"), None)
        .await;
    let items = item_ids(&batch);
    if let Some(lease) = batch["lease_id"].as_i64().filter(|_| !items.is_empty()) {
        let ops: Vec<Value> = items
            .iter()
            .map(|i| submit(&format!("{token}-{i}"), task, *i, lease, concept))
            .collect();
        env.ok(token, "POST", "/sync", Some(json!({ "ops": ops })))
            .await;
    }
    items
}

#[tokio::test]
async fn dynamic_overlap_stops_when_confident_and_grows_when_not() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(2).await;
        let mut people = Vec::new();
        for n in 0..5 {
            people.push(env.user(&format!("dyn{n}"), project, &["annotator"]).await);
        }
        let ids: Vec<i64> = people.iter().map(|p| p.0).collect();
        let task = env
            .pull_task(
                project,
                dataset,
                &ids,
                2,
                json!({"dynamic_overlap": {"confidence": 0.9, "max_overlap": 4}}),
            )
            .await;
        // Two agree on the first item, disagree on the second.
        let first = label_batch(&env, &people[0].1, task, "cat").await;
        assert_eq!(first.len(), 2);
        let (a, b) = (first[0], first[1]);
        let batch = env
            .ok(
                &people[1].1,
                "POST",
                &format!("/tasks/{task}/batches"),
                None,
            )
            .await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let ops = vec![
            submit("d1a", task, a, lease, "cat"),
            submit("d1b", task, b, lease, "dog"),
        ];
        env.ok(&people[1].1, "POST", "/sync", Some(json!({ "ops": ops })))
            .await;

        let ra = result_of(&env, task, a).await;
        assert_eq!(
            (ra["state"].as_str(), ra["confidence"].as_f64()),
            (Some("auto_approved"), Some(1.0)),
            "{ra}"
        );
        // The uncertain item asks for a third label, the confident one for none.
        assert_eq!(label_batch(&env, &people[2].1, task, "cat").await, vec![b]);
        let rb = result_of(&env, task, b).await;
        assert_eq!(rb["state"], "pending", "2 of 3 is below 0.9: {rb}");
        assert_eq!(rb["value"]["concept"], "cat");
        // A fourth, the maximum; then nobody else gets it, and the result is decided.
        assert_eq!(label_batch(&env, &people[3].1, task, "cat").await, vec![b]);
        assert!(
            label_batch(&env, &people[4].1, task, "cat")
                .await
                .is_empty(),
            "max_overlap 4 reached"
        );
        let rb = result_of(&env, task, b).await;
        assert_eq!(
            (
                rb["state"].as_str(),
                rb["labels"].as_i64(),
                rb["confidence"].as_f64()
            ),
            (Some("auto_approved"), Some(4), Some(0.75)),
            "{rb}"
        );

        // Dynamic overlap only works where seats are not fixed up front.
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(json!({
                    "name": "planned",
                    "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
                    "input": {"type": "dataset", "dataset_id": dataset},
                    "worker_strategy": {"type": "full"},
                    "assignees": ids,
                    "dynamic_overlap": {"confidence": 0.9, "max_overlap": 6},
                })),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]["details"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["field"] == "dynamic_overlap"),
            "{v}"
        );
        let violations =
            quorum_server::invariants::check(env.db_url(), quorum_core::ids::TaskId(task), &[])
                .await
                .unwrap();
        assert_eq!(violations.total(), 0, "{violations:?}");
        env
    })
    .await;
}

#[tokio::test]
async fn ties_go_to_the_smallest_label_like_crowd_kit() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(1).await;
        let (a, a_t) = env.user("tie-a", project, &["annotator"]).await;
        let (b, b_t) = env.user("tie-b", project, &["annotator"]).await;
        let task = env.pull_task(project, dataset, &[a, b], 2, json!({})).await;
        let item = label_batch(&env, &a_t, task, "dog").await[0];
        label_batch(&env, &b_t, task, "cat").await;
        let r = result_of(&env, task, item).await;
        assert_eq!(
            (r["value"]["concept"].as_str(), r["confidence"].as_f64()),
            (Some("cat"), Some(0.5)),
            "{r}"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn aggregation_job_revises_unreviewed_results_with_dawid_skene() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(6).await;
        let mut people = Vec::new();
        for n in 0..4 {
            people.push(env.user(&format!("agg{n}"), project, &["annotator"]).await);
        }
        let ids: Vec<i64> = people.iter().map(|p| p.0).collect();
        let task = env
            .pull_task(project, dataset, &ids, 3, json!({"worker_strategy": {"type": "pull", "batch_size": 10, "workers_per_input": 4}}))
            .await;
        // Two reliable workers say cat; the third always says dog; the fourth comes later.
        label_batch(&env, &people[0].1, task, "cat").await;
        label_batch(&env, &people[1].1, task, "cat").await;
        assert_eq!(label_batch(&env, &people[2].1, task, "dog").await.len(), 6);

        let (s, _) = env
            .call(&people[0].1, "POST", &format!("/tasks/{task}/aggregate"), Some(json!({})))
            .await;
        assert_eq!(s, 403, "annotators do not run aggregation");
        let (s, v) = env
            .call(ADMIN, "POST", &format!("/tasks/{task}/aggregate"), Some(json!({"method": "psychic"})))
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("dawid-skene"), "{v}");

        let started = env
            .ok(ADMIN, "POST", &format!("/tasks/{task}/aggregate"), Some(json!({"method": "dawid-skene"})))
            .await;
        let job = env.wait_job(ADMIN, started["job_id"].as_i64().unwrap()).await;
        assert_eq!(job["status"], "complete", "{job}");
        let results = env.ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None).await;
        for r in results["results"].as_array().unwrap() {
            assert_eq!(r["value"]["concept"], "cat", "{r}");
            assert_eq!(r["method"], "dawid-skene", "{r}");
            let c = r["confidence"].as_f64().unwrap();
            assert!(c > 2.0 / 3.0 && c <= 1.0, "EM is surer than the 2/3 vote share: {r}");
        }

        // The default method needs no name; shape tasks are refused.
        let started = env
            .ok(ADMIN, "POST", &format!("/tasks/{task}/aggregate"), Some(json!({})))
            .await;
        let job = env.wait_job(ADMIN, started["job_id"].as_i64().unwrap()).await;
        let default = quorum_core::consensus::DEFAULT_METHOD.name();
        assert_eq!(job["params"]["method"], default);
        // The periodic sweep skips tasks without new labels, and takes them up after one.
        let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
        assert_eq!(quorum_server::api::aggregation_sweep(&db).await.unwrap(), 0);
        assert_eq!(label_batch(&env, &people[3].1, task, "cat").await.len(), 6);
        assert_eq!(quorum_server::api::aggregation_sweep(&db).await.unwrap(), 1);
        assert_eq!(quorum_server::api::aggregation_sweep(&db).await.unwrap(), 0, "claimed once");
        let jobs = env.ok(ADMIN, "GET", "/jobs", None).await;
        let swept = &jobs["jobs"][0];
        assert_eq!((swept["kind"].as_str(), swept["params"]["method"].as_str()), (Some("aggregate"), Some(default)), "{jobs}");
        let boxes = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(json!({
                "name": "boxes",
                "schema": {"annotation_type": "bounding_box", "concepts": ["cat"]},
                "input": {"type": "dataset", "dataset_id": dataset},
                "worker_strategy": {"type": "pull"},
            })))
            .await;
        let (s, v) = env
            .call(ADMIN, "POST", &format!("/tasks/{}/aggregate", boxes["id"]), Some(json!({})))
            .await;
        assert_eq!((s, v["error"]["code"].as_str()), (422, Some("aggregation_unsupported")), "{v}");
        env
    })
    .await;
}
