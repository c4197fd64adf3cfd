//! The error contract at the edges: unknown routes, wrong methods and duplicate writes answer
//! in the JSON error shape with their codes, on both backends.

use crate::support::{on_each_backend, ADMIN};
use serde_json::{json, Value};

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_in_json() {
    on_each_backend(|env| async move {
        let (s, v) = env.call(ADMIN, "GET", "/no/such/thing", None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("no_route")),
            "{v}"
        );
        // Outside the API too, when no web app is served.
        let resp = reqwest::get(format!("{}/nowhere", env.server.url))
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        assert!(resp.headers().contains_key("x-request-id"));
        let v: Value = resp.json().await.expect("a JSON 404");
        assert_eq!(v["error"]["code"], "no_route", "{v}");
        for (method, path) in [("DELETE", "/me"), ("PATCH", "/projects"), ("GET", "/sync")] {
            let (s, v) = env.call(ADMIN, method, path, None).await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (405, Some("method_not_allowed")),
                "{method} {path}: {v}"
            );
            assert!(
                v["error"]["message"].as_str().unwrap().contains(method),
                "{v}"
            );
        }
        env
    })
    .await;
}

#[tokio::test]
async fn a_duplicate_made_by_a_racing_request_is_a_conflict() {
    on_each_backend(|env| async move {
        // Each request checks the name is free before inserting; racing ones pass the check
        // together and the unique index refuses all but one.
        for round in 0..4 {
            let name = format!("racer {round}");
            let mut calls = tokio::task::JoinSet::new();
            for _ in 0..12 {
                let url = format!("{}/api/v1/users", env.server.url);
                let body = json!({ "name": name });
                calls.spawn(async move {
                    let resp = reqwest::Client::new()
                        .post(url)
                        .bearer_auth(ADMIN)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let status = resp.status().as_u16();
                    (status, resp.json::<Value>().await.expect("a JSON answer"))
                });
            }
            let answers = calls.join_all().await;
            let created = answers.iter().filter(|(s, _)| *s == 201).count();
            assert_eq!(created, 1, "{answers:?}");
            for (s, v) in &answers {
                if *s != 201 {
                    assert_eq!(*s, 409, "{v}");
                    let code = v["error"]["code"].as_str().unwrap();
                    assert!(["conflict", "already_exists"].contains(&code), "{v}");
                }
            }
        }
        env
    })
    .await;
}

#[tokio::test]
async fn a_stored_role_that_is_not_a_role_fails_loudly() {
    on_each_backend(|env| async move {
        let (project, _) = env.project_and_dataset(json!({"name": "roles"})).await;
        let (_, token) = env.user("ann", project, &["annotator"]).await;
        env.ok(&token, "GET", &format!("/projects/{project}"), None)
            .await;
        // Corrupt the stored roles: before, the unknown name was dropped without a word and the
        // member quietly held fewer roles. The column's CHECK (migration 17) refuses such a
        // write, so the corruption goes around it, as a damaged file or a hand edit would.
        crate::constraints::write_around_checks(
            &env,
            &format!("UPDATE members SET roles = 'annotator,boss' WHERE project_id = {project}"),
            "members_roles_known",
        )
        .await;
        let (s, v) = env
            .call(&token, "GET", &format!("/projects/{project}"), None)
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (500, Some("internal")),
            "{v}"
        );
        assert!(v["error"]["request_id"].is_string(), "{v}");
        env
    })
    .await;
}
