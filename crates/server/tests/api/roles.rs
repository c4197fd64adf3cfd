//! Role boundaries (a 403 for each forbidden pair), authentication, invariant 5, and the error
//! shape of bad requests.

use crate::support::{item_ids, on_each_backend, submit, ADMIN};
use serde_json::json;

#[tokio::test]
async fn every_forbidden_pair_is_refused_and_gold_stays_hidden() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(20).await;
        let (ann, ann_t) = env.user("ann", project, &["annotator"]).await;
        let (bob, bob_t) = env.user("bob", project, &["annotator"]).await;
        let (_rev, rev_t) = env.user("rev", project, &["reviewer"]).await;
        let (_out, out_t) = env.user("outsider", 0, &[]).await;
        let task = env
            .pull_task(project, dataset, &[ann, bob], 2, json!({}))
            .await;

        // No token or a wrong one: 401 with the error shape.
        let (s, v) = env.call("", "GET", "/me", None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (401, Some("unauthorized"))
        );
        let (s, _) = env.call("not-a-token", "GET", "/me", None).await;
        assert_eq!(s, 401);

        let forbidden: Vec<(&str, &str, String, Option<serde_json::Value>)> = vec![
            (
                &ann_t,
                "POST",
                "/projects".into(),
                Some(json!({"name": "x"})),
            ),
            (&ann_t, "POST", "/users".into(), Some(json!({"name": "x"}))),
            (&ann_t, "GET", "/users".into(), None),
            (&ann_t, "GET", format!("/projects/{project}/members"), None),
            (
                &ann_t,
                "PUT",
                format!("/projects/{project}/members/{bob}"),
                Some(json!({"roles": ["manager"]})),
            ),
            (
                &ann_t,
                "POST",
                format!("/projects/{project}/datasets"),
                Some(json!({"name": "x"})),
            ),
            (
                &ann_t,
                "POST",
                format!("/datasets/{dataset}/items"),
                Some(json!([{"data": "x"}])),
            ),
            (&ann_t, "GET", format!("/projects/{project}/items"), None),
            (&ann_t, "GET", format!("/projects/{project}/uploads"), None),
            (
                &ann_t,
                "POST",
                format!("/projects/{project}/tasks"),
                Some(json!({
                "name": "t", "schema": {"annotation_type": "classification", "concepts": ["a"]},
                "input": {"type": "all_items"}, "worker_strategy": {"type": "pull"}})),
            ),
            (
                &ann_t,
                "PATCH",
                format!("/tasks/{task}"),
                Some(json!({"name": "x"})),
            ),
            (&ann_t, "DELETE", format!("/tasks/{task}"), None),
            (
                &ann_t,
                "POST",
                format!("/tasks/{task}/status"),
                Some(json!({"status": "archived"})),
            ),
            (&ann_t, "GET", format!("/tasks/{task}/progress"), None),
            (&ann_t, "GET", format!("/tasks/{task}/results"), None),
            (&ann_t, "GET", format!("/tasks/{task}/review-queue"), None),
            (
                &ann_t,
                "GET",
                format!("/projects/{project}/reservations"),
                None,
            ),
            (&ann_t, "POST", format!("/users/{bob}/tokens"), None),
            (&rev_t, "POST", format!("/tasks/{task}/batches"), None),
            (&out_t, "GET", format!("/tasks/{task}"), None),
            (&out_t, "GET", format!("/projects/{project}"), None),
            (&out_t, "POST", format!("/tasks/{task}/batches"), None),
        ];
        for (token, method, path, body) in forbidden {
            let (s, v) = env.call(token, method, &path, body).await;
            assert_eq!(s, 403, "{method} {path}: {v}");
            assert_eq!(v["error"]["code"], "forbidden", "{v}");
        }

        // Invariant 5: batches and item views carry no gold and no one else's labels.
        let batch = env
            .ok(&ann_t, "POST", &format!("/tasks/{task}/batches"), None)
            .await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let first = item_ids(&batch)[0];
        assert!(!batch.to_string().contains("gold"), "{batch}");
        env.ok(
            &ann_t,
            "POST",
            "/sync",
            Some(json!({"ops": [submit("a-1", task, first, lease, "cat")]})),
        )
        .await;
        let b2 = env
            .ok(&bob_t, "POST", &format!("/tasks/{task}/batches"), None)
            .await;
        assert!(
            item_ids(&b2).contains(&first),
            "overlap 2 offers the item to bob too"
        );
        let seen = env
            .ok(&bob_t, "GET", &format!("/items/{first}"), None)
            .await;
        assert!(seen.get("gold").is_none(), "{seen}");
        assert_eq!(
            seen["answers"],
            json!([]),
            "bob must not see ann's label: {seen}"
        );
        let managed = env.ok(ADMIN, "GET", &format!("/items/{first}"), None).await;
        assert_eq!(managed["answers"].as_array().unwrap().len(), 1);
        assert_eq!(managed["gold"]["concept"], "cat");
        // An item not handed to the outsider nor in bob's work.
        let (s, _) = env
            .call(&out_t, "GET", &format!("/items/{first}"), None)
            .await;
        assert_eq!(s, 403);
        // Bob cannot submit on ann's lease for an item he does not hold.
        let (_, r) = env
            .call(
                &bob_t,
                "POST",
                "/sync",
                Some(json!({"ops": [submit("b-x", task, 999_999, lease, "cat")]})),
            )
            .await;
        assert_eq!(r["results"][0]["status"], "rejected");
        env
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_json_errors_and_writes_nothing() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(3).await;
        let before = env
            .ok(ADMIN, "GET", &format!("/tasks?project_id={project}"), None)
            .await;
        // Malformed JSON, wrong content type, unknown field, invalid spec, unknown route.
        let (s, v) = env
            .raw(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                "application/json",
                "{nope",
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (400, Some("invalid_body")),
            "{v}"
        );
        let (s, v) = env
            .raw(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                "text/plain",
                "{}",
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (415, Some("unsupported_media_type")),
            "{v}"
        );
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                "/projects",
                Some(json!({"name": "x", "colour": "red"})),
            )
            .await;
        assert_eq!(s, 400, "{v}");
        let spec = json!({
            "name": "",
            "schema": {"annotation_type": "classification", "concepts": []},
            "input": {"type": "dataset", "dataset_id": dataset},
            "worker_strategy": {"type": "pull", "batch_size": 0},
        });
        let (s, v) = env
            .call(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(spec),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("validation_failed")),
            "{v}"
        );
        let fields: Vec<&str> = v["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.contains(&"name") && fields.contains(&"worker_strategy.batch_size"),
            "{fields:?}"
        );
        let (s, v) = env.call(ADMIN, "GET", "/no/such/thing", None).await;
        assert_eq!((s, v["error"]["code"].as_str()), (404, Some("no_route")));
        let (s, v) = env
            .raw(ADMIN, "POST", "/sync", "application/json", "{\"ops\": 5}")
            .await;
        assert_eq!(s, 400, "{v}");
        let after = env
            .ok(ADMIN, "GET", &format!("/tasks?project_id={project}"), None)
            .await;
        assert_eq!(before, after, "refused requests wrote nothing");
        // The OpenAPI document lists every route, and each listed route exists.
        let doc = env.ok("", "GET", "/openapi.json", None).await;
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 30, "{}", paths.len());
        // Generated from the handlers' types: bodies, answers and refusals have schemas.
        assert_eq!(doc["servers"][0]["url"], "/api/v1", "{}", doc["servers"]);
        let create = &doc["paths"]["/projects"]["post"];
        let schema = |v: &serde_json::Value| v["content"]["application/json"]["schema"].clone();
        assert_eq!(
            schema(&create["requestBody"])["$ref"],
            "#/components/schemas/NewProject",
            "{create}"
        );
        assert_eq!(
            schema(&create["responses"]["201"])["$ref"],
            "#/components/schemas/ProjectView"
        );
        assert_eq!(
            schema(&create["responses"]["403"])["$ref"],
            "#/components/schemas/ErrorBody"
        );
        let project = &doc["components"]["schemas"]["ProjectView"]["properties"];
        assert!(project["auto_archive_days"].is_object(), "{project}");
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        for (path, methods) in paths {
            for method in methods.as_object().unwrap().keys() {
                let concrete = path
                    .replace("{id}", "999999")
                    .replace("{user_id}", "999999")
                    .replace("{item_id}", "999999");
                let (_, v) = env
                    .call(ADMIN, &method.to_uppercase(), &concrete, None)
                    .await;
                assert_ne!(
                    v["error"]["code"], "no_route",
                    "{method} {path} is documented but not routed"
                );
            }
        }
        env
    })
    .await;
}
