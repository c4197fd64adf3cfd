//! Typed client for the server's HTTP API (docs/api.md): one function per call, each returning
//! `Result<T, Error>` so pages show the server's own error message instead of guessing.

use crate::stored_op::StoredOp;
use gloo_net::http::{Request, RequestBuilder};
use quorum_core::ids::{ItemId, LeaseId, TaskId};
use quorum_core::label::{LabelSchema, LabelValue};
use quorum_core::sync::OpResult;
use quorum_core::task::TaskSpec;
use quorum_core::time::Millis;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
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
        /// Structured extras (`[{field, message}]` for a refused task spec), or null.
        details: serde_json::Value,
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
                ..
            } => f.write_str(&crate::words::server_says(*status, code, message)),
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
    #[serde(default)]
    details: serde_json::Value,
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
    /// `available` is a floor: a big task's open items are counted only that far.
    #[serde(default)]
    pub available_at_least: bool,
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
    /// Present in `GET /me/tasks`: `{"qualified", "qualifications": [{"task_id", "name",
    /// "standing", "answered", "correct", "pass_mark", "min_answers"}]}`, read by hand; not kept
    /// offline (the server decides at each lease anyway).
    #[serde(default, skip_serializing)]
    pub my_qualification: Option<Value>,
    /// Present in `GET /me/tasks` for multi-step workflows: `[{"step","name","kind","waiting"}]`,
    /// each step the caller decides in with the items waiting there; read by hand (no derive
    /// for it in the bundle), not kept offline.
    #[serde(default, skip_serializing)]
    pub my_review: Option<Value>,
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

/// `GET /me/tasks`. A plain struct: an untagged enum would buffer every task through serde's
/// `Content`, a second deserializer for `Task` and all inside it (kilobytes of wasm).
#[derive(Deserialize)]
struct TaskList {
    tasks: Vec<Task>,
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
    /// The annotator's own answer that was sent back, to start the rework from.
    #[serde(default)]
    pub previous: Option<quorum_core::label::LabelValue>,
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
    /// In a multi-step workflow: the step the item waits in (its index and name).
    #[serde(default)]
    pub step: Option<i64>,
    /// The step's name ("review", "QA" …).
    #[serde(default)]
    pub step_name: Option<String>,
}

#[derive(Deserialize)]
struct ReviewQueue {
    items: Vec<ReviewItem>,
}

#[derive(Serialize)]
struct SyncRequest<'a> {
    ops: &'a [StoredOp],
}

#[derive(Deserialize)]
struct SyncResponse {
    results: Vec<OpResult>,
}

fn decode<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Decode(e.to_string()))
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

    /// Sends a request and answers the body text of a 2xx, else the server's error. Not
    /// generic, so the networking code exists once in the wasm however many calls there are.
    /// A text body is JSON; any other (a file, a form) says its own content type.
    async fn send_raw(
        &self,
        method: &'static str,
        path: &str,
        body: Option<wasm_bindgen::JsValue>,
    ) -> Result<String, Error> {
        let url = format!("{BASE}{path}");
        let b = self.auth(match method {
            "GET" => Request::get(&url),
            "DELETE" => Request::delete(&url),
            _ => Request::post(&url),
        });
        let req = match body {
            Some(body) if body.is_string() => {
                b.header("Content-Type", "application/json").body(body)
            }
            Some(body) => b.body(body),
            None => b.build(),
        }
        .map_err(|e| Error::Network(e.to_string()))?;
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
                    details: b.error.details,
                },
                // A proxy or a server without the route answers without the error shape (and
                // an upload whose every row failed answers its summary).
                Err(_) => Error::Api {
                    status,
                    code: "http_error".into(),
                    message: text.chars().take(200).collect(),
                    details: serde_json::from_str(&text).unwrap_or_default(),
                },
            });
        }
        Ok(text)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        decode(&self.send_raw("GET", path, None).await?)
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, Error> {
        let body = serde_json::to_string(body).map_err(|e| Error::Decode(e.to_string()))?;
        decode(&self.send_raw("POST", path, Some(body.into())).await?)
    }

    /// Sets (or with `false` clears) the cookie that lets this browser load media files.
    pub async fn media_session(&self, open: bool) -> Result<(), Error> {
        let method = if open { "POST" } else { "DELETE" };
        self.send_raw(method, "/media/session", None)
            .await
            .map(|_| ())
    }

    /// Who the token belongs to.
    pub async fn me(&self) -> Result<Me, Error> {
        self.get("/me").await
    }

    /// Tasks the caller annotates or reviews, with their own progress.
    pub async fn my_tasks(&self) -> Result<Vec<Task>, Error> {
        Ok(self.get::<TaskList>("/me/tasks").await?.tasks)
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
    pub async fn sync(&self, ops: &[StoredOp]) -> Result<Vec<OpResult>, Error> {
        let r: SyncResponse = self.post("/sync", &SyncRequest { ops }).await?;
        Ok(r.results)
    }
}

/// A task with the manager's full definition, kept as JSON: the pages read the few parts
/// they show, which costs far less wasm than decoding every `TaskSpec` type.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDetail {
    /// What lists show.
    pub task: Task,
    /// The whole answer (every `TaskSpec` field plus the server's).
    pub raw: serde_json::Value,
}

// The manager screens' types are read from `serde_json::Value` by hand: a derived
// `Deserialize` per type (and per `Vec` of it) costs a few KB of wasm each, the app links the
// `Value` parser anyway, and missing fields simply read as empty.

fn int(v: &Value, key: &str) -> i64 {
    v[key].as_i64().unwrap_or(0)
}

fn count(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn opt_text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_string)
}

/// The objects of the list under `key`, each made by `make`.
fn list<T>(v: &Value, key: &str, make: fn(&Value) -> T) -> Vec<T> {
    v[key]
        .as_array()
        .map(|a| a.iter().map(make).collect())
        .unwrap_or_default()
}

/// Per-annotator numbers of `GET /tasks/{id}/progress`.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotatorStats {
    /// User id.
    pub worker_id: i64,
    /// Name.
    pub name: Option<String>,
    /// Active annotations.
    pub annotations: u64,
    /// Labels per hour (absent under a minute of work).
    pub per_hour: Option<f64>,
    /// Share right on gold items.
    pub gold_accuracy: Option<f64>,
    /// Share agreeing with the current results.
    pub agreement: Option<f64>,
}

/// `GET /tasks/{id}/progress`.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Items in the task.
    pub items: u64,
    /// Items with at least one label.
    pub labeled: u64,
    /// Approved results.
    pub approved: u64,
    /// Results waiting for a reviewer.
    pub needs_review: u64,
    /// Per annotator.
    pub per_annotator: Vec<AnnotatorStats>,
    /// `(worker_id, name)` of every assignee (all the project's annotators when the task names
    /// none), labels or not.
    pub assignees: Vec<(i64, String)>,
}

impl Progress {
    fn from_json(v: &Value) -> Self {
        Self {
            items: count(v, "items"),
            labeled: count(v, "labeled"),
            approved: count(v, "approved"),
            needs_review: count(v, "needs_review"),
            per_annotator: list(v, "per_annotator", |a| AnnotatorStats {
                worker_id: int(a, "worker_id"),
                name: opt_text(a, "name"),
                annotations: count(a, "annotations"),
                per_hour: a["per_hour"].as_f64(),
                gold_accuracy: a["gold_accuracy"].as_f64(),
                agreement: a["agreement"].as_f64(),
            }),
            assignees: list(v, "per_assignee", |a| {
                (int(a, "worker_id"), text(a, "name"))
            }),
        }
    }
}

/// A project member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// User id.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Roles in the project.
    pub roles: Vec<String>,
}

/// A dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Items in it.
    pub items: u64,
}

/// A live lease (`GET /projects/{id}/reservations`).
#[derive(Debug, Clone, PartialEq)]
pub struct Reservation {
    /// Lease id.
    pub lease_id: i64,
    /// Task.
    pub task_id: i64,
    /// Its name.
    pub task_name: String,
    /// Holder.
    pub worker_id: i64,
    /// Holder's name.
    pub name: Option<String>,
    /// Issued.
    pub issued_at: Millis,
    /// Ends.
    pub expires_at: Millis,
    /// Seats held.
    pub items: u64,
}

/// One upload of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// Id.
    pub id: i64,
    /// Dataset.
    pub dataset_id: i64,
    /// Who uploaded.
    pub user: Option<String>,
    /// `json`, `ndjson`, `csv`.
    pub format: String,
    /// When.
    pub created_at: Millis,
    /// Counts.
    pub inserted: u64,
    /// Counts.
    pub updated: u64,
    /// Counts.
    pub unchanged: u64,
    /// Counts.
    pub failed: u64,
    /// `[{row, message}]`.
    pub errors: Value,
}

/// A long operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Id.
    pub id: i64,
    /// What it is, for people ("Export of “…” as CSV").
    pub title: String,
    /// The name its result downloads under.
    pub file_name: String,
    /// `in_progress`, `complete`, `canceling`, `canceled`, `failed`.
    pub status: String,
    /// 0–1.
    pub progress: f64,
    /// `[{message, …}]`.
    pub errors: Value,
    /// A result can be downloaded.
    pub has_result: bool,
    /// Started.
    pub created_at: Millis,
}

impl Job {
    fn from_json(v: &Value) -> Self {
        Self {
            id: int(v, "id"),
            title: text(v, "title"),
            file_name: text(v, "file_name"),
            status: text(v, "status"),
            progress: v["progress"].as_f64().unwrap_or(0.0),
            errors: v["errors"].clone(),
            has_result: v["has_result"].as_bool().unwrap_or(false),
            created_at: Millis(int(v, "created_at")),
        }
    }
}

/// One archive of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Archive {
    /// Id.
    pub id: i64,
    /// When.
    pub created_at: Millis,
    /// Who (none for the automatic sweep).
    pub created_by: Option<String>,
    /// The names of the tasks in it.
    pub task_names: Vec<String>,
    /// Whether its file is written (it is, moments after archiving even a big task).
    pub ready: bool,
}

impl Client {
    /// A POST without a body.
    async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        decode(&self.send_raw("POST", path, None).await?)
    }

    /// Creates a task; a 422 carries `[{field, message}]` in its details.
    pub async fn create_task(&self, project: i64, spec: &TaskSpec) -> Result<Task, Error> {
        self.post(&format!("/projects/{project}/tasks"), spec).await
    }

    /// One task with its spec.
    pub async fn task_detail(&self, id: TaskId) -> Result<TaskDetail, Error> {
        let text = self
            .send_raw("GET", &format!("/tasks/{}", id.0), None)
            .await?;
        Ok(TaskDetail {
            task: decode(&text)?,
            raw: decode(&text)?,
        })
    }

    /// Progress and per-annotator numbers.
    pub async fn progress(&self, id: TaskId) -> Result<Progress, Error> {
        let v: Value = self.get(&format!("/tasks/{}/progress", id.0)).await?;
        Ok(Progress::from_json(&v))
    }

    /// The items of a task (from its results).
    pub async fn task_items(&self, id: TaskId) -> Result<Vec<i64>, Error> {
        let v: Value = self.get(&format!("/tasks/{}/results", id.0)).await?;
        Ok(list(&v, "results", |r| int(r, "item_id")))
    }

    /// Moves a task to another status.
    pub async fn set_status(&self, id: TaskId, status: &str) -> Result<Task, Error> {
        self.post(
            &format!("/tasks/{}/status", id.0),
            &serde_json::json!({ "status": status }),
        )
        .await
    }

    /// Gives items of a task a new priority; answers how many changed.
    pub async fn set_priority(
        &self,
        id: TaskId,
        items: &[i64],
        priority: i32,
    ) -> Result<u64, Error> {
        let v: serde_json::Value = self
            .post(
                &format!("/tasks/{}/items/priority", id.0),
                &serde_json::json!({ "item_ids": items, "priority": priority }),
            )
            .await?;
        Ok(v.get("updated").and_then(|n| n.as_u64()).unwrap_or(0))
    }

    /// Members of a project.
    pub async fn members(&self, project: i64) -> Result<Vec<Member>, Error> {
        let v: Value = self.get(&format!("/projects/{project}/members")).await?;
        Ok(list(&v, "members", |m| Member {
            user_id: int(m, "user_id"),
            name: text(m, "name"),
            roles: list(m, "roles", |r| r.as_str().unwrap_or_default().to_string()),
        }))
    }

    /// Datasets of a project.
    pub async fn datasets(&self, project: i64) -> Result<Vec<Dataset>, Error> {
        let v: Value = self.get(&format!("/projects/{project}/datasets")).await?;
        Ok(list(&v, "datasets", |d| Dataset {
            id: int(d, "id"),
            name: text(d, "name"),
            items: count(d, "items"),
        }))
    }

    /// Whether any item of the project lies in `directory` (or below it).
    pub async fn any_item_in(&self, project: i64, directory: &str) -> Result<bool, Error> {
        let v: Value = self
            .get(&format!(
                "/projects/{project}/items?limit=1&directory={}",
                js_sys::encode_uri_component(directory)
            ))
            .await?;
        Ok(v["items"].as_array().is_some_and(|a| !a.is_empty()))
    }

    /// Live leases of a project.
    pub async fn reservations(&self, project: i64) -> Result<Vec<Reservation>, Error> {
        let v: Value = self
            .get(&format!("/projects/{project}/reservations"))
            .await?;
        Ok(list(&v, "reservations", |r| Reservation {
            lease_id: int(r, "lease_id"),
            task_id: int(r, "task_id"),
            task_name: text(r, "task_name"),
            worker_id: int(r, "worker_id"),
            name: opt_text(r, "name"),
            issued_at: Millis(int(r, "issued_at")),
            expires_at: Millis(int(r, "expires_at")),
            items: count(r, "items"),
        }))
    }

    /// Releases one lease.
    pub async fn release_lease(&self, lease: i64) -> Result<serde_json::Value, Error> {
        self.post_empty(&format!("/leases/{lease}/release")).await
    }

    /// Releases every live lease of a user.
    pub async fn release_user(&self, user: i64) -> Result<serde_json::Value, Error> {
        self.post_empty(&format!("/users/{user}/leases/release"))
            .await
    }

    /// Upload history of a project.
    pub async fn uploads(&self, project: i64) -> Result<Vec<Upload>, Error> {
        let v: Value = self.get(&format!("/projects/{project}/uploads")).await?;
        Ok(list(&v, "uploads", |u| Upload {
            id: int(u, "id"),
            dataset_id: int(u, "dataset_id"),
            user: opt_text(u, "user"),
            format: text(u, "format"),
            created_at: Millis(int(u, "created_at")),
            inserted: count(u, "inserted"),
            updated: count(u, "updated"),
            unchanged: count(u, "unchanged"),
            failed: count(u, "failed"),
            errors: u["errors"].clone(),
        }))
    }

    /// Jobs of the projects the caller manages, newest first.
    pub async fn jobs(&self, status: &str) -> Result<Vec<Job>, Error> {
        let q = if status.is_empty() {
            String::new()
        } else {
            format!("?status={}", js_sys::encode_uri_component(status))
        };
        let v: Value = self.get(&format!("/jobs{q}")).await?;
        Ok(list(&v, "jobs", Job::from_json))
    }

    /// One job (its progress while it runs).
    pub async fn job(&self, id: i64) -> Result<Job, Error> {
        let v: Value = self.get(&format!("/jobs/{id}")).await?;
        Ok(Job::from_json(&v))
    }

    /// Uploads one data file into a dataset (`format`: csv, json, ndjson, label_studio), or with
    /// `format` "files" every chosen file as media. Answers the upload's summary (`inserted`,
    /// `failed`, `errors` by row…), also when every row failed, or `job_id` for a big file.
    pub async fn upload(
        &self,
        dataset: i64,
        format: &str,
        files: &web_sys::FileList,
    ) -> Result<Value, Error> {
        let (path, body) = if format == "files" {
            let form = web_sys::FormData::new().map_err(|e| Error::Network(format!("{e:?}")))?;
            for f in (0..files.length()).filter_map(|i| files.get(i)) {
                let _ = form.append_with_blob_and_filename("file", &f, &f.name());
            }
            (format!("/datasets/{dataset}/media"), form.into())
        } else {
            let file = files.get(0).ok_or(Error::Decode("no file".into()))?;
            (
                format!("/datasets/{dataset}/items?format={format}"),
                file.into(),
            )
        };
        match self.send_raw("POST", &path, Some(body)).await {
            Ok(text) => decode(&text),
            Err(Error::Api {
                status: 422,
                details,
                ..
            }) if details.get("errors").is_some() => Ok(details),
            Err(e) => Err(e),
        }
    }

    /// Asks a job to stop.
    pub async fn cancel_job(&self, id: i64) -> Result<Job, Error> {
        let v: Value = self.post_empty(&format!("/jobs/{id}/cancel")).await?;
        Ok(Job::from_json(&v))
    }

    /// Starts an export job; answers its id.
    pub async fn export(&self, task: TaskId, format: &str) -> Result<i64, Error> {
        let v: serde_json::Value = self
            .post(
                &format!("/tasks/{}/exports", task.0),
                &serde_json::json!({ "format": format }),
            )
            .await?;
        v.get("job_id")
            .and_then(|j| j.as_i64())
            .ok_or_else(|| Error::Decode("no job_id in the answer".into()))
    }

    /// Archive history of a project.
    pub async fn archives(&self, project: i64) -> Result<Vec<Archive>, Error> {
        let v: Value = self.get(&format!("/projects/{project}/archives")).await?;
        Ok(list(&v, "archives", |a| Archive {
            id: int(a, "id"),
            created_at: Millis(int(a, "created_at")),
            created_by: opt_text(a, "created_by"),
            task_names: a["task_names"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            ready: a["ready"].as_bool().unwrap_or(true),
        }))
    }

    /// Archives tasks.
    pub async fn archive_tasks(&self, ids: &[i64]) -> Result<serde_json::Value, Error> {
        self.post("/tasks/archive", &serde_json::json!({ "ids": ids }))
            .await
    }

    /// An item with every answer on it (`GET /items/{id}`), as the server sent it.
    pub async fn item(&self, id: i64) -> Result<Value, Error> {
        self.get(&format!("/items/{id}")).await
    }

    /// Two sides' answers on a task's items (`GET /tasks/{id}/compare`; a side is
    /// `worker:ID` or `model:NAME`), as the server sent them.
    pub async fn compare(&self, task: TaskId, a: &str, b: &str) -> Result<Value, Error> {
        let (a, b) = (
            js_sys::encode_uri_component(a),
            js_sys::encode_uri_component(b),
        );
        self.get(&format!("/tasks/{}/compare?a={a}&b={b}", task.0))
            .await
    }
}

/// The field errors of a refused task spec (a 422's `details`), if that is what `e` is.
pub fn field_errors(e: &Error) -> Vec<quorum_core::task::FieldError> {
    match e {
        Error::Api { details, .. } => {
            serde_json::from_str(&details.to_string()).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}
