//! Live pages: the server's event stream for one task (`/api/v1/events`), so a page refreshes
//! when labels, reviews or leases move instead of polling. The browser's `EventSource`
//! reconnects by itself; the session cookie set at sign-in authenticates it.

use quorum_core::ids::TaskId;
use std::cell::RefCell;
use wasm_bindgen::prelude::*;
use web_sys::EventSource;

/// The open stream and its listener, which must live as long as it.
type Followed = (EventSource, Closure<dyn FnMut(web_sys::Event)>);

thread_local! {
    // One followed task at a time: one task page is open.
    static FOLLOWED: RefCell<Option<Followed>> = const { RefCell::new(None) };
}

/// Calls `changed` whenever the task moves, including while the stream was down: a reconnect
/// sends the last mark seen and the server answers `change` if the task moved meanwhile.
pub fn follow(task: TaskId, changed: impl Fn() + 'static) {
    stop();
    let Ok(source) = EventSource::new(&format!("/api/v1/events?task_id={}", task.0)) else {
        return;
    };
    let listener = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| changed());
    let _ = source.add_event_listener_with_callback("change", listener.as_ref().unchecked_ref());
    FOLLOWED.with(|f| *f.borrow_mut() = Some((source, listener)));
}

/// Closes the stream (the page is left).
pub fn stop() {
    if let Some((source, _listener)) = FOLLOWED.with(|f| f.borrow_mut().take()) {
        source.close();
    }
}

/// Whether the followed stream is open or reconnecting; a refused one (an old session without
/// the cookie, a server without the endpoint) is closed for good and the page polls instead.
pub fn is_live() -> bool {
    FOLLOWED.with(|f| {
        f.borrow()
            .as_ref()
            .is_some_and(|(s, _)| s.ready_state() != EventSource::CLOSED)
    })
}
