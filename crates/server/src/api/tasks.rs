//! Tasks: create (every strategy), read, list with filters, sort and a cursor, replace and
//! patch, status moves, delete, and the task's items (add, remove, reassign, priority); and a
//! task's labels as the core's answer table, which gold scores and qualification gates read.

use super::auth::{require_manager, roles, Caller, Role};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, Query};
use super::projects::ensure_project;
use super::AppState;
use crate::clock;
use crate::db::{json_col, Backend};
use crate::pg_array;
use crate::sql::{self, Columns};
use crate::store::frames;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use quorum_core::consensus::scores::{gold_records, GoldRecord};
use quorum_core::consensus::{Answers, Gold};
use quorum_core::ids::{ItemId, WorkerId};
use quorum_core::label::LabelValue;
use quorum_core::lifecycle::TaskStatus;
use quorum_core::plan;
use quorum_core::pull::{items_ahead, order_key, HoneypotHistory};
use quorum_core::qualification::{may_work, QualificationGate, Standing};
use quorum_core::task::{AnnotationStatus, InputSource, ItemFacts, ItemFilter, TaskKind, TaskSpec};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{Any, Row, Transaction};
use std::collections::{HashMap, HashSet};

/// A stored task.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: i64,
    /// The manager's definition.
    pub spec: TaskSpec,
    /// Lifecycle status.
    pub status: TaskStatus,
    /// Distinct workers per item.
    pub overlap: i64,
    created_at: i64,
    updated_at: i64,
    last_submitted_at: Option<i64>,
}

impl TaskRecord {
    fn from_row(r: &impl Columns) -> ApiResult<TaskRecord> {
        let status: String = r.column("status")?;
        Ok(TaskRecord {
            id: r.column("id")?,
            project_id: r.column("project_id")?,
            spec: serde_json::from_str(&r.column::<String>("spec")?)?,
            status: status.parse().map_err(ApiError::internal)?,
            overlap: r.column("overlap")?,
            created_at: r.column("created_at")?,
            updated_at: r.column("updated_at")?,
            last_submitted_at: r.column("last_submitted_at")?,
        })
    }

    /// Whether `worker` may label this task.
    pub fn has_assignee(&self, worker: i64) -> bool {
        self.spec.assignees.is_empty() || self.spec.assignees.contains(&WorkerId(worker))
    }

    /// Whether `worker` may review this task.
    pub fn has_reviewer(&self, worker: i64) -> bool {
        self.spec.reviewers.is_empty() || self.spec.reviewers.contains(&WorkerId(worker))
    }
}

/// Loads a task or answers 404.
pub async fn load(state: &AppState, id: i64) -> ApiResult<TaskRecord> {
    let row = sql::query("SELECT * FROM tasks WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut state.db.reader().await)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    TaskRecord::from_row(&row)
}

/// Loads a task inside a write transaction, locking it so claims on it take turns across
/// server processes (PostgreSQL); SQLite's single writer already excludes.
pub async fn load_for_update(
    state: &AppState,
    tx: &mut Transaction<'static, Any>,
    id: i64,
) -> ApiResult<TaskRecord> {
    let row = sqlx::query(&lock_sql(state))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    TaskRecord::from_row(&row)
}

/// [`load_for_update`] in a claim transaction: a manager's change of the task (adding items).
pub async fn lock(state: &AppState, tx: &mut sql::Tx, id: i64) -> ApiResult<TaskRecord> {
    let row = sql::query(lock_sql(state))
        .bind(id)
        .fetch_optional(tx)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    TaskRecord::from_row(&row)
}

/// The task as a claim transaction (leases, labels, reviews) sees it. Claims do not lock the
/// task's row: on PostgreSQL all claims on a task would then take turns, one commit each.
/// They lock the rows they change instead (item and seat rows, see `labeling`), and a
/// manager's change of the task itself still locks it ([`load_for_update`]).
pub async fn in_claim(tx: &mut sql::Tx, id: i64) -> ApiResult<TaskRecord> {
    let row = sql::query("SELECT * FROM tasks WHERE id = $1")
        .bind(id)
        .fetch_optional(tx)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    TaskRecord::from_row(&row)
}

fn lock_sql(state: &AppState) -> String {
    format!("SELECT * FROM tasks WHERE id = $1{}", state.db.for_update())
}

/// How the caller stands towards a task.
pub struct Access {
    /// The task.
    pub task: TaskRecord,
    /// Manages its project.
    pub manager: bool,
    /// May label it.
    pub annotator: bool,
    /// May review it.
    pub reviewer: bool,
}

/// Loads a task and the caller's standing; 403 when the caller has no part in it.
pub async fn access(state: &AppState, caller: &Caller, id: i64) -> ApiResult<Access> {
    let task = load(state, id).await?;
    let roles = roles(state, caller, task.project_id).await?;
    let manager = roles.contains(&Role::Manager);
    let annotator = roles.contains(&Role::Annotator) && task.has_assignee(caller.id);
    let reviewer = roles.contains(&Role::Reviewer)
        && (task.has_reviewer(caller.id) || super::workflow::works_a_step(&task, caller.id));
    if !(manager || annotator || reviewer) {
        return Err(ApiError::forbidden("you are not on this task"));
    }
    Ok(Access {
        task,
        manager,
        annotator,
        reviewer,
    })
}

/// The time of the task's last label, from its labels: a column on the task's row, written by
/// every label, made all labels on a task take turns on PostgreSQL (one row lock, one commit
/// each). `task` names the `tasks` row in the surrounding statement.
pub fn last_submitted(task: &str) -> String {
    format!("(SELECT MAX(a.created_at) FROM annotations a WHERE a.task_id = {task}.id)")
}

/// The JSON form of a task: its spec plus what the server knows.
async fn task_json(state: &AppState, t: &TaskRecord) -> ApiResult<Value> {
    let mut counts = task_counts(state, &[t.id]).await?;
    Ok(task_json_with(t, counts.remove(&t.id)))
}

/// [`task_json`] with the task's counts and last label time already read.
fn task_json_with(t: &TaskRecord, counts: Option<(Value, Option<i64>)>) -> Value {
    let (counts, last) = counts.unwrap_or_else(|| {
        (
            json!({"items": 0, "labeled": 0, "approved": 0, "needs_review": 0}),
            None,
        )
    });
    let mut v = serde_json::to_value(&t.spec).unwrap_or_else(|_| json!({}));
    v["id"] = json!(t.id);
    v["project_id"] = json!(t.project_id);
    v["status"] = json!(t.status);
    v["overlap"] = json!(t.overlap);
    v["created_at"] = json!(t.created_at);
    v["updated_at"] = json!(t.updated_at);
    v["last_submitted_at"] = json!(last.or(t.last_submitted_at));
    v["counts"] = counts;
    v
}

/// The item counts and the last label time of each task in `ids`, in two statements for a
/// whole page of tasks (one round per task made a page of 50 tasks 50 scans in turn).
async fn task_counts(
    state: &AppState,
    ids: &[i64],
) -> ApiResult<HashMap<i64, (Value, Option<i64>)>> {
    let mut out = HashMap::with_capacity(ids.len());
    for part in ids.chunks(IDS_PER_STATEMENT) {
        let list = sql::params(1, part.len());
        let rows = sql::query(format!(
            "SELECT task_id, COUNT(*) AS items, \
             COALESCE(SUM(CASE WHEN labeled > 0 THEN 1 ELSE 0 END), 0) AS labeled, \
             COALESCE(SUM(CASE WHEN state IN ('approved', 'auto_approved') THEN 1 ELSE 0 END), 0) AS approved, \
             COALESCE(SUM(CASE WHEN state = 'needs_review' THEN 1 ELSE 0 END), 0) AS needs_review \
             FROM task_items WHERE task_id IN ({list}) GROUP BY task_id"
        ))
        .bind_all(part)
        .fetch_all(&mut sql::Reader::pool(state.db.pool().clone()))
        .await?;
        for r in &rows {
            out.insert(
                r.try_get::<i64>("task_id")?,
                (
                    json!({
                        "items": r.try_get::<i64>("items")?,
                        "labeled": sum_col(r, "labeled"),
                        "approved": sum_col(r, "approved"),
                        "needs_review": sum_col(r, "needs_review"),
                    }),
                    None,
                ),
            );
        }
        // One index probe per task (the latest label), not a scan of its labels.
        let rows = sql::query(format!(
            "SELECT t.id, {} AS last FROM tasks t WHERE t.id IN ({list})",
            last_submitted("t")
        ))
        .bind_all(part)
        .fetch_all(&mut sql::Reader::pool(state.db.pool().clone()))
        .await?;
        for r in &rows {
            let empty = || {
                (
                    json!({"items": 0, "labeled": 0, "approved": 0, "needs_review": 0}),
                    None,
                )
            };
            out.entry(r.try_get::<i64>("id")?).or_insert_with(empty).1 =
                r.try_get::<Option<i64>>("last")?;
        }
    }
    Ok(out)
}

/// [`task_json`] as `caller` may see it. The seed and the honeypot rate are for managers: with
/// them (and the open rules of the core) an annotator could work out the serving order and the
/// honeypot schedule, and so which items are gold.
async fn task_view(state: &AppState, caller: &Caller, t: &TaskRecord) -> ApiResult<Value> {
    Ok(task_views(state, caller, std::slice::from_ref(t))
        .await?
        .pop()
        .unwrap_or_default())
}

/// [`task_view`] of each task, with one statement for the counts of all of them and one
/// look-up of the caller's roles per project.
async fn task_views(
    state: &AppState,
    caller: &Caller,
    tasks: &[TaskRecord],
) -> ApiResult<Vec<Value>> {
    let ids: Vec<i64> = tasks.iter().map(|t| t.id).collect();
    let mut counts = task_counts(state, &ids).await?;
    let mut manages: HashMap<i64, bool> = HashMap::new();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        let manager = match manages.get(&t.project_id) {
            Some(m) => *m,
            None => {
                let m = roles(state, caller, t.project_id)
                    .await?
                    .contains(&Role::Manager);
                manages.insert(t.project_id, m);
                m
            }
        };
        let mut v = task_json_with(t, counts.remove(&t.id));
        if !manager {
            if let Some(m) = v.as_object_mut() {
                m.remove("seed");
                m.remove("honeypot_rate");
            }
        }
        out.push(v);
    }
    Ok(out)
}

/// Reads a `SUM(...)`, which PostgreSQL types as NUMERIC-free BIGINT here and SQLite as INTEGER.
fn sum_col(r: &sql::Row, col: &str) -> i64 {
    r.try_get::<i64>(col)
        .or_else(|_| r.try_get::<f64>(col).map(|f| f as i64))
        .unwrap_or(0)
}

fn validation(errors: Vec<quorum_core::task::FieldError>) -> ApiError {
    ApiError::validation(
        errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
    )
    .with_details(json!(errors))
}

/// A task's active labels as the core's answer table — items and workers named by their ids,
/// labels by their consensus keys, so equal answers compare equal whatever their JSON spelling —
/// with the gold answers of the task's items and, per worker, their first and last label time.
pub struct TaskLabels {
    /// The answer table.
    pub answers: Answers,
    /// Gold answers of the task's items that have labels.
    pub gold: Gold,
    /// Per worker id: (first, last) label time.
    pub spans: HashMap<i64, (i64, i64)>,
}

/// Reads a task's labels (only `worker`'s when given).
pub async fn task_labels(
    state: &AppState,
    task_id: i64,
    worker: Option<i64>,
) -> ApiResult<TaskLabels> {
    let rows = sqlx::query(
        "SELECT item_id, worker_id, consensus_key, created_at FROM annotations \
         WHERE task_id = $1 AND active = 1 AND ($2 = 0 OR worker_id = $2) ORDER BY id",
    )
    .bind(task_id)
    .bind(worker.unwrap_or(0))
    .fetch_all(state.db.pool())
    .await?;
    let mut triples = Vec::with_capacity(rows.len());
    let mut spans: HashMap<i64, (i64, i64)> = HashMap::new();
    for r in &rows {
        let w: i64 = r.try_get("worker_id")?;
        let at: i64 = r.try_get("created_at")?;
        let span = spans.entry(w).or_insert((at, at));
        *span = (span.0.min(at), span.1.max(at));
        triples.push((
            r.try_get::<i64, _>("item_id")?.to_string(),
            w.to_string(),
            r.try_get::<String, _>("consensus_key")?,
        ));
    }
    let answers = Answers::from_rows(
        triples
            .iter()
            .map(|(i, w, l)| (i.as_str(), w.as_str(), l.as_str())),
    );
    let gold_rows = sqlx::query(
        "SELECT i.id, i.gold, t.spec FROM items i JOIN task_items ti ON ti.item_id = i.id \
         JOIN tasks t ON t.id = ti.task_id WHERE ti.task_id = $1 AND i.gold IS NOT NULL",
    )
    .bind(task_id)
    .fetch_all(state.db.pool())
    .await?;
    let mut pairs = Vec::with_capacity(gold_rows.len());
    let schema = match gold_rows.first() {
        Some(r) => Some(serde_json::from_str::<TaskSpec>(&r.try_get::<String, _>("spec")?)?.schema),
        None => None,
    };
    for r in &gold_rows {
        // Gold that does not fit the task's schema (a class answer on a box task) would score
        // every worker wrong; it scores nobody instead.
        let Ok(value) = serde_json::from_str::<LabelValue>(&r.try_get::<String, _>("gold")?) else {
            continue;
        };
        if schema
            .as_ref()
            .is_some_and(|s| s.validate_value(&value).is_err())
        {
            continue;
        }
        pairs.push((
            r.try_get::<i64, _>("id")?.to_string(),
            value.consensus_key(),
        ));
    }
    let gold = Gold::new(
        &answers,
        pairs.iter().map(|(i, l)| (i.as_str(), l.as_str())),
    );
    Ok(TaskLabels {
        answers,
        gold,
        spans,
    })
}

/// One qualification task a production task requires, and each worker's gold record on it.
pub struct Qualification {
    /// The qualification task's id.
    pub task_id: i64,
    /// Its name (`None` when it no longer exists).
    pub name: Option<String>,
    /// Its gate (`None` when it no longer exists or has none: nobody passes then).
    pub gate: Option<QualificationGate>,
    /// Per worker id: their answers on its gold items.
    pub records: HashMap<i64, GoldRecord>,
}

impl Qualification {
    /// A worker's record (empty when they never labeled the qualification task).
    pub fn record(&self, worker: i64) -> GoldRecord {
        self.records.get(&worker).copied().unwrap_or_default()
    }

    /// A worker's standing, decided by the core's gate.
    pub fn standing(&self, worker: i64) -> Standing {
        self.gate
            .map_or(Standing::Failed, |g| self.record(worker).standing(&g))
    }

    /// What a worker may know of their standing: counts and the gate, never which answer was
    /// wrong (invariant 5).
    pub fn report(&self, worker: i64) -> Value {
        let r = self.record(worker);
        json!({
            "task_id": self.task_id,
            "name": self.name,
            "standing": self.standing(worker),
            "answered": r.answered,
            "correct": r.correct,
            "pass_mark": self.gate.map(|g| g.pass_mark),
            "min_answers": self.gate.map(|g| g.min_answers),
        })
    }

    /// Why a worker may not work yet, for the 403 message.
    fn refusal(&self, worker: i64) -> String {
        let r = self.record(worker);
        let name = self.name.as_deref().unwrap_or("");
        match (self.gate, self.standing(worker)) {
            (None, _) => format!(
                "qualification task {} no longer exists or has no pass gate, so nobody passes it",
                self.task_id
            ),
            (Some(g), Standing::Pending) => format!(
                "qualification task {} {name:?} is not finished: {} of {} gold answers right so far, \
                 {} needed for a verdict",
                self.task_id, r.correct, r.answered, g.min_answers
            ),
            (Some(g), _) => format!(
                "qualification task {} {name:?} not passed: {} of {} gold answers right ({:.0}%), \
                 the pass mark is {:.0}%",
                self.task_id,
                r.correct,
                r.answered,
                r.accuracy().unwrap_or(0.0) * 100.0,
                g.pass_mark * 100.0
            ),
        }
    }
}

/// The qualifications `task` requires, with the gold records of `worker` (everyone when `None`).
pub async fn qualifications(
    state: &AppState,
    task: &TaskRecord,
    worker: Option<i64>,
) -> ApiResult<Vec<Qualification>> {
    let mut out = Vec::with_capacity(task.spec.qualifications.len());
    for q in &task.spec.qualifications {
        let row = sqlx::query("SELECT * FROM tasks WHERE id = $1")
            .bind(q.task_id.0)
            .fetch_optional(state.db.pool())
            .await?;
        let qt = row.as_ref().map(TaskRecord::from_row).transpose()?;
        let labels = task_labels(state, q.task_id.0, worker).await?;
        let records = gold_records(&labels.answers, &labels.gold);
        let records = (0..labels.answers.n_workers() as u32)
            .filter_map(|w| {
                let id = labels.answers.worker_name(w).parse::<i64>().ok()?;
                Some((id, records[w as usize]))
            })
            .collect();
        out.push(Qualification {
            task_id: q.task_id.0,
            name: qt.as_ref().map(|t| t.spec.name.clone()),
            gate: qt.and_then(|t| t.spec.pass_gate),
            records,
        });
    }
    Ok(out)
}

/// Refuses work on `task` to a worker who has not passed each of its qualifications
/// (403 `not_qualified`, with every gate's standing in `details`).
pub async fn require_qualified(state: &AppState, task: &TaskRecord, worker: i64) -> ApiResult<()> {
    let quals = qualifications(state, task, Some(worker)).await?;
    let standings: Vec<Standing> = quals.iter().map(|q| q.standing(worker)).collect();
    if may_work(&standings) {
        return Ok(());
    }
    let reasons: Vec<String> = quals
        .iter()
        .filter(|q| q.standing(worker) != Standing::Passed)
        .map(|q| q.refusal(worker))
        .collect();
    Err(ApiError::forbidden(format!(
        "this task needs its qualifications passed first: {}",
        reasons.join("; ")
    ))
    .with_code(ErrorCode::NotQualified)
    .with_details(json!({
        "qualifications": quals.iter().map(|q| q.report(worker)).collect::<Vec<_>>()
    })))
}

/// Checks that each required qualification is a qualification task (with a gate) of the same
/// project, and not the task itself.
async fn check_qualifications(
    state: &AppState,
    project_id: i64,
    own_id: Option<i64>,
    spec: &TaskSpec,
) -> ApiResult<()> {
    let mut errors = Vec::new();
    for q in &spec.qualifications {
        let row = sqlx::query("SELECT * FROM tasks WHERE id = $1")
            .bind(q.task_id.0)
            .fetch_optional(state.db.pool())
            .await?;
        let qt = row.as_ref().map(TaskRecord::from_row).transpose()?;
        let problem = match qt {
            _ if Some(q.task_id.0) == own_id => Some("a task cannot require itself"),
            None => Some("no such task"),
            Some(t) if t.project_id != project_id => Some("the task is in another project"),
            Some(t) if t.spec.pass_gate.is_none() => {
                Some("the task is not a qualification task with a pass gate")
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            errors.push(quorum_core::task::FieldError {
                field: "qualifications".into(),
                message: format!("task {}: {problem}", q.task_id.0),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation(errors))
    }
}

/// Checks what needs the store: people are project members with the right role.
async fn check_people(state: &AppState, project_id: i64, spec: &TaskSpec) -> ApiResult<()> {
    let mut errors = Vec::new();
    let steps = super::workflow::step_people(&spec.steps);
    for (field, people, role) in [
        ("assignees", &spec.assignees, "annotator"),
        ("reviewers", &spec.reviewers, "reviewer"),
    ]
    .into_iter()
    .chain(steps.iter().map(|(f, p)| (f.as_str(), p, "reviewer")))
    {
        for w in people {
            let roles: Option<String> = sqlx::query_scalar(
                "SELECT roles FROM members WHERE project_id = $1 AND user_id = $2",
            )
            .bind(project_id)
            .bind(w.0)
            .fetch_optional(state.db.pool())
            .await?;
            if !roles.is_some_and(|r| r.split(',').any(|x| x == role || x == "manager")) {
                errors.push(quorum_core::task::FieldError {
                    field: field.into(),
                    message: format!("user {} is not a {role} of this project", w.0),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation(errors))
    }
}

/// A 422 for one field, in the shape of the spec's own field errors so a form can put the
/// message next to the field it concerns.
fn field_error(field: String, message: String) -> ApiError {
    validation(vec![quorum_core::task::FieldError { field, message }])
}

/// Refuses (422 on `field`) a dataset that is not in the project.
async fn check_dataset(
    state: &AppState,
    project_id: i64,
    dataset_id: i64,
    field: &str,
) -> ApiResult<()> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM datasets WHERE id = $1 AND project_id = $2")
            .bind(dataset_id)
            .bind(project_id)
            .fetch_optional(state.db.pool())
            .await?;
    if found.is_none() {
        return Err(field_error(
            field.to_owned(),
            format!("dataset {dataset_id} is not in this project"),
        ));
    }
    Ok(())
}

/// Whether a task checks workers against gold: honeypots, or a qualification's pass gate.
pub(crate) fn uses_gold(spec: &TaskSpec) -> bool {
    spec.honeypot_rate > 0.0 || spec.pass_gate.is_some()
}

/// Gold answers of `items` that the task's schema refuses, as (item id, why). Such gold never
/// scores anyone on the task (see [`task_labels`]).
async fn misfit_gold(
    state: &AppState,
    spec: &TaskSpec,
    items: &[i64],
) -> ApiResult<Vec<(i64, String)>> {
    let mut out = Vec::new();
    for chunk in items.chunks(IDS_PER_STATEMENT) {
        let rows = sql::query(format!(
            "SELECT id, gold FROM items WHERE gold IS NOT NULL AND id IN ({}) ORDER BY id",
            sql::params(1, chunk.len())
        ))
        .bind_all(chunk)
        .fetch_all(&mut state.db.reader().await)
        .await?;
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let problem = match serde_json::from_str::<LabelValue>(&r.try_get::<String>("gold")?) {
                Ok(v) => spec.schema.validate_value(&v).err().map(|e| e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(problem) = problem {
                out.push((id, problem));
            }
        }
    }
    Ok(out)
}

/// Refuses a task that uses gold over items whose gold does not fit its schema: 422 with one
/// error per item (`field` names where the items came from).
async fn check_gold(
    state: &AppState,
    spec: &TaskSpec,
    items: &[i64],
    field: &str,
) -> ApiResult<()> {
    if !uses_gold(spec) {
        return Ok(());
    }
    let misfits = misfit_gold(state, spec, items).await?;
    if misfits.is_empty() {
        return Ok(());
    }
    let field = if field.is_empty() { "item_ids" } else { field };
    Err(validation(
        misfits
            .into_iter()
            .map(|(id, problem)| quorum_core::task::FieldError {
                field: field.to_owned(),
                message: format!(
                    "item {id}: its gold answer does not fit the task's schema: {problem}"
                ),
            })
            .collect(),
    ))
}

/// The items an input source selects, in item order. `prefix` is where the source sits in the
/// request body (`input.` in a spec, nothing in `POST /tasks/{id}/items`), so errors name the
/// field the caller actually sent.
async fn resolve_input(
    state: &AppState,
    project_id: i64,
    input: &InputSource,
    prefix: &str,
) -> ApiResult<Vec<(i64, i64)>> {
    let filter = match input {
        InputSource::AllItems => ItemFilter::default(),
        InputSource::Dataset { dataset_id } => {
            check_dataset(
                state,
                project_id,
                *dataset_id,
                &format!("{prefix}dataset_id"),
            )
            .await?;
            ItemFilter {
                dataset_id: Some(*dataset_id),
                ..ItemFilter::default()
            }
        }
        InputSource::Filter { filter } => {
            if let Some(dataset_id) = filter.dataset_id {
                check_dataset(
                    state,
                    project_id,
                    dataset_id,
                    &format!("{prefix}filter.dataset_id"),
                )
                .await?;
            }
            filter.clone()
        }
        InputSource::SavedSearch { saved_search_id } => {
            let text: Option<String> = sqlx::query_scalar(
                "SELECT filter FROM saved_searches WHERE id = $1 AND project_id = $2",
            )
            .bind(saved_search_id)
            .bind(project_id)
            .fetch_optional(state.db.pool())
            .await?;
            let text = text.ok_or_else(|| {
                field_error(
                    format!("{prefix}saved_search_id"),
                    format!("saved search {saved_search_id} is not in this project"),
                )
            })?;
            serde_json::from_str(&text)?
        }
        InputSource::ItemIds { item_ids } => {
            return picked_items(state, project_id, item_ids, prefix).await;
        }
    };
    filtered_items(state, project_id, &filter).await
}

/// Ids per `IN (…)` list: far below both backends' parameter limits.
const IDS_PER_STATEMENT: usize = 1_000;

/// The listed items with their priorities, in id order; every id must be in the project.
async fn picked_items(
    state: &AppState,
    project_id: i64,
    item_ids: &[ItemId],
    prefix: &str,
) -> ApiResult<Vec<(i64, i64)>> {
    let wanted: Vec<i64> = item_ids
        .iter()
        .map(|i| i.0)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut picked: Vec<(i64, i64)> = Vec::with_capacity(wanted.len());
    for part in wanted.chunks(IDS_PER_STATEMENT) {
        let rows = sql::query(format!(
            "SELECT id, priority FROM items WHERE project_id = $1 AND id IN ({})",
            sql::params(2, part.len())
        ))
        .bind(project_id)
        .bind_all(part)
        .fetch_all(&mut state.db.reader().await)
        .await?;
        for r in &rows {
            picked.push((r.try_get("id")?, r.try_get("priority")?));
        }
    }
    picked.sort_unstable();
    if picked.len() != wanted.len() {
        let found: HashSet<i64> = picked.iter().map(|(id, _)| *id).collect();
        let mut missing: Vec<i64> = wanted
            .iter()
            .filter(|id| !found.contains(id))
            .copied()
            .collect();
        missing.sort_unstable();
        // A pasted list can be long; the first few ids are enough to find the mistake.
        let listed: Vec<String> = missing.iter().take(20).map(i64::to_string).collect();
        let more = if missing.len() > 20 { ", …" } else { "" };
        return Err(field_error(
            format!("{prefix}item_ids"),
            format!(
                "{} of the items are not in this project: {}{more}",
                missing.len(),
                listed.join(", ")
            ),
        ));
    }
    Ok(picked)
}

/// The project's items that pass `filter`, with their priorities, in id order. The cost grows
/// with the project's items, and with its labels only when the filter asks for a labeling
/// status (then each status is one indexed scan of the project's tasks, not a count per item).
async fn filtered_items(
    state: &AppState,
    project_id: i64,
    filter: &ItemFilter,
) -> ApiResult<Vec<(i64, i64)>> {
    let with_metadata = !filter.metadata.is_empty();
    let sql = format!(
        "SELECT id, dataset_id, directory, priority{} FROM items \
         WHERE project_id = $1 AND ($2 = 0 OR dataset_id = $2) AND video_item_id IS NULL \
         ORDER BY id",
        if with_metadata { ", metadata" } else { "" }
    );
    // An in-process reader on SQLite: a million rows without a hop per row to a worker thread.
    let rows = sql::query(sql)
        .bind(project_id)
        .bind(filter.dataset_id.unwrap_or(0))
        .fetch_all(&mut state.db.reader().await)
        .await?;
    let (labeled, approved) = if filter.annotation_status.is_some() {
        (
            project_item_set(
                state,
                "SELECT DISTINCT a.item_id FROM annotations a JOIN tasks t ON t.id = a.task_id \
                 WHERE t.project_id = $1",
                project_id,
            )
            .await?,
            project_item_set(
                state,
                "SELECT DISTINCT ti.item_id FROM task_items ti JOIN tasks t ON t.id = ti.task_id \
                 WHERE t.project_id = $1 AND ti.state IN ('approved', 'auto_approved')",
                project_id,
            )
            .await?,
        )
    } else {
        (HashSet::new(), HashSet::new())
    };
    let no_metadata = Value::Null;
    let mut out = Vec::new();
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let metadata = if with_metadata {
            json_col(r, "metadata")
        } else {
            Value::Null
        };
        let directory: String = r.try_get("directory")?;
        let status = if approved.contains(&id) {
            AnnotationStatus::Approved
        } else if labeled.contains(&id) {
            AnnotationStatus::Labeled
        } else {
            AnnotationStatus::Unlabeled
        };
        let facts = ItemFacts {
            dataset_id: r.try_get("dataset_id")?,
            directory: &directory,
            metadata: if with_metadata {
                &metadata
            } else {
                &no_metadata
            },
            status,
        };
        if filter.matches(&facts) {
            out.push((id, r.try_get("priority")?));
        }
    }
    Ok(out)
}

async fn project_item_set(state: &AppState, sql: &str, project_id: i64) -> ApiResult<HashSet<i64>> {
    let ids: Vec<i64> = sqlx::query_scalar(sql)
        .bind(project_id)
        .fetch_all(state.db.pool())
        .await?;
    Ok(ids.into_iter().collect())
}

/// Adds items (with their item priority unless the task sets one) and, for planned tasks,
/// their seats, extending the plan fairly over who already holds what.
async fn insert_items(
    tx: &mut sql::Tx,
    backend: Backend,
    task_id: i64,
    spec: &TaskSpec,
    items: &[(i64, i64)],
    assignees: &[WorkerId],
) -> ApiResult<u64> {
    let existing: HashSet<i64> =
        sql::query_scalar::<i64>("SELECT item_id FROM task_items WHERE task_id = $1")
            .bind(task_id)
            .fetch_all(tx)
            .await?
            .into_iter()
            .collect();
    let position_base: i64 = existing.len() as i64;
    let new: Vec<(i64, i64)> = items
        .iter()
        .filter(|(id, _)| !existing.contains(id))
        .copied()
        .collect();
    let rows: Vec<[i64; 3]> = new
        .iter()
        .enumerate()
        .map(|(n, (item, item_priority))| {
            let priority = spec.priority.map_or(*item_priority, |p| i64::from(p.0));
            let key = order_key(
                spec.order,
                spec.seed,
                ItemId(*item),
                position_base + n as i64,
            );
            [*item, priority, key]
        })
        .collect();
    write_rows(
        tx,
        backend,
        task_id,
        "task_items (task_id, item_id, priority, order_key)",
        "",
        &rows,
    )
    .await?;
    if spec.worker_strategy.is_planned() && !new.is_empty() {
        let loads = sql::query(
            "SELECT worker_id, COUNT(*) AS n FROM seats WHERE task_id = $1 GROUP BY worker_id",
        )
        .bind(task_id)
        .fetch_all(tx)
        .await?
        .iter()
        .map(|r| {
            Ok((
                WorkerId(r.try_get("worker_id")?),
                r.try_get::<i64>("n")? as u64,
            ))
        })
        .collect::<sqlx::Result<Vec<(WorkerId, u64)>>>()?;
        let ids: Vec<ItemId> = new.iter().map(|(i, _)| ItemId(*i)).collect();
        let seats = plan::extend_plan(&spec.worker_strategy, &ids, assignees, &loads, spec.seed)
            .map_err(|e| ApiError::validation(e.to_string()))?;
        let rows: Vec<[i64; 2]> = seats.iter().map(|s| [s.item.0, s.worker.0]).collect();
        write_rows(
            tx,
            backend,
            task_id,
            "seats (task_id, item_id, worker_id, state)",
            ", 'assigned'",
            &rows,
        )
        .await?;
    }
    Ok(new.len() as u64)
}

/// Rows per statement of a task's bulk writes on PostgreSQL: each column is one array
/// parameter, so the statement's size is fixed and the rows' values travel as text.
const ROWS_PER_ARRAY: usize = 100_000;

/// Inserts rows of `N` integer columns after the task's id (and `constants`, SQL appended to
/// each row) into `table`: multi-row `VALUES` on SQLite, where the statement stays prepared
/// in the writer; on PostgreSQL one `unnest` of column arrays per [`ROWS_PER_ARRAY`] rows, a
/// round trip and a bind of a few texts instead of thousands of values per thousand rows.
async fn write_rows<const N: usize>(
    tx: &mut sql::Tx,
    backend: Backend,
    task_id: i64,
    table: &str,
    constants: &str,
    rows: &[[i64; N]],
) -> ApiResult<()> {
    match backend {
        Backend::Postgres => {
            let columns: Vec<String> = (0..N).map(|c| format!("c{c}")).collect();
            let arrays: Vec<String> = (0..N).map(|c| format!("${}::bigint[]", c + 2)).collect();
            let statement = format!(
                "INSERT INTO {table} SELECT $1, {}{constants} FROM unnest({}) AS u({})",
                columns.join(", "),
                arrays.join(", "),
                columns.join(", ")
            );
            for part in rows.chunks(ROWS_PER_ARRAY) {
                let mut q = sql::query(statement.clone()).bind(task_id);
                for c in 0..N {
                    q = q.bind(pg_array::ints(part.iter().map(|r| r[c])));
                }
                q.execute(tx).await?;
                tokio::task::yield_now().await;
            }
        }
        Backend::Sqlite => {
            for part in rows.chunks(IDS_PER_STATEMENT) {
                let values: Vec<String> = (0..part.len())
                    .map(|n| format!("($1, {}{constants})", sql::params(2 + N * n, N)))
                    .collect();
                let mut q = sql::query(format!("INSERT INTO {table} VALUES {}", values.join(", ")))
                    .bind(task_id);
                for row in part {
                    q = q.bind_all(row.iter());
                }
                q.execute(tx).await?;
                // Let the runtime thread serve other requests between statements of a big
                // insert.
                tokio::task::yield_now().await;
            }
        }
    }
    Ok(())
}

async fn write_people(tx: &mut sql::Tx, task_id: i64, spec: &TaskSpec) -> ApiResult<()> {
    sql::query("DELETE FROM task_people WHERE task_id = $1")
        .bind(task_id)
        .execute(tx)
        .await?;
    // People of review and QA steps review: `/me/tasks` and `?reviewer=` find the task.
    let steps = super::workflow::step_people(&spec.steps);
    let mut unique: Vec<(i64, &str)> = [
        (&spec.assignees, "annotator"),
        (&spec.reviewers, "reviewer"),
    ]
    .into_iter()
    .chain(steps.iter().map(|(_, p)| (p, "reviewer")))
    .flat_map(|(people, role)| people.iter().map(move |w| (w.0, role)))
    .collect();
    unique.sort_unstable();
    unique.dedup();
    for (user, role) in unique {
        sql::query("INSERT INTO task_people (task_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(task_id)
            .bind(user)
            .bind(role)
            .execute(tx)
            .await?;
    }
    Ok(())
}

fn kind_name(spec: &TaskSpec) -> String {
    serde_json::to_value(spec.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Validates and stores a new task with its items (and seats, for planned strategies).
pub async fn create_task(
    state: &AppState,
    project_id: i64,
    creator: i64,
    spec: &TaskSpec,
) -> ApiResult<i64> {
    let errors = spec.validate();
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    check_people(state, project_id, spec).await?;
    check_qualifications(state, project_id, None, spec).await?;
    let copy = copied_in_database(state.db.backend(), spec);
    let items = match copy {
        Some(dataset_id) => {
            if dataset_id != 0 {
                check_dataset(state, project_id, dataset_id, "input.dataset_id").await?;
            }
            Vec::new()
        }
        None => {
            let items = resolve_input(state, project_id, &spec.input, "input.").await?;
            let ids: Vec<i64> = items.iter().map(|(i, _)| *i).collect();
            check_gold(state, spec, &ids, "input").await?;
            items
        }
    };
    let overlap = i64::from(spec.worker_strategy.overlap(spec.assignees.len()).get());
    let now = clock::now().0;
    // A bulk claim: on SQLite the rows go in on the writer's own connection in this thread,
    // which is what makes a million-item task take seconds rather than minutes.
    let mut tx = state.db.bulk().await?;
    // Video items become their sampled frames (made once, shared by every task that samples
    // them), in the same transaction as the task.
    let items = match spec.sample_ms {
        Some(step) => frames::sample(&mut tx, project_id, items, step, now)
            .await
            .map_err(|fail| match fail {
                frames::SampleFail::Step { item_id, error } => {
                    field_error("sample_ms".into(), format!("video item {item_id}: {error}"))
                }
                frames::SampleFail::Db(e) => e.into(),
            })?,
        None => items,
    };
    let id: i64 = sql::query_scalar(
        "INSERT INTO tasks (project_id, name, kind, status, spec, overlap, priority, due_date, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8, $9, $9) RETURNING id",
    )
    .bind(project_id)
    .bind(spec.name.trim())
    .bind(kind_name(spec))
    .bind(serde_json::to_string(spec)?)
    .bind(overlap)
    .bind(spec.priority.map_or(0, |p| i64::from(p.0)))
    .bind(spec.due_date.map(|d| d.0))
    .bind(creator)
    .bind(now)
    .fetch_one(&mut tx)
    .await?;
    write_people(&mut tx, id, spec).await?;
    match copy {
        Some(dataset_id) => {
            // What `insert_items` writes for a new task: item order is the position by id.
            sql::query(
                "INSERT INTO task_items (task_id, item_id, priority, order_key) \
                 SELECT $1, id, COALESCE($2, priority), row_number() OVER (ORDER BY id) - 1 \
                 FROM items WHERE project_id = $3 AND ($4 = 0 OR dataset_id = $4)",
            )
            .bind(id)
            .bind(spec.priority.map(|p| i64::from(p.0)))
            .bind(project_id)
            .bind(dataset_id)
            .execute(&mut tx)
            .await?;
        }
        None => {
            insert_items(
                &mut tx,
                state.db.backend(),
                id,
                spec,
                &items,
                &spec.assignees,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(id)
}

/// The dataset (0: every item of the project) whose items a new task takes as they are, when
/// PostgreSQL can copy them in one `INSERT … SELECT`: whole datasets, in item order, no seats
/// to plan, no gold to check and no video frames to sample. The rows then never travel to the server and back (reading a
/// million ids took 3.3 s of a 17 s task on PostgreSQL); SQLite reads them in-process anyway.
fn copied_in_database(backend: Backend, spec: &TaskSpec) -> Option<i64> {
    if backend != Backend::Postgres
        || spec.order != quorum_core::strategy::ItemOrder::Sequential
        || spec.worker_strategy.is_planned()
        || uses_gold(spec)
        || spec.sample_ms.is_some()
    {
        return None;
    }
    match &spec.input {
        InputSource::AllItems => Some(0),
        InputSource::Dataset { dataset_id } => Some(*dataset_id),
        _ => None,
    }
}

/// `POST /projects/{id}/tasks` (managers).
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<i64>,
    Body(spec): Body<TaskSpec>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    ensure_project(&state, project_id).await?;
    require_manager(&state, &caller, project_id).await?;
    let id = create_task(&state, project_id, caller.id, &spec).await?;
    let task = load(&state, id).await?;
    Ok((StatusCode::CREATED, Json(task_json(&state, &task).await?)))
}

/// `GET /tasks/{id}`: managers, and the task's annotators and reviewers.
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let a = access(&state, &caller, id).await?;
    Ok(Json(task_view(&state, &caller, &a.task).await?))
}

#[derive(Deserialize, Default)]
pub struct TaskQuery {
    project_id: Option<i64>,
    status: Option<String>,
    kind: Option<String>,
    worker: Option<i64>,
    reviewer: Option<i64>,
    due_before: Option<i64>,
    sort: Option<String>,
    order: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET /tasks`: tasks the caller manages or works on, filtered and sorted, a page at a time.
/// The cursor is the offset of the next page in the chosen order.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<TaskQuery>,
) -> ApiResult<Json<Value>> {
    let sort_col = match q.sort.as_deref().unwrap_or("created") {
        "created" => "t.created_at",
        "last_submitted" => &format!("COALESCE({}, t.last_submitted_at, 0)", last_submitted("t")),
        "priority" => "t.priority",
        other => {
            return Err(ApiError::invalid(format!(
                "sort {other:?}: use created, last_submitted or priority"
            )))
        }
    };
    let dir = match q.order.as_deref().unwrap_or("desc") {
        "asc" => "ASC",
        "desc" => "DESC",
        other => {
            return Err(ApiError::invalid(format!(
                "order {other:?}: use asc or desc"
            )))
        }
    };
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        s.parse::<TaskStatus>().map_err(ApiError::invalid)?;
    }
    if let Some(k) = q.kind.as_deref().filter(|k| !k.is_empty()) {
        serde_json::from_value::<TaskKind>(json!(k)).map_err(|_| {
            ApiError::invalid(format!(
                "kind {k:?}: use labeling, review, consensus, honeypot, qualification or auto_annotation"
            ))
        })?;
    }
    let offset: i64 = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse()
            .map_err(|_| ApiError::invalid("cursor must be a value from next_cursor"))?,
    };
    let limit = i64::from(q.limit.unwrap_or(50).clamp(1, 500));
    let sql = format!(
        "SELECT t.* FROM tasks t WHERE \
         ($1 = 1 OR EXISTS (SELECT 1 FROM members m WHERE m.project_id = t.project_id AND m.user_id = $2 \
            AND m.roles LIKE '%manager%') \
          OR {visible}) \
         AND ($3 = 0 OR t.project_id = $3) AND ($4 = '' OR t.status = $4) AND ($5 = '' OR t.kind = $5) \
         AND ($6 = 0 OR {worker}) \
         AND ($7 = 0 OR {reviewer}) \
         AND ($8 = 0 OR (t.due_date IS NOT NULL AND t.due_date < $8)) \
         ORDER BY {sort_col} {dir}, t.id {dir} LIMIT $9 OFFSET $10",
        visible = works_on("$2", "t", None),
        worker = works_on("$6", "t", Some("annotator")),
        reviewer = works_on("$7", "t", Some("reviewer")),
    );
    let rows = sqlx::query(&sql)
        .bind(caller.is_admin as i64)
        .bind(caller.id)
        .bind(q.project_id.unwrap_or(0))
        .bind(q.status.clone().unwrap_or_default())
        .bind(q.kind.clone().unwrap_or_default())
        .bind(q.worker.unwrap_or(0))
        .bind(q.reviewer.unwrap_or(0))
        .bind(q.due_before.unwrap_or(0))
        .bind(limit + 1)
        .bind(offset)
        .fetch_all(state.db.pool())
        .await?;
    let more = rows.len() as i64 > limit;
    let records = rows
        .iter()
        .take(limit as usize)
        .map(TaskRecord::from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    let tasks = task_views(&state, &caller, &records).await?;
    Ok(Json(json!({
        "tasks": tasks,
        "next_cursor": more.then(|| (offset + limit).to_string()),
    })))
}

/// SQL that holds when the user bound at `user` may work on task alias `t`: named on it, or a
/// member with the role when the task leaves that list empty (open to every annotator or
/// reviewer of the project). `role` limits it to `annotator` or `reviewer`.
fn works_on(user: &str, t: &str, role: Option<&str>) -> String {
    let roles = role.map_or(vec!["annotator", "reviewer"], |r| vec![r]);
    let mut any = Vec::new();
    for r in roles {
        any.push(format!(
            "EXISTS (SELECT 1 FROM task_people p WHERE p.task_id = {t}.id AND p.user_id = {user} AND p.role = '{r}') \
             OR (NOT EXISTS (SELECT 1 FROM task_people p WHERE p.task_id = {t}.id AND p.role = '{r}') \
             AND EXISTS (SELECT 1 FROM members m WHERE m.project_id = {t}.project_id AND m.user_id = {user} \
             AND (',' || m.roles || ',') LIKE '%,{r},%'))"
        ));
    }
    any.join(" OR ")
}

/// `GET /me/tasks`: what the caller labels or reviews, with their own progress.
pub async fn my_tasks(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let now = clock::now().0;
    let rows = sqlx::query(&format!(
        "SELECT t.* FROM tasks t WHERE t.status <> 'archived' AND ({}) ORDER BY t.id",
        works_on("$1", "t", None)
    ))
    .bind(caller.id)
    .fetch_all(state.db.pool())
    .await?;
    let records = rows
        .iter()
        .map(TaskRecord::from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    let views = task_views(&state, &caller, &records).await?;
    let progress = my_progress(&state, &records, caller.id, now).await?;
    let mut tasks = Vec::new();
    for (t, mut v) in records.iter().zip(views) {
        let p = progress.get(&t.id).copied().unwrap_or_default();
        let (mine, open, open_gold) = (p.mine, p.open, p.open_gold);
        let available = if t.spec.worker_strategy.is_planned() {
            mine
        } else if t.spec.honeypot_rate > 0.0 {
            // Honeypots come only mixed into regular work. Counting them out would make the
            // figure stand still when one is leased, and counting every gold item in would
            // leave it above zero once batches run dry: either tells a gold item. The core
            // counts what the worker will really be served, so each item served, gold or not,
            // takes exactly one off.
            let history = HoneypotHistory {
                served: p.served as u64,
                honeypots: p.served_gold as u64,
                batches: 0,
            };
            mine + items_ahead(
                t.spec.honeypot_rate,
                t.spec.seed,
                WorkerId(caller.id),
                history,
                open.max(0) as u64,
                open_gold.max(0) as u64,
            ) as i64
        } else {
            mine + open + open_gold
        };
        v["my_progress"] = json!({
            "done": p.done,
            "leased": p.leased,
            "available": available,
        });
        let quals = qualifications(&state, t, Some(caller.id)).await?;
        let standings: Vec<Standing> = quals.iter().map(|q| q.standing(caller.id)).collect();
        let review = match super::workflow::my_review(&state, t, caller.id).await? {
            Some(steps) => Some(steps),
            None => super::review::my_review(&state, &caller, t).await?,
        };
        if let Some(review) = review {
            v["my_review"] = review;
        }
        v["my_qualification"] = json!({
            "qualified": may_work(&standings),
            "qualifications": quals.iter().map(|q| q.report(caller.id)).collect::<Vec<_>>(),
        });
        tasks.push(v);
    }
    Ok(Json(json!({ "tasks": tasks })))
}

/// One worker's counts in one task, for `/me/tasks`.
#[derive(Default, Clone, Copy)]
struct MyProgress {
    /// Active annotations.
    done: i64,
    /// Seats under unexpired leases.
    leased: i64,
    /// Seats planned for the worker or sent back to them.
    mine: i64,
    /// Items still open to the worker (not gold / gold).
    open: i64,
    open_gold: i64,
    /// Seats ever held (all / on gold items): the honeypot history.
    served: i64,
    served_gold: i64,
}

/// Stores a count statement's two figures (`a`, `b`) in a task's [`MyProgress`].
type SetCounts = fn(&mut MyProgress, i64, i64);

/// [`MyProgress`] of `worker` in each task: one grouped statement per count over all the
/// tasks, not one round of counts per task.
async fn my_progress(
    state: &AppState,
    tasks: &[TaskRecord],
    worker: i64,
    now: i64,
) -> ApiResult<HashMap<i64, MyProgress>> {
    let mut out: HashMap<i64, MyProgress> = HashMap::new();
    for part in tasks.chunks(IDS_PER_STATEMENT) {
        let ids: Vec<i64> = part.iter().map(|t| t.id).collect();
        // $1 is the worker; the tasks come next, after the time where a count needs it.
        let counts: [(&str, bool, SetCounts); 5] = [
            (
                "SELECT task_id, COUNT(*) AS a, 0 AS b FROM annotations WHERE worker_id = $1 \
                 AND task_id IN ({list}) AND active = 1 GROUP BY task_id",
                false,
                |p, a, _| p.done = a,
            ),
            (
                "SELECT s.task_id, COUNT(*) AS a, 0 AS b FROM seats s JOIN leases l ON l.id = s.lease_id \
                 WHERE s.task_id IN ({list}) AND s.worker_id = $1 AND s.state = 'leased' \
                 AND l.expires_at > $2 GROUP BY s.task_id",
                true,
                |p, a, _| p.leased = a,
            ),
            (
                "SELECT task_id, COUNT(*) AS a, 0 AS b FROM seats WHERE task_id IN ({list}) \
                 AND worker_id = $1 AND state IN ('assigned', 'rework') GROUP BY task_id",
                false,
                |p, a, _| p.mine = a,
            ),
            (
                "SELECT ti.task_id, \
                 COALESCE(SUM(CASE WHEN i.gold IS NULL THEN 1 ELSE 0 END), 0) AS a, \
                 COALESCE(SUM(CASE WHEN i.gold IS NULL THEN 0 ELSE 1 END), 0) AS b \
                 FROM task_items ti JOIN tasks t ON t.id = ti.task_id JOIN items i ON i.id = ti.item_id \
                 WHERE ti.task_id IN ({list}) AND ti.state IN ('pending', 'rejected') \
                 AND ti.covered < COALESCE(ti.target, t.overlap) \
                 AND NOT EXISTS (SELECT 1 FROM seats s WHERE s.task_id = ti.task_id \
                 AND s.item_id = ti.item_id AND s.worker_id = $1) GROUP BY ti.task_id",
                false,
                |p, a, b| (p.open, p.open_gold) = (a, b),
            ),
            (
                "SELECT s.task_id, COUNT(*) AS a, \
                 COALESCE(SUM(CASE WHEN i.gold IS NULL THEN 0 ELSE 1 END), 0) AS b \
                 FROM seats s JOIN items i ON i.id = s.item_id WHERE s.task_id IN ({list}) \
                 AND s.worker_id = $1 GROUP BY s.task_id",
                false,
                |p, a, b| (p.served, p.served_gold) = (a, b),
            ),
        ];
        for (statement, timed, set) in counts {
            let first = if timed { 3 } else { 2 };
            let mut q = sql::query(statement.replace("{list}", &sql::params(first, ids.len())))
                .bind(worker);
            if timed {
                q = q.bind(now);
            }
            let rows = q
                .bind_all(&ids)
                .fetch_all(&mut sql::Reader::pool(state.db.pool().clone()))
                .await?;
            for r in &rows {
                let task: i64 = r.try_get("task_id")?;
                set(
                    out.entry(task).or_default(),
                    sum_col(r, "a"),
                    sum_col(r, "b"),
                );
            }
        }
    }
    Ok(out)
}

/// Refuses any change to an archived task (409 `task_archived`): archiving freezes a task's
/// definition, items and seats as they were exported.
fn refuse_archived(task: &TaskRecord) -> ApiResult<()> {
    if task.status == TaskStatus::Archived {
        return Err(ApiError::conflict(format!(
            "task {} is archived: its definition, items and assignments no longer change",
            task.id
        ))
        .with_code(ErrorCode::TaskArchived));
    }
    Ok(())
}

/// Whether any label was ever stored on the task.
async fn has_labels(state: &AppState, task_id: i64) -> ApiResult<bool> {
    let any: Option<i64> =
        sqlx::query_scalar("SELECT task_id FROM annotations WHERE task_id = $1 LIMIT 1")
            .bind(task_id)
            .fetch_optional(state.db.pool())
            .await?;
    Ok(any.is_some())
}

/// Stores a changed spec; the item source and the strategy are fixed once items are planned;
/// the schema and kind once labels exist (stored labels would no longer fit them).
async fn store_spec(
    state: &AppState,
    caller: &Caller,
    id: i64,
    spec: TaskSpec,
) -> ApiResult<Value> {
    let old = load(state, id).await?;
    require_manager(state, caller, old.project_id).await?;
    refuse_archived(&old)?;
    let errors = spec.validate();
    if !errors.is_empty() {
        return Err(validation(errors));
    }
    let changed: Vec<&str> = [
        ("schema", spec.schema != old.spec.schema),
        ("kind", spec.kind != old.spec.kind),
    ]
    .into_iter()
    .filter_map(|(field, differs)| differs.then_some(field))
    .collect();
    if !changed.is_empty() && has_labels(state, id).await? {
        return Err(ApiError::conflict(format!(
            "{} cannot change: the task has labels made against the current one (exports and \
             scores read them by it); create a new task instead",
            changed.join(" and ")
        ))
        .with_code(ErrorCode::LabelsExist)
        .with_details(json!({ "fields": changed })));
    }
    if spec.input != old.spec.input || spec.worker_strategy != old.spec.worker_strategy {
        return Err(ApiError::conflict(
            "input and worker_strategy are fixed after creation: add or remove items instead, or create a new task",
        ));
    }
    if old.spec.worker_strategy.is_planned() && spec.assignees != old.spec.assignees {
        return Err(ApiError::conflict(
            "a planned task's assignees are fixed: reassign items instead",
        ));
    }
    check_people(state, old.project_id, &spec).await?;
    check_qualifications(state, old.project_id, Some(id), &spec).await?;
    // Gold was checked when the task took it up; look again only when gold starts to count
    // or the schema it must fit changes.
    if uses_gold(&spec) && (!uses_gold(&old.spec) || spec.schema != old.spec.schema) {
        let items: Vec<i64> = sqlx::query_scalar(
            "SELECT item_id FROM task_items WHERE task_id = $1 ORDER BY item_id",
        )
        .bind(id)
        .fetch_all(state.db.pool())
        .await?;
        check_gold(state, &spec, &items, "item_ids").await?;
    }
    super::workflow::check_spec_change(state, &old, &spec.steps).await?;
    let mut tx = state.db.claim().await?;
    sql::query(
        "UPDATE tasks SET name = $1, kind = $2, spec = $3, priority = $4, due_date = $5, updated_at = $6 \
         WHERE id = $7",
    )
    .bind(spec.name.trim())
    .bind(kind_name(&spec))
    .bind(serde_json::to_string(&spec)?)
    .bind(spec.priority.map_or(0, |p| i64::from(p.0)))
    .bind(spec.due_date.map(|d| d.0))
    .bind(clock::now().0)
    .bind(id)
    .execute(&mut tx)
    .await?;
    if let (Some(p), true) = (spec.priority, spec.priority != old.spec.priority) {
        sql::query("UPDATE task_items SET priority = $1 WHERE task_id = $2")
            .bind(i64::from(p.0))
            .bind(id)
            .execute(&mut tx)
            .await?;
    }
    write_people(&mut tx, id, &spec).await?;
    tx.commit().await?;
    task_json(state, &load(state, id).await?).await
}

/// `PUT /tasks/{id}` (managers): replaces the spec.
pub async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(spec): Body<TaskSpec>,
) -> ApiResult<Json<Value>> {
    Ok(Json(store_spec(&state, &caller, id, spec).await?))
}

/// `PATCH /tasks/{id}` (managers): changes the given fields only.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(patch): Body<Value>,
) -> ApiResult<Json<Value>> {
    let old = load(&state, id).await?;
    require_manager(&state, &caller, old.project_id).await?;
    let Value::Object(fields) = patch else {
        return Err(ApiError::invalid(
            "a PATCH body is a JSON object of the fields to change",
        ));
    };
    let mut merged = serde_json::to_value(&old.spec)?;
    for (k, v) in fields {
        merged[k] = v;
    }
    let spec: TaskSpec =
        serde_json::from_value(merged).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(Json(store_spec(&state, &caller, id, spec).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    status: TaskStatus,
}

/// `POST /tasks/{id}/status` (managers): a legal lifecycle move.
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<StatusBody>,
) -> ApiResult<Json<Value>> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    let mut w = state.db.write().await?;
    let current = load_for_update(&state, &mut w.tx, id).await?;
    let next = current
        .status
        .move_to(body.status)
        .map_err(ApiError::conflict)?;
    sqlx::query("UPDATE tasks SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(next.to_string())
        .bind(clock::now().0)
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok(Json(task_json(&state, &load(&state, id).await?).await?))
}

/// `DELETE /tasks/{id}` (managers).
pub async fn delete_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    delete_tasks(&state, &[id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct IdsQuery {
    ids: String,
}

/// Parses `1,2,3`.
pub fn parse_ids(text: &str) -> ApiResult<Vec<i64>> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| ApiError::invalid(format!("{s:?} is not a task id")))
        })
        .collect()
}

/// `DELETE /tasks?ids=1,2,3` (managers of every listed task): all or nothing.
pub async fn delete_many(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<IdsQuery>,
) -> ApiResult<Json<Value>> {
    let ids = parse_ids(&q.ids)?;
    if ids.is_empty() {
        return Err(ApiError::invalid("ids lists the tasks to delete"));
    }
    for id in &ids {
        let task = load(&state, *id).await?;
        require_manager(&state, &caller, task.project_id).await?;
    }
    delete_tasks(&state, &ids).await?;
    Ok(Json(json!({ "deleted": ids })))
}

async fn delete_tasks(state: &AppState, ids: &[i64]) -> ApiResult<()> {
    let mut w = state.db.write().await?;
    for id in ids {
        for table in [
            "seats",
            "annotations",
            "reviews",
            "leases",
            "task_items",
            "task_people",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE task_id = $1"))
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
        }
        sqlx::query("DELETE FROM tasks WHERE id = $1")
            .bind(id)
            .execute(&mut *w.tx)
            .await?;
    }
    w.commit().await?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddItems {
    item_ids: Vec<ItemId>,
    #[serde(default)]
    assignees: Option<Vec<WorkerId>>,
}

/// `POST /tasks/{id}/items` (managers): adds items; planned tasks seat them among the task's
/// assignees (or the given ones).
pub async fn add_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<AddItems>,
) -> ApiResult<Json<Value>> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    refuse_archived(&task)?;
    if body.item_ids.is_empty() {
        return Err(ApiError::validation("item_ids lists at least one item"));
    }
    let items = resolve_input(
        &state,
        task.project_id,
        &InputSource::ItemIds {
            item_ids: body.item_ids.clone(),
        },
        "",
    )
    .await?;
    let assignees = body
        .assignees
        .unwrap_or_else(|| task.spec.assignees.clone());
    if let Some(stranger) = assignees.iter().find(|w| !task.spec.assignees.contains(w)) {
        return Err(ApiError::validation(format!(
            "assignees: user {} is not an assignee of this task",
            stranger.0
        )));
    }
    let ids: Vec<i64> = items.iter().map(|(i, _)| *i).collect();
    check_gold(&state, &task.spec, &ids, "").await?;
    let mut tx = state.db.bulk().await?;
    let current = lock(&state, &mut tx, id).await?;
    refuse_archived(&current)?;
    let added = insert_items(
        &mut tx,
        state.db.backend(),
        id,
        &current.spec,
        &items,
        &assignees,
    )
    .await?;
    if added > 0 && current.status == TaskStatus::Completed {
        sql::query("UPDATE tasks SET status = 'in_progress' WHERE id = $1")
            .bind(id)
            .execute(&mut tx)
            .await?;
    }
    tx.commit().await?;
    Ok(Json(json!({ "added": added })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemIdsBody {
    item_ids: Vec<ItemId>,
}

/// `DELETE /tasks/{id}/items` (managers): removes items, their seats and leases' hold on them;
/// annotations already made stay in the history of the item.
pub async fn remove_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<ItemIdsBody>,
) -> ApiResult<Json<Value>> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    refuse_archived(&task)?;
    let mut w = state.db.write().await?;
    refuse_archived(&load_for_update(&state, &mut w.tx, id).await?)?;
    let mut removed = 0;
    for item in &body.item_ids {
        removed += sqlx::query("DELETE FROM task_items WHERE task_id = $1 AND item_id = $2")
            .bind(id)
            .bind(item.0)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        sqlx::query(
            "DELETE FROM seats WHERE task_id = $1 AND item_id = $2 AND state IN ('assigned', 'leased', 'rework')",
        )
        .bind(id)
        .bind(item.0)
        .execute(&mut *w.tx)
        .await?;
    }
    w.commit().await?;
    Ok(Json(json!({ "removed": removed })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reassign {
    item_ids: Vec<ItemId>,
    from: WorkerId,
    to: WorkerId,
}

/// `POST /tasks/{id}/items/reassign` (managers): moves unfinished seats from one worker to
/// another who does not already hold the item.
pub async fn reassign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<Reassign>,
) -> ApiResult<Json<Value>> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    refuse_archived(&task)?;
    // Like adding items: seats go only to the task's assignees, or the new holder could not
    // lease them (403) and they would drop out of progress.
    if !task.spec.assignees.is_empty() && !task.spec.assignees.contains(&body.to) {
        return Err(field_error(
            "to".into(),
            format!(
                "user {} is not an assignee of this task: add them to its assignees first",
                body.to.0
            ),
        ));
    }
    check_people(
        &state,
        task.project_id,
        &TaskSpec {
            assignees: vec![body.to],
            reviewers: vec![],
            ..task.spec.clone()
        },
    )
    .await?;
    let mut w = state.db.write().await?;
    refuse_archived(&load_for_update(&state, &mut w.tx, id).await?)?;
    let mut moved = 0;
    for item in &body.item_ids {
        let holders: Vec<WorkerId> = sqlx::query_scalar::<_, i64>(
            "SELECT worker_id FROM seats WHERE task_id = $1 AND item_id = $2",
        )
        .bind(id)
        .bind(item.0)
        .fetch_all(&mut *w.tx)
        .await?
        .into_iter()
        .map(WorkerId)
        .collect();
        plan::check_reassign(*item, body.to, &holders).map_err(ApiError::conflict)?;
        let state_of: Option<String> = sqlx::query_scalar(
            "SELECT state FROM seats WHERE task_id = $1 AND item_id = $2 AND worker_id = $3",
        )
        .bind(id)
        .bind(item.0)
        .bind(body.from.0)
        .fetch_optional(&mut *w.tx)
        .await?;
        match state_of.as_deref() {
            Some("assigned" | "leased" | "rework") => {}
            Some(other) => {
                return Err(ApiError::conflict(format!(
                    "item {} is already {other} by user {}",
                    item.0, body.from.0
                )))
            }
            None => {
                return Err(ApiError::validation(format!(
                    "user {} does not hold item {}",
                    body.from.0, item.0
                )))
            }
        }
        // The new holder starts fresh: the old lease no longer covers the seat.
        sqlx::query(
            "UPDATE seats SET worker_id = $1, state = 'assigned', lease_id = NULL \
             WHERE task_id = $2 AND item_id = $3 AND worker_id = $4",
        )
        .bind(body.to.0)
        .bind(id)
        .bind(item.0)
        .bind(body.from.0)
        .execute(&mut *w.tx)
        .await?;
        moved += 1;
    }
    w.commit().await?;
    Ok(Json(json!({ "reassigned": moved })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    item_ids: Vec<ItemId>,
    priority: i32,
}

/// `POST /tasks/{id}/items/priority` (managers): bulk priority change within this task.
pub async fn set_priority(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(body): Body<PriorityBody>,
) -> ApiResult<Json<Value>> {
    let task = load(&state, id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    refuse_archived(&task)?;
    let mut w = state.db.write().await?;
    refuse_archived(&load_for_update(&state, &mut w.tx, id).await?)?;
    let mut changed = 0;
    for item in &body.item_ids {
        changed +=
            sqlx::query("UPDATE task_items SET priority = $1 WHERE task_id = $2 AND item_id = $3")
                .bind(i64::from(body.priority))
                .bind(id)
                .bind(item.0)
                .execute(&mut *w.tx)
                .await?
                .rows_affected();
    }
    w.commit().await?;
    Ok(Json(json!({ "updated": changed })))
}
