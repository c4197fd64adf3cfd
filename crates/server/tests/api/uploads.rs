//! Item uploads: the three formats, per-row errors, idempotence on `external_id`, the history.

use crate::support::{on_each_backend, ADMIN};
use serde_json::json;

#[tokio::test]
async fn uploads_report_rows_and_repeat_idempotently() {
    on_each_backend(|env| async move {
        let p = env.ok(ADMIN, "POST", "/projects", Some(json!({"name": "up"}))).await;
        let project = p["id"].as_i64().unwrap();
        let d = env.ok(ADMIN, "POST", &format!("/projects/{project}/datasets"), Some(json!({"name": "d"}))).await;
        let dataset = d["id"].as_i64().unwrap();
        let path = format!("/datasets/{dataset}/items");

        let ndjson = "{\"external_id\":\"a\",\"data\":\"one\",\"directory\":\"/x/y\"}\n{\"data\":}\n{\"external_id\":\"b\",\"data\":\"two\",\"priority\":5}\n";
        let (s, v) = env.raw(ADMIN, "POST", &path, "application/x-ndjson", ndjson).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!((v["inserted"].as_i64(), v["failed"].as_i64()), (Some(2), Some(1)), "{v}");
        assert_eq!(v["errors"][0]["row"], 2, "{v}");

        // The same rows again change nothing; a changed row updates in place.
        let again = "{\"external_id\":\"a\",\"data\":\"one\",\"directory\":\"/x/y\"}\n{\"external_id\":\"b\",\"data\":\"TWO\",\"priority\":5}\n";
        let (_, v) = env.raw(ADMIN, "POST", &path, "application/x-ndjson", again).await;
        assert_eq!((v["inserted"].as_i64(), v["unchanged"].as_i64(), v["updated"].as_i64()), (Some(0), Some(1), Some(1)), "{v}");

        let csv = "external_id,data,directory,metadata.colour\nc,three,/x,red\nd,four,/z,blue\n";
        let (_, v) = env.raw(ADMIN, "POST", &path, "text/csv", csv).await;
        assert_eq!(v["inserted"], 2, "{v}");

        // Unreadable bodies are refused whole with a code, and recorded nowhere.
        let (s, v) = env.raw(ADMIN, "POST", &path, "application/json", "{\"not\":\"an array\"}").await;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"]["code"].is_string());
        let (s, _) = env.raw(ADMIN, "POST", &path, "image/png", "x").await;
        assert_eq!(s, 415);

        let items = env.ok(ADMIN, "GET", &format!("/projects/{project}/items?directory=/x"), None).await;
        let names: Vec<&str> = items["items"].as_array().unwrap().iter().map(|i| i["data"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["one", "three"], "directory /x holds /x/y too: {items}");
        let page = env.ok(ADMIN, "GET", &format!("/projects/{project}/items?limit=2"), None).await;
        let cursor = page["next_cursor"].as_str().unwrap().to_owned();
        let rest = env.ok(ADMIN, "GET", &format!("/projects/{project}/items?limit=2&cursor={cursor}"), None).await;
        assert_eq!(rest["items"].as_array().unwrap().len(), 2);

        let history = env.ok(ADMIN, "GET", &format!("/projects/{project}/uploads"), None).await;
        let uploads = history["uploads"].as_array().unwrap();
        assert_eq!(uploads.len(), 3, "{history}");
        assert_eq!(uploads[2]["failed"], 1);
        assert_eq!(uploads[2]["errors"][0]["row"], 2);

        // A saved search feeds a task.
        let s = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/saved-searches"), Some(json!({"name": "reds", "filter": {"metadata": {"colour": "red"}}})))
            .await;
        let task = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(json!({
                "name": "reds only",
                "schema": {"annotation_type": "classification", "concepts": ["a", "b"]},
                "input": {"type": "saved_search", "saved_search_id": s["id"]},
                "worker_strategy": {"type": "pull"},
            })))
            .await;
        assert_eq!(task["counts"]["items"], 1, "{task}");
        env
    })
    .await;
}

#[tokio::test]
async fn stored_item_json_that_no_longer_parses_fails_loudly() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "loud"})).await;
        let rows = "{\"external_id\":\"a\",\"data\":\"one\",\"metadata\":{\"width\":4}}\n";
        let path = format!("/datasets/{dataset}/items");
        let (s, v) = env
            .raw(ADMIN, "POST", &path, "application/x-ndjson", rows)
            .await;
        assert_eq!(s, 200, "{v}");
        let items = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await;
        let item = items["items"][0]["id"].as_i64().unwrap();
        assert_eq!(items["items"][0]["metadata"]["width"], 4, "{items}");
        // Corrupt the stored metadata: before, it read as null and the item looked like one
        // without metadata (no picture size, so shapes went unchecked against it).
        let db = quorum_server::db::Db::connect(env.db_url()).await.unwrap();
        sqlx::query("UPDATE items SET metadata = 'not json' WHERE id = $1")
            .bind(item)
            .execute(db.pool())
            .await
            .unwrap();
        for path in [
            format!("/items/{item}"),
            format!("/projects/{project}/items"),
        ] {
            let (s, v) = env.call(ADMIN, "GET", &path, None).await;
            assert_eq!(
                (s, v["error"]["code"].as_str()),
                (500, Some("internal")),
                "{path}: {v}"
            );
            assert!(v["error"]["request_id"].is_string(), "{v}");
        }
        env
    })
    .await;
}
