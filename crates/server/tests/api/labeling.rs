//! Labeling over HTTP: idempotent sync, lease expiry and late submissions, renew and release,
//! skip, review (reject sends the item back with the comment; approve completes the task).

use crate::support::{item_ids, on_each_backend, submit, ADMIN};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn sync_is_idempotent_and_late_work_is_kept() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let (b, b_t) = env.user("b", project, &["annotator"]).await;
        let task = env.pull_task(project, dataset, &[a, b], 1, json!({"lease_seconds": 4, "worker_strategy": {"type": "pull", "batch_size": 2, "workers_per_input": 1}})).await;

        let batch = env.ok(&a_t, "POST", &format!("/tasks/{task}/batches"), None).await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let items = item_ids(&batch);
        assert_eq!(items.len(), 2);
        // The same op twice (and once more in a later request): one annotation, same answer.
        let op = submit("dev1-1", task, items[0], lease, "cat");
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": [op.clone(), op.clone()]}))).await;
        assert_eq!(r["results"][0]["status"], "applied");
        assert_eq!(r["results"][1]["status"], "duplicate");
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": [op]}))).await;
        assert_eq!(r["results"][0]["status"], "duplicate");
        let item = env.ok(ADMIN, "GET", &format!("/items/{}", items[0]), None).await;
        assert_eq!(item["answers"].as_array().unwrap().len(), 1, "{item}");
        // A second label from the same worker under another op id is refused.
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": [submit("dev1-2", task, items[0], lease, "dog")]}))).await;
        assert_eq!(r["results"][0]["code"], "already_submitted");
        // An invalid label is refused and stored nowhere.
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": [submit("dev1-3", task, items[1], lease, "horse")]}))).await;
        assert_eq!(r["results"][0]["code"], "invalid_label");

        // Renew works while live; after expiry the item goes to b, and a's late label is kept.
        let renewed = env.ok(&a_t, "POST", &format!("/leases/{lease}/renew"), None).await;
        assert!(renewed["expires_at"].as_i64().unwrap() >= batch["expires_at"].as_i64().unwrap());
        let (s, _) = env.call(&b_t, "POST", &format!("/leases/{lease}/renew"), None).await;
        assert_eq!(s, 403, "only the holder renews");
        tokio::time::sleep(Duration::from_millis(4300)).await;
        let (s, v) = env.call(&a_t, "POST", &format!("/leases/{lease}/renew"), None).await;
        assert_eq!((s, v["error"]["code"].as_str()), (409, Some("lease_expired")), "{v}");
        let bb = env.ok(&b_t, "POST", &format!("/tasks/{task}/batches"), None).await;
        assert!(item_ids(&bb).contains(&items[1]), "the expired seat is free again: {bb}");
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": [submit("dev1-4", task, items[1], lease, "dog")]}))).await;
        assert_eq!((r["results"][0]["status"].as_str(), r["results"][0]["late"].as_bool()), (Some("applied"), Some(true)), "{r}");
        let item = env.ok(ADMIN, "GET", &format!("/items/{}", items[1]), None).await;
        assert_eq!(item["answers"][0]["late"], true, "kept and flagged: {item}");
        // b still holds the seat: overlap 1 means a's late label does not count toward it.
        let bl = bb["lease_id"].as_i64().unwrap();
        let r = env.ok(&b_t, "POST", "/sync", Some(json!({"ops": [submit("b-1", task, items[1], bl, "cat")]}))).await;
        assert_eq!(r["results"][0]["late"], false);

        // Skip and release give items back without labels.
        let b_items = item_ids(&bb);
        let other = *b_items.iter().find(|&&i| i != items[1]).unwrap();
        let r = env
            .ok(&b_t, "POST", "/sync", Some(json!({"ops": [{"client_op_id": "b-2", "action": {"type": "skip", "task_id": task, "item_id": other, "lease_id": bl}}]})))
            .await;
        assert_eq!(r["results"][0]["status"], "applied");
        let rel = env.ok(&b_t, "POST", &format!("/leases/{bl}/release"), None).await;
        assert_eq!(rel["released_items"], 0, "nothing left in the lease");
        let progress = env.ok(ADMIN, "GET", &format!("/tasks/{task}/progress"), None).await;
        assert_eq!(progress["labeled"], 2, "{progress}");
        env
    })
    .await;
}

#[tokio::test]
async fn reviews_send_work_back_and_complete_tasks() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(2).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let (b, b_t) = env.user("b", project, &["annotator"]).await;
        let (r, r_t) = env.user("r", project, &["reviewer"]).await;
        let task = env
            .pull_task(project, dataset, &[a, b], 2, json!({"reviewers": [r], "review_strategy": {"type": "consensus", "approval_threshold": 2}}))
            .await;
        let mut leases = vec![];
        for t in [&a_t, &b_t] {
            let batch = env.ok(t, "POST", &format!("/tasks/{task}/batches"), None).await;
            assert_eq!(item_ids(&batch).len(), 2);
            leases.push(batch["lease_id"].as_i64().unwrap());
        }
        let items = env.ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None).await;
        let ids: Vec<i64> = items["results"].as_array().unwrap().iter().map(|i| i["item_id"].as_i64().unwrap()).collect();
        // Item 0: both say cat → auto-approved. Item 1: they disagree → needs review.
        let ops_a = json!({"ops": [submit("a1", task, ids[0], leases[0], "cat"), submit("a2", task, ids[1], leases[0], "cat")]});
        let ops_b = json!({"ops": [submit("b1", task, ids[0], leases[1], "cat"), submit("b2", task, ids[1], leases[1], "dog")]});
        env.ok(&a_t, "POST", "/sync", Some(ops_a)).await;
        env.ok(&b_t, "POST", "/sync", Some(ops_b)).await;
        let queue = env.ok(&r_t, "GET", &format!("/tasks/{task}/review-queue"), None).await;
        let q = queue["items"].as_array().unwrap();
        assert_eq!(q.len(), 1, "{queue}");
        assert_eq!(q[0]["item_id"], ids[1]);
        assert_eq!(q[0]["labels"].as_array().unwrap().len(), 2);
        assert_eq!(q[0]["agreement"], 0.5);

        // Reject needs a comment; then the item returns to both annotators with it.
        let path = format!("/tasks/{task}/items/{}/review", ids[1]);
        let (s, v) = env.call(&r_t, "POST", &path, Some(json!({"decision": "reject"}))).await;
        assert_eq!((s, v["error"]["code"].as_str()), (422, Some("comment_required")));
        let (s, _) = env.call(&a_t, "POST", &path, Some(json!({"decision": "approve"}))).await;
        assert_eq!(s, 403, "annotators do not review");
        env.ok(&r_t, "POST", &path, Some(json!({"decision": "reject", "comment": "look at the ears"}))).await;
        let back = env.ok(&b_t, "POST", &format!("/tasks/{task}/batches"), None).await;
        assert_eq!(item_ids(&back), vec![ids[1]]);
        assert_eq!(back["items"][0]["rework"]["comment"], "look at the ears");
        let bl = back["lease_id"].as_i64().unwrap();
        let back_a = env.ok(&a_t, "POST", &format!("/tasks/{task}/batches"), None).await;
        let al = back_a["lease_id"].as_i64().unwrap();
        env.ok(&b_t, "POST", "/sync", Some(json!({"ops": [submit("b3", task, ids[1], bl, "cat")]}))).await;
        env.ok(&a_t, "POST", "/sync", Some(json!({"ops": [submit("a3", task, ids[1], al, "cat")]}))).await;
        let t = env.ok(ADMIN, "GET", &format!("/tasks/{task}"), None).await;
        assert_eq!(t["status"], "completed", "every result approved: {t}");
        assert_eq!(t["counts"]["approved"], 2);
        // A review op through /sync is idempotent too.
        let op = json!({"client_op_id": "r1", "action": {"type": "review", "task_id": task, "item_id": ids[0], "decision": "approve"}});
        let r1 = env.ok(&r_t, "POST", "/sync", Some(json!({"ops": [op.clone(), op]}))).await;
        assert_eq!(r1["results"][0]["status"], "applied");
        assert_eq!(r1["results"][1]["status"], "duplicate");
        let progress = env.ok(ADMIN, "GET", &format!("/tasks/{task}/progress"), None).await;
        let per = progress["per_annotator"].as_array().unwrap();
        assert_eq!(per.len(), 2);
        assert!(per.iter().all(|p| p["agreement"] == 1.0), "{progress}");
        // Gold: item 0 of the dataset carries gold "cat".
        assert!(per.iter().all(|p| p["gold_accuracy"] == 1.0), "{progress}");
        env
    })
    .await;
}

/// The review queue puts the least confident consensus first, so reviewers spend their time
/// where the crowd is least sure (items without a confidence keep their order after those with
/// one).
#[tokio::test]
async fn review_queue_lists_the_least_confident_items_first() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(2).await;
        let mut users = vec![];
        for name in ["qa", "qb", "qc", "qd"] {
            users.push(env.user(name, project, &["annotator"]).await);
        }
        let (r, r_t) = env.user("qr", project, &["reviewer"]).await;
        let ids_of: Vec<i64> = users.iter().map(|u| u.0).collect();
        let task = env
            .pull_task(project, dataset, &ids_of, 4, json!({"reviewers": [r], "review_strategy": {"type": "consensus", "approval_threshold": 4}}))
            .await;
        let items = env.ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None).await;
        let ids: Vec<i64> = items["results"].as_array().unwrap().iter().map(|i| i["item_id"].as_i64().unwrap()).collect();
        // Item 0: three cats and a dog (confidence 0.75). Item 1: two and two (0.5).
        let votes = [["cat", "cat"], ["cat", "cat"], ["cat", "dog"], ["dog", "dog"]];
        for (n, ((_, token), v)) in users.iter().zip(votes).enumerate() {
            let batch = env.ok(token, "POST", &format!("/tasks/{task}/batches"), None).await;
            let lease = batch["lease_id"].as_i64().unwrap();
            let ops = json!({"ops": [submit(&format!("q{n}a"), task, ids[0], lease, v[0]), submit(&format!("q{n}b"), task, ids[1], lease, v[1])]});
            env.ok(token, "POST", "/sync", Some(ops)).await;
        }
        let queue = env.ok(&r_t, "GET", &format!("/tasks/{task}/review-queue"), None).await;
        let q = queue["items"].as_array().unwrap();
        let order: Vec<i64> = q.iter().map(|i| i["item_id"].as_i64().unwrap()).collect();
        assert_eq!(order, vec![ids[1], ids[0]], "{queue}");
        assert_eq!(q[0]["consensus"]["confidence"], 0.5);
        env
    })
    .await;
}

#[tokio::test]
async fn one_op_sent_many_times_at_once_applies_once() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(2).await;
        let (a, a_t) = env.user("racer", project, &["annotator"]).await;
        let task = env.pull_task(project, dataset, &[a], 1, json!({})).await;
        let batch = env
            .ok(&a_t, "POST", &format!("/tasks/{task}/batches"), None)
            .await;
        let (lease, item) = (batch["lease_id"].as_i64().unwrap(), item_ids(&batch)[0]);
        // A flaky connection retries while the first attempt is still in flight.
        let op = submit("retry-1", task, item, lease, "cat");
        let mut sends = Vec::new();
        for _ in 0..8 {
            let (url, token, body) = (
                format!("{}/api/v1/sync", env.server.url),
                a_t.clone(),
                json!({"ops": [op.clone()]}),
            );
            sends.push(tokio::spawn(async move {
                let resp = reqwest::Client::new()
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                (
                    resp.status().as_u16(),
                    resp.json::<serde_json::Value>().await.unwrap(),
                )
            }));
        }
        let mut answers = Vec::new();
        for s in sends {
            answers.push(s.await.unwrap());
        }
        let statuses: Vec<String> = answers
            .iter()
            .map(|(s, v)| {
                assert_eq!(*s, 200, "{v}");
                v["results"][0]["status"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| *s == "applied").count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| s == "applied" || s == "duplicate"),
            "{statuses:?}"
        );
        let view = env.ok(ADMIN, "GET", &format!("/items/{item}"), None).await;
        assert_eq!(view["answers"].as_array().unwrap().len(), 1, "{view}");
        let results = env
            .ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None)
            .await;
        let labeled: i64 = results["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["labels"].as_i64().unwrap())
            .sum();
        assert_eq!(labeled, 1, "{results}");
        env
    })
    .await;
}

/// Hoarding (issue 11): a worker holds at most one batch ahead; asking again while holding seats
/// gives those seats back (a new session resumes them) and only tops them up to the batch size,
/// so the next worker still finds work; a release op gives them back, once.
#[tokio::test]
async fn a_worker_holds_one_batch_ahead_and_resumes_its_seats() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(12).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let (b, b_t) = env.user("b", project, &["annotator"]).await;
        let task = env.pull_task(project, dataset, &[a, b], 1, json!({})).await; // batch size 5
        let path = format!("/tasks/{task}/batches");

        let first = env.ok(&a_t, "POST", &path, None).await;
        let held = item_ids(&first);
        assert_eq!(held.len(), 5);
        // Asking again (a second tab, a new session, a client that keeps asking): the same five
        // seats come back, under the same lease, and nothing more is taken.
        for _ in 0..3 {
            let again = env.ok(&a_t, "POST", &path, None).await;
            assert_eq!(item_ids(&again), held, "{again}");
            assert_eq!(again["lease_id"], first["lease_id"]);
        }
        // So the next annotator still gets a full batch of other items.
        let bb = env.ok(&b_t, "POST", &path, None).await;
        assert_eq!(bb["items"].as_array().unwrap().len(), 5, "{bb}");
        assert!(item_ids(&bb).iter().all(|i| !held.contains(i)));

        // Two labels later, a top-up: the three still held first, then two new; never above 5.
        let lease = first["lease_id"].as_i64().unwrap();
        let ops: Vec<_> = held[..2]
            .iter()
            .enumerate()
            .map(|(n, &i)| submit(&format!("a-{n}"), task, i, lease, "cat"))
            .collect();
        env.ok(&a_t, "POST", "/sync", Some(json!({ "ops": ops })))
            .await;
        let topped = env.ok(&a_t, "POST", &path, None).await;
        let now_held = item_ids(&topped);
        assert_eq!(now_held.len(), 5, "{topped}");
        assert_eq!(
            &now_held[..3],
            &held[2..],
            "held seats come back first: {topped}"
        );
        assert_ne!(
            topped["lease_id"], first["lease_id"],
            "new items make a new lease"
        );
        // The held seats moved to the new lease: a label naming the old lease still counts on time.
        let r = env
            .ok(
                &a_t,
                "POST",
                "/sync",
                Some(json!({"ops": [submit("a-2", task, held[2], lease, "dog")]})),
            )
            .await;
        assert_eq!(
            (
                r["results"][0]["status"].as_str(),
                r["results"][0]["late"].as_bool()
            ),
            (Some("applied"), Some(false)),
            "{r}"
        );
        let mine = env.my_task(&a_t, task).await.unwrap();
        assert_eq!(mine["my_progress"]["leased"], 4, "{mine}");

        // A release op gives back what is held, once: a replay changes nothing.
        let new_lease = topped["lease_id"].as_i64().unwrap();
        let release =
            json!({"client_op_id": "a-rel", "action": {"type": "release", "lease_id": new_lease}});
        let r = env
            .ok(
                &a_t,
                "POST",
                "/sync",
                Some(json!({"ops": [release.clone(), release]})),
            )
            .await;
        assert_eq!(r["results"][0]["status"], "applied", "{r}");
        assert_eq!(r["results"][1]["status"], "duplicate", "{r}");
        let mine = env.my_task(&a_t, task).await.unwrap();
        assert_eq!(mine["my_progress"]["leased"], 0, "{mine}");
        // Those four seats are free for b: b holds 5, labels them, and its next batch has room.
        let b_lease = bb["lease_id"].as_i64().unwrap();
        let ops: Vec<_> = item_ids(&bb)
            .iter()
            .enumerate()
            .map(|(n, &i)| submit(&format!("b-{n}"), task, i, b_lease, "cat"))
            .collect();
        env.ok(&b_t, "POST", "/sync", Some(json!({ "ops": ops })))
            .await;
        let b2 = item_ids(&env.ok(&b_t, "POST", &path, None).await);
        let freed: Vec<i64> = held[3..].iter().chain(&now_held[3..]).copied().collect();
        assert!(
            b2.iter().all(|i| freed.contains(i)) && b2.len() == 4,
            "b gets the released seats: {b2:?} of {freed:?}"
        );
        env
    })
    .await;
}

/// Going back (issue 11): a revise op replaces the annotator's own answer while the lease is
/// live, once; the old answer stays in the history, inactive; nothing else can be revised.
#[tokio::test]
async fn an_annotator_changes_their_own_answer_while_the_lease_is_live() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (a, a_t) = env.user("a", project, &["annotator"]).await;
        let task = env.pull_task(project, dataset, &[a], 1, json!({"lease_seconds": 3})).await;
        let batch = env.ok(&a_t, "POST", &format!("/tasks/{task}/batches"), None).await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let items = item_ids(&batch);
        let revise = |id: &str, item: i64, concept: &str| {
            json!({"client_op_id": id, "action": {"type": "revise", "task_id": task, "item_id": item, "lease_id": lease,
                "value": {"type": "classification", "concept": concept}}})
        };
        env.ok(&a_t, "POST", "/sync", Some(json!({"ops": [submit("s-1", task, items[0], lease, "cat")]}))).await;
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": [revise("r-1", items[0], "dog"), revise("r-1", items[0], "dog"), revise("r-2", items[1], "dog")]}))).await;
        assert_eq!(r["results"][0]["status"], "applied", "{r}");
        assert_eq!(r["results"][1]["status"], "duplicate", "{r}");
        assert_eq!(r["results"][2]["code"], "not_submitted", "nothing to change on an unlabeled item: {r}");
        let item = env.ok(ADMIN, "GET", &format!("/items/{}", items[0]), None).await;
        let answers = item["answers"].as_array().unwrap();
        let active: Vec<_> = answers.iter().filter(|x| x["active"] == true || x["active"] == 1).collect();
        assert_eq!(answers.len(), 2, "the history keeps both: {item}");
        assert_eq!(active.len(), 1, "{item}");
        assert_eq!(active[0]["value"]["concept"], "dog", "{item}");
        let progress = env.ok(ADMIN, "GET", &format!("/tasks/{task}/progress"), None).await;
        assert_eq!(progress["labeled"], 1, "a revision is not a second label: {progress}");
        // Once the lease has ended, the answer stands.
        tokio::time::sleep(Duration::from_millis(3300)).await;
        let r = env.ok(&a_t, "POST", "/sync", Some(json!({"ops": [revise("r-3", items[0], "cat")]}))).await;
        assert_eq!(r["results"][0]["code"], "lease_expired", "{r}");
        env
    })
    .await;
}
