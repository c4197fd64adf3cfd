//! The task lifecycle: `open → in_progress → completed → archived`, legal moves only.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Created; no work handed out yet.
    Open,
    /// Work has been handed out.
    InProgress,
    /// Every item's result is approved.
    Completed,
    /// Put away; read-only. Final.
    Archived,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 4] = [
        TaskStatus::Open,
        TaskStatus::InProgress,
        TaskStatus::Completed,
        TaskStatus::Archived,
    ];

    /// Whether `self → to` is a legal move. Completed tasks reopen (to in progress) when items
    /// are added or a result is rejected; archiving is possible from any live status.
    pub fn can_move_to(self, to: TaskStatus) -> bool {
        use TaskStatus::*;
        matches!(
            (self, to),
            (Open, InProgress)
                | (InProgress, Completed)
                | (Completed, InProgress)
                | (Open | InProgress | Completed, Archived)
        )
    }

    /// Whether every one of `from` may move to `to` (not for no tasks), so a bulk action offers
    /// only what the server accepts for all of them.
    pub fn all_can_move_to(from: impl IntoIterator<Item = TaskStatus>, to: TaskStatus) -> bool {
        let mut any = false;
        from.into_iter().all(|f| {
            any = true;
            f.can_move_to(to)
        }) && any
    }

    /// The move, or an error naming both ends.
    pub fn move_to(self, to: TaskStatus) -> Result<TaskStatus, String> {
        if self.can_move_to(to) {
            Ok(to)
        } else {
            Err(format!("a task cannot go from {self} to {to}"))
        }
    }

    /// Whether work may be handed out.
    pub fn accepts_work(self) -> bool {
        matches!(self, TaskStatus::Open | TaskStatus::InProgress)
    }

    /// The status a task should have given whether work started and how many items are done.
    pub fn derived(self, work_started: bool, items: u64, approved: u64) -> TaskStatus {
        match self {
            TaskStatus::Archived => self,
            _ if items > 0 && approved >= items => TaskStatus::Completed,
            TaskStatus::Completed => TaskStatus::InProgress,
            TaskStatus::Open if work_started => TaskStatus::InProgress,
            other => other,
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskStatus::Open => "open",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::Completed => "completed",
            TaskStatus::Archived => "archived",
        })
    }
}

impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        TaskStatus::ALL
            .into_iter()
            .find(|t| t.to_string() == s)
            .ok_or_else(|| format!("unknown task status {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::TaskStatus::{self, *};

    #[test]
    fn bulk_moves_fit_every_task() {
        let all = |from: &[TaskStatus], to| TaskStatus::all_can_move_to(from.iter().copied(), to);
        assert!(all(&[Open, Completed], InProgress));
        assert!(!all(&[Open, Completed], Completed));
        assert!(all(&[InProgress], Completed));
        assert!(!all(&[Open, InProgress], InProgress));
        assert!(!all(&[], InProgress));
    }

    #[test]
    fn exactly_the_legal_transitions_are_allowed() {
        let legal = [
            (Open, InProgress),
            (InProgress, Completed),
            (Completed, InProgress),
            (Open, Archived),
            (InProgress, Archived),
            (Completed, Archived),
        ];
        for from in TaskStatus::ALL {
            for to in TaskStatus::ALL {
                assert_eq!(
                    from.can_move_to(to),
                    legal.contains(&(from, to)),
                    "{from}→{to}"
                );
            }
        }
        assert!(Archived.move_to(Open).is_err());
    }

    #[test]
    fn status_follows_progress() {
        assert_eq!(Open.derived(false, 10, 0), Open);
        assert_eq!(Open.derived(true, 10, 0), InProgress);
        assert_eq!(InProgress.derived(true, 10, 10), Completed);
        assert_eq!(Completed.derived(true, 11, 10), InProgress);
        assert_eq!(Archived.derived(true, 10, 10), Archived);
        assert_eq!(Open.derived(false, 0, 0), Open);
    }

    #[test]
    fn names_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(s.to_string().parse::<TaskStatus>().unwrap(), s);
        }
        assert!("done".parse::<TaskStatus>().is_err());
    }
}
