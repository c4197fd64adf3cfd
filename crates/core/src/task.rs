//! A task's definition as managers write it, and its validation (shared by server and app, so
//! the form and the API give the same messages).

use crate::auto_annotation::ThresholdRange;
use crate::ids::{ItemId, Priority, TaskId, WorkerId};
use crate::label::LabelSchema;
use crate::lease::{DEFAULT_LEASE_SECONDS, MAX_LEASE_SECONDS};
use crate::plan::{self, PlanError};
use crate::qualification::QualificationGate;
use crate::strategy::{ItemOrder, Partition, ReviewStrategy, WorkerStrategy, MAX_BATCH_SIZE};
use crate::time::Millis;
use crate::workflow::{self, Step};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// People label items.
    #[default]
    Labeling,
    /// People review existing labels.
    Review,
    /// Several people label each item and a consensus decides.
    Consensus,
    /// Gold items checking workers' accuracy.
    Honeypot,
    /// A gold test that gates access to production tasks.
    Qualification,
    /// Model predictions, with people for the uncertain ones.
    AutoAnnotation,
}

/// Where a task's items come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum InputSource {
    /// Every item of the project.
    AllItems,
    /// Every item of one dataset.
    Dataset {
        /// The dataset.
        dataset_id: i64,
    },
    /// Items matching a filter.
    Filter {
        /// The filter.
        filter: ItemFilter,
    },
    /// A saved search (a named filter) of the project.
    SavedSearch {
        /// Its id.
        saved_search_id: i64,
    },
    /// Exactly these items (an item-specific task).
    ItemIds {
        /// The items.
        item_ids: Vec<ItemId>,
    },
}

/// A filter over items; every given condition must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemFilter {
    /// Only items of this dataset.
    #[serde(default)]
    pub dataset_id: Option<i64>,
    /// Only items in this directory or below it (`/a` matches `/a` and `/a/b`).
    #[serde(default)]
    pub directory: Option<String>,
    /// Only items whose metadata has these top-level values.
    #[serde(default)]
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// Only items with this annotation status across the project.
    #[serde(default)]
    pub annotation_status: Option<AnnotationStatus>,
}

/// An item's labeling status across a project, for filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationStatus {
    /// No annotation yet.
    Unlabeled,
    /// At least one annotation.
    Labeled,
    /// An approved result exists.
    Approved,
}

/// What a filter needs to know of an item.
#[derive(Debug, Clone, Copy)]
pub struct ItemFacts<'a> {
    /// Its dataset.
    pub dataset_id: i64,
    /// Its directory path.
    pub directory: &'a str,
    /// Its metadata object.
    pub metadata: &'a serde_json::Value,
    /// Its status.
    pub status: AnnotationStatus,
}

impl ItemFilter {
    /// Whether an item passes the filter.
    pub fn matches(&self, item: &ItemFacts<'_>) -> bool {
        self.dataset_id.is_none_or(|d| d == item.dataset_id)
            && self
                .directory
                .as_deref()
                .is_none_or(|dir| in_directory(item.directory, dir))
            && self
                .metadata
                .iter()
                .all(|(k, v)| item.metadata.get(k) == Some(v))
            && self.annotation_status.is_none_or(|s| s == item.status)
    }
}

/// Whether `path` is `dir` or below it. Trailing slashes do not matter.
pub fn in_directory(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    let path = path.trim_end_matches('/');
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

fn default_lease() -> u32 {
    DEFAULT_LEASE_SECONDS
}

/// Everything a manager says when creating (or fully replacing) a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Display name.
    pub name: String,
    /// What the task is for.
    #[serde(default)]
    pub kind: TaskKind,
    /// Concepts and annotation type.
    pub schema: LabelSchema,
    /// Where the items come from.
    pub input: InputSource,
    /// How items reach workers.
    pub worker_strategy: WorkerStrategy,
    /// How results get approved.
    #[serde(default)]
    pub review_strategy: ReviewStrategy,
    /// Who labels.
    #[serde(default)]
    pub assignees: Vec<WorkerId>,
    /// Who reviews.
    #[serde(default)]
    pub reviewers: Vec<WorkerId>,
    /// When the work is due.
    #[serde(default)]
    pub due_date: Option<Millis>,
    /// How long a pulled batch is held.
    #[serde(default = "default_lease")]
    pub lease_seconds: u32,
    /// Seed for every deterministic choice of this task.
    #[serde(default)]
    pub seed: u64,
    /// Tie order among equally-ranked items.
    #[serde(default)]
    pub order: ItemOrder,
    /// Priority given to the task's items (items keep their own unless this is set).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Share of honeypot (gold) items mixed into pulled batches, 0–1.
    #[serde(default)]
    pub honeypot_rate: f64,
    /// Qualification tasks a worker must pass first, with the gate of each.
    #[serde(default)]
    pub qualifications: Vec<RequiredQualification>,
    /// For qualification tasks: the gate this task's gold set applies.
    #[serde(default)]
    pub pass_gate: Option<QualificationGate>,
    /// For auto-annotation: predictions in this range become annotations.
    #[serde(default)]
    pub auto_accept: Option<ThresholdRange>,
    /// Dynamic overlap: stop early when confident, ask for more up to a maximum.
    #[serde(default)]
    pub dynamic_overlap: Option<DynamicOverlap>,
    /// The workflow: a labeling step, then review and QA steps, each with its people (see
    /// [`crate::workflow`]); empty means one labeling step with the task's review strategy.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// Whether annotators may see each other's labels (off by default: invariant 5).
    #[serde(default)]
    pub show_peer_labels: bool,
    /// For video items: label one frame every this many milliseconds (`0, N, 2N, …` before the
    /// clip's end), each frame a unit of work of its own; none: a video is labeled whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_ms: Option<u32>,
}

/// A qualification requirement of a production task.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequiredQualification {
    /// The qualification task.
    pub task_id: TaskId,
}

/// Dynamic overlap settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicOverlap {
    /// Stop collecting once the leading label's share reaches this (0–1).
    pub confidence: f64,
    /// Never collect more labels than this.
    pub max_overlap: u32,
}

impl DynamicOverlap {
    /// The per-label rule for a task whose strategy asks `base` labels of every item.
    pub fn rule(&self, base: u32) -> crate::consensus::online::DynamicOverlap {
        crate::consensus::online::DynamicOverlap {
            confidence_threshold: self.confidence,
            base,
            max: self.max_overlap,
        }
    }
}

/// A problem with one field of a spec, for form messages and API `details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Dotted path of the field (`worker_strategy.batch_size`).
    pub field: String,
    /// What is wrong, for people.
    pub message: String,
}

impl TaskSpec {
    /// The longest task name.
    pub const MAX_NAME_LEN: usize = 200;
    /// The most assignees or reviewers.
    pub const MAX_PEOPLE: usize = 10_000;
    /// The longest sampling step: an hour.
    pub const MAX_SAMPLE_MS: u32 = 3_600_000;

    /// The most labels any one item may collect when each gets `overlap`: the overlap, or the
    /// dynamic maximum above it.
    pub fn most_per_item(&self, overlap: u32) -> u32 {
        self.dynamic_overlap
            .map_or(overlap, |d| d.max_overlap.max(overlap))
    }

    /// Every problem with the spec (empty when valid).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut err = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.into(),
                message,
            })
        };
        if self.name.trim().is_empty() || self.name.len() > Self::MAX_NAME_LEN {
            err(
                "name",
                format!(
                    "give the task a name of 1 to {} characters",
                    Self::MAX_NAME_LEN
                ),
            );
        }
        if let Err(e) = self.schema.validate() {
            err("schema.concepts", e.to_string());
        }
        if !(1..=MAX_LEASE_SECONDS).contains(&self.lease_seconds) {
            err(
                "lease_seconds",
                format!("a lease lasts 1 to {MAX_LEASE_SECONDS} seconds"),
            );
        }
        if self.due_date.is_some_and(|d| d.0 <= 0) {
            err(
                "due_date",
                "a due date is a time in milliseconds since 1970, above 0".into(),
            );
        }
        if !(0.0..=1.0).contains(&self.honeypot_rate) {
            err(
                "honeypot_rate",
                "the honeypot rate is a share between 0 and 1".into(),
            );
        }
        if self.assignees.len() > Self::MAX_PEOPLE || self.reviewers.len() > Self::MAX_PEOPLE {
            err(
                "assignees",
                format!("at most {} people per list", Self::MAX_PEOPLE),
            );
        }
        if self
            .sample_ms
            .is_some_and(|n| !(1..=Self::MAX_SAMPLE_MS).contains(&n))
        {
            err(
                "sample_ms",
                format!(
                    "sample one frame every 1 to {} milliseconds",
                    Self::MAX_SAMPLE_MS
                ),
            );
        }
        if let InputSource::ItemIds { item_ids } = &self.input {
            if item_ids.is_empty() {
                err("input.item_ids", "list at least one item".into());
            }
        }
        match &self.worker_strategy {
            WorkerStrategy::Pull {
                batch_size,
                max_batch_workload,
                ..
            } => {
                if !(1..=MAX_BATCH_SIZE).contains(batch_size) {
                    err(
                        "worker_strategy.batch_size",
                        format!("a batch holds 1 to {MAX_BATCH_SIZE} items"),
                    );
                }
                if max_batch_workload.is_some_and(|m| m < *batch_size) {
                    err(
                        "worker_strategy.max_batch_workload",
                        "the workload limit must be at least the batch size".into(),
                    );
                }
            }
            strategy => {
                // A plan over one item tells whether the assignees fit the strategy.
                if let Err(e) = plan::plan(strategy, &[ItemId(0)], &self.assignees, self.seed) {
                    let field = match e {
                        PlanError::WeightsMismatch(_) => "worker_strategy.partition.weights",
                        PlanError::NotEnoughWorkers { .. } => "worker_strategy.workers_per_input",
                        _ => "assignees",
                    };
                    err(field, e.to_string());
                }
                if let WorkerStrategy::Partitioned {
                    partition: Partition::Weighted { weights },
                    ..
                } = strategy
                {
                    if weights.iter().all(|w| w.weight == 0) {
                        err(
                            "worker_strategy.partition.weights",
                            "at least one weight must be positive".into(),
                        );
                    }
                }
            }
        }
        match self.review_strategy {
            ReviewStrategy::Manual { sample_percentage }
                if !(0.0..=100.0).contains(&sample_percentage) =>
            {
                err(
                    "review_strategy.sample_percentage",
                    "the review sample is a percentage between 0 and 100".into(),
                )
            }
            ReviewStrategy::Consensus { approval_threshold } => {
                let overlap = self.worker_strategy.overlap(self.assignees.len()).get() as u32;
                let most = self.most_per_item(overlap);
                if approval_threshold == 0 || approval_threshold > most {
                    err(
                        "review_strategy.approval_threshold",
                        format!(
                            "the approval threshold must be between 1 and the overlap ({most})"
                        ),
                    );
                }
            }
            _ => {}
        }
        if let Some(d) = self.dynamic_overlap {
            let overlap = self.worker_strategy.overlap(self.assignees.len()).get() as u32;
            if !(0.0..=1.0).contains(&d.confidence) {
                err(
                    "dynamic_overlap.confidence",
                    "confidence is between 0 and 1".into(),
                );
            }
            if self.worker_strategy.is_planned() {
                err(
                    "dynamic_overlap",
                    "dynamic overlap needs the pull strategy: planned seats are fixed at creation"
                        .into(),
                );
            }
            if d.max_overlap < overlap || d.max_overlap > 1000 {
                err(
                    "dynamic_overlap.max_overlap",
                    format!("the maximum overlap must be between the overlap ({overlap}) and 1000"),
                );
            }
        }
        if let Some(gate) = self.pass_gate {
            if let Err(e) = gate.validate() {
                err("pass_gate", e);
            }
        }
        if self.pass_gate.is_some() != (self.kind == TaskKind::Qualification) {
            err(
                "pass_gate",
                "qualification tasks, and only they, have a pass gate".into(),
            );
        }
        if let Some(range) = self.auto_accept {
            if let Err(e) = range.validate() {
                err("auto_accept", e);
            }
        }
        if !self.steps.is_empty() {
            for (field, message) in workflow::validate(&self.steps) {
                err(&field, message);
            }
            let labelers = &self.steps[0].assignees;
            let same = |a: &[WorkerId], b: &[WorkerId]| {
                a.iter().all(|w| b.contains(w)) && b.iter().all(|w| a.contains(w))
            };
            if !labelers.is_empty() && !same(labelers, &self.assignees) {
                err(
                    "steps[0].assignees",
                    "the labeling step's people are the task's assignees: leave this empty or list the same people".into(),
                );
            }
            if self
                .steps
                .iter()
                .any(|s| s.assignees.len() > Self::MAX_PEOPLE)
            {
                err(
                    "steps",
                    format!("at most {} people per step", Self::MAX_PEOPLE),
                );
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Overlap;
    use crate::label::AnnotationType;

    fn spec() -> TaskSpec {
        serde_json::from_value(serde_json::json!({
            "name": "Cats",
            "schema": {"annotation_type": "classification", "concepts": ["cat", "dog"]},
            "input": {"type": "all_items"},
            "worker_strategy": {"type": "pull"}
        }))
        .unwrap()
    }

    fn fields(s: &TaskSpec) -> Vec<String> {
        s.validate().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_minimal_spec_gets_defaults_and_is_valid() {
        let s = spec();
        assert_eq!(s.lease_seconds, DEFAULT_LEASE_SECONDS);
        assert_eq!(
            s.worker_strategy,
            WorkerStrategy::Pull {
                batch_size: 10,
                max_batch_workload: None,
                workers_per_input: Overlap::ONE
            }
        );
        assert_eq!(s.schema.annotation_type, AnnotationType::Classification);
        assert!(s.validate().is_empty(), "{:?}", s.validate());
    }

    #[test]
    fn each_bad_field_is_named() {
        let mut s = spec();
        s.name = " ".into();
        s.honeypot_rate = 2.0;
        s.lease_seconds = 0;
        s.due_date = Some(Millis(-1));
        s.review_strategy = ReviewStrategy::Consensus {
            approval_threshold: 3,
        };
        assert_eq!(
            fields(&s),
            [
                "name",
                "lease_seconds",
                "due_date",
                "honeypot_rate",
                "review_strategy.approval_threshold"
            ]
        );
        let mut s = spec();
        s.worker_strategy = WorkerStrategy::Distribution;
        assert_eq!(fields(&s), ["assignees"]);
        s.assignees = vec![WorkerId(1)];
        assert!(fields(&s).is_empty());
    }

    #[test]
    fn unknown_fields_and_strategies_do_not_parse() {
        let bad = serde_json::json!({
            "name": "x", "schema": {"annotation_type": "classification", "concepts": ["a"]},
            "input": {"type": "all_items"}, "worker_strategy": {"type": "round_robin"}
        });
        assert!(serde_json::from_value::<TaskSpec>(bad).is_err());
        let extra = serde_json::json!({
            "name": "x", "schema": {"annotation_type": "classification", "concepts": ["a"]},
            "input": {"type": "all_items"}, "worker_strategy": {"type": "pull"}, "colour": 1
        });
        assert!(serde_json::from_value::<TaskSpec>(extra).is_err());
    }

    #[test]
    fn filters_match_directory_metadata_and_status() {
        let meta = serde_json::json!({"camera": "a", "n": 1});
        let facts = ItemFacts {
            dataset_id: 1,
            directory: "/street/day",
            metadata: &meta,
            status: AnnotationStatus::Unlabeled,
        };
        let mut f = ItemFilter {
            directory: Some("/street".into()),
            ..Default::default()
        };
        assert!(f.matches(&facts));
        f.directory = Some("/stree".into());
        assert!(!f.matches(&facts));
        f.directory = None;
        f.metadata.insert("camera".into(), serde_json::json!("a"));
        assert!(f.matches(&facts));
        f.annotation_status = Some(AnnotationStatus::Labeled);
        assert!(!f.matches(&facts));
        assert!(in_directory("/a/b", "/a/"));
        assert!(in_directory("/anything", ""));
    }

    #[test]
    fn workflow_steps_are_checked_field_by_field() {
        let mut s = spec();
        s.assignees = vec![WorkerId(1)];
        s.steps = serde_json::from_value(serde_json::json!([
            {"name": "label", "kind": "label", "assignees": [1]},
            {"name": "review", "kind": "review", "assignees": [2]},
            {"name": "QA", "kind": "qa", "assignees": [3], "sample_percentage": 10.0},
        ]))
        .unwrap();
        assert!(fields(&s).is_empty(), "{:?}", s.validate());
        s.steps[0].assignees = vec![WorkerId(2)];
        s.steps[1].kind = workflow::StepKind::Label;
        assert_eq!(fields(&s), ["steps[1].kind", "steps[0].assignees"]);
        let unknown = serde_json::json!([{"name": "x", "kind": "label", "colour": 1}]);
        assert!(serde_json::from_value::<Vec<Step>>(unknown).is_err());
    }
}
