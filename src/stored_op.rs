//! An op as the browser's outbox keeps it: the JSON made when the user acted, read back as a
//! `serde_json::Value` and sent as it is. The app never decodes an [`Action`] again, so the wasm
//! carries no `Action` decoder (about 15 KB raw); the few fields the screens look at (which kind,
//! which task, item or lease) are read from the JSON. The stored shape is the one earlier
//! versions wrote, so an outbox saved by them still loads.

use quorum_core::ids::{ItemId, LeaseId, TaskId};
use quorum_core::sync::{Op, Queued};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One op's JSON, `{"client_op_id": …, "created_at": …, "action": {"type": …, …}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StoredOp(Value);

impl StoredOp {
    /// The op as it will be sent (the encoder the app needs anyway makes it).
    pub fn new(op: &Op) -> Self {
        Self(
            serde_json::to_string(op)
                .ok()
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(Value::Null),
        )
    }

    /// The action's `type`: "submit", "revise", "skip", "release" or "review".
    pub fn kind(&self) -> &str {
        self.0["action"]["type"].as_str().unwrap_or("")
    }

    fn id_field(&self, key: &str) -> Option<i64> {
        self.0["action"][key].as_i64()
    }

    /// The task the action is about (none for a release).
    pub fn task_id(&self) -> Option<TaskId> {
        self.id_field("task_id").map(TaskId)
    }

    /// The item the action is about (none for a release).
    pub fn item_id(&self) -> Option<ItemId> {
        self.id_field("item_id").map(ItemId)
    }

    /// The lease the action was taken under (none for a review).
    pub fn lease_id(&self) -> Option<LeaseId> {
        self.id_field("lease_id").map(LeaseId)
    }

    /// For people: what the op did, e.g. "label for item 7".
    pub fn describe(&self) -> String {
        let item = self.item_id().map_or(0, |i| i.0);
        match self.kind() {
            "submit" => format!("label for item {item}"),
            "revise" => format!("change of the label for item {item}"),
            "skip" => format!("skip of item {item}"),
            "review" => format!("review of item {item}"),
            _ => format!("release of lease {}", self.lease_id().map_or(0, |l| l.0)),
        }
    }
}

impl Queued for StoredOp {
    fn op_id(&self) -> &str {
        self.0["client_op_id"].as_str().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorum_core::label::LabelValue;
    use quorum_core::sync::{Action, Outbox};
    use quorum_core::time::Millis;

    fn submit() -> Op {
        Op {
            client_op_id: "w1-3".into(),
            created_at: Some(Millis(5)),
            action: Action::Submit {
                task_id: TaskId(2),
                item_id: ItemId(7),
                lease_id: LeaseId(9),
                value: serde_json::from_str::<LabelValue>(
                    r#"{"type":"classification","concept":"dog"}"#,
                )
                .unwrap(),
                duration_ms: Some(40),
            },
        }
    }

    #[test]
    fn a_stored_op_is_sent_exactly_as_the_op_encodes() {
        let op = submit();
        let stored = StoredOp::new(&op);
        assert_eq!(
            serde_json::to_value(&stored).unwrap(),
            serde_json::to_value(&op).unwrap()
        );
        // The server decodes it back to the same op.
        let body = format!(r#"{{"ops":[{}]}}"#, serde_json::to_string(&stored).unwrap());
        assert_eq!(
            quorum_core::sync::decode_request(body.as_bytes()).unwrap(),
            vec![op]
        );
        assert_eq!(stored.op_id(), "w1-3");
        assert_eq!(stored.kind(), "submit");
        assert_eq!(
            (stored.task_id(), stored.item_id(), stored.lease_id()),
            (Some(TaskId(2)), Some(ItemId(7)), Some(LeaseId(9)))
        );
        assert_eq!(stored.describe(), "label for item 7");
    }

    #[test]
    fn an_outbox_saved_by_earlier_versions_still_loads_and_sends() {
        let mut typed = Outbox::default();
        typed.push(submit(), quorum_core::ids::WorkerId(4), Millis(1));
        let saved = serde_json::to_string(&typed).unwrap();
        let loaded: Outbox<StoredOp> = serde_json::from_str(&saved).unwrap();
        let ready = loaded.ready(quorum_core::ids::WorkerId(4), Millis(1), 10);
        assert_eq!(ready, vec![StoredOp::new(&submit())]);
        let release: StoredOp = serde_json::from_str(
            r#"{"client_op_id":"w1-4","action":{"type":"release","lease_id":9}}"#,
        )
        .unwrap();
        assert_eq!(release.describe(), "release of lease 9");
        assert_eq!(release.item_id(), None);
    }
}
