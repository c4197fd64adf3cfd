//! Asking before a destructive or wide action: the question spells out what it touches, so
//! nobody archives two tasks thinking it was one.

/// Whether the person confirmed `question` (the browser's own dialog: keyboard-usable and read
/// out by screen readers as it is).
pub fn ask(question: &str) -> bool {
    web_sys::window()
        .and_then(|w| w.confirm_with_message(question).ok())
        .unwrap_or(false)
}

/// "“A”, “B” and 3 more": the names in a question, a few at most.
pub fn names(all: &[String]) -> String {
    const SHOWN: usize = 3;
    let quoted: Vec<String> = all
        .iter()
        .take(SHOWN)
        .map(|n| format!("\u{201c}{n}\u{201d}"))
        .collect();
    match all.len() {
        n if n > SHOWN => format!("{} and {} more", quoted.join(", "), n - SHOWN),
        _ => quoted.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn a_few_names_are_spelled_out_and_the_rest_counted() {
        let n = |v: &[&str]| names(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(n(&["A"]), "\u{201c}A\u{201d}");
        assert_eq!(
            n(&["A", "B", "C", "D", "E"]),
            "\u{201c}A\u{201d}, \u{201c}B\u{201d}, \u{201c}C\u{201d} and 2 more"
        );
    }
}
