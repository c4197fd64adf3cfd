//! Annotators' side: leasing batches, renewing and releasing leases, and `/sync`, which applies
//! offline-made ops in order, each exactly once.
//!
//! Seat accounting (invariant 1): `task_items.covered` counts seats held by leases that have not
//! been swept plus annotations that count toward overlap. Every change to it happens in a write
//! transaction holding the item's row (on PostgreSQL; SQLite has one writer), and a batch is
//! only cut from items whose row, as locked, has `covered < overlap`, so overlap is never
//! exceeded however many servers hand out work. Nothing locks the task's row: claims and labels
//! on different items of one task do not wait for each other. On PostgreSQL labels are written
//! in groups (`label_groups`).
//!
//! Honeypots: with a `honeypot_rate`, a task's gold items leave its ordinary queue and reach
//! workers only through the core's `pull::fill_batch`, which decides how many a batch carries
//! and where (at seeded places in the worker's stream, never a fixed period); they are claimed
//! like any item (same seat, same overlap check), so they keep invariants 1 and 2 and look like
//! any item in the batch (invariant 5). A worker who has not passed the task's qualification
//! gates gets no batch at all (`not_qualified`).

use super::auth::{self, Bearer, Caller, Roles};
use super::error::{ApiError, ApiResult, ErrorCode, Path, RawBody};
use super::labeling_types::{Batch, BatchBody, Released, Renewed, SyncReply};
use super::review;
use super::tasks::{self, TaskRecord};
use super::AppState;
use crate::clock;
use crate::db::Db;
use crate::store::claims::{self, Freed, Lock, Side, Taking, Window};
use crate::store::seat_state::SeatState;
use crate::store::{frames, labels, leases, ops, seats, Tx};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use quorum_core::ids::{ItemId, LeaseId, TaskId, WorkerId};
use quorum_core::label::{BoxShape, LabelValue};
use quorum_core::lease::{counts_toward_overlap, Lease, Timeliness};
use quorum_core::lifecycle::TaskStatus;
use quorum_core::pull::{self, PullRules};
use quorum_core::review::ResultState;
use quorum_core::strategy::{WorkerStrategy, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE};
use quorum_core::sync::{self, Action, Op, OpResult, Outcome};
use quorum_core::time::Millis;
use quorum_core::video;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// Returns swept seats of expired leases to where they came from and frees their overlap.
/// Planned seats go back to their worker, rework back to its annotator, pulled seats expire.
async fn sweep_expired(tx: &mut Tx, task: &TaskRecord, now: i64) -> ApiResult<()> {
    let planned = task.spec.worker_strategy.is_planned();
    Ok(claims::sweep(tx, task.id, planned, now).await?)
}

type ErrorBody = super::error_code::ErrorBody;

/// Lease the next batch.
///
/// Who may call: the task's annotators (qualified, where the task has qualifications). Held
/// seats come back first, so a new session resumes its items; no work now is lease 0 with no
/// items.
#[utoipa::path(post, path = "/tasks/{id}/batches", tag = "labeling",
    params(("id" = i64, Path, description = "The task")),
    request_body(content = BatchBody, description = "Optional: an empty body asks for the task's batch size"),
    responses(
        (status = 200, description = "The batch", body = Batch),
        (status = 400, description = "The body is not JSON of this shape", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an annotator of the task, or not qualified (`not_qualified`)", body = ErrorBody),
        (status = 404, description = "No such task", body = ErrorBody),
        (status = 409, description = "The task hands out no work (`task_closed`)", body = ErrorBody),
        (status = 422, description = "The size is out of range", body = ErrorBody),
    ))]
pub async fn lease_batch(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    path: Result<Path<i64>, ApiError>,
    body: Result<RawBody, ApiError>,
) -> ApiResult<Json<Batch>> {
    let (task_id, body) = match (path, body) {
        (Ok(Path(task_id)), Ok(RawBody(body))) => (task_id, body),
        (Err(e), _) | (_, Err(e)) => return Err(auth::unless_unknown(&state, &token, e).await),
    };
    let (caller, context) = caller_and_context(&state, &token, task_id, None).await?;
    let body: BatchBody = if body.iter().all(u8::is_ascii_whitespace) {
        BatchBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(e.to_string()))?
    };
    if body
        .size
        .is_some_and(|s| !(1..=MAX_BATCH_SIZE).contains(&s))
    {
        return Err(ApiError::validation(format!(
            "size: a batch holds 1 to {MAX_BATCH_SIZE} items"
        )));
    }
    let access = access_from(&caller, context)?;
    if !access.annotator {
        return Err(ApiError::forbidden(
            "only the task's annotators lease its items",
        ));
    }
    // Read before the claim: standings only grow with labels on other tasks, and holding the
    // claim open while scoring them would hold its writer (SQLite) or its rows.
    tasks::require_qualified(&state, &access.task, caller.id).await?;
    let now = clock::now();
    let mut w = state.db.claim_first().await?;
    // Read again in the claim (with its `BEGIN`, one round trip): on SQLite, where claims take
    // turns, this is the status no other claim can change before this one ends.
    let task = tasks::in_claim(&mut w, task_id).await?;
    if task.status == TaskStatus::Completed {
        // Nothing left to label is "no work now", not an error.
        w.commit().await?;
        return Ok(Json(Batch::empty(now.0)));
    }
    if !task.status.accepts_work() {
        return Err(ApiError::conflict(format!(
            "the task is {}; it hands out no work",
            task.status
        ))
        .with_code(ErrorCode::TaskClosed));
    }
    sweep_expired(&mut w, &task, now.0).await?;
    let rules = rules_of(&task, body.size);
    // Live seats the caller already holds (the sweep above freed the expired ones). They come
    // back first, so a new session resumes its items, and they count against the hold limit,
    // so nobody holds more than one batch ahead (`pull::capacity`).
    // Read with the caller's own waiting seats that fit beside them, which the batch takes
    // first: rework sent back by a reviewer, then planned items.
    let hold_limit = i64::from(pull::hold_limit(&rules));
    let own_seats = claims::own_seats(&mut w, task_id, caller.id, hold_limit).await?;
    let held = own_seats.held;
    let want = pull::capacity(&rules, held.len() as u32) as i64;
    let mut picked: Vec<i64> = own_seats.waiting;
    let own: Vec<i64> = picked.clone();
    if !task.spec.worker_strategy.is_planned() && (picked.len() as i64) < want {
        let mut more = pull_items(&mut w, &task, caller.id, &rules, want, &picked).await?;
        // Nothing free may only mean that other claims hold the last items for a moment, and
        // an empty batch says "no work": while unlocked reading still finds claimable items,
        // look again shortly. (Waiting for their rows instead deadlocks: claims lock in the
        // window's order, and the order moves as `covered` changes.)
        let mut tries = 0;
        while more.is_empty()
            && held.is_empty()
            && w.skips_locked()
            && tries < 200
            && !claims::candidates(
                &mut w,
                window(&task, caller.id, 1),
                ordinary(&task),
                Lock::None,
            )
            .await?
            .is_empty()
        {
            tries += 1;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            more = pull_items(&mut w, &task, caller.id, &rules, want, &picked).await?;
        }
        picked.extend(more);
    }
    let held_items: Vec<i64> = held.iter().map(|(item, _)| *item).collect();
    if picked.is_empty() {
        // Nothing new: the held seats as they are (one lease: no write at all), or nothing.
        let single = held
            .first()
            .map(|(_, l)| *l)
            .filter(|&l| held.iter().all(|(_, o)| *o == l));
        if held.is_empty() {
            // A worker who finds no work settles the status (a honeypot held elsewhere keeps
            // the task open until its lease ends).
            review::settle_status(&mut w, &task, now.0).await?;
            w.commit().await?;
            return Ok(Json(Batch::empty(now.0)));
        }
        if let Some(l) = single {
            let expires_at = load_lease(&mut w, l).await?.expires_at.0;
            let items = batch_items(&state.db, w, task_id, caller.id, &held_items).await?;
            return Ok(Json(Batch {
                lease_id: l,
                expires_at,
                items,
            }));
        }
    }
    let lease = Lease::new(
        LeaseId(0),
        TaskId(task_id),
        WorkerId(caller.id),
        now,
        task.spec.lease_seconds,
    );
    let (mine, fresh): (Vec<i64>, Vec<i64>) = picked.iter().partition(|i| own.contains(i));
    let taking = Taking {
        lease: &lease,
        own: &mine,
        fresh: &fresh,
        rejoin_held: !held.is_empty(),
    };
    let Some(lease_id) = claims::take(&mut w, taking).await? else {
        return Err(
            ApiError::conflict("the task is archived; it hands out no work")
                .with_code(ErrorCode::TaskClosed),
        );
    };
    if task.status == TaskStatus::Open {
        claims::start_task(&mut w, task_id).await?;
    }
    let all: Vec<i64> = held_items.iter().chain(&picked).copied().collect();
    let items = batch_items(&state.db, w, task_id, caller.id, &all).await?;
    Ok(Json(Batch {
        lease_id,
        expires_at: lease.expires_at.0,
        items,
    }))
}

/// Pulled work for a batch: up to `want - picked.len()` items from the task's queue, honeypots
/// mixed in by the core's `fill_batch`. `picked` are the caller's own seats already chosen.
async fn pull_items(
    tx: &mut Tx,
    task: &TaskRecord,
    worker: i64,
    rules: &PullRules,
    want: i64,
    picked: &[i64],
) -> ApiResult<Vec<i64>> {
    let room = PullRules {
        batch_size: (want as usize - picked.len()) as u32,
        ..*rules
    };
    // With a honeypot rate, gold items leave the ordinary queue and come only as
    // honeypots, so the rate is the share the worker meets; without one they are ordinary.
    let rate = task.spec.honeypot_rate;
    let honeypots_on = rate > 0.0;
    let regular = claims::candidates(
        tx,
        window(task, worker, room.batch_size),
        ordinary(task),
        Lock::Claim,
    )
    .await?;
    let (honeypots, history) = if honeypots_on {
        let history = claims::honeypot_history(tx, task.id, worker).await?;
        let due = pull::honeypots_due(
            rate,
            task.spec.seed,
            WorkerId(worker),
            history.served,
            history.honeypots,
            room.batch_size as usize,
        );
        // The gold window is read even when no honeypot is due (fill_batch takes only the
        // due ones): a batch with a honeypot must not take an extra query's time longer.
        let due = due.max(1) as u32;
        (
            claims::candidates(tx, window(task, worker, due), Side::Gold, Lock::Claim).await?,
            history,
        )
    } else {
        (Vec::new(), pull::HoneypotHistory::default())
    };
    let chosen = pull::fill_batch(
        &room,
        0,
        &regular,
        &honeypots,
        rate,
        history,
        task.spec.seed,
        WorkerId(worker),
        |item| picked.contains(&item.0),
    );
    Ok(chosen.into_iter().map(|i| i.0).collect())
}

/// The task's window of claimable items for `worker`, at most `limit` per claimable state.
fn window(task: &TaskRecord, worker: i64, limit: u32) -> Window {
    Window {
        task_id: task.id,
        overlap: task.overlap,
        most: i64::from(task.spec.most_per_item(task.overlap as u32)),
        worker,
        limit,
    }
}

/// The side of the queue ordinary work comes from: with a honeypot rate, gold items leave the
/// ordinary queue and come only as honeypots; without one they are ordinary.
fn ordinary(task: &TaskRecord) -> Side {
    if task.spec.honeypot_rate > 0.0 {
        Side::Ordinary
    } else {
        Side::All
    }
}

fn rules_of(task: &TaskRecord, size: Option<u32>) -> PullRules {
    let overlap = task.spec.worker_strategy.overlap(task.spec.assignees.len());
    match task.spec.worker_strategy {
        WorkerStrategy::Pull {
            batch_size,
            max_batch_workload,
            ..
        } => PullRules {
            batch_size: size.map_or(batch_size, |s| s.min(batch_size)),
            max_batch_workload,
            overlap,
        },
        _ => PullRules {
            batch_size: size.unwrap_or(DEFAULT_BATCH_SIZE),
            max_batch_workload: None,
            overlap,
        },
    }
}

/// What an annotator sees of leased items: data, metadata, directory and rework notes — never
/// gold answers or anyone else's labels (invariant 5). The claim `w` ends with the batch's
/// read; what rework and video frames add is the worker's own past answers, read after it.
async fn batch_items(
    db: &Db,
    w: Tx,
    task_id: i64,
    worker: i64,
    ids: &[i64],
) -> ApiResult<Vec<Value>> {
    // One read for the batch.
    let rows = claims::batch_items_and_commit(w, task_id, worker, ids).await?;
    let mut reader: Option<crate::sql::Reader> = None;
    let mut by_id: HashMap<i64, Value> = HashMap::with_capacity(rows.len());
    for r in rows {
        let rework = r
            .rework_comment
            .map(|c| json!({"comment": c, "reviewer": r.reviewer}));
        by_id.insert(
            r.id,
            json!({
                "item_id": r.id,
                "data": r.data,
                "metadata": r.metadata,
                "directory": r.directory,
                "rework": rework,
            }),
        );
    }
    // Rework opens with the annotator's own previous answer under the reviewer's comment (their
    // own label only: nobody else's, invariant 5).
    for (id, item) in by_id.iter_mut() {
        if item["rework"].is_null() {
            continue;
        }
        let on = reader_in(&mut reader, db).await;
        let previous = labels::last_own_value(on, task_id, *id, worker).await?;
        item["rework"]["previous"] = previous
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or(Value::Null);
    }
    // A video frame comes with what the worker's own answers on the video's other frames of
    // this task imply, whichever session or browser gave them: `prefill`, the boxes of tracks
    // with key frames on both sides (interpolated by the core), and `metadata.next_track`, the
    // first track id those frames leave free. Their own labels only (invariant 5).
    let mut videos: HashMap<i64, Vec<(u64, Vec<BoxShape>)>> = HashMap::new();
    for item in by_id.values_mut() {
        let (Some(video), Some(t)) = (
            item["metadata"]["video_item_id"].as_i64(),
            item["metadata"]["time_ms"].as_u64(),
        ) else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = videos.entry(video) {
            let on = reader_in(&mut reader, db).await;
            let own = frames::own_answers(on, task_id, worker, video).await?;
            let keys = own
                .into_iter()
                .filter_map(|(at, v)| match serde_json::from_str(&v).ok()? {
                    LabelValue::BoundingBox { boxes } => Some((at, boxes)),
                    _ => None,
                })
                .collect();
            slot.insert(keys);
        }
        let keys: Vec<(u64, &[BoxShape])> = videos[&video]
            .iter()
            .filter(|(at, _)| *at != t)
            .map(|(at, b)| (*at, b.as_slice()))
            .collect();
        let boxes = video::between(&keys, t);
        if !boxes.is_empty() {
            item["prefill"] = json!(LabelValue::BoundingBox { boxes });
        }
        item["metadata"]["next_track"] = json!(video::next_free(&keys));
    }
    // In the order the claim chose them.
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// The reader in `slot`, taken from `db` the first time one is needed.
async fn reader_in<'a>(
    slot: &'a mut Option<crate::sql::Reader>,
    db: &Db,
) -> &'a mut crate::sql::Reader {
    match slot {
        Some(reader) => reader,
        None => slot.insert(db.reader().await),
    }
}

async fn load_lease(tx: &mut Tx, lease_id: i64) -> ApiResult<Lease> {
    leases::get(tx, lease_id)
        .await?
        .ok_or_else(|| ApiError::not_found("lease"))
}

/// Extend a live lease by another lease period.
///
/// Who may call: the lease's holder.
#[utoipa::path(post, path = "/leases/{id}/renew", tag = "labeling",
    params(("id" = i64, Path, description = "The lease")),
    responses(
        (status = 200, description = "The lease's new expiry", body = Renewed),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not the lease's holder", body = ErrorBody),
        (status = 404, description = "No such lease", body = ErrorBody),
        (status = 409, description = "The lease has ended (`lease_expired`)", body = ErrorBody),
    ))]
pub async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    Path(lease_id): Path<i64>,
) -> ApiResult<Json<Renewed>> {
    let now = clock::now();
    let mut w = state.db.claim().await?;
    let mut lease = load_lease(&mut w, lease_id).await?;
    let task = tasks::in_claim(&mut w, lease.task.0).await?;
    lease
        .renew(WorkerId(caller.id), now, task.spec.lease_seconds)
        .map_err(|e| match e {
            quorum_core::lease::LeaseError::NotHolder => ApiError::forbidden(e.to_string()),
            quorum_core::lease::LeaseError::NotLive => {
                ApiError::conflict(e.to_string()).with_code(ErrorCode::LeaseExpired)
            }
        })?;
    // A sweep may not have run yet; a lease whose seats were already freed cannot come back.
    let held = seats::leased_by(&mut w, lease.task.0, lease.worker.0, lease_id).await?;
    if held.is_empty() {
        return Err(ApiError::conflict("the lease holds no items any more")
            .with_code(ErrorCode::LeaseExpired));
    }
    leases::extend(&mut w, lease_id, lease.expires_at.0).await?;
    w.commit().await?;
    Ok(Json(Renewed {
        lease_id,
        expires_at: lease.expires_at.0,
    }))
}

/// Ends a lease now and frees the seats it still holds.
pub async fn release_lease(tx: &mut Tx, lease: &Lease, now: i64) -> ApiResult<u64> {
    let task = tasks::in_claim(tx, lease.task.0).await?;
    let planned = task.spec.worker_strategy.is_planned();
    let released = claims::free(
        tx,
        task.id,
        planned,
        Freed::OfLease(lease.id.0),
        SeatState::Released,
    )
    .await?;
    leases::end(tx, lease.id.0, now).await?;
    Ok(released)
}

/// Give a lease's remaining items back.
///
/// Who may call: the lease's holder, or a manager of its task's project.
#[utoipa::path(post, path = "/leases/{id}/release", tag = "labeling",
    params(("id" = i64, Path, description = "The lease")),
    responses(
        (status = 200, description = "How many items went back", body = Released),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Neither the holder nor a manager", body = ErrorBody),
        (status = 404, description = "No such lease", body = ErrorBody),
    ))]
pub async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(lease_id): Path<i64>,
) -> ApiResult<Json<Released>> {
    let mut w = state.db.claim().await?;
    let lease = load_lease(&mut w, lease_id).await?;
    if lease.worker.0 != caller.id {
        let task = tasks::load(&state, lease.task.0).await?;
        super::auth::require_manager(&state, &caller, task.project_id).await?;
    }
    let released = release_lease(&mut w, &lease, clock::now().0).await?;
    w.commit().await?;
    Ok(Json(Released {
        lease_id,
        released_items: released,
    }))
}

/// Apply offline ops in order, each exactly once.
///
/// Who may call: any user (each op is checked against the caller's roles and leases). Each op
/// is committed before the next, and its answer is stored with it so a replay gets the same
/// answer and changes nothing (invariants 3 and 4); a refused op is `rejected` in its result,
/// not an error of the request.
#[utoipa::path(post, path = "/sync", tag = "labeling",
    request_body = super::labeling_types::SyncRequest,
    responses(
        (status = 200, description = "Each op's outcome", body = SyncReply),
        (status = 400, description = "Not a valid sync body, a bad op id or too many ops", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
    ))]
pub async fn sync(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    body: Result<RawBody, ApiError>,
) -> ApiResult<(StatusCode, Json<SyncReply>)> {
    let decoded = body.and_then(|RawBody(body)| {
        sync::decode_request(&body).map_err(|e| {
            ApiError::new(ErrorCode::from_core(e.code), e.message)
                .with_status(StatusCode::BAD_REQUEST)
        })
    });
    let ops = match decoded {
        Ok(ops) => ops,
        Err(e) => return Err(auth::unless_unknown(&state, &token, e).await),
    };
    let mut access: HashMap<i64, Result<tasks::Access, ApiError>> = HashMap::new();
    // The token is read with the first op's task, roles and stored answer: one statement, where
    // a label would otherwise start with two.
    let first = ops
        .first()
        .filter(|op| op.validate().is_ok())
        .and_then(|op| Some((op, task_of(op)?)));
    let (caller, mut first_prior) = match first {
        Some((op, task_id)) => {
            let (caller, context) =
                caller_and_context(&state, &token, task_id, Some(&op.client_op_id)).await?;
            let prior = context.prior.clone();
            access.insert(task_id, access_from(&caller, context));
            (caller, Some(prior))
        }
        None => (auth::caller_of(&state, &token).await?, None),
    };
    let mut results = Vec::with_capacity(ops.len());
    for op in &ops {
        let known = first_prior.take();
        let outcome = apply_once(&state, &caller, op, &mut access, known).await?;
        results.push(OpResult {
            client_op_id: op.client_op_id.clone(),
            outcome,
        });
    }
    Ok((StatusCode::OK, Json(SyncReply { results })))
}

fn rejected(code: ErrorCode, message: impl Into<String>) -> Outcome {
    Outcome::Rejected {
        code: code.as_str().into(),
        message: message.into(),
    }
}

/// The task an op acts on (a release names only its lease).
fn task_of(op: &Op) -> Option<i64> {
    match &op.action {
        Action::Submit { task_id, .. }
        | Action::Revise { task_id, .. }
        | Action::Skip { task_id, .. }
        | Action::Review { task_id, .. } => Some(task_id.0),
        Action::Release { .. } => None,
    }
}

/// Applies `op` unless it was applied before. `known` is the op's stored answer when the
/// request read it already (`None`: not read yet).
async fn apply_once(
    state: &AppState,
    caller: &Caller,
    op: &Op,
    access: &mut HashMap<i64, Result<tasks::Access, ApiError>>,
    known: Option<Option<String>>,
) -> ApiResult<Outcome> {
    if let Err(e) = op.validate() {
        return Ok(rejected(ErrorCode::from_core(e.code), e.message));
    }
    let task_id = task_of(op);
    // The op's stored answer, read with the task and the caller's roles when the op names a
    // task this request has not seen yet: one statement, not three.
    let prior = match (known, task_id) {
        (Some(prior), _) => prior,
        (None, Some(task_id)) if !access.contains_key(&task_id) => {
            let who = ops::Who::User(caller.id);
            let context = ops::context(
                &mut state.db.reader().await,
                who,
                task_id,
                Some(&op.client_op_id),
            )
            .await?;
            let prior = context.prior.clone();
            access.insert(task_id, access_from(caller, context));
            prior
        }
        (None, _) => ops::stored(&mut state.db.reader().await, caller.id, &op.client_op_id).await?,
    };
    if let Some(prior) = prior {
        return Ok(replayed(&prior));
    }
    if let Some(task_id) = task_id {
        let allowed = match (&access[&task_id], &op.action) {
            (Err(e), _) => Err((e.code, e.message.clone())),
            (Ok(a), Action::Review { .. }) if !(a.reviewer || a.manager) => Err((
                ErrorCode::Forbidden,
                "only the task's reviewers review it".to_owned(),
            )),
            (Ok(a), Action::Submit { .. } | Action::Revise { .. } | Action::Skip { .. })
                if !a.annotator =>
            {
                Err((
                    ErrorCode::Forbidden,
                    "only the task's annotators label it".to_owned(),
                ))
            }
            _ => Ok(()),
        };
        if let Err((code, message)) = allowed {
            return Ok(rejected(code, message));
        }
    }
    let now = clock::now().0;
    if let Action::Submit {
        task_id, item_id, ..
    } = &op.action
    {
        // The task as the access check read it a moment ago: one read less per label.
        let known = access
            .get(&task_id.0)
            .and_then(|a| a.as_ref().ok())
            .map(|a| &a.task);
        if let (Some(task), Some(groups)) = (known, state.label_groups()) {
            return groups.label(caller, op, *item_id, task, now).await;
        }
        return label_alone(&state.db, caller, op, known, now).await;
    }
    let mut w = state.db.claim().await?;
    // The other ops' answers are stored below, with their effects.
    let outcome = match &op.action {
        Action::Submit { .. } => return Err(ApiError::internal("a label took another op's path")),
        Action::Revise {
            task_id,
            item_id,
            lease_id,
            value,
        } => {
            revise(
                &mut w, caller, op, *task_id, *item_id, *lease_id, value, now,
            )
            .await?
        }
        Action::Skip {
            task_id, item_id, ..
        } => skip(&mut w, caller, *task_id, *item_id).await?,
        Action::Release { lease_id } => match load_lease(&mut w, lease_id.0).await {
            Ok(lease) if lease.worker.0 == caller.id => {
                release_lease(&mut w, &lease, now).await?;
                Outcome::Applied { late: false }
            }
            Ok(_) => rejected(ErrorCode::Forbidden, "the lease belongs to another worker"),
            Err(e) => rejected(e.code, e.message),
        },
        Action::Review {
            task_id,
            item_id,
            decision,
            comment,
            value,
        } => {
            let task = tasks::in_claim(&mut w, task_id.0).await?;
            let who = review::Decider {
                id: caller.id,
                manager: matches!(access.get(&task_id.0), Some(Ok(a)) if a.manager),
                step: None,
            };
            match review::decide(
                &mut w,
                &task,
                who,
                *item_id,
                *decision,
                comment.as_deref(),
                value.as_ref(),
                now,
            )
            .await
            {
                Ok(()) => Outcome::Applied { late: false },
                Err(e) => rejected(e.code, e.message),
            }
        }
    };
    // The answer is stored with the effect. Another request may have applied the same op while
    // this one waited for the writer: then the insert finds its answer, and this copy is undone.
    let text = serde_json::to_string(&outcome)?;
    let stored = ops::store(&mut w, &answer(caller, op, &text, now)).await?;
    finish(w, &state.db, caller, op, stored.then_some(outcome)).await
}

/// Commits an op's claim when its answer was stored with it (`applied`), or else undoes it and
/// answers as the request that stored the answer first did.
async fn finish(
    w: Tx,
    db: &Db,
    caller: &Caller,
    op: &Op,
    applied: Option<Outcome>,
) -> ApiResult<Outcome> {
    match applied {
        Some(outcome) => {
            w.commit().await?;
            Ok(outcome)
        }
        None => {
            w.rollback().await?;
            // The conflicting answer is committed (the insert waited for it), so it is there.
            stored_outcome(db, caller, op).await?.ok_or_else(|| {
                ApiError::conflict("the op is being applied by another request; retry")
            })
        }
    }
}

/// A label op in a claim of its own.
pub(super) async fn label_alone(
    db: &Db,
    caller: &Caller,
    op: &Op,
    known: Option<&TaskRecord>,
    now: i64,
) -> ApiResult<Outcome> {
    let mut w = db.claim().await?;
    let applied = label_in(&mut w, caller, op, known, now).await?;
    finish(w, db, caller, op, applied).await
}

/// Applies a label op in `w` and stores its answer with it: the answer, or `None` when another
/// request stored the op's answer first (then `w` must be undone).
pub(super) async fn label_in(
    w: &mut Tx,
    caller: &Caller,
    op: &Op,
    known: Option<&TaskRecord>,
    now: i64,
) -> ApiResult<Option<Outcome>> {
    let label = label_of(op)?;
    // A label stores its answer with its own writes; a refusal's answer is stored here.
    let (outcome, stored) = submit(w, caller, op, known, label, now).await?;
    let stored = match stored {
        Some(stored) => stored,
        None => {
            let text = serde_json::to_string(&outcome)?;
            ops::store(w, &answer(caller, op, &text, now)).await?
        }
    };
    Ok(stored.then_some(outcome))
}

/// What a label op says; an error for any other op.
pub(super) fn label_of(op: &Op) -> ApiResult<Label<'_>> {
    let Action::Submit {
        task_id,
        item_id,
        lease_id,
        value,
        duration_ms,
    } = &op.action
    else {
        return Err(ApiError::internal("not a label op"));
    };
    Ok(Label {
        task_id: *task_id,
        item: *item_id,
        lease_id: *lease_id,
        value,
        duration_ms: *duration_ms,
    })
}

/// The answer already stored for `op`, as a replay sees it; `None` for a new op.
pub(super) async fn stored_outcome(
    db: &Db,
    caller: &Caller,
    op: &Op,
) -> ApiResult<Option<Outcome>> {
    let prior = ops::stored(&mut db.reader().await, caller.id, &op.client_op_id).await?;
    Ok(prior.as_deref().map(replayed))
}

/// `op`'s answer as stored.
pub(super) fn answer<'a>(
    caller: &Caller,
    op: &'a Op,
    outcome: &'a str,
    now: i64,
) -> ops::Answer<'a> {
    ops::Answer {
        user_id: caller.id,
        client_op_id: &op.client_op_id,
        outcome,
        at: now,
    }
}

/// How the caller stands towards the task `context` read (404 without one).
fn access_from(caller: &Caller, context: ops::Context) -> ApiResult<tasks::Access> {
    let task = context.task.ok_or_else(|| ApiError::not_found("task"))?;
    let roles = if caller.is_admin {
        Roles::all()
    } else {
        context.roles
    };
    tasks::access_as(task, roles, caller)
}

/// The caller a token names, read with the task, the caller's roles and the op's stored answer
/// (see [`ops::context`]): one statement where a request would otherwise start with two. 401
/// for an unknown or revoked token.
async fn caller_and_context(
    state: &AppState,
    token: &str,
    task_id: i64,
    client_op_id: Option<&str>,
) -> ApiResult<(Caller, ops::Context)> {
    let who = ops::Who::Token(token);
    let context = ops::context(&mut state.db.reader().await, who, task_id, client_op_id).await?;
    Ok((auth::caller_from(context.caller.clone())?, context))
}

/// The answer to a replayed op: applied before means `duplicate`; a refusal stays a refusal.
fn replayed(prior: &str) -> Outcome {
    match serde_json::from_str::<Outcome>(prior) {
        Ok(r @ Outcome::Rejected { .. }) => r,
        _ => Outcome::Duplicate,
    }
}

/// What a label op says.
#[derive(Clone, Copy)]
pub(super) struct Label<'a> {
    pub task_id: TaskId,
    pub item: ItemId,
    pub lease_id: LeaseId,
    pub value: &'a LabelValue,
    pub duration_ms: Option<u32>,
}

/// Times a label is checked again against a task whose schema changed while it waited.
const SCHEMA_TRIES: usize = 3;

/// A label; its answer and, once applied, whether the answer was stored with it (false: another
/// request stored the op's answer first). It is checked against the task as `known` (or a read
/// here) has it, and stored only if the task's schema is still that one: otherwise the task is
/// read again and the label checked again (it may no longer fit).
async fn submit(
    tx: &mut Tx,
    caller: &Caller,
    op: &Op,
    known: Option<&TaskRecord>,
    label: Label<'_>,
    now: i64,
) -> ApiResult<(Outcome, Option<bool>)> {
    let mut task = match known {
        Some(task) => Cow::Borrowed(task),
        None => Cow::Owned(tasks::in_claim(tx, label.task_id.0).await?),
    };
    for _ in 0..SCHEMA_TRIES {
        match submit_to(tx, caller, op, &task, label, now).await? {
            Submitted::Answered(outcome, stored) => return Ok((outcome, stored)),
            Submitted::TaskChanged => {
                task = Cow::Owned(tasks::in_claim(tx, label.task_id.0).await?);
            }
        }
    }
    // Not an answer to store: sent again, the op is checked against the schema as it is then.
    Err(ApiError::conflict(
        "the task's schema changed again and again while this label waited: send it again",
    ))
}

/// What [`submit_to`] did with a label.
enum Submitted {
    /// The label's answer and whether it was stored with it (`None`: a refusal, not stored).
    Answered(Outcome, Option<bool>),
    /// Nothing written: the task was archived or its schema changed since it was read.
    TaskChanged,
}

/// [`submit`] against `task` as read.
async fn submit_to(
    tx: &mut Tx,
    caller: &Caller,
    op: &Op,
    task: &TaskRecord,
    label: Label<'_>,
    now: i64,
) -> ApiResult<Submitted> {
    let Label {
        task_id,
        item,
        lease_id,
        value,
        ..
    } = label;
    let refused = |outcome: Outcome| Ok(Submitted::Answered(outcome, None));
    if task.status == TaskStatus::Archived {
        return refused(archived());
    }
    if let Some(refusal) = check_value(tx, task, item, value).await? {
        return refused(refusal);
    }
    // Labels on one item take turns on its rows; labels on other items go on side by side.
    let seat = seats::for_label(tx, task_id.0, item.0, caller.id, lease_id.0).await?;
    let Some(seat) = seat else {
        return refused(no_seat(tx, task_id, item, caller.id).await?);
    };
    let standing = match standing(&seat, task, lease_id, now) {
        Ok(standing) => standing,
        Err(refusal) => return refused(refusal),
    };
    let outcome = standing.outcome();
    let stored_outcome = serde_json::to_string(&outcome)?;
    let text = (serde_json::to_string(value)?, value.consensus_key());
    let label = label_as_it_stands(caller, op, task, label, standing, &text, now);
    let stored = labels::submit(tx, &label, &answer(caller, op, &stored_outcome, now)).await?;
    if !stored.open {
        return Ok(Submitted::TaskChanged);
    }
    if !stored.answer {
        return Ok(Submitted::Answered(outcome, Some(false)));
    }
    let route = review::Reroute {
        current: seat.item_state,
        covered_delta: standing.covered_delta,
        votes: stored.votes,
    };
    review::reroute(tx, task, item, route, now).await?;
    Ok(Submitted::Answered(outcome, Some(true)))
}

/// How a label stands once its seat is read: late or on time, counted toward the item's
/// overlap or not, and how far the item's seat count moves.
#[derive(Debug, Clone, Copy)]
pub(super) struct LabelStanding {
    pub late: bool,
    pub counted: bool,
    pub covered_delta: i64,
}

impl LabelStanding {
    /// The label's answer once applied.
    pub fn outcome(&self) -> Outcome {
        Outcome::Applied { late: self.late }
    }
}

/// How a label on `seat` (as read, locked) stands at `now`, or the refusal it gets: the lease
/// the op named is its fencing token and must be one of the worker's own leases on the task
/// (an expired one makes the label late, not wrong); a seat already labeled or skipped refuses.
pub(super) fn standing(
    seat: &seats::LabelSeat,
    task: &TaskRecord,
    lease_id: LeaseId,
    now: i64,
) -> Result<LabelStanding, Outcome> {
    if !seat.own_lease {
        return Err(wrong_lease(lease_id, TaskId(task.id)));
    }
    let live = seat.lease.as_ref().is_some_and(|l| l.is_live(Millis(now)));
    let (timeliness, freed) = match seat.state {
        SeatState::Leased if live => (Timeliness::OnTime, 0),
        // Its lease ended but no sweep has freed the seat yet: free it here.
        SeatState::Leased => (Timeliness::Late, 1),
        SeatState::Assigned | SeatState::Rework | SeatState::Expired | SeatState::Released => {
            (Timeliness::Late, 0)
        }
        SeatState::Submitted => {
            return Err(rejected(
                ErrorCode::AlreadySubmitted,
                "you already labeled this item",
            ))
        }
        SeatState::Skipped => return Err(rejected(ErrorCode::Skipped, "you skipped this item")),
    };
    let covered = seat.covered - freed;
    let counted = match timeliness {
        Timeliness::OnTime => true,
        Timeliness::Late => {
            counts_toward_overlap(timeliness, covered.max(0) as u16, task.overlap as u16)
        }
    };
    let covered_delta = if timeliness == Timeliness::OnTime {
        0
    } else {
        counted as i64 - freed
    };
    Ok(LabelStanding {
        late: timeliness == Timeliness::Late,
        counted,
        covered_delta,
    })
}

/// The caller's label for `op` as it stands (late or on time, counted or not), with its
/// answer as (JSON, consensus key): what a first label stores, alone or in a group.
pub(super) fn label_as_it_stands<'a>(
    caller: &Caller,
    op: &'a Op,
    task: &TaskRecord,
    label: Label<'_>,
    standing: LabelStanding,
    text: &'a (String, String),
    now: i64,
) -> labels::NewLabel<'a> {
    labels::NewLabel {
        late: standing.late,
        counted: standing.counted,
        duration_ms: label.duration_ms.map(i64::from),
        ..new_label(caller, op, (task, label.item, label.lease_id), text, now)
    }
}

/// The answer to work on an archived task.
pub(super) fn archived() -> Outcome {
    rejected(ErrorCode::TaskClosed, "the task is archived")
}

/// The caller's label for `op` at (task, item, lease), its answer as (JSON, consensus key):
/// on time, counted, no duration, until the caller says otherwise.
pub(super) fn new_label<'a>(
    caller: &Caller,
    op: &'a Op,
    (task, item, lease_id): (&TaskRecord, ItemId, LeaseId),
    (value, consensus_key): &'a (String, String),
    now: i64,
) -> labels::NewLabel<'a> {
    labels::NewLabel {
        schema_version: task.schema_version,
        task_id: task.id,
        item_id: item.0,
        worker_id: caller.id,
        lease_id: lease_id.0,
        value,
        consensus_key,
        late: false,
        counted: true,
        duration_ms: None,
        client_op_id: &op.client_op_id,
        at: now,
    }
}

/// The answer to a label for which the seat and item read found nothing: no seat of the
/// caller's, or the item left the task.
pub(super) async fn no_seat(
    tx: &mut Tx,
    task_id: TaskId,
    item: ItemId,
    worker: i64,
) -> ApiResult<Outcome> {
    Ok(
        match seats::state_of(tx, task_id.0, item.0, worker).await? {
            Some(_) => rejected(ErrorCode::NotInTask, "the item was removed from the task"),
            None => rejected(
                ErrorCode::NotLeased,
                "this item was not handed to you in this task",
            ),
        },
    )
}

/// Why an answer cannot be stored on `item`, if it cannot: the task's schema, and shapes inside
/// the item's image. A first answer and a revised one follow the same rule.
pub(super) async fn check_value(
    tx: &mut Tx,
    task: &tasks::TaskRecord,
    item: ItemId,
    value: &quorum_core::label::LabelValue,
) -> ApiResult<Option<Outcome>> {
    let image = super::items::image_size(tx, item.0, value).await?;
    Ok(task
        .spec
        .schema
        .validate_value_in(value, image)
        .err()
        .map(|e| rejected(ErrorCode::InvalidLabel, e.to_string())))
}

/// The answer to an op naming a lease that is not one of the worker's own on the task: the
/// lease id is stored with the label as its fencing token (an expired own lease still makes a
/// label late, not wrong).
fn wrong_lease(lease_id: LeaseId, task_id: TaskId) -> Outcome {
    rejected(
        ErrorCode::WrongLease,
        format!(
            "lease {} is not one of your leases on task {}: send the lease_id of the batch \
             that gave you the item",
            lease_id.0, task_id.0
        ),
    )
}

/// Replaces the caller's own answer to an item while its lease is live and no reviewer has
/// decided on it: the old answer stays in the history, inactive; the new one keeps its standing
/// (late, counted toward overlap) and the item's result is worked out again.
#[allow(clippy::too_many_arguments)]
async fn revise(
    tx: &mut Tx,
    caller: &Caller,
    op: &Op,
    task_id: TaskId,
    item: ItemId,
    lease_id: LeaseId,
    value: &quorum_core::label::LabelValue,
    now: i64,
) -> ApiResult<Outcome> {
    let task = tasks::in_claim(tx, task_id.0).await?;
    if task.status == TaskStatus::Archived {
        return Ok(archived());
    }
    if let Some(refused) = check_value(tx, &task, item, value).await? {
        return Ok(refused);
    }
    // Locked as in `submit`: labels on one item take turns.
    let Some(seat) = seats::for_label(tx, task_id.0, item.0, caller.id, lease_id.0).await? else {
        return no_seat(tx, task_id, item, caller.id).await;
    };
    if !seat.own_lease {
        return Ok(wrong_lease(lease_id, task_id));
    }
    let prior = labels::active_own(&mut *tx, task_id.0, item.0, caller.id).await?;
    let (Some(prior), SeatState::Submitted) = (prior, seat.state) else {
        return Ok(rejected(
            ErrorCode::NotSubmitted,
            "there is no answer of yours on this item to change",
        ));
    };
    if !seat.lease.as_ref().is_some_and(|l| l.is_live(Millis(now))) {
        return Ok(rejected(
            ErrorCode::LeaseExpired,
            "the lease has ended: this answer can no longer be changed",
        ));
    }
    // A reviewer's decision stands; a result worked out from the labels alone is worked out
    // again from the new answer.
    let item_state = match seat.item_state {
        ResultState::Approved | ResultState::Rejected => {
            return Ok(rejected(
                ErrorCode::AlreadyReviewed,
                "a reviewer already decided on this item",
            ))
        }
        ResultState::AutoApproved => ResultState::Pending,
        other => other,
    };
    let text = (serde_json::to_string(value)?, value.consensus_key());
    let label = labels::NewLabel {
        late: prior.late,
        counted: prior.counted,
        ..new_label(caller, op, (&task, item, lease_id), &text, now)
    };
    if !labels::replace(tx, prior.id, &label).await? {
        return Ok(archived());
    }
    let route = review::Reroute {
        current: item_state,
        covered_delta: 0,
        votes: None,
    };
    review::reroute(tx, &task, item, route, now).await?;
    // `reroute` counts a new label; a revision replaces one, so the count stays.
    labels::uncount(tx, task_id.0, item.0).await?;
    Ok(Outcome::Applied { late: false })
}

async fn skip(tx: &mut Tx, caller: &Caller, task_id: TaskId, item: ItemId) -> ApiResult<Outcome> {
    if tasks::in_claim(tx, task_id.0).await?.status == TaskStatus::Archived {
        return Ok(archived());
    }
    let seat = seats::state_locked(tx, task_id.0, item.0, caller.id).await?;
    // Read again: the lock may have waited for an archive, which marks the task first.
    if crate::store::tasks::archived(&mut *tx, task_id.0).await? {
        return Ok(archived());
    }
    match seat {
        Some(SeatState::Leased) => claims::uncover(tx, task_id.0, &[item.0]).await?,
        Some(
            SeatState::Assigned | SeatState::Rework | SeatState::Expired | SeatState::Released,
        ) => {}
        Some(SeatState::Skipped) => return Ok(Outcome::Applied { late: false }),
        Some(other @ SeatState::Submitted) => {
            return Ok(rejected(
                ErrorCode::NotLeased,
                format!("the item is {other}"),
            ))
        }
        // No seat, or the item left the task.
        None => return no_seat(tx, task_id, item, caller.id).await,
    }
    seats::skip(tx, task_id.0, item.0, caller.id).await?;
    Ok(Outcome::Applied { late: false })
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(lease_batch, renew, release, sync))]
pub(crate) struct Doc;
