//! Typed client for the server's HTTP API (docs/api.md): one function per call, each returning
//! `Result<T, Error>` so pages show the server's own error message instead of guessing.

use gloo_net::http::{Request, RequestBuilder};
use quorum_core::ids::{ItemId, LeaseId, TaskId};
use quorum_core::label::{LabelSchema, LabelValue};
use quorum_core::sync::{Op, OpResult};
use quorum_core::time::Millis;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

const BASE: &str = "/api/v1";

/// Why a call failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The server could not be reached; the caller may retry later (offline, server down).
    Network(String),
    /// The server answered with its error shape (`{"error":{"code","message"}}`).
    Api {
        /// HTTP status.
        status: u16,
        /// Stable code.
        code: String,
        /// For people.
        message: String,
    },
    /// The answer was not what docs/api.md promises.
    Decode(String),
}

impl Error {
    /// Whether retrying later might help (network trouble or a server-side failure).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Network(_) => true,
            Error::Api { status, .. } => *status >= 500,
            Error::Decode(_) => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Network(m) => write!(f, "cannot reach the server: {m}"),
            Error::Api {
                status,
                code,
                message,
            } => write!(f, "{message} ({code}, HTTP {status})"),
            Error::Decode(m) => write!(f, "unexpected answer from the server: {m}"),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(Deserialize)]
struct ErrorInner {
    code: String,
    message: String,
}

/// `GET /me`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Me {
    /// User id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Server-wide admin.
    #[serde(default)]
    pub is_admin: bool,
    /// Projects and the caller's roles in each.
    #[serde(default)]
    pub projects: Vec<ProjectRoles>,
}

/// One project of `GET /me`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ProjectRoles {
    /// Project id.
    pub id: i64,
    /// Project name.
    pub name: String,
    /// `manager`, `annotator`, `reviewer`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The caller's share of a task (`my_progress` in `GET /me/tasks`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MyProgress {
    /// Labels submitted.
    #[serde(default)]
    pub done: u64,
    /// Seats currently leased.
    #[serde(default)]
    pub leased: u64,
    /// Seats still open to the caller.
    #[serde(default)]
    pub available: u64,
}

/// A task as the app needs it (the server sends more; unknown fields are ignored).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Id.
    pub id: TaskId,
    /// Name.
    pub name: String,
    /// Concepts and annotation type.
    pub schema: LabelSchema,
    /// `open`, `in_progress`, `completed`, `archived`.
    #[serde(default)]
    pub status: String,
    /// `labeling`, `review`, …
    #[serde(default)]
    pub kind: Option<String>,
    /// Progress counts (manager views).
    #[serde(default)]
    pub counts: Option<TaskCounts>,
    /// Present in `GET /me/tasks`.
    #[serde(default)]
    pub my_progress: Option<MyProgress>,
    /// The project (to know the caller's roles on it).
    #[serde(default)]
    pub project_id: Option<i64>,
}

/// Counts on a task (`counts` of `Task`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskCounts {
    /// Items in the task.
    #[serde(default)]
    pub items: u64,
    /// Items with enough labels.
    #[serde(default)]
    pub labeled: u64,
    /// Approved results.
    #[serde(default)]
    pub approved: u64,
    /// Results waiting for a reviewer.
    #[serde(default)]
    pub needs_review: u64,
}

/// A page of `GET /tasks`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TaskPage {
    /// The tasks.
    pub tasks: Vec<Task>,
    /// Where the next page starts.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Filters and order of `GET /tasks`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskQuery {
    /// `open`, `in_progress`, `completed`, `archived` or empty for all.
    pub status: String,
    /// Task kind or empty for all.
    pub kind: String,
    /// `created`, `last_submitted`, `priority`.
    pub sort: String,
    /// `asc` or `desc`.
    pub order: String,
    /// Page start.
    pub cursor: Option<String>,
    /// Page size.
    pub limit: u32,
}

impl TaskQuery {
    /// The query string, leaving out empty filters.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("status", &self.status),
            ("kind", &self.kind),
            ("sort", &self.sort),
            ("order", &self.order),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", js_sys::encode_uri_component(v)));
            }
        }
        if let Some(c) = &self.cursor {
            parts.push(format!("cursor={}", js_sys::encode_uri_component(c)));
        }
        parts.push(format!("limit={}", self.limit.max(1)));
        parts.join("&")
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TaskList {
    Wrapped { tasks: Vec<Task> },
    Bare(Vec<Task>),
}

/// A reviewer's note on reworked item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rework {
    /// Why it came back.
    #[serde(default)]
    pub comment: Option<String>,
    /// Who sent it back.
    #[serde(default)]
    pub reviewer: Option<serde_json::Value>,
}

/// One leased item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    /// Item id.
    pub item_id: ItemId,
    /// Text or an image URL.
    pub data: serde_json::Value,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: serde_json::Value,
    /// Set when a reviewer sent the item back.
    #[serde(default)]
    pub rework: Option<Rework>,
}

/// `POST /tasks/{id}/batches`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// The lease (fencing token for submissions).
    pub lease_id: LeaseId,
    /// When the seats go back to the queue.
    pub expires_at: Millis,
    /// Empty means no work now.
    pub items: Vec<BatchItem>,
}

/// One annotator's label in the review queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReviewLabel {
    /// The annotation.
    #[serde(default)]
    pub annotation_id: Option<i64>,
    /// Who labeled.
    pub worker_id: i64,
    /// Their name.
    #[serde(default)]
    pub worker_name: String,
    /// The label.
    pub value: LabelValue,
    /// Submitted after the lease ended.
    #[serde(default)]
    pub late: bool,
}

/// The aggregated answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Consensus {
    /// The value, if any.
    #[serde(default)]
    pub value: Option<LabelValue>,
    /// 0..1.
    #[serde(default)]
    pub confidence: Option<f64>,
}

/// One item waiting for review.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ReviewItem {
    /// Item id.
    pub item_id: ItemId,
    /// Text or image URL.
    pub data: serde_json::Value,
    /// Every annotator's label.
    #[serde(default)]
    pub labels: Vec<ReviewLabel>,
    /// Agreement score 0..1.
    #[serde(default)]
    pub agreement: Option<f64>,
    /// The consensus.
    #[serde(default)]
    pub consensus: Option<Consensus>,
}

#[derive(Deserialize)]
struct ReviewQueue {
    items: Vec<ReviewItem>,
}

#[derive(Serialize)]
struct SyncRequest<'a> {
    ops: &'a [Op],
}

#[derive(Deserialize)]
struct SyncResponse {
    results: Vec<OpResult>,
}

/// A client bound to one bearer token.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    token: String,
}

impl Client {
    /// A client that sends `token` with every call.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
        }
    }

    fn auth(&self, b: RequestBuilder) -> RequestBuilder {
        b.header("Authorization", &format!("Bearer {}", self.token))
    }

    async fn send<T: DeserializeOwned>(&self, req: Request) -> Result<T, Error> {
        let resp = req
            .send()
            .await
            .map_err(|e| Error::Network(e.to_string()))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| Error::Network(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(match serde_json::from_str::<ErrorBody>(&text) {
                Ok(b) => Error::Api {
                    status,
                    code: b.error.code,
                    message: b.error.message,
                },
                // A proxy or a server without the route answers without the error shape.
                Err(_) => Error::Api {
                    status,
                    code: "http_error".into(),
                    message: text.chars().take(200).collect(),
                },
            });
        }
        serde_json::from_str(&text).map_err(|e| Error::Decode(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let req = self
            .auth(Request::get(&format!("{BASE}{path}")))
            .build()
            .map_err(|e| Error::Network(e.to_string()))?;
        self.send(req).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let req = self
            .auth(Request::post(&format!("{BASE}{path}")))
            .json(body)
            .map_err(|e| Error::Decode(e.to_string()))?;
        self.send(req).await
    }

    /// Who the token belongs to.
    pub async fn me(&self) -> Result<Me, Error> {
        self.get("/me").await
    }

    /// Tasks the caller annotates or reviews, with their own progress.
    pub async fn my_tasks(&self) -> Result<Vec<Task>, Error> {
        Ok(match self.get::<TaskList>("/me/tasks").await? {
            TaskList::Wrapped { tasks } | TaskList::Bare(tasks) => tasks,
        })
    }

    /// All tasks the caller manages, filtered, sorted and paged.
    pub async fn tasks(&self, q: &TaskQuery) -> Result<TaskPage, Error> {
        self.get(&format!("/tasks?{}", q.to_query())).await
    }

    /// One task.
    pub async fn task(&self, id: TaskId) -> Result<Task, Error> {
        self.get(&format!("/tasks/{}", id.0)).await
    }

    /// Leases a batch of items; an empty batch means no work now.
    pub async fn pull_batch(&self, task: TaskId, size: Option<u32>) -> Result<Batch, Error> {
        self.post(
            &format!("/tasks/{}/batches", task.0),
            &serde_json::json!({ "size": size }),
        )
        .await
    }

    /// Items of a task waiting for review.
    pub async fn review_queue(
        &self,
        task: TaskId,
        disagreements_only: bool,
    ) -> Result<Vec<ReviewItem>, Error> {
        let q: ReviewQueue = self
            .get(&format!(
                "/tasks/{}/review-queue?disagreements_only={disagreements_only}",
                task.0
            ))
            .await?;
        Ok(q.items)
    }

    /// Posts ops in order; the server answers each one.
    pub async fn sync(&self, ops: &[Op]) -> Result<Vec<OpResult>, Error> {
        let r: SyncResponse = self.post("/sync", &SyncRequest { ops }).await?;
        Ok(r.results)
    }
}
