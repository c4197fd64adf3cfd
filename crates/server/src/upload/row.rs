//! One uploaded item row and the field rules every format shares.

use quorum_core::label::{ImageSize, LabelValue};
use serde::Serialize;
use serde_json::{Map, Value};

/// The longest `external_id` accepted.
pub const MAX_EXTERNAL_ID_LEN: usize = 256;
/// The longest directory path accepted.
pub const MAX_DIRECTORY_LEN: usize = 1024;
/// The largest serialized `data` + `metadata` of one item.
pub const MAX_ROW_BYTES: usize = 1 << 20;

const FIELDS: &str = "external_id, data, metadata, directory, priority, gold";

/// A validated item row, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemRow {
    /// 1-based position in the upload.
    pub row: usize,
    /// The uploader's id for the item; makes re-uploads update instead of duplicate.
    pub external_id: Option<String>,
    /// What annotators see: text, an image URL, or an object of such.
    pub data: Value,
    /// Free-form metadata (filterable).
    pub metadata: Map<String, Value>,
    /// Normalised path: starts with `/`, no trailing `/` except the root, no `.` or `..`.
    pub directory: String,
    /// Higher is handed out first; negative values are valid.
    pub priority: i32,
    /// The hidden gold answer, for honeypot and qualification items.
    pub gold: Option<LabelValue>,
    /// Labels that came with the item (Label Studio exports).
    pub labels: Vec<ImportedLabel>,
}

/// A label carried by an upload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportedLabel {
    /// Who made it.
    pub source: LabelSource,
    /// The answer.
    pub value: LabelValue,
}

/// Where an imported label came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LabelSource {
    /// A person, named by the exporting tool when it said.
    Annotator {
        /// The exporting tool's name or id for the person.
        name: Option<String>,
    },
    /// A model prediction with its confidence.
    Prediction {
        /// Model name or version.
        model: Option<String>,
        /// Confidence, when given.
        score: Option<f64>,
    },
}

impl ItemRow {
    /// Validates one row given as a JSON object (CSV rows are converted to one first).
    pub fn from_object(row: usize, value: Value) -> Result<ItemRow, String> {
        let Value::Object(mut fields) = value else {
            return Err(format!(
                "an item must be a JSON object with the fields {FIELDS}"
            ));
        };
        if let Some(unknown) = fields.keys().find(|k| !FIELDS.split(", ").any(|f| f == *k)) {
            return Err(format!("unknown field {unknown:?} (an item has {FIELDS})"));
        }
        let external_id = fields
            .remove("external_id")
            .map(external_id)
            .transpose()?
            .flatten();
        let data = match fields.remove("data") {
            None | Some(Value::Null) => return Err("the field \"data\" is required".into()),
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err("the field \"data\" must not be empty".into())
            }
            Some(data) => data,
        };
        let metadata = match fields.remove("metadata") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => return Err("\"metadata\" must be a JSON object".into()),
        };
        let directory = match fields.remove("directory") {
            None | Some(Value::Null) => "/".to_owned(),
            Some(Value::String(d)) => normalize_directory(&d)?,
            Some(_) => return Err("\"directory\" must be a string such as \"/cats/2024\"".into()),
        };
        let priority = match fields.remove("priority") {
            None | Some(Value::Null) => 0,
            Some(v) => priority(&v)?,
        };
        let gold = match fields.remove("gold") {
            None | Some(Value::Null) => None,
            Some(Value::String(concept)) if !concept.trim().is_empty() => {
                Some(LabelValue::Classification { concept })
            }
            Some(v @ Value::Object(_)) => Some(
                serde_json::from_value(v).map_err(|e| format!("\"gold\" is not a label: {e}"))?,
            ),
            Some(_) => {
                return Err("\"gold\" must be a concept name or a label object such as \
                     {\"type\":\"classification\",\"concept\":\"cat\"}"
                    .into())
            }
        };
        let size = data.to_string().len() + Value::Object(metadata.clone()).to_string().len();
        if size > MAX_ROW_BYTES {
            return Err(format!(
                "data and metadata take {size} bytes; an item holds at most {MAX_ROW_BYTES}"
            ));
        }
        if let Some(shapes @ (LabelValue::BoundingBox { .. } | LabelValue::Polygon { .. })) = &gold
        {
            // The item's own metadata says how big its image is; shapes must lie inside it.
            let image = ImageSize::from_metadata(&Value::Object(metadata.clone()));
            shapes
                .check_geometry(image)
                .map_err(|e| format!("\"gold\": {e}"))?;
        }
        Ok(ItemRow {
            row,
            external_id,
            data,
            metadata,
            directory,
            priority,
            gold,
            labels: Vec::new(),
        })
    }
}

fn external_id(value: Value) -> Result<Option<String>, String> {
    let id = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s,
        // Spreadsheets and Label Studio use numeric ids; they name the same item as text.
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return Err("\"external_id\" must be a string or a whole number".into()),
    };
    if id.is_empty() || id.len() > MAX_EXTERNAL_ID_LEN || id.chars().any(char::is_control) {
        return Err(format!(
            "\"external_id\" must be 1 to {MAX_EXTERNAL_ID_LEN} bytes without control characters"
        ));
    }
    Ok(Some(id))
}

/// Reads a priority: any whole number in the 32-bit signed range.
pub fn priority(value: &Value) -> Result<i32, String> {
    let out_of_range = || {
        format!(
            "\"priority\" must be a whole number from {} to {}",
            i32::MIN,
            i32::MAX
        )
    };
    match value {
        Value::Number(n) => n
            .as_i64()
            .and_then(|v| i32::try_from(v).ok())
            .ok_or_else(out_of_range),
        Value::String(s) => s.trim().parse::<i32>().map_err(|_| out_of_range()),
        _ => Err(out_of_range()),
    }
}

/// Normalises a directory path so that `a/b/`, `/a//b` and `/a/b` name one directory.
pub fn normalize_directory(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len() + 1);
    for part in raw.trim().split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." || part.chars().any(char::is_control) {
            return Err(format!(
                "directory {raw:?} may not contain \".\", \"..\" or control characters"
            ));
        }
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    if out.len() > MAX_DIRECTORY_LEN {
        return Err(format!(
            "a directory path has at most {MAX_DIRECTORY_LEN} bytes"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(value: Value) -> Result<ItemRow, String> {
        ItemRow::from_object(1, value)
    }

    #[test]
    fn a_full_row_is_read() {
        let item = check(json!({
            "external_id": 17, "data": {"image": "/demo/a.jpg"}, "metadata": {"camera": "x"},
            "directory": "cats//2024/", "priority": -3, "gold": "cat"
        }))
        .unwrap();
        assert_eq!(item.external_id.as_deref(), Some("17"));
        assert_eq!(item.directory, "/cats/2024");
        assert_eq!(item.priority, -3);
        assert_eq!(
            item.gold,
            Some(LabelValue::Classification {
                concept: "cat".into()
            })
        );
        assert_eq!(item.metadata["camera"], "x");
    }

    #[test]
    fn defaults_apply() {
        let item = check(json!({"data": "hello"})).unwrap();
        assert_eq!((item.directory.as_str(), item.priority), ("/", 0));
        assert!(item.external_id.is_none() && item.gold.is_none() && item.metadata.is_empty());
    }

    #[test]
    fn bad_fields_say_what_is_wrong() {
        let cases = [
            (json!("text"), "must be a JSON object"),
            (json!({}), "\"data\" is required"),
            (json!({"data": "  "}), "must not be empty"),
            (
                json!({"data": "x", "colour": 1}),
                "unknown field \"colour\"",
            ),
            (
                json!({"data": "x", "priority": 2_147_483_648_i64}),
                "32-bit",
            ),
            (json!({"data": "x", "priority": 1.5}), "whole number"),
            (json!({"data": "x", "metadata": [1]}), "JSON object"),
            (json!({"data": "x", "directory": "../etc"}), "\"..\""),
            (json!({"data": "x", "external_id": ""}), "external_id"),
            (json!({"data": "x", "external_id": 1.5}), "whole number"),
            (
                json!({"data": "x", "gold": {"type": "unknown"}}),
                "not a label",
            ),
            (json!({"data": "x", "gold": 3}), "concept name"),
        ];
        for (value, wanted) in cases {
            let err = check(value.clone()).unwrap_err();
            // "32-bit" is named by its bounds in the message.
            let wanted = if wanted == "32-bit" {
                "-2147483648"
            } else {
                wanted
            };
            assert!(err.contains(wanted), "{value}: {err}");
        }
    }

    #[test]
    fn priorities_span_the_signed_range() {
        assert_eq!(priority(&json!(i32::MIN)), Ok(i32::MIN));
        assert_eq!(priority(&json!(" 42 ")), Ok(42));
        assert!(priority(&json!(i64::from(i32::MIN) - 1)).is_err());
        assert!(priority(&json!(true)).is_err());
    }

    #[test]
    fn oversized_rows_are_refused() {
        let big = "x".repeat(MAX_ROW_BYTES);
        assert!(check(json!({"data": big})).unwrap_err().contains("at most"));
    }
}
