//! Label Studio JSON exports: a JSON array of tasks, each with `data`, optional `meta`, and the
//! `annotations` and `predictions` made in Label Studio, converted to Quorum labels.
//!
//! Label Studio stores boxes and polygons in percent of the image; Quorum stores pixels, so a
//! shape is converted with the result's `original_width`/`original_height` and refused without them.

use super::{ImportedLabel, ItemRow, LabelSource, Parsed, RowError, UploadError, MAX_ROWS};
use quorum_core::label::{BoxShape, LabelValue, PolygonShape};
use serde_json::{Map, Value};

/// Parses an export; rows are numbered by array position from 1.
pub fn parse(text: &str) -> Result<Parsed, UploadError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| UploadError::Malformed(format!("the body is not valid JSON: {e}")))?;
    let Value::Array(tasks) = value else {
        return Err(UploadError::Malformed(
            "a Label Studio export is a JSON array of tasks".into(),
        ));
    };
    if tasks.len() > MAX_ROWS {
        return Err(UploadError::TooManyRows);
    }
    let mut parsed = Parsed::default();
    for (i, task) in tasks.into_iter().enumerate() {
        let row = i + 1;
        let result = task_row(row, task, &mut parsed.warnings);
        parsed.push(row, result);
    }
    Ok(parsed)
}

fn task_row(row: usize, task: Value, warnings: &mut Vec<RowError>) -> Result<ItemRow, String> {
    let Value::Object(mut task) = task else {
        return Err("a Label Studio task must be a JSON object".into());
    };
    let mut item = Map::new();
    match task.remove("data") {
        Some(data @ Value::Object(_)) => item.insert("data".into(), data),
        _ => return Err("a Label Studio task needs a \"data\" object".into()),
    };
    if let Some(id) = task.remove("id").filter(|id| !id.is_null()) {
        let id = match id {
            Value::String(s) => s,
            other => other.to_string(),
        };
        item.insert(
            "external_id".into(),
            Value::String(format!("label-studio:{id}")),
        );
    }
    if let Some(meta @ Value::Object(_)) = task.remove("meta") {
        item.insert("metadata".into(), meta);
    }
    if item["data"].get("video").is_some() {
        video_facts(&task, &mut item);
    }
    let mut out = ItemRow::from_object(row, Value::Object(item))?;
    for (key, is_prediction) in [("annotations", false), ("predictions", true)] {
        let Some(Value::Array(entries)) = task.remove(key) else {
            continue;
        };
        for entry in entries {
            if entry.get("was_cancelled") == Some(&Value::Bool(true)) {
                continue;
            }
            let source = if is_prediction {
                LabelSource::Prediction {
                    model: entry.get("model_version").and_then(text),
                    score: entry.get("score").and_then(Value::as_f64),
                }
            } else {
                LabelSource::Annotator {
                    name: entry.get("completed_by").and_then(person),
                }
            };
            match convert_results(entry.get("result")) {
                Ok(Some(value)) => out.labels.push(ImportedLabel { source, value }),
                Ok(None) => {}
                // The item itself is fine; keep it and say which label could not be used.
                Err(message) => warnings.push(RowError {
                    row,
                    message: format!("{key}: {message}"),
                }),
            }
        }
    }
    Ok(out)
}

/// A video task's duration and frame rate, from its `videorectangle` results (Label Studio
/// records them there, not in the task), into the item's metadata unless it states them: a
/// `sample_ms` task needs the duration to cut the video into frames.
fn video_facts(task: &Map<String, Value>, item: &mut Map<String, Value>) {
    let results = ["annotations", "predictions"]
        .iter()
        .filter_map(|k| task.get(*k)?.as_array())
        .flatten()
        .filter_map(|entry| entry.get("result")?.as_array())
        .flatten();
    let Some(value) = results
        .filter(|r| r.get("type").and_then(Value::as_str) == Some("videorectangle"))
        .filter_map(|r| r.get("value"))
        .find(|v| {
            v.get("duration")
                .and_then(Value::as_f64)
                .is_some_and(|d| d > 0.0)
        })
    else {
        return;
    };
    let duration_s = value["duration"].as_f64().unwrap_or_default();
    let metadata = item
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(metadata) = metadata else {
        return;
    };
    metadata
        .entry("duration_ms")
        .or_insert_with(|| Value::from((duration_s * 1000.0).round() as u64));
    if let Some(frames) = value.get("framesCount").and_then(Value::as_f64) {
        let fps = (frames / duration_s * 1000.0).round() / 1000.0;
        metadata.entry("fps").or_insert_with(|| Value::from(fps));
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn person(v: &Value) -> Option<String> {
    v.get("email").and_then(text).or_else(|| text(v))
}

/// Converts one annotation's `result` list into one label; `None` when it holds no shape.
fn convert_results(results: Option<&Value>) -> Result<Option<LabelValue>, String> {
    let Some(Value::Array(results)) = results else {
        return Ok(None);
    };
    let mut concept = None;
    let mut boxes = Vec::new();
    let mut polygons = Vec::new();
    for r in results {
        let kind = r.get("type").and_then(Value::as_str).unwrap_or("");
        let value = r.get("value").cloned().unwrap_or(Value::Null);
        match kind {
            "choices" => concept = Some(first_label(&value, "choices")?),
            "rectanglelabels" => {
                let (w, h) = image_size(r)?;
                let num = |k: &str| value.get(k).and_then(Value::as_f64).ok_or(format!("a rectangle lacks {k:?}"));
                boxes.push(BoxShape {
                    concept: first_label(&value, "rectanglelabels")?,
                    x: num("x")? * w / 100.0,
                    y: num("y")? * h / 100.0,
                    w: num("width")? * w / 100.0,
                    h: num("height")? * h / 100.0,
                    track: None,
                });
            }
            "polygonlabels" => {
                let (w, h) = image_size(r)?;
                let points = value
                    .get("points")
                    .and_then(Value::as_array)
                    .ok_or("a polygon lacks \"points\"")?
                    .iter()
                    .map(|p| match (p.get(0).and_then(Value::as_f64), p.get(1).and_then(Value::as_f64)) {
                        (Some(x), Some(y)) => Ok([x * w / 100.0, y * h / 100.0]),
                        _ => Err("polygon points must be [x, y] pairs".to_owned()),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                polygons.push(PolygonShape {
                    concept: first_label(&value, "polygonlabels")?,
                    points,
                });
            }
            "videorectangle" => return Err("video boxes are answers to frames: create a task with sample_ms over the video and send them as predictions per frame".into()),
            other => return Err(format!("result type {other:?} is not supported (choices, rectanglelabels, polygonlabels are)")),
        }
    }
    match (concept, boxes.is_empty(), polygons.is_empty()) {
        (Some(concept), true, true) => Ok(Some(LabelValue::Classification { concept })),
        (None, false, true) => Ok(Some(LabelValue::BoundingBox { boxes })),
        (None, true, false) => Ok(Some(LabelValue::Polygon { polygons })),
        (None, true, true) => Ok(None),
        _ => Err(
            "one annotation mixes choices, rectangles and polygons; Quorum keeps one kind per task"
                .into(),
        ),
    }
}

fn first_label(value: &Value, key: &str) -> Result<String, String> {
    value
        .get(key)
        .and_then(|v| v.get(0))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(format!("the result's {key:?} list is empty"))
}

fn image_size(result: &Value) -> Result<(f64, f64), String> {
    let dim = |k: &str| result.get(k).and_then(Value::as_f64).filter(|v| *v > 0.0);
    match (dim("original_width"), dim("original_height")) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err("shapes need original_width and original_height to become pixels".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: &str = r#"[
      {"id": 7, "data": {"image": "/demo/dog.jpg"}, "meta": {"batch": "b1"},
       "annotations": [{"completed_by": {"email": "ann@example.org"}, "result": [
          {"type": "rectanglelabels", "original_width": 200, "original_height": 100,
           "value": {"x": 10, "y": 20, "width": 50, "height": 40, "rectanglelabels": ["Dog"]}}]},
          {"was_cancelled": true, "result": []}],
       "predictions": [{"model_version": "v2", "score": 0.8, "result": [
          {"type": "polygonlabels", "original_width": 200, "original_height": 100,
           "value": {"points": [[0,0],[50,0],[50,50]], "polygonlabels": ["Dog"]}}]}]},
      {"id": 8, "data": {"text": "great"}, "annotations": [{"completed_by": 3,
        "result": [{"type": "choices", "value": {"choices": ["Positive"]}}]}]},
      {"id": 9, "data": {"text": "odd"}, "annotations": [{"result": [{"type": "textarea", "value": {}}]}]},
      {"id": 10, "data": "not an object"}
    ]"#;

    #[test]
    fn an_export_becomes_items_with_labels() {
        let parsed = parse(EXPORT).unwrap();
        assert_eq!(parsed.rows.len(), 3);
        let dog = &parsed.rows[0];
        assert_eq!(dog.external_id.as_deref(), Some("label-studio:7"));
        assert_eq!(dog.metadata["batch"], "b1");
        assert_eq!(dog.labels.len(), 2, "the cancelled annotation is skipped");
        assert_eq!(
            dog.labels[0].value,
            LabelValue::BoundingBox {
                boxes: vec![BoxShape {
                    concept: "Dog".into(),
                    x: 20.0,
                    y: 20.0,
                    w: 100.0,
                    h: 40.0,
                    track: None,
                }]
            }
        );
        assert_eq!(
            dog.labels[1].source,
            LabelSource::Prediction {
                model: Some("v2".into()),
                score: Some(0.8)
            }
        );
        let LabelValue::Polygon { polygons } = &dog.labels[1].value else {
            panic!()
        };
        assert_eq!(polygons[0].points[1], [100.0, 0.0]);
        assert_eq!(
            parsed.rows[1].labels[0].source,
            LabelSource::Annotator {
                name: Some("3".into())
            }
        );
        // The unsupported result keeps its item and is reported; the bad task is rejected.
        assert_eq!(parsed.rows[2].labels.len(), 0);
        assert_eq!(parsed.warnings[0].row, 3);
        assert!(parsed.warnings[0].message.contains("textarea"));
        assert_eq!(parsed.errors[0].row, 4);
    }
}
