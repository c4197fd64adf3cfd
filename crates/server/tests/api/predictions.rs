//! Auto-annotation and comparison: predictions inside the auto-accept range become the model's
//! annotations and close their item; the rest go to people; managers compare answer sets.

use crate::support::{item_ids, on_each_backend, submit, ADMIN};
use serde_json::{json, Value};

fn class(concept: &str) -> Value {
    json!({"type": "classification", "concept": concept})
}

#[tokio::test]
async fn confident_predictions_label_items_and_the_rest_go_to_people() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (w, w_t) = env.user("pred-worker", project, &["annotator"]).await;
        let task = env
            .pull_task(project, dataset, &[w], 1, json!({"auto_accept": {"min": {"value": 0.9, "inclusive": false}}}))
            .await;
        let items = env.ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None).await;
        let ids: Vec<i64> = items["results"].as_array().unwrap().iter().map(|r| r["item_id"].as_i64().unwrap()).collect();
        let body = json!({"model": "resnet", "predictions": [
            {"item_id": ids[0], "value": class("cat"), "confidence": 0.95},
            {"item_id": ids[1], "value": class("dog"), "confidence": 0.9},
            {"item_id": ids[2], "value": class("horse"), "confidence": 0.99},
            {"item_id": 999999, "value": class("cat"), "confidence": 0.99},
            {"item_id": ids[3], "value": class("cat"), "confidence": 1.5},
            {"item_id": ids[3]},
        ]});
        let (s, _) = env.call(&w_t, "POST", &format!("/tasks/{task}/predictions"), Some(body.clone())).await;
        assert_eq!(s, 403, "annotators import nothing");
        let out = env.ok(ADMIN, "POST", &format!("/tasks/{task}/predictions"), Some(body.clone())).await;
        let status: Vec<&str> = out["rows"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
        assert_eq!(status, ["accepted", "to_people", "failed", "failed", "failed", "failed"], "{out}");
        assert!(out["rows"][2]["message"].as_str().unwrap().contains("invalid label"), "{out}");
        assert!(out["rows"][3]["message"].as_str().unwrap().contains("not in this task"), "{out}");
        // The same file again changes nothing; a changed answer is refused.
        let again = env.ok(ADMIN, "POST", &format!("/tasks/{task}/predictions"), Some(body)).await;
        assert_eq!(again["rows"][0]["status"], "unchanged", "{again}");
        let changed = json!({"model": "resnet", "predictions": [{"item_id": ids[0], "value": class("dog"), "confidence": 0.95}]});
        let out = env.ok(ADMIN, "POST", &format!("/tasks/{task}/predictions"), Some(changed)).await;
        assert_eq!(out["rows"][0]["status"], "failed");

        let results = env.ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None).await;
        let first = &results["results"][0];
        assert_eq!((first["state"].as_str(), first["value"]["concept"].as_str(), first["method"].as_str()), (Some("auto_approved"), Some("cat"), Some("model:resnet")), "{results}");

        // People get every item but the one the model took; they label them all "dog".
        let batch = env.ok(&w_t, "POST", &format!("/tasks/{task}/batches"), None).await;
        let got = item_ids(&batch);
        assert_eq!(got.len(), 3, "{batch}");
        assert!(!got.contains(&ids[0]));
        let lease = batch["lease_id"].as_i64().unwrap();
        let ops: Vec<Value> = got.iter().map(|i| submit(&format!("p{i}"), task, *i, lease, "dog")).collect();
        env.ok(&w_t, "POST", "/sync", Some(json!({ "ops": ops }))).await;

        // Worker vs model: they share item 2 only (the model's "dog" there), and agree.
        let cmp = env.ok(ADMIN, "GET", &format!("/tasks/{task}/compare?a=worker:{w}&b=model:resnet"), None).await;
        assert_eq!((cmp["shared"].as_u64(), cmp["agreement"].as_f64()), (Some(1), Some(1.0)), "{cmp}");
        assert_eq!(cmp["items"].as_array().unwrap().len(), 4, "{cmp}");
        let (s, v) = env.call(ADMIN, "GET", &format!("/tasks/{task}/compare?a=worker:x&b=model:resnet"), None).await;
        assert_eq!(s, 400, "{v}");
        let (s, _) = env.call(&w_t, "GET", &format!("/tasks/{task}/compare?a=worker:{w}&b=model:resnet"), None).await;
        assert_eq!(s, 403, "annotators never see model answers or peers");
        // Models never sign in, and no person can pose as one.
        let (s, _) = env.call("model:resnet", "GET", "/me", None).await;
        assert_eq!(s, 401);
        let (s, v) = env.call(ADMIN, "POST", "/users", Some(json!({"name": "model:gpt"}))).await;
        assert_eq!(s, 422, "{v}");
        env
    })
    .await;
}

#[tokio::test]
async fn two_annotators_compare_with_kappa() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (a, a_t) = env.user("cmp-a", project, &["annotator"]).await;
        let (b, b_t) = env.user("cmp-b", project, &["annotator"]).await;
        let task = env.pull_task(project, dataset, &[a, b], 2, json!({})).await;
        let plan = [
            ("cat", "cat"),
            ("dog", "dog"),
            ("cat", "dog"),
            ("dog", "dog"),
        ];
        for (token, side) in [(&a_t, 0), (&b_t, 1)] {
            let batch = env
                .ok(token, "POST", &format!("/tasks/{task}/batches"), None)
                .await;
            let lease = batch["lease_id"].as_i64().unwrap();
            let ops: Vec<Value> = item_ids(&batch)
                .iter()
                .enumerate()
                .map(|(n, i)| {
                    let concept = if side == 0 { plan[n].0 } else { plan[n].1 };
                    submit(&format!("{side}-{i}"), task, *i, lease, concept)
                })
                .collect();
            env.ok(token, "POST", "/sync", Some(json!({ "ops": ops })))
                .await;
        }
        let cmp = env
            .ok(
                ADMIN,
                "GET",
                &format!("/tasks/{task}/compare?a=worker:{a}&b=worker:{b}"),
                None,
            )
            .await;
        assert_eq!(
            (cmp["shared"].as_u64(), cmp["agreement"].as_f64()),
            (Some(4), Some(0.75)),
            "{cmp}"
        );
        // p_o = 3/4, p_e = (2/4·1/4 + 2/4·3/4) = 1/2, kappa = 0.5.
        assert!(
            (cmp["kappa"].as_f64().unwrap() - 0.5).abs() < 1e-12,
            "{cmp}"
        );
        env
    })
    .await;
}
