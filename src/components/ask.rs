//! Asking before a destructive or wide action: the question spells out what it touches, so
//! nobody archives two tasks thinking it was one.

/// Whether the person confirmed `question` (the browser's own dialog: keyboard-usable and read
/// out by screen readers as it is).
pub fn ask(question: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(question).ok())
        .unwrap_or(false)
}

/// "“A”, “B”": the names in a question.
pub fn names(all: &[String]) -> String {
    let quoted: Vec<String> = all.iter().map(|n| format!("\u{201c}{n}\u{201d}")).collect();
    quoted.join(", ")
}
