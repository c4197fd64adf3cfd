//! Load generation against a running Quorum over HTTP: set up a task, run simulated annotators
//! (lease a batch → submit each item through `/api/v1/sync` → lease again), and record what the
//! server acknowledged. Shared by `quorum bench load` and the crash-safety tests.

use crate::store::jobs::JobStatus;
use anyhow::{bail, Context};
use quorum_core::ids::{ItemId, LeaseId, TaskId};
use quorum_core::label::LabelValue;
use quorum_core::sync::{Action, Op, OpResult, Outcome};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The concepts of the benchmark task; annotators pick one from the item id so runs repeat.
pub const CONCEPTS: [&str; 4] = ["cat", "dog", "bird", "fish"];

/// A thin JSON client for one user.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// A client for `base` (`http://host:port`) acting with `token`.
    pub fn new(http: reqwest::Client, base: &str, token: &str) -> Self {
        Api {
            http,
            base: format!("{}/api/v1", base.trim_end_matches('/')),
            token: token.to_owned(),
        }
    }

    /// The same client with another user's token.
    pub fn with_token(&self, token: &str) -> Self {
        Api {
            token: token.to_owned(),
            ..self.clone()
        }
    }

    /// Sends `body` (JSON, or raw bytes with a content type) and returns the JSON answer, failing
    /// on any non-2xx status with the server's error.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        request = match body {
            Body::None => request,
            Body::Json(v) => request.json(&v),
            Body::Raw(content_type, bytes) => request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
        };
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Body::Json(body))
            .await
    }
}

/// A request body.
pub enum Body {
    /// No body.
    None,
    /// A JSON value.
    Json(Value),
    /// Bytes with their content type.
    Raw(&'static str, Vec<u8>),
}

/// What [`setup`] made.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The benchmark task.
    pub task_id: TaskId,
    /// `(user id, token)` of each simulated annotator.
    pub annotators: Vec<(i64, String)>,
}

/// How [`setup`] shapes the task.
#[derive(Debug, Clone)]
pub struct TaskShape {
    /// Items in the task.
    pub items: usize,
    /// Simulated annotators.
    pub annotators: usize,
    /// Distinct workers per item.
    pub overlap: u32,
    /// Items per leased batch.
    pub batch_size: u32,
    /// Lease length.
    pub lease_seconds: u32,
}

fn id_of(v: &Value, what: &str) -> anyhow::Result<i64> {
    v.get("id")
        .or_else(|| v.get(what).and_then(|o| o.get("id")))
        .and_then(Value::as_i64)
        .with_context(|| format!("no {what} id in {v}"))
}

/// Creates a project, a dataset of `shape.items` text items, the annotators and a pull task with
/// overlap `shape.overlap`, as the admin of `api`.
pub async fn setup(api: &Api, shape: &TaskShape, label: &str) -> anyhow::Result<Setup> {
    let project = api
        .post("/projects", json!({ "name": format!("bench {label}") }))
        .await?;
    let project_id = id_of(&project, "project")?;
    let dataset = api
        .post(
            &format!("/projects/{project_id}/datasets"),
            json!({ "name": "bench items" }),
        )
        .await?;
    let dataset_id = id_of(&dataset, "dataset")?;
    // NDJSON in chunks keeps each request well under the body limit.
    for chunk_start in (0..shape.items).step_by(20_000) {
        let end = (chunk_start + 20_000).min(shape.items);
        let body: String = (chunk_start..end)
            .map(|i| format!("{{\"external_id\":\"b{i}\",\"data\":\"bench item {i}\"}}\n"))
            .collect();
        upload_ndjson(api, dataset_id, body).await?;
    }
    let mut annotators = Vec::with_capacity(shape.annotators);
    for n in 0..shape.annotators {
        let created = api
            .post("/users", json!({ "name": format!("bench-{label}-{n}") }))
            .await?;
        let user_id = id_of(&created, "user")?;
        let token = created["token"]
            .as_str()
            .context("no token for the new user")?
            .to_owned();
        api.send(
            reqwest::Method::PUT,
            &format!("/projects/{project_id}/members/{user_id}"),
            Body::Json(json!({ "roles": ["annotator"] })),
        )
        .await?;
        annotators.push((user_id, token));
    }
    let task = api
        .post(
            &format!("/projects/{project_id}/tasks"),
            json!({
                "name": format!("bench {label}"),
                "schema": { "annotation_type": "classification", "concepts": CONCEPTS },
                "input": { "type": "dataset", "dataset_id": dataset_id },
                "worker_strategy": {
                    "type": "pull",
                    "batch_size": shape.batch_size,
                    "workers_per_input": shape.overlap,
                },
                "assignees": annotators.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                "lease_seconds": shape.lease_seconds,
                "seed": 42,
            }),
        )
        .await?;
    Ok(Setup {
        task_id: TaskId(id_of(&task, "task")?),
        annotators,
    })
}

/// Uploads NDJSON item lines to the dataset and waits for the upload's job, if it became one.
pub async fn upload_ndjson(api: &Api, dataset_id: i64, body: String) -> anyhow::Result<()> {
    let answer = api
        .send(
            reqwest::Method::POST,
            &format!("/datasets/{dataset_id}/items"),
            Body::Raw("application/x-ndjson", body.into_bytes()),
        )
        .await?;
    wait_for_job(api, &answer).await
}

/// Waits for the job an answer names, if any (large uploads and exports run as jobs), so what
/// comes next sees all of its work.
pub async fn wait_for_job(api: &Api, answer: &Value) -> anyhow::Result<()> {
    let Some(job_id) = answer.get("job_id").and_then(Value::as_i64) else {
        return Ok(());
    };
    loop {
        let job = api
            .send(reqwest::Method::GET, &format!("/jobs/{job_id}"), Body::None)
            .await?;
        match job["status"].as_str().and_then(JobStatus::parse) {
            Some(JobStatus::Complete) => return Ok(()),
            Some(JobStatus::InProgress) => tokio::time::sleep(Duration::from_millis(100)).await,
            _ => bail!("job {job_id} ended: {job}"),
        }
    }
}

/// A submission the server acknowledged (`applied` or `duplicate`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Acked {
    /// The annotator.
    pub worker: i64,
    /// The item.
    pub item: ItemId,
    /// The op's id.
    pub client_op_id: String,
}

/// What one run of the simulated annotators saw.
#[derive(Debug, Default)]
pub struct RunStats {
    /// Submissions acknowledged by the server.
    pub acked: Vec<Acked>,
    /// Seconds per lease request.
    pub lease_latency: Vec<f64>,
    /// Seconds per submit request.
    pub submit_latency: Vec<f64>,
    /// Ops the server rejected, with its reason.
    pub rejected: Vec<String>,
    /// Requests that failed outright (connection refused, 5xx …).
    pub failed_requests: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// Runs every annotator until `duration` passes, `stop` is set, or the task runs out of work.
pub async fn run_annotators(
    api: &Api,
    setup: &Setup,
    duration: Duration,
    stop: Arc<AtomicBool>,
) -> RunStats {
    let started = Instant::now();
    let deadline = started + duration;
    let mut handles = Vec::new();
    for (worker, token) in &setup.annotators {
        let api = api.with_token(token);
        let (worker, task, stop) = (*worker, setup.task_id, stop.clone());
        handles.push(tokio::spawn(async move {
            annotate(api, worker, task, deadline, stop).await
        }));
    }
    let mut total = RunStats::default();
    for handle in handles {
        if let Ok(stats) = handle.await {
            total.acked.extend(stats.acked);
            total.lease_latency.extend(stats.lease_latency);
            total.submit_latency.extend(stats.submit_latency);
            total.rejected.extend(stats.rejected);
            total.failed_requests += stats.failed_requests;
        }
    }
    total.elapsed = started.elapsed();
    total
}

async fn annotate(
    api: Api,
    worker: i64,
    task: TaskId,
    deadline: Instant,
    stop: Arc<AtomicBool>,
) -> RunStats {
    let mut stats = RunStats::default();
    let mut op_seq = 0u64;
    let running = || Instant::now() < deadline && !stop.load(Ordering::Relaxed);
    while running() {
        let t0 = Instant::now();
        let batch = api
            .post(&format!("/tasks/{}/batches", task.0), json!({}))
            .await;
        let batch = match batch {
            Ok(b) => b,
            Err(_) => {
                stats.failed_requests += 1;
                // The server may be restarting (crash tests): back off briefly instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        stats.lease_latency.push(t0.elapsed().as_secs_f64());
        let lease_id = LeaseId(batch["lease_id"].as_i64().unwrap_or(0));
        let items: Vec<i64> = batch["items"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["item_id"].as_i64()).collect())
            .unwrap_or_default();
        if items.is_empty() {
            break;
        }
        for item in items {
            if !running() {
                break;
            }
            op_seq += 1;
            let op = Op {
                client_op_id: format!("w{worker}-{op_seq}"),
                created_at: None,
                action: Action::Submit {
                    task_id: task,
                    item_id: ItemId(item),
                    lease_id,
                    value: LabelValue::Classification {
                        concept: CONCEPTS[(item as usize) % CONCEPTS.len()].to_owned(),
                    },
                    duration_ms: None,
                },
            };
            let t0 = Instant::now();
            let answer = api.post("/sync", json!({ "ops": [&op] })).await;
            let elapsed = t0.elapsed().as_secs_f64();
            let results: Option<Vec<OpResult>> = answer
                .ok()
                .and_then(|a| serde_json::from_value(a["results"].clone()).ok());
            match results.as_deref() {
                Some([result]) => {
                    stats.submit_latency.push(elapsed);
                    match &result.outcome {
                        Outcome::Applied { .. } | Outcome::Duplicate => stats.acked.push(Acked {
                            worker,
                            item: ItemId(item),
                            client_op_id: op.client_op_id.clone(),
                        }),
                        Outcome::Rejected { code, .. } => stats.rejected.push(code.clone()),
                    }
                }
                _ => stats.failed_requests += 1,
            }
        }
    }
    stats
}

/// The `q`-quantile (0–1) of `samples` in milliseconds (nearest rank), 0 when empty.
pub fn percentile_ms(samples: &mut [f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1] * 1000.0
}

#[cfg(test)]
mod tests {
    use super::percentile_ms;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut s: Vec<f64> = (1..=100).map(|v| v as f64 / 1000.0).collect();
        assert_eq!(percentile_ms(&mut s, 0.5), 50.0);
        assert_eq!(percentile_ms(&mut s, 0.99), 99.0);
        assert_eq!(percentile_ms(&mut s, 1.0), 100.0);
        assert_eq!(percentile_ms(&mut [], 0.5), 0.0);
    }
}
