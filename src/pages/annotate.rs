//! The annotator's labeling screen. Offline-first: the leased items and the outbox live in
//! IndexedDB, a label is queued and the next item shown at once, and the leased items are topped
//! up in the background while online so that labeling never waits for the network.
//!
//! One batch ahead, no more: the server never lets a worker hold more than the task's batch size
//! and gives back the seats already held first (so a new session resumes them); this screen asks
//! again when half the batch is used, and gives back what it holds when the annotator leaves.
//! Keys: the page's shortcuts never act on a key meant for a focused button or form field, and
//! buttons do not take focus on click, so one action never makes two ops.
//!
//! Video frames come in time order, video by video. Their boxes carry track ids (see
//! [`crate::tracks`]): "later" (L) puts a frame after the video's other frames in the queue, so
//! key frames can be labelled first and the frames between them open with the interpolated boxes.

use crate::api::{BatchItem, Task};
use crate::components::concepts::concept_buttons;
use crate::components::item_view::{frame_at, image_url, item_text, picture, summary};
use crate::components::shape_editor::{ShapeEditor, Shapes};
use crate::offline::{self, Seat};
use crate::state::App;
use crate::tracks;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::{ItemId, LeaseId, TaskId, WorkerId};
use quorum_core::label::{AnnotationType, LabelValue};
use quorum_core::sync::{Action, Op};

/// How often an empty queue asks the server again (work added, leases expired, rework sent back).
const EMPTY_POLL_MS: i64 = 10_000;

/// The labeling state of one task, `Copy` so handlers can share it.
#[derive(Clone, Copy)]
struct Labeler {
    app: App,
    user: WorkerId,
    task: TaskId,
    /// The most items the server let this worker hold (learnt from its answers: the task's
    /// batch size when there is enough work); 0 until the first answer.
    hold: RwSignal<usize>,
    info: RwSignal<Option<Task>>,
    queue: RwSignal<Vec<Seat>>,
    loaded: RwSignal<bool>,
    pulling: RwSignal<bool>,
    pulled_at: RwSignal<i64>,
    note: RwSignal<Option<String>>,
    done: RwSignal<u32>,
    shown_at: RwSignal<i64>,
    shapes: Shapes,
    /// Items labeled in this session, oldest first, with the answer given last.
    history: RwSignal<Vec<(Seat, LabelValue)>>,
    /// Going back: which of `history` is shown (`None`: the queue's first item).
    back: RwSignal<Option<usize>>,
}

impl Labeler {
    /// Items answered in the outbox but maybe still leased on the server (not synced yet).
    fn answered(self) -> Vec<(ItemId, LeaseId)> {
        let (task, user) = (self.task, Some(self.user));
        self.app.outbox.with_untracked(|o| {
            o.pending
                .iter()
                .filter(|p| p.user == user)
                .filter(|p| matches!(p.op.kind(), "submit" | "skip"))
                .filter(|p| p.op.task_id() == Some(task))
                .filter_map(|p| Some((p.op.item_id()?, p.op.lease_id()?)))
                .collect()
        })
    }

    /// Asks the server for work when half of what may be held is used (or nothing is known
    /// yet) and the browser is online. The answer is the seats held plus new ones.
    fn refill(self) {
        let held = self.queue.with_untracked(|q| q.len());
        if self.pulling.get_untracked()
            || !self.app.online.get_untracked()
            || !self.loaded.get_untracked()
            || (held > 0 && self.hold.get_untracked() > 0 && held * 2 > self.hold.get_untracked())
        {
            return;
        }
        let Some(client) = self.app.client() else {
            return;
        };
        self.pulling.set(true);
        self.pulled_at.set(offline::now().0);
        let was_empty = held == 0;
        spawn_local(async move {
            let again = match client.pull_batch(self.task, None).await {
                Ok(batch) if batch.items.is_empty() => {
                    if self.queue.with_untracked(|q| q.is_empty()) {
                        self.note.set(Some("No work available right now.".into()));
                    }
                    false
                }
                Ok(batch) => {
                    self.hold.update(|h| *h = (*h).max(batch.items.len()));
                    // Labels still in the outbox name items the server holds until they sync.
                    let answered: Vec<ItemId> =
                        self.answered().into_iter().map(|(i, _)| i).collect();
                    let mut added = 0;
                    let items = in_time_order(batch.items);
                    self.queue.update(|q| {
                        for item in items {
                            if answered.contains(&item.item_id) {
                                continue;
                            }
                            if let Some(s) = q.iter_mut().find(|s| s.item.item_id == item.item_id) {
                                // A held seat moved to the new lease: renewed with it.
                                s.lease_id = batch.lease_id;
                                s.expires_at = batch.expires_at;
                            } else {
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
                    offline::save_queue(self.user, self.task, &q).await;
                    // A top-up in the background leaves the annotator's hint alone; new work
                    // after an empty queue clears the "no work" or failure note.
                    if was_empty {
                        self.note.set(None);
                    }
                    added > 0
                }
                // The gate's own words: which qualification to take and how it stands.
                Err(crate::api::Error::Api { code, message, .. }) if code == "not_qualified" => {
                    self.note.set(Some(format!("Not qualified yet: {message}")));
                    false
                }
                // Only when nothing is left to label: a failed background top-up must not
                // replace the hint the annotator is reading.
                Err(e) if self.queue.with_untracked(|q| q.is_empty()) => {
                    self.note.set(Some(format!("Could not pull a batch: {e}")));
                    false
                }
                Err(_) => false,
            };
            self.pulling.set(false);
            if again {
                self.refill();
            }
        });
    }

    /// Labels the current item with the shapes drawn; with none, only says how to say "nothing
    /// to mark" (a separate action, so Enter never stores an empty answer by accident).
    fn submit_shapes(self, shapes: Shapes, polygons: bool) {
        if shapes.shapes.with_untracked(|s| s.is_empty()) {
            self.note.set(Some(
                "Nothing drawn yet: draw a shape, or press N if there is nothing to mark.".into(),
            ));
            return;
        }
        self.submit(shapes.value(polygons));
    }

    /// Labels the current item (or, gone back, changes the answer shown).
    fn submit(self, value: LabelValue) {
        if let Some(Err(e)) = self
            .info
            .with_untracked(|t| t.as_ref().map(|t| t.schema.validate_value(&value)))
        {
            self.note.set(Some(e.to_string()));
            return;
        }
        if let Some(at) = self.back.get_untracked() {
            self.revise(at, value);
            return;
        }
        let Some(seat) = self.queue.with_untracked(|q| q.first().cloned()) else {
            return;
        };
        self.history
            .update(|h| h.push((seat.clone(), value.clone())));
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

    /// Shows the answer at `at` in this session's history (`None`: back to the queue).
    fn go_back_to(self, at: Option<usize>) {
        let at = at.filter(|&i| i < self.history.with_untracked(|h| h.len()));
        self.back.set(at);
        self.note.set(None);
        match at.and_then(|i| {
            self.history
                .with_untracked(|h| h.get(i).map(|e| e.1.clone()))
        }) {
            Some(value) => self.shapes.load(&value),
            None => self.shapes.reset(),
        }
    }

    /// Changes the answer at `at` of the history: a revise op, queued after the label it
    /// replaces, so the server applies them in order. Only while the lease is live.
    fn revise(self, at: usize, value: LabelValue) {
        let Some((seat, before)) = self.history.with_untracked(|h| h.get(at).cloned()) else {
            return;
        };
        if value != before {
            if seat.expires_at <= offline::now() {
                self.note.set(Some(
                    "The lease on this item has ended: its answer can no longer be changed.".into(),
                ));
                return;
            }
            let op = Op {
                client_op_id: offline::next_op_id(),
                created_at: Some(offline::now()),
                action: Action::Revise {
                    task_id: self.task,
                    item_id: seat.item.item_id,
                    lease_id: seat.lease_id,
                    value: value.clone(),
                },
            };
            let Some(id) = self.app.queue_op(op) else {
                return;
            };
            self.history.update(|h| h[at].1 = value);
            let outbox = self.app.outbox.get_untracked();
            spawn_local(async move {
                offline::save_outbox(&outbox).await;
                offline::journal_remove(&[id]);
            });
        }
        // On to the next answer of the session, then the queue again.
        let next = at + 1;
        self.go_back_to((next < self.history.with_untracked(|h| h.len())).then_some(next));
    }

    /// The frames of the current item's video labelled in this session (time, answer), and the
    /// current frame's time; `None` when the item is not a video frame.
    fn keys(self) -> Option<(Vec<(u64, LabelValue)>, u64)> {
        let seat = self.current()?;
        let (video, t) = tracks::frame_of(&seat.item.data)?;
        let keys = self.history.with_untracked(|h| {
            h.iter()
                .filter(|(s, _)| s.item.item_id != seat.item.item_id)
                .filter_map(|(s, v)| match tracks::frame_of(&s.item.data) {
                    Some((other, at)) if other == video => Some((at, v.clone())),
                    _ => None,
                })
                .collect()
        });
        Some((keys, t))
    }

    /// The item on screen.
    fn current(self) -> Option<Seat> {
        match self.back.get_untracked() {
            Some(i) => self
                .history
                .with_untracked(|h| h.get(i).map(|e| e.0.clone())),
            None => self.queue.with_untracked(|q| q.first().cloned()),
        }
    }

    /// Copies the previous labelled frame's boxes onto this frame, tracks included (those of
    /// its tracks already here are left out).
    fn copy_previous(self) {
        let Some((keys, t)) = self.keys() else { return };
        let keys: Vec<(u64, &[_])> = keys.iter().map(|(at, v)| (*at, tracks::boxes(v))).collect();
        let Some(before) = tracks::previous(&keys, t) else {
            self.note.set(Some(
                "No earlier frame of this video is labelled here yet.".into(),
            ));
            return;
        };
        let here = self.shapes.value(false);
        let here = tracks::boxes(&here);
        self.shapes.add_boxes(
            before
                .iter()
                .filter(|b| b.track.is_none() || !here.iter().any(|h| h.track == b.track))
                .cloned(),
        );
    }

    /// Puts the current item after the other frames of its video (after the whole queue when
    /// it is not a frame), to come back to once later frames are labelled. Nothing is sent.
    fn later(self) {
        if self.back.get_untracked().is_some() {
            return;
        }
        let moved = self.queue.try_update(|q| {
            if q.len() < 2 {
                return false;
            }
            let video = tracks::frame_of(&q[0].item.data).map(|f| f.0.to_owned());
            let to = q
                .iter()
                .rposition(|s| tracks::frame_of(&s.item.data).map(|f| f.0) == video.as_deref())
                .filter(|&i| i > 0 && video.is_some())
                .unwrap_or(q.len() - 1);
            let seat = q.remove(0);
            q.insert(to, seat);
            true
        });
        if moved != Some(true) {
            self.note
                .set(Some("Nothing else in the queue to label first.".into()));
            return;
        }
        self.note.set(None);
        self.shapes.reset();
        self.shown_at.set(offline::now().0);
        let (user, task, q) = (self.user, self.task, self.queue.get_untracked());
        spawn_local(async move { offline::save_queue(user, task, &q).await });
    }

    /// Passes on the current item.
    fn skip(self) {
        if self.back.get_untracked().is_some() {
            return;
        }
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
        let Some(id) = self.app.queue_op(op) else {
            return;
        };
        self.note.set(None);
        self.queue.update(|q| {
            q.remove(0);
        });
        self.shown_at.set(now.0);
        self.shapes.reset();
        self.done.update(|d| *d += 1);
        let outbox = self.app.outbox.get_untracked();
        let queue = self.queue.get_untracked();
        let (task, user) = (self.task, self.user);
        spawn_local(async move {
            offline::save_label(&outbox, user, task, &queue).await;
            offline::journal_remove(&[id]);
        });
        self.refill();
    }
}

/// Frames of one video in time order, each video (and other item) where it first appears.
/// By insertion, not a library sort: a batch is small and a sort costs the bundle kilobytes.
fn in_time_order(items: Vec<BatchItem>) -> Vec<BatchItem> {
    let mut out: Vec<((usize, u64), BatchItem)> = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let key = match tracks::frame_of(&item.data) {
            Some((v, t)) => (
                out.iter()
                    .find(|(_, x)| tracks::frame_of(&x.data).is_some_and(|f| f.0 == v))
                    .map_or(i, |(k, _)| k.0),
                t,
            ),
            None => (i, 0),
        };
        let at = out.iter().position(|(k, _)| *k > key).unwrap_or(out.len());
        out.insert(at, (key, item));
    }
    out.into_iter().map(|(_, x)| x).collect()
}

fn remaining(ms: i64) -> String {
    if ms <= 0 {
        "lease ended: labels are still kept, flagged late".into()
    } else {
        let s = ms / 1000;
        format!("lease: {}:{:02} left", s / 60, s % 60)
    }
}

/// The labeling screen for one task, once it is known who labels.
#[component]
pub fn Annotate(task: TaskId) -> impl IntoView {
    let app = App::get();
    move || match app.user.get() {
        Some(user) => view! { <Labeling task=task user=user /> }.into_any(),
        None => view! { <p class="page">"Checking who is signed in…"</p> }.into_any(),
    }
}

#[component]
fn Labeling(task: TaskId, user: WorkerId) -> impl IntoView {
    let app = App::get();
    let l = Labeler {
        app,
        user,
        hold: RwSignal::new(0),
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
        history: RwSignal::new(Vec::new()),
        back: RwSignal::new(None),
    };
    let shapes = l.shapes;
    let concept = RwSignal::new(String::new());
    let help = RwSignal::new(false);

    spawn_local(async move {
        if let Some(t) = offline::load_task(task).await {
            l.info.set(Some(t));
        }
        l.queue.set(offline::load_queue(user, task).await);
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
            let answered: Vec<ItemId> = l.answered().into_iter().map(|(i, _)| i).collect();
            let before = l.queue.with_untracked(|q| q.len());
            l.queue
                .update(|q| q.retain(|s| !answered.contains(&s.item.item_id)));
            if l.queue.with_untracked(|q| q.len()) != before {
                let q = l.queue.get_untracked();
                spawn_local(async move { offline::save_queue(user, task, &q).await });
            }
        }
    });
    // Leaving the task gives back what is still held (through the outbox, after the labels), so
    // others can take it now. Not on sign-out: that gave everything back already.
    // A plain copy of the queue: the page's signals may be gone when its cleanup runs.
    let last_queue = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Seat>::new()));
    Effect::new({
        let last_queue = last_queue.clone();
        move |_| {
            if let Ok(mut q) = last_queue.lock() {
                *q = l.queue.get();
            }
        }
    });
    on_cleanup(move || {
        let queue = last_queue
            .lock()
            .map(|mut q| std::mem::take(&mut *q))
            .unwrap_or_default();
        if queue.is_empty() || app.user.get_untracked() != Some(user) {
            return;
        }
        app.release_held(user, &queue);
        app.persist_outbox();
        spawn_local(async move { offline::save_queue(user, task, &[]).await });
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
    let submit_shapes = move || l.submit_shapes(shapes, polygons());
    // "Nothing to mark": an empty answer for a box or polygon item, only ever on purpose.
    let nothing_to_mark = move || {
        if shapes.shapes.with_untracked(|s| !s.is_empty()) {
            l.note.set(Some(
                "Shapes are drawn: press Enter to submit them, or delete them first.".into(),
            ));
        } else if polygons() {
            l.submit(LabelValue::Polygon { polygons: vec![] });
        } else {
            l.submit(LabelValue::BoundingBox { boxes: vec![] });
        }
    };

    // The listener outlives the page; `alive` is disposed with the page's owner, which turns it off.
    let alive = RwSignal::new(());
    let _ = window_event_listener(leptos::ev::keydown, move |e| {
        if alive.try_get_untracked().is_none() || e.ctrl_key() || e.meta_key() || e.alt_key() {
            return;
        }
        // A key meant for a focused button or form field is theirs (Enter on a button already
        // clicks it): acting on it here too would make a second op from one key press.
        let for_control = e
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(t).ok())
            .is_some_and(|el| {
                // A number field (a box's track) lets go on Enter or Escape, committing a changed
                // value, so an unchanged one cannot hold the keyboard (no change event frees it).
                if matches!(e.key().as_str(), "Enter" | "Escape")
                    && el.get_attribute("type").as_deref() == Some("number")
                {
                    let _ = el.blur();
                }
                el.is_content_editable()
                    || matches!(
                        el.tag_name().as_str(),
                        "INPUT" | "TEXTAREA" | "SELECT" | "BUTTON" | "A"
                    )
            });
        if for_control || (drawing() && shapes.key(&e, &concept.get_untracked())) {
            return;
        }
        let key = e.key();
        match key.as_str() {
            "?" => help.update(|h| *h = !*h),
            "Escape" => {
                help.set(false);
                if l.back.get_untracked().is_some() {
                    l.go_back_to(None);
                }
            }
            // Back through this session's answers, and forward again to the queue.
            "b" | "B" | "ArrowLeft" => {
                let len = l.history.with_untracked(|h| h.len());
                if len > 0 {
                    let at = l
                        .back
                        .get_untracked()
                        .map_or(len - 1, |i| i.saturating_sub(1));
                    l.go_back_to(Some(at));
                }
            }
            "ArrowRight" => {
                if let Some(i) = l.back.get_untracked() {
                    l.go_back_to(Some(i + 1));
                }
            }
            "s" | "S" => l.skip(),
            "l" | "L" => l.later(),
            "c" | "C" if drawing() => l.copy_previous(),
            "Enter" if drawing() => submit_shapes(),
            "n" | "N" if drawing() => nothing_to_mark(),
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

    let current = Memo::new(move |_| match l.back.get() {
        Some(i) => l.history.with(|h| h.get(i).map(|e| e.0.clone())),
        None => l.queue.with(|q| q.first().cloned()),
    });
    Effect::new(move |_| {
        if let Some(name) = l.info.with(|t| t.as_ref().map(|t| t.name.clone())) {
            crate::components::fmt::title(&format!("Label · {name}"));
        }
    });
    // Rework of shapes starts from the answer sent back, loaded in the editor; a video frame
    // between two key frames of a track starts from the interpolated boxes.
    Effect::new(move |_| {
        let Some(seat) = current.get() else { return };
        let keys = l.keys();
        // This session's frames and, through the server (the frame's `next_track`), earlier
        // sessions': a track id is never reused for another object.
        shapes.tracks.set(keys.as_ref().map(|(k, _)| {
            let k: Vec<(u64, &[_])> = k.iter().map(|(at, v)| (*at, tracks::boxes(v))).collect();
            tracks::next_free(&k).max(seat.item.metadata["next_track"].as_u64().unwrap_or(1) as u32)
        }));
        if l.back.get_untracked().is_some() || !untrack(drawing) {
            return;
        }
        if let Some(previous) = seat.item.rework.and_then(|r| r.previous) {
            shapes.load(&previous);
        } else if let Some((k, t)) = keys {
            let k: Vec<(u64, &[_])> = k.iter().map(|(at, v)| (*at, tracks::boxes(v))).collect();
            let boxes = tracks::between(&k, t);
            if !boxes.is_empty() {
                shapes.load(&LabelValue::BoundingBox { boxes });
            }
        }
    });
    let item_view = move |seat: Seat| {
        let BatchItem {
            item_id,
            data,
            rework,
            metadata,
            ..
        } = seat.item;
        let body = match image_url(&data) {
            Some(src) if drawing() => view! {
                <ShapeEditor src=src state=shapes polygons=polygons() concept=concept concepts=Signal::derive(concepts) />
            }
            .into_any(),
            Some(src) => {
                let size = RwSignal::new((0.0, 0.0));
                view! { <div class="item-image">{picture(src, "item to label", size)}</div> }.into_any()
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
            let previous = r.previous.as_ref().map(|p| {
                view! {
                    <div>
                        "Your answer was: "
                        <span data-testid="rework-previous">{summary(p)}</span>
                        {(!drawing()).then_some(" — pick the right one below")}
                        {drawing().then_some(" — its shapes are loaded below to correct")}
                    </div>
                }
            });
            view! {
                <div class="rework" data-testid="rework">
                    <b>{format!("Sent back by the reviewer{by}: ")}</b>
                    <span data-testid="rework-comment">{r.comment.unwrap_or_default()}</span>
                    {previous}
                </div>
            }
        });
        let expires = seat.expires_at;
        let going_back = l.back.get_untracked().map(|i| {
            let answer = l
                .history
                .with_untracked(|h| h.get(i).map(|e| summary(&e.1)))
                .unwrap_or_default();
            view! {
                <div class="back" data-testid="back-banner">
                    <b>"Going back · your answer: "</b>
                    <span data-testid="previous-answer">{answer}</span>
                    " — give another to change it, "<kbd>"→"</kbd>" next, "<kbd>"Esc"</kbd>" back to the queue"
                </div>
            }
        });
        view! {
            <div class="item" data-testid="item" data-item-id=item_id.0.to_string()>
                {going_back}
                <div class="meta">
                    <span>"Item " {item_id.0}</span>
                    {frame_at(&data, &metadata)}
                    <span data-testid="lease">{move || remaining(app.now.get().until(expires))}</span>
                </div>
                {rework}
                {body}
            </div>
        }
    };

    let buttons = move || {
        let submit = Callback::new(move |concept| l.submit(LabelValue::Classification { concept }));
        concept_buttons(concepts(), None, submit)
    };

    // Buttons do not take focus on click, so the keys keep going to the page's shortcuts (and
    // a later Enter never clicks the last button again).
    view! {
        <section class="page annotate" on:mousedown=crate::components::keys::keep_focus>
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
                    let picks =
                        move || concept_buttons(concepts(), Some(concept), Callback::new(move |c| concept.set(c)));
                    view! {
                        <div class="concepts">{picks}</div>
                        <div class="actions">
                            <button on:click=move |_| shapes.undo()><kbd>"Z"</kbd>"Undo"</button>
                            <button on:click=move |_| shapes.delete_selected()><kbd>"Del"</kbd>"Delete"</button>
                            <button data-testid="submit" on:click=move |_| submit_shapes()>
                                <kbd>"Enter"</kbd>"Submit"
                            </button>
                            <button data-testid="nothing" on:click=move |_| nothing_to_mark()>
                                <kbd>"N"</kbd>"Nothing to mark"
                            </button>
                            {move || current.with(|c| c.as_ref().and_then(|s| tracks::frame_of(&s.item.data)).is_some()).then(|| view! {
                                <button data-testid="copy-previous" on:click=move |_| l.copy_previous()>
                                    <kbd>"C"</kbd>"Copy previous frame"
                                </button>
                            })}
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
                <button data-testid="later" on:click=move |_| l.later() disabled=move || l.queue.with(|q| q.len() < 2) || l.back.get().is_some()>
                    <kbd>"L"</kbd> "Later"
                </button>
            </div>
            <div class="help" data-testid="help" class:hidden=move || !help.get()>
                <h2>"Keyboard shortcuts"</h2>
                <ul>
                    <li><kbd>"1"</kbd>"–"<kbd>"9"</kbd>" classification: label with that concept and go on; boxes and polygons: pick the concept to draw with"</li>
                    <li>"Boxes: drag to draw, drag to move, drag a handle of the selected box to resize · polygons: drag to move"</li>
                    <li><kbd>"←"</kbd><kbd>"↑"</kbd><kbd>"→"</kbd><kbd>"↓"</kbd>" move the selected shape by 1 px ("<kbd>"Shift"</kbd>": 10 px) · the list beside the image selects, re-classes, hides and deletes shapes"</li>
                    <li>"Polygons: click points, click the first point or press "<kbd>"Enter"</kbd>" to close, drag a vertex to edit"</li>
                    <li>"Zoom: wheel or "<kbd>"+"</kbd>" / "<kbd>"−"</kbd>", "<kbd>"0"</kbd>" to fit · pan: hold "<kbd>"Space"</kbd>" and drag"</li>
                    <li><kbd>"Z"</kbd>" undo · "<kbd>"Del"</kbd>" delete the selected shape · "<kbd>"Enter"</kbd>" submit the shapes · "<kbd>"N"</kbd>" nothing to mark on this item"</li>
                    <li><kbd>"S"</kbd>" skip this item · "<kbd>"L"</kbd>" later: label the next items (a video's later frames) first and come back to this one"</li>
                    <li>"Video frames: a new box starts a track (its number in the list beside the frame); a frame between two labelled frames of a track opens with the box placed between them · "<kbd>"C"</kbd>" copy the boxes of the previous labelled frame"</li>
                    <li><kbd>"B"</kbd>" or "<kbd>"←"</kbd>" (no shape selected) go back to an item labeled in this session and change its answer · "<kbd>"→"</kbd>" forward · "<kbd>"Esc"</kbd>" back to the queue"</li>
                    <li><kbd>"?"</kbd>" show or hide this list"</li>
                    <li><kbd>"Esc"</kbd>" close this list"</li>
                </ul>
            </div>
        </section>
    }
}
