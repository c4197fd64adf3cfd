//! Multi-step workflows: an item moves through steps (label → review → QA …), each with its
//! own assignees, keeping its priority unless a manager changes it within a step.

use crate::ids::{ItemId, Priority, WorkerId};
use crate::seed;
use serde::{Deserialize, Serialize};

/// What a step does with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Workers produce labels.
    Label,
    /// Reviewers approve or reject labels.
    Review,
    /// A final quality check (approve or reject, like review).
    Qa,
}

/// One step of a workflow.
///
/// The first step labels: its people are the task's `assignees`, its strategy the task's
/// `worker_strategy` and its review rule the task's `review_strategy`. Every later step reviews
/// (or checks, for QA) what the labeling step produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Display name ("label", "review", "QA" …), unique within the workflow.
    pub name: String,
    /// What the step does.
    pub kind: StepKind,
    /// Who works this step. Empty: for the labeling step the task's assignees, for a later step
    /// the task's reviewers.
    #[serde(default)]
    pub assignees: Vec<WorkerId>,
    /// Review and QA steps: the share of items (0–100) the step checks, drawn from the task's
    /// seed; the others pass straight through. `None` checks every item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_percentage: Option<f64>,
}

/// The most steps a workflow has.
pub const MAX_STEPS: usize = 20;
/// The longest step name.
pub const MAX_STEP_NAME: usize = 100;

/// An item's place in a workflow: its queue (step) and priority there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemQueue {
    /// Index of the step the item waits in; `steps.len()` means finished.
    pub step: usize,
    /// Priority within that step.
    pub priority: Priority,
}

/// How a step ended for an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// The step's work is done and accepted.
    Passed,
    /// A review or QA step rejected the item.
    Rejected,
}

/// Checks a workflow: 1 to [`MAX_STEPS`] steps, the first (and only the first) labels, names
/// are present and unique, samples are percentages of review steps. Each problem comes as
/// (field, message), the field named as in the task spec (`steps[2].kind`).
pub fn validate(steps: &[Step]) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if steps.is_empty() || steps.len() > MAX_STEPS {
        errors.push((
            "steps".to_owned(),
            format!("a workflow has 1 to {MAX_STEPS} steps"),
        ));
    }
    for (i, s) in steps.iter().enumerate() {
        let mut err =
            |field: &str, message: String| errors.push((format!("steps[{i}].{field}"), message));
        let name = s.name.trim();
        if name.is_empty() || name.len() > MAX_STEP_NAME {
            err(
                "name",
                format!("give the step a name of 1 to {MAX_STEP_NAME} characters"),
            );
        } else if steps[..i].iter().any(|o| o.name.trim() == name) {
            err("name", format!("two steps are named {name:?}"));
        }
        match (i, s.kind) {
            (0, StepKind::Label) => {}
            (0, _) => err(
                "kind",
                "a workflow's first step must be a labeling step".into(),
            ),
            (_, StepKind::Label) => err(
                "kind",
                "only the first step labels: later steps review or check (QA) its labels".into(),
            ),
            _ => {}
        }
        match (s.kind, s.sample_percentage) {
            (StepKind::Label, Some(_)) => err(
                "sample_percentage",
                "the labeling step's review rule is the task's review_strategy".into(),
            ),
            (_, Some(p)) if !(0.0..=100.0).contains(&p) => err(
                "sample_percentage",
                "the step's sample is a percentage between 0 and 100".into(),
            ),
            _ => {}
        }
    }
    errors
}

/// Whether `step` checks `item` (its sample, drawn from the task's seed and the step's place,
/// so each step samples independently and the same item is always in or out).
pub fn checks(steps: &[Step], seed: u64, item: ItemId, step: usize) -> bool {
    match steps.get(step).and_then(|s| s.sample_percentage) {
        None => true,
        Some(p) => seed::unit(seed, &[item.0, 0x5354_4550, step as i64]) * 100.0 < p,
    }
}

/// Moves an item after `outcome` at its current step: forward on pass, back to the nearest
/// earlier labeling step on reject. The priority travels with the item.
pub fn advance(steps: &[Step], queue: ItemQueue, outcome: StepOutcome) -> ItemQueue {
    let step = match outcome {
        StepOutcome::Passed => (queue.step + 1).min(steps.len()),
        StepOutcome::Rejected => steps[..queue.step.min(steps.len())]
            .iter()
            .rposition(|s| s.kind == StepKind::Label)
            .unwrap_or(0),
    };
    ItemQueue { step, ..queue }
}

/// Where `item` waits after passing its current step: the next step whose sample holds it
/// (steps that leave it out pass it straight on), or finished.
pub fn pass(steps: &[Step], seed: u64, item: ItemId, queue: ItemQueue) -> ItemQueue {
    let mut next = advance(steps, queue, StepOutcome::Passed);
    while !is_finished(steps, next) && !checks(steps, seed, item, next.step) {
        next = advance(steps, next, StepOutcome::Passed);
    }
    next
}

/// A manager's priority change, applied only if the item is waiting in `step`.
pub fn set_priority(
    queue: ItemQueue,
    step: usize,
    priority: Priority,
) -> Result<ItemQueue, String> {
    if queue.step == step {
        Ok(ItemQueue { priority, ..queue })
    } else {
        Err(format!(
            "the item is in step {}, not step {step}",
            queue.step
        ))
    }
}

/// Whether the item has left the last step.
pub fn is_finished(steps: &[Step], queue: ItemQueue) -> bool {
    queue.step >= steps.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps() -> Vec<Step> {
        let s = |name: &str, kind| Step {
            name: name.into(),
            kind,
            assignees: vec![],
            sample_percentage: None,
        };
        vec![
            s("label", StepKind::Label),
            s("review", StepKind::Review),
            s("qa", StepKind::Qa),
        ]
    }

    #[test]
    fn items_move_forward_and_back_keeping_priority() {
        let w = steps();
        let q = ItemQueue {
            step: 0,
            priority: Priority(7),
        };
        let q = advance(&w, q, StepOutcome::Passed);
        assert_eq!(
            q,
            ItemQueue {
                step: 1,
                priority: Priority(7)
            }
        );
        let q = advance(&w, q, StepOutcome::Passed);
        assert_eq!(q.step, 2);
        let back = advance(&w, q, StepOutcome::Rejected);
        assert_eq!(
            back,
            ItemQueue {
                step: 0,
                priority: Priority(7)
            }
        );
        let done = advance(&w, q, StepOutcome::Passed);
        assert!(is_finished(&w, done));
        assert_eq!(advance(&w, done, StepOutcome::Passed).step, 3);
    }

    #[test]
    fn priority_changes_apply_within_one_step() {
        let q = ItemQueue {
            step: 1,
            priority: Priority(0),
        };
        assert_eq!(
            set_priority(q, 1, Priority(5)).unwrap().priority,
            Priority(5)
        );
        assert!(set_priority(q, 0, Priority(5)).is_err());
    }

    fn fields(steps: &[Step]) -> Vec<String> {
        validate(steps).into_iter().map(|(f, _)| f).collect()
    }

    #[test]
    fn workflows_must_start_with_labeling() {
        assert!(validate(&steps()).is_empty());
        assert_eq!(fields(&steps()[1..]), ["steps[0].kind"]);
        assert_eq!(fields(&[]), ["steps"]);
    }

    #[test]
    fn only_the_first_step_labels_and_names_are_unique() {
        let mut w = steps();
        w[2].kind = StepKind::Label;
        w[1].name = "label".into();
        w[0].sample_percentage = Some(50.0);
        w.push(Step {
            name: " ".into(),
            sample_percentage: Some(f64::NAN),
            ..w[1].clone()
        });
        assert_eq!(
            fields(&w),
            [
                "steps[0].sample_percentage",
                "steps[1].name",
                "steps[2].kind",
                "steps[3].name",
                "steps[3].sample_percentage"
            ]
        );
        let many = vec![w[1].clone(); MAX_STEPS + 1];
        assert_eq!(fields(&many)[0], "steps");
    }

    #[test]
    fn passing_skips_steps_that_leave_the_item_out_of_their_sample() {
        let mut w = steps();
        let q = ItemQueue {
            step: 0,
            priority: Priority(3),
        };
        assert_eq!(pass(&w, 1, ItemId(1), q).step, 1);
        w[1].sample_percentage = Some(0.0);
        assert_eq!(pass(&w, 1, ItemId(1), q), ItemQueue { step: 2, ..q });
        w[2].sample_percentage = Some(0.0);
        assert!(is_finished(&w, pass(&w, 1, ItemId(1), q)));
        // A 50% sample takes about half the items, the same ones every time.
        w[1].sample_percentage = Some(50.0);
        let taken = (0..2000)
            .filter(|&i| pass(&w, 9, ItemId(i), q).step == 1)
            .count();
        assert!((850..1150).contains(&taken), "{taken}");
        assert!((0..200).all(|i| checks(&w, 9, ItemId(i), 1) == checks(&w, 9, ItemId(i), 1)));
    }
}
