//! Annotators' side: leasing batches, renewing and releasing leases, and `/sync`, which applies
//! offline-made ops in order, each exactly once.
//!
//! Seat accounting (invariant 1): `task_items.covered` counts seats held by leases that have not
//! been swept plus annotations that count toward overlap. Every change to it happens in a write
//! transaction holding the item's row (on PostgreSQL; SQLite has one writer), and a batch is
//! only cut from items whose row, as locked, has `covered < overlap`, so overlap is never
//! exceeded however many servers hand out work. Nothing locks the task's row: claims and labels
//! on different items of one task run side by side.
//!
//! Honeypots: with a `honeypot_rate`, a task's gold items leave its ordinary queue and reach
//! workers only through the core's `pull::fill_batch`, which decides how many a batch carries
//! and where (at seeded places in the worker's stream, never a fixed period); they are claimed
//! like any item (same seat, same overlap check), so they keep invariants 1 and 2 and look like
//! any item in the batch (invariant 5). A worker who has not passed the task's qualification
//! gates gets no batch at all (`not_qualified`).

use super::auth::Caller;
use super::error::{ApiError, ApiResult, ErrorCode, Path, RawBody};
use super::labeling_types::{Batch, BatchBody, Released, Renewed, SyncReply};
use super::review;
use super::tasks::{self, TaskRecord};
use super::AppState;
use crate::clock;
use crate::db::json_col;
use crate::sql::{self, Tx};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use quorum_core::ids::{ItemId, LeaseId, Priority, TaskId, WorkerId};
use quorum_core::label::{BoxShape, LabelValue};
use quorum_core::lease::{counts_toward_overlap, Lease, Timeliness};
use quorum_core::lifecycle::TaskStatus;
use quorum_core::pull::{self, Candidate, PullRules};
use quorum_core::strategy::{WorkerStrategy, DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE};
use quorum_core::sync::{self, Action, Op, OpResult, Outcome};
use quorum_core::video;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Returns swept seats of expired leases to where they came from and frees their overlap.
/// Planned seats go back to their worker, rework back to its annotator, pulled seats expire.
async fn sweep_expired(tx: &mut Tx, task: &TaskRecord, now: i64) -> Result<(), sqlx::Error> {
    free_seats(
        tx,
        task,
        // Per live seat, through the lease's key: never a scan of the task's past leases.
        "EXISTS (SELECT 1 FROM leases l WHERE l.id = seats.lease_id AND l.expires_at <= $2)",
        now,
        "expired",
    )
    .await
    .map(|_| ())
}

/// Moves `leased` seats matching `which` (SQL over `$1` = task, `$2` = a number) back, and
/// frees the overlap they held. The seats' update says which it changed: on PostgreSQL two
/// claims may sweep the same expired seats at once, and only the one whose update changed a
/// seat gives its overlap back (the other waits for the seat's row, then finds it freed).
async fn free_seats(
    tx: &mut Tx,
    task: &TaskRecord,
    which: &str,
    arg: i64,
    pulled_state: &str,
) -> Result<u64, sqlx::Error> {
    let planned = task.spec.worker_strategy.is_planned() as i64;
    let sql = format!(
        "UPDATE seats SET state = CASE WHEN rework_comment IS NOT NULL THEN 'rework' \
         WHEN $3 = 1 THEN 'assigned' ELSE $4 END, lease_id = NULL \
         WHERE task_id = $1 AND state = 'leased' AND {which} RETURNING item_id"
    );
    let items: Vec<i64> = sql::query_scalar(&sql)
        .bind(task.id)
        .bind(arg)
        .bind(planned)
        .bind(pulled_state)
        .fetch_all(tx)
        .await?;
    uncover(tx, task.id, &items).await?;
    Ok(items.len() as u64)
}

/// Gives back one seat of overlap per entry of `items` (an item listed twice had two seats).
async fn uncover(tx: &mut Tx, task_id: i64, items: &[i64]) -> Result<(), sqlx::Error> {
    let mut counts: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for item in items {
        *counts.entry(*item).or_default() += 1;
    }
    // One statement per multiplicity (nearly always just one: each item once).
    let mut by_count: std::collections::BTreeMap<i64, Vec<i64>> = std::collections::BTreeMap::new();
    for (item, n) in counts {
        by_count.entry(n).or_default().push(item);
    }
    for (n, items) in by_count {
        sql::query(format!(
            "UPDATE task_items SET covered = covered - $2 WHERE task_id = $1 AND item_id IN ({})",
            sql::params(3, items.len())
        ))
        .bind(task_id)
        .bind(n)
        .bind_all(&items)
        .execute(tx)
        .await?;
    }
    Ok(())
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
    caller: Caller,
    Path(task_id): Path<i64>,
    RawBody(body): RawBody,
) -> ApiResult<Json<Batch>> {
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
    let access = tasks::access(&state, &caller, task_id).await?;
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
    let held = held_seats(&mut w, task_id, caller.id).await?;
    let want = pull::capacity(&rules, held.len() as u32) as i64;
    let mut picked: Vec<i64> = Vec::new();
    if want > 0 {
        // The caller's own seats first: rework sent back by a reviewer, then planned items.
        picked = sql::query_scalar(
            "SELECT s.item_id FROM seats s JOIN task_items ti ON ti.task_id = s.task_id AND ti.item_id = s.item_id \
             WHERE s.task_id = $1 AND s.worker_id = $2 AND s.state IN ('assigned', 'rework') \
             ORDER BY CASE WHEN s.state = 'rework' THEN 0 ELSE 1 END, ti.priority DESC, ti.order_key, ti.item_id LIMIT $3",
        )
        .bind(task_id)
        .bind(caller.id)
        .bind(want)
        .fetch_all(&mut w)
        .await?;
    }
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
            && !candidates(
                &mut w,
                &task,
                caller.id,
                task.spec.honeypot_rate > 0.0,
                false,
                1,
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
            let items = batch_items(&mut w, task_id, caller.id, &held_items).await?;
            w.commit().await?;
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
    let lease_id: i64 = sql::query_scalar(
        "INSERT INTO leases (task_id, worker_id, issued_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(task_id)
    .bind(caller.id)
    .bind(now.0)
    .bind(lease.expires_at.0)
    .fetch_one(&mut w)
    .await?;
    // Whole-batch statements: a lease costs the same few round trips for 1 item or 100, and
    // their text depends only on the batch's size, so they stay prepared.
    let (mine, fresh): (Vec<i64>, Vec<i64>) = picked.iter().partition(|i| own.contains(i));
    if !mine.is_empty() {
        sql::query(format!(
            "UPDATE seats SET state = 'leased', lease_id = $1 WHERE task_id = $2 AND worker_id = $3 \
             AND item_id IN ({})",
            sql::params(4, mine.len())
        ))
        .bind(lease_id)
        .bind(task_id)
        .bind(caller.id)
        .bind_all(&mine)
        .execute(&mut w)
        .await?;
    }
    if !fresh.is_empty() {
        // The primary key (task, item, worker) makes a second hand-out impossible (invariant 2).
        let rows: Vec<String> = (0..fresh.len())
            .map(|i| format!("($1, ${}, $2, $3, 'leased')", i + 4))
            .collect();
        sql::query(format!(
            "INSERT INTO seats (task_id, item_id, worker_id, lease_id, state) VALUES {}",
            rows.join(", ")
        ))
        .bind(task_id)
        .bind(caller.id)
        .bind(lease_id)
        .bind_all(&fresh)
        .execute(&mut w)
        .await?;
    }
    if !picked.is_empty() {
        sql::query(format!(
            "UPDATE task_items SET covered = covered + 1 WHERE task_id = $1 AND item_id IN ({})",
            sql::params(2, picked.len())
        ))
        .bind(task_id)
        .bind_all(&picked)
        .execute(&mut w)
        .await?;
    }
    if !held.is_empty() {
        // The held seats join the new lease, so one batch is one lease with one expiry (their
        // overlap is already counted). Labels name the old lease id harmlessly: a submission
        // is matched to its seat, and the lease id only fences expiry.
        sql::query(
            "UPDATE seats SET lease_id = $1 WHERE task_id = $2 AND worker_id = $3 AND state = 'leased'",
        )
        .bind(lease_id)
        .bind(task_id)
        .bind(caller.id)
        .execute(&mut w)
        .await?;
    }
    if task.status == TaskStatus::Open {
        // Conditional: concurrent first leases each read `open` (claims do not lock the task).
        sql::query("UPDATE tasks SET status = 'in_progress' WHERE id = $1 AND status = 'open'")
            .bind(task_id)
            .execute(&mut w)
            .await?;
    }
    let all: Vec<i64> = held_items.iter().chain(&picked).copied().collect();
    let items = batch_items(&mut w, task_id, caller.id, &all).await?;
    w.commit().await?;
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
) -> Result<Vec<i64>, sqlx::Error> {
    let room = PullRules {
        batch_size: (want as usize - picked.len()) as u32,
        ..*rules
    };
    // With a honeypot rate, gold items leave the ordinary queue and come only as
    // honeypots, so the rate is the share the worker meets; without one they are ordinary.
    let rate = task.spec.honeypot_rate;
    let honeypots_on = rate > 0.0;
    let regular = candidates(
        tx,
        task,
        worker,
        honeypots_on,
        false,
        room.batch_size,
        Lock::Claim,
    )
    .await?;
    let (honeypots, history) = if honeypots_on {
        let history = honeypot_history(tx, task.id, worker).await?;
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
        let window = due.max(1) as u32;
        (
            candidates(tx, task, worker, true, true, window, Lock::Claim).await?,
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

/// The caller's leased seats in the task as (item, lease), in serving order.
async fn held_seats(
    tx: &mut Tx,
    task_id: i64,
    worker: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let rows = sql::query(
        "SELECT s.item_id, s.lease_id FROM seats s JOIN task_items ti ON ti.task_id = s.task_id AND ti.item_id = s.item_id \
         WHERE s.task_id = $1 AND s.worker_id = $2 AND s.state = 'leased' \
         ORDER BY ti.priority DESC, ti.order_key, ti.item_id",
    )
    .bind(task_id)
    .bind(worker)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("item_id")?, r.try_get("lease_id")?)))
        .collect()
}

/// Whether [`candidates`] claims the rows it reads.
#[derive(Clone, Copy)]
enum Lock {
    /// Locks them, passing over rows other claims hold (PostgreSQL).
    Claim,
    /// Only reads.
    None,
}

/// A window of the task's claimable items in serving order (at most `limit`): free seats the
/// worker never held. With `split_gold`, gold items are only honeypots (`gold` picks which
/// side); without it, every item is ordinary.
async fn candidates(
    tx: &mut Tx,
    task: &TaskRecord,
    worker: i64,
    split_gold: bool,
    gold: bool,
    limit: u32,
    lock: Lock,
) -> Result<Vec<Candidate>, sqlx::Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // The hot path (no honeypots) keeps the plain claim query, with nothing for a planner to
    // weigh; the gold test is added only when honeypots are on.
    let side = match (split_gold, gold) {
        (false, _) => "",
        (true, true) => {
            "AND EXISTS (SELECT 1 FROM items i WHERE i.id = ti.item_id AND i.gold IS NOT NULL)"
        }
        (true, false) => {
            "AND NOT EXISTS (SELECT 1 FROM items i WHERE i.id = ti.item_id AND i.gold IS NOT NULL)"
        }
    };
    // One ordered, limited scan per claimable state, not `state IN (...)`: with two states the
    // planner sorts every open item on each lease, so leases would slow down as tasks grow.
    // The core ranks the union.
    // On PostgreSQL the window's rows are locked as they are read, passing over rows another
    // claim holds: claims on one task take different items side by side, and the overlap
    // test (`covered < target`) is checked again on the row as locked, so it holds however
    // many servers hand out work.
    let lock = match lock {
        Lock::Claim => tx.claim_rows("ti"),
        Lock::None => String::new(),
    };
    let window = |state: &str| {
        format!(
            "SELECT * FROM (SELECT item_id, priority, order_key, covered, target FROM task_items ti \
             WHERE task_id = $1 AND state = '{state}' AND covered < COALESCE(target, $2) AND NOT EXISTS \
             (SELECT 1 FROM seats s WHERE s.task_id = $1 AND s.item_id = ti.item_id AND s.worker_id = $3) {side} \
             ORDER BY priority DESC, covered DESC, order_key, item_id LIMIT $4{lock}) w_{state}"
        )
    };
    let sql = format!("{} UNION ALL {}", window("pending"), window("rejected"));
    let rows = sql::query(&sql)
        .bind(task.id)
        .bind(task.overlap)
        .bind(worker)
        .bind(i64::from(limit))
        .fetch_all(tx)
        .await?;
    Ok(rows
        .iter()
        .map(|r| Candidate {
            item: ItemId(r.try_get("item_id").unwrap_or(0)),
            priority: Priority(r.try_get::<i64>("priority").unwrap_or(0) as i32),
            order_key: r.try_get("order_key").unwrap_or(0),
            covered: r.try_get::<i64>("covered").unwrap_or(0) as u16,
            wanted: r
                .try_get::<Option<i64>>("target")
                .ok()
                .flatten()
                .map(|t| t as u16),
        })
        .collect())
}

/// The worker's past in the task that honeypot mixing needs: seats ever held (one per item,
/// invariant 2), those on gold items, and leases taken.
async fn honeypot_history(
    tx: &mut Tx,
    task_id: i64,
    worker: i64,
) -> Result<pull::HoneypotHistory, sqlx::Error> {
    let r = sql::query(
        "SELECT (SELECT COUNT(*) FROM seats WHERE task_id = $1 AND worker_id = $2) AS served, \
         (SELECT COUNT(*) FROM seats s JOIN items i ON i.id = s.item_id WHERE s.task_id = $1 \
            AND s.worker_id = $2 AND i.gold IS NOT NULL) AS honeypots, \
         (SELECT COUNT(*) FROM leases WHERE task_id = $1 AND worker_id = $2) AS batches",
    )
    .bind(task_id)
    .bind(worker)
    .fetch_one(tx)
    .await?;
    Ok(pull::HoneypotHistory {
        served: r.try_get::<i64>("served")? as u64,
        honeypots: r.try_get::<i64>("honeypots")? as u64,
        batches: r.try_get::<i64>("batches")? as u64,
    })
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
/// gold answers or anyone else's labels (invariant 5).
async fn batch_items(tx: &mut Tx, task_id: i64, worker: i64, ids: &[i64]) -> ApiResult<Vec<Value>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One read for the batch.
    let rows = sql::query(format!(
        "SELECT i.id, i.data, i.metadata, i.directory, s.rework_comment, u.name AS reviewer FROM items i \
         JOIN seats s ON s.item_id = i.id AND s.task_id = $1 AND s.worker_id = $2 \
         LEFT JOIN users u ON u.id = s.rework_by WHERE i.id IN ({})",
        sql::params(3, ids.len())
    ))
    .bind(task_id)
    .bind(worker)
    .bind_all(ids)
    .fetch_all(tx)
    .await?;
    let mut by_id: HashMap<i64, Value> = HashMap::with_capacity(rows.len());
    for r in &rows {
        let id: i64 = r.try_get("id")?;
        let rework = r
            .try_get::<Option<String>>("rework_comment")?
            .map(|c| json!({"comment": c, "reviewer": r.try_get::<Option<String>>("reviewer").ok().flatten()}));
        by_id.insert(
            id,
            json!({
                "item_id": id,
                "data": json_col(r, "data"),
                "metadata": json_col(r, "metadata"),
                "directory": r.try_get::<String>("directory")?,
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
        let previous: Option<String> = sql::query_scalar(
            "SELECT value FROM annotations WHERE task_id = $1 AND item_id = $2 AND worker_id = $3 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(task_id)
        .bind(*id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
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
            let own = crate::store::frames::own_answers(&mut *tx, task_id, worker, video).await?;
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

async fn load_lease(tx: &mut Tx, lease_id: i64) -> ApiResult<Lease> {
    crate::store::leases::get(tx, lease_id)
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
    let held: Vec<i64> = sql::query_scalar(LEASED_SEATS)
        .bind(lease.task.0)
        .bind(lease.worker.0)
        .bind(lease_id)
        .fetch_all(&mut w)
        .await?;
    if held.is_empty() {
        return Err(ApiError::conflict("the lease holds no items any more")
            .with_code(ErrorCode::LeaseExpired));
    }
    sql::query("UPDATE leases SET expires_at = $1 WHERE id = $2")
        .bind(lease.expires_at.0)
        .bind(lease_id)
        .execute(&mut w)
        .await?;
    w.commit().await?;
    Ok(Json(Renewed {
        lease_id,
        expires_at: lease.expires_at.0,
    }))
}

/// The items a lease still holds, by its task, worker and id (the partial index of leased
/// seats, see migration 0006).
const LEASED_SEATS: &str = "SELECT item_id FROM seats WHERE task_id = $1 AND worker_id = $2 \
                            AND lease_id = $3 AND state = 'leased'";

/// Ends a lease now and frees the seats it still holds.
pub async fn release_lease(tx: &mut Tx, lease: &Lease, now: i64) -> ApiResult<u64> {
    let task = tasks::in_claim(tx, lease.task.0).await?;
    let released = free_seats(tx, &task, "lease_id = $2", lease.id.0, "released").await?;
    sql::query("UPDATE leases SET released_at = $1 WHERE id = $2 AND released_at IS NULL")
        .bind(now)
        .bind(lease.id.0)
        .execute(tx)
        .await?;
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
    caller: Caller,
    RawBody(body): RawBody,
) -> ApiResult<(StatusCode, Json<SyncReply>)> {
    let ops = sync::decode_request(&body).map_err(|e| {
        ApiError::new(ErrorCode::from_core(e.code), e.message).with_status(StatusCode::BAD_REQUEST)
    })?;
    let mut access: HashMap<i64, Result<tasks::Access, ApiError>> = HashMap::new();
    let mut results = Vec::with_capacity(ops.len());
    for op in &ops {
        let outcome = apply_once(&state, &caller, op, &mut access).await?;
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

async fn apply_once(
    state: &AppState,
    caller: &Caller,
    op: &Op,
    access: &mut HashMap<i64, Result<tasks::Access, ApiError>>,
) -> ApiResult<Outcome> {
    if let Err(e) = op.validate() {
        return Ok(rejected(ErrorCode::from_core(e.code), e.message));
    }
    if let Some(prior) = stored_outcome(state, caller, op).await? {
        return Ok(prior);
    }
    let task_id = match &op.action {
        Action::Submit { task_id, .. }
        | Action::Revise { task_id, .. }
        | Action::Skip { task_id, .. }
        | Action::Review { task_id, .. } => Some(task_id.0),
        Action::Release { .. } => None,
    };
    if let Some(task_id) = task_id {
        if let std::collections::hash_map::Entry::Vacant(slot) = access.entry(task_id) {
            slot.insert(tasks::access(state, caller, task_id).await);
        }
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
    let mut w = state.db.claim().await?;
    let outcome = match &op.action {
        Action::Submit {
            task_id,
            item_id,
            lease_id,
            value,
            duration_ms,
        } => {
            // The task as the access check read it a moment ago: one read less per label.
            let known = access
                .get(&task_id.0)
                .and_then(|a| a.as_ref().ok())
                .map(|a| &a.task);
            submit(
                &mut w,
                caller,
                op,
                known,
                *task_id,
                *item_id,
                *lease_id,
                value,
                *duration_ms,
                now,
            )
            .await?
        }
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
    let stored = sql::query(
        "INSERT INTO ops (user_id, client_op_id, outcome, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (user_id, client_op_id) DO NOTHING",
    )
    .bind(caller.id)
    .bind(&op.client_op_id)
    .bind(serde_json::to_string(&outcome)?)
    .bind(now)
    .execute(&mut w)
    .await?;
    if stored == 0 {
        w.rollback().await?;
        // The conflicting answer is committed (the insert waited for it), so it is there.
        return stored_outcome(state, caller, op).await?.ok_or_else(|| {
            ApiError::conflict("the op is being applied by another request; retry")
        });
    }
    w.commit().await?;
    Ok(outcome)
}

/// The answer already stored for `op`, as a replay sees it; `None` for a new op.
async fn stored_outcome(state: &AppState, caller: &Caller, op: &Op) -> ApiResult<Option<Outcome>> {
    let prior: Option<String> =
        sql::query_scalar("SELECT outcome FROM ops WHERE user_id = $1 AND client_op_id = $2")
            .bind(caller.id)
            .bind(&op.client_op_id)
            .fetch_optional(&mut state.db.reader().await)
            .await?;
    Ok(prior.as_deref().map(replayed))
}

/// The answer to a replayed op: applied before means `duplicate`; a refusal stays a refusal.
fn replayed(prior: &str) -> Outcome {
    match serde_json::from_str::<Outcome>(prior) {
        Ok(r @ Outcome::Rejected { .. }) => r,
        _ => Outcome::Duplicate,
    }
}

#[allow(clippy::too_many_arguments)]
async fn submit(
    tx: &mut Tx,
    caller: &Caller,
    op: &Op,
    known: Option<&TaskRecord>,
    task_id: TaskId,
    item: ItemId,
    lease_id: LeaseId,
    value: &quorum_core::label::LabelValue,
    duration_ms: Option<u32>,
    now: i64,
) -> ApiResult<Outcome> {
    let read;
    let task = match known {
        Some(task) => task,
        None => {
            read = tasks::in_claim(tx, task_id.0).await?;
            &read
        }
    };
    if task.status == TaskStatus::Archived {
        return Ok(rejected(ErrorCode::TaskClosed, "the task is archived"));
    }
    if let Some(refused) = check_value(tx, task, item, value).await? {
        return Ok(refused);
    }
    // The seat, its lease, the item's standing and whether the op's lease is the worker's own
    // in one read: this runs for every label. The seat's and the item's rows are locked as
    // they are read (PostgreSQL), so labels on one item take turns and each sees the labels
    // before it; labels on other items of the task go on at the same time.
    let seat = sql::query(format!(
        "SELECT s.state, l.expires_at, l.released_at, ti.covered, ti.state AS item_state, \
         own.id AS own_lease FROM seats s \
         JOIN task_items ti ON ti.task_id = s.task_id AND ti.item_id = s.item_id \
         LEFT JOIN leases l ON l.id = s.lease_id \
         LEFT JOIN leases own ON own.id = $4 AND own.task_id = s.task_id AND own.worker_id = s.worker_id \
         WHERE s.task_id = $1 AND s.item_id = $2 AND s.worker_id = $3{}",
        tx.lock_rows("s, ti")
    ))
    .bind(task_id.0)
    .bind(item.0)
    .bind(caller.id)
    .bind(lease_id.0)
    .fetch_optional(tx)
    .await?;
    let Some(seat) = seat else {
        return no_seat(tx, task_id, item, caller.id).await;
    };
    // The lease id is stored with the label as its fencing token: it must be one of the
    // worker's own leases on this task (an expired one still makes the label late, not wrong).
    if seat.try_get::<Option<i64>>("own_lease")?.is_none() {
        return Ok(wrong_lease(lease_id, task_id));
    }
    let seat_state: String = seat.try_get("state")?;
    let live = match (
        seat.try_get::<Option<i64>>("expires_at")?,
        seat.try_get::<Option<i64>>("released_at")?,
    ) {
        (Some(exp), None) => now < exp,
        _ => false,
    };
    let covered: i64 = seat.try_get("covered")?;
    let item_state: String = seat.try_get("item_state")?;
    let (timeliness, freed) = match seat_state.as_str() {
        "leased" if live => (Timeliness::OnTime, 0),
        // Its lease ended but no sweep has freed the seat yet: free it here.
        "leased" => (Timeliness::Late, 1),
        "assigned" | "rework" | "expired" | "released" => (Timeliness::Late, 0),
        "submitted" => {
            return Ok(rejected(
                ErrorCode::AlreadySubmitted,
                "you already labeled this item",
            ))
        }
        "skipped" => return Ok(rejected(ErrorCode::Skipped, "you skipped this item")),
        other => {
            return Ok(rejected(
                ErrorCode::NotLeased,
                format!("the item is {other}"),
            ))
        }
    };
    let covered = covered - freed;
    let counted = match timeliness {
        Timeliness::OnTime => true,
        Timeliness::Late => {
            counts_toward_overlap(timeliness, covered.max(0) as u16, task.overlap as u16)
        }
    };
    let delta = if timeliness == Timeliness::OnTime {
        0
    } else {
        counted as i64 - freed
    };
    let late = timeliness == Timeliness::Late;
    sql::query(
        "INSERT INTO annotations (task_id, item_id, worker_id, lease_id, value, consensus_key, late, counted, \
         duration_ms, client_op_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(task_id.0)
    .bind(item.0)
    .bind(caller.id)
    .bind(lease_id.0)
    .bind(serde_json::to_string(value)?)
    .bind(value.consensus_key())
    .bind(late as i64)
    .bind(counted as i64)
    .bind(duration_ms.map(i64::from))
    .bind(&op.client_op_id)
    .bind(now)
    .execute(tx)
    .await?;
    sql::query(
        "UPDATE seats SET state = 'submitted', rework_comment = NULL WHERE task_id = $1 AND item_id = $2 AND worker_id = $3",
    )
    .bind(task_id.0)
    .bind(item.0)
    .bind(caller.id)
    .execute(tx)
    .await?;
    review::reroute(tx, task, item, &item_state, delta, now).await?;
    Ok(Outcome::Applied { late })
}

/// The answer to a label for which the seat and item read found nothing: no seat of the
/// caller's, or the item left the task.
async fn no_seat(tx: &mut Tx, task_id: TaskId, item: ItemId, worker: i64) -> ApiResult<Outcome> {
    let seat: Option<i64> = sql::query_scalar(
        "SELECT 1 FROM seats WHERE task_id = $1 AND item_id = $2 AND worker_id = $3",
    )
    .bind(task_id.0)
    .bind(item.0)
    .bind(worker)
    .fetch_optional(tx)
    .await?;
    Ok(match seat {
        Some(_) => rejected(ErrorCode::NotInTask, "the item was removed from the task"),
        None => rejected(
            ErrorCode::NotLeased,
            "this item was not handed to you in this task",
        ),
    })
}

/// Why an answer cannot be stored on `item`, if it cannot: the task's schema, and shapes inside
/// the item's image. A first answer and a revised one follow the same rule.
async fn check_value(
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
        return Ok(rejected(ErrorCode::TaskClosed, "the task is archived"));
    }
    if let Some(refused) = check_value(tx, &task, item, value).await? {
        return Ok(refused);
    }
    // Locked as in `submit`: labels on one item take turns.
    let seat = sql::query(format!(
        "SELECT s.state, l.expires_at, l.released_at, ti.state AS item_state, own.id AS own_lease \
         FROM seats s \
         JOIN task_items ti ON ti.task_id = s.task_id AND ti.item_id = s.item_id \
         LEFT JOIN leases l ON l.id = s.lease_id \
         LEFT JOIN leases own ON own.id = $4 AND own.task_id = s.task_id AND own.worker_id = s.worker_id \
         WHERE s.task_id = $1 AND s.item_id = $2 AND s.worker_id = $3{}",
        tx.lock_rows("s, ti")
    ))
    .bind(task_id.0)
    .bind(item.0)
    .bind(caller.id)
    .bind(lease_id.0)
    .fetch_optional(tx)
    .await?;
    let Some(seat) = seat else {
        return no_seat(tx, task_id, item, caller.id).await;
    };
    if seat.try_get::<Option<i64>>("own_lease")?.is_none() {
        return Ok(wrong_lease(lease_id, task_id));
    }
    let prior = sql::query(
        "SELECT id, late, counted FROM annotations WHERE task_id = $1 AND item_id = $2 \
         AND worker_id = $3 AND active = 1 ORDER BY id DESC LIMIT 1",
    )
    .bind(task_id.0)
    .bind(item.0)
    .bind(caller.id)
    .fetch_optional(tx)
    .await?;
    let (Some(prior), "submitted") = (prior, seat.try_get::<String>("state")?.as_str()) else {
        return Ok(rejected(
            ErrorCode::NotSubmitted,
            "there is no answer of yours on this item to change",
        ));
    };
    let live = matches!(
        (seat.try_get::<Option<i64>>("expires_at")?, seat.try_get::<Option<i64>>("released_at")?),
        (Some(exp), None) if now < exp
    );
    if !live {
        return Ok(rejected(
            ErrorCode::LeaseExpired,
            "the lease has ended: this answer can no longer be changed",
        ));
    }
    let item_state: String = seat.try_get("item_state")?;
    // A reviewer's decision stands; a result worked out from the labels alone is worked out
    // again from the new answer.
    if matches!(item_state.as_str(), "approved" | "rejected") {
        return Ok(rejected(
            ErrorCode::AlreadyReviewed,
            "a reviewer already decided on this item",
        ));
    }
    let item_state = match item_state.as_str() {
        "auto_approved" => "pending".to_owned(),
        _ => item_state,
    };
    sql::query("UPDATE annotations SET active = 0 WHERE id = $1")
        .bind(prior.try_get::<i64>("id")?)
        .execute(tx)
        .await?;
    sql::query(
        "INSERT INTO annotations (task_id, item_id, worker_id, lease_id, value, consensus_key, late, counted, \
         client_op_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(task_id.0)
    .bind(item.0)
    .bind(caller.id)
    .bind(lease_id.0)
    .bind(serde_json::to_string(value)?)
    .bind(value.consensus_key())
    .bind(prior.try_get::<i64>("late")?)
    .bind(prior.try_get::<i64>("counted")?)
    .bind(&op.client_op_id)
    .bind(now)
    .execute(tx)
    .await?;
    review::reroute(tx, &task, item, &item_state, 0, now).await?;
    // `reroute` counts a new label; a revision replaces one, so the count stays.
    sql::query("UPDATE task_items SET labeled = labeled - 1 WHERE task_id = $1 AND item_id = $2")
        .bind(task_id.0)
        .bind(item.0)
        .execute(tx)
        .await?;
    Ok(Outcome::Applied { late: false })
}

async fn skip(tx: &mut Tx, caller: &Caller, task_id: TaskId, item: ItemId) -> ApiResult<Outcome> {
    tasks::in_claim(tx, task_id.0).await?;
    let seat_state: Option<String> = sql::query_scalar(format!(
        "SELECT state FROM seats WHERE task_id = $1 AND item_id = $2 AND worker_id = $3{}",
        tx.lock_rows("seats")
    ))
    .bind(task_id.0)
    .bind(item.0)
    .bind(caller.id)
    .fetch_optional(tx)
    .await?;
    match seat_state.as_deref() {
        Some("leased") => {
            sql::query(
                "UPDATE task_items SET covered = covered - 1 WHERE task_id = $1 AND item_id = $2",
            )
            .bind(task_id.0)
            .bind(item.0)
            .execute(tx)
            .await?;
        }
        Some("assigned" | "rework" | "expired" | "released") => {}
        Some("skipped") => return Ok(Outcome::Applied { late: false }),
        Some(other) => {
            return Ok(rejected(
                ErrorCode::NotLeased,
                format!("the item is {other}"),
            ))
        }
        None => {
            return Ok(rejected(
                ErrorCode::NotLeased,
                "this item was not handed to you in this task",
            ))
        }
    }
    sql::query(
        "UPDATE seats SET state = 'skipped' WHERE task_id = $1 AND item_id = $2 AND worker_id = $3",
    )
    .bind(task_id.0)
    .bind(item.0)
    .bind(caller.id)
    .execute(tx)
    .await?;
    Ok(Outcome::Applied { late: false })
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(lease_batch, renew, release, sync))]
pub(crate) struct Doc;
