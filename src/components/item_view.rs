//! Showing an item and answers on it, shared by the annotate, review and item screens: text or
//! image, one-line summaries of labels, and the image with several people's shapes overlaid in a
//! colour per person.

use leptos::prelude::*;
use quorum_core::label::LabelValue;
use wasm_bindgen::JsCast;

/// One colour per answer set, distinct enough side by side.
pub const COLOURS: [&str; 8] = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#9a6324", "#808000",
];

/// The colour of the `i`-th answer set.
pub fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// The picture URL of an item's data: an image (a string or `{"image"|"url": …}`), or a frame of
/// a video (`{"video": …, "time_ms": …}`) as the video's URL with a media fragment (`#t=` seconds)
/// that makes the browser show that frame. [`picture`] draws either.
pub fn image_url(data: &serde_json::Value) -> Option<String> {
    if let (Some(video), Some(ms)) = (
        data.get("video").and_then(|v| v.as_str()),
        data.get("time_ms").and_then(|v| v.as_u64()),
    ) {
        return Some(format!("{video}#t={}.{:03}", ms / 1000, ms % 1000));
    }
    let s = match data {
        serde_json::Value::String(s) => s.as_str(),
        serde_json::Value::Object(m) => m
            .get("image")
            .or_else(|| m.get("url"))
            .and_then(|v| v.as_str())?,
        _ => return None,
    };
    let lower = s.to_ascii_lowercase();
    let is_url =
        lower.starts_with('/') || lower.starts_with("http:") || lower.starts_with("https:");
    let is_image = [".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg"]
        .iter()
        .any(|e| lower.split('?').next().unwrap_or("").ends_with(e));
    (is_url && is_image).then(|| s.to_string())
}

/// Which video and time a frame item shows ("video 12 · 0.5 s"): the video item's id from the
/// metadata when it is there, else the start of the video file's name.
pub fn frame_at(data: &serde_json::Value, metadata: &serde_json::Value) -> Option<impl IntoView> {
    let (video, ms) = crate::tracks::frame_of(data)?;
    let name = match metadata.get("video_item_id").and_then(|v| v.as_i64()) {
        Some(id) => id.to_string(),
        None => video
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .chars()
            .take(8)
            .collect(),
    };
    let text = format!("video {name} · {}", super::fmt::secs(ms));
    Some(view! { <span class="frame-at" data-testid="frame-at">{text}</span> })
}

/// Whether a picture URL is a video frame (see [`image_url`]).
fn is_frame(src: &str) -> bool {
    let path = src
        .split(['#', '?'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    [".webm", ".mp4", ".mkv", ".mov"]
        .iter()
        .any(|e| path.ends_with(e))
}

/// An image, or a video paused on the frame its URL names, reporting its pixel size once known
/// (shapes are drawn in those pixels).
pub fn picture(src: String, alt: &'static str, size: RwSignal<(f64, f64)>) -> AnyView {
    // One handler for both kinds, so the wasm holds it once.
    let loaded = move |e: leptos::ev::Event| {
        let Some(t) = e.target() else { return };
        let dims = match t.dyn_ref::<web_sys::HtmlVideoElement>() {
            Some(v) => (v.video_width(), v.video_height()),
            None => match t.dyn_ref::<web_sys::HtmlImageElement>() {
                Some(i) => (i.natural_width(), i.natural_height()),
                None => return,
            },
        };
        size.set((dims.0 as f64, dims.1 as f64));
    };
    if is_frame(&src) {
        // Paused (never played) on the frame the URL's `#t=` names.
        return view! { <video src=src aria-label=alt preload="auto" on:loadeddata=loaded></video> }
            .into_any();
    }
    view! { <img src=src alt=alt draggable="false" on:load=loaded /> }.into_any()
}

/// The text of an item's data (`"…"` or `{"text": …}`), else its JSON.
pub fn item_text(data: &serde_json::Value) -> String {
    match data {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m
            .get("text")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| data.to_string()),
        other => other.to_string(),
    }
}

/// A label value inside a JSON answer (through the string parser the app links anyway).
pub fn label(v: &serde_json::Value) -> Option<LabelValue> {
    serde_json::from_str(&v.to_string()).ok()
}

/// A label in one line.
pub fn summary(v: &LabelValue) -> String {
    match v {
        LabelValue::Classification { concept } => concept.clone(),
        LabelValue::BoundingBox { boxes } if boxes.is_empty() => "no boxes".into(),
        LabelValue::BoundingBox { boxes } => boxes
            .iter()
            .map(|b| {
                format!(
                    "{} [{:.0},{:.0} {:.0}×{:.0}]",
                    b.concept, b.x, b.y, b.w, b.h
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        LabelValue::Polygon { polygons } if polygons.is_empty() => "no polygons".into(),
        LabelValue::Polygon { polygons } => polygons
            .iter()
            .map(|p| format!("{} ({} points)", p.concept, p.points.len()))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The image with each answer set's shapes in its colour (`sets[i]` drawn in `colour(i)`).
pub fn overlay(src: String, sets: Vec<LabelValue>) -> impl IntoView {
    let size = RwSignal::new((1.0f64, 1.0f64));
    let shapes = move || {
        let (w, h) = size.get();
        let stroke = w.max(h) / 300.0;
        sets.iter()
            .enumerate()
            .flat_map(|(i, v)| {
                let c = colour(i);
                match v {
                    LabelValue::BoundingBox { boxes } => boxes
                        .iter()
                        .map(|b| {
                            view! { <rect x=b.x y=b.y width=b.w height=b.h fill="none" stroke=c stroke-width=stroke /> }
                                .into_any()
                        })
                        .collect::<Vec<_>>(),
                    LabelValue::Polygon { polygons } => polygons
                        .iter()
                        .map(|p| {
                            let pts = p
                                .points
                                .iter()
                                .map(|q| format!("{},{}", q[0], q[1]))
                                .collect::<Vec<_>>()
                                .join(" ");
                            view! { <polygon points=pts fill="none" stroke=c stroke-width=stroke /> }.into_any()
                        })
                        .collect(),
                    LabelValue::Classification { .. } => Vec::new(),
                }
            })
            .collect_view()
    };
    view! {
        <div class="editor">
            {picture(src, "item", size)}
            <svg class="overlay" viewBox=move || format!("0 0 {} {}", size.get().0, size.get().1) preserveAspectRatio="none">
                {shapes}
            </svg>
        </div>
    }
}

/// An item's content with `sets` overlaid when it is an image.
pub fn item_body(data: &serde_json::Value, sets: Vec<LabelValue>) -> AnyView {
    match image_url(data) {
        Some(src) => overlay(src, sets).into_any(),
        None => view! { <div class="item-text">{item_text(data)}</div> }.into_any(),
    }
}
