//! The reviewer's queue for one task: every annotator's label side by side (shapes overlaid in a
//! colour per annotator), the agreement and the consensus, approve or reject with a comment.
//! Decisions go through the outbox like labels, so reviewing also works through an outage.

use crate::api::{ReviewItem, ReviewLabel};
use crate::offline;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::TaskId;
use quorum_core::label::LabelValue;
use quorum_core::sync::{Action, Decision, Op};
use wasm_bindgen::JsCast;

const COLOURS: [&str; 6] = [
    "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080",
];

fn summary(v: &LabelValue) -> String {
    match v {
        LabelValue::Classification { concept } => concept.clone(),
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
        LabelValue::Polygon { polygons } => polygons
            .iter()
            .map(|p| format!("{} ({} points)", p.concept, p.points.len()))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn image_src(data: &serde_json::Value) -> Option<String> {
    let s = data
        .as_str()
        .or_else(|| data.get("image").and_then(|v| v.as_str()))?;
    let l = s.to_ascii_lowercase();
    [".jpg", ".jpeg", ".png", ".gif", ".webp"]
        .iter()
        .any(|e| l.ends_with(e))
        .then(|| s.to_string())
}

/// The image with every annotator's shapes on it.
fn overlay(src: String, labels: Vec<ReviewLabel>) -> impl IntoView {
    let size = RwSignal::new((1.0f64, 1.0f64));
    let shapes = move || {
        let w = size.get().0.max(size.get().1) / 300.0;
        labels
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                let c = COLOURS[i % COLOURS.len()];
                match &l.value {
                    LabelValue::BoundingBox { boxes } => boxes
                        .iter()
                        .map(|b| {
                            view! { <rect x=b.x y=b.y width=b.w height=b.h fill="none" stroke=c stroke-width=w /> }
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
                            view! { <polygon points=pts fill="none" stroke=c stroke-width=w /> }.into_any()
                        })
                        .collect(),
                    LabelValue::Classification { .. } => Vec::new(),
                }
            })
            .collect_view()
    };
    view! {
        <div class="editor">
            <img
                src=src
                alt="item under review"
                on:load=move |e| {
                    if let Some(img) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlImageElement>().ok()) {
                        size.set((img.natural_width() as f64, img.natural_height() as f64));
                    }
                }
            />
            <svg viewBox=move || format!("0 0 {} {}", size.get().0, size.get().1) preserveAspectRatio="none">
                {shapes}
            </svg>
        </div>
    }
}

/// The review screen for one task.
#[component]
pub fn Review(task: TaskId) -> impl IntoView {
    let app = App::get();
    let items = RwSignal::new(None::<Result<Vec<ReviewItem>, String>>);
    let disagreements = RwSignal::new(false);
    let comment = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);

    Effect::new(move |_| {
        let only = disagreements.get();
        let Some(client) = app.client() else { return };
        spawn_local(async move {
            items.set(Some(
                client
                    .review_queue(task, only)
                    .await
                    .map_err(|e| e.to_string()),
            ));
        });
    });

    let current = Memo::new(move |_| {
        items.with(|i| {
            i.as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|v| v.first().cloned())
        })
    });

    let decide = move |decision: Decision| {
        let Some(item) = current.get_untracked() else {
            return;
        };
        if !app.outbox_loaded.get_untracked() {
            return;
        }
        let text = comment.get_untracked();
        let op = Op {
            client_op_id: offline::next_op_id(),
            created_at: Some(offline::now()),
            action: Action::Review {
                task_id: task,
                item_id: item.item_id,
                decision,
                comment: (!text.trim().is_empty()).then_some(text),
            },
        };
        // Core's own rule (a rejection needs a comment) is checked before anything is queued.
        if let Err(e) = op.validate() {
            note.set(Some(e.message));
            return;
        }
        let now = offline::now();
        offline::journal_add(&op);
        let id = op.client_op_id.clone();
        app.outbox.update(|o| o.push(op, now));
        let snapshot = app.outbox.get_untracked();
        spawn_local(async move {
            offline::save_outbox(&snapshot).await;
            offline::journal_remove(&[id]);
        });
        items.update(|i| {
            if let Some(Ok(v)) = i {
                v.retain(|x| x.item_id != item.item_id);
            }
        });
        comment.set(String::new());
        note.set(None);
    };

    let alive = RwSignal::new(());
    let _ = window_event_listener(leptos::ev::keydown, move |e| {
        if alive.try_get_untracked().is_none() || e.ctrl_key() || e.meta_key() {
            return;
        }
        let in_field = e
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA"));
        if in_field {
            return;
        }
        match e.key().as_str() {
            "a" | "A" => decide(Decision::Approve),
            "r" | "R" => decide(Decision::Reject),
            "d" | "D" => disagreements.update(|d| *d = !*d),
            _ => {}
        }
    });

    let item_view = move |item: ReviewItem| {
        let body = match image_src(&item.data) {
            Some(src) => overlay(src, item.labels.clone()).into_any(),
            None => view! { <div class="item-text">{item.data.as_str().map(str::to_string).unwrap_or_else(|| item.data.to_string())}</div> }.into_any(),
        };
        let labels = item
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let colour = format!("border-left: 6px solid {}", COLOURS[i % COLOURS.len()]);
                view! {
                    <div class="answer" style=colour data-testid="answer">
                        <b>{if l.worker_name.is_empty() { format!("worker {}", l.worker_id) } else { l.worker_name.clone() }}</b>
                        {l.late.then_some(" (late)")}
                        <div>{summary(&l.value)}</div>
                    </div>
                }
            })
            .collect_view();
        let agreement = item
            .agreement
            .map(|a| format!("agreement {:.0}%", a * 100.0))
            .unwrap_or_else(|| "agreement n/a".into());
        let consensus = item
            .consensus
            .and_then(|c| c.value.map(|v| (summary(&v), c.confidence)))
            .map(|(v, c)| match c {
                Some(c) => format!("consensus: {v} ({:.0}%)", c * 100.0),
                None => format!("consensus: {v}"),
            })
            .unwrap_or_else(|| "no consensus".into());
        view! {
            <div class="item" data-testid="review-item" data-item-id=item.item_id.0.to_string()>
                <div class="meta">
                    <span>"Item " {item.item_id.0}</span>
                    <span data-testid="agreement">{agreement}</span>
                    <span>{consensus}</span>
                </div>
                {body}
                <div class="answers">{labels}</div>
            </div>
        }
    };

    view! {
        <section class="page">
            <header class="bar-head">
                <h1>{format!("Review · task {}", task.0)}</h1>
                <label>
                    <input
                        type="checkbox"
                        prop:checked=move || disagreements.get()
                        on:change=move |_| disagreements.update(|d| *d = !*d)
                    />
                    " disagreements only (D)"
                </label>
            </header>
            <p class="note error">{move || note.get()}</p>
            {move || match items.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(_)) => match current.get() {
                    None => view! { <p data-testid="empty">"Nothing to review."</p> }.into_any(),
                    Some(item) => item_view(item).into_any(),
                },
            }}
            <textarea
                placeholder="Comment for the annotator (required to reject)"
                data-testid="comment"
                prop:value=move || comment.get()
                on:input=move |e| comment.set(event_target_value(&e))
            ></textarea>
            <div class="actions">
                <button data-testid="approve" on:click=move |_| decide(Decision::Approve)><kbd>"A"</kbd>"Approve"</button>
                <button data-testid="reject" on:click=move |_| decide(Decision::Reject)><kbd>"R"</kbd>"Reject"</button>
            </div>
        </section>
    }
}
