//! Auto-annotation: model predictions whose confidence falls inside a task's threshold range
//! become annotations by the model worker; the rest go to people.

use serde::{Deserialize, Serialize};

/// One end of a confidence range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    /// The confidence, 0–1.
    pub value: f64,
    /// Whether the bound itself is inside the range.
    #[serde(default = "yes")]
    pub inclusive: bool,
}

fn yes() -> bool {
    true
}

/// A confidence range; an open end is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct ThresholdRange {
    /// Lower end.
    #[serde(default)]
    pub min: Option<Bound>,
    /// Upper end.
    #[serde(default)]
    pub max: Option<Bound>,
}

impl ThresholdRange {
    /// Checks the bounds: within 0–1 and not empty.
    pub fn validate(&self) -> Result<(), String> {
        for b in [self.min, self.max].into_iter().flatten() {
            if !(0.0..=1.0).contains(&b.value) {
                return Err("confidence bounds must be between 0 and 1".into());
            }
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max) {
            let empty =
                lo.value > hi.value || (lo.value == hi.value && !(lo.inclusive && hi.inclusive));
            if empty {
                return Err("the confidence range is empty".into());
            }
        }
        Ok(())
    }

    /// Whether a prediction with `confidence` is accepted as an annotation.
    pub fn contains(&self, confidence: f64) -> bool {
        if !confidence.is_finite() {
            return false;
        }
        let above = match self.min {
            None => true,
            Some(b) if b.inclusive => confidence >= b.value,
            Some(b) => confidence > b.value,
        };
        let below = match self.max {
            None => true,
            Some(b) if b.inclusive => confidence <= b.value,
            Some(b) => confidence < b.value,
        };
        above && below
    }
}

/// Where a prediction goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionRoute {
    /// Becomes an annotation by the model worker.
    Accept,
    /// The item is labeled by people.
    ToPeople,
}

/// Routes a prediction by its confidence.
pub fn route(range: &ThresholdRange, confidence: f64) -> PredictionRoute {
    if range.contains(confidence) {
        PredictionRoute::Accept
    } else {
        PredictionRoute::ToPeople
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(lo: f64, lo_inc: bool, hi: f64, hi_inc: bool) -> ThresholdRange {
        ThresholdRange {
            min: Some(Bound {
                value: lo,
                inclusive: lo_inc,
            }),
            max: Some(Bound {
                value: hi,
                inclusive: hi_inc,
            }),
        }
    }

    #[test]
    fn bounds_are_inclusive_or_exclusive_as_asked() {
        let table = [
            (range(0.8, true, 1.0, true), 0.8, true),
            (range(0.8, false, 1.0, true), 0.8, false),
            (range(0.8, true, 0.9, false), 0.9, false),
            (range(0.8, true, 0.9, true), 0.9, true),
            (range(0.8, true, 1.0, true), 0.79, false),
            (range(0.8, true, 1.0, true), f64::NAN, false),
        ];
        for (r, c, want) in table {
            assert_eq!(r.contains(c), want, "{r:?} {c}");
        }
        assert_eq!(
            route(&ThresholdRange::default(), 0.1),
            PredictionRoute::Accept
        );
    }

    #[test]
    fn empty_or_out_of_range_bounds_are_refused() {
        assert!(range(0.9, true, 0.8, true).validate().is_err());
        assert!(range(0.8, false, 0.8, true).validate().is_err());
        assert!(range(0.8, true, 0.8, true).validate().is_ok());
        assert!(range(-0.1, true, 0.8, true).validate().is_err());
    }
}
