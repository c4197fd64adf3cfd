//! JSON array and NDJSON uploads.

use super::{ItemRow, Parsed, UploadError, MAX_ROWS};
use serde_json::Value;

/// A JSON array of item objects; rows are numbered by array position from 1.
pub fn parse_array(text: &str) -> Result<Parsed, UploadError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| UploadError::Malformed(format!("the body is not valid JSON: {e}")))?;
    let Value::Array(elements) = value else {
        return Err(UploadError::Malformed(
            "the body must be a JSON array of items (send application/x-ndjson for one item per line)"
                .into(),
        ));
    };
    if elements.len() > MAX_ROWS {
        return Err(UploadError::TooManyRows);
    }
    let mut parsed = Parsed::default();
    for (i, element) in elements.into_iter().enumerate() {
        parsed.push(i + 1, ItemRow::from_object(i + 1, element));
    }
    Ok(parsed)
}

/// One JSON object per line; rows are numbered by line (blank lines are skipped but counted, so
/// the number is what an editor shows).
pub fn parse_lines(text: &str) -> Result<Parsed, UploadError> {
    let mut parsed = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if parsed.rows.len() + parsed.errors.len() >= MAX_ROWS {
            return Err(UploadError::TooManyRows);
        }
        let row = i + 1;
        let result = serde_json::from_str::<Value>(line)
            .map_err(|e| format!("not valid JSON: {e}"))
            .and_then(|value| ItemRow::from_object(row, value));
        parsed.push(row, result);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_rows_keep_good_and_report_bad() {
        let parsed =
            parse_array(r#"[{"data":"a"}, {"nope":1}, {"data":"c","priority":5}]"#).unwrap();
        assert_eq!(
            parsed.rows.iter().map(|r| r.row).collect::<Vec<_>>(),
            [1, 3]
        );
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].row, 2);
    }

    #[test]
    fn malformed_json_names_the_position() {
        let err = parse_array("[{\"data\": }]").unwrap_err();
        assert!(err.to_string().contains("line 1 column"), "{err}");
        assert!(parse_array(r#"{"data":"a"}"#)
            .unwrap_err()
            .to_string()
            .contains("array"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("[{}{}]", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(parse_array(&deep), Err(UploadError::Malformed(_))));
    }

    #[test]
    fn ndjson_numbers_rows_by_line() {
        let parsed = parse_lines("{\"data\":\"a\"}\n\n{bad\n{\"data\":\"d\"}\r\n").unwrap();
        assert_eq!(
            parsed.rows.iter().map(|r| r.row).collect::<Vec<_>>(),
            [1, 4]
        );
        assert_eq!(parsed.errors[0].row, 3);
        assert!(parsed.errors[0].message.starts_with("not valid JSON"));
    }
}
