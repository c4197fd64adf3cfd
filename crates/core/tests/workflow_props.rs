//! Property tests of multi-step workflows over random workflows, samples, items and seeds: an
//! item only moves forward on a pass, lands on a step that checks it (or finishes), skips only
//! steps that leave it out, goes back to labeling on a rejection, and keeps its priority except
//! for a change made in the step it waits in.

use proptest::prelude::*;
use quorum_core::ids::{ItemId, Priority};
use quorum_core::workflow::{
    advance, checks, is_finished, pass, set_priority, validate, ItemQueue, Step, StepKind,
    StepOutcome,
};

fn workflow() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((any::<bool>(), prop::option::of(0.0f64..=100.0)), 0..6).prop_map(
        |later| {
            let mut steps = vec![Step {
                name: "label".into(),
                kind: StepKind::Label,
                assignees: vec![],
                sample_percentage: None,
            }];
            for (i, (qa, sample)) in later.into_iter().enumerate() {
                steps.push(Step {
                    name: format!("step {}", i + 1),
                    kind: if qa { StepKind::Qa } else { StepKind::Review },
                    assignees: vec![],
                    sample_percentage: sample,
                });
            }
            steps
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn items_move_by_the_rules(
        steps in workflow(),
        seed in any::<u64>(),
        item in 0i64..100_000,
        at in 0usize..7,
        priority in any::<i32>(),
        new_priority in any::<i32>(),
    ) {
        prop_assert!(validate(&steps).is_empty());
        let at = at.min(steps.len() - 1);
        let queue = ItemQueue { step: at, priority: Priority(priority) };
        let item = ItemId(item);

        let next = pass(&steps, seed, item, queue);
        prop_assert!(next.step > at && next.step <= steps.len());
        prop_assert_eq!(next.priority, queue.priority);
        prop_assert!(is_finished(&steps, next) || checks(&steps, seed, item, next.step));
        prop_assert!(is_finished(&steps, next) || steps[next.step].kind != StepKind::Label);
        for skipped in at + 1..next.step {
            prop_assert!(!checks(&steps, seed, item, skipped));
        }
        // Deterministic from the seed.
        prop_assert_eq!(pass(&steps, seed, item, queue), next);

        let back = advance(&steps, queue, StepOutcome::Rejected);
        prop_assert_eq!(back, ItemQueue { step: 0, ..queue });

        // A priority change applies only in the step the item waits in.
        for step in 0..=steps.len() {
            let changed = set_priority(next, step, Priority(new_priority));
            if step == next.step {
                prop_assert_eq!(changed, Ok(ItemQueue { priority: Priority(new_priority), ..next }));
            } else {
                prop_assert!(changed.is_err());
            }
        }
    }
}
