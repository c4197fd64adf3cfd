//! The annotator's labeling screen. Offline-first: the leased items and the outbox live in
//! IndexedDB, a label is queued and the next item shown at once, and the stock of leased items is
//! topped up in the background while online so that labeling never waits for the network.

use crate::api::{BatchItem, Task};
use crate::components::item_view::{image_url, item_text};
use crate::components::shape_editor::{ShapeEditor, Shapes};
use crate::offline::{self, Seat};
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::{ItemId, LeaseId, TaskId};
use quorum_core::label::{AnnotationType, LabelValue};
use quorum_core::sync::{Action, Op};

/// Items kept leased ahead: enough to keep labeling through a short outage (one default batch
/// is 10), small enough not to hoard a pull task's queue.
const STOCK: usize = 20;

/// How often an empty queue asks the server again (work added, leases expired, rework sent back).
const EMPTY_POLL_MS: i64 = 10_000;

/// The labeling state of one task, `Copy` so handlers can share it.
#[derive(Clone, Copy)]
struct Labeler {
    app: App,
    task: TaskId,
    info: RwSignal<Option<Task>>,
    queue: RwSignal<Vec<Seat>>,
    loaded: RwSignal<bool>,
    pulling: RwSignal<bool>,
    pulled_at: RwSignal<i64>,
    note: RwSignal<Option<String>>,
    done: RwSignal<u32>,
    shown_at: RwSignal<i64>,
    shapes: Shapes,
}

impl Labeler {
    /// Leases more items while the stock is low and the browser is online.
    fn refill(self) {
        if self.pulling.get_untracked()
            || !self.app.online.get_untracked()
            || !self.loaded.get_untracked()
            || self.queue.with_untracked(|q| q.len()) >= STOCK
        {
            return;
        }
        let Some(client) = self.app.client() else {
            return;
        };
        self.pulling.set(true);
        self.pulled_at.set(offline::now().0);
        spawn_local(async move {
            let again = match client.pull_batch(self.task, None).await {
                Ok(batch) if batch.items.is_empty() => {
                    if self.queue.with_untracked(|q| q.is_empty()) {
                        self.note.set(Some("No work available right now.".into()));
                    }
                    false
                }
                Ok(batch) => {
                    let mut added = 0;
                    self.queue.update(|q| {
                        for item in batch.items {
                            if !q.iter().any(|s| s.item.item_id == item.item_id) {
                                q.push(Seat {
                                    lease_id: batch.lease_id,
                                    expires_at: batch.expires_at,
                                    item,
                                });
                                added += 1;
                            }
                        }
                        // Work a reviewer sent back comes before the rest, after the item
                        // on screen (which must not change under the annotator's hands).
                        if q.len() > 1 {
                            let rest: Vec<Seat> = q.drain(1..).collect();
                            let (rework, other): (Vec<Seat>, Vec<Seat>) =
                                rest.into_iter().partition(|s| s.item.rework.is_some());
                            q.extend(rework);
                            q.extend(other);
                        }
                    });
                    let q = self.queue.get_untracked();
                    offline::save_queue(self.task, &q).await;
                    self.note.set(None);
                    added > 0
                }
                // The gate's own words: which qualification to take and how it stands.
                Err(crate::api::Error::Api { code, message, .. }) if code == "not_qualified" => {
                    self.note.set(Some(format!("Not qualified yet: {message}")));
                    false
                }
                Err(e) => {
                    self.note.set(Some(format!("Could not pull a batch: {e}")));
                    false
                }
            };
            self.pulling.set(false);
            if again {
                self.refill();
            }
        });
    }

    /// Labels the current item.
    fn submit(self, value: LabelValue) {
        let Some(seat) = self.queue.with_untracked(|q| q.first().cloned()) else {
            return;
        };
        if let Some(Err(e)) = self
            .info
            .with_untracked(|t| t.as_ref().map(|t| t.schema.validate_value(&value)))
        {
            self.note.set(Some(e.to_string()));
            return;
        }
        let now = offline::now();
        let took = (now.0 - self.shown_at.get_untracked()).clamp(0, u32::MAX as i64) as u32;
        self.advance(Action::Submit {
            task_id: self.task,
            item_id: seat.item.item_id,
            lease_id: seat.lease_id,
            value,
            duration_ms: Some(took),
        });
    }

    /// Passes on the current item.
    fn skip(self) {
        let Some(seat) = self.queue.with_untracked(|q| q.first().cloned()) else {
            return;
        };
        self.advance(Action::Skip {
            task_id: self.task,
            item_id: seat.item.item_id,
            lease_id: seat.lease_id,
            reason: None,
        });
    }

    /// Queues the op, drops the item from the queue and saves both in one transaction.
    fn advance(self, action: Action) {
        // Queuing before the saved outbox is read would let the save overwrite it.
        if !self.app.outbox_loaded.get_untracked() {
            return;
        }
        let now = offline::now();
        let op = Op {
            client_op_id: offline::next_op_id(),
            created_at: Some(now),
            action,
        };
        offline::journal_add(&op);
        let id = op.client_op_id.clone();
        self.app.outbox.update(|o| o.push(op, now));
        self.queue.update(|q| {
            q.remove(0);
        });
        self.shown_at.set(now.0);
        self.shapes.reset();
        self.done.update(|d| *d += 1);
        let outbox = self.app.outbox.get_untracked();
        let queue = self.queue.get_untracked();
        let task = self.task;
        spawn_local(async move {
            offline::save_label(&outbox, task, &queue).await;
            offline::journal_remove(&[id]);
        });
        self.refill();
    }
}

fn remaining(ms: i64) -> String {
    if ms <= 0 {
        "lease ended: labels are still kept, flagged late".into()
    } else {
        let s = ms / 1000;
        format!("lease: {}:{:02} left", s / 60, s % 60)
    }
}

/// The labeling screen for one task.
#[component]
pub fn Annotate(task: TaskId) -> impl IntoView {
    let app = App::get();
    let l = Labeler {
        app,
        task,
        info: RwSignal::new(None),
        queue: RwSignal::new(Vec::new()),
        loaded: RwSignal::new(false),
        pulling: RwSignal::new(false),
        pulled_at: RwSignal::new(0),
        note: RwSignal::new(None),
        done: RwSignal::new(0),
        shown_at: RwSignal::new(offline::now().0),
        shapes: Shapes::new(),
    };
    let shapes = l.shapes;
    let concept = RwSignal::new(String::new());
    let help = RwSignal::new(false);

    spawn_local(async move {
        if let Some(t) = offline::load_task(task).await {
            l.info.set(Some(t));
        }
        l.queue.set(offline::load_queue(task).await);
        l.loaded.set(true);
        if let Some(c) = app.client() {
            match c.task(task).await {
                Ok(t) => {
                    offline::save_task(&t).await;
                    l.info.set(Some(t));
                }
                Err(e) if l.info.get_untracked().is_none() => l.note.set(Some(e.to_string())),
                Err(_) => {}
            }
        }
    });
    // A label recovered from the journal may still have its item in the stored queue: drop it.
    Effect::new(move |_| {
        if l.loaded.get() && app.outbox_loaded.get() {
            let answered: Vec<(ItemId, LeaseId)> = app.outbox.with_untracked(|o| {
                o.pending
                    .iter()
                    .filter_map(|p| match &p.op.action {
                        Action::Submit {
                            task_id,
                            item_id,
                            lease_id,
                            ..
                        }
                        | Action::Skip {
                            task_id,
                            item_id,
                            lease_id,
                            ..
                        } if *task_id == task => Some((*item_id, *lease_id)),
                        _ => None,
                    })
                    .collect()
            });
            let before = l.queue.with_untracked(|q| q.len());
            l.queue
                .update(|q| q.retain(|s| !answered.contains(&(s.item.item_id, s.lease_id))));
            if l.queue.with_untracked(|q| q.len()) != before {
                let q = l.queue.get_untracked();
                spawn_local(async move { offline::save_queue(task, &q).await });
            }
        }
    });
    // Top up whenever the data is loaded or the connection comes back.
    Effect::new(move |_| {
        if app.online.get() && l.loaded.get() {
            l.refill();
        }
    });
    // An empty queue asks again now and then, so new or reworked items show up by themselves.
    Effect::new(move |_| {
        let now = app.now.get().0;
        if l.queue.with_untracked(|q| q.is_empty())
            && now - l.pulled_at.get_untracked() > EMPTY_POLL_MS
        {
            l.refill();
        }
    });

    let concepts = move || {
        l.info
            .with(|t| t.as_ref().map(|t| t.schema.concepts.clone()))
            .unwrap_or_default()
    };
    let annotation_type = move || {
        l.info
            .with(|t| t.as_ref().map(|t| t.schema.annotation_type))
    };
    let drawing = move || {
        matches!(
            annotation_type(),
            Some(AnnotationType::BoundingBox | AnnotationType::Polygon)
        )
    };
    let polygons = move || annotation_type() == Some(AnnotationType::Polygon);
    // Shapes are drawn with the selected concept; the first one until the user picks another.
    Effect::new(move |_| {
        if let Some(first) = concepts().first() {
            if concept.with_untracked(|c| c.is_empty()) {
                concept.set(first.clone());
            }
        }
    });
    let submit_shapes = move || l.submit(shapes.value(polygons()));

    // The listener outlives the page; `alive` is disposed with the page's owner, which turns it off.
    let alive = RwSignal::new(());
    let _ = window_event_listener(leptos::ev::keydown, move |e| {
        if alive.try_get_untracked().is_none() || e.ctrl_key() || e.meta_key() || e.alt_key() {
            return;
        }
        let in_field = e
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(t).ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        if in_field {
            return;
        }
        let key = e.key();
        match key.as_str() {
            "?" => help.update(|h| *h = !*h),
            "Escape" => help.set(false),
            "s" | "S" => l.skip(),
            "z" | "Z" if drawing() => shapes.undo(),
            "Delete" | "Backspace" if drawing() => shapes.delete_selected(),
            "Enter" if polygons() && shapes.has_draft() => {
                shapes.close_polygon(&concept.get_untracked())
            }
            "Enter" if drawing() => submit_shapes(),
            k => {
                let Ok(n) = k.parse::<usize>() else { return };
                let Some(c) = n.checked_sub(1).and_then(|i| concepts().get(i).cloned()) else {
                    return;
                };
                e.prevent_default();
                if drawing() {
                    concept.set(c);
                } else if annotation_type() == Some(AnnotationType::Classification) {
                    l.submit(LabelValue::Classification { concept: c });
                }
            }
        }
    });

    let current = Memo::new(move |_| l.queue.with(|q| q.first().cloned()));
    let item_view = move |seat: Seat| {
        let BatchItem {
            item_id,
            data,
            rework,
            ..
        } = seat.item;
        let body = match image_url(&data) {
            Some(src) if drawing() => view! {
                <ShapeEditor src=src state=shapes polygons=polygons() concept=concept />
            }
            .into_any(),
            Some(src) => {
                view! { <img class="item-image" src=src alt="item to label" /> }.into_any()
            }
            None => view! { <div class="item-text">{item_text(&data)}</div> }.into_any(),
        };
        let rework = rework.map(|r| {
            let by = r
                .reviewer
                .as_ref()
                .and_then(|v| v.as_str())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            view! {
                <div class="rework" data-testid="rework">
                    <b>{format!("Sent back by the reviewer{by}: ")}</b>
                    <span data-testid="rework-comment">{r.comment.unwrap_or_default()}</span>
                </div>
            }
        });
        let expires = seat.expires_at;
        view! {
            <div class="item" data-testid="item" data-item-id=item_id.0.to_string()>
                <div class="meta">
                    <span>"Item " {item_id.0}</span>
                    <span data-testid="lease">{move || remaining(app.now.get().until(expires))}</span>
                </div>
                {rework}
                {body}
            </div>
        }
    };

    let buttons = move || {
        concepts()
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let key = if i < 9 { format!("{}", i + 1) } else { String::new() };
                let concept = c.clone();
                view! {
                    <button
                        class="concept"
                        data-testid="concept"
                        on:click=move |_| l.submit(LabelValue::Classification { concept: concept.clone() })
                    >
                        <kbd>{key}</kbd>
                        {c}
                    </button>
                }
            })
            .collect_view()
    };

    view! {
        <section class="page annotate">
            <header class="bar-head">
                <h1>{move || l.info.with(|t| t.as_ref().map(|t| t.name.clone())).unwrap_or_else(|| format!("Task {}", task.0))}</h1>
                <span data-testid="queue-count">{move || format!("{} in queue", l.queue.with(|q| q.len()))}</span>
                <span data-testid="done-count">{move || format!("{} labeled here", l.done.get())}</span>
                <button class="link" on:click=move |_| help.update(|h| *h = !*h)>"? shortcuts"</button>
            </header>
            <p class="note" data-testid="annotate-note">{move || l.note.get()}</p>
            {move || match (current.get(), l.loaded.get() && app.outbox_loaded.get()) {
                (_, false) => view! { <p>"Loading…"</p> }.into_any(),
                (None, true) => view! {
                    <p data-testid="empty">
                        {move || if l.pulling.get() { "Pulling a batch…" } else { "Nothing to label in your queue." }}
                    </p>
                }
                .into_any(),
                (Some(seat), true) => item_view(seat).into_any(),
            }}
            {move || match annotation_type() {
                Some(AnnotationType::Classification) => view! {
                    <div class="concepts">{buttons}</div>
                }
                .into_any(),
                Some(_) => {
                    let picks = move || {
                        concepts()
                            .into_iter()
                            .enumerate()
                            .map(|(i, c)| {
                                let key = if i < 9 { format!("{}", i + 1) } else { String::new() };
                                let mine = c.clone();
                                let chosen = c.clone();
                                view! {
                                    <button
                                        class="concept"
                                        class:chosen=move || concept.get() == chosen
                                        on:click=move |_| concept.set(mine.clone())
                                    >
                                        <kbd>{key}</kbd>
                                        {c}
                                    </button>
                                }
                            })
                            .collect_view()
                    };
                    view! {
                        <div class="concepts">{picks}</div>
                        <div class="actions">
                            <button on:click=move |_| shapes.undo()><kbd>"Z"</kbd>"Undo"</button>
                            <button on:click=move |_| shapes.delete_selected()><kbd>"Del"</kbd>"Delete"</button>
                            <button data-testid="submit" on:click=move |_| submit_shapes()>
                                <kbd>"Enter"</kbd>"Submit"
                            </button>
                        </div>
                    }
                    .into_any()
                }
                None => ().into_any(),
            }}
            <div class="actions">
                <button on:click=move |_| l.skip() disabled=move || current.with(|c| c.is_none())>
                    <kbd>"S"</kbd> "Skip"
                </button>
            </div>
            <div class="help" data-testid="help" class:hidden=move || !help.get()>
                <h2>"Keyboard shortcuts"</h2>
                <ul>
                    <li><kbd>"1"</kbd>"–"<kbd>"9"</kbd>" classification: label with that concept and go on; boxes and polygons: pick the concept to draw with"</li>
                    <li>"Boxes: drag to draw, drag to move, drag the corner to resize"</li>
                    <li>"Polygons: click points, click the first point or press "<kbd>"Enter"</kbd>" to close, drag a vertex to edit"</li>
                    <li><kbd>"Z"</kbd>" undo · "<kbd>"Del"</kbd>" delete the selected shape · "<kbd>"Enter"</kbd>" submit the shapes"</li>
                    <li><kbd>"S"</kbd>" skip this item"</li>
                    <li><kbd>"?"</kbd>" show or hide this list"</li>
                    <li><kbd>"Esc"</kbd>" close this list"</li>
                </ul>
            </div>
        </section>
    }
}
