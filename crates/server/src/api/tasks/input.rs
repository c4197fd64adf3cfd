//! What a spec's input selects (listed items, a dataset, a filter) and the checks of a spec that
//! need the store: people, datasets, gold that fits the schema.

use super::*;
use crate::store::items as store_items;
use crate::store::{projects, users};

pub(super) fn validation(errors: Vec<quorum_core::task::FieldError>) -> ApiError {
    ApiError::validation(
        errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
    )
    .with_details(json!(errors))
}

/// Checks what needs the store: people are project members with the right role.
pub(super) async fn check_people(
    state: &AppState,
    project_id: i64,
    spec: &TaskSpec,
) -> ApiResult<()> {
    let mut errors = Vec::new();
    let steps = crate::api::workflow::step_people(&spec.steps);
    for (field, people, role) in [
        ("assignees", &spec.assignees, Role::Annotator),
        ("reviewers", &spec.reviewers, Role::Reviewer),
    ]
    .into_iter()
    .chain(steps.iter().map(|(f, p)| (f.as_str(), p, Role::Reviewer)))
    {
        for w in people {
            let roles = users::roles_in(&mut state.db.reader().await, project_id, w.0).await?;
            if !(roles.contains(&role) || roles.contains(&Role::Manager)) {
                errors.push(quorum_core::task::FieldError {
                    field: field.into(),
                    message: format!("user {} is not a {} of this project", w.0, role.name()),
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
pub(super) fn field_error(field: String, message: String) -> ApiError {
    validation(vec![quorum_core::task::FieldError { field, message }])
}

/// Refuses (422 on `field`) a dataset that is not in the project.
pub(super) async fn check_dataset(
    state: &AppState,
    project_id: i64,
    dataset_id: i64,
    field: &str,
) -> ApiResult<()> {
    if !projects::has_dataset(&mut state.db.reader().await, project_id, dataset_id).await? {
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
pub(super) async fn misfit_gold(
    state: &AppState,
    spec: &TaskSpec,
    items: &[i64],
) -> ApiResult<Vec<(i64, String)>> {
    let mut out = Vec::new();
    for (id, gold) in store_items::gold_among(&mut state.db.reader().await, items).await? {
        let problem = match serde_json::from_str::<LabelValue>(&gold) {
            Ok(v) => spec.schema.validate_value(&v).err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(problem) = problem {
            out.push((id, problem));
        }
    }
    Ok(out)
}

/// Refuses a task that uses gold over items whose gold does not fit its schema: 422 with one
/// error per item (`field` names where the items came from).
pub(super) async fn check_gold(
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
pub(super) async fn resolve_input(
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
            let text = store_items::saved_search_filter(
                &mut state.db.reader().await,
                project_id,
                *saved_search_id,
            )
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

/// The listed items with their priorities, in id order; every id must be in the project.
pub(super) async fn picked_items(
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
    let mut picked =
        store_items::priorities_among(&mut state.db.reader().await, project_id, &wanted).await?;
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
pub(super) async fn filtered_items(
    state: &AppState,
    project_id: i64,
    filter: &ItemFilter,
) -> ApiResult<Vec<(i64, i64)>> {
    let with_metadata = !filter.metadata.is_empty();
    // An in-process reader on SQLite: a million rows without a hop per row to a worker thread.
    let rows = store_items::candidates(
        &mut state.db.reader().await,
        project_id,
        filter.dataset_id,
        with_metadata,
    )
    .await?;
    let (labeled, approved) = if filter.annotation_status.is_some() {
        let mut on = state.db.scan();
        (
            store_items::labeled_in(&mut on, project_id).await?,
            store_items::approved_in(&mut on, project_id).await?,
        )
    } else {
        (HashSet::new(), HashSet::new())
    };
    let mut out = Vec::new();
    for r in &rows {
        let status = if approved.contains(&r.id) {
            AnnotationStatus::Approved
        } else if labeled.contains(&r.id) {
            AnnotationStatus::Labeled
        } else {
            AnnotationStatus::Unlabeled
        };
        let facts = ItemFacts {
            dataset_id: r.dataset_id,
            directory: &r.directory,
            metadata: &r.metadata,
            status,
        };
        if filter.matches(&facts) {
            out.push((r.id, r.priority));
        }
    }
    Ok(out)
}
