//! A task's labels as the core's answer table, and the qualification gates that read them.

use super::*;
use crate::store::labels;

/// A task's active labels as the core's answer table — items and workers named by their ids,
/// labels by their consensus keys, so equal answers compare equal whatever their JSON spelling —
/// with the gold answers of the task's items and, per worker, their first and last label time.
pub struct TaskLabels {
    /// The answer table.
    pub answers: Answers,
    /// Gold answers of the task's items that have labels.
    pub gold: Gold,
    /// Per worker id: (first, last) label time.
    pub spans: HashMap<i64, (i64, i64)>,
}

/// Reads a task's labels (only `worker`'s when given).
pub async fn task_labels(
    state: &AppState,
    task_id: i64,
    worker: Option<i64>,
) -> ApiResult<TaskLabels> {
    let mut on = state.db.scan();
    let labels = labels::active(&mut on, task_id, worker).await?;
    let mut spans: HashMap<i64, (i64, i64)> = HashMap::new();
    for l in &labels {
        let span = spans
            .entry(l.worker_id)
            .or_insert((l.created_at, l.created_at));
        *span = (span.0.min(l.created_at), span.1.max(l.created_at));
    }
    let names: Vec<(String, String)> = labels
        .iter()
        .map(|l| (l.item_id.to_string(), l.worker_id.to_string()))
        .collect();
    let answers = Answers::from_rows(
        labels
            .iter()
            .zip(&names)
            .map(|(l, (i, w))| (i.as_str(), w.as_str(), l.consensus_key.as_str())),
    );
    let gold_rows = labels::gold(&mut on, task_id).await?;
    let schema = match gold_rows.is_empty() {
        true => None,
        false => crate::store::tasks::get(&mut on, task_id)
            .await?
            .map(|t| t.spec.schema),
    };
    let mut pairs = Vec::with_capacity(gold_rows.len());
    for (item, gold) in &gold_rows {
        // Gold that does not fit the task's schema (a class answer on a box task) would score
        // every worker wrong; it scores nobody instead.
        let Ok(value) = serde_json::from_str::<LabelValue>(gold) else {
            continue;
        };
        if schema
            .as_ref()
            .is_some_and(|s| s.validate_value(&value).is_err())
        {
            continue;
        }
        pairs.push((item.to_string(), value.consensus_key()));
    }
    let gold = Gold::new(
        &answers,
        pairs.iter().map(|(i, l)| (i.as_str(), l.as_str())),
    );
    Ok(TaskLabels {
        answers,
        gold,
        spans,
    })
}

/// One qualification task a production task requires, and each worker's gold record on it.
pub struct Qualification {
    /// The qualification task's id.
    pub task_id: i64,
    /// Its name (`None` when it no longer exists).
    pub name: Option<String>,
    /// Its gate (`None` when it no longer exists or has none: nobody passes then).
    pub gate: Option<QualificationGate>,
    /// Per worker id: their answers on its gold items.
    pub records: HashMap<i64, GoldRecord>,
}

impl Qualification {
    /// A worker's record (empty when they never labeled the qualification task).
    pub fn record(&self, worker: i64) -> GoldRecord {
        self.records.get(&worker).copied().unwrap_or_default()
    }

    /// A worker's standing, decided by the core's gate.
    pub fn standing(&self, worker: i64) -> Standing {
        self.gate
            .map_or(Standing::Failed, |g| self.record(worker).standing(&g))
    }

    /// What a worker may know of their standing: counts and the gate, never which answer was
    /// wrong (invariant 5).
    pub fn report(&self, worker: i64) -> Value {
        let r = self.record(worker);
        json!({
            "task_id": self.task_id,
            "name": self.name,
            "standing": self.standing(worker),
            "answered": r.answered,
            "correct": r.correct,
            "pass_mark": self.gate.map(|g| g.pass_mark),
            "min_answers": self.gate.map(|g| g.min_answers),
        })
    }

    /// Why a worker may not work yet, for the 403 message.
    pub(super) fn refusal(&self, worker: i64) -> String {
        let r = self.record(worker);
        let name = self.name.as_deref().unwrap_or("");
        match (self.gate, self.standing(worker)) {
            (None, _) => format!(
                "qualification task {} no longer exists or has no pass gate, so nobody passes it",
                self.task_id
            ),
            (Some(g), Standing::Pending) => format!(
                "qualification task {} {name:?} is not finished: {} of {} gold answers right so far, \
                 {} needed for a verdict",
                self.task_id, r.correct, r.answered, g.min_answers
            ),
            (Some(g), _) => format!(
                "qualification task {} {name:?} not passed: {} of {} gold answers right ({:.0}%), \
                 the pass mark is {:.0}%",
                self.task_id,
                r.correct,
                r.answered,
                r.accuracy().unwrap_or(0.0) * 100.0,
                g.pass_mark * 100.0
            ),
        }
    }
}

/// The qualifications `task` requires, with the gold records of `worker` (everyone when `None`).
pub async fn qualifications(
    state: &AppState,
    task: &TaskRecord,
    worker: Option<i64>,
) -> ApiResult<Vec<Qualification>> {
    let mut out = Vec::with_capacity(task.spec.qualifications.len());
    for q in &task.spec.qualifications {
        let qt = crate::store::tasks::get(&mut state.db.reader().await, q.task_id.0).await?;
        let labels = task_labels(state, q.task_id.0, worker).await?;
        let records = gold_records(&labels.answers, &labels.gold);
        let records = (0..labels.answers.n_workers() as u32)
            .filter_map(|w| {
                let id = labels.answers.worker_name(w).parse::<i64>().ok()?;
                Some((id, records[w as usize]))
            })
            .collect();
        out.push(Qualification {
            task_id: q.task_id.0,
            name: qt.as_ref().map(|t| t.spec.name.clone()),
            gate: qt.and_then(|t| t.spec.pass_gate),
            records,
        });
    }
    Ok(out)
}

/// Refuses work on `task` to a worker who has not passed each of its qualifications
/// (403 `not_qualified`, with every gate's standing in `details`).
pub async fn require_qualified(state: &AppState, task: &TaskRecord, worker: i64) -> ApiResult<()> {
    let quals = qualifications(state, task, Some(worker)).await?;
    let standings: Vec<Standing> = quals.iter().map(|q| q.standing(worker)).collect();
    if may_work(&standings) {
        return Ok(());
    }
    let reasons: Vec<String> = quals
        .iter()
        .filter(|q| q.standing(worker) != Standing::Passed)
        .map(|q| q.refusal(worker))
        .collect();
    Err(ApiError::forbidden(format!(
        "this task needs its qualifications passed first: {}",
        reasons.join("; ")
    ))
    .with_code(ErrorCode::NotQualified)
    .with_details(json!({
        "qualifications": quals.iter().map(|q| q.report(worker)).collect::<Vec<_>>()
    })))
}

/// Checks that each required qualification is a qualification task (with a gate) of the same
/// project, and not the task itself.
pub(super) async fn check_qualifications(
    state: &AppState,
    project_id: i64,
    own_id: Option<i64>,
    spec: &TaskSpec,
) -> ApiResult<()> {
    let mut errors = Vec::new();
    for q in &spec.qualifications {
        let qt = crate::store::tasks::get(&mut state.db.reader().await, q.task_id.0).await?;
        let problem = match qt {
            _ if Some(q.task_id.0) == own_id => Some("a task cannot require itself"),
            None => Some("no such task"),
            Some(t) if t.project_id != project_id => Some("the task is in another project"),
            Some(t) if t.spec.pass_gate.is_none() => {
                Some("the task is not a qualification task with a pass gate")
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            errors.push(quorum_core::task::FieldError {
                field: "qualifications".into(),
                message: format!("task {}: {problem}", q.task_id.0),
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(validation(errors))
    }
}
