//! The reviewer's queue for one task: every annotator's label side by side (shapes overlaid in a
//! colour per annotator), the agreement and the consensus, approve or reject with a comment, all
//! from the keyboard. Decisions go through the outbox like labels, so reviewing also works
//! through an outage; items decided here but not yet synced stay hidden when the queue reloads.

use crate::api::ReviewItem;
use crate::components::item_view::{colour, item_body, summary};
use crate::offline;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::{ItemId, TaskId};
use quorum_core::sync::{Action, Decision, Op};
use wasm_bindgen::JsCast;

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

/// Whether a key press belongs to the element it was typed in: text fields only. A checkbox
/// or a button clicked a moment ago does not take the reviewer's shortcuts away.
fn typing_in(e: &web_sys::KeyboardEvent) -> bool {
    let Some(el) = e
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
    else {
        return false;
    };
    if el.is_content_editable() {
        return true;
    }
    match el.tag_name().as_str() {
        "TEXTAREA" | "SELECT" => true,
        "INPUT" => !matches!(
            el.get_attribute("type").unwrap_or_default().as_str(),
            "checkbox" | "radio" | "button" | "submit" | "reset" | "range" | "color" | "file"
        ),
        _ => false,
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
    let index = RwSignal::new(0usize);
    let help = RwSignal::new(false);
    let decided = RwSignal::new(0u32);
    let loaded_at = RwSignal::new(0i64);
    let comment_ref = NodeRef::<leptos::html::Textarea>::new();
    let title = RwSignal::new(format!("task {}", task.0));
    if let Some(client) = app.client() {
        spawn_local(async move {
            if let Ok(t) = client.task(task).await {
                crate::components::fmt::title(&format!("Review · {}", t.name));
                title.set(t.name);
            }
        });
    }

    // Items with a decision still in the outbox were handled here already.
    let pending_here = move || -> Vec<ItemId> {
        app.outbox.with_untracked(|o| {
            o.pending
                .iter()
                .filter_map(|p| match &p.op.action {
                    Action::Review {
                        task_id, item_id, ..
                    } if *task_id == task => Some(*item_id),
                    _ => None,
                })
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
        // Back to the shortcuts: the next key is for the next item, not the comment box.
        if let Some(el) = comment_ref.get_untracked() {
            let _ = el.blur();
        }
        note.set(Some(format!(
            "item {} {}",
            item.item_id.0,
            match decision {
                Decision::Approve => "approved",
                Decision::Reject => "sent back to its annotators",
            }
        )));
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
                    decide(Decision::Reject);
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
        match e.key().as_str() {
            "a" | "A" => decide(Decision::Approve),
            "r" | "R" => {
                e.prevent_default();
                decide(Decision::Reject)
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
        let sets = item.labels.iter().map(|l| l.value.clone()).collect();
        let body = item_body(&item.data, sets);
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
        <section class="page review">
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
                    None => view! { <p data-testid="empty">"Nothing to review."</p> }.into_any(),
                    Some(item) => item_view(item).into_any(),
                },
            }}
            <textarea
                node_ref=comment_ref
                placeholder="Comment for the annotator (required to reject; Ctrl+Enter rejects)"
                data-testid="comment"
                prop:value=move || comment.get()
                on:input=move |e| comment.set(event_target_value(&e))
            ></textarea>
            <div class="actions">
                <button data-testid="approve" on:click=move |_| decide(Decision::Approve)><kbd>"A"</kbd>"Approve"</button>
                <button data-testid="reject" on:click=move |_| decide(Decision::Reject)><kbd>"R"</kbd>"Reject"</button>
                <button on:click=move |_| step(-1)><kbd>"K"</kbd>"Previous"</button>
                <button on:click=move |_| step(1)><kbd>"J"</kbd>"Next"</button>
            </div>
            <div class="help" data-testid="help" class:hidden=move || !help.get()>
                <h2>"Keyboard shortcuts"</h2>
                <ul>
                    <li><kbd>"A"</kbd>" approve the item shown"</li>
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
