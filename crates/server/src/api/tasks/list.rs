//! Listing tasks: `GET /tasks` (filters, sort, a page at a time) and `GET /me/tasks` (what the
//! caller works on, with their own progress).

use super::*;
use crate::store::progress;
use crate::store::tasks as store;

#[derive(Deserialize, Default)]
pub struct TaskQuery {
    pub(super) project_id: Option<i64>,
    pub(super) status: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) worker: Option<i64>,
    pub(super) reviewer: Option<i64>,
    pub(super) due_before: Option<i64>,
    pub(super) sort: Option<String>,
    pub(super) order: Option<String>,
    pub(super) cursor: Option<String>,
    pub(super) limit: Option<u32>,
}

/// `GET /tasks`: tasks the caller manages or works on, filtered and sorted, a page at a time.
/// The cursor is the offset of the next page in the chosen order.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<TaskQuery>,
) -> ApiResult<Json<Value>> {
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
    let filter = store::ListFilter {
        viewer: caller.id,
        viewer_is_admin: caller.is_admin,
        project_id: q.project_id,
        status: q.status.as_deref(),
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
    Ok(Json(json!({
        "tasks": tasks,
        "next_cursor": more.then(|| (offset + limit).to_string()),
    })))
}

/// `GET /me/tasks`: what the caller labels or reviews, with their own progress.
pub async fn my_tasks(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let now = clock::now().0;
    let records = store::worked_on_by(&mut state.db.scan(), caller.id).await?;
    let views = task_views(&state, &caller, &records).await?;
    let ids: Vec<i64> = records.iter().map(|t| t.id).collect();
    let progress = progress::mine(&mut state.db.scan(), &ids, caller.id, now).await?;
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
        let review = match crate::api::workflow::my_review(&state, t, caller.id).await? {
            Some(steps) => Some(steps),
            None => crate::api::review::my_review(&state, &caller, t).await?,
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
