//! Listing tasks: `GET /tasks` (filters, sort, a page at a time) and `GET /me/tasks` (what the
//! caller works on, with their own progress).

use super::*;
use crate::api::workflow::StepWaiting;
use crate::store::progress;
use crate::store::tasks as store;

/// Filters, order and page of `GET /tasks`.
#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Only this project's tasks.
    pub(super) project_id: Option<i64>,
    /// Only tasks in this status.
    pub(super) status: Option<String>,
    /// Only tasks of this kind.
    pub(super) kind: Option<String>,
    /// Only tasks this user may label.
    pub(super) worker: Option<i64>,
    /// Only tasks this user may review.
    pub(super) reviewer: Option<i64>,
    /// Only tasks due before this time (ms).
    pub(super) due_before: Option<i64>,
    /// `created` (default), `last_submitted` or `priority`.
    pub(super) sort: Option<String>,
    /// `desc` (default) or `asc`.
    pub(super) order: Option<String>,
    /// The `next_cursor` of the previous page.
    pub(super) cursor: Option<String>,
    /// Tasks per page (1–500, default 50).
    pub(super) limit: Option<u32>,
}

/// A page of tasks.
#[derive(Serialize, ToSchema)]
pub struct TaskPage {
    pub tasks: Vec<TaskView>,
    /// The cursor of the next page (null on the last).
    pub next_cursor: Option<String>,
}

/// Tasks, filtered and sorted, a page at a time.
///
/// Who may call: any user; they see the tasks they manage or work on (admins: all). The cursor
/// is the offset of the next page in the chosen order.
#[utoipa::path(
    get,
    path = "/tasks",
    tag = "tasks",
    params(TaskQuery),
    responses(
        (status = 200, description = "A page of tasks", body = TaskPage),
        (status = 400, description = "An unknown sort, order, status or kind, or a bad cursor", body = ErrorBody),
        NoToken,
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<TaskQuery>,
) -> ApiResult<Json<TaskPage>> {
    let sort = match q.sort.as_deref().unwrap_or("created") {
        "created" => store::Sort::Created,
        "last_submitted" => store::Sort::LastSubmitted,
        "priority" => store::Sort::Priority,
        other => {
            return Err(ApiError::invalid(format!(
                "sort {other:?}: use created, last_submitted or priority"
            )))
        }
    };
    let descending = match q.order.as_deref().unwrap_or("desc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(ApiError::invalid(format!(
                "order {other:?}: use asc or desc"
            )))
        }
    };
    let status = match q.status.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(s.parse::<TaskStatus>().map_err(ApiError::invalid)?),
        None => None,
    };
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
    let filter = store::ListFilter {
        viewer: caller.id,
        viewer_is_admin: caller.is_admin,
        project_id: q.project_id,
        status,
        kind: q.kind.as_deref(),
        worker: q.worker,
        reviewer: q.reviewer,
        due_before: q.due_before,
        sort,
        descending,
        limit: limit + 1,
        offset,
    };
    let rows = store::list(&mut state.db.scan(), &filter).await?;
    let more = rows.len() as i64 > limit;
    let records = &rows[..rows.len().min(limit as usize)];
    let tasks = task_views(&state, &caller, records).await?;
    Ok(Json(TaskPage {
        tasks,
        next_cursor: more.then(|| (offset + limit).to_string()),
    }))
}

/// The caller's own progress in a task.
#[derive(Serialize, ToSchema)]
pub struct MyProgressView {
    /// Their active labels.
    pub done: i64,
    /// Items they hold under live leases.
    pub leased: i64,
    /// Items they will still be served.
    pub available: i64,
    /// `available` is a floor: at least that many items are open to them, and a big task's
    /// open items are not counted further.
    pub available_at_least: bool,
}

/// Whether the caller passed the task's qualification gates.
#[derive(Serialize, ToSchema)]
pub struct MyQualification {
    pub qualified: bool,
    /// Each gate with the caller's standing.
    #[schema(value_type = Vec<Object>)]
    pub qualifications: Vec<Value>,
}

/// A task the caller works on, with their own figures.
#[derive(Serialize, ToSchema)]
pub struct MyTask {
    #[serde(flatten)]
    pub task: TaskView,
    pub my_progress: MyProgressView,
    /// For reviewers: the steps they decide in with the items waiting there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_review: Option<Vec<StepWaiting>>,
    pub my_qualification: MyQualification,
}

/// The caller's tasks.
#[derive(Serialize, ToSchema)]
pub struct MyTasks {
    pub tasks: Vec<MyTask>,
}

/// Tasks the caller labels or reviews, with their own progress.
///
/// Who may call: any user.
#[utoipa::path(
    get,
    path = "/me/tasks",
    tag = "tasks",
    responses(
        (status = 200, description = "Tasks the caller labels or reviews, not archived", body = MyTasks),
        NoToken,
    )
)]
pub async fn my_tasks(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MyTasks>> {
    let now = clock::now().0;
    let records = store::worked_on_by(&mut state.db.scan(), caller.id).await?;
    let views = task_views(&state, &caller, &records).await?;
    let ids: Vec<i64> = records.iter().map(|t| t.id).collect();
    let progress = progress::mine(
        &mut state.db.scan(),
        state.db.backend(),
        &ids,
        caller.id,
        now,
    )
    .await?;
    let mut tasks = Vec::new();
    for (t, view) in records.iter().zip(views) {
        let p = progress.get(&t.id).copied().unwrap_or_default();
        let (mine, open, open_gold) = (p.mine, p.open, p.open_gold);
        // `available` and whether it is a floor, decided in one place.
        let (available, available_at_least) = if t.spec.worker_strategy.is_planned() {
            (mine, false)
        } else if p.open_at_least {
            // The same figure whatever moves, gold or not, until the bound that tells it (open
            // items less the worker's seats and the project's gold) falls under the floor.
            (mine + open, true)
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
            let ahead = items_ahead(
                t.spec.honeypot_rate,
                t.spec.seed,
                WorkerId(caller.id),
                history,
                open.max(0) as u64,
                open_gold.max(0) as u64,
            );
            (mine + ahead as i64, false)
        } else {
            (mine + open + open_gold, false)
        };
        let my_progress = MyProgressView {
            done: p.done,
            leased: p.leased,
            available,
            available_at_least,
        };
        let quals = qualifications(&state, t, Some(caller.id)).await?;
        let standings: Vec<Standing> = quals.iter().map(|q| q.standing(caller.id)).collect();
        let my_review = match crate::api::workflow::my_review(&state, t, caller.id).await? {
            Some(steps) => Some(steps),
            None => crate::api::review::my_review(&state, &caller, t).await?,
        };
        tasks.push(MyTask {
            task: view,
            my_progress,
            my_review,
            my_qualification: MyQualification {
                qualified: may_work(&standings),
                qualifications: quals.iter().map(|q| q.report(caller.id)).collect(),
            },
        });
    }
    Ok(Json(MyTasks { tasks }))
}
