//! Media files stored by Quorum: upload as multipart (per-file errors, idempotent on content),
//! served with `Range`, and only to people who may see the item.

use crate::support::{on_each_backend, session_cookie, Env, ADMIN};
use serde_json::{json, Value};

const WEBM: &[u8] = include_bytes!("../../../core/tests/fixtures/chelsea-pan.webm");
const PNG: &[u8] = include_bytes!("../../../../public/demo/coins.png");

/// Uploads files as multipart parts `(file name, bytes)`; returns status and JSON.
async fn upload(env: &Env, token: &str, dataset: i64, files: &[(&str, &[u8])]) -> (u16, Value) {
    upload_with(env, token, dataset, files, None).await
}

/// As [`upload`], with the form's `metadata` field after the files.
async fn upload_with(
    env: &Env,
    token: &str,
    dataset: i64,
    files: &[(&str, &[u8])],
    metadata: Option<&str>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new().text("note", "not a file");
    for (name, bytes) in files {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_string());
        form = form.part("file", part);
    }
    if let Some(metadata) = metadata {
        form = form.text("metadata", metadata.to_owned());
    }
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/datasets/{dataset}/media",
            env.server.url
        ))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// GETs a media URL as `token` with optional extra headers; returns status, headers and body.
async fn fetch(
    env: &Env,
    token: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = reqwest::Client::new().get(format!("{}{url}", env.server.url));
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let (status, head) = (resp.status().as_u16(), resp.headers().clone());
    (status, head, resp.bytes().await.unwrap().to_vec())
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn files_become_items_once_and_bad_files_are_row_errors() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "media"})).await;
        let files: [(&str, &[u8]); 3] = [
            ("pan.webm", WEBM),
            ("notes.txt", b"hello, not a picture"),
            ("coins.png", PNG),
        ];
        let (status, up) = upload(&env, ADMIN, dataset, &files).await;
        assert_eq!(status, 201, "{up}");
        assert_eq!(
            (up["inserted"].as_i64(), up["failed"].as_i64()),
            (Some(2), Some(1)),
            "{up}"
        );
        assert_eq!(up["errors"][0]["row"], 2, "{up}");
        let message = up["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with("notes.txt: not an image"), "{message}");
        // The upload history keeps the error.
        let history = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/uploads"), None)
            .await;
        assert_eq!(history["uploads"][0]["format"], "files");
        assert_eq!(history["uploads"][0]["errors"][0]["row"], 2);
        // The same bytes again (under another name) change nothing.
        let (status, again) = upload(&env, ADMIN, dataset, &[("copy.webm", WEBM)]).await;
        assert_eq!(status, 201);
        assert_eq!(
            (again["inserted"].as_i64(), again["unchanged"].as_i64()),
            (Some(0), Some(1))
        );

        let items = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await;
        let items = items["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        let video = items
            .iter()
            .find(|i| i["data"]["video"].is_string())
            .unwrap();
        assert_eq!(video["metadata"]["duration_ms"], 4000);
        assert_eq!(
            (
                video["metadata"]["width"].as_i64(),
                video["metadata"]["height"].as_i64()
            ),
            (Some(320), Some(240))
        );
        let url = video["data"]["video"].as_str().unwrap();
        assert!(
            url.starts_with("/api/v1/media/") && url.ends_with(".webm"),
            "{url}"
        );
        let image = items
            .iter()
            .find(|i| i["data"]["image"].is_string())
            .unwrap();
        assert_eq!(image["metadata"]["width"], 384);
        env
    })
    .await;
}

#[tokio::test]
async fn media_are_served_in_ranges() {
    on_each_backend(|env| async move {
        let (_, dataset) = env.project_and_dataset(json!({"name": "ranges"})).await;
        let (_, up) = upload(&env, ADMIN, dataset, &[("pan.webm", WEBM)]).await;
        let url = up["files"][0]["url"].as_str().unwrap().to_owned();
        let size = WEBM.len();

        let (status, h, body) = fetch(&env, ADMIN, &url, &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body, WEBM);
        assert_eq!(header(&h, "content-type"), "video/webm");
        assert_eq!(header(&h, "accept-ranges"), "bytes");

        let (status, h, body) = fetch(&env, ADMIN, &url, &[("range", "bytes=100-199")]).await;
        assert_eq!(status, 206);
        assert_eq!(body, &WEBM[100..200]);
        assert_eq!(header(&h, "content-range"), format!("bytes 100-199/{size}"));
        assert_eq!(header(&h, "content-length"), "100");

        let (status, _, body) = fetch(&env, ADMIN, &url, &[("range", "bytes=-16")]).await;
        assert_eq!((status, body.as_slice()), (206, &WEBM[size - 16..]));

        let (status, h, body) =
            fetch(&env, ADMIN, &url, &[("range", &format!("bytes={size}-"))]).await;
        assert_eq!(status, 416);
        assert_eq!(header(&h, "content-range"), format!("bytes */{size}"));
        assert_eq!(header(&h, "content-type"), "application/json");
        let err: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["error"]["code"], "range_not_satisfiable");

        let etag = header(&h, "etag").to_owned();
        let (status, h, _) = fetch(&env, ADMIN, &url, &[("if-none-match", &etag)]).await;
        assert_eq!(status, 304);
        assert_eq!(header(&h, "accept-ranges"), "bytes");
        env
    })
    .await;
}

#[tokio::test]
async fn media_are_served_only_to_who_may_see_the_item() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "private"})).await;
        let (_, up) = upload(&env, ADMIN, dataset, &[("coins.png", PNG)]).await;
        let url = up["files"][0]["url"].as_str().unwrap().to_owned();
        let (other, _) = env.project_and_dataset(json!({"name": "elsewhere"})).await;
        let (_, outsider) = env.user("outsider", other, &["manager"]).await;
        let (_, reviewer) = env.user("media-reviewer", project, &["reviewer"]).await;
        let (annotator_id, annotator) = env.user("media-annotator", project, &["annotator"]).await;

        assert_eq!(fetch(&env, "", &url, &[]).await.0, 401);
        // Another project's manager, and an annotator who never held the item: as if absent.
        let (status, _, body) = fetch(&env, &outsider, &url, &[]).await;
        assert_eq!(status, 404);
        let err: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["error"]["code"], "not_found");
        assert_eq!(fetch(&env, &annotator, &url, &[]).await.0, 404);
        assert_eq!(fetch(&env, &reviewer, &url, &[]).await.0, 200);
        // Nor can a manager of another project upload into this dataset.
        assert_eq!(
            upload(&env, &outsider, dataset, &[("x.png", PNG)]).await.0,
            403
        );

        // Once the annotator holds the item, the file is theirs to see.
        let task = env
            .pull_task(project, dataset, &[annotator_id], 1, json!({}))
            .await;
        let batch = env
            .ok(&annotator, "POST", &format!("/tasks/{task}/batches"), None)
            .await;
        assert_eq!(batch["items"].as_array().map(Vec::len), Some(1), "{batch}");
        assert_eq!(fetch(&env, &annotator, &url, &[]).await.0, 200);

        // The browser's way: a cookie set at sign-in, valid on media GETs only.
        let cookie = session_cookie(&env, &annotator, "/api/v1/media").await;
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(cookie.contains("Path=/api/v1/media"), "{cookie}");
        let pair = cookie.split(';').next().unwrap().to_owned();
        assert_eq!(fetch(&env, "", &url, &[("cookie", &pair)]).await.0, 200);
        let (status, _) = env.call("", "GET", "/me", None).await;
        assert_eq!(status, 401);
        let me = reqwest::Client::new()
            .get(format!("{}/api/v1/me", env.server.url))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap();
        assert_eq!(
            me.status().as_u16(),
            401,
            "the cookie opens media, nothing else"
        );
        env
    })
    .await;
}

/// A `sample_ms` task over a video: one item per sampled frame, shared between tasks.
async fn video_project(env: &Env) -> (i64, i64, i64) {
    let (project, dataset) = env.project_and_dataset(json!({"name": "video"})).await;
    let (status, up) = upload(
        env,
        ADMIN,
        dataset,
        &[("pan.webm", WEBM), ("coins.png", PNG)],
    )
    .await;
    assert_eq!(status, 201, "{up}");
    let items = env
        .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
        .await;
    let video = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["data"]["video"].is_string())
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    (project, dataset, video)
}

fn box_task(name: &str, dataset: i64, sample_ms: u32, overlap: u32, assignees: &[i64]) -> Value {
    json!({
        "name": name,
        "schema": {"annotation_type": "bounding_box", "concepts": ["cat"]},
        "input": {"type": "dataset", "dataset_id": dataset},
        "worker_strategy": {"type": "pull", "batch_size": 3, "workers_per_input": overlap},
        "assignees": assignees,
        "sample_ms": sample_ms,
    })
}

#[tokio::test]
async fn a_sampled_video_task_labels_each_frame() {
    on_each_backend(|env| async move {
        let (project, dataset, video) = video_project(&env).await;
        let (a_id, a) = env.user("frame-annotator", project, &["annotator"]).await;
        let t300 = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(box_task("every 300 ms", dataset, 300, 1, &[a_id])))
            .await["id"]
            .as_i64()
            .unwrap();
        // ceil(4000 / 300) = 14 frames, plus the image, which stays one item.
        let progress = env.ok(ADMIN, "GET", &format!("/tasks/{t300}/progress"), None).await;
        assert_eq!(progress["items"], 15, "{progress}");
        let t1000 = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(box_task("every second", dataset, 1000, 1, &[a_id])))
            .await["id"]
            .as_i64()
            .unwrap();
        let progress = env.ok(ADMIN, "GET", &format!("/tasks/{t1000}/progress"), None).await;
        assert_eq!(progress["items"], 5, "{progress}");
        // Frames are not dataset items, and a plain task over the dataset ignores them.
        let items = env.ok(ADMIN, "GET", &format!("/projects/{project}/items"), None).await;
        assert_eq!(items["items"].as_array().unwrap().len(), 2);
        // A whole-dataset task (which PostgreSQL copies in one statement) takes the video, not
        // the frames earlier tasks sampled from it.
        let mut plain = box_task("plain", dataset, 0, 1, &[a_id]);
        plain.as_object_mut().unwrap().remove("sample_ms");
        let t = env.ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(plain)).await;
        assert_eq!(t["counts"]["items"], 2, "{t}");

        // The annotator gets frames with their time, and a box on a frame is checked against
        // the video's picture size.
        let batch = env.ok(&a, "POST", &format!("/tasks/{t1000}/batches"), None).await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let frame = batch["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["data"]["time_ms"].is_u64())
            .expect("a frame in the batch")
            .clone();
        let time = frame["data"]["time_ms"].as_u64().unwrap();
        assert_eq!(time % 1000, 0);
        assert!(frame["data"]["video"].as_str().unwrap().ends_with(".webm"));
        // The box carries its track on the video; the answer and the export keep it.
        let op = |id: &str, x: f64| json!({"ops": [{"client_op_id": id, "action": {"type": "submit",
            "task_id": t1000, "item_id": frame["item_id"], "lease_id": lease,
            "value": {"type": "bounding_box", "boxes": [{"concept": "cat", "x": x, "y": 10.0, "w": 100.0, "h": 80.0, "track": 2}]}}}]});
        let r = env.ok(&a, "POST", "/sync", Some(op("too-wide", 300.0))).await;
        assert_eq!(r["results"][0]["status"], "rejected", "{r}");
        let r = env.ok(&a, "POST", "/sync", Some(op("fits", 200.0))).await;
        assert_eq!(r["results"][0]["status"], "applied", "{r}");
        let item = env.ok(ADMIN, "GET", &format!("/items/{}", frame["item_id"]), None).await;
        assert_eq!(item["answers"][0]["value"]["boxes"][0]["track"], 2, "{item}");
        let job = env
            .ok(ADMIN, "POST", &format!("/tasks/{t1000}/exports"), Some(json!({"format": "json"})))
            .await["job_id"]
            .as_i64()
            .unwrap();
        assert_eq!(env.wait_job(ADMIN, job).await["status"], "complete");
        let export = env
            .ok(ADMIN, "GET", &format!("/jobs/{job}/result"), None)
            .await
            .to_string();
        assert!(export.contains(r#""track":2"#), "{export}");
        // And the video file is the annotator's to load, since they hold one of its frames.
        let url = frame["data"]["video"].as_str().unwrap();
        assert_eq!(fetch(&env, &a, url, &[("range", "bytes=0-9")]).await.0, 206);

        // A step that would cut the clip into too many frames is refused by field.
        let (status, err) = env
            .call(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(box_task("bad", dataset, 0, 1, &[a_id])))
            .await;
        assert_eq!(status, 422, "{err}");
        assert_eq!(err["error"]["details"][0]["field"], "sample_ms", "{err}");
        let _ = video;
        env
    })
    .await;
}

#[tokio::test]
async fn fifty_pullers_never_exceed_a_frames_overlap() {
    on_each_backend(|env| async move {
        let (project, dataset, _) = video_project(&env).await;
        let mut people = Vec::new();
        for i in 0..50 {
            people.push(env.user(&format!("puller-{i}"), project, &["annotator"]).await);
        }
        let ids: Vec<i64> = people.iter().map(|(id, _)| *id).collect();
        let task = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(box_task("crowd", dataset, 100, 2, &ids)))
            .await["id"]
            .as_i64()
            .unwrap();
        let env = std::sync::Arc::new(env);
        let mut pullers = Vec::new();
        for (n, (_, token)) in people.into_iter().enumerate() {
            let env = env.clone();
            pullers.push(tokio::spawn(async move {
                let mut done = 0;
                loop {
                    let batch = env.ok(&token, "POST", &format!("/tasks/{task}/batches"), None).await;
                    let items = batch["items"].as_array().cloned().unwrap_or_default();
                    if items.is_empty() {
                        return done;
                    }
                    let lease = batch["lease_id"].as_i64().unwrap();
                    let ops: Vec<Value> = items.iter().map(|it| json!({"client_op_id": format!("{n}-{}", it["item_id"]),
                        "action": {"type": "submit", "task_id": task, "item_id": it["item_id"], "lease_id": lease,
                        "value": {"type": "bounding_box", "boxes": []}}})).collect();
                    done += ops.len();
                    env.ok(&token, "POST", "/sync", Some(json!({"ops": ops}))).await;
                }
            }));
        }
        let mut labels = 0;
        for p in pullers {
            labels += p.await.unwrap();
        }
        // 40 frames and one image, two labels each: never more, and nothing left undone.
        assert_eq!(labels, 41 * 2);
        let progress = env.ok(ADMIN, "GET", &format!("/tasks/{task}/progress"), None).await;
        assert_eq!(progress["items"], 41, "{progress}");
        match std::sync::Arc::try_unwrap(env) {
            Ok(env) => env,
            Err(_) => panic!("pullers still hold the server"),
        }
    })
    .await;
}

#[tokio::test]
async fn label_studio_video_tracks_become_boxes_on_the_sampled_frames() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "ls video"})).await;
        // Label Studio gives no picture size for a video: here the task's meta does.
        let export = json!([{
            "id": 41,
            "data": {"video": "https://videos.example.org/street.mp4"},
            "meta": {"width": 320, "height": 240},
            "annotations": [{"completed_by": 3, "result": [{
                "id": "car-1", "type": "videorectangle", "from_name": "box", "to_name": "video",
                "value": {"labels": ["cat"], "framesCount": 40, "duration": 4.0, "sequence": [
                    {"frame": 1, "enabled": true, "x": 10, "y": 10, "width": 20, "height": 20},
                    {"frame": 21, "enabled": false, "x": 30, "y": 10, "width": 20, "height": 20}]}}]}],
        }, {"id": 42, "data": {"video": "https://videos.example.org/other.mp4"}}]);
        let (s, up) = env
            .raw(ADMIN, "POST", &format!("/datasets/{dataset}/items?format=label_studio"), "application/json", &export.to_string())
            .await;
        assert_eq!((s, up["inserted"].as_i64()), (200, Some(2)), "{up}");
        let mut spec = box_task("from label studio", dataset, 1000, 1, &[]);
        spec["auto_accept"] = json!({"min": {"value": 0.9, "inclusive": true}});
        spec["assignees"] = json!([]);
        let task = env.ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(spec)).await["id"]
            .as_i64()
            .unwrap();

        let r = env
            .ok(ADMIN, "POST", &format!("/tasks/{task}/predictions/label-studio"), Some(export))
            .await;
        // Frames at 0, 1000, 2000 show the object (0 and 2000 are keys, 1000 between them);
        // 3000 is after a key that ends the track. The second video has nothing to import.
        assert_eq!(r["model"], "label-studio", "{r}");
        assert_eq!(r["rows"][0]["predictions"]["accepted"], 3, "{r}");
        assert_eq!(r["rows"][1]["status"], "failed", "{r}");

        let results = env.ok(ADMIN, "GET", &format!("/tasks/{task}/results"), None).await;
        let mut boxes: Vec<(u64, Value)> = Vec::new();
        for row in results["results"].as_array().unwrap() {
            if row["value"].is_null() {
                continue;
            }
            assert_eq!(row["method"], "model:label-studio", "{row}");
            let item = env.ok(ADMIN, "GET", &format!("/items/{}", row["item_id"]), None).await;
            boxes.push((item["data"]["time_ms"].as_u64().unwrap(), row["value"]["boxes"][0].clone()));
        }
        boxes.sort_by_key(|(t, _)| *t);
        let xs: Vec<(u64, f64, f64)> = boxes
            .iter()
            .map(|(t, b)| (*t, b["x"].as_f64().unwrap(), b["w"].as_f64().unwrap()))
            .collect();
        // Percent of 320 px: x 10 % → 32, 30 % → 96, halfway 64; width 20 % → 64.
        assert_eq!(xs, vec![(0, 32.0, 64.0), (1000, 64.0, 64.0), (2000, 96.0, 64.0)], "{results}");
        // The Label Studio region is one Quorum track on every frame.
        assert!(boxes.iter().all(|(_, b)| b["track"] == 1), "{results}");

        // Sending the file again changes nothing.
        let again = env
            .ok(ADMIN, "POST", &format!("/tasks/{task}/predictions/label-studio"), Some(json!([export_row_41()])))
            .await;
        assert_eq!(again["counts"]["unchanged"], 3, "{again}");
        env
    })
    .await;
}

fn export_row_41() -> Value {
    json!({
        "id": 41,
        "data": {"video": "https://videos.example.org/street.mp4"},
        "annotations": [{"result": [{
            "type": "videorectangle",
            "value": {"labels": ["cat"], "framesCount": 40, "duration": 4.0, "sequence": [
                {"frame": 1, "enabled": true, "x": 10, "y": 10, "width": 20, "height": 20},
                {"frame": 21, "enabled": false, "x": 30, "y": 10, "width": 20, "height": 20}]}}]}],
    })
}

#[tokio::test]
async fn metadata_given_at_upload_overrides_what_the_file_says() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_and_dataset(json!({"name": "override"})).await;
        let files: [(&str, &[u8]); 2] = [("pan.webm", WEBM), ("notes.txt", b"not a picture")];
        // Junk is refused whole, naming what is wrong, and stores no item.
        for (bad, why) in [
            ("[1]", "JSON object"),
            (r#"{"pan.webm": {"duration_ms": -5}}"#, "duration_ms"),
            (r#"{"pan.webm": {"fps": "fast"}}"#, "fps"),
            (r#"{"other.webm": {"fps": 25}}"#, "other.webm"),
        ] {
            let (status, err) = upload_with(&env, ADMIN, dataset, &files, Some(bad)).await;
            assert_eq!(status, 422, "{bad}: {err}");
            assert!(
                err["error"]["message"].as_str().unwrap().contains(why),
                "{bad}: {err}"
            );
        }
        let items = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await;
        assert_eq!(items["items"].as_array().unwrap().len(), 0);

        // The clip's container says 4 s; the uploader says only the first 2 s count. A refused
        // file may be named too: its row error says why it has no item.
        let given =
            r#"{"pan.webm": {"duration_ms": 2000, "camera": "north"}, "notes.txt": {"x": 1}}"#;
        let (status, up) = upload_with(&env, ADMIN, dataset, &files, Some(given)).await;
        assert_eq!((status, up["inserted"].as_i64()), (201, Some(1)), "{up}");
        let items = env
            .ok(ADMIN, "GET", &format!("/projects/{project}/items"), None)
            .await;
        let video = &items["items"][0];
        assert_eq!(video["metadata"]["duration_ms"], 2000, "{video}");
        assert_eq!(video["metadata"]["camera"], "north", "{video}");
        assert_eq!(
            video["metadata"]["width"], 320,
            "what was not given stays as read"
        );
        let task = env
            .ok(
                ADMIN,
                "POST",
                &format!("/projects/{project}/tasks"),
                Some(box_task("first 2 s", dataset, 500, 1, &[])),
            )
            .await["id"]
            .as_i64()
            .unwrap();
        let progress = env
            .ok(ADMIN, "GET", &format!("/tasks/{task}/progress"), None)
            .await;
        assert_eq!(
            progress["items"], 4,
            "frames at 0, 500, 1000, 1500: {progress}"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn a_frame_comes_with_what_the_workers_earlier_key_frames_imply() {
    on_each_backend(|env| async move {
        let (project, dataset, _) = video_project(&env).await;
        let (a_id, a) = env.user("track-annotator", project, &["annotator"]).await;
        let (b_id, b) = env.user("other-annotator", project, &["annotator"]).await;
        let mut spec = box_task("tracks", dataset, 1000, 2, &[a_id, b_id]);
        spec["worker_strategy"]["batch_size"] = json!(5);
        let task = env
            .ok(ADMIN, "POST", &format!("/projects/{project}/tasks"), Some(spec))
            .await["id"]
            .as_i64()
            .unwrap();
        let frames = |batch: &Value| -> Vec<(u64, Value)> {
            batch["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|i| Some((i["data"]["time_ms"].as_u64()?, i.clone())))
                .collect()
        };
        let boxed = |x: f64, track: u32| json!({"type": "bounding_box", "boxes": [
            {"concept": "cat", "x": x, "y": 10.0, "w": 50.0, "h": 40.0, "track": track}]});
        let submit = |id: &str, item: &Value, lease: i64, value: Value| json!({"client_op_id": id,
            "action": {"type": "submit", "task_id": task, "item_id": item["item_id"], "lease_id": lease, "value": value}});

        // Key frames at 0 s and 2 s in one session.
        let batch = env.ok(&a, "POST", &format!("/tasks/{task}/batches"), None).await;
        let lease = batch["lease_id"].as_i64().unwrap();
        let held = frames(&batch);
        let at = |t: u64| held.iter().find(|(time, _)| *time == t).map(|(_, i)| i.clone()).expect("frame held");
        assert!(at(1000)["prefill"].is_null(), "nothing labelled yet");
        assert_eq!(at(1000)["metadata"]["next_track"], 1);
        let ops = json!({"ops": [submit("k0", &at(0), lease, boxed(20.0, 1)), submit("k2", &at(2000), lease, boxed(60.0, 1))]});
        let r = env.ok(&a, "POST", "/sync", Some(ops)).await;
        assert!(r["results"].as_array().unwrap().iter().all(|o| o["status"] == "applied"), "{r}");

        // Another session (a new browser asks for work and gets the seats it still holds): the
        // frame between opens with the interpolated box, and a new box would start track 2,
        // not reuse the cat's.
        let again = env.ok(&a, "POST", &format!("/tasks/{task}/batches"), None).await;
        let (_, mid) = frames(&again).into_iter().find(|(t, _)| *t == 1000).expect("frame 1 s again");
        assert_eq!(mid["prefill"]["boxes"][0]["x"], 40.0, "{mid}");
        assert_eq!(mid["prefill"]["boxes"][0]["track"], 1, "{mid}");
        assert_eq!(mid["metadata"]["next_track"], 2, "{mid}");

        // Nobody else's answers shape another annotator's frames (invariant 5).
        let theirs = env.ok(&b, "POST", &format!("/tasks/{task}/batches"), None).await;
        for (_, item) in frames(&theirs) {
            assert!(item["prefill"].is_null(), "{item}");
            assert_eq!(item["metadata"]["next_track"], 1, "{item}");
        }
        env
    })
    .await;
}

/// The session cookie signs in exactly where the OpenAPI document says it does: every
/// documented operation that needs a caller is called with the cookie alone (and ids that do
/// not exist). One whose `security` names `session` must get past sign-in; every other one must
/// answer 401. A handler that takes the cookie without the document saying so, or a document
/// that promises the cookie where the handler refuses it, fails here.
#[tokio::test]
async fn the_session_cookie_signs_in_exactly_where_the_document_says() {
    let env = Env::start(None).await;
    let set = session_cookie(&env, ADMIN, "/api/v1/media").await;
    let cookie = set.split(';').next().unwrap().to_owned();
    let doc = env.ok("", "GET", "/openapi.json", None).await;
    let http = reqwest::Client::new();
    let mut taken = Vec::new();
    for (path, methods) in doc["paths"].as_object().unwrap() {
        // Every parameter in the path names something that does not exist.
        let concrete: String = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "999999"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for (method, op) in methods.as_object().unwrap() {
            let schemes: Vec<&str> = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_object())
                .flat_map(|s| s.keys().map(String::as_str))
                .collect();
            if !schemes.contains(&"bearer") {
                continue;
            }
            let status = http
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}/api/v1{concrete}", env.server.url),
                )
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let operation = format!("{} {path}", method.to_uppercase());
            if schemes.contains(&"session") {
                assert_ne!(status, 401, "{operation} is documented to take the cookie");
                taken.push(operation);
            } else {
                assert_eq!(status, 401, "{operation} took the cookie without saying so");
            }
        }
    }
    taken.sort();
    assert_eq!(
        taken,
        [
            "GET /archives/{id}/download",
            "GET /events",
            "GET /jobs/{id}/result",
            "GET /media/{file}",
        ],
        "the operations the document says take the cookie"
    );
    env.stop().await;
}
