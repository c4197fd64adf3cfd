//! Time as a value: milliseconds since the Unix epoch, always passed in, never read here.

use serde::{Deserialize, Serialize};

/// A point in time in milliseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

impl Millis {
    /// This instant plus a number of seconds (saturating).
    pub fn plus_seconds(self, seconds: u32) -> Millis {
        Millis(self.0.saturating_add(seconds as i64 * 1000))
    }

    /// Milliseconds from `self` until `later` (negative if `later` is earlier).
    pub fn until(self, later: Millis) -> i64 {
        later.0 - self.0
    }
}
