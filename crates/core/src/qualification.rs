//! Qualification gating: a worker's score on a qualification task's gold set decides whether
//! they may work on the production tasks it guards. (The scoring itself is in `consensus`.)

use serde::{Deserialize, Serialize};

/// A gate: pass mark (0–1) over at least `min_answers` gold answers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualificationGate {
    /// Required accuracy, 0–1.
    pub pass_mark: f64,
    /// Gold answers needed before a verdict.
    #[serde(default = "default_min_answers")]
    pub min_answers: u32,
}

fn default_min_answers() -> u32 {
    1
}

/// A worker's standing at a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// Not enough answers yet.
    Pending,
    /// May work on guarded tasks.
    Passed,
    /// May not.
    Failed,
}

impl QualificationGate {
    /// Checks the gate's numbers.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.pass_mark) {
            return Err("pass_mark must be between 0 and 1".into());
        }
        if self.min_answers == 0 {
            return Err("min_answers must be at least 1".into());
        }
        Ok(())
    }

    /// The standing of a worker with `correct` of `answered` gold answers right.
    pub fn standing(&self, correct: u32, answered: u32) -> Standing {
        if answered < self.min_answers {
            Standing::Pending
        } else if correct as f64 >= self.pass_mark * answered as f64 {
            Standing::Passed
        } else {
            Standing::Failed
        }
    }
}

/// A worker may work on a guarded task only when every gate is passed.
pub fn may_work(standings: &[Standing]) -> bool {
    standings.iter().all(|s| *s == Standing::Passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_passes_at_the_mark() {
        let g = QualificationGate {
            pass_mark: 0.8,
            min_answers: 10,
        };
        assert_eq!(g.standing(9, 9), Standing::Pending);
        assert_eq!(g.standing(8, 10), Standing::Passed);
        assert_eq!(g.standing(7, 10), Standing::Failed);
        assert!(may_work(&[Standing::Passed]));
        assert!(!may_work(&[Standing::Passed, Standing::Pending]));
        assert!(may_work(&[]));
        assert!(QualificationGate {
            pass_mark: 1.5,
            min_answers: 1
        }
        .validate()
        .is_err());
    }
}
