//! The task record: loading it (as a handler, in a write or claim transaction), how a caller stands
//! towards it, and its JSON views with their counts.

use super::*;
use crate::store::progress::{self, Counts};
use crate::store::tasks as store;

pub use crate::store::tasks::TaskRecord;

/// Loads a task or answers 404.
pub async fn load(state: &AppState, id: i64) -> ApiResult<TaskRecord> {
    store::get(&mut state.db.reader().await, id)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))
}

/// Loads a task inside a transaction, its row locked with `lock` (one of [`crate::db::Db`]'s
/// lock clauses; nothing on SQLite, whose single writer already excludes), or answers 404.
pub async fn load_locked(tx: &mut impl Runner, id: i64, lock: &str) -> ApiResult<TaskRecord> {
    store::get_with(tx, id, lock)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))
}

/// [`load_locked`] `FOR UPDATE`: a manager's change of the task, which also holds back inserts
/// that refer to it (labels, leases) until it commits.
pub async fn load_for_update(
    state: &AppState,
    tx: &mut impl Runner,
    id: i64,
) -> ApiResult<TaskRecord> {
    load_locked(tx, id, state.db.for_update()).await
}

/// The task as a claim transaction (leases, labels, reviews) sees it. Claims do not lock the
/// task's row: on PostgreSQL all claims on a task would then take turns, one commit each.
/// They lock the rows they change instead (item and seat rows, see `labeling`), and a
/// manager's change of the task itself still locks it ([`load_for_update`]).
pub async fn in_claim(tx: &mut Tx, id: i64) -> ApiResult<TaskRecord> {
    store::get(tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))
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
    access_as(task, roles, caller)
}

/// The caller's standing towards `task`, given their roles in its project (an admin's: all);
/// 403 when the caller has no part in it.
pub fn access_as(
    task: TaskRecord,
    roles: crate::store::users::Roles,
    caller: &Caller,
) -> ApiResult<Access> {
    let manager = roles.contains(&Role::Manager);
    let annotator = roles.contains(&Role::Annotator) && task.has_assignee(caller.id);
    let reviewer = roles.contains(&Role::Reviewer)
        && (task.has_reviewer(caller.id) || crate::api::workflow::works_a_step(&task, caller.id));
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

/// A task as the API shows it: its spec's fields (the manager's definition) and what the
/// server knows about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskView {
    /// The spec's fields, as `POST /projects/{id}/tasks` takes them (`seed` and
    /// `honeypot_rate` only for the project's managers).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub spec: serde_json::Map<String, Value>,
    pub id: i64,
    pub project_id: i64,
    /// `open`, `in_progress`, `completed` or `archived`.
    #[schema(value_type = String)]
    pub status: TaskStatus,
    /// Distinct workers per item.
    pub overlap: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// When the last label came (null before any).
    pub last_submitted_at: Option<i64>,
    pub counts: Counts,
}

/// The view of a task: its spec plus what the server knows.
pub(super) async fn task_json(state: &AppState, t: &TaskRecord) -> ApiResult<TaskView> {
    let mut counts = task_counts(state, &[t.id]).await?;
    task_json_with(t, counts.remove(&t.id))
}

/// [`task_json`] with the task's counts and last label time already read.
pub(super) fn task_json_with(
    t: &TaskRecord,
    counts: Option<(Counts, Option<i64>)>,
) -> ApiResult<TaskView> {
    let (counts, last) = counts.unwrap_or_default();
    let Value::Object(spec) = serde_json::to_value(&t.spec)? else {
        return Err(ApiError::internal("a task spec is not a JSON object"));
    };
    Ok(TaskView {
        spec,
        id: t.id,
        project_id: t.project_id,
        status: t.status,
        overlap: t.overlap,
        created_at: t.created_at,
        updated_at: t.updated_at,
        last_submitted_at: last.or(t.last_submitted_at),
        counts,
    })
}

/// The item counts and the last label time of each task in `ids`, in two statements for a
/// whole page of tasks (one round per task made a page of 50 tasks 50 scans in turn).
pub(super) async fn task_counts(
    state: &AppState,
    ids: &[i64],
) -> ApiResult<HashMap<i64, (Counts, Option<i64>)>> {
    let mut on = state.db.scan();
    let mut counts = progress::counts_of(&mut on, ids).await?;
    Ok(store::last_label_times(&mut on, ids)
        .await?
        .into_iter()
        .map(|(id, last)| (id, (counts.remove(&id).unwrap_or_default(), last)))
        .collect())
}

/// [`task_json`] as `caller` may see it. The seed and the honeypot rate are for managers: with
/// them (and the open rules of the core) an annotator could work out the serving order and the
/// honeypot schedule, and so which items are gold.
pub(super) async fn task_view(
    state: &AppState,
    caller: &Caller,
    t: &TaskRecord,
) -> ApiResult<TaskView> {
    let mut views = task_views(state, caller, std::slice::from_ref(t)).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::internal("a task without its view"))
}

/// [`task_view`] of each task, with one statement for the counts of all of them and one
/// look-up of the caller's roles per project.
pub(super) async fn task_views(
    state: &AppState,
    caller: &Caller,
    tasks: &[TaskRecord],
) -> ApiResult<Vec<TaskView>> {
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
        let mut v = task_json_with(t, counts.remove(&t.id))?;
        if !manager {
            v.spec.remove("seed");
            v.spec.remove("honeypot_rate");
        }
        out.push(v);
    }
    Ok(out)
}
