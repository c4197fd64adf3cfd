//! Multi-step workflows: an item moves through steps (label → review → QA …), each with its
//! own assignees, keeping its priority unless a manager changes it within a step.

use crate::ids::{Priority, WorkerId};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Display name ("label", "review", "QA" …).
    pub name: String,
    /// What the step does.
    pub kind: StepKind,
    /// Who works this step.
    pub assignees: Vec<WorkerId>,
}

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

/// Checks a workflow: at least one step, and it starts with a labeling step.
pub fn validate(steps: &[Step]) -> Result<(), String> {
    match steps.first() {
        None => Err("a workflow needs at least one step".into()),
        Some(s) if s.kind != StepKind::Label => {
            Err("a workflow's first step must be a labeling step".into())
        }
        _ if steps.iter().any(|s| s.name.trim().is_empty()) => {
            Err("every step needs a name".into())
        }
        _ => Ok(()),
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

    #[test]
    fn workflows_must_start_with_labeling() {
        assert!(validate(&steps()).is_ok());
        assert!(validate(&steps()[1..]).is_err());
        assert!(validate(&[]).is_err());
    }
}
