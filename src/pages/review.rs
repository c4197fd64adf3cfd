//! The reviewer's queue for one task: every annotator's label side by side (shapes overlaid in a
//! colour per annotator), the agreement and the consensus, approve or reject with a comment, all
//! from the keyboard. One key (1–9) takes annotator N's answer as the result; E corrects the
//! label or the shapes in place with the labeling screen's editor, and the correction, stored
//! as the reviewer's own answer, becomes the result. Decisions go through the outbox like
//! labels, so reviewing also works through an outage; items decided here but not yet synced
//! stay hidden when the queue reloads.

use crate::api::{ReviewItem, Task};
use crate::components::concepts::concept_buttons;
use crate::components::item_view::{colour, frame_at, image_url, item_body, summary};
use crate::components::keys::{keep_focus, typing_in};
use crate::components::shape_editor::{ShapeEditor, Shapes};
use crate::offline;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::{ItemId, TaskId};
use quorum_core::label::{AnnotationType, LabelValue};
use quorum_core::sync::{Action, Decision, Op};

/// How often an empty queue asks the server again (reworked items come back to it).
const EMPTY_POLL_MS: i64 = 10_000;

/// Whether the most common answer shares first place with another (a 1–1 split, 2–2…): then
/// there is no consensus to show, whatever label the server's tie-break picked.
fn tied(item: &ReviewItem) -> bool {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for l in &item.labels {
        let key = l.value.consensus_key();
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    matches!(counts.as_slice(), [(_, a), (_, b), ..] if a == b)
}

/// The review screen for one task.
#[component]
pub fn Review(task: TaskId) -> impl IntoView {
    let app = App::get();
    let items = RwSignal::new(None::<Result<Vec<ReviewItem>, String>>);
    let disagreements = RwSignal::new(false);
    let comment = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let index = RwSignal::new(0usize);
    let help = RwSignal::new(false);
    let decided = RwSignal::new(0u32);
    let loaded_at = RwSignal::new(0i64);
    let comment_ref = NodeRef::<leptos::html::Textarea>::new();
    let title = RwSignal::new(format!("task {}", task.0));
    let info = RwSignal::new(None::<Task>);
    // Correcting: the item's answer in the editor (shapes) or the concepts to pick (a class).
    let editing = RwSignal::new(false);
    let shapes = Shapes::new();
    let concept = RwSignal::new(String::new());
    if let Some(client) = app.client() {
        spawn_local(async move {
            if let Ok(t) = client.task(task).await {
                crate::components::fmt::title(&format!("Review · {}", t.name));
                title.set(t.name.clone());
                concept.set(t.schema.concepts.first().cloned().unwrap_or_default());
                info.set(Some(t));
            }
        });
    }
    let concepts = move || {
        info.with(|t| t.as_ref().map(|t| t.schema.concepts.clone()))
            .unwrap_or_default()
    };
    let kind = move || info.with(|t| t.as_ref().map(|t| t.schema.annotation_type));
    let polygons = move || kind() == Some(AnnotationType::Polygon);

    // Items with a decision still in the outbox were handled here already.
    let pending_here = move || -> Vec<ItemId> {
        app.outbox.with_untracked(|o| {
            o.pending
                .iter()
                .filter(|p| p.op.kind() == "review" && p.op.task_id() == Some(task))
                .filter_map(|p| p.op.item_id())
                .collect()
        })
    };
    let load = move |only: bool| {
        let Some(client) = app.client() else { return };
        loaded_at.set(offline::now().0);
        spawn_local(async move {
            let got = client.review_queue(task, only).await.map(|mut v| {
                let skip = pending_here();
                v.retain(|i| !skip.contains(&i.item_id));
                v
            });
            match got {
                Ok(v) => items.set(Some(Ok(v))),
                // Offline the queue already shown stays usable.
                Err(e) if items.with_untracked(|i| matches!(i, Some(Ok(_)))) => {
                    note.set(Some(format!("could not refresh: {e}")))
                }
                Err(e) => items.set(Some(Err(e.to_string()))),
            }
        });
    };
    let toggle = move || {
        index.set(0);
        disagreements.update(|d| *d = !*d);
    };
    Effect::new(move |_| {
        let only = disagreements.get();
        if app.outbox_loaded.get() {
            load(only);
        }
    });
    // An empty queue is asked again now and then: rejected items come back after rework.
    Effect::new(move |_| {
        let now = app.now.get().0;
        let empty = items.with(|i| matches!(i, Some(Ok(v)) if v.is_empty()));
        if empty && app.online.get() && now - loaded_at.get_untracked() > EMPTY_POLL_MS {
            load(disagreements.get_untracked());
        }
    });

    let count =
        move || items.with(|i| i.as_ref().and_then(|r| r.as_ref().ok()).map_or(0, Vec::len));
    let current = Memo::new(move |_| {
        let at = index.get();
        items.with(|i| {
            i.as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|v| v.get(at.min(v.len().saturating_sub(1))).cloned())
        })
    });
    let step = move |by: isize| {
        let n = count();
        if n > 0 {
            index.update(|i| *i = ((*i as isize + by).rem_euclid(n as isize)) as usize);
        }
    };

    let focus_comment = move || {
        if let Some(el) = comment_ref.get_untracked() {
            let _ = el.focus();
        }
    };
    let decide = move |decision: Decision, value: Option<LabelValue>| {
        let Some(item) = current.get_untracked() else {
            return;
        };
        let corrected = value.is_some();
        if let Some(Err(e)) = value
            .as_ref()
            .and_then(|v| info.with_untracked(|t| t.as_ref().map(|t| t.schema.validate_value(v))))
        {
            note.set(Some(e.to_string()));
            return;
        }
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
                value,
            },
        };
        // Core's own rule (a rejection needs a comment) is checked before anything is queued.
        if let Err(e) = op.validate() {
            note.set(Some(format!(
                "{} — write it below, then press Ctrl+Enter to reject",
                e.message
            )));
            focus_comment();
            return;
        }
        let Some(id) = app.queue_op(op) else {
            note.set(Some("Sign in again to review.".into()));
            return;
        };
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
        let left = count();
        index.update(|i| *i = (*i).min(left.saturating_sub(1)));
        decided.update(|d| *d += 1);
        comment.set(String::new());
        editing.set(false);
        shapes.reset();
        // Back to the shortcuts: the next key is for the next item, not the comment box.
        if let Some(el) = comment_ref.get_untracked() {
            let _ = el.blur();
        }
        note.set(Some(format!(
            "item {} {}",
            item.item_id.0,
            match decision {
                _ if corrected => "corrected: your answer is its result",
                Decision::Approve => "approved",
                Decision::Reject => "sent back to its annotators",
            }
        )));
    };

    // Correcting starts from the consensus (or, without one, the first answer).
    let start_edit = move || {
        let Some(item) = current.get_untracked() else {
            return;
        };
        let base = item
            .consensus
            .as_ref()
            .and_then(|c| c.value.clone())
            .filter(|_| !tied(&item))
            .or_else(|| item.labels.first().map(|l| l.value.clone()));
        match &base {
            Some(v) => shapes.load(v),
            None => shapes.reset(),
        }
        editing.set(true);
    };

    // The listener outlives the page; `alive` is disposed with the page's owner, which turns it off.
    let alive = RwSignal::new(());
    let _ = window_event_listener(leptos::ev::keydown, move |e| {
        if alive.try_get_untracked().is_none() || e.meta_key() || e.alt_key() {
            return;
        }
        if typing_in(&e) {
            match e.key().as_str() {
                "Enter" if e.ctrl_key() => {
                    e.prevent_default();
                    decide(Decision::Reject, None);
                }
                "Escape" => {
                    if let Some(el) = comment_ref.get_untracked() {
                        let _ = el.blur();
                    }
                }
                _ => {}
            }
            return;
        }
        if e.ctrl_key() {
            return;
        }
        let key = e.key();
        // 1–9: annotator N's answer (reviewing), or concept N (correcting).
        let nth = key.parse::<usize>().ok().and_then(|n| n.checked_sub(1));
        if editing.get_untracked() {
            let drawing = kind() != Some(AnnotationType::Classification);
            if drawing && shapes.key(&e, &concept.get_untracked()) {
                return;
            }
            let picked = nth.and_then(|i| concepts().get(i).cloned());
            match (key.as_str(), picked) {
                ("Enter", _) if drawing => {
                    decide(Decision::Approve, Some(shapes.value(polygons())))
                }
                ("Escape", _) => {
                    editing.set(false);
                    shapes.reset();
                }
                (_, Some(c)) if drawing => concept.set(c),
                (_, Some(c)) => decide(
                    Decision::Approve,
                    Some(LabelValue::Classification { concept: c }),
                ),
                _ => {}
            }
            return;
        }
        if let Some(i) = nth {
            let answer = current.with_untracked(|c| {
                c.as_ref()
                    .and_then(|c| c.labels.get(i).map(|l| l.value.clone()))
            });
            if answer.is_some() {
                decide(Decision::Approve, answer);
            }
            return;
        }
        match key.as_str() {
            "e" | "E" => start_edit(),
            "a" | "A" => decide(Decision::Approve, None),
            "r" | "R" => {
                e.prevent_default();
                decide(Decision::Reject, None)
            }
            "c" | "C" => {
                e.prevent_default();
                focus_comment();
            }
            "d" | "D" => toggle(),
            "j" | "J" | "ArrowRight" => step(1),
            "k" | "K" | "ArrowLeft" => step(-1),
            "u" | "U" => load(disagreements.get_untracked()),
            "?" => help.update(|h| *h = !*h),
            "Escape" => help.set(false),
            _ => {}
        }
    });

    let item_view = move |item: ReviewItem| {
        let sets: Vec<LabelValue> = item.labels.iter().map(|l| l.value.clone()).collect();
        let data = item.data.clone();
        let body = move || {
            if !editing.get() {
                return item_body(&data, sets.clone());
            }
            let editor = match image_url(&data) {
                Some(src) if kind() != Some(AnnotationType::Classification) => view! {
                    <ShapeEditor src=src state=shapes polygons=polygons() concept=concept
                        concepts=Signal::derive(concepts) />
                    <button data-testid="save-correction"
                        on:click=move |_| decide(Decision::Approve, Some(shapes.value(polygons())))>
                        <kbd>"Enter"</kbd>"Save the correction as the result"
                    </button>
                }
                .into_any(),
                _ => item_body(&data, Vec::new()),
            };
            let pick = Callback::new(move |c: String| match kind() {
                Some(AnnotationType::Classification) => decide(
                    Decision::Approve,
                    Some(LabelValue::Classification { concept: c }),
                ),
                _ => concept.set(c),
            });
            let picks = concept_buttons(concepts(), Some(concept), pick);
            view! {
                <div class="correcting" data-testid="correcting">
                    <b>"Correcting: "</b>"your answer becomes the result · "<kbd>"Esc"</kbd>" cancel"
                    <div class="concepts">{picks}</div>
                    {editor}
                </div>
            }
            .into_any()
        };
        let labels = item
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let style = format!("border-left: 6px solid {}", colour(i));
                let who = if l.worker_name.is_empty() {
                    format!("worker {}", l.worker_id)
                } else {
                    l.worker_name.clone()
                };
                view! {
                    <div class="answer" style=style data-testid="answer" data-worker=l.worker_id.to_string()>
                        <kbd title="take this answer as the result">{i + 1}</kbd>
                        <b>{who}</b>
                        {l.late.then_some(" (late)")}
                        <div data-testid="answer-value">{summary(&l.value)}</div>
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
            .clone()
            .filter(|_| !tied(&item))
            .and_then(|c| c.value.map(|v| (summary(&v), c.confidence)))
            .map(|(v, c)| match c {
                Some(c) => format!("consensus: {v} ({:.0}%)", c * 100.0),
                None => format!("consensus: {v}"),
            })
            .unwrap_or_else(|| "no consensus".into());
        let disagree = item.agreement.is_some_and(|a| a < 1.0);
        // In a multi-step workflow the reviewer sees which step they decide (review, QA …).
        let step = item
            .step_name
            .clone()
            .map(|s| view! { <span class="step" data-testid="step-name">{s}</span> });
        view! {
            <div class="item" data-testid="review-item" data-item-id=item.item_id.0.to_string()>
                <div class="meta">
                    <span>"Item " {item.item_id.0}</span>
                    {frame_at(&item.data, &serde_json::Value::Null)}
                    {step}
                    <span data-testid="agreement" class:disagree=disagree>{agreement}</span>
                    <span data-testid="consensus">{consensus}</span>
                </div>
                {body}
                <div class="answers">{labels}</div>
            </div>
        }
    };

    view! {
        <section class="page review" on:mousedown=keep_focus>
            <header class="bar-head">
                <h1>"Review · " {move || title.get()}</h1>
                <span data-testid="review-count">
                    {move || {
                        let n = count();
                        if n == 0 { "0 to review".to_string() } else { format!("{} of {n} to review", index.get().min(n - 1) + 1) }
                    }}
                </span>
                <span>{move || format!("{} decided here", decided.get())}</span>
                <label>
                    <input
                        type="checkbox"
                        data-testid="disagreements"
                        prop:checked=move || disagreements.get()
                        on:change=move |_| toggle()
                    />
                    " disagreements only "<kbd>"D"</kbd>
                </label>
                <button class="link" on:click=move |_| load(disagreements.get_untracked())>"refresh"</button>
                <button class="link" on:click=move |_| help.update(|h| *h = !*h)>"? shortcuts"</button>
            </header>
            <p class="note" data-testid="review-note">{move || note.get()}</p>
            {move || match items.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(_)) => match current.get() {
                    None => view! { <p data-testid="empty">"Nothing to review now: items come here as annotators label them. Press refresh to look again."</p> }.into_any(),
                    Some(item) => item_view(item).into_any(),
                },
            }}
            <textarea
                node_ref=comment_ref
                placeholder="Comment for the annotator (required to reject; Ctrl+Enter rejects)"
                aria-label="Comment for the annotator"
                data-testid="comment"
                prop:value=move || comment.get()
                on:input=move |e| comment.set(event_target_value(&e))
            ></textarea>
            <div class="actions">
                <button data-testid="approve" on:click=move |_| decide(Decision::Approve, None)><kbd>"A"</kbd>"Approve"</button>
                <button data-testid="reject" on:click=move |_| decide(Decision::Reject, None)><kbd>"R"</kbd>"Reject"</button>
                <button data-testid="correct" on:click=move |_| start_edit()><kbd>"E"</kbd>"Correct"</button>
                <button on:click=move |_| step(-1)><kbd>"K"</kbd>"Previous"</button>
                <button on:click=move |_| step(1)><kbd>"J"</kbd>"Next"</button>
            </div>
            <div class="help" data-testid="help" class:hidden=move || !help.get()>
                <h2>"Keyboard shortcuts"</h2>
                <ul>
                    <li><kbd>"A"</kbd>" approve the item shown · "<kbd>"1"</kbd>"–"<kbd>"9"</kbd>" take annotator N's answer as its result"</li>
                    <li><kbd>"E"</kbd>" correct the label or the shapes (the labeling screen's keys; "<kbd>"1"</kbd>"–"<kbd>"9"</kbd>" the class); "<kbd>"Enter"</kbd>" saves your answer as the result, "<kbd>"Esc"</kbd>" cancels"</li>
                    <li><kbd>"R"</kbd>" reject it (with the comment; without one, the comment box opens)"</li>
                    <li><kbd>"C"</kbd>" write a comment · "<kbd>"Ctrl"</kbd>"+"<kbd>"Enter"</kbd>" reject with it · "<kbd>"Esc"</kbd>" leave the box"</li>
                    <li><kbd>"J"</kbd>" / "<kbd>"K"</kbd>" next / previous item"</li>
                    <li><kbd>"D"</kbd>" disagreements only, on or off · "<kbd>"U"</kbd>" reload the queue"</li>
                    <li><kbd>"?"</kbd>" show or hide this list"</li>
                </ul>
            </div>
        </section>
    }
}
