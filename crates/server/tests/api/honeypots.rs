//! Honeypots seen by an attacker: an annotator who leases one item at a time from a task with
//! honeypots in random order, and after every lease and every submission reads everything an
//! annotator may read. No count, state, shape or field may tell a gold item from a regular one.

use crate::support::{item_ids, on_each_backend, submit, Env, ADMIN};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Flattens JSON into `path → leaf`, so two snapshots can be compared field by field.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        Value::Array(a) => {
            out.insert(format!("{prefix}.len"), json!(a.len()));
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

/// What changed between two snapshots, as an observer would note it: numbers by how much,
/// times only whether they moved (their values differ from step to step anyway), anything else
/// from what to what.
fn diff(before: &Value, after: &Value) -> BTreeMap<String, String> {
    let (mut b, mut a) = (BTreeMap::new(), BTreeMap::new());
    flatten("", before, &mut b);
    flatten("", after, &mut a);
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let mut out = BTreeMap::new();
    for k in keys {
        let (x, y) = (b.get(k), a.get(k));
        if x == y {
            continue;
        }
        let note = match (x, y) {
            _ if k.ends_with("_at") => "moved".to_owned(),
            (Some(Value::Number(x)), Some(Value::Number(y))) => {
                format!("{:+}", y.as_f64().unwrap() - x.as_f64().unwrap())
            }
            (x, y) => format!("{x:?} -> {y:?}"),
        };
        out.insert(k.clone(), note);
    }
    out
}

/// The JSON shape of a value: its keys and their JSON types, recursively (arrays by their first
/// element).
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), shape(x))).collect()),
        Value::Array(a) => json!([a.first().map(shape)]),
        Value::Null => json!("null"),
        Value::Bool(_) => json!("bool"),
        Value::Number(_) => json!("number"),
        Value::String(_) => json!("string"),
    }
}

/// Everything about the task the annotator can read without naming an item.
async fn snapshot(env: &Env, token: &str, project: i64, task: i64, me: i64) -> Value {
    let row = env.my_task(token, task).await.unwrap_or(Value::Null);
    json!({
        "me_tasks": row,
        "task": env.ok(token, "GET", &format!("/tasks/{task}"), None).await,
        "list": env.ok(token, "GET", &format!("/tasks?project_id={project}&worker={me}"), None).await,
        "me": env.ok(token, "GET", "/me", None).await,
    })
}

#[tokio::test]
async fn an_annotator_leasing_one_by_one_cannot_tell_honeypots() {
    on_each_backend(|env| async move {
        // Gold items sit in their own dataset (as managers often keep them), uploaded in
        // between the regular ones so their ids alone say nothing.
        let (project, regular_ds) = env.project_and_dataset(json!({"name": "attack"})).await;
        let gold_ds = env
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/datasets"),
                Some(json!({"name": "gold"})),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        for n in 0..24 {
            let gold = n % 3 == 2;
            let (ds, g) = if gold {
                (gold_ds, json!({"type": "classification", "concept": "cat"}))
            } else {
                (regular_ds, Value::Null)
            };
            env.ok(
                ADMIN,
                "POST",
                &format!("/datasets/{ds}/items"),
                Some(
                    json!([{"external_id": format!("x{n}"), "data": format!("text {n}"),
                    "directory": "/a", "metadata": {"n": n}, "gold": g}]),
                ),
            )
            .await;
        }
        let listed = env
            .ok(
                ADMIN,
                "GET",
                &format!("/projects/{project}/items?limit=100"),
                None,
            )
            .await;
        let gold: HashSet<i64> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["has_gold"] == true)
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        assert_eq!(gold.len(), 8);
        let (a, a_t) = env.user("attacker", project, &["annotator"]).await;
        let t = env
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(json!({
                    "name": "with honeypots",
                    "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
                    "input": {"type": "all_items"},
                    "worker_strategy": {"type": "pull", "batch_size": 5, "workers_per_input": 1},
                    "order": "random",
                    "honeypot_rate": 0.25,
                    "assignees": [a],
                    "seed": 11,
                })),
            )
            .await["id"]
            .as_i64()
            .unwrap();

        // Whatever item the first lease holds, it starts the task: start it beforehand so that
        // one-off move is not mistaken for something the item did.
        env.ok(
            ADMIN,
            "POST",
            &format!("/tasks/{t}/status"),
            Some(json!({"status": "in_progress"})),
        )
        .await;

        // Per kind of item: what a lease changed, what a submission changed, and the shapes.
        let mut seen: [BTreeSet<String>; 2] = Default::default();
        let mut lease_diffs: [BTreeSet<String>; 2] = Default::default();
        let mut submit_diffs: [BTreeSet<String>; 2] = Default::default();
        let mut shapes: [BTreeSet<String>; 2] = Default::default();
        let mut item_views: [Vec<Value>; 2] = Default::default();
        let mut sync_answers: [BTreeSet<String>; 2] = Default::default();
        let mut before = snapshot(&env, &a_t, project, t, a).await;
        let start = before["me_tasks"]["my_progress"]["available"].as_i64();
        let mut served = 0;
        loop {
            let batch = env
                .ok(
                    &a_t,
                    "POST",
                    &format!("/tasks/{t}/batches"),
                    Some(json!({"size": 1})),
                )
                .await;
            let got = item_ids(&batch);
            let after = snapshot(&env, &a_t, project, t, a).await;
            if got.is_empty() {
                // Nothing on offer must mean nothing left, not "only honeypots left".
                assert_eq!(
                    after["me_tasks"]["my_progress"]["available"], 0,
                    "no batch, yet available: {after}"
                );
                break;
            }
            served += 1;
            let item = got[0];
            let k = usize::from(gold.contains(&item));
            assert!(seen[k].insert(item.to_string()), "item {item} twice");
            let available = |s: &Value| s["me_tasks"]["my_progress"]["available"].as_i64();
            assert_eq!(
                available(&before).map(|x| x - 1),
                available(&after),
                "leasing item {item} (gold: {}) must use up one available item",
                k == 1
            );
            lease_diffs[k].insert(format!("{:?}", diff(&before, &after)));
            shapes[k].insert(shape(&batch).to_string());
            let view = env.ok(&a_t, "GET", &format!("/items/{item}"), None).await;
            let lease = batch["lease_id"].as_i64().unwrap();
            let r = env
                .ok(
                    &a_t,
                    "POST",
                    "/sync",
                    Some(json!({"ops": [submit(&format!("op-{item}"), t, item, lease, "dog")]})),
                )
                .await;
            sync_answers[k].insert(
                r["results"][0]
                    .to_string()
                    .replace(&format!("op-{item}"), "op"),
            );
            let done = snapshot(&env, &a_t, project, t, a).await;
            submit_diffs[k].insert(format!("{:?}", diff(&after, &done)));
            let labeled = env.ok(&a_t, "GET", &format!("/items/{item}"), None).await;
            item_views[k].push(json!({"held": view, "labeled": labeled}));
            before = done;
        }
        assert!(!seen[1].is_empty() && !seen[0].is_empty(), "{seen:?}");
        assert_eq!(
            start,
            Some(served),
            "available at the start was what got served"
        );
        // The seed and the rate would let an annotator replay the serving order and the
        // honeypot schedule: managers only.
        let seen = env.ok(&a_t, "GET", &format!("/tasks/{t}"), None).await;
        assert!(
            seen.get("seed").is_none() && seen.get("honeypot_rate").is_none(),
            "{seen}"
        );
        let managed = env.ok(ADMIN, "GET", &format!("/tasks/{t}"), None).await;
        assert_eq!(
            (managed["seed"].as_u64(), managed["honeypot_rate"].as_f64()),
            (Some(11), Some(0.25))
        );

        // Every step with a honeypot looks like some step with a regular item.
        for (what, diffs) in [("lease", &lease_diffs), ("submission", &submit_diffs)] {
            for d in &diffs[1] {
                assert!(
                    diffs[0].contains(d),
                    "a {what} of a honeypot changed {d}; regular {what}s change one of {:?}",
                    diffs[0]
                );
            }
        }
        assert_eq!(shapes[0], shapes[1], "batch shapes");
        assert_eq!(sync_answers[0], sync_answers[1], "sync answers");
        // What the annotator reads of an item differs only by the item's own id, data and
        // metadata and their own answer's id and time.
        let strip = |v: &Value| {
            let mut m = BTreeMap::new();
            flatten("", v, &mut m);
            m.retain(|k, _| {
                !(k.ends_with(".id")
                    || k.contains(".data")
                    || k.contains(".metadata")
                    || k.ends_with("annotation_id")
                    || k.ends_with("created_at"))
            });
            m
        };
        let regular_view = strip(&item_views[0][0]);
        for v in &item_views[1] {
            assert_eq!(strip(v), regular_view, "an item view tells gold: {v}");
            let text = v.to_string();
            assert!(
                !text.contains("gold") && !text.contains("\"cat\""),
                "{text}"
            );
            assert!(v["held"].get("dataset_id").is_none(), "{v}");
        }
        env
    })
    .await;
}

#[tokio::test]
async fn the_task_does_not_complete_while_a_honeypot_is_held() {
    on_each_backend(|env| async move {
        // Held items are all the work left once the regular ones are done: if the task then
        // showed `completed`, whatever the annotator still holds would be gold.
        let (project, dataset) = env.project_and_dataset(json!({"name": "held"})).await;
        let rows: Vec<Value> = (0..8)
            .map(|n| {
                json!({"external_id": format!("h{n}"), "data": format!("text {n}"),
                       "gold": if n % 2 == 1 { json!("cat") } else { Value::Null }})
            })
            .collect();
        env.ok(ADMIN, "POST", &format!("/datasets/{dataset}/items"), Some(json!(rows)))
            .await;
        let gold: HashSet<i64> = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["has_gold"] == true)
            .map(|i| i["id"].as_i64().unwrap())
            .collect();
        let (a, a_t) = env.user("holder", project, &["annotator"]).await;
        let t = env
            .pull_task(
                project,
                dataset,
                &[a],
                1,
                json!({"honeypot_rate": 0.5, "order": "random", "seed": 3,
                       "worker_strategy": {"type": "pull", "batch_size": 2, "workers_per_input": 1}}),
            )
            .await;
        // Label the regular items as they come, keeping every honeypot held (a worker holds
        // at most one batch, and held seats come back first with each lease).
        let mut labeled: HashSet<i64> = HashSet::new();
        let held_gold: Vec<(i64, i64)> = loop {
            let batch = env
                .ok(&a_t, "POST", &format!("/tasks/{t}/batches"), None)
                .await;
            let lease = batch["lease_id"].as_i64().unwrap();
            let open: Vec<i64> = item_ids(&batch)
                .into_iter()
                .filter(|i| !labeled.contains(i))
                .collect();
            let regular: Vec<i64> = open.iter().copied().filter(|i| !gold.contains(i)).collect();
            if regular.is_empty() {
                if labeled.iter().filter(|i| !gold.contains(i)).count() == 8 - gold.len() {
                    break open.into_iter().map(|i| (i, lease)).collect();
                }
                // The hold is full of honeypots while regular work remains: label one to make
                // room (the task has regular work left, so it stays in progress).
                let item = *open.first().expect("a full hold with no regular work holds gold");
                let r = env
                    .ok(
                        &a_t,
                        "POST",
                        "/sync",
                        Some(json!({"ops": [submit(&format!("h-{item}"), t, item, lease, "dog")]})),
                    )
                    .await;
                assert_eq!(r["results"][0]["status"], "applied", "{r}");
                labeled.insert(item);
                continue;
            }
            for item in regular {
                let r = env
                    .ok(
                        &a_t,
                        "POST",
                        "/sync",
                        Some(json!({"ops": [submit(&format!("h-{item}"), t, item, lease, "dog")]})),
                    )
                    .await;
                assert_eq!(r["results"][0]["status"], "applied", "{r}");
                labeled.insert(item);
                let status = env.ok(&a_t, "GET", &format!("/tasks/{t}"), None).await["status"].clone();
                assert_eq!(status, "in_progress", "after regular item {item}");
            }
        };
        // Every regular item is labeled; what is still held is gold, and the task says nothing
        // until the last of it is in.
        assert!(!held_gold.is_empty(), "a honeypot should still be held");
        assert!(held_gold.iter().all(|(i, _)| gold.contains(i)), "{held_gold:?}");
        let last = held_gold.len() - 1;
        for (n, (item, lease)) in held_gold.iter().enumerate() {
            let r = env
                .ok(
                    &a_t,
                    "POST",
                    "/sync",
                    Some(json!({"ops": [submit(&format!("h-{item}"), t, *item, *lease, "dog")]})),
                )
                .await;
            assert_eq!(r["results"][0]["status"], "applied", "{r}");
            let status = env.ok(&a_t, "GET", &format!("/tasks/{t}"), None).await["status"].clone();
            let expected = if n == last { "completed" } else { "in_progress" };
            assert_eq!(status, expected, "after {} of {} held honeypots", n + 1, held_gold.len());
        }
        env
    })
    .await;
}
