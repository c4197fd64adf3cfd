//! CSV uploads: a header row naming the item fields, then one item per record.
//!
//! Columns: `data` (required), `external_id`, `directory`, `priority`, `gold` (a concept name or a
//! label as JSON), `metadata` (a JSON object) and any number of `metadata.<key>` columns, whose
//! cells become string metadata. Unknown columns are refused up front so a misspelt header does
//! not silently drop a field from every row.

use super::{ItemRow, Parsed, UploadError, MAX_ROWS};
use serde_json::{Map, Value};

const COLUMNS: [&str; 6] = [
    "data",
    "external_id",
    "directory",
    "priority",
    "gold",
    "metadata",
];

/// Parses CSV text; row N is the N-th record after the header (file line N + 1 when no cell
/// spans lines — the error message says the line too).
pub fn parse(text: &str) -> Result<Parsed, UploadError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| UploadError::Malformed(format!("the CSV header cannot be read: {e}")))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    check_header(&header)?;
    let mut parsed = Parsed::default();
    for (i, record) in reader.records().enumerate() {
        if i >= MAX_ROWS {
            return Err(UploadError::TooManyRows);
        }
        let row = i + 1;
        let result = match record {
            Err(e) => Err(format!("unreadable CSV record: {e}")),
            Ok(record) if record.len() != header.len() => Err(format!(
                "line {}: {} cells, but the header has {} columns",
                record.position().map_or(row + 1, |p| p.line() as usize),
                record.len(),
                header.len()
            )),
            Ok(record) => to_object(&header, &record)
                .and_then(|object| ItemRow::from_object(row, Value::Object(object)))
                .map_err(|e| {
                    let line = record.position().map_or(row + 1, |p| p.line() as usize);
                    format!("line {line}: {e}")
                }),
        };
        parsed.push(row, result);
    }
    Ok(parsed)
}

fn check_header(header: &[String]) -> Result<(), UploadError> {
    if !header.iter().any(|h| h == "data") {
        return Err(UploadError::Malformed(format!(
            "the CSV header must name a \"data\" column (columns: {}, metadata.<key>)",
            COLUMNS.join(", ")
        )));
    }
    for (i, name) in header.iter().enumerate() {
        let known = COLUMNS.contains(&name.as_str())
            || name
                .strip_prefix("metadata.")
                .is_some_and(|k| !k.is_empty());
        if !known {
            return Err(UploadError::Malformed(format!(
                "unknown CSV column {name:?} (columns: {}, metadata.<key>)",
                COLUMNS.join(", ")
            )));
        }
        if header[..i].contains(name) {
            return Err(UploadError::Malformed(format!(
                "the CSV column {name:?} appears twice"
            )));
        }
    }
    Ok(())
}

fn to_object(header: &[String], record: &csv::StringRecord) -> Result<Map<String, Value>, String> {
    let mut object = Map::new();
    let mut metadata = Map::new();
    for (name, cell) in header.iter().zip(record.iter()) {
        // An empty cell means "not given", so defaults apply as they do for a missing JSON field.
        if cell.is_empty() {
            continue;
        }
        if let Some(key) = name.strip_prefix("metadata.") {
            metadata.insert(key.to_owned(), Value::String(cell.to_owned()));
            continue;
        }
        let value = match name.as_str() {
            "metadata" => match serde_json::from_str(cell) {
                Ok(Value::Object(m)) => {
                    metadata.extend(m);
                    continue;
                }
                _ => return Err("the \"metadata\" cell must hold a JSON object".into()),
            },
            "gold" if cell.trim_start().starts_with('{') => serde_json::from_str(cell)
                .map_err(|e| format!("the \"gold\" cell is not valid JSON: {e}"))?,
            _ => Value::String(cell.to_owned()),
        };
        object.insert(name.clone(), value);
    }
    if !metadata.is_empty() {
        object.insert("metadata".into(), Value::Object(metadata));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_items() {
        let text = "external_id,data,directory,priority,gold,metadata.source\n\
                    a1,\"hello, world\",/x,7,cat,web\n\
                    a2,bye,,,,\n";
        let parsed = parse(text).unwrap();
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let first = &parsed.rows[0];
        assert_eq!(first.data, Value::String("hello, world".into()));
        assert_eq!((first.priority, first.directory.as_str()), (7, "/x"));
        assert_eq!(first.metadata["source"], "web");
        assert_eq!(parsed.rows[1].directory, "/");
    }

    #[test]
    fn ragged_and_bad_rows_are_reported_with_lines() {
        let parsed = parse("data,priority\nok,1\nshort\nbad,high\n").unwrap();
        assert_eq!(parsed.rows.len(), 1);
        let messages: Vec<_> = parsed
            .errors
            .iter()
            .map(|e| (e.row, e.message.clone()))
            .collect();
        assert_eq!(messages[0].0, 2);
        assert!(messages[0].1.starts_with("line 3: 1 cells"), "{messages:?}");
        assert!(messages[1].1.starts_with("line 4:"), "{messages:?}");
    }

    #[test]
    fn headers_are_checked() {
        assert!(parse("text\nx\n")
            .unwrap_err()
            .to_string()
            .contains("\"data\" column"));
        assert!(parse("data,colour\nx,red\n")
            .unwrap_err()
            .to_string()
            .contains("colour"));
        assert!(parse("data,data\nx,y\n")
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }

    #[test]
    fn json_cells_are_read() {
        let text = "data,metadata,gold\n\
                    x,\"{\"\"k\"\":1}\",\"{\"\"type\"\":\"\"classification\"\",\"\"concept\"\":\"\"dog\"\"}\"\n\
                    y,[1],\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.rows[0].metadata["k"], 1);
        assert!(parsed.rows[0].gold.is_some());
        assert!(parsed.errors[0].message.contains("JSON object"));
    }
}
