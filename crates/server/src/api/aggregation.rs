//! Whole-task aggregation as a job: the core's EM methods (Dawid-Skene and friends) over every
//! counted label of a classification task, with the task's gold items as anchors. The online
//! path (`review::reroute`) keeps a cheap majority per item; this job revises it with a model of
//! each annotator's reliability, for results a reviewer has not fixed yet.

use super::auth::{require_manager, Caller};
use super::error::{ApiError, ApiResult, Body, ErrorCode, Path, ProjectRefusals};
use super::error_code::ErrorBody;
use super::jobs::{self, JobOutput, JobStarted};
use super::tasks;
use super::AppState;
use crate::db::Db;
use crate::store::aggregation::{self as store, Revised};
use crate::store::error::StoreResult;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use quorum_core::consensus::{self, Answers, Gold, Method, DEFAULT_METHOD};
use quorum_core::label::AnnotationType;
use quorum_core::task::TaskSpec;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregateBody {
    /// A method name (`majority`, `dawid-skene`, …); the server's default when absent.
    method: Option<String>,
}

/// `POST /tasks/{id}/aggregate {"method"?}` (managers): starts the aggregation job.
///
/// Who may call: the managers of the task's project.
#[utoipa::path(
    post,
    path = "/tasks/{id}/aggregate",
    operation_id = "create_aggregation",
    tag = "aggregation",
    params(("id" = i64, Path, description = "The task")),
    request_body = AggregateBody,
    responses(
        (status = 202, description = "The aggregation job started", body = JobStarted),
        (status = 400, description = "Not an aggregation request", body = ErrorBody),
        ProjectRefusals,
        (status = 409, description = "The task is archived: its results no longer change", body = ErrorBody),
        (status = 422, description = "An unknown method, or a task that does not aggregate by label", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(task_id): Path<i64>,
    Body(body): Body<AggregateBody>,
) -> ApiResult<(StatusCode, Json<JobStarted>)> {
    let task = tasks::load(&state, task_id).await?;
    require_manager(&state, &caller, task.project_id).await?;
    tasks::refuse_archived(&task)?;
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
    Ok((StatusCode::ACCEPTED, Json(JobStarted::new(job))))
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
) -> StoreResult<i64> {
    // Remember which labels this run covers, so the sweep knows when to run again.
    let mut w = db.write().await?;
    store::mark_aggregated(&mut w, task_id).await?;
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
    let due = store::due(&mut db.scan()).await?;
    let mut started = 0;
    for task in due.iter().filter(|t| aggregates(&t.spec)) {
        let mut w = db.write().await?;
        let claimed = store::claim_due(&mut w, task.id).await?;
        w.commit().await?;
        if claimed {
            start(db, task.id, task.project_id, DEFAULT_METHOD, None).await?;
            started += 1;
        }
    }
    Ok(started)
}

/// Aggregates the task and writes the revised results in one transaction.
async fn run(db: &Db, task_id: i64, method: Method) -> anyhow::Result<JobOutput> {
    let mut on = db.scan();
    let rows = store::counted_labels(&mut on, task_id).await?;
    let mut triples = Vec::with_capacity(rows.len());
    let mut values: HashMap<String, String> = HashMap::new();
    for r in rows {
        values.entry(r.consensus_key.clone()).or_insert(r.value);
        triples.push((
            r.item_id.to_string(),
            r.worker_id.to_string(),
            r.consensus_key,
        ));
    }
    let answers = Answers::from_rows(
        triples
            .iter()
            .map(|(i, w, l)| (i.as_str(), w.as_str(), l.as_str())),
    );
    let gold_rows = store::gold(&mut on, task_id).await?;
    let schema = if gold_rows.is_empty() {
        None
    } else {
        crate::store::tasks::get(&mut on, task_id)
            .await?
            .map(|t| t.spec.schema)
    };
    let mut gold_pairs = Vec::new();
    for (item, value) in gold_rows {
        // Gold that does not fit the task's schema anchors nothing (as in scores).
        if schema
            .as_ref()
            .is_some_and(|s| s.validate_value(&value).is_err())
        {
            continue;
        }
        gold_pairs.push((item.to_string(), value.consensus_key()));
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
        let revised = Revised {
            task_id,
            item_id: answers.item_name(i as u32).parse::<i64>()?,
            value: &values[label],
            confidence: agg.confidence[i],
            method: method.name(),
        };
        changed += u64::from(store::revise(&mut w, revised).await?);
    }
    // Read after the writes, which waited for any item row an archive locked: an archive that
    // committed meanwhile is seen, and one that did not waits for this commit and keeps these
    // results (an archive's file is read after its close commits).
    if crate::store::tasks::archived(&mut w, task_id).await? {
        w.rollback().await?;
        anyhow::bail!("the task was archived meanwhile: its results stay as they were archived");
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
        result: jobs::ResultBody::Inline(summary.to_string()),
        content_type: "application/json",
        errors: vec![],
    })
}

/// This module's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(create), components(schemas(AggregateBody)))]
pub(crate) struct Doc;
