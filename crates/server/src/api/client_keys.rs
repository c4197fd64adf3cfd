//! Drift between the server's replies and the web app's hand-written decoders. The app reads
//! manager screens from `serde_json::Value` by key (`int(v, "items")`, a `Deserialize` per type
//! costs wasm), so a renamed field would read as 0 or empty without a word. Its decoders only
//! build for wasm32, so this test reads them as source, like `openapi`'s tests read the router:
//! every key a client method reads must be one the typed reply it decodes really carries.

use super::{archives, items, jobs, manage, projects, review, tasks};
use crate::store::{archive, uploads};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// The web app's API client.
const CLIENT: &str = include_str!("../../../../src/api.rs");

/// The code a client method runs on a reply: its body, and the `from_json` of any type it
/// decodes with.
fn decoder(method: &str) -> String {
    let start = CLIENT
        .find(&format!("pub async fn {method}("))
        .unwrap_or_else(|| panic!("the client has no method {method}"));
    let rest = &CLIENT[start..];
    let end = rest[1..]
        .find("\n    pub async fn ")
        .map_or(rest.len(), |i| i + 1)
        .min(rest.find("\n}\n").unwrap_or(rest.len()));
    let mut code = rest[..end].to_owned();
    for (i, _) in rest[..end].match_indices("::from_json") {
        let ty: String = rest[..i]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let block = CLIENT
            .find(&format!("impl {ty} {{"))
            .unwrap_or_else(|| panic!("no impl {ty}"));
        let body = &CLIENT[block..];
        code.push_str(&body[..body.find("\n}\n").unwrap_or(body.len())]);
    }
    code
}

/// The keys the code reads: snake_case literals passed as an argument after the first
/// (`int(v, "items")`, `list(v, "members", …)`), used as an index (`a["per_hour"]`) or looked
/// up (`v.get("updated")`).
fn keys_read(code: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut parts = code.split('"');
    let mut before = parts.next().unwrap_or_default();
    while let (Some(literal), Some(after)) = (parts.next(), parts.next()) {
        let key_like = !literal.is_empty()
            && literal
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        let argument_or_index =
            before.trim_end().ends_with(',') || before.ends_with('[') || before.ends_with(".get(");
        // `"key": value` is a request body the client writes, not a reply it reads.
        let written = after.trim_start().starts_with(':');
        if key_like && argument_or_index && !written {
            keys.insert(literal.to_owned());
        }
        before = after;
    }
    keys
}

/// Every object key anywhere in `reply`.
fn keys_sent(reply: &impl Serialize) -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    out.insert(k.clone());
                    walk(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(&serde_json::to_value(reply).unwrap(), &mut out);
    out
}

fn assert_reads_only_sent(method: &str, reply: &impl Serialize) {
    let read = keys_read(&decoder(method));
    assert!(!read.is_empty(), "no keys found in the client's {method}");
    let sent = keys_sent(reply);
    let unknown: Vec<_> = read.difference(&sent).collect();
    assert!(
        unknown.is_empty(),
        "the web app's {method} reads {unknown:?}, which the server does not send (it sends {sent:?})"
    );
}

#[test]
fn the_key_reader_finds_arguments_and_indexes_only() {
    let code = r#"let v: Value = self.get(&format!("/x/{id}")).await?; Ok(list(&v, "rows", |r| (int(r, "row_id"), r["per_hour"].as_f64(), text(r, "Name"), v.get("total"), json!({"a": 1, "sent": 2}))))"#;
    let want: BTreeSet<String> = ["rows", "row_id", "per_hour", "total"]
        .map(String::from)
        .into();
    assert_eq!(keys_read(code), want);
}

#[test]
fn the_manager_screens_read_what_the_server_sends() {
    let progress = manage::Progress {
        task_id: 1,
        status: quorum_core::lifecycle::TaskStatus::InProgress,
        items: 2,
        labeled: 1,
        approved: 1,
        needs_review: 0,
        per_annotator: vec![manage::AnnotatorProgress {
            worker_id: 3,
            name: Some("ann".into()),
            annotations: 4,
            per_hour: Some(60.0),
            gold_accuracy: Some(1.0),
            gold_answered: 1,
            agreement: Some(0.5),
            qualified: Some(true),
        }],
        per_assignee: vec![manage::AssigneeProgress {
            worker_id: 3,
            name: Some("ann".into()),
            planned: 2,
            done: 1,
        }],
        steps: Some(json!([{"step": 0, "name": "label", "kind": "label", "waiting": 1}])),
        finished: Some(json!(0)),
    };
    assert_reads_only_sent("progress", &progress);
    let members = projects::MemberList {
        members: vec![projects::Member {
            user_id: 1,
            name: "m".into(),
            roles: vec!["manager"],
        }],
    };
    assert_reads_only_sent("members", &members);
    let datasets = projects::DatasetList {
        datasets: vec![projects::DatasetView {
            id: 1,
            name: "d".into(),
            created_at: 0,
            items: 2,
        }],
    };
    assert_reads_only_sent("datasets", &datasets);
    let reservations = manage::Reservations {
        reservations: vec![manage::Reservation {
            lease_id: 1,
            task_id: 2,
            task_name: "t".into(),
            worker_id: 3,
            name: Some("w".into()),
            issued_at: 0,
            expires_at: 1,
            items: 4,
        }],
    };
    assert_reads_only_sent("reservations", &reservations);
    let results = review::ResultsPage {
        results: vec![review::ResultRow {
            item_id: 1,
            external_id: None,
            state: quorum_core::review::ResultState::Approved,
            value: json!({"label": "cat"}),
            confidence: Some(1.0),
            method: Some("majority".into()),
            labels: 3,
            priority: 0,
            place: review::StepPlace {
                step: Some(0),
                step_name: Some(Some("label".into())),
            },
        }],
        next_cursor: None,
    };
    assert_reads_only_sent("task_items", &results);
    assert_reads_only_sent("set_priority", &tasks::Updated { updated: 2 });
}

#[test]
fn the_jobs_and_history_screens_read_what_the_server_sends() {
    let job = jobs::JobView {
        id: 1,
        kind: "export".into(),
        title: "Export".into(),
        file_name: "t.json".into(),
        project_id: Some(2),
        status: "complete",
        progress: 1.0,
        params: json!({"format": "json"}),
        errors: json!([{"message": "m"}]),
        has_result: true,
        created_at: 3,
        updated_at: 4,
    };
    assert_reads_only_sent("cancel_job", &job);
    let page = jobs::JobPage {
        jobs: vec![job],
        next_cursor: Some("1".into()),
    };
    assert_reads_only_sent("jobs", &page);
    let started = jobs::JobStarted {
        job_id: 5,
        status: crate::store::jobs::JobStatus::InProgress.as_str(),
    };
    assert_reads_only_sent("export", &started);
    let history = items::UploadList {
        uploads: vec![uploads::Upload {
            id: 1,
            dataset_id: 2,
            user: Some("u".into()),
            format: "csv".into(),
            created_at: 3,
            inserted: 4,
            updated: 5,
            unchanged: 6,
            failed: 1,
            errors: json!([{"row": 2, "message": "m"}]),
        }],
    };
    assert_reads_only_sent("uploads", &history);
    let archives = archives::ArchiveList {
        archives: vec![archive::Entry {
            id: 1,
            created_at: 2,
            created_by: Some("m".into()),
            task_count: 1,
            task_names: vec!["t".into()],
            ready: true,
        }],
    };
    assert_reads_only_sent("archives", &archives);
}
