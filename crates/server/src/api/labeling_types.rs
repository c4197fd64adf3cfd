//! The bodies `/tasks/{id}/batches`, `/leases/{id}/…` and `/sync` read and answer, as the
//! OpenAPI document describes them.

use quorum_core::sync::{Op, OpResult};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// What to lease; an empty body asks for the task's batch size.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// 1 to `MAX_BATCH_SIZE` items (default: the task's batch size).
    #[serde(default)]
    pub size: Option<u32>,
}

/// A leased batch. No work now is lease 0 with no items.
#[derive(Serialize, ToSchema)]
pub struct Batch {
    pub lease_id: i64,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
    /// What the annotator sees of each item, in the order to label them: `item_id`, `data`,
    /// `metadata`, `directory`, `rework` (a reviewer's comment and the annotator's previous
    /// answer, or null) and, on video frames, `prefill` and `metadata.next_track`.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Value>,
}

impl Batch {
    /// No work now.
    pub fn empty(now: i64) -> Self {
        Batch {
            lease_id: 0,
            expires_at: now,
            items: Vec::new(),
        }
    }
}

/// A renewed lease.
#[derive(Serialize, ToSchema)]
pub struct Renewed {
    pub lease_id: i64,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
}

/// A released lease.
#[derive(Serialize, ToSchema)]
pub struct Released {
    pub lease_id: i64,
    /// Items given back.
    pub released_items: u64,
}

/// The body of `/sync`, as `quorum_core::sync::decode_request` reads and checks it (the handler
/// decodes it there, so this type only describes it).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SyncRequest {
    /// Ops in the order they were made: `{client_op_id, created_at?, action: {type: submit |
    /// revise | skip | release | review, …}}`.
    #[schema(value_type = Vec<Object>)]
    pub ops: Vec<Op>,
}

/// Each op's answer, in request order.
#[derive(Serialize, ToSchema)]
pub struct SyncReply {
    /// `{client_op_id, status: applied | duplicate | rejected, late?, code?, message?}`.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<OpResult>,
}
