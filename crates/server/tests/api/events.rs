//! Live task pages: the event stream says `change` soon after a label, a lease or a review, says
//! nothing while nothing happens, and is served only to the task's managers and reviewers.

use crate::support::{on_each_backend, session_cookie, submit, Env, ADMIN};
use serde_json::json;
use std::time::{Duration, Instant};

/// An open event stream, read chunk by chunk.
struct Stream {
    resp: reqwest::Response,
    seen: String,
}

impl Stream {
    async fn open(env: &Env, task: i64, auth: (&str, &str)) -> (u16, Stream) {
        Stream::open_with(env, task, &[auth]).await
    }

    async fn open_with(env: &Env, task: i64, headers: &[(&str, &str)]) -> (u16, Stream) {
        let mut req =
            reqwest::Client::new().get(format!("{}/api/v1/events?task_id={task}", env.server.url));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let resp = req.send().await.unwrap();
        (
            resp.status().as_u16(),
            Stream {
                resp,
                seen: String::new(),
            },
        )
    }

    /// The next event's name (comment lines skipped), or `None` if none comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(end) = self.seen.find("\n\n") {
                let block: String = self.seen.drain(..end + 2).collect();
                if let Some(name) = block.lines().find_map(|l| l.strip_prefix("event: ")) {
                    return Some(name.to_owned());
                }
                continue;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }
}

#[tokio::test]
async fn a_label_reaches_a_watching_task_page_within_a_second() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(4).await;
        let (a, a_token) = env.user("live-annotator", project, &["annotator"]).await;
        let task = env.pull_task(project, dataset, &[a], 1, json!({})).await;
        let bearer = |t: &str| format!("Bearer {t}");

        let (status, mut page) = Stream::open(&env, task, ("authorization", &bearer(ADMIN))).await;
        assert_eq!(status, 200);
        assert_eq!(
            page.next(Duration::from_secs(2)).await.as_deref(),
            Some("ready")
        );
        // Nothing happens, nothing is said.
        assert_eq!(page.next(Duration::from_millis(1200)).await, None);

        let batch = env
            .ok(&a_token, "POST", &format!("/tasks/{task}/batches"), None)
            .await;
        assert_eq!(
            page.next(Duration::from_secs(1)).await.as_deref(),
            Some("change"),
            "a lease"
        );
        let item = batch["items"][0]["item_id"].as_i64().unwrap();
        let lease = batch["lease_id"].as_i64().unwrap();
        let r = env
            .ok(
                &a_token,
                "POST",
                "/sync",
                Some(json!({"ops": [submit("live-1", task, item, lease, "cat")]})),
            )
            .await;
        assert_eq!(r["results"][0]["status"], "applied", "{r}");
        let labelled = Instant::now();
        assert_eq!(
            page.next(Duration::from_secs(1)).await.as_deref(),
            Some("change"),
            "a label"
        );
        assert!(labelled.elapsed() < Duration::from_secs(1));

        // A browser reconnecting with a mark from before the label is told at once.
        let (status, mut again) = Stream::open(&env, task, ("authorization", &bearer(ADMIN))).await;
        assert_eq!(status, 200);
        assert_eq!(
            again.next(Duration::from_secs(2)).await.as_deref(),
            Some("ready"),
            "no mark sent"
        );
        let (_, mut stale) = Stream::open_with(
            &env,
            task,
            &[
                ("authorization", &bearer(ADMIN)),
                ("last-event-id", "0.0.0.0.0.0"),
            ],
        )
        .await;
        assert_eq!(
            stale.next(Duration::from_secs(2)).await.as_deref(),
            Some("change"),
            "a stale mark"
        );
        env
    })
    .await;
}

#[tokio::test]
async fn only_the_tasks_managers_and_reviewers_follow_it() {
    on_each_backend(|env| async move {
        let (project, dataset) = env.project_with_items(2).await;
        let (a, a_token) = env.user("live-annotator-2", project, &["annotator"]).await;
        let (_, r_token) = env.user("live-reviewer", project, &["reviewer"]).await;
        let task = env.pull_task(project, dataset, &[a], 1, json!({})).await;
        let bearer = |t: &str| format!("Bearer {t}");

        let (status, _) = Stream::open(&env, task, ("authorization", &bearer(&a_token))).await;
        assert_eq!(status, 403, "an annotator does not watch others' work");
        let (status, _) = Stream::open(&env, 999_999, ("authorization", &bearer(ADMIN))).await;
        assert_eq!(status, 404);
        let (status, _) = Stream::open(&env, task, ("x-nothing", "")).await;
        assert_eq!(status, 401);
        let (status, mut stream) =
            Stream::open(&env, task, ("authorization", &bearer(&r_token))).await;
        assert_eq!(
            status, 200,
            "a reviewer of the project reviews this task (no reviewers named)"
        );
        assert_eq!(
            stream.next(Duration::from_secs(2)).await.as_deref(),
            Some("ready")
        );

        // A browser's EventSource sends no token: the session cookie is taken here too.
        let cookie = session_cookie(&env, ADMIN, "/api/v1/events").await;
        let pair = cookie.split(';').next().unwrap().to_owned();
        let (status, mut stream) = Stream::open(&env, task, ("cookie", &pair)).await;
        assert_eq!(status, 200);
        assert_eq!(
            stream.next(Duration::from_secs(2)).await.as_deref(),
            Some("ready")
        );
        // The cookie opens nothing else.
        let other = reqwest::Client::new()
            .get(format!("{}/api/v1/tasks/{task}", env.server.url))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap();
        assert_eq!(other.status().as_u16(), 401);
        env
    })
    .await;
}
