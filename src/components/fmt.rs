//! Small text formats shared by the manager screens.

use quorum_core::time::Millis;

/// A moment as `YYYY-MM-DD HH:MM` in the browser's time zone.
pub fn when(m: Millis) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(m.0 as f64));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes()
    )
}

/// A duration in milliseconds as `m:ss` (or `h:mm:ss`), never negative.
pub fn left(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A time in a video: whole seconds, or seconds with the milliseconds that are not 0
/// (`0 s`, `0.5 s`, `12.04 s`), from the integer milliseconds.
pub fn secs(ms: u64) -> String {
    let frac = format!("{:03}", ms % 1000);
    match frac.trim_end_matches('0') {
        "" => format!("{} s", ms / 1000),
        f => format!("{}.{f} s", ms / 1000),
    }
}

/// An annotation type in plain words.
pub fn annotation_type(t: quorum_core::label::AnnotationType) -> &'static str {
    use quorum_core::label::AnnotationType::*;
    match t {
        Classification => "Classification",
        BoundingBox => "Bounding boxes",
        Polygon => "Polygons",
    }
}

pub use crate::words::{plain as status, plural};

/// Sets the window title for a screen.
pub fn title(screen: &str) {
    if let Some(d) = web_sys::window().and_then(|w| w.document()) {
        d.set_title(&format!("{screen} · Quorum"));
    }
}
