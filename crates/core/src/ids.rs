//! Identifier and small value newtypes that parse instead of validate.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A dataset item.
    ItemId
);
id_type!(
    /// A user acting as annotator or reviewer (or the model worker of auto-annotation).
    WorkerId
);
id_type!(
    /// A task.
    TaskId
);
id_type!(
    /// A lease; doubles as the fencing token of the seats it holds.
    LeaseId
);

/// An item's priority within a task: higher is served first. Any 32-bit integer, default 0.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Priority(pub i32);

/// How many distinct workers label each item (`workers_per_input`). Never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Overlap(u16);

impl Overlap {
    /// The largest overlap a task may ask for.
    pub const MAX: u16 = 1000;
    /// One worker per item.
    pub const ONE: Overlap = Overlap(1);

    /// Parses an overlap, refusing zero and values above [`Overlap::MAX`].
    pub fn new(value: u32) -> Result<Self, String> {
        match u16::try_from(value) {
            Ok(v) if (1..=Self::MAX).contains(&v) => Ok(Overlap(v)),
            _ => Err(format!(
                "overlap must be between 1 and {}, got {value}",
                Self::MAX
            )),
        }
    }

    /// The overlap as a number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u32> for Overlap {
    type Error = String;
    fn try_from(value: u32) -> Result<Self, String> {
        Overlap::new(value)
    }
}

impl From<Overlap> for u32 {
    fn from(o: Overlap) -> u32 {
        o.0 as u32
    }
}

impl Default for Overlap {
    fn default() -> Self {
        Overlap::ONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_refuses_zero_and_huge() {
        assert!(Overlap::new(0).is_err());
        assert!(Overlap::new(1001).is_err());
        assert!(Overlap::new(70_000).is_err());
        assert_eq!(Overlap::new(3).unwrap().get(), 3);
        assert!(serde_json::from_str::<Overlap>("0").is_err());
        assert_eq!(serde_json::from_str::<Overlap>("2").unwrap().get(), 2);
    }

    #[test]
    fn priority_rejects_beyond_32_bits_and_accepts_negative() {
        assert!(serde_json::from_str::<Priority>("2147483648").is_err());
        assert_eq!(
            serde_json::from_str::<Priority>("-5").unwrap(),
            Priority(-5)
        );
    }
}
