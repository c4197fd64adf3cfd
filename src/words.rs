//! Words for people: counts with their noun in the right number, and raw values the server
//! sends (`in_progress`, `bounding_box`) in plain words. Pure, so it is tested natively.

use quorum_core::lifecycle::TaskStatus;

/// "1 task", "2 tasks", "0 items".
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A raw value in plain words, first letter capital (`in_progress` → "In progress").
pub fn plain(raw: &str) -> String {
    let mut words = raw.replace('_', " ");
    // ASCII only: the values are the server's snake_case words, and Unicode case tables cost
    // kilobytes of wasm.
    if let Some(first) = words.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    words
}

/// The button that moves a task to `to`.
pub fn move_label(to: TaskStatus) -> &'static str {
    match to {
        TaskStatus::Open => "Reopen",
        TaskStatus::InProgress => "Mark in progress",
        TaskStatus::Completed => "Mark completed",
        TaskStatus::Archived => "Archive",
    }
}

/// The question asked before moving the task `name` to `to`.
pub fn move_question(to: TaskStatus, name: &str) -> String {
    let name = format!("\u{201c}{name}\u{201d}");
    match to {
        TaskStatus::Open => format!("Reopen {name}?"),
        TaskStatus::InProgress => format!("Mark {name} in progress?"),
        TaskStatus::Completed => format!("Mark {name} completed?"),
        TaskStatus::Archived => format!("Archive {name}? This cannot be undone."),
    }
}

/// What a priority box that is not a whole number in range says.
pub const PRIORITY_NOT_WHOLE: &str = "the priority is a whole number";

/// A typed priority: a whole number the server's `i32` holds, or refused (empty too, so an
/// untouched box never sets 0).
pub fn parse_priority(raw: &str) -> Result<i32, &'static str> {
    raw.trim().parse().map_err(|_| PRIORITY_NOT_WHOLE)
}

/// What a refused request tells people: the server's message, not its code (which the API
/// keeps for programs); an answer without the error shape has only its status to say.
pub fn server_says(status: u16, code: &str, message: &str) -> String {
    if code == "http_error" {
        format!("{message} (HTTP {status})").trim().into()
    } else {
        message.into()
    }
}

/// A data format's name (`label_studio` → "Label Studio", `files` → "Media files").
pub fn format_name(raw: &str) -> String {
    match raw {
        "label_studio" => "Label Studio".into(),
        "files" => "Media files".into(),
        "ndjson" | "json" | "csv" | "coco" => raw.to_ascii_uppercase(),
        other => plain(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_as_their_names() {
        assert_eq!(format_name("label_studio"), "Label Studio");
        assert_eq!(format_name("files"), "Media files");
        assert_eq!(format_name("csv"), "CSV");
        assert_eq!(format_name("ndjson"), "NDJSON");
    }

    #[test]
    fn people_read_the_servers_message_not_its_code() {
        assert_eq!(
            server_says(404, "not_found", "task not found"),
            "task not found"
        );
        assert_eq!(server_says(404, "http_error", ""), "(HTTP 404)");
        assert_eq!(
            server_says(404, "http_error", "Not Found"),
            "Not Found (HTTP 404)"
        );
    }

    #[test]
    fn a_priority_is_a_whole_number_in_range() {
        assert_eq!(parse_priority(" 5 "), Ok(5));
        assert_eq!(parse_priority("-3"), Ok(-3));
        for bad in ["", "  ", "99999999999", "1.5", "x"] {
            assert_eq!(parse_priority(bad), Err(PRIORITY_NOT_WHOLE), "{bad:?}");
        }
    }

    #[test]
    fn status_moves_say_what_they_do() {
        assert_eq!(move_label(TaskStatus::InProgress), "Mark in progress");
        assert_eq!(
            move_question(TaskStatus::Completed, "Review"),
            "Mark \u{201c}Review\u{201d} completed?"
        );
        assert_eq!(
            move_question(TaskStatus::Open, "A"),
            "Reopen \u{201c}A\u{201d}?"
        );
    }

    #[test]
    fn counts_take_the_plural_except_for_one() {
        assert_eq!(plural(1, "task"), "1 task");
        assert_eq!(plural(2, "task"), "2 tasks");
        assert_eq!(plural(0, "item"), "0 items");
    }

    #[test]
    fn raw_values_read_as_words() {
        assert_eq!(plain("in_progress"), "In progress");
        assert_eq!(plain("bounding_box"), "Bounding box");
        assert_eq!(plain(""), "");
    }
}
