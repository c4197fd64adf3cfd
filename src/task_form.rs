//! The "create task" form as plain data: what the manager typed (strings, so a half-typed number
//! is never lost), turned into a `TaskSpec` with one message per field. Parsing problems and
//! core's own `TaskSpec::validate` use the same dotted field names as the server's 422 `details`,
//! so client and server messages land next to the same inputs. Pure, so it is tested natively.

use quorum_core::ids::{ItemId, Overlap, Priority, TaskId, WorkerId};
use quorum_core::label::{AnnotationType, LabelSchema};
use quorum_core::plan;
use quorum_core::qualification::QualificationGate;
use quorum_core::strategy::{
    ItemOrder, Partition, ReviewStrategy, WorkerStrategy, WorkerWeight, DEFAULT_BATCH_SIZE,
};
use quorum_core::task::{
    FieldError, InputSource, ItemFilter, RequiredQualification, TaskKind, TaskSpec,
};
use quorum_core::time::Millis;
use std::collections::BTreeMap;

/// Every input of the form, as typed.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskForm {
    /// Task name.
    pub name: String,
    /// `labeling`, `review`, `consensus`, `honeypot`, `qualification`, `auto_annotation`.
    pub kind: String,
    /// `classification`, `bounding_box`, `polygon`.
    pub annotation_type: String,
    /// Concepts, separated by commas or new lines.
    pub concepts: String,
    /// `all_items`, `dataset`, `directory`, `item_ids`.
    pub input: String,
    /// Dataset id (for `dataset`).
    pub dataset_id: String,
    /// Directory path (for `directory`).
    pub directory: String,
    /// Item ids, e.g. `1, 2, 5-9` (for `item_ids`).
    pub item_ids: String,
    /// `pull`, `distribution`, `partitioned`, `full`.
    pub strategy: String,
    /// Pull: items per batch.
    pub batch_size: String,
    /// Pull: most items one worker may hold at once (empty for no limit).
    pub max_workload: String,
    /// Pull and partitioned: workers per item.
    pub overlap: String,
    /// Partitioned: `evenly` or `weighted`.
    pub partition: String,
    /// Partitioned weighted: weight per assignee, as typed.
    pub weights: BTreeMap<i64, String>,
    /// Chosen annotators.
    pub assignees: Vec<i64>,
    /// Chosen reviewers.
    pub reviewers: Vec<i64>,
    /// `none`, `manual`, `consensus`.
    pub review: String,
    /// Manual review: percentage sampled.
    pub sample_percentage: String,
    /// Consensus review: identical labels that auto-approve.
    pub approval_threshold: String,
    /// Share of gold items mixed in, as a percentage.
    pub honeypot_percent: String,
    /// Qualification tasks required first (ids, comma-separated).
    pub qualifications: String,
    /// Qualification tasks: pass mark as a percentage.
    pub pass_mark_percent: String,
    /// Qualification tasks: gold answers before a verdict.
    pub min_answers: String,
    /// `YYYY-MM-DDTHH:MM` (a datetime-local input) in the browser's time zone, or empty.
    pub due_date: String,
    /// Priority given to every item, or empty to keep the items' own.
    pub priority: String,
    /// Lease length in seconds.
    pub lease_seconds: String,
    /// `sequential` or `random`.
    pub order: String,
    /// Seed of the task's deterministic choices.
    pub seed: String,
}

impl Default for TaskForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            kind: "labeling".into(),
            annotation_type: "classification".into(),
            concepts: String::new(),
            input: "dataset".into(),
            dataset_id: String::new(),
            directory: String::new(),
            item_ids: String::new(),
            strategy: "pull".into(),
            batch_size: DEFAULT_BATCH_SIZE.to_string(),
            max_workload: String::new(),
            overlap: "1".into(),
            partition: "evenly".into(),
            weights: BTreeMap::new(),
            assignees: Vec::new(),
            reviewers: Vec::new(),
            review: "none".into(),
            sample_percentage: "10".into(),
            approval_threshold: "2".into(),
            honeypot_percent: "0".into(),
            qualifications: String::new(),
            pass_mark_percent: "80".into(),
            min_answers: "10".into(),
            due_date: String::new(),
            priority: String::new(),
            lease_seconds: "600".into(),
            order: "sequential".into(),
            seed: "1".into(),
        }
    }
}

/// Collects field errors while parsing.
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Parses a number, noting `message` under `field` when it is not one.
    fn num<T: std::str::FromStr>(&mut self, field: &str, text: &str, message: &str) -> Option<T> {
        match text.trim().parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.add(field, message);
                None
            }
        }
    }

    /// Parses a decimal number. JSON's number syntax, through serde_json, because the app links
    /// its parser anyway and core's `f64::from_str` would add its own to the wasm.
    fn float(&mut self, field: &str, text: &str, message: &str) -> Option<f64> {
        match serde_json::from_str::<f64>(text.trim()) {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                self.add(field, message);
                None
            }
        }
    }

    /// Like `num`, but empty means "not set".
    fn opt<T: std::str::FromStr>(&mut self, field: &str, text: &str, message: &str) -> Option<T> {
        if text.trim().is_empty() {
            None
        } else {
            self.num(field, text, message)
        }
    }
}

/// Parses `1, 2, 5-9` into ids (ranges inclusive).
pub fn parse_id_list(text: &str) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    for part in text.split([',', ' ', '\n', '\t']).filter(|p| !p.is_empty()) {
        let bad = || format!("{part:?} is not an id or a range like 5-9");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (i64, i64) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if b < a || b - a > 100_000 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a datetime-local value (`YYYY-MM-DDTHH:MM[:SS]`) typed in a zone `offset_minutes` behind
/// UTC (JavaScript's `getTimezoneOffset`) into UTC milliseconds.
pub fn parse_local_datetime(text: &str, offset_minutes: i64) -> Option<Millis> {
    let (date, time) = text.trim().split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi) = (t.next()??, t.next()??);
    let s = t.next().flatten().unwrap_or(0);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + s;
    Some(Millis((secs + offset_minutes * 60) * 1000))
}

impl TaskForm {
    /// The concepts typed, trimmed, without empties.
    pub fn concept_list(&self) -> Vec<String> {
        self.concepts
            .split([',', '\n'])
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// The spec the form describes, or every problem found, by field. `offset_minutes` is the
    /// browser's time-zone offset for the due date.
    pub fn to_spec(&self, offset_minutes: i64) -> Result<TaskSpec, Vec<FieldError>> {
        let mut e = Errors(Vec::new());
        let kind = match self.kind.as_str() {
            "labeling" => TaskKind::Labeling,
            "review" => TaskKind::Review,
            "consensus" => TaskKind::Consensus,
            "honeypot" => TaskKind::Honeypot,
            "qualification" => TaskKind::Qualification,
            "auto_annotation" => TaskKind::AutoAnnotation,
            _ => {
                e.add("kind", "pick a task kind");
                TaskKind::Labeling
            }
        };
        let annotation_type = match self.annotation_type.as_str() {
            "classification" => AnnotationType::Classification,
            "bounding_box" => AnnotationType::BoundingBox,
            "polygon" => AnnotationType::Polygon,
            _ => {
                e.add("schema.annotation_type", "pick an annotation type");
                AnnotationType::Classification
            }
        };
        let input = match self.input.as_str() {
            "all_items" => InputSource::AllItems,
            "dataset" => match e.num::<i64>("input.dataset_id", &self.dataset_id, "pick a dataset")
            {
                Some(dataset_id) => InputSource::Dataset { dataset_id },
                None => InputSource::AllItems,
            },
            "directory" => {
                let dir = self.directory.trim();
                if !dir.starts_with('/') {
                    e.add(
                        "input.directory",
                        "a directory path starts with /, e.g. /photos",
                    );
                }
                InputSource::Filter {
                    filter: ItemFilter {
                        directory: Some(dir.to_string()),
                        ..ItemFilter::default()
                    },
                }
            }
            _ => match parse_id_list(&self.item_ids) {
                Ok(ids) => InputSource::ItemIds {
                    item_ids: ids.into_iter().map(ItemId).collect(),
                },
                Err(m) => {
                    e.add("input.item_ids", m);
                    InputSource::ItemIds { item_ids: vec![] }
                }
            },
        };
        let overlap = match self.strategy.as_str() {
            "pull" | "partitioned" => e
                .num::<u32>(
                    "worker_strategy.workers_per_input",
                    &self.overlap,
                    "workers per item is a whole number from 1",
                )
                .and_then(|n| match Overlap::new(n) {
                    Ok(o) => Some(o),
                    Err(m) => {
                        e.add("worker_strategy.workers_per_input", m);
                        None
                    }
                })
                .unwrap_or_default(),
            _ => Overlap::ONE,
        };
        let assignees: Vec<WorkerId> = self.assignees.iter().copied().map(WorkerId).collect();
        let worker_strategy = match self.strategy.as_str() {
            "pull" => WorkerStrategy::Pull {
                batch_size: e
                    .num(
                        "worker_strategy.batch_size",
                        &self.batch_size,
                        "the batch size is a whole number",
                    )
                    .unwrap_or(DEFAULT_BATCH_SIZE),
                max_batch_workload: e.opt(
                    "worker_strategy.max_batch_workload",
                    &self.max_workload,
                    "the workload limit is a whole number, or empty for none",
                ),
                workers_per_input: overlap,
            },
            "distribution" => WorkerStrategy::Distribution,
            "full" => WorkerStrategy::Full,
            _ => {
                let partition = if self.partition == "weighted" {
                    let mut weights = Vec::new();
                    for w in &self.assignees {
                        let typed = self.weights.get(w).map(String::as_str).unwrap_or("1");
                        if let Some(weight) = e.num::<u32>(
                            "worker_strategy.partition.weights",
                            typed,
                            &format!("the weight of user {w} is a whole number from 0"),
                        ) {
                            weights.push(WorkerWeight {
                                worker: WorkerId(*w),
                                weight,
                            });
                        }
                    }
                    Partition::Weighted { weights }
                } else {
                    Partition::Evenly
                };
                WorkerStrategy::Partitioned {
                    partition,
                    workers_per_input: overlap,
                }
            }
        };
        let review_strategy = match self.review.as_str() {
            "manual" => ReviewStrategy::Manual {
                sample_percentage: e
                    .float(
                        "review_strategy.sample_percentage",
                        &self.sample_percentage,
                        "the review sample is a percentage",
                    )
                    .unwrap_or(0.0),
            },
            "consensus" => ReviewStrategy::Consensus {
                approval_threshold: e
                    .num(
                        "review_strategy.approval_threshold",
                        &self.approval_threshold,
                        "the approval threshold is a whole number",
                    )
                    .unwrap_or(0),
            },
            _ => ReviewStrategy::None,
        };
        let honeypot_rate = e
            .float(
                "honeypot_rate",
                &self.honeypot_percent,
                "the honeypot rate is a percentage",
            )
            .map(|p| p / 100.0)
            .unwrap_or(0.0);
        let qualifications = match parse_id_list(&self.qualifications) {
            Ok(ids) => ids
                .into_iter()
                .map(|t| RequiredQualification { task_id: TaskId(t) })
                .collect(),
            Err(m) => {
                e.add("qualifications", m);
                vec![]
            }
        };
        let pass_gate = (kind == TaskKind::Qualification).then(|| QualificationGate {
            pass_mark: e
                .float(
                    "pass_gate",
                    &self.pass_mark_percent,
                    "the pass mark is a percentage",
                )
                .map(|p| p / 100.0)
                .unwrap_or(0.0),
            min_answers: e
                .num(
                    "pass_gate",
                    &self.min_answers,
                    "the gold answers needed is a whole number",
                )
                .unwrap_or(1),
        });
        let due_date = if self.due_date.trim().is_empty() {
            None
        } else {
            let d = parse_local_datetime(&self.due_date, offset_minutes);
            if d.is_none() {
                e.add("due_date", "give a date and time");
            }
            d
        };
        let priority = e
            .opt::<i32>(
                "priority",
                &self.priority,
                "the priority is a whole number (negative is fine)",
            )
            .map(Priority);
        let lease_seconds = e
            .num(
                "lease_seconds",
                &self.lease_seconds,
                "the lease is a number of seconds",
            )
            .unwrap_or(0);
        let seed = e
            .num("seed", &self.seed, "the seed is a whole number from 0")
            .unwrap_or(0);
        let order = if self.order == "random" {
            ItemOrder::Random
        } else {
            ItemOrder::Sequential
        };
        let spec = TaskSpec {
            name: self.name.trim().to_string(),
            kind,
            schema: LabelSchema {
                annotation_type,
                concepts: self.concept_list(),
            },
            input,
            worker_strategy,
            review_strategy,
            assignees,
            reviewers: self.reviewers.iter().copied().map(WorkerId).collect(),
            due_date,
            lease_seconds,
            seed,
            order,
            priority,
            honeypot_rate,
            qualifications,
            pass_gate,
            auto_accept: None,
            dynamic_overlap: None,
            steps: vec![],
            show_peer_labels: false,
            sample_ms: None,
        };
        let mut errors = e.0;
        // Core's rules only speak about fields that parsed; a field already flagged keeps its
        // parse message rather than a second, confusing one about the placeholder value.
        for v in spec.validate() {
            if !errors.iter().any(|x| x.field == v.field) {
                errors.push(v);
            }
        }
        if errors.is_empty() {
            Ok(spec)
        } else {
            Err(errors)
        }
    }
}

impl TaskForm {
    /// What is allowed but likely a slip, said before the task is made: a due date already
    /// past, an annotator weighted 0 (they would get no items), an input that matches no item,
    /// more workers per item than annotators ticked for a pull task.
    /// `items` is how many items the input matches, when known; `name` names a user.
    pub fn warnings(
        &self,
        now: Millis,
        offset_minutes: i64,
        items: Option<u64>,
        name: impl Fn(i64) -> String,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if parse_local_datetime(&self.due_date, offset_minutes).is_some_and(|d| d < now) {
            out.push("The due date is in the past.".to_string());
        }
        if self.strategy == "partitioned" && self.partition == "weighted" {
            for w in &self.assignees {
                if self.weights.get(w).is_some_and(|t| t.trim() == "0") {
                    out.push(format!("{} has weight 0 and gets no items.", name(*w)));
                }
            }
        }
        // Pull spreads items over the ticked annotators only (the partitioned plan already
        // refuses this).
        let ticked = self.assignees.len();
        if let Ok(n) = self.overlap.trim().parse::<usize>() {
            if self.strategy == "pull" && ticked > 0 && n > ticked {
                out.push(format!(
                    "Workers per item ({n}) is more than the annotators ticked ({ticked}): no item would ever be finished."
                ));
            }
        }
        if items == Some(0) {
            out.push(
                "The items chosen match no item: the task would have nothing to label.".into(),
            );
        }
        out
    }
}

/// A message in the form's own words: core and the server name the spec's fields ("the
/// overlap", "assignees", a share between 0 and 1), the form shows "Workers per item",
/// "Annotators" and percentages.
pub fn in_form_words(message: &str) -> String {
    if message.starts_with("the honeypot rate is a share") {
        return "the honeypot rate is a percentage from 0 to 100".into();
    }
    if message.starts_with("a due date is a time") {
        return "give a date and time".into();
    }
    message
        .replace("this strategy needs", "this worker strategy needs")
        .replace("the overlap", "workers per item")
        .replace("assignee", "annotator")
}

/// The messages for one field (a prefix match, so `pass_gate` also shows `pass_gate.pass_mark`).
pub fn messages_for(errors: &[FieldError], field: &str) -> Vec<String> {
    errors
        .iter()
        .filter(|e| {
            e.field == field
                || e.field
                    .strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
        .map(|e| in_form_words(&e.message))
        .collect()
}

/// Seats each worker holds in a planned task of `items` items at `overlap` workers per item,
/// from `(worker, weight)` pairs (weight 1 each unless partitioned by weight): what
/// `quorum_core::plan` dealt at creation.
pub fn planned_shares(
    weights: &[(i64, u32)],
    overlap: u16,
    items: u64,
    seed: u64,
) -> Vec<(i64, u64)> {
    let able: Vec<WorkerWeight> = weights
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|&(w, weight)| WorkerWeight {
            worker: WorkerId(w),
            weight,
        })
        .collect();
    let shares = plan::shares(&able, items, overlap.max(1), seed);
    able.iter().map(|w| w.worker.0).zip(shares).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> TaskForm {
        TaskForm {
            name: "Sentiment".into(),
            concepts: "positive, negative\nneutral".into(),
            dataset_id: "1".into(),
            ..TaskForm::default()
        }
    }

    fn fields(f: &TaskForm) -> Vec<String> {
        match f.to_spec(0) {
            Ok(_) => vec![],
            Err(e) => e.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn a_filled_pull_form_gives_its_spec() {
        let spec = form().to_spec(0).unwrap();
        assert_eq!(spec.schema.concepts, ["positive", "negative", "neutral"]);
        assert_eq!(spec.input, InputSource::Dataset { dataset_id: 1 });
        assert!(matches!(
            spec.worker_strategy,
            WorkerStrategy::Pull {
                batch_size: 10,
                max_batch_workload: None,
                ..
            }
        ));
        assert_eq!(spec.review_strategy, ReviewStrategy::None);
    }

    #[test]
    fn weighted_partition_reads_each_assignees_weight() {
        let mut f = form();
        f.strategy = "partitioned".into();
        f.partition = "weighted".into();
        f.assignees = vec![3, 4];
        f.weights = BTreeMap::from([(3, "3".into()), (4, "1".into())]);
        let spec = f.to_spec(0).unwrap();
        let WorkerStrategy::Partitioned {
            partition: Partition::Weighted { weights },
            ..
        } = &spec.worker_strategy
        else {
            panic!("not weighted: {:?}", spec.worker_strategy)
        };
        assert_eq!(weights.iter().map(|w| w.weight).collect::<Vec<_>>(), [3, 1]);
        let pairs: Vec<(i64, u32)> = weights.iter().map(|w| (w.worker.0, w.weight)).collect();
        assert_eq!(planned_shares(&pairs, 1, 8, spec.seed), [(3, 6), (4, 2)]);
        // A zero weight takes no seat; two per item spread over the two able workers.
        assert_eq!(
            planned_shares(&[(3, 0), (4, 1), (5, 1)], 2, 5, 1),
            [(4, 5), (5, 5)]
        );
    }

    #[test]
    fn each_bad_field_gets_its_own_message() {
        let mut f = form();
        f.name = " ".into();
        f.batch_size = "ten".into();
        f.honeypot_percent = "x".into();
        f.due_date = "tomorrow".into();
        let got = fields(&f);
        for want in [
            "name",
            "worker_strategy.batch_size",
            "honeypot_rate",
            "due_date",
        ] {
            assert!(got.iter().any(|g| g == want), "{want} missing from {got:?}");
        }
        // A batch size that did not parse is reported once, not again by core's range rule.
        assert_eq!(
            got.iter()
                .filter(|g| *g == "worker_strategy.batch_size")
                .count(),
            1
        );
    }

    #[test]
    fn core_rules_apply_to_parsed_values() {
        let mut f = form();
        f.strategy = "partitioned".into();
        f.overlap = "3".into();
        f.assignees = vec![1, 2];
        assert!(fields(&f).contains(&"worker_strategy.workers_per_input".to_string()));
        let mut f = form();
        f.review = "consensus".into();
        f.approval_threshold = "5".into();
        assert!(fields(&f).contains(&"review_strategy.approval_threshold".to_string()));
        let mut f = form();
        f.concepts = String::new();
        assert!(fields(&f).contains(&"schema.concepts".to_string()));
    }

    #[test]
    fn qualification_tasks_get_a_pass_gate() {
        let mut f = form();
        f.kind = "qualification".into();
        let spec = f.to_spec(0).unwrap();
        assert_eq!(spec.pass_gate.unwrap().pass_mark, 0.8);
        f.kind = "labeling".into();
        assert!(f.to_spec(0).unwrap().pass_gate.is_none());
    }

    #[test]
    fn decimals_parse_and_junk_does_not() {
        let mut f = form();
        f.review = "manual".into();
        f.sample_percentage = "12.5".into();
        f.honeypot_percent = "5".into();
        let spec = f.to_spec(0).unwrap();
        assert_eq!(
            spec.review_strategy,
            ReviewStrategy::Manual {
                sample_percentage: 12.5
            }
        );
        assert_eq!(spec.honeypot_rate, 0.05);
        f.sample_percentage = "1e999".into();
        assert!(fields(&f).contains(&"review_strategy.sample_percentage".to_string()));
    }

    #[test]
    fn id_lists_and_dates_parse() {
        assert_eq!(parse_id_list("1, 3-5 9").unwrap(), [1, 3, 4, 5, 9]);
        assert!(parse_id_list("1, x").is_err());
        assert!(parse_id_list("5-1").is_err());
        assert_eq!(
            parse_local_datetime("1970-01-02T00:00", 0),
            Some(Millis(86_400_000))
        );
        // UTC+1 (offset -60): local midnight is 23:00 UTC the day before.
        assert_eq!(
            parse_local_datetime("2000-03-01T00:00", -60).map(|m| m.0 % 86_400_000),
            Some(23 * 3_600_000)
        );
        assert_eq!(parse_local_datetime("2024-13-01T00:00", 0), None);
    }

    #[test]
    fn messages_use_the_forms_words() {
        let f = TaskForm {
            strategy: "distribution".into(),
            honeypot_percent: "150".into(),
            review: "consensus".into(),
            approval_threshold: "3".into(),
            ..form()
        };
        let errors = f.to_spec(0).unwrap_err();
        let all: Vec<String> = ["assignees", "honeypot_rate", "review_strategy"]
            .iter()
            .flat_map(|field| messages_for(&errors, field))
            .collect();
        assert!(
            all.contains(&"this worker strategy needs at least one annotator".to_string()),
            "{all:?}"
        );
        assert!(
            all.contains(&"the honeypot rate is a percentage from 0 to 100".to_string()),
            "{all:?}"
        );
        assert!(
            all.iter().any(|m| m.contains("workers per item")),
            "{all:?}"
        );
        for m in &all {
            assert!(
                !m.contains("overlap") && !m.contains("assignee") && !m.contains("share"),
                "{m}"
            );
        }
    }

    #[test]
    fn slips_are_warned_about_before_creation() {
        let name = |id: i64| format!("Ann {id}");
        let now = parse_local_datetime("2026-06-01T12:00", 0).unwrap();
        assert!(form().warnings(now, 0, Some(3), name).is_empty());
        let f = TaskForm {
            due_date: "2026-05-31T12:00".into(),
            strategy: "partitioned".into(),
            partition: "weighted".into(),
            assignees: vec![4, 5],
            weights: [(4, "0".to_string()), (5, "2".to_string())].into(),
            ..form()
        };
        assert_eq!(
            f.warnings(now, 0, Some(0), name),
            [
                "The due date is in the past.",
                "Ann 4 has weight 0 and gets no items.",
                "The items chosen match no item: the task would have nothing to label."
            ]
        );
        // A due date later today is not past; an unknown count warns of nothing.
        let later = TaskForm {
            due_date: "2026-06-01T12:01".into(),
            ..form()
        };
        assert!(later.warnings(now, 0, None, name).is_empty());
        // Pull with more workers per item than ticked annotators never finishes an item.
        let pull = |overlap: &str| TaskForm {
            strategy: "pull".into(),
            overlap: overlap.into(),
            assignees: vec![4],
            ..form()
        };
        assert_eq!(
            pull("7").warnings(now, 0, None, name),
            ["Workers per item (7) is more than the annotators ticked (1): no item would ever be finished."]
        );
        assert!(pull("1").warnings(now, 0, None, name).is_empty());
    }

    #[test]
    fn messages_match_field_prefixes() {
        let errors = vec![FieldError {
            field: "worker_strategy.partition.weights".into(),
            message: "m".into(),
        }];
        assert_eq!(messages_for(&errors, "worker_strategy.partition"), ["m"]);
        assert!(messages_for(&errors, "worker_strategy.part").is_empty());
    }
}
