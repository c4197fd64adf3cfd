//! Whole-task aggregation as a job: the core's EM methods (Dawid-Skene and friends) over every
//! counted label of a classification task, with the task's gold items as anchors. The online
//! path (`review::reroute`) keeps a cheap majority per item; this job revises it with a model of
//! each annotator's reliability, for results a reviewer has not fixed yet.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path};
use super::jobs::{self, JobOutput};
use super::tasks;
use super::AppState;
use crate::db::Db;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use quorum_core::consensus::{self, Answers, Gold, Method, DEFAULT_METHOD};
use quorum_core::label::{AnnotationType, LabelValue};
use quorum_core::task::TaskSpec;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::HashMap;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AggregateBody {
    /// A method name (`majority`, `dawid-skene`, …); the server's default when absent.
    method: Option<String>,
}

/// `POST /tasks/{id}/aggregate {"method"?}` (managers): starts the aggregation job.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Body(body): Body<AggregateBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let task = tasks::load(&state, task_id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    if !aggregates(&task.spec) {
        return Err(ApiError::validation(
            "only classification tasks aggregate by label; shape tasks are judged by IoU agreement",
        )
        .with_code(ErrorCode::AggregationUnsupported));
    }
    let method = match body.method.as_deref() {
        None => DEFAULT_METHOD,
        Some(name) => name.parse::<Method>().map_err(ApiError::validation)?,
    };
    let job = start(&state.db, task_id, task.project_id, method, Some(caller.id)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"job_id": job, "status": "in_progress"})),
    ))
}

fn aggregates(spec: &TaskSpec) -> bool {
    spec.schema.annotation_type == AnnotationType::Classification
}

/// Starts the job; `by` is None for the periodic sweep.
async fn start(
    db: &Db,
    task_id: i64,
    project_id: i64,
    method: Method,
    by: Option<i64>,
) -> Result<i64, sqlx::Error> {
    // Remember which labels this run covers, so the sweep knows when to run again.
    let mut w = db.write().await?;
    sqlx::query(&format!(
        "UPDATE tasks SET aggregated_at = {} WHERE id = $1",
        tasks::last_submitted("tasks")
    ))
    .bind(task_id)
    .execute(&mut *w.tx)
    .await?;
    w.commit().await?;
    jobs::spawn(
        db,
        "aggregate",
        project_id,
        by,
        json!({"task_id": task_id, "method": method.name()}),
        move |db, _job| async move { run(&db, task_id, method).await.map(Some) },
    )
    .await
}

/// The periodic part of online consensus: aggregates, with the default method, every running
/// classification task that received labels since its last aggregation. Each task is claimed
/// with a conditional update, so of several replicas sweeping at once only one runs it.
pub async fn sweep(db: &Db) -> anyhow::Result<u64> {
    let last = tasks::last_submitted("tasks");
    let due = sqlx::query(&format!(
        "SELECT id, project_id, spec FROM tasks WHERE status IN ('in_progress', 'completed') AND {last} IS NOT NULL \
         AND (aggregated_at IS NULL OR aggregated_at < {last}) ORDER BY id",
    ))
    .fetch_all(db.pool())
    .await?;
    let mut started = 0;
    for row in &due {
        let spec: TaskSpec = serde_json::from_str(&row.try_get::<String, _>("spec")?)?;
        let id: i64 = row.try_get("id")?;
        if !aggregates(&spec) {
            continue;
        }
        let mut w = db.write().await?;
        let claimed = sqlx::query(&format!(
            "UPDATE tasks SET aggregated_at = {last} WHERE id = $1 \
             AND (aggregated_at IS NULL OR aggregated_at < {last})",
        ))
        .bind(id)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.commit().await?;
        if claimed == 1 {
            start(db, id, row.try_get("project_id")?, DEFAULT_METHOD, None).await?;
            started += 1;
        }
    }
    Ok(started)
}

/// Aggregates the task and writes the revised results in one transaction.
async fn run(db: &Db, task_id: i64, method: Method) -> anyhow::Result<JobOutput> {
    let rows = sqlx::query(
        "SELECT item_id, worker_id, consensus_key, value FROM annotations \
         WHERE task_id = $1 AND active = 1 AND counted = 1 ORDER BY id",
    )
    .bind(task_id)
    .fetch_all(db.pool())
    .await?;
    let mut triples = Vec::with_capacity(rows.len());
    let mut values: HashMap<String, String> = HashMap::new();
    for r in &rows {
        let key: String = r.try_get("consensus_key")?;
        values
            .entry(key.clone())
            .or_insert(r.try_get::<String, _>("value")?);
        triples.push((
            r.try_get::<i64, _>("item_id")?.to_string(),
            r.try_get::<i64, _>("worker_id")?.to_string(),
            key,
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
    .fetch_all(db.pool())
    .await?;
    let schema = match gold_rows.first() {
        Some(r) => Some(
            serde_json::from_str::<quorum_core::task::TaskSpec>(&r.try_get::<String, _>("spec")?)?
                .schema,
        ),
        None => None,
    };
    let mut gold_pairs = Vec::new();
    for r in &gold_rows {
        let value: LabelValue = serde_json::from_str(&r.try_get::<String, _>("gold")?)?;
        // Gold that does not fit the task's schema anchors nothing (as in scores).
        if schema
            .as_ref()
            .is_some_and(|s| s.validate_value(&value).is_err())
        {
            continue;
        }
        gold_pairs.push((
            r.try_get::<i64, _>("id")?.to_string(),
            value.consensus_key(),
        ));
    }
    let gold = Gold::new(
        &answers,
        gold_pairs.iter().map(|(i, l)| (i.as_str(), l.as_str())),
    );
    let gold = (!gold.is_empty()).then_some(&gold);
    let agg = consensus::aggregate(&answers, method, gold)?;

    let mut w = db.write().await?;
    let mut changed = 0u64;
    for i in 0..answers.n_items() {
        let label = answers.label_name(agg.labels[i]);
        let result = sqlx::query(
            "UPDATE task_items SET result = $1, confidence = $2, method = $3 WHERE task_id = $4 AND item_id = $5 \
             AND state NOT IN ('approved', 'rejected') AND (result IS NULL OR result <> $1 OR confidence <> $2)",
        )
        .bind(&values[label])
        .bind(agg.confidence[i])
        .bind(method.name())
        .bind(task_id)
        .bind(answers.item_name(i as u32).parse::<i64>()?)
        .execute(&mut *w.tx)
        .await?;
        changed += result.rows_affected();
    }
    w.commit().await?;
    let summary = json!({
        "method": method.name(),
        "items": answers.n_items(),
        "answers": answers.n_rows(),
        "gold_items": gold.map_or(0, |g| g.len()),
        "iterations": agg.iterations,
        "changed": changed,
    });
    Ok(JobOutput {
        result: summary.to_string(),
        content_type: "application/json",
        errors: vec![],
    })
}
