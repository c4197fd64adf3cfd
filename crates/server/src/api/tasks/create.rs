//! Writing a task: its items and, for planned strategies, their seats (planned by the core),
//! in bulk on either backend.

use super::*;
use crate::store::task_rows;
use crate::store::tasks::{self as store, NewTask};

/// Adds items (with their item priority unless the task sets one) and, for planned tasks,
/// their seats, extending the plan fairly over who already holds what.
pub(super) async fn insert_items(
    tx: &mut Tx,
    backend: Backend,
    task_id: i64,
    spec: &TaskSpec,
    items: &[(i64, i64)],
    assignees: &[WorkerId],
) -> ApiResult<u64> {
    let existing: HashSet<i64> = store::item_ids(tx, task_id).await?.into_iter().collect();
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
    task_rows::insert_items(tx, backend, task_id, &rows).await?;
    if spec.worker_strategy.is_planned() && !new.is_empty() {
        let loads = crate::store::seats::loads(tx, task_id).await?;
        let ids: Vec<ItemId> = new.iter().map(|(i, _)| ItemId(*i)).collect();
        let seats = plan::extend_plan(&spec.worker_strategy, &ids, assignees, &loads, spec.seed)
            .map_err(|e| ApiError::validation(e.to_string()))?;
        let rows: Vec<[i64; 2]> = seats.iter().map(|s| [s.item.0, s.worker.0]).collect();
        task_rows::insert_planned_seats(tx, backend, task_id, &rows).await?;
    }
    Ok(new.len() as u64)
}

pub(super) async fn write_people(tx: &mut Tx, task_id: i64, spec: &TaskSpec) -> ApiResult<()> {
    // People of review and QA steps review: `/me/tasks` and `?reviewer=` find the task.
    let steps = crate::api::workflow::step_people(&spec.steps);
    let mut unique: Vec<(i64, Role)> = [
        (&spec.assignees, Role::Annotator),
        (&spec.reviewers, Role::Reviewer),
    ]
    .into_iter()
    .chain(steps.iter().map(|(_, p)| (p, Role::Reviewer)))
    .flat_map(|(people, role)| people.iter().map(move |w| (w.0, role)))
    .collect();
    unique.sort_unstable();
    unique.dedup();
    Ok(store::set_people(tx, task_id, &unique).await?)
}

pub(super) fn kind_name(spec: &TaskSpec) -> String {
    serde_json::to_value(spec.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A task just made.
#[derive(Debug, Clone, Copy)]
pub struct Made {
    /// Its id.
    pub id: i64,
    /// How many items it took, all of them pending and unlabeled: the counts of a new task,
    /// which are known without counting them again (a third of a second at a million items).
    pub items: u64,
}

/// Validates and stores a new task with its items (and seats, for planned strategies).
pub async fn create_task(
    state: &AppState,
    project_id: i64,
    creator: i64,
    spec: &TaskSpec,
) -> ApiResult<Made> {
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
    let new = NewTask {
        project_id,
        spec,
        kind: &kind_name(spec),
        overlap,
        creator,
        now,
    };
    let id = store::insert(&mut tx, &new).await?;
    write_people(&mut tx, id, spec).await?;
    let items = match copy {
        Some(dataset_id) => {
            // What `insert_items` writes for a new task: item order is the position by id.
            let priority = spec.priority.map(|p| i64::from(p.0));
            store::copy_items(&mut tx, id, project_id, dataset_id, priority).await?
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
            .await?
        }
    };
    tx.commit().await?;
    Ok(Made { id, items })
}

/// The dataset (0: every item of the project) whose items a new task takes as they are, when
/// PostgreSQL can copy them in one `INSERT … SELECT`: whole datasets, in item order, no seats
/// to plan, no gold to check and no video frames to sample. The rows then never travel to the server and back (reading a
/// million ids took 3.3 s of a 17 s task on PostgreSQL); SQLite reads them in-process anyway.
pub(super) fn copied_in_database(backend: Backend, spec: &TaskSpec) -> Option<i64> {
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
