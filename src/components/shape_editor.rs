//! Drawing boxes and polygons on an image: drag to draw a box, drag a shape to move it, drag
//! one of a selected box's 8 handles to resize it; click points to draw a polygon and click its
//! first point (or press Enter) to close it; drag a vertex to edit it. The arrow keys nudge the
//! selected shape (Shift: 10 px), Delete removes it, Z undoes. Each shape has its class's colour
//! and name; a side list selects, re-classes, hides and deletes them. Zoom (wheel, +/−, 0 to
//! fit) and pan (hold Space and drag) only transform the view: coordinates are read through the
//! drawn layer's on-screen box, so they stay in the image's own pixels whatever the zoom.
//! Shared by the labeling screen and the reviewer's corrections.

use crate::components::item_view::picture;
use leptos::prelude::*;
use quorum_core::label::{BoxShape, LabelValue, PolygonShape};
use wasm_bindgen::JsCast;

/// A shape on the image.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// x, y, w, h.
    Box(BoxShape),
    /// Closed polygon.
    Poly(PolygonShape),
}

/// What a drag is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Drag {
    Draw {
        x0: f64,
        y0: f64,
    },
    /// From where the pointer went down; the shape as it was is the last undo checkpoint.
    Move {
        index: usize,
        x0: f64,
        y0: f64,
    },
    /// Handle `h` of a 3×3 grid over the box (0 top left … 8 bottom right; 4 is not one).
    Resize {
        index: usize,
        h: u8,
    },
    Vertex {
        index: usize,
        vertex: usize,
    },
    Pan {
        cx: f64,
        cy: f64,
        tx: f64,
        ty: f64,
    },
}

/// The most the view zooms in.
const MAX_ZOOM: f64 = 8.0;

/// Editor state, `Copy` so handlers share it.
#[derive(Clone, Copy)]
pub struct Shapes {
    /// Finished shapes.
    pub shapes: RwSignal<Vec<Shape>>,
    history: RwSignal<Vec<Vec<Shape>>>,
    draft: RwSignal<Vec<[f64; 2]>>,
    drag: RwSignal<Option<Drag>>,
    preview: RwSignal<Option<(f64, f64, f64, f64)>>,
    /// The selected shape.
    pub selected: RwSignal<Option<usize>>,
    size: RwSignal<(f64, f64)>,
    /// Shapes hidden from view (still part of the answer).
    hidden: RwSignal<Vec<usize>>,
    /// The view: scale, then a shift in screen pixels.
    zoom: RwSignal<(f64, f64, f64)>,
    /// Space is held: a drag pans instead of drawing.
    pub panning: RwSignal<bool>,
    /// The pointer while a polygon is drawn, for the line from its last point.
    hover: RwSignal<Option<(f64, f64)>>,
    /// On a video frame, the first track id the video's other frames leave free: a new box
    /// starts a track from there. `None` off video (boxes carry no track).
    pub tracks: RwSignal<Option<u32>>,
}

impl Shapes {
    /// Empty editor.
    pub fn new() -> Self {
        Self {
            shapes: RwSignal::new(Vec::new()),
            history: RwSignal::new(Vec::new()),
            draft: RwSignal::new(Vec::new()),
            drag: RwSignal::new(None),
            preview: RwSignal::new(None),
            selected: RwSignal::new(None),
            size: RwSignal::new((1.0, 1.0)),
            hidden: RwSignal::new(Vec::new()),
            zoom: RwSignal::new((1.0, 0.0, 0.0)),
            panning: RwSignal::new(false),
            hover: RwSignal::new(None),
            tracks: RwSignal::new(None),
        }
    }

    /// Zooms the view by `factor` around a point of the viewport (its centre when `None`).
    pub fn zoom_by(&self, factor: f64, around: Option<(f64, f64)>) {
        let centre = || {
            let el = web_sys::window()?
                .document()?
                .query_selector("[data-testid=viewport]")
                .ok()??;
            let r = el.get_bounding_client_rect();
            Some((r.width() / 2.0, r.height() / 2.0))
        };
        let Some((px, py)) = around.or_else(centre) else {
            return;
        };
        self.zoom.update(|(z, tx, ty)| {
            let next = (*z * factor).clamp(1.0, MAX_ZOOM);
            let k = next / *z;
            *tx = px - (px - *tx) * k;
            *ty = py - (py - *ty) * k;
            *z = next;
            if next == 1.0 {
                (*tx, *ty) = (0.0, 0.0);
            }
        });
    }

    /// Back to the whole image in view.
    pub fn fit(&self) {
        self.zoom.set((1.0, 0.0, 0.0));
    }

    /// Clears everything for the next item.
    pub fn reset(&self) {
        self.shapes.set(Vec::new());
        self.history.set(Vec::new());
        self.draft.set(Vec::new());
        self.drag.set(None);
        self.preview.set(None);
        self.selected.set(None);
        self.hidden.set(Vec::new());
        self.zoom.set((1.0, 0.0, 0.0));
    }

    /// Gives shape `i` another class.
    pub fn set_concept(&self, i: usize, concept: String) {
        self.checkpoint();
        self.shapes.update(|v| match v.get_mut(i) {
            Some(Shape::Box(b)) => b.concept = concept,
            Some(Shape::Poly(p)) => p.concept = concept,
            None => {}
        });
    }

    /// Puts box `i` on another track.
    pub fn set_track(&self, i: usize, track: u32) {
        self.checkpoint();
        self.shapes.update(|v| {
            if let Some(Shape::Box(b)) = v.get_mut(i) {
                b.track = Some(track);
            }
        });
    }

    /// Adds boxes (copied from another frame), as one step to undo.
    pub fn add_boxes(&self, boxes: impl IntoIterator<Item = BoxShape>) {
        self.checkpoint();
        self.shapes
            .update(|v| v.extend(boxes.into_iter().map(Shape::Box)));
    }

    /// The track a new box starts: past every track of the video and of this frame.
    fn new_track(&self) -> Option<u32> {
        let free = self.tracks.get_untracked()?;
        let here = self.shapes.with_untracked(|v| {
            v.iter()
                .filter_map(|s| match s {
                    Shape::Box(b) => b.track,
                    Shape::Poly(_) => None,
                })
                .max()
        });
        Some(here.map_or(free, |m| free.max(m + 1)))
    }

    /// Hides or shows shape `i`.
    pub fn toggle_hidden(&self, i: usize) {
        self.hidden
            .update(|h| match h.iter().position(|&x| x == i) {
                Some(at) => {
                    h.remove(at);
                }
                None => h.push(i),
            });
    }

    /// Moves the selected shape by whole image pixels, kept inside the image.
    pub fn nudge(&self, dx: f64, dy: f64) {
        let Some(i) = self.selected.get_untracked() else {
            return;
        };
        let Some(shape) = self.shapes.with_untracked(|v| v.get(i).cloned()) else {
            return;
        };
        self.checkpoint();
        let moved = shifted(&shape, dx, dy, self.size.get_untracked());
        self.shapes.update(|v| v[i] = moved);
    }

    /// The editor's own keys (undo, delete, nudge, zoom, pan, closing a polygon); `false` when
    /// the key is not one of them and is left to the page.
    pub fn key(&self, e: &web_sys::KeyboardEvent, concept: &str) -> bool {
        let step = if e.shift_key() { 10.0 } else { 1.0 };
        let arrow = match e.key().as_str() {
            "ArrowLeft" => Some((-step, 0.0)),
            "ArrowRight" => Some((step, 0.0)),
            "ArrowUp" => Some((0.0, -step)),
            "ArrowDown" => Some((0.0, step)),
            _ => None,
        };
        match (e.key().as_str(), arrow) {
            // Arrows nudge a selected shape; with none selected they are the page's.
            (_, Some((dx, dy))) if self.selected.get_untracked().is_some() => self.nudge(dx, dy),
            (_, Some(_)) => return false,
            ("z" | "Z", _) => self.undo(),
            ("Delete" | "Backspace", _) => self.delete_selected(),
            ("Enter", _) if self.has_draft() => self.close_polygon(concept),
            ("+" | "=", _) => self.zoom_by(1.25, None),
            ("-", _) => self.zoom_by(0.8, None),
            ("0", _) => self.fit(),
            (" ", _) => self.panning.set(true),
            _ => return false,
        }
        // Space and the arrows would scroll the page too.
        e.prevent_default();
        true
    }

    /// Shape `i` as it was at the last checkpoint (when the drag under way began).
    fn before(&self, i: usize) -> Option<Shape> {
        self.history
            .with_untracked(|h| h.last().and_then(|v| v.get(i).cloned()))
    }

    fn checkpoint(&self) {
        let now = self.shapes.get_untracked();
        self.history.update(|h| h.push(now));
    }

    /// Undoes the last change (or the last polygon point being drawn).
    pub fn undo(&self) {
        if !self.draft.with_untracked(|d| d.is_empty()) {
            self.draft.update(|d| {
                d.pop();
            });
            return;
        }
        if let Some(prev) = self.history.try_update(|h| h.pop()).flatten() {
            self.shapes.set(prev);
            self.selected.set(None);
            self.hidden.set(Vec::new());
        }
    }

    /// Removes the selected shape.
    pub fn delete_selected(&self) {
        if let Some(i) = self.selected.get_untracked() {
            self.checkpoint();
            self.shapes.update(|s| {
                if i < s.len() {
                    s.remove(i);
                }
            });
            self.hidden.update(|h| {
                h.retain(|&x| x != i);
                h.iter_mut().filter(|x| **x > i).for_each(|x| *x -= 1);
            });
            self.selected.set(None);
        }
    }

    /// Whether a polygon is being drawn.
    pub fn has_draft(&self) -> bool {
        self.draft.with_untracked(|d| !d.is_empty())
    }

    /// Closes the polygon being drawn when it has at least 3 points.
    pub fn close_polygon(&self, concept: &str) {
        let pts = self.draft.get_untracked();
        if pts.len() >= 3 {
            self.checkpoint();
            self.shapes.update(|s| {
                s.push(Shape::Poly(PolygonShape {
                    concept: concept.into(),
                    points: pts,
                }))
            });
            self.draft.set(Vec::new());
        }
    }

    /// Puts an earlier answer's shapes back in the editor (going back, or rework).
    pub fn load(&self, value: &LabelValue) {
        self.reset();
        let shapes = match value {
            LabelValue::BoundingBox { boxes } => boxes.iter().cloned().map(Shape::Box).collect(),
            LabelValue::Polygon { polygons } => polygons.iter().cloned().map(Shape::Poly).collect(),
            _ => Vec::new(),
        };
        self.shapes.set(shapes);
    }

    /// The label for the shapes drawn, of the task's kind.
    pub fn value(&self, polygons: bool) -> LabelValue {
        let shapes = self.shapes.get_untracked();
        if polygons {
            LabelValue::Polygon {
                polygons: shapes
                    .into_iter()
                    .filter_map(|s| match s {
                        Shape::Poly(p) => Some(p),
                        Shape::Box(_) => None,
                    })
                    .collect(),
            }
        } else {
            LabelValue::BoundingBox {
                boxes: shapes
                    .into_iter()
                    .filter_map(|s| match s {
                        Shape::Box(b) => Some(b),
                        Shape::Poly(_) => None,
                    })
                    .collect(),
            }
        }
    }
}

impl Default for Shapes {
    fn default() -> Self {
        Self::new()
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// `shape` moved by (dx, dy) image pixels, stopped at the image's edges.
fn shifted(shape: &Shape, dx: f64, dy: f64, size: (f64, f64)) -> Shape {
    let (x0, y0, x1, y1) = match shape {
        Shape::Box(b) => (b.x, b.y, b.x + b.w, b.y + b.h),
        Shape::Poly(p) => p.points.iter().fold(
            (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
            |(a, b, c, d), q| (a.min(q[0]), b.min(q[1]), c.max(q[0]), d.max(q[1])),
        ),
    };
    let dx = dx.min(size.0 - x1).max(-x0);
    let dy = dy.min(size.1 - y1).max(-y0);
    let mut out = shape.clone();
    match &mut out {
        Shape::Box(b) => {
            b.x = round(b.x + dx);
            b.y = round(b.y + dy);
        }
        Shape::Poly(p) => p.points.iter_mut().for_each(|q| {
            q[0] = round(q[0] + dx);
            q[1] = round(q[1] + dy);
        }),
    }
    out
}

/// `b` with handle `h` (see [`Drag::Resize`]) dragged to `p`: the opposite side stays put.
fn resized(b: &BoxShape, h: u8, p: (f64, f64)) -> BoxShape {
    let (mut l, mut t, mut r, mut btm) = (b.x, b.y, b.x + b.w, b.y + b.h);
    match h % 3 {
        0 => l = p.0.min(r - 1.0),
        2 => r = p.0.max(l + 1.0),
        _ => {}
    }
    match h / 3 {
        0 => t = p.1.min(btm - 1.0),
        2 => btm = p.1.max(t + 1.0),
        _ => {}
    }
    BoxShape {
        concept: b.concept.clone(),
        x: round(l),
        y: round(t),
        w: round(r - l),
        h: round(btm - t),
        track: b.track,
    }
}

/// The pointer's position in image pixels.
fn point(e: &web_sys::MouseEvent, size: (f64, f64)) -> Option<(f64, f64)> {
    let el: web_sys::Element = e.current_target()?.dyn_into().ok()?;
    let r = el.get_bounding_client_rect();
    if r.width() <= 0.0 || r.height() <= 0.0 {
        return None;
    }
    let x = (e.client_x() as f64 - r.left()) * size.0 / r.width();
    let y = (e.client_y() as f64 - r.top()) * size.1 / r.height();
    Some((round(x.clamp(0.0, size.0)), round(y.clamp(0.0, size.1))))
}

const COLOURS: [&str; 6] = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080",
];

/// The colour of a class: its place in the task's concepts.
fn class_colour(concepts: &[String], concept: &str) -> &'static str {
    let i = concepts.iter().position(|c| c == concept).unwrap_or(0);
    COLOURS[i % COLOURS.len()]
}

/// The image with its drawing layer and the list of its objects.
#[component]
pub fn ShapeEditor(
    src: String,
    state: Shapes,
    polygons: bool,
    #[prop(into)] concept: Signal<String>,
    #[prop(into)] concepts: Signal<Vec<String>>,
) -> impl IntoView {
    let s = state;
    let near = move |a: (f64, f64), b: [f64; 2]| {
        // About 8 screen pixels at typical display sizes.
        let tol = s.size.get_untracked().0.max(s.size.get_untracked().1) / 80.0;
        (a.0 - b[0]).abs() <= tol && (a.1 - b[1]).abs() <= tol
    };
    let down = move |e: web_sys::MouseEvent| {
        e.prevent_default();
        if s.panning.get_untracked() || e.button() == 1 {
            let (_, tx, ty) = s.zoom.get_untracked();
            s.drag.set(Some(Drag::Pan {
                cx: e.client_x() as f64,
                cy: e.client_y() as f64,
                tx,
                ty,
            }));
            return;
        }
        let Some(p) = point(&e, s.size.get_untracked()) else {
            return;
        };
        let target: Option<web_sys::Element> = e.target().and_then(|t| t.dyn_into().ok());
        let role = target.as_ref().and_then(|t| t.get_attribute("data-role"));
        let index = target
            .as_ref()
            .and_then(|t| t.get_attribute("data-index"))
            .and_then(|i| i.parse::<usize>().ok());
        match (role.as_deref(), index) {
            (Some("handle"), Some(i)) => {
                let h = target
                    .and_then(|t| t.get_attribute("data-h"))
                    .and_then(|h| h.parse().ok())
                    .unwrap_or(8);
                s.checkpoint();
                s.selected.set(Some(i));
                s.drag.set(Some(Drag::Resize { index: i, h }));
            }
            (Some("vertex"), Some(i)) => {
                let v = target
                    .and_then(|t| t.get_attribute("data-vertex"))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                s.checkpoint();
                s.selected.set(Some(i));
                s.drag.set(Some(Drag::Vertex {
                    index: i,
                    vertex: v,
                }));
            }
            (Some("box" | "poly"), Some(i)) if s.draft.with_untracked(|d| d.is_empty()) => {
                s.checkpoint();
                s.selected.set(Some(i));
                s.drag.set(Some(Drag::Move {
                    index: i,
                    x0: p.0,
                    y0: p.1,
                }));
            }
            _ if polygons => {
                let first = s.draft.with_untracked(|d| d.first().copied());
                match first {
                    Some(f) if near(p, f) && s.draft.with_untracked(|d| d.len() >= 3) => {
                        s.close_polygon(&concept.get_untracked())
                    }
                    _ => s.draft.update(|d| d.push([p.0, p.1])),
                }
                s.selected.set(None);
            }
            _ => {
                s.selected.set(None);
                s.drag.set(Some(Drag::Draw { x0: p.0, y0: p.1 }));
                s.preview.set(Some((p.0, p.1, 0.0, 0.0)));
            }
        }
    };
    let moved = move |e: web_sys::MouseEvent| {
        let Some(drag) = s.drag.get_untracked() else {
            if polygons && s.has_draft() {
                s.hover.set(point(&e, s.size.get_untracked()));
            }
            return;
        };
        if let Drag::Pan { cx, cy, tx, ty } = drag {
            s.zoom.update(|z| {
                z.1 = tx + e.client_x() as f64 - cx;
                z.2 = ty + e.client_y() as f64 - cy;
            });
            return;
        }
        let Some(p) = point(&e, s.size.get_untracked()) else {
            return;
        };
        match drag {
            Drag::Pan { .. } => {}
            Drag::Draw { x0, y0 } => s.preview.set(Some((
                x0.min(p.0),
                y0.min(p.1),
                round((p.0 - x0).abs()),
                round((p.1 - y0).abs()),
            ))),
            // From the shape as it was when the drag began (the last checkpoint), so the
            // image's edges stop it without the pointer and the shape drifting apart.
            Drag::Move { index, x0, y0 } => {
                if let Some(from) = s.before(index) {
                    let to = shifted(&from, p.0 - x0, p.1 - y0, s.size.get_untracked());
                    s.shapes.update(|v| v[index] = to);
                }
            }
            Drag::Resize { index, h } => {
                if let Some(Shape::Box(from)) = s.before(index) {
                    s.shapes
                        .update(|v| v[index] = Shape::Box(resized(&from, h, p)));
                }
            }
            Drag::Vertex { index, vertex } => s.shapes.update(|v| {
                if let Some(Shape::Poly(poly)) = v.get_mut(index) {
                    if let Some(pt) = poly.points.get_mut(vertex) {
                        *pt = [p.0, p.1];
                    }
                }
            }),
        }
    };
    let up = move |_e: web_sys::MouseEvent| {
        // A click that selected without changing anything leaves nothing to undo.
        if matches!(
            s.drag.get_untracked(),
            Some(Drag::Move { .. } | Drag::Resize { .. } | Drag::Vertex { .. })
        ) && s.history.with_untracked(|h| h.last().cloned()) == Some(s.shapes.get_untracked())
        {
            s.history.update(|h| {
                h.pop();
            });
        }
        if let Some(Drag::Draw { .. }) = s.drag.get_untracked() {
            if let Some((x, y, w, h)) = s.preview.get_untracked() {
                if w >= 2.0 && h >= 2.0 {
                    let track = s.new_track();
                    s.checkpoint();
                    s.shapes.update(|v| {
                        v.push(Shape::Box(BoxShape {
                            concept: concept.get_untracked(),
                            x,
                            y,
                            w,
                            h,
                            track,
                        }))
                    });
                    s.selected
                        .set(Some(s.shapes.with_untracked(|v| v.len() - 1)));
                }
            }
        }
        s.preview.set(None);
        s.drag.set(None);
    };
    let view_box = move || {
        let (w, h) = s.size.get();
        format!("0 0 {w} {h}")
    };
    let stroke = move || s.size.get().0.max(s.size.get().1) / 300.0;
    let shapes = move || {
        let classes = concepts.get();
        let hidden = s.hidden.get();
        let chosen = s.selected.get();
        s.shapes
            .get()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !hidden.contains(i))
            .map(|(i, shape)| {
                let name = match &shape {
                    Shape::Box(b) => b.concept.clone(),
                    Shape::Poly(p) => p.concept.clone(),
                };
                let colour = class_colour(&classes, &name);
                let selected = chosen == Some(i);
                let (lx, ly) = match &shape {
                    Shape::Box(b) => (b.x, b.y),
                    Shape::Poly(p) => p.points.first().map_or((0.0, 0.0), |q| (q[0], q[1])),
                };
                let tag = view! {
                    <text data-role="name" x=lx y=(ly - stroke() * 2.0).max(stroke() * 12.0)
                        font-size=stroke() * 12.0 fill=colour pointer-events="none">{name}</text>
                };
                match shape {
                    Shape::Box(b) => {
                        let r = stroke() * 3.0;
                        // The selected box's 8 handles: corners and edge midpoints.
                        let handles = selected.then(|| {
                            [0u8, 1, 2, 3, 5, 6, 7, 8]
                                .into_iter()
                                .map(|h| {
                                    let x = b.x + b.w * f64::from(h % 3) / 2.0 - r;
                                    let y = b.y + b.h * f64::from(h / 3) / 2.0 - r;
                                    view! {
                                        <rect data-role="handle" data-index=i data-h=h x=x y=y width=r * 2.0
                                            height=r * 2.0 fill="#fff" stroke=colour stroke-width=stroke />
                                    }
                                })
                                .collect_view()
                        });
                        view! {
                            <g data-shape=i>
                                {tag}
                                <rect data-role="box" data-index=i x=b.x y=b.y width=b.w height=b.h
                                    fill=colour fill-opacity="0.15" stroke=colour stroke-width=stroke
                                    class:selected=selected />
                                {handles}
                            </g>
                        }
                        .into_any()
                    }
                    Shape::Poly(p) => {
                        let pts = p
                            .points
                            .iter()
                            .map(|q| format!("{},{}", q[0], q[1]))
                            .collect::<Vec<_>>()
                            .join(" ");
                        let vertices = p
                            .points
                            .iter()
                            .enumerate()
                            .map(|(v, q)| {
                                view! {
                                    <circle data-role="vertex" data-index=i data-vertex=v cx=q[0] cy=q[1]
                                        r=stroke() * 3.0 fill="#fff" stroke=colour stroke-width=stroke />
                                }
                            })
                            .collect_view();
                        view! {
                            <g data-shape=i>
                                {tag}
                                <polygon data-role="poly" data-index=i points=pts fill=colour
                                    fill-opacity="0.15" stroke=colour stroke-width=stroke class:selected=selected />
                                {vertices}
                            </g>
                        }
                        .into_any()
                    }
                }
            })
            .collect_view()
    };
    let draft = move || {
        let d = s.draft.get();
        let pts = d
            .iter()
            .map(|q| format!("{},{}", q[0], q[1]))
            .collect::<Vec<_>>()
            .join(" ");
        let dots = d
            .iter()
            .map(|q| view! { <circle cx=q[0] cy=q[1] r=stroke() * 3.0 fill="#ffd400" /> })
            .collect_view();
        // The edge the next click will add, from the last point to the pointer.
        let next = match (d.last(), s.hover.get()) {
            (Some(last), Some((x, y))) => Some(view! {
                <line data-role="preview" x1=last[0] y1=last[1] x2=x y2=y stroke="#ffd400"
                    stroke-width=stroke stroke-dasharray="4" pointer-events="none" />
            }),
            _ => None,
        };
        view! {
            <polyline points=pts fill="none" stroke="#ffd400" stroke-width=stroke />
            {dots}
            {next}
        }
    };
    let preview = move || {
        s.preview.get().map(|(x, y, w, h)| {
            view! { <rect x=x y=y width=w height=h fill="none" stroke="#ffd400" stroke-width=stroke stroke-dasharray="4" /> }
        })
    };
    let transform = move || {
        let (z, tx, ty) = s.zoom.get();
        format!("transform: translate({tx}px, {ty}px) scale({z}); transform-origin: 0 0")
    };
    let wheel = move |e: web_sys::WheelEvent| {
        e.prevent_default();
        let Some(el) = e
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let r = el.get_bounding_client_rect();
        let at = (
            e.client_x() as f64 - r.left(),
            e.client_y() as f64 - r.top(),
        );
        s.zoom_by(if e.delta_y() < 0.0 { 1.25 } else { 0.8 }, Some(at));
    };
    // The item's objects: select, re-class, hide, delete. A control used here gives the keys
    // back to the shortcuts at once (blur), so the next key is not the list's.
    let blur = |e: &web_sys::Event| {
        // Not a click on the row too (which would select what took the deleted one's place).
        e.stop_propagation();
        if let Some(el) = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.blur();
        }
    };
    let objects = move || {
        let classes = concepts.get();
        let chosen = s.selected.get();
        let hidden = s.hidden.get();
        s.shapes
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, shape)| {
                let (kind, name, track) = match shape {
                    Shape::Box(b) => ("Box ", b.concept, b.track),
                    Shape::Poly(p) => ("Polygon ", p.concept, None),
                };
                // On a video frame: the box's track, which the annotator may change.
                let track = track.map(|t| {
                    view! {
                        " track "
                        <input type="number" min="1" class="track" data-testid="object-track"
                            aria-label="track" prop:value=t.to_string()
                            on:change=move |e| {
                                if let Ok(t) = event_target_value(&e).parse::<u32>() {
                                    s.set_track(i, t.max(1));
                                }
                                blur(&e);
                            }
 />
                    }
                });
                // The options as one HTML string: a view per option costs the bundle more.
                let options: String = classes
                    .iter()
                    .map(|c| {
                        let c = crate::pages::compare::esc(c);
                        let on = if c == crate::pages::compare::esc(&name) {
                            " selected"
                        } else {
                            ""
                        };
                        format!("<option value=\"{c}\"{on}>{c}</option>")
                    })
                    .collect();
                let swatch = format!("background:{}", class_colour(&classes, &name));
                view! {
                    <li data-testid="object" class:selected=chosen == Some(i)
                        on:click=move |_| s.selected.set(Some(i))>
                        <span class="swatch" style=swatch></span>
                        {kind}{i + 1}
                        <select data-testid="object-class" aria-label="class" inner_html=options
                            on:change=move |e| {
                                s.set_concept(i, event_target_value(&e));
                                blur(&e);
                            }></select>
                        {track}
                        <button class="link" data-testid="object-hide" on:click=move |e| {
                            s.toggle_hidden(i);
                            blur(&e);
                        }>{if hidden.contains(&i) { "show" } else { "hide" }}</button>
                        <button class="link" data-testid="object-delete" on:click=move |e| {
                            s.selected.set(Some(i));
                            s.delete_selected();
                            blur(&e);
                        }>"delete"</button>
                    </li>
                }
            })
            .collect_view()
    };
    // Space held pans (see `Shapes::key`); letting go ends it. The listener outlives the
    // editor: `alive` is disposed with it, which turns the listener off.
    let alive = RwSignal::new(());
    let _ = window_event_listener(leptos::ev::keyup, move |e| {
        if e.key() == " " && alive.try_get_untracked().is_some() {
            s.panning.set(false);
        }
    });
    view! {
        <div class="editor-wrap">
        <div class="viewport" data-testid="viewport" on:wheel=wheel class:panning=move || s.panning.get()>
        <div class="editor" style=transform>
            {picture(src, "item to label", s.size)}
            <svg
                data-testid="canvas"
                viewBox=view_box
                preserveAspectRatio="none"
                on:mousedown=down
                on:mousemove=moved
                on:mouseup=up
                on:mouseleave=up
            >
                {shapes}
                {draft}
                {preview}
            </svg>
        </div>
        </div>
        <div class="objects" data-testid="objects">
            <b>"Objects"</b>
            <ol>{objects}</ol>
        </div>
        </div>
    }
}
