//! Leases: batches of seats held by one worker until they expire, are released or are used.
//!
//! A seat counts against an item's overlap while its lease is live; an annotation counts when it
//! arrived on time, or late but while the item still had room (so offline work is not wasted).
//! A late annotation that finds the item full is kept, flagged, and does not count.

use crate::ids::{LeaseId, TaskId, WorkerId};
use crate::time::Millis;
use serde::{Deserialize, Serialize};

/// The longest lease a task may set (one week).
pub const MAX_LEASE_SECONDS: u32 = 7 * 24 * 3600;
/// The lease length when a task sets none (ten minutes).
pub const DEFAULT_LEASE_SECONDS: u32 = 600;

/// A lease as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Fencing token.
    pub id: LeaseId,
    /// The task.
    pub task: TaskId,
    /// The holder.
    pub worker: WorkerId,
    /// When it was issued.
    pub issued_at: Millis,
    /// When its seats return to the queue.
    pub expires_at: Millis,
    /// When a manager or the worker released it, if ever.
    pub released_at: Option<Millis>,
}

/// Whether a submission arrived while its lease was live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    /// The lease was live: the seat becomes the annotation.
    OnTime,
    /// The lease had expired or been released.
    Late,
}

/// Why a lease operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseError {
    /// It expired or was released; renew no longer applies.
    NotLive,
    /// The asker does not hold it.
    NotHolder,
}

impl std::fmt::Display for LeaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LeaseError::NotLive => "the lease has expired or was released",
            LeaseError::NotHolder => "the lease belongs to another worker",
        })
    }
}

impl std::error::Error for LeaseError {}

impl Lease {
    /// A new lease issued at `now` for `seconds` (clamped to 1..=[`MAX_LEASE_SECONDS`]).
    pub fn new(id: LeaseId, task: TaskId, worker: WorkerId, now: Millis, seconds: u32) -> Lease {
        Lease {
            id,
            task,
            worker,
            issued_at: now,
            expires_at: now.plus_seconds(seconds.clamp(1, MAX_LEASE_SECONDS)),
            released_at: None,
        }
    }

    /// True while its seats count against overlap.
    pub fn is_live(&self, now: Millis) -> bool {
        self.released_at.is_none() && now < self.expires_at
    }

    /// Extends a live lease to `now + seconds`, on behalf of `worker`.
    pub fn renew(&mut self, worker: WorkerId, now: Millis, seconds: u32) -> Result<(), LeaseError> {
        if worker != self.worker {
            return Err(LeaseError::NotHolder);
        }
        if !self.is_live(now) {
            return Err(LeaseError::NotLive);
        }
        self.expires_at = self
            .expires_at
            .max(now.plus_seconds(seconds.clamp(1, MAX_LEASE_SECONDS)));
        Ok(())
    }

    /// Ends the lease at `now` (a manager's release, or the worker giving the batch back).
    pub fn release(&mut self, now: Millis) {
        if self.released_at.is_none() {
            self.released_at = Some(now);
        }
    }

    /// How a submission made at `now` under this lease is classed.
    pub fn timeliness(&self, now: Millis) -> Timeliness {
        if self.is_live(now) {
            Timeliness::OnTime
        } else {
            Timeliness::Late
        }
    }
}

/// Whether an annotation counts towards its item's overlap: always on time; late only while
/// the item still has a free seat (`covered` = live seats + counted annotations).
pub fn counts_toward_overlap(timeliness: Timeliness, covered: u16, overlap: u16) -> bool {
    match timeliness {
        Timeliness::OnTime => true,
        Timeliness::Late => covered < overlap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        Lease::new(LeaseId(1), TaskId(1), WorkerId(7), Millis(1_000), 60)
    }

    #[test]
    fn a_lease_lives_until_it_expires() {
        let l = lease();
        assert_eq!(l.expires_at, Millis(61_000));
        assert!(l.is_live(Millis(60_999)));
        assert!(!l.is_live(Millis(61_000)));
        assert_eq!(l.timeliness(Millis(2_000)), Timeliness::OnTime);
        assert_eq!(l.timeliness(Millis(61_000)), Timeliness::Late);
    }

    #[test]
    fn renew_extends_only_live_leases_of_the_holder() {
        let mut l = lease();
        assert_eq!(
            l.renew(WorkerId(8), Millis(2_000), 60),
            Err(LeaseError::NotHolder)
        );
        l.renew(WorkerId(7), Millis(30_000), 60).unwrap();
        assert_eq!(l.expires_at, Millis(90_000));
        // Renewing with a shorter time never shortens a lease.
        l.renew(WorkerId(7), Millis(31_000), 1).unwrap();
        assert_eq!(l.expires_at, Millis(90_000));
        assert_eq!(
            l.renew(WorkerId(7), Millis(90_000), 60),
            Err(LeaseError::NotLive)
        );
    }

    #[test]
    fn released_leases_are_dead_and_late() {
        let mut l = lease();
        l.release(Millis(5_000));
        l.release(Millis(6_000));
        assert_eq!(l.released_at, Some(Millis(5_000)));
        assert!(!l.is_live(Millis(5_000)));
        assert_eq!(l.timeliness(Millis(5_500)), Timeliness::Late);
    }

    #[test]
    fn late_work_counts_only_where_there_is_room() {
        assert!(counts_toward_overlap(Timeliness::OnTime, 3, 3));
        assert!(counts_toward_overlap(Timeliness::Late, 2, 3));
        assert!(!counts_toward_overlap(Timeliness::Late, 3, 3));
    }

    #[test]
    fn lease_length_is_clamped() {
        let l = Lease::new(LeaseId(1), TaskId(1), WorkerId(1), Millis(0), u32::MAX);
        assert_eq!(l.expires_at, Millis(MAX_LEASE_SECONDS as i64 * 1000));
        let l = Lease::new(LeaseId(1), TaskId(1), WorkerId(1), Millis(0), 0);
        assert_eq!(l.expires_at, Millis(1000));
    }
}
