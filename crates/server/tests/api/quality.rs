//! Quality on the server: honeypots mixed into pulled batches at the task's rate and looking like
//! any item, qualification gates in front of production tasks, and per-annotator scores computed
//! by the core from known labels.

use crate::support::{item_ids, on_each_backend, submit, Env, ADMIN};
use quorum_core::ids::{ItemId, TaskId};
use quorum_server::loadgen::Acked;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// A project with one dataset of `rows` (external id, gold concept); returns the project, the
/// dataset and each external id's item id.
async fn items(env: &Env, rows: &[(String, Option<&str>)]) -> (i64, i64, HashMap<String, i64>) {
    let (project, dataset) = env.project_and_dataset(json!({"name": "quality"})).await;
    // Every item has the same directory and metadata shape, so only the gold column differs.
    let body: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(n, (ext, gold))| {
            json!({"external_id": ext, "data": format!("text {n}"), "directory": "/q",
                   "metadata": {"n": n}, "gold": gold})
        })
        .collect();
    let up = env
        .ok(
            ADMIN,
            "POST",
            &format!("/datasets/{dataset}/items"),
            Some(json!(body)),
        )
        .await;
    assert_eq!(up["inserted"], rows.len() as i64, "{up}");
    let listed = env
        .ok(
            ADMIN,
            "GET",
            &format!("/projects/{project}/items?dataset_id={dataset}&limit=1000"),
            None,
        )
        .await;
    let ids = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["external_id"].as_str().unwrap().to_owned(),
                i["id"].as_i64().unwrap(),
            )
        })
        .collect();
    (project, dataset, ids)
}

/// A task over `item_ids` with the given extra spec fields.
async fn task(env: &Env, project: i64, item_ids: &[i64], assignees: &[i64], extra: Value) -> i64 {
    let mut spec = json!({
        "name": "quality task",
        "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
        "input": {"type": "item_ids", "item_ids": item_ids},
        "worker_strategy": {"type": "pull", "batch_size": 10, "workers_per_input": 1},
        "assignees": assignees,
        "seed": 5,
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            spec[k] = v;
        }
    }
    let t = env
        .ok(
            ADMIN,
            "POST",
            &format!("/projects/{project}/tasks"),
            Some(spec),
        )
        .await;
    t["id"].as_i64().unwrap()
}

/// Labels every item of a batch: `answer(item)` gives the concept.
async fn label(
    env: &Env,
    token: &str,
    task: i64,
    batch: &Value,
    answer: impl Fn(i64) -> &'static str,
) {
    label_or_skip(env, token, task, batch, |i| Some(answer(i))).await
}

/// Labels the items of a batch `answer` has a concept for, and skips the others.
async fn label_or_skip(
    env: &Env,
    token: &str,
    task: i64,
    batch: &Value,
    answer: impl Fn(i64) -> Option<&'static str>,
) {
    let lease = batch["lease_id"].as_i64().unwrap();
    let ops: Vec<Value> = item_ids(batch)
        .into_iter()
        .map(|i| {
            let id = format!("{token}-{task}-{i}");
            match answer(i) {
                Some(concept) => submit(&id, task, i, lease, concept),
                None => json!({"client_op_id": id, "action": {"type": "skip", "task_id": task,
                    "item_id": i, "lease_id": lease}}),
            }
        })
        .collect();
    let r = env
        .ok(token, "POST", "/sync", Some(json!({ "ops": ops })))
        .await;
    for res in r["results"].as_array().unwrap() {
        assert_eq!(res["status"], "applied", "{r}");
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Asserts that two items' JSON have the same fields, each of the same JSON type, equal where
/// the uploads made them equal, and that neither mentions gold or honeypots.
fn assert_alike(gold: &Value, plain: &Value, equal_fields: &[&str]) {
    let (g, p) = (gold.as_object().unwrap(), plain.as_object().unwrap());
    let gk: BTreeSet<&String> = g.keys().collect();
    let pk: BTreeSet<&String> = p.keys().collect();
    assert_eq!(gk, pk, "same fields: {gold} vs {plain}");
    for k in gk {
        assert_eq!(
            json_kind(&g[k]),
            json_kind(&p[k]),
            "field {k}: {gold} vs {plain}"
        );
    }
    for f in equal_fields {
        assert_eq!(g[*f], p[*f], "field {f}: {gold} vs {plain}");
    }
    let text = gold.to_string().to_lowercase();
    assert!(
        !text.contains("gold") && !text.contains("honeypot"),
        "{gold}"
    );
    assert!(!text.contains("\"cat\""), "the gold answer leaked: {gold}");
}

#[tokio::test]
async fn honeypots_come_at_the_rate_and_look_like_any_item() {
    on_each_backend(|env| async move {
        let mut rows: Vec<(String, Option<&str>)> =
            (0..40).map(|n| (format!("r{n}"), None)).collect();
        rows.extend((0..20).map(|n| (format!("g{n}"), Some("cat"))));
        let (project, _, ids) = items(&env, &rows).await;
        let gold: HashSet<i64> = (0..20).map(|n| ids[&format!("g{n}")]).collect();
        let all: Vec<i64> = ids.values().copied().collect();
        let (a, a_t) = env.user("hp-a", project, &["annotator"]).await;
        let (b, b_t) = env.user("hp-b", project, &["annotator"]).await;
        let t = task(
            &env,
            project,
            &all,
            &[a, b],
            json!({
                "honeypot_rate": 0.2,
                "worker_strategy": {"type": "pull", "batch_size": 5, "workers_per_input": 2},
            }),
        )
        .await;

        let mut compared = false;
        let mut served_a = 0;
        for (token, right) in [(&a_t, "cat"), (&b_t, "dog")] {
            let (mut served, mut honeypots) = (0usize, 0usize);
            let mut seen = HashSet::new();
            loop {
                let batch = env
                    .ok(token, "POST", &format!("/tasks/{t}/batches"), None)
                    .await;
                let got = item_ids(&batch);
                if got.is_empty() {
                    break;
                }
                for i in &got {
                    assert!(seen.insert(*i), "item {i} twice to one worker");
                }
                let in_batch = got.iter().filter(|i| gold.contains(i)).count();
                served += got.len();
                honeypots += in_batch;
                // The core's rule: over the worker's history, one honeypot per window of five
                // items, at a seeded place in it.
                assert!(
                    honeypots == served / 5 || honeypots == served.div_ceil(5),
                    "after {served} served: {batch}"
                );
                if !compared {
                    let items = batch["items"].as_array().unwrap();
                    let g = items
                        .iter()
                        .find(|i| gold.contains(&i["item_id"].as_i64().unwrap()))
                        .unwrap();
                    let p = items
                        .iter()
                        .find(|i| !gold.contains(&i["item_id"].as_i64().unwrap()))
                        .unwrap();
                    assert_alike(g, p, &["directory", "rework"]);
                    // What the annotator may read of a held item looks the same for both, too.
                    let gi = env
                        .ok(token, "GET", &format!("/items/{}", g["item_id"]), None)
                        .await;
                    let pi = env
                        .ok(token, "GET", &format!("/items/{}", p["item_id"]), None)
                        .await;
                    assert_alike(&gi, &pi, &["directory", "answers", "project_id"]);
                    compared = true;
                }
                label(&env, token, t, &batch, |i| {
                    if gold.contains(&i) {
                        right
                    } else {
                        "dog"
                    }
                })
                .await;
            }
            // Every regular item (40, overlap 2) reached the worker, and a fifth of what they
            // got were honeypots: 4 + 1 per batch, then the last 4 regular items with the 10th
            // honeypot if its place in the window 45..50 comes before them. No regular work
            // left means no batch.
            assert_eq!(
                served - honeypots,
                40,
                "{served} served, {honeypots} honeypots"
            );
            assert!(honeypots == 9 || honeypots == 10, "{honeypots}");
            if token == &a_t {
                served_a = served;
            }
        }

        // Honeypot labels score each worker against gold.
        let progress = env
            .ok(ADMIN, "GET", &format!("/tasks/{t}/progress"), None)
            .await;
        let per: HashMap<i64, &Value> = progress["per_annotator"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["worker_id"].as_i64().unwrap(), r))
            .collect();
        assert_eq!(per[&a]["gold_accuracy"], 1.0, "{progress}");
        assert_eq!(per[&b]["gold_accuracy"], 0.0, "{progress}");
        assert_eq!(per[&a]["annotations"], served_a, "{progress}");

        let v = quorum_server::invariants::check(env.db_url(), TaskId(t), &[])
            .await
            .unwrap();
        assert_eq!(v.total(), 0, "{v:?} on {}", env.backend);
        env
    })
    .await;
}

#[tokio::test]
async fn a_qualification_gates_leasing_until_passed() {
    on_each_backend(|env| async move {
        let golds = ["cat", "dog", "cat", "dog"];
        let mut rows: Vec<(String, Option<&str>)> = golds
            .iter()
            .enumerate()
            .map(|(n, g)| (format!("q{n}"), Some(*g)))
            .collect();
        rows.extend((0..6).map(|n| (format!("p{n}"), None)));
        let (project, _, ids) = items(&env, &rows).await;
        let answer: HashMap<i64, &str> = golds
            .iter()
            .enumerate()
            .map(|(n, g)| (ids[&format!("q{n}")], *g))
            .collect();
        let q_items: Vec<i64> = (0..4).map(|n| ids[&format!("q{n}")]).collect();
        let p_items: Vec<i64> = (0..6).map(|n| ids[&format!("p{n}")]).collect();
        let (good, good_t) = env.user("good", project, &["annotator"]).await;
        let (bad, bad_t) = env.user("bad", project, &["annotator"]).await;
        let q = task(
            &env,
            project,
            &q_items,
            &[good, bad],
            json!({
                "kind": "qualification",
                "pass_gate": {"pass_mark": 0.75, "min_answers": 4},
                "worker_strategy": {"type": "pull", "batch_size": 10, "workers_per_input": 2},
            }),
        )
        .await;
        // A requirement must name a qualification task of the project.
        let plain = task(&env, project, &p_items, &[good], json!({})).await;
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(json!({
                    "name": "needs a real gate",
                    "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
                    "input": {"type": "item_ids", "item_ids": p_items},
                    "worker_strategy": {"type": "pull"},
                    "qualifications": [{"task_id": plain}],
                })),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("validation_failed")),
            "{v}"
        );
        let p = task(
            &env,
            project,
            &p_items,
            &[good, bad],
            json!({"qualifications": [{"task_id": q}]}),
        )
        .await;

        // Nor does a manager hand them seats (a leased one would come with a lease).
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                &format!("/tasks/{p}/items/reassign"),
                Some(json!({"item_ids": [p_items[0]], "from": bad, "to": good})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["details"][0]["field"].as_str()),
            (422, Some("to")),
            "{v}"
        );

        // Before any qualification label: refused, pending.
        let (s, v) = env
            .call(&good_t, "POST", &format!("/tasks/{p}/batches"), None)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("not_qualified")),
            "{v}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("qualification task {q}")),
            "{v}"
        );
        assert_eq!(
            v["error"]["details"]["qualifications"][0]["standing"], "pending",
            "{v}"
        );

        // good gets 3 of 4 right (75%: passes), bad 1 of 4 (fails).
        let batch = env
            .ok(&good_t, "POST", &format!("/tasks/{q}/batches"), None)
            .await;
        assert_eq!(item_ids(&batch).len(), 4);
        let first = q_items[0];
        label(&env, &good_t, q, &batch, |i| {
            if i == first {
                flip(answer[&i])
            } else {
                answer[&i]
            }
        })
        .await;
        let batch = env
            .ok(&bad_t, "POST", &format!("/tasks/{q}/batches"), None)
            .await;
        label(&env, &bad_t, q, &batch, |i| {
            if i == first {
                answer[&i]
            } else {
                flip(answer[&i])
            }
        })
        .await;

        let (s, v) = env
            .call(&bad_t, "POST", &format!("/tasks/{p}/batches"), None)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("not_qualified")),
            "{v}"
        );
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("qualification task {q}")) && message.contains("1 of 4"),
            "{v}"
        );
        assert_eq!(
            v["error"]["details"]["qualifications"][0]["standing"], "failed",
            "{v}"
        );
        let batch = env
            .ok(&good_t, "POST", &format!("/tasks/{p}/batches"), None)
            .await;
        assert_eq!(item_ids(&batch).len(), 6, "{batch}");
        label(&env, &good_t, p, &batch, |_| "dog").await;

        // /me/tasks says who is gated, with counts only.
        for (token, qualified) in [(&good_t, true), (&bad_t, false)] {
            let mine = env.ok(token, "GET", "/me/tasks", None).await;
            let row = mine["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == p)
                .unwrap();
            assert_eq!(row["my_qualification"]["qualified"], qualified, "{row}");
            let gate = &row["my_qualification"]["qualifications"][0];
            let keys: BTreeSet<&str> = gate
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(
                keys,
                BTreeSet::from([
                    "answered",
                    "correct",
                    "min_answers",
                    "name",
                    "pass_mark",
                    "standing",
                    "task_id"
                ])
            );
            let q_row = mine["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == q)
                .unwrap();
            assert_eq!(
                q_row["my_qualification"]["qualified"], true,
                "a qualification task is open to all"
            );
        }
        // Managers see the verdict next to the scores.
        let progress = env
            .ok(ADMIN, "GET", &format!("/tasks/{p}/progress"), None)
            .await;
        assert_eq!(
            progress["per_annotator"][0]["worker_id"], good,
            "{progress}"
        );
        assert_eq!(
            progress["per_annotator"][0]["qualified"], true,
            "{progress}"
        );
        let qp = env
            .ok(ADMIN, "GET", &format!("/tasks/{q}/progress"), None)
            .await;
        let acc: HashMap<i64, f64> = qp["per_annotator"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["worker_id"].as_i64().unwrap(),
                    r["gold_accuracy"].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(acc, HashMap::from([(good, 0.75), (bad, 0.25)]), "{qp}");
        env
    })
    .await;
}

fn flip(concept: &str) -> &'static str {
    if concept == "cat" {
        "dog"
    } else {
        "cat"
    }
}

#[tokio::test]
async fn progress_scores_come_from_the_labels() {
    on_each_backend(|env| async move {
        let rows = vec![
            ("g1".to_owned(), Some("cat")),
            ("g2".to_owned(), Some("dog")),
            ("r1".to_owned(), None),
            ("r2".to_owned(), None),
            ("solo".to_owned(), None),
        ];
        let (project, _, ids) = items(&env, &rows).await;
        let all: Vec<i64> = ["g1", "g2", "r1", "r2", "solo"]
            .iter()
            .map(|k| ids[*k])
            .collect();
        let mut people = Vec::new();
        for n in ["sa", "sb", "sc"] {
            people.push(env.user(n, project, &["annotator"]).await);
        }
        let who: Vec<i64> = people.iter().map(|p| p.0).collect();
        let t = task(
            &env,
            project,
            &all,
            &who,
            json!({
                "worker_strategy": {"type": "pull", "batch_size": 10, "workers_per_input": 3},
            }),
        )
        .await;
        // Labels per item for a, b, c (None: skipped). Majority: g1 cat, g2 cat, r1 cat, r2 dog;
        // only a labels "solo", which therefore says nothing about agreement.
        let table: HashMap<&str, [Option<&'static str>; 3]> = HashMap::from([
            ("g1", [Some("cat"), Some("cat"), Some("dog")]),
            ("g2", [Some("dog"), Some("cat"), Some("cat")]),
            ("r1", [Some("cat"), Some("cat"), Some("cat")]),
            ("r2", [Some("dog"), Some("dog"), Some("cat")]),
            ("solo", [Some("dog"), None, None]),
        ]);
        let by_id: HashMap<i64, [Option<&'static str>; 3]> =
            table.iter().map(|(k, v)| (ids[*k], *v)).collect();
        for (n, (_, token)) in people.iter().enumerate() {
            let batch = env
                .ok(token, "POST", &format!("/tasks/{t}/batches"), None)
                .await;
            assert_eq!(item_ids(&batch).len(), 5, "{batch}");
            label_or_skip(&env, token, t, &batch, |i| by_id[&i][n]).await;
        }
        let progress = env
            .ok(ADMIN, "GET", &format!("/tasks/{t}/progress"), None)
            .await;
        let per = progress["per_annotator"].as_array().unwrap();
        assert_eq!(per.len(), 3, "{progress}");
        // gold: a 2/2, b 1/2, c 0/2; agreement with the majority: a 3/4, b 4/4, c 2/4.
        let expected = [(5, 1.0, 0.75), (4, 0.5, 1.0), (4, 0.0, 0.5)];
        for (row, (id, (n, gold, agree))) in per.iter().zip(who.iter().zip(expected)) {
            assert_eq!(row["worker_id"], *id, "{progress}");
            assert_eq!(row["annotations"], n, "{row}");
            assert_eq!(row["gold_accuracy"].as_f64(), Some(gold), "{row}");
            assert_eq!(row["agreement"].as_f64(), Some(agree), "{row}");
            assert!(
                row["per_hour"].is_null(),
                "under a minute of work has no rate: {row}"
            );
            assert!(row.get("qualified").is_none(), "no gate, no verdict: {row}");
        }
        let v = quorum_server::invariants::check(env.db_url(), TaskId(t), &[])
            .await
            .unwrap();
        assert_eq!(v.total(), 0, "{v:?}");
        env
    })
    .await;
}

#[tokio::test]
async fn concurrent_pullers_keep_overlap_with_honeypots() {
    on_each_backend(|env| async move {
        let mut rows: Vec<(String, Option<&str>)> =
            (0..30).map(|n| (format!("r{n}"), None)).collect();
        rows.extend((0..15).map(|n| (format!("g{n}"), Some("cat"))));
        let (project, _, ids) = items(&env, &rows).await;
        let gold: Arc<HashSet<i64>> = Arc::new((0..15).map(|n| ids[&format!("g{n}")]).collect());
        let all: Vec<i64> = ids.values().copied().collect();
        let mut people = Vec::new();
        for n in 0..12 {
            people.push(env.user(&format!("cc{n}"), project, &["annotator"]).await);
        }
        let who: Vec<i64> = people.iter().map(|p| p.0).collect();
        let t = task(
            &env,
            project,
            &all,
            &who,
            json!({
                "honeypot_rate": 0.25,
                "worker_strategy": {"type": "pull", "batch_size": 4, "workers_per_input": 2},
            }),
        )
        .await;
        let base = format!("{}/api/v1", env.server.url);
        let mut handles = Vec::new();
        for (worker, token) in people {
            let (base, gold) = (base.clone(), gold.clone());
            handles.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let (mut seen, mut honeypots, mut acked) = (HashSet::new(), 0usize, Vec::new());
                loop {
                    let batch: Value = http
                        .post(format!("{base}/tasks/{t}/batches"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    let got = item_ids(&batch);
                    if got.is_empty() {
                        break;
                    }
                    let lease = batch["lease_id"].as_i64().unwrap();
                    let mut ops = Vec::new();
                    for i in got {
                        assert!(seen.insert(i), "worker {worker} got item {i} twice");
                        honeypots += usize::from(gold.contains(&i));
                        let id = format!("cc{worker}-{i}");
                        ops.push(submit(&id, t, i, lease, "cat"));
                        acked.push(Acked {
                            worker,
                            item: ItemId(i),
                            client_op_id: id,
                        });
                    }
                    let r: Value = http
                        .post(format!("{base}/sync"))
                        .bearer_auth(&token)
                        .json(&json!({ "ops": ops }))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    for res in r["results"].as_array().unwrap() {
                        assert_eq!(res["status"], "applied", "{r}");
                    }
                    // Never more than the rate allows, whoever else is pulling.
                    assert!(
                        honeypots <= seen.len().div_ceil(4),
                        "{honeypots} of {}",
                        seen.len()
                    );
                }
                (seen.len() - honeypots, acked)
            }));
        }
        let (mut regular, mut acked) = (0, Vec::new());
        for h in handles {
            let (r, a) = h.await.unwrap();
            regular += r;
            acked.extend(a);
        }
        assert_eq!(
            regular, 60,
            "every regular item labeled by exactly two workers"
        );
        let v = quorum_server::invariants::check(env.db_url(), TaskId(t), &acked)
            .await
            .unwrap();
        assert_eq!(v.total(), 0, "{v:?} on {}", env.backend);
        // Gold items that were never served (or served to fewer than two) do not hold it open.
        let done = env.ok(ADMIN, "GET", &format!("/tasks/{t}"), None).await;
        assert_eq!(done["status"], "completed", "{done}");
        env
    })
    .await;
}
