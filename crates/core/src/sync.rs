//! The offline sync protocol between the browser's outbox and the server's `/api/v1/sync`.
//!
//! The app records every action as an [`Op`] with a client-made `client_op_id`, keeps them in an
//! [`Outbox`] (persisted in IndexedDB) and posts them in order. The server answers each op
//! `applied`, `duplicate` or `rejected`; the outbox drops acknowledged ops, keeps rejected ones
//! aside for the user to see, and retries the rest after a back-off. Time is always an argument.

use crate::ids::{ItemId, LeaseId, TaskId, WorkerId};
use crate::label::LabelValue;
use crate::seed;
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// The most ops one sync request may carry.
pub const MAX_OPS_PER_REQUEST: usize = 500;
/// The longest `client_op_id` accepted.
pub const MAX_OP_ID_LEN: usize = 128;
/// The longest comment or skip reason accepted.
pub const MAX_TEXT_LEN: usize = 4000;

/// One action taken by a user, possibly offline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    /// Unique per op, made by the client; replaying it is harmless.
    pub client_op_id: String,
    /// When the user did it (client clock; informative only).
    #[serde(default)]
    pub created_at: Option<Millis>,
    /// What was done.
    pub action: Action,
}

/// What an op does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A label for an item held under a lease.
    Submit {
        /// The task.
        task_id: TaskId,
        /// The item.
        item_id: ItemId,
        /// The lease the item was handed out under (fencing token).
        lease_id: LeaseId,
        /// The answer.
        value: LabelValue,
        /// Time spent labeling, if measured.
        #[serde(default)]
        duration_ms: Option<u32>,
    },
    /// The worker changes their own answer to an item they labeled, while its lease is live
    /// (going back in the labeling screen). The previous answer stays in the history, inactive;
    /// the new one takes its place. Applied once per `client_op_id`, like every op.
    Revise {
        /// The task.
        task_id: TaskId,
        /// The item.
        item_id: ItemId,
        /// The lease the item was labeled under.
        lease_id: LeaseId,
        /// The new answer.
        value: LabelValue,
    },
    /// The worker passes on an item; it is not offered to them again.
    Skip {
        /// The task.
        task_id: TaskId,
        /// The item.
        item_id: ItemId,
        /// The lease.
        lease_id: LeaseId,
        /// Why (optional).
        #[serde(default)]
        reason: Option<String>,
    },
    /// The worker gives back the unfinished rest of a lease.
    Release {
        /// The lease.
        lease_id: LeaseId,
    },
    /// A reviewer's decision on an item's result.
    Review {
        /// The task.
        task_id: TaskId,
        /// The item.
        item_id: ItemId,
        /// Approve or reject.
        decision: Decision,
        /// Why (required on reject).
        #[serde(default)]
        comment: Option<String>,
        /// The reviewer's own answer, correcting the annotators' (approve only): stored as the
        /// reviewer's answer, it becomes the item's result.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<LabelValue>,
    },
}

/// A reviewer's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The result stands.
    Approve,
    /// The work goes back.
    Reject,
}

/// The server's answer to one op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Done now.
    Applied {
        /// For submissions: whether it arrived after its lease ended.
        #[serde(default)]
        late: bool,
    },
    /// Done before (same `client_op_id`); nothing changed.
    Duplicate,
    /// Refused for good; retrying will not help.
    Rejected {
        /// Stable machine-readable reason.
        code: String,
        /// For people.
        message: String,
    },
}

/// One op's answer, tied to its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpResult {
    /// The op answered.
    pub client_op_id: String,
    /// The answer.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Why an op is malformed (checked on both sides before anything is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    /// Stable code.
    pub code: &'static str,
    /// For people.
    pub message: String,
}

impl Op {
    /// Checks what can be checked without the store: id shape and text lengths.
    pub fn validate(&self) -> Result<(), OpError> {
        let bad = |code, message: String| Err(OpError { code, message });
        let id = &self.client_op_id;
        if id.is_empty() || id.len() > MAX_OP_ID_LEN || id.chars().any(|c| c.is_control()) {
            return bad(
                "invalid_op_id",
                format!("client_op_id must be 1 to {MAX_OP_ID_LEN} printable characters"),
            );
        }
        match &self.action {
            Action::Skip {
                reason: Some(reason),
                ..
            } => check_text("reason", reason),
            Action::Review {
                decision,
                comment,
                value,
                ..
            } => check_review(*decision, comment.as_deref(), value.is_some()),
            _ => Ok(()),
        }
    }
}

/// Checks a free-text field people write for other people (a review comment, a skip reason):
/// at most [`MAX_TEXT_LEN`] bytes and no control characters but line breaks and tabs. The same
/// rule holds over `/sync` and the REST endpoints, so a comment refused in one is refused in the
/// other. Messages start with the field's name.
pub fn check_text(field: &str, text: &str) -> Result<(), OpError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(OpError {
            code: "text_too_long",
            message: format!(
                "{field}: comments and reasons are limited to {MAX_TEXT_LEN} bytes, this one has {}",
                text.len()
            ),
        });
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(OpError {
            code: "invalid_text",
            message: format!(
                "{field}: control characters (such as NUL) are not allowed; line breaks and tabs are"
            ),
        });
    }
    Ok(())
}

/// Checks a reviewer's decision: a rejection needs a comment for the annotator, a corrected
/// answer is an approval (of the correction), and any comment follows [`check_text`].
pub fn check_review(
    decision: Decision,
    comment: Option<&str>,
    corrected: bool,
) -> Result<(), OpError> {
    if corrected && decision == Decision::Reject {
        return Err(OpError {
            code: "correction_not_rejection",
            message: "a corrected answer becomes the result: send it with decision approve".into(),
        });
    }
    if decision == Decision::Reject && comment.is_none_or(|c| c.trim().is_empty()) {
        return Err(OpError {
            code: "comment_required",
            message: "a rejection needs a comment for the annotator".into(),
        });
    }
    comment.map_or(Ok(()), |c| check_text("comment", c))
}

/// A request body for `/api/v1/sync`, decoded and checked as a whole before anything is applied.
pub fn decode_request(body: &[u8]) -> Result<Vec<Op>, OpError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        ops: Vec<Op>,
    }
    let req: Request = serde_json::from_slice(body).map_err(|e| OpError {
        code: "invalid_body",
        message: format!("the sync request is not valid: {e}"),
    })?;
    if req.ops.len() > MAX_OPS_PER_REQUEST {
        return Err(OpError {
            code: "too_many_ops",
            message: format!("at most {MAX_OPS_PER_REQUEST} ops per request"),
        });
    }
    for (i, op) in req.ops.iter().enumerate() {
        op.validate().map_err(|e| OpError {
            code: e.code,
            message: format!("op {i}: {}", e.message),
        })?;
    }
    Ok(req.ops)
}

/// A unique op id from a device id and that device's op counter.
pub fn client_op_id(device: &str, counter: u64) -> String {
    format!("{device}-{counter}")
}

/// What an outbox holds per op: the op itself, or (in the browser) its JSON kept as it was made,
/// so the app never decodes an [`Action`] (that decoder alone is kilobytes of wasm).
pub trait Queued: Clone {
    /// The op's `client_op_id`.
    fn op_id(&self) -> &str;
}

impl Queued for Op {
    fn op_id(&self) -> &str {
        &self.client_op_id
    }
}

/// An op waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending<O = Op> {
    /// The op.
    pub op: O,
    /// The user who made it: it is sent only with that user's token, whoever signs in later on
    /// the same browser. `None` only for ops stored before owners were recorded; those are
    /// never sent, since nobody can say whose they are.
    #[serde(default)]
    pub user: Option<WorkerId>,
    /// Failed delivery attempts so far.
    pub attempts: u32,
    /// Not to be sent before this time.
    pub not_before: Millis,
}

/// An op the server refused, kept for the user to see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused<O = Op> {
    /// The op.
    pub op: O,
    /// The user who made it (only they see the refusal).
    #[serde(default)]
    pub user: Option<WorkerId>,
    /// The server's code.
    pub code: String,
    /// The server's message.
    pub message: String,
}

/// The client's queue of ops not yet acknowledged, in the order they were made. One browser may
/// hold the ops of several users (one signed out with labels still queued): each user's ops keep
/// their own order and go only with their own token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbox<O = Op> {
    /// Waiting ops, oldest first.
    pub pending: Vec<Pending<O>>,
    /// Ops the server refused.
    pub refused: Vec<Refused<O>>,
}

impl<O> Default for Outbox<O> {
    fn default() -> Self {
        Self {
            pending: Vec::new(),
            refused: Vec::new(),
        }
    }
}

/// The first retry waits this long; each further failure doubles it up to [`MAX_BACKOFF_MS`].
pub const BASE_BACKOFF_MS: i64 = 1_000;
/// The longest wait between retries.
pub const MAX_BACKOFF_MS: i64 = 60_000;

impl<O: Queued> Outbox<O> {
    /// Queues a new op made by `user` (labeling never waits for the network).
    pub fn push(&mut self, op: O, user: WorkerId, now: Millis) {
        self.pending.push(Pending {
            op,
            user: Some(user),
            attempts: 0,
            not_before: now,
        });
    }

    /// How many of `user`'s ops wait to be synced.
    pub fn waiting(&self, user: WorkerId) -> usize {
        self.pending.iter().filter(|p| p.user == Some(user)).count()
    }

    /// The ops `user` refused by the server, for them to see.
    pub fn refused_for(&self, user: WorkerId) -> impl Iterator<Item = &Refused<O>> {
        self.refused.iter().filter(move |r| r.user == Some(user))
    }

    /// `user`'s ops to send now (with `user`'s token): a prefix of their ops in order, so a
    /// later op never overtakes an earlier one. Other users' ops are neither sent nor waited for.
    pub fn ready(&self, user: WorkerId, now: Millis, max: usize) -> Vec<O> {
        self.pending
            .iter()
            .filter(|p| p.user == Some(user))
            .take_while(|p| p.not_before <= now)
            .take(max.min(MAX_OPS_PER_REQUEST))
            .map(|p| p.op.clone())
            .collect()
    }

    /// Applies the server's answers: acknowledged ops leave, refused ones move aside.
    /// Ops the server did not answer stay, in order. Returns how many were acknowledged.
    pub fn acknowledge(&mut self, results: &[OpResult]) -> usize {
        let mut acked = 0;
        for r in results {
            let Some(pos) = self
                .pending
                .iter()
                .position(|p| p.op.op_id() == r.client_op_id)
            else {
                continue;
            };
            let p = self.pending.remove(pos);
            match &r.outcome {
                Outcome::Applied { .. } | Outcome::Duplicate => acked += 1,
                Outcome::Rejected { code, message } => self.refused.push(Refused {
                    op: p.op,
                    user: p.user,
                    code: code.clone(),
                    message: message.clone(),
                }),
            }
        }
        acked
    }

    /// Records a failed delivery (network down, server error): every op sent waits longer.
    /// The jitter comes from the op id so that many devices do not retry in lockstep.
    pub fn delivery_failed(&mut self, sent: &[O], now: Millis) {
        for p in self.pending.iter_mut() {
            if sent.iter().any(|o| o.op_id() == p.op.op_id()) {
                p.attempts += 1;
                p.not_before = Millis(now.0 + backoff_ms(p.attempts, p.op.op_id()));
            }
        }
    }

    /// Makes every waiting op due now (the browser just came back online).
    pub fn retry_now(&mut self, now: Millis) {
        for p in self.pending.iter_mut() {
            p.not_before = p.not_before.min(now);
        }
    }

    /// Drops a refused op the user has seen.
    pub fn dismiss(&mut self, client_op_id: &str) {
        self.refused.retain(|r| r.op.op_id() != client_op_id);
    }
}

/// Back-off before retry number `attempts` (1-based): exponential, capped, with ±25% jitter
/// derived from the op id.
pub fn backoff_ms(attempts: u32, client_op_id: &str) -> i64 {
    let exp = BASE_BACKOFF_MS.saturating_mul(1i64 << attempts.saturating_sub(1).min(16));
    let base = exp.min(MAX_BACKOFF_MS);
    let h = client_op_id
        .bytes()
        .fold(0u64, |acc, b| seed::mix(acc ^ b as u64));
    let jitter = (h % 501) as i64 - 250; // -250..=250 per mille of a quarter
    base + base * jitter / 1000
}

#[cfg(test)]
mod tests {

    use super::*;

    const ME: WorkerId = WorkerId(7);

    #[test]
    fn free_text_is_bounded_and_printable() {
        assert!(check_text("comment", &"x".repeat(MAX_TEXT_LEN)).is_ok());
        assert!(check_text("comment", "two\nlines\tand a tab\r\n").is_ok());
        assert_eq!(
            check_text("comment", &"x".repeat(MAX_TEXT_LEN + 1))
                .unwrap_err()
                .code,
            "text_too_long"
        );
        let nul = check_text("reason", "a\0b").unwrap_err();
        assert_eq!(nul.code, "invalid_text");
        assert!(nul.message.starts_with("reason:"), "{}", nul.message);
        assert_eq!(
            check_text("comment", "\u{1b}[31m").unwrap_err().code,
            "invalid_text"
        );
        assert_eq!(
            check_review(Decision::Reject, Some("  "), false)
                .unwrap_err()
                .code,
            "comment_required"
        );
        assert!(check_review(Decision::Approve, None, false).is_ok());
        assert!(check_review(Decision::Approve, None, true).is_ok());
        assert_eq!(
            check_review(Decision::Reject, Some("wrong box"), true)
                .unwrap_err()
                .code,
            "correction_not_rejection"
        );
        assert_eq!(
            check_review(Decision::Approve, Some("\0"), false)
                .unwrap_err()
                .code,
            "invalid_text"
        );
    }

    fn submit(id: &str) -> Op {
        Op {
            client_op_id: id.into(),
            created_at: None,
            action: Action::Submit {
                task_id: TaskId(1),
                item_id: ItemId(2),
                lease_id: LeaseId(3),
                value: LabelValue::Classification {
                    concept: "cat".into(),
                },
                duration_ms: None,
            },
        }
    }

    fn result(id: &str, outcome: Outcome) -> OpResult {
        OpResult {
            client_op_id: id.into(),
            outcome,
        }
    }

    #[test]
    fn ops_round_trip_through_json() {
        let op = submit("d-1");
        let json = serde_json::to_string(&op).unwrap();
        assert!(json.contains(r#""type":"submit""#));
        assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
        let r = result(
            "d-1",
            Outcome::Rejected {
                code: "x".into(),
                message: "y".into(),
            },
        );
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"client_op_id":"d-1","status":"rejected","code":"x","message":"y"}"#
        );
    }

    #[test]
    fn decoding_refuses_bad_requests_whole() {
        assert_eq!(decode_request(b"{").unwrap_err().code, "invalid_body");
        assert_eq!(
            decode_request(
                br#"{"ops":[{"client_op_id":"","action":{"type":"release","lease_id":1}}]}"#
            )
            .unwrap_err()
            .code,
            "invalid_op_id"
        );
        assert_eq!(
            decode_request(br#"{"ops":[{"client_op_id":"a","action":{"type":"launch"}}]}"#)
                .unwrap_err()
                .code,
            "invalid_body"
        );
        let reject = br#"{"ops":[{"client_op_id":"a","action":{"type":"review","task_id":1,"item_id":2,"decision":"reject"}}]}"#;
        assert_eq!(decode_request(reject).unwrap_err().code, "comment_required");
        let ok = br#"{"ops":[{"client_op_id":"a","action":{"type":"release","lease_id":1}}]}"#;
        assert_eq!(decode_request(ok).unwrap().len(), 1);
        let revise = br#"{"ops":[{"client_op_id":"b","action":{"type":"revise","task_id":1,"item_id":2,"lease_id":3,"value":{"type":"classification","concept":"dog"}}}]}"#;
        assert!(matches!(
            decode_request(revise).unwrap()[0].action,
            Action::Revise { .. }
        ));
        let many = format!(
            r#"{{"ops":[{}]}}"#,
            vec![r#"{"client_op_id":"a","action":{"type":"release","lease_id":1}}"#; 501].join(",")
        );
        assert_eq!(
            decode_request(many.as_bytes()).unwrap_err().code,
            "too_many_ops"
        );
    }

    #[test]
    fn outbox_sends_in_order_and_drops_acknowledged() {
        let mut o = Outbox::default();
        for i in 0..5 {
            o.push(submit(&format!("d-{i}")), ME, Millis(0));
        }
        let sent = o.ready(ME, Millis(0), 3);
        assert_eq!(
            sent.iter()
                .map(|s| s.client_op_id.as_str())
                .collect::<Vec<_>>(),
            ["d-0", "d-1", "d-2"]
        );
        let acked = o.acknowledge(&[
            result("d-0", Outcome::Applied { late: false }),
            result("d-1", Outcome::Duplicate),
            result(
                "d-2",
                Outcome::Rejected {
                    code: "item_not_leased".into(),
                    message: "no".into(),
                },
            ),
        ]);
        assert_eq!(acked, 2);
        assert_eq!(o.waiting(ME), 2);
        assert_eq!(o.refused_for(ME).count(), 1);
        assert_eq!(o.refused.len(), 1);
        o.dismiss("d-2");
        assert!(o.refused.is_empty());
    }

    #[test]
    fn failed_delivery_backs_off_and_later_ops_never_overtake() {
        let mut o = Outbox::default();
        o.push(submit("a"), ME, Millis(0));
        let sent = o.ready(ME, Millis(0), 10);
        o.delivery_failed(&sent, Millis(0));
        o.push(submit("b"), ME, Millis(10));
        // "a" is backing off, so nothing is ready: "b" must not go first.
        assert!(o.ready(ME, Millis(10), 10).is_empty());
        o.retry_now(Millis(20));
        assert_eq!(o.ready(ME, Millis(20), 10).len(), 2);
    }

    #[test]
    fn each_users_ops_go_only_with_that_user() {
        let other = WorkerId(8);
        let mut o = Outbox::default();
        o.push(submit("mine-1"), ME, Millis(0));
        o.push(submit("theirs-1"), other, Millis(0));
        o.push(submit("mine-2"), ME, Millis(0));
        let ids = |ops: Vec<Op>| ops.into_iter().map(|o| o.client_op_id).collect::<Vec<_>>();
        assert_eq!(ids(o.ready(ME, Millis(0), 10)), ["mine-1", "mine-2"]);
        assert_eq!(ids(o.ready(other, Millis(0), 10)), ["theirs-1"]);
        assert_eq!((o.waiting(ME), o.waiting(other)), (2, 1));
        // A back-off of one user's ops never holds up another's.
        let sent = o.ready(other, Millis(0), 10);
        o.delivery_failed(&sent, Millis(0));
        assert_eq!(o.ready(ME, Millis(0), 10).len(), 2);
        o.acknowledge(&[result(
            "theirs-1",
            Outcome::Rejected {
                code: "x".into(),
                message: "y".into(),
            },
        )]);
        assert_eq!(o.refused_for(ME).count(), 0);
        assert_eq!(o.refused_for(other).count(), 1);
        // Ops stored before owners were recorded belong to nobody and are never sent.
        let legacy: Outbox = serde_json::from_str(
            r#"{"pending":[{"op":{"client_op_id":"old","action":{"type":"release","lease_id":1}},"attempts":0,"not_before":0}],"refused":[]}"#,
        )
        .unwrap();
        assert!(legacy.ready(ME, Millis(0), 10).is_empty());
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_a_quarter() {
        for attempts in 1..30 {
            let b = backoff_ms(attempts, "x-1");
            let base = (BASE_BACKOFF_MS << (attempts - 1).min(16)).min(MAX_BACKOFF_MS);
            assert!(b >= base * 3 / 4 && b <= base * 5 / 4, "{attempts}: {b}");
        }
        assert_ne!(backoff_ms(1, "x-1"), backoff_ms(1, "x-2"));
    }
}
