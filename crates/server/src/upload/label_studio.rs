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
pub fn convert_results(results: Option<&Value>) -> Result<Option<LabelValue>, String> {
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
            "videorectangle" => return Err("video boxes are answers to frames: create a task with sample_ms over the video, then send this file to POST /tasks/{id}/predictions/label-studio".into()),
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

/// One tracked object of a Label Studio video annotation (`videorectangle`): its class and the
/// key frames the annotator set, in time order. Positions are percent of the picture.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoRegion {
    /// The class.
    pub concept: String,
    /// The Quorum track its boxes carry: the region's place among the annotation's video
    /// rectangles, from 1.
    pub track: u32,
    keys: Vec<VideoKey>,
}

#[derive(Debug, Clone, PartialEq)]
struct VideoKey {
    time_ms: u64,
    rect: [f64; 4],
    /// Label Studio's `enabled`: the object is interpolated from this key to the next one;
    /// when false it leaves the picture after this key (until a later key brings it back).
    enabled: bool,
}

/// The `videorectangle` regions of one annotation's `result` list (other result types are
/// ignored). Key times come from each key's `time` (seconds) or, without it, from its 1-based
/// `frame` and the clip's `framesCount`/`duration`.
pub fn video_regions(results: &Value) -> Result<Vec<VideoRegion>, String> {
    let Some(results) = results.as_array() else {
        return Err("an annotation's \"result\" must be a list".into());
    };
    let mut regions = Vec::new();
    for r in results {
        if r.get("type").and_then(Value::as_str) != Some("videorectangle") {
            continue;
        }
        let value = r.get("value").cloned().unwrap_or(Value::Null);
        let concept = first_label(&value, "labels")?;
        let seconds_per_frame = match (
            value.get("framesCount").and_then(Value::as_f64),
            value.get("duration").and_then(Value::as_f64),
        ) {
            (Some(frames), Some(duration)) if frames > 0.0 && duration > 0.0 => {
                Some(duration / frames)
            }
            _ => None,
        };
        let sequence = value
            .get("sequence")
            .and_then(Value::as_array)
            .ok_or("a video rectangle lacks its \"sequence\" of key frames")?;
        let mut keys = Vec::with_capacity(sequence.len());
        for key in sequence {
            let num = |k: &str| key.get(k).and_then(Value::as_f64).filter(|v| v.is_finite());
            let seconds = num("time")
                .or_else(|| Some((num("frame")? - 1.0) * seconds_per_frame?))
                .filter(|s| *s >= 0.0)
                .ok_or("a key frame needs a \"time\", or a \"frame\" and the clip's framesCount and duration")?;
            let rect = match (num("x"), num("y"), num("width"), num("height")) {
                (Some(x), Some(y), Some(w), Some(h)) => [x, y, w, h],
                _ => return Err("a key frame needs x, y, width and height".into()),
            };
            keys.push(VideoKey {
                time_ms: (seconds * 1000.0).round() as u64,
                rect,
                enabled: key.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            });
        }
        keys.sort_by_key(|k| k.time_ms);
        let track = regions.len() as u32 + 1;
        regions.push(VideoRegion {
            concept,
            track,
            keys,
        });
    }
    Ok(regions)
}

impl VideoRegion {
    /// The object's box at `time_ms` in pixels of a `width` × `height` picture: on a key frame
    /// (within `tolerance_ms`, half a frame, so a sampled time between two video frames still
    /// meets its key), or interpolated between an enabled key and the next one; `None` where the
    /// object is not in the picture. Interpolation is the core's, as for Quorum's own tracks.
    pub fn box_at(
        &self,
        time_ms: u64,
        tolerance_ms: u64,
        width: f64,
        height: f64,
    ) -> Option<BoxShape> {
        let pixels = |rect: &[f64; 4]| BoxShape {
            concept: self.concept.clone(),
            x: rect[0] * width / 100.0,
            y: rect[1] * height / 100.0,
            w: rect[2] * width / 100.0,
            h: rect[3] * height / 100.0,
            track: Some(self.track),
        };
        if let Some(key) = self
            .keys
            .iter()
            .find(|k| k.time_ms.abs_diff(time_ms) <= tolerance_ms)
        {
            return Some(pixels(&key.rect));
        }
        let pair = self
            .keys
            .windows(2)
            .find(|w| w[0].time_ms < time_ms && time_ms < w[1].time_ms)?;
        pair[0].enabled.then(|| {
            quorum_core::video::interpolate(
                (pair[0].time_ms, &pixels(&pair[0].rect)),
                (pair[1].time_ms, &pixels(&pair[1].rect)),
                time_ms,
            )
        })
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

    fn region(sequence: &str) -> VideoRegion {
        let results: Value = serde_json::from_str(&format!(
            r#"[{{"type": "videorectangle", "value": {{"labels": ["Cat"], "framesCount": 40,
                 "duration": 4, "sequence": {sequence}}}}},
                {{"type": "choices", "value": {{"choices": ["x"]}}}}]"#
        ))
        .unwrap();
        let mut regions = video_regions(&results).unwrap();
        assert_eq!(regions.len(), 1, "other result types are skipped");
        regions.pop().unwrap()
    }

    #[test]
    fn a_video_track_is_read_on_its_keys_and_between_them() {
        // Keys at frames 1 and 21 (0 s and 2 s by framesCount/duration), then at 3 s by time.
        let cat = region(
            r#"[{"frame": 1, "enabled": true, "x": 10, "y": 10, "width": 20, "height": 20},
                {"frame": 21, "enabled": false, "x": 30, "y": 10, "width": 20, "height": 20},
                {"frame": 31, "time": 3.0, "enabled": true, "x": 50, "y": 50, "width": 10, "height": 10}]"#,
        );
        let at = |t| cat.box_at(t, 50, 320.0, 240.0);
        let first = at(0).unwrap();
        assert_eq!(
            (first.concept.as_str(), first.x, first.y, first.w, first.h),
            ("Cat", 32.0, 24.0, 64.0, 48.0)
        );
        // Halfway between the first two keys the box is halfway in x.
        assert_eq!(at(1000).unwrap().x, 64.0);
        // Within half a frame of a key, the key's box.
        assert_eq!(at(2040).unwrap().x, 96.0);
        // The second key is not enabled: the object is gone until the third key.
        assert_eq!(at(2500), None);
        assert_eq!(at(3000).unwrap().w, 32.0);
        // After the last key nothing is invented.
        assert_eq!(at(3500), None);
    }

    #[test]
    fn a_video_track_without_times_is_refused_clearly() {
        let results: Value = serde_json::from_str(
            r#"[{"type": "videorectangle", "value": {"labels": ["Cat"],
                 "sequence": [{"frame": 3, "x": 1, "y": 1, "width": 1, "height": 1}]}}]"#,
        )
        .unwrap();
        let e = video_regions(&results).unwrap_err();
        assert!(e.contains("framesCount"), "{e}");
    }

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
