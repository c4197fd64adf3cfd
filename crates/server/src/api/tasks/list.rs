//! Listing tasks: `GET /tasks` (filters, sort, a page at a time) and `GET /me/tasks` (what the
//! caller works on, with their own progress).

use super::*;

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
        .map(crate::store::tasks::from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
    let tasks = task_views(&state, &caller, &records).await?;
    Ok(Json(json!({
        "tasks": tasks,
        "next_cursor": more.then(|| (offset + limit).to_string()),
    })))
}

/// SQL that holds when the user bound at `user` may work on task alias `t`: named on it, or a
/// member with the role when the task leaves that list empty (open to every annotator or
/// reviewer of the project). `role` limits it to `annotator` or `reviewer`.
pub(super) fn works_on(user: &str, t: &str, role: Option<&str>) -> String {
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
        .map(crate::store::tasks::from_row)
        .collect::<sqlx::Result<Vec<_>>>()?;
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

/// One worker's counts in one task, for `/me/tasks`.
#[derive(Default, Clone, Copy)]
pub(super) struct MyProgress {
    /// Active annotations.
    pub(super) done: i64,
    /// Seats under unexpired leases.
    pub(super) leased: i64,
    /// Seats planned for the worker or sent back to them.
    pub(super) mine: i64,
    /// Items still open to the worker (not gold / gold).
    pub(super) open: i64,
    pub(super) open_gold: i64,
    /// Seats ever held (all / on gold items): the honeypot history.
    pub(super) served: i64,
    pub(super) served_gold: i64,
}

/// Stores a count statement's two figures (`a`, `b`) in a task's [`MyProgress`].
pub(super) type SetCounts = fn(&mut MyProgress, i64, i64);

/// [`MyProgress`] of `worker` in each task: one grouped statement per count over all the
/// tasks, not one round of counts per task.
pub(super) async fn my_progress(
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
