//! Item uploads: turns a request body (JSON array, NDJSON, CSV or a Label Studio export) into
//! validated item rows plus per-row errors.
//!
//! Pure: no storage, no clock. A body that cannot be read at all (wrong content type, invalid
//! UTF-8, not a JSON array …) is one [`UploadError`]; a body that can be read yields every good row
//! and a [`RowError`] for each bad one, so one typo never costs the other rows.

mod csv_rows;
mod json_rows;
pub mod label_studio;
mod row;

pub use row::{normalize_directory, ImportedLabel, ItemRow, LabelSource};

use serde::Serialize;
use std::fmt;

/// The most rows one upload may hold; larger sets are split by the client.
pub const MAX_ROWS: usize = 1_000_000;

/// The body formats an upload can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A JSON array of item objects.
    Json,
    /// One item object per line.
    Ndjson,
    /// A header row, then one item per row.
    Csv,
    /// A Label Studio JSON export: tasks with `data`, `annotations` and `predictions`.
    LabelStudio,
}

impl Format {
    /// Picks the format from an explicit name (`?format=`) or else the `Content-Type`.
    pub fn detect(
        explicit: Option<&str>,
        content_type: Option<&str>,
    ) -> Result<Format, UploadError> {
        if let Some(name) = explicit {
            return match name {
                "json" => Ok(Format::Json),
                "ndjson" | "jsonl" => Ok(Format::Ndjson),
                "csv" => Ok(Format::Csv),
                "label_studio" => Ok(Format::LabelStudio),
                other => Err(UploadError::UnknownFormat(other.to_owned())),
            };
        }
        // Parameters such as `; charset=utf-8` do not change the format.
        let mime = content_type
            .unwrap_or("application/json")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/json" | "" => Ok(Format::Json),
            "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => {
                Ok(Format::Ndjson)
            }
            "text/csv" | "application/csv" => Ok(Format::Csv),
            "application/vnd.label-studio+json" => Ok(Format::LabelStudio),
            _ => Err(UploadError::UnsupportedContentType(mime)),
        }
    }
}

/// One row that could not be used, by its 1-based position in the upload (a CSV's header is
/// line 1, so its first data row is row 1 and line 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// 1-based row number (array element, NDJSON line, or CSV record after the header).
    pub row: usize,
    /// What was wrong, for people.
    pub message: String,
}

/// What an upload yielded: the good rows, in order, and the errors of the bad ones.
#[derive(Debug, Default, Clone)]
pub struct Parsed {
    /// Rows that passed validation.
    pub rows: Vec<ItemRow>,
    /// One entry per rejected row.
    pub errors: Vec<RowError>,
    /// Rows kept with something left out (e.g. a Label Studio result type Quorum cannot hold).
    pub warnings: Vec<RowError>,
}

impl Parsed {
    fn push(&mut self, row: usize, result: Result<ItemRow, String>) {
        match result {
            Ok(item) => self.rows.push(item),
            Err(message) => self.errors.push(RowError { row, message }),
        }
    }

    /// Adds a warning to each row whose labels (Label Studio annotations and predictions) will
    /// not be stored: an upload fills a dataset, and Quorum keeps answers per task, so there is
    /// nowhere to put them yet. Without this an import answered "inserted 1, warnings []" and
    /// the labels were silently gone.
    pub fn warn_labels_not_stored(&mut self) {
        for row in &self.rows {
            if row.labels.is_empty() {
                continue;
            }
            let predictions = row
                .labels
                .iter()
                .filter(|l| matches!(l.source, LabelSource::Prediction { .. }))
                .count();
            let annotations = row.labels.len() - predictions;
            let plural =
                |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
            self.warnings.push(RowError {
                row: row.row,
                message: format!(
                    "{} and {} not imported yet: answers belong to a task in Quorum; create a \
                     task over these items, then send this file to \
                     POST /tasks/{{id}}/predictions/label-studio",
                    plural(annotations, "annotation"),
                    plural(predictions, "prediction"),
                ),
            });
        }
        self.warnings.sort_by_key(|w| w.row);
    }

    /// Rejects later rows that repeat an earlier row's `external_id`: within one upload the
    /// first occurrence wins, so the outcome does not depend on storage order.
    fn reject_repeated_external_ids(&mut self) {
        let mut first_row = std::collections::HashMap::new();
        let mut kept = Vec::with_capacity(self.rows.len());
        for item in std::mem::take(&mut self.rows) {
            if let Some(ext) = &item.external_id {
                if let Some(&first) = first_row.get(ext) {
                    self.errors.push(RowError {
                        row: item.row,
                        message: format!("external_id {ext:?} repeats row {first}"),
                    });
                    continue;
                }
                first_row.insert(ext.clone(), item.row);
            }
            kept.push(item);
        }
        self.rows = kept;
        self.errors.sort_by_key(|e| e.row);
    }
}

/// Why a whole upload was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    /// `?format=` named no known format.
    UnknownFormat(String),
    /// The content type is not one of the upload formats.
    UnsupportedContentType(String),
    /// The body is not UTF-8.
    InvalidUtf8 {
        /// Byte offset of the first bad byte.
        offset: usize,
    },
    /// The body is empty or holds no rows.
    Empty,
    /// The body is not the shape its format needs (e.g. not a JSON array).
    Malformed(String),
    /// More rows than [`MAX_ROWS`].
    TooManyRows,
}

impl UploadError {
    /// The stable error code the HTTP API reports.
    pub fn code(&self) -> &'static str {
        match self {
            UploadError::UnknownFormat(_) => "unknown_format",
            UploadError::UnsupportedContentType(_) => "unsupported_media_type",
            UploadError::InvalidUtf8 { .. } => "invalid_utf8",
            UploadError::Empty => "empty_upload",
            UploadError::Malformed(_) => "malformed_upload",
            UploadError::TooManyRows => "too_many_rows",
        }
    }
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::UnknownFormat(name) => write!(
                f,
                "unknown upload format {name:?}: use json, ndjson, csv or label_studio"
            ),
            UploadError::UnsupportedContentType(mime) => write!(
                f,
                "content type {mime:?} is not an upload format: send application/json, \
                 application/x-ndjson, text/csv or application/vnd.label-studio+json"
            ),
            UploadError::InvalidUtf8 { offset } => {
                write!(
                    f,
                    "the upload is not valid UTF-8 (first bad byte at offset {offset})"
                )
            }
            UploadError::Empty => f.write_str("the upload holds no rows"),
            UploadError::Malformed(why) => f.write_str(why),
            UploadError::TooManyRows => write!(
                f,
                "an upload holds at most {MAX_ROWS} rows: split it into several uploads"
            ),
        }
    }
}

impl std::error::Error for UploadError {}

/// Parses an upload body in the given format.
pub fn parse(format: Format, body: &[u8]) -> Result<Parsed, UploadError> {
    let text = std::str::from_utf8(body).map_err(|e| UploadError::InvalidUtf8 {
        offset: e.valid_up_to(),
    })?;
    // A byte-order mark is what spreadsheet programs put in front of CSV exports.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(UploadError::Empty);
    }
    let mut parsed = match format {
        Format::Json => json_rows::parse_array(text)?,
        Format::Ndjson => json_rows::parse_lines(text)?,
        Format::Csv => csv_rows::parse(text)?,
        Format::LabelStudio => label_studio::parse(text)?,
    };
    if parsed.rows.is_empty() && parsed.errors.is_empty() {
        return Err(UploadError::Empty);
    }
    parsed.reject_repeated_external_ids();
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_pick_formats() {
        let cases = [
            (None, Format::Json),
            (Some("application/json; charset=utf-8"), Format::Json),
            (Some("application/x-ndjson"), Format::Ndjson),
            (Some("text/csv"), Format::Csv),
            (
                Some("application/vnd.label-studio+json"),
                Format::LabelStudio,
            ),
        ];
        for (ct, want) in cases {
            assert_eq!(Format::detect(None, ct), Ok(want), "{ct:?}");
        }
        assert_eq!(
            Format::detect(Some("csv"), Some("application/json")),
            Ok(Format::Csv)
        );
        assert_eq!(
            Format::detect(None, Some("text/plain")).unwrap_err().code(),
            "unsupported_media_type"
        );
        assert_eq!(
            Format::detect(Some("xml"), None).unwrap_err().code(),
            "unknown_format"
        );
    }

    #[test]
    fn whole_body_failures_are_one_error() {
        assert_eq!(parse(Format::Json, b"").unwrap_err(), UploadError::Empty);
        assert_eq!(parse(Format::Json, b"[]").unwrap_err(), UploadError::Empty);
        assert_eq!(
            parse(Format::Json, b"[\"a\xff\"]").unwrap_err(),
            UploadError::InvalidUtf8 { offset: 3 }
        );
        assert_eq!(
            parse(Format::Json, b"{}").unwrap_err().code(),
            "malformed_upload"
        );
        assert_eq!(
            parse(Format::Csv, b"\xef\xbb\xbf  \n").unwrap_err(),
            UploadError::Empty
        );
    }

    #[test]
    fn repeated_external_ids_keep_the_first() {
        let body =
            br#"[{"external_id":"a","data":"1"},{"external_id":"a","data":"2"},{"data":"3"}]"#;
        let parsed = parse(Format::Json, body).unwrap();
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(parsed.rows[0].data, serde_json::json!("1"));
        assert_eq!(
            parsed.errors,
            vec![RowError {
                row: 2,
                message: "external_id \"a\" repeats row 1".into()
            }]
        );
    }
}
