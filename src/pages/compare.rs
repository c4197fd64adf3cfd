//! Managers compare two sets of answers on one task, two of its annotators or an annotator and
//! a model (`GET /tasks/{id}/compare`): shared items, mean agreement and Cohen's kappa as the
//! server computed them, then each item with both answers side by side, disagreements first, optionally
//! only them; a box or polygon task draws both sides over the item's picture on demand.
//!
//! The summary and the rows are one HTML string (escaped here) under one element with one
//! click handler: a Leptos view per row costs more wasm than the size budget has left.

use crate::components::charts::percent;
use crate::components::item_view::{colour, image_url, item_text, label, summary};
use crate::route::Route;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::TaskId;
use quorum_core::label::LabelValue;
use serde_json::Value;
use wasm_bindgen::JsCast;

/// One item: each side's answer (absent when that side did not answer) and their agreement
/// (absent unless both answered).
struct Row {
    id: i64,
    a: Option<LabelValue>,
    b: Option<LabelValue>,
    agreement: Option<f64>,
}

impl Row {
    fn disagrees(&self) -> bool {
        self.agreement.is_some_and(|x| x < 1.0)
    }

    /// Disagreements first (the least agreement first), then items one side alone answered,
    /// then agreements; item order within each.
    fn rank(&self) -> (u8, f64) {
        match self.agreement {
            Some(x) if x < 1.0 => (0, x),
            None => (1, 0.0),
            Some(_) => (2, 0.0),
        }
    }
}

/// `x` without a negative zero (the server sends `-0.0` for boxes that match nothing), which
/// would print as "-0%".
fn plus(x: f64) -> f64 {
    x + 0.0
}

fn rows(v: &Value) -> Vec<Row> {
    let mut rows: Vec<Row> = v["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| Row {
                    id: i["item_id"].as_i64().unwrap_or(0),
                    a: label(&i["a"]),
                    b: label(&i["b"]),
                    agreement: i["agreement"].as_f64().map(plus),
                })
                .collect()
        })
        .unwrap_or_default();
    // By hand, stable: a standard library sort costs kilobytes of wasm. Nearly linear here, as
    // the server sends items in order and most ranks tie.
    for i in 1..rows.len() {
        let mut j = i;
        while j > 0 && rows[j - 1].rank() > rows[j].rank() {
            rows.swap(j - 1, j);
            j -= 1;
        }
    }
    rows
}

/// Text safe inside HTML elements and quoted attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The item's picture with side A's shapes in `colour(0)` and B's in `colour(1)` (the SVG takes
/// the image's own size once it loads), or its text.
fn picture(data: &Value, sides: [&Option<LabelValue>; 2]) -> String {
    let Some(src) = image_url(data) else {
        return format!("<div class=\"item-text\">{}</div>", esc(&item_text(data)));
    };
    let mut svg = String::new();
    for (i, side) in sides.into_iter().enumerate() {
        let c = colour(i);
        match side {
            Some(LabelValue::BoundingBox { boxes }) => {
                for b in boxes {
                    svg += &format!(
                        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" stroke=\"{c}\"/>",
                        b.x, b.y, b.w, b.h
                    );
                }
            }
            Some(LabelValue::Polygon { polygons }) => {
                for p in polygons {
                    let pts: Vec<String> = p
                        .points
                        .iter()
                        .map(|q| format!("{},{}", q[0], q[1]))
                        .collect();
                    svg += &format!("<polygon points=\"{}\" stroke=\"{c}\"/>", pts.join(" "));
                }
            }
            _ => {}
        }
    }
    format!(
        "<div class=\"editor\"><img src=\"{}\" alt=\"item\"><svg class=\"overlay cmp-shapes\" preserveAspectRatio=\"none\">{svg}</svg></div>",
        esc(&src)
    )
}

/// Gives the shapes' SVG the picture's own coordinates once it has loaded. Done here, not by an
/// inline `onload` attribute: the server's CSP refuses inline event handlers.
fn fit_overlay(at: &web_sys::Element) {
    let (Ok(Some(img)), Ok(Some(svg))) = (at.query_selector("img"), at.query_selector("svg"))
    else {
        return;
    };
    let img: web_sys::HtmlImageElement = img.unchecked_into();
    let sized = img.clone();
    let on_load = wasm_bindgen::closure::Closure::once_into_js(move || {
        let size = format!("0 0 {} {}", sized.natural_width(), sized.natural_height());
        let _ = svg.set_attribute("viewBox", &size);
    });
    img.set_onload(Some(on_load.unchecked_ref()));
}

/// The summary, then each row the filter keeps.
fn render(v: &Value, only: bool) -> String {
    let rows = rows(v);
    // Boxes and polygons can be drawn on the item.
    let shapes = rows.iter().any(|r| {
        [&r.a, &r.b]
            .iter()
            .any(|x| !matches!(x, None | Some(LabelValue::Classification { .. })))
    });
    let (mean, kappa) = (v["agreement"].as_f64().map(plus), v["kappa"].as_f64());
    let value = |x: Option<f64>| {
        x.map(|x| format!(" data-value=\"{x}\""))
            .unwrap_or_default()
    };
    let mut h = format!(
        "<p class=\"meta-line\" data-testid=\"compare-summary\"><b data-testid=\"shared\">{}</b> shared items · mean agreement <b data-testid=\"mean-agreement\"{}>{}</b> · Cohen's kappa <b data-testid=\"kappa\"{}>{}</b> · <span data-testid=\"compare-counts\">{} items, {} disagreements</span></p>",
        v["shared"].as_u64().unwrap_or(0),
        value(mean),
        percent(mean),
        value(kappa),
        kappa.map_or_else(|| "–".into(), |k| format!("{k:.2}")),
        rows.len(),
        rows.iter().filter(|r| r.disagrees()).count(),
    );
    let text =
        |v: &Option<LabelValue>| esc(&v.as_ref().map_or_else(|| "no answer".into(), summary));
    for r in rows.iter().filter(|r| !only || r.disagrees()) {
        let id = r.id;
        let side = |i: usize, t: &str, v: &Option<LabelValue>| {
            format!(
                "<div class=\"side\" style=\"border-top: 6px solid {}\" data-testid=\"answer-{t}\">{}</div>",
                colour(i),
                text(v)
            )
        };
        h += &format!(
            "<div class=\"cmp-row{}\" data-testid=\"compare-row\" data-item-id=\"{id}\"{}><div class=\"bar-head\"><a href=\"{}\" data-go>Item {id}</a><span data-testid=\"row-agreement\">{}</span>{}</div><div class=\"compare\">{}{}</div><div id=\"pic-{id}\"></div></div>",
            if r.disagrees() { " disagree" } else { "" },
            r.agreement.map(|x| format!(" data-agreement=\"{x}\"")).unwrap_or_default(),
            Route::Item(id).path(),
            percent(r.agreement),
            if shapes {
                format!("<button data-draw=\"{id}\">Draw</button>")
            } else {
                String::new()
            },
            side(0, "a", &r.a),
            side(1, "b", &r.b),
        );
    }
    h
}

/// `<option>`s of the task's people, `chosen` selected.
fn options(people: &[(i64, String)], chosen: usize) -> String {
    let mut h = String::new();
    for (i, (id, name)) in people.iter().enumerate() {
        let sel = if i == chosen { " selected" } else { "" };
        h += &format!("<option value=\"worker:{id}\"{sel}>{}</option>", esc(name));
    }
    h
}

/// The screen's choices and answer, `Copy` so every handler can ask.
#[derive(Clone, Copy)]
struct Picks {
    app: App,
    task: TaskId,
    a: RwSignal<String>,
    b: RwSignal<String>,
    model: RwSignal<String>,
    asked: RwSignal<u32>,
    result: RwSignal<Option<Result<Value, String>>>,
}

impl Picks {
    /// Asks the server to compare the chosen sides (a typed model name stands for side B);
    /// only the latest question's answer shows.
    fn ask(self) {
        let (a, mut b) = (self.a.get_untracked(), self.b.get_untracked());
        let m = self.model.get_untracked();
        if !m.trim().is_empty() {
            b = format!("model:{}", m.trim());
        }
        let Some(client) = self.app.client() else {
            return;
        };
        if a.is_empty() || b.is_empty() {
            return;
        }
        self.asked.update(|n| *n += 1);
        let n = self.asked.get_untracked();
        self.result.set(None);
        spawn_local(async move {
            let got = client.compare(self.task, &a, &b).await;
            if self.asked.get_untracked() == n {
                self.result.set(Some(got.map_err(|e| e.to_string())));
            }
        });
    }
}

/// The compare screen.
#[component]
pub fn Compare(task: TaskId) -> impl IntoView {
    let app = App::get();
    let (a, b) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let (options_a, options_b) = (RwSignal::new(String::new()), RwSignal::new(String::new()));
    let model = RwSignal::new(String::new());
    let only = RwSignal::new(false);
    let result = RwSignal::new(None::<Result<Value, String>>);
    let picks = Picks {
        app,
        task,
        a,
        b,
        model,
        asked: RwSignal::new(0),
        result,
    };

    // The pickers offer the task's assignees (all the project's annotators when it names
    // none), the first two chosen.
    if let Some(client) = app.client() {
        spawn_local(async move {
            let people = match client.progress(task).await {
                Ok(p) => p.assignees,
                Err(e) => return result.set(Some(Err(e.to_string()))),
            };
            let second = usize::from(people.len() > 1);
            options_a.set(options(&people, 0));
            options_b.set(options(&people, second));
            if let Some((x, _)) = people.first() {
                a.set(format!("worker:{x}"));
            }
            if let Some((x, _)) = people.get(second) {
                b.set(format!("worker:{x}"));
            }
            picks.ask();
        });
    }

    let html = move || match result.get() {
        None => "<p>Loading…</p>".to_string(),
        Some(Err(e)) => format!("<p class=\"error\">{}</p>", esc(&e)),
        Some(Ok(v)) => render(&v, only.get()),
    };
    // Item links move inside the app (the shell's handler); "Draw" loads the item and draws
    // both sides on it.
    let click = move |e: leptos::ev::MouseEvent| {
        let Some(t) = crate::components::shell::clicked(&e) else {
            return;
        };
        let id = t
            .get_attribute("data-draw")
            .and_then(|s| s.parse::<i64>().ok());
        let (Some(id), Some(c)) = (id, app.client()) else {
            return;
        };
        spawn_local(async move {
            let Ok(v) = c.item(id).await else { return };
            let pic = result.with_untracked(|r| {
                let items = r.as_ref()?.as_ref().ok()?["items"].as_array()?;
                let i = items.iter().find(|i| i["item_id"].as_i64() == Some(id))?;
                Some(picture(&v["data"], [&label(&i["a"]), &label(&i["b"])]))
            });
            let at = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id(&format!("pic-{id}")));
            if let (Some(p), Some(at)) = (pic, at) {
                at.set_inner_html(&p);
                fit_overlay(&at);
            }
        });
    };

    let head = format!(
        "<h1>Compare answers on task {0}</h1><a href=\"/manage/tasks/{0}\" data-go>Task page</a>",
        task.0
    );
    view! {
        <section class="page" on:click=click>
            <header class="bar-head" inner_html=head></header>
            <form class="actions" on:submit=move |e| {
                e.prevent_default();
                picks.ask();
            }>
                <select aria-label="First side" data-testid="side-a" on:change=move |e| { a.set(event_target_value(&e)); picks.ask(); } inner_html=options_a></select>
                " vs "
                <select aria-label="Second side" data-testid="side-b" on:change=move |e| { b.set(event_target_value(&e)); picks.ask(); } inner_html=options_b></select>
                <input placeholder="or a model name" aria-label="Model name" data-testid="model" on:input=move |e| model.set(event_target_value(&e)) />
                <button type="submit">"Compare"</button>
                <label>
                    <input type="checkbox" data-testid="disagreements-only" on:change=move |e| only.set(event_target_checked(&e)) />
                    " disagreements only"
                </label>
            </form>
            <div data-testid="compare" inner_html=html></div>
        </section>
    }
}
