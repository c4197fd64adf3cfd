//! Export files from a task's items and labels: Quorum JSON, CSV, COCO (boxes and polygons) and
//! Label Studio JSON (which re-imports through the upload module). Pure: no storage, no clock.

use quorum_core::label::{LabelSchema, LabelValue};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// Everything Quorum knows, as a JSON array.
    Json,
    /// One row per item with the final label.
    Csv,
    /// COCO detection JSON (boxes and polygons).
    Coco,
    /// A Label Studio JSON export.
    LabelStudio,
}

/// One labeler's answer as exported.
#[derive(Debug, Clone, Serialize)]
pub struct ExportLabel {
    /// Who labeled.
    pub worker: String,
    /// The answer.
    pub value: LabelValue,
    /// Whether it arrived after its lease.
    pub late: bool,
}

/// One item with its result and labels.
#[derive(Debug, Clone, Serialize)]
pub struct ExportItem {
    /// Quorum's id.
    pub item_id: i64,
    /// The uploader's id.
    pub external_id: Option<String>,
    /// The item's data.
    pub data: Value,
    /// Its metadata (COCO and Label Studio read `width`/`height` from it).
    pub metadata: Value,
    /// Result state (`pending`, `needs_review`, `approved` …).
    pub state: String,
    /// The final answer, when there is one.
    pub result: Option<LabelValue>,
    /// Share of labels agreeing with it.
    pub confidence: Option<f64>,
    /// In a multi-step workflow: the step the item waits in (`done` once finished).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Every active label.
    pub labels: Vec<ExportLabel>,
}

impl ExportFormat {
    /// The content type of its files.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv",
            ExportFormat::Json | ExportFormat::Coco | ExportFormat::LabelStudio => {
                "application/json"
            }
        }
    }
}

/// What one page of items adds to a file: bytes for its main part, and for its second part
/// (COCO's `annotations`, which come after every image; empty in the other formats).
#[derive(Debug, Default)]
pub struct Piece {
    /// Appended to the main part.
    pub main: Vec<u8>,
    /// Appended to the second part.
    pub side: Vec<u8>,
}

/// An export file written a page of items at a time, so that a big task's export never sits in
/// memory whole. The file is, in order: [`Writer::head`], every page's [`Piece::main`],
/// [`Writer::middle`], every page's [`Piece::side`], and [`Writer::tail`]; the caller keeps the
/// second part aside (on disk) until the main part is written.
///
/// Some things are held to the end: Label Studio's video tasks gather every frame of a video,
/// so its frames (the whole items) wait for the tail; COCO keeps one entry per video; and every
/// format keeps the per-item errors it reports.
pub struct Writer {
    format: ExportFormat,
    schema: LabelSchema,
    /// CSV: the columns of video frames.
    frames: bool,
    /// Entries in the main part so far (a JSON array needs commas between them).
    main_entries: usize,
    /// Entries in the second part so far (COCO annotation ids count them).
    side_entries: usize,
    /// COCO: one entry per video seen.
    videos: Vec<Value>,
    /// Label Studio: the frames, rendered by video at the end.
    held_frames: Vec<ExportItem>,
    errors: Vec<Value>,
}

impl Writer {
    /// A writer of `format` for a task with `schema`; `frames` says whether a CSV has the video
    /// columns (whether any item is a frame of a video).
    pub fn new(format: ExportFormat, schema: LabelSchema, frames: bool) -> Writer {
        Writer {
            format,
            schema,
            frames,
            main_entries: 0,
            side_entries: 0,
            videos: Vec::new(),
            held_frames: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The file's start.
    pub fn head(&mut self) -> Vec<u8> {
        match self.format {
            ExportFormat::Json | ExportFormat::LabelStudio => b"[".to_vec(),
            ExportFormat::Coco => br#"{"images":["#.to_vec(),
            ExportFormat::Csv => {
                let mut header = vec![
                    "item_id",
                    "external_id",
                    "state",
                    "label",
                    "confidence",
                    "labels",
                ];
                if self.frames {
                    header.extend(["video", "time_ms"]);
                }
                csv_rows([header])
            }
        }
    }

    /// The next page of items, in the order they go in the file.
    pub fn page(&mut self, items: Vec<ExportItem>) -> Piece {
        let mut piece = Piece::default();
        match self.format {
            ExportFormat::Json => {
                for item in &items {
                    self.entry(
                        &mut piece.main,
                        &serde_json::to_string(item).unwrap_or_default(),
                    );
                }
            }
            ExportFormat::Csv => {
                piece.main = csv_rows(items.iter().map(|i| csv_row(i, self.frames)))
            }
            ExportFormat::Coco => {
                for item in &items {
                    self.coco_item(item, &mut piece);
                }
            }
            ExportFormat::LabelStudio => {
                for item in items {
                    if frame_of(&item).is_some() {
                        self.held_frames.push(item);
                    } else {
                        let task = label_studio_task(&item, &mut self.errors);
                        self.entry(&mut piece.main, &task.to_string());
                    }
                }
            }
        }
        piece
    }

    /// What comes between the main part and the second.
    pub fn middle(&self) -> Vec<u8> {
        match self.format {
            ExportFormat::Coco => br#"],"annotations":["#.to_vec(),
            _ => Vec::new(),
        }
    }

    /// The file's end, and what could not be expressed in the format, per item.
    pub fn tail(mut self) -> (Vec<u8>, Vec<Value>) {
        let mut out = Vec::new();
        match self.format {
            ExportFormat::Json => out.push(b']'),
            ExportFormat::Csv => {}
            ExportFormat::Coco => {
                let categories: Vec<Value> = self
                    .schema
                    .concepts
                    .iter()
                    .enumerate()
                    .map(|(n, c)| json!({"id": n + 1, "name": c}))
                    .collect();
                out.extend(br#"],"categories":"#);
                out.extend(Value::Array(categories).to_string().into_bytes());
                if !self.videos.is_empty() {
                    out.extend(br#","videos":"#);
                    out.extend(
                        Value::Array(std::mem::take(&mut self.videos))
                            .to_string()
                            .into_bytes(),
                    );
                }
                out.push(b'}');
            }
            ExportFormat::LabelStudio => {
                let frames = std::mem::take(&mut self.held_frames);
                let refs: Vec<&ExportItem> = frames.iter().collect();
                for task in label_studio_videos(&refs, &mut self.errors) {
                    self.entry(&mut out, &task.to_string());
                }
                out.push(b']');
            }
        }
        (out, self.errors)
    }

    /// One entry of the main part's JSON array.
    fn entry(&mut self, out: &mut Vec<u8>, json: &str) {
        if self.main_entries > 0 {
            out.push(b',');
        }
        out.extend(json.as_bytes());
        self.main_entries += 1;
    }
}

/// CSV records as bytes.
fn csv_rows<R: IntoIterator<Item = S>, S: AsRef<[u8]>>(
    rows: impl IntoIterator<Item = R>,
) -> Vec<u8> {
    let mut w = ::csv::Writer::from_writer(vec![]);
    for row in rows {
        // Writing into memory fails only on a record of another length, which these are not.
        let _ = w.write_record(row);
    }
    w.into_inner().unwrap_or_default()
}

fn label_text(v: &LabelValue) -> String {
    match v {
        LabelValue::Classification { concept } => concept.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// A text cell that a spreadsheet will not run as a formula (CSV injection). As OWASP
/// recommends, a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
/// leading `'`, which spreadsheets hide and which makes the rest plain text. A plain number such
/// as `-3` or `+1.5` is left as it is: it is no formula, and people sort and sum such columns.
/// The cell is quoted by the CSV writer as usual; tools reading the file as data see the `'`.
fn cell(text: &str) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(text) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// `[+-]digits[.digits][e[+-]digits]`: a number a spreadsheet reads as a number and nothing more.
fn is_plain_number(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, frac)) => digits(whole) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(digits)
}

/// A sampled frame of a video: the video's URL and item, and the frame's time.
struct Frame<'a> {
    video: &'a str,
    video_item_id: Option<i64>,
    time_ms: u64,
}

fn frame_of(i: &ExportItem) -> Option<Frame<'_>> {
    Some(Frame {
        video: i.data.get("video")?.as_str()?,
        video_item_id: i.metadata.get("video_item_id").and_then(Value::as_i64),
        time_ms: i.data.get("time_ms")?.as_u64()?,
    })
}

/// One item's CSV record.
fn csv_row(i: &ExportItem, frames: bool) -> Vec<String> {
    let mut row = vec![
        i.item_id.to_string(),
        cell(i.external_id.as_deref().unwrap_or_default()),
        i.state.clone(),
        cell(&i.result.as_ref().map(label_text).unwrap_or_default()),
        i.confidence.map(|c| format!("{c:.4}")).unwrap_or_default(),
        i.labels.len().to_string(),
    ];
    if frames {
        let frame = frame_of(i);
        row.push(cell(frame.as_ref().map_or("", |f| f.video)));
        row.push(frame.map(|f| f.time_ms.to_string()).unwrap_or_default());
    }
    row
}

fn image_of(data: &Value) -> String {
    match data {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .get("image")
            .or_else(|| m.get("url"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

fn size_of(metadata: &Value) -> Option<(f64, f64)> {
    Some((
        metadata.get("width")?.as_f64()?,
        metadata.get("height")?.as_f64()?,
    ))
}

impl Writer {
    /// One item's COCO image (main part) and its final answer's shapes (second part).
    fn coco_item(&mut self, i: &ExportItem, piece: &mut Piece) {
        let (w, h) = size_of(&i.metadata).unwrap_or((0.0, 0.0));
        let mut image =
            json!({"id": i.item_id, "file_name": image_of(&i.data), "width": w, "height": h});
        // A video's frame is an image entry of its own that names its video and time (as the
        // video extensions of COCO, e.g. YouTube-VIS, do).
        if let Some(frame) = frame_of(i) {
            let video_id = frame.video_item_id.map_or(json!(frame.video), |v| json!(v));
            image["file_name"] = json!(frame.video);
            image["video_id"] = video_id.clone();
            image["frame_ms"] = json!(frame.time_ms);
            if !self.videos.iter().any(|v| v["id"] == video_id) {
                self.videos.push(
                    json!({"id": video_id, "file_name": frame.video, "width": w, "height": h}),
                );
            }
        }
        self.entry(&mut piece.main, &image.to_string());
        let mut shapes: Vec<(&str, [f64; 4], Value, f64)> = Vec::new();
        match &i.result {
            Some(LabelValue::BoundingBox { boxes }) => {
                for b in boxes {
                    shapes.push((&b.concept, [b.x, b.y, b.w, b.h], json!([]), b.w * b.h));
                }
            }
            Some(LabelValue::Polygon { polygons }) => {
                for p in polygons {
                    let xs = p.points.iter().map(|q| q[0]);
                    let ys = p.points.iter().map(|q| q[1]);
                    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
                    let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
                    let flat: Vec<f64> = p.points.iter().flat_map(|q| [q[0], q[1]]).collect();
                    shapes.push((&p.concept, [x0, y0, x1 - x0, y1 - y0], json!([flat]), shoelace(&p.points)));
                }
            }
            Some(LabelValue::Classification { .. }) => self.errors.push(json!({
                "item_id": i.item_id, "message": "COCO holds boxes and polygons; this task classifies",
            })),
            None => {}
        }
        for (concept, bbox, segmentation, area) in shapes {
            let Some(cat) = self.schema.concepts.iter().position(|x| x == concept) else {
                self.errors.push(json!({"item_id": i.item_id, "message": format!("unknown concept {concept:?}")}));
                continue;
            };
            if self.side_entries > 0 {
                piece.side.push(b',');
            }
            self.side_entries += 1;
            let annotation = json!({
                "id": self.side_entries, "image_id": i.item_id, "category_id": cat + 1,
                "bbox": bbox, "segmentation": segmentation, "area": area, "iscrowd": 0,
            });
            piece.side.extend(annotation.to_string().into_bytes());
        }
    }
}

/// Polygon area by the shoelace formula.
fn shoelace(points: &[[f64; 2]]) -> f64 {
    let n = points.len();
    let twice: f64 = (0..n)
        .map(|k| {
            let (a, b) = (points[k], points[(k + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum();
    twice.abs() / 2.0
}

/// A still item as a Label Studio task with each labeler's answer as an annotation.
fn label_studio_task(i: &ExportItem, errors: &mut Vec<Value>) -> Value {
    let size = size_of(&i.metadata);
    let annotations: Vec<Value> = i
        .labels
        .iter()
        .filter_map(|l| match ls_result(&l.value, size) {
            Ok(result) => Some(json!({"completed_by": l.worker, "result": result})),
            Err(message) => {
                errors.push(json!({"item_id": i.item_id, "message": message}));
                None
            }
        })
        .collect();
    let data = match &i.data {
        Value::Object(_) => i.data.clone(),
        other => json!({"text": other}),
    };
    json!({"id": i.item_id, "data": data, "meta": {"external_id": i.external_id}, "annotations": annotations})
}

/// A labeler's tracks in one video: per track id, its class and its keys (time, key).
type Tracks = BTreeMap<u32, (String, Vec<(u64, Value)>)>;

/// Label Studio's video format: one task per video, each labeler's tracks as `videorectangle`
/// results (a track is one region with a key per labeled frame, other boxes a key each; frame
/// numbers from 1 at the video's rate, Label Studio's 24 fps when the file did not say), in
/// percent of the picture.
fn label_studio_videos(frames: &[&ExportItem], errors: &mut Vec<Value>) -> Vec<Value> {
    let mut videos: Vec<(&str, Vec<&ExportItem>)> = Vec::new();
    for item in frames {
        let video = frame_of(item).map_or("", |f| f.video);
        match videos.iter_mut().find(|(v, _)| *v == video) {
            Some((_, list)) => list.push(item),
            None => videos.push((video, vec![item])),
        }
    }
    videos
        .into_iter()
        .map(|(video, frames)| {
            let first = frames[0];
            let fps = first.metadata.get("fps").and_then(Value::as_f64).unwrap_or(24.0);
            let duration_s = first.metadata.get("duration_ms").and_then(Value::as_f64).unwrap_or(0.0) / 1000.0;
            // Per labeler: boxes without a track as one-key regions, and each track as one
            // region whose keys are its boxes in time order, interpolated by Label Studio
            // between them as Quorum's tracks are.
            let mut by_worker: Vec<(&str, Vec<Value>, Tracks)> = Vec::new();
            for item in &frames {
                let time_ms = frame_of(item).map_or(0, |f| f.time_ms);
                let Some((w, h)) = size_of(&item.metadata) else {
                    errors.push(json!({"item_id": item.item_id, "message": "a frame needs its video's width and height for Label Studio"}));
                    continue;
                };
                for label in &item.labels {
                    let LabelValue::BoundingBox { boxes } = &label.value else {
                        errors.push(json!({"item_id": item.item_id, "message": "Label Studio's video format holds boxes"}));
                        continue;
                    };
                    let at = match by_worker.iter().position(|(who, ..)| *who == label.worker) {
                        Some(i) => i,
                        None => {
                            by_worker.push((&label.worker, Vec::new(), BTreeMap::new()));
                            by_worker.len() - 1
                        }
                    };
                    let (_, single, tracks) = &mut by_worker[at];
                    let time_s = time_ms as f64 / 1000.0;
                    for b in boxes {
                        let key = |enabled: bool| json!({
                            "frame": (time_s * fps).round() + 1.0, "time": time_s, "enabled": enabled,
                            "rotation": 0, "x": b.x / w * 100.0, "y": b.y / h * 100.0,
                            "width": b.w / w * 100.0, "height": b.h / h * 100.0});
                        match b.track {
                            Some(t) => tracks
                                .entry(t)
                                .or_insert_with(|| (b.concept.clone(), Vec::new()))
                                .1
                                .push((time_ms, key(true))),
                            None => single.push(video_region(None, &b.concept, vec![key(false)], duration_s, fps)),
                        }
                    }
                }
            }
            let annotations: Vec<Value> = by_worker
                .into_iter()
                .map(|(who, mut result, tracks)| {
                    for (track, (concept, mut keys)) in tracks {
                        keys.sort_by_key(|(t, _)| *t);
                        // The last key ends the track: nothing is drawn after it.
                        if let Some((_, last)) = keys.last_mut() {
                            last["enabled"] = json!(false);
                        }
                        let keys = keys.into_iter().map(|(_, k)| k).collect();
                        result.push(video_region(Some(track), &concept, keys, duration_s, fps));
                    }
                    json!({"completed_by": who, "result": result})
                })
                .collect();
            let video_id = first.metadata.get("video_item_id").cloned().unwrap_or(Value::Null);
            json!({"id": video_id, "data": {"video": video}, "meta": {"frames": frames.len()}, "annotations": annotations})
        })
        .collect()
}

/// One `videorectangle` region: a class and its key frames (`id` `track-N` for a track, so a
/// re-import keeps the boxes together).
fn video_region(
    track: Option<u32>,
    concept: &str,
    keys: Vec<Value>,
    duration_s: f64,
    fps: f64,
) -> Value {
    let mut region = json!({
        "from_name": "box", "to_name": "video", "type": "videorectangle",
        "value": {"framesCount": (duration_s * fps).round(), "duration": duration_s,
            "labels": [concept], "sequence": keys},
    });
    if let Some(t) = track {
        region["id"] = json!(format!("track-{t}"));
    }
    region
}

/// Label Studio keeps shapes in percent of the image, so they need the item's pixel size.
fn ls_result(v: &LabelValue, size: Option<(f64, f64)>) -> Result<Vec<Value>, String> {
    let need = || {
        size.ok_or("boxes and polygons need the item's metadata width and height for Label Studio")
    };
    Ok(match v {
        LabelValue::Classification { concept } => vec![json!({
            "from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [concept]},
        })],
        LabelValue::BoundingBox { boxes } => {
            let (w, h) = need()?;
            boxes
                .iter()
                .map(|b| json!({
                    "from_name": "label", "to_name": "image", "type": "rectanglelabels",
                    "original_width": w, "original_height": h,
                    "value": {"x": b.x / w * 100.0, "y": b.y / h * 100.0, "width": b.w / w * 100.0,
                              "height": b.h / h * 100.0, "rectanglelabels": [b.concept]},
                }))
                .collect()
        }
        LabelValue::Polygon { polygons } => {
            let (w, h) = need()?;
            polygons
                .iter()
                .map(|p| json!({
                    "from_name": "label", "to_name": "image", "type": "polygonlabels",
                    "original_width": w, "original_height": h,
                    "value": {"points": p.points.iter().map(|q| [q[0] / w * 100.0, q[1] / h * 100.0]).collect::<Vec<_>>(),
                              "polygonlabels": [p.concept]},
                }))
                .collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_never_start_a_formula() {
        for (raw, written) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-", "'-"),
            ("-3", "-3"),
            ("+1.5", "+1.5"),
            ("-2.5e-3", "-2.5e-3"),
            ("cat", "cat"),
            ("", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(cell(raw), written, "{raw:?}");
        }
    }
    use quorum_core::label::{AnnotationType, BoxShape, PolygonShape};

    fn item(result: LabelValue) -> ExportItem {
        ExportItem {
            item_id: 7,
            external_id: Some("e7".into()),
            data: json!({"image": "/a.png"}),
            metadata: json!({"width": 200, "height": 100}),
            state: "approved".into(),
            result: Some(result.clone()),
            confidence: Some(1.0),
            step: None,
            labels: vec![ExportLabel {
                worker: "ann".into(),
                value: result,
                late: false,
            }],
        }
    }

    /// An export of `items` under a schema of type `t`, parsed.
    fn rendered(format: ExportFormat, t: AnnotationType, items: &[ExportItem]) -> Value {
        serde_json::from_str(&render(format, &schema(t), items).body).unwrap()
    }

    fn schema(t: AnnotationType) -> LabelSchema {
        LabelSchema {
            annotation_type: t,
            concepts: vec!["cat".into(), "dog".into()],
        }
    }

    /// One box of a dog, 30 by 40 at (10, 20).
    fn dog_box() -> LabelValue {
        LabelValue::BoundingBox {
            boxes: vec![BoxShape {
                concept: "dog".into(),
                x: 10.0,
                y: 20.0,
                w: 30.0,
                h: 40.0,
                track: None,
            }],
        }
    }

    fn frame(id: i64, time_ms: u64) -> ExportItem {
        let boxes = LabelValue::BoundingBox {
            boxes: vec![BoxShape {
                concept: "cat".into(),
                x: 10.0 + time_ms as f64 / 100.0,
                y: 20.0,
                w: 30.0,
                h: 40.0,
                track: None,
            }],
        };
        ExportItem {
            item_id: id,
            external_id: None,
            data: json!({"video": "/api/v1/media/ab.webm", "time_ms": time_ms}),
            metadata: json!({"width": 320, "height": 240, "time_ms": time_ms, "video_item_id": 3,
                             "duration_ms": 4000, "fps": 10.0}),
            ..item(boxes)
        }
    }

    /// A frame whose box belongs to track 7.
    fn tracked(id: i64, time_ms: u64) -> ExportItem {
        let mut f = frame(id, time_ms);
        for label in &mut f.labels {
            if let LabelValue::BoundingBox { boxes } = &mut label.value {
                boxes[0].track = Some(7);
            }
        }
        f
    }

    /// A written file: its text and the per-item errors.
    struct Rendered {
        body: String,
        errors: Vec<Value>,
    }

    /// `items` written a page of `size` at a time, as the export job writes them (the second
    /// part kept aside until the main part is whole).
    fn written(
        format: ExportFormat,
        schema: &LabelSchema,
        items: &[ExportItem],
        size: usize,
    ) -> Rendered {
        let frames = items.iter().any(|i| frame_of(i).is_some());
        let mut writer = Writer::new(format, schema.clone(), frames);
        let (mut main, mut side) = (writer.head(), Vec::new());
        for page in items.chunks(size) {
            let piece = writer.page(page.to_vec());
            main.extend(piece.main);
            side.extend(piece.side);
        }
        main.extend(writer.middle());
        main.extend(side);
        let (tail, errors) = writer.tail();
        main.extend(tail);
        Rendered {
            body: String::from_utf8(main).unwrap(),
            errors,
        }
    }

    /// `items` written in one page.
    fn render(format: ExportFormat, schema: &LabelSchema, items: &[ExportItem]) -> Rendered {
        written(format, schema, items, items.len().max(1))
    }

    /// [`written`] under a schema of type `t`, parsed (a CSV as one string).
    fn paged(format: ExportFormat, t: AnnotationType, items: &[ExportItem], size: usize) -> Value {
        let body = written(format, &schema(t), items, size).body;
        match format {
            ExportFormat::Csv => Value::String(body),
            _ => serde_json::from_str(&body).unwrap(),
        }
    }

    #[test]
    fn a_file_written_in_pages_is_the_file_written_whole() {
        let mut items: Vec<ExportItem> = (1..=5)
            .map(|n| ExportItem {
                item_id: n,
                ..item(dog_box())
            })
            .collect();
        items.push(frame(6, 0));
        items.push(frame(7, 500));
        items.push(ExportItem {
            result: None,
            labels: vec![],
            item_id: 8,
            ..item(dog_box())
        });
        for format in [
            ExportFormat::Json,
            ExportFormat::Csv,
            ExportFormat::Coco,
            ExportFormat::LabelStudio,
        ] {
            let whole = render(format, &schema(AnnotationType::BoundingBox), &items).body;
            let whole = match format {
                ExportFormat::Csv => Value::String(whole),
                _ => serde_json::from_str(&whole).unwrap(),
            };
            for size in [1, 2, 3, 100] {
                assert_eq!(
                    paged(format, AnnotationType::BoundingBox, &items, size),
                    whole,
                    "{format:?} in pages of {size}"
                );
            }
        }
        // Empty tasks are files too.
        for format in [
            ExportFormat::Json,
            ExportFormat::Coco,
            ExportFormat::LabelStudio,
        ] {
            let empty = paged(format, AnnotationType::BoundingBox, &[], 10);
            assert!(
                empty.is_array() || empty["images"] == json!([]),
                "{format:?}: {empty}"
            );
        }
        let coco = paged(ExportFormat::Coco, AnnotationType::BoundingBox, &items, 2);
        let ids: Vec<i64> = coco["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_i64().unwrap())
            .collect();
        assert_eq!(
            ids,
            (1..=7).collect::<Vec<_>>(),
            "annotation ids run on across pages"
        );
    }

    #[test]
    fn a_track_is_one_label_studio_region_that_reimports_as_one_track() {
        let items = [tracked(12, 2000), tracked(10, 0), frame(11, 1000)];
        let ls = rendered(
            ExportFormat::LabelStudio,
            AnnotationType::BoundingBox,
            &items,
        );
        let results = ls[0]["annotations"][0]["result"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(
            results.len(),
            2,
            "one region for the untracked box, one for the track"
        );
        let track = results
            .iter()
            .find(|r| r["id"] == "track-7")
            .expect("the track's region");
        let keys = track["value"]["sequence"].as_array().unwrap();
        let times: Vec<f64> = keys.iter().map(|k| k["time"].as_f64().unwrap()).collect();
        assert_eq!(times, vec![0.0, 2.0], "keys in time order");
        assert_eq!(
            (keys[0]["enabled"].as_bool(), keys[1]["enabled"].as_bool()),
            (Some(true), Some(false))
        );
        // Read back as Label Studio would hand it over: the box between the keys is interpolated.
        let regions =
            crate::upload::label_studio::video_regions(&Value::Array(vec![track.clone()])).unwrap();
        let mid = regions[0].box_at(1000, 50, 320.0, 240.0).unwrap();
        assert!((mid.x - 20.0).abs() < 1e-9, "{mid:?}");
        assert_eq!(regions[0].box_at(3000, 50, 320.0, 240.0), None);
    }

    #[test]
    fn coco_has_an_image_per_frame_naming_its_video_and_time() {
        let items = [
            frame(10, 0),
            frame(11, 500),
            item(LabelValue::BoundingBox { boxes: vec![] }),
        ];
        let out = rendered(ExportFormat::Coco, AnnotationType::BoundingBox, &items);
        assert_eq!(out["images"][1]["video_id"], 3);
        assert_eq!(out["images"][1]["frame_ms"], 500);
        assert_eq!(out["images"][1]["file_name"], "/api/v1/media/ab.webm");
        assert!(out["images"][2].get("frame_ms").is_none());
        assert_eq!(
            out["videos"],
            json!([{"id": 3, "file_name": "/api/v1/media/ab.webm", "width": 320.0, "height": 240.0}])
        );
        assert_eq!(out["annotations"][1]["image_id"], 11);
        assert_eq!(out["annotations"][1]["bbox"][0], 15.0);
        let ls = rendered(
            ExportFormat::LabelStudio,
            AnnotationType::BoundingBox,
            &items,
        );
        let video = &ls[1];
        assert_eq!(video["data"]["video"], "/api/v1/media/ab.webm");
        let results = &video["annotations"][0]["result"];
        assert_eq!(results.as_array().unwrap().len(), 2);
        assert_eq!(results[1]["type"], "videorectangle");
        assert_eq!(
            results[1]["value"]["sequence"][0]["frame"], 6.0,
            "0.5 s at 10 fps"
        );
        assert_eq!(
            results[1]["value"]["sequence"][0]["x"],
            15.0 / 320.0 * 100.0
        );
        let csv = render(
            ExportFormat::Csv,
            &schema(AnnotationType::BoundingBox),
            &items,
        )
        .body;
        let mut lines = csv.lines();
        assert!(lines.next().unwrap().ends_with(",video,time_ms"));
        assert!(
            lines
                .nth(1)
                .unwrap()
                .ends_with(",/api/v1/media/ab.webm,500"),
            "{csv}"
        );
    }

    #[test]
    fn coco_boxes_and_polygons_keep_pixels_and_categories() {
        let boxes = dog_box();
        let out = rendered(
            ExportFormat::Coco,
            AnnotationType::BoundingBox,
            &[item(boxes)],
        );
        assert_eq!(
            out["annotations"][0]["bbox"],
            json!([10.0, 20.0, 30.0, 40.0])
        );
        assert_eq!(out["annotations"][0]["category_id"], 2);
        assert_eq!(out["images"][0]["width"], 200.0);
        let poly = LabelValue::Polygon {
            polygons: vec![PolygonShape {
                concept: "cat".into(),
                points: vec![[0.0, 0.0], [4.0, 0.0], [4.0, 3.0]],
            }],
        };
        let out = rendered(ExportFormat::Coco, AnnotationType::Polygon, &[item(poly)]);
        assert_eq!(out["annotations"][0]["area"], 6.0);
        assert_eq!(out["annotations"][0]["bbox"], json!([0.0, 0.0, 4.0, 3.0]));
        assert_eq!(
            out["annotations"][0]["segmentation"],
            json!([[0.0, 0.0, 4.0, 0.0, 4.0, 3.0]])
        );
    }

    #[test]
    fn label_studio_export_reimports_to_the_same_boxes() {
        let boxes = dog_box();
        let out = render(
            ExportFormat::LabelStudio,
            &schema(AnnotationType::BoundingBox),
            &[item(boxes.clone())],
        );
        assert!(out.errors.is_empty());
        let parsed =
            crate::upload::parse(crate::upload::Format::LabelStudio, out.body.as_bytes()).unwrap();
        assert_eq!(parsed.rows.len(), 1, "{:?}", parsed.errors);
        let back = &parsed.rows[0].labels[0].value;
        let (LabelValue::BoundingBox { boxes: got }, LabelValue::BoundingBox { boxes: want }) =
            (back, &boxes)
        else {
            panic!("{back:?}");
        };
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g.x - w.x).abs() < 1e-9 && (g.w - w.w).abs() < 1e-9,
                "{g:?}"
            );
        }
    }

    #[test]
    fn csv_has_one_row_per_item_and_shapes_without_size_are_reported() {
        let out = render(
            ExportFormat::Csv,
            &schema(AnnotationType::Classification),
            &[item(LabelValue::Classification {
                concept: "cat".into(),
            })],
        );
        assert_eq!(
            out.body,
            "item_id,external_id,state,label,confidence,labels\n7,e7,approved,cat,1.0000,1\n"
        );
        let mut no_size = item(LabelValue::Polygon {
            polygons: vec![PolygonShape {
                concept: "cat".into(),
                points: vec![[0.0, 0.0], [4.0, 0.0], [4.0, 3.0]],
            }],
        });
        no_size.metadata = json!({});
        let out = render(
            ExportFormat::LabelStudio,
            &schema(AnnotationType::Polygon),
            &[no_size],
        );
        assert_eq!(out.errors.len(), 1);
    }
}
