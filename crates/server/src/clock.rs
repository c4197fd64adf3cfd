//! The server's one clock read; the core always takes time as an argument.

use quorum_core::time::Millis;

/// Now, in milliseconds since the Unix epoch.
pub fn now() -> Millis {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Millis(since.as_millis() as i64)
}
