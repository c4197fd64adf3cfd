//! Posts the signed-in user's ops from the outbox to `/api/v1/sync` in order whenever the browser
//! is online, with that user's token (another user's queued ops wait for them), following core's
//! rules: acknowledged ops leave, refused ones are kept for the user, failures back off.

use crate::api::Error;
use crate::offline;
use crate::state::App;
use gloo_timers::callback::Interval;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::sync::{Outcome, Queued};
use std::cell::Cell;
use std::rc::Rc;

/// The most ops per request the app sends (the server allows more; smaller requests fail less).
const OPS_PER_REQUEST: usize = 100;

/// Starts the once-a-second tick that updates the clock and drives syncing.
pub fn start(app: App) {
    let in_flight = Rc::new(Cell::new(false));
    let tick = move || {
        let now = offline::now();
        app.now.set(now);
        if in_flight.get() || !app.outbox_loaded.get_untracked() {
            return;
        }
        let Some(user) = app.user.get_untracked() else {
            return;
        };
        // Signing out: once this user's ops are all sent (or time is up), forget the token.
        if let Some(deadline) = app.leaving.get_untracked() {
            if now >= deadline || app.outbox.with_untracked(|o| o.waiting(user)) == 0 {
                app.sign_out();
                return;
            }
        }
        if !app.online.get_untracked() {
            return;
        }
        let Some(client) = app.client() else { return };
        let ops = app
            .outbox
            .with_untracked(|o| o.ready(user, now, OPS_PER_REQUEST));
        if ops.is_empty() {
            return;
        }
        in_flight.set(true);
        let in_flight = in_flight.clone();
        spawn_local(async move {
            match client.sync(&ops).await {
                Ok(results) => {
                    let labels = results
                        .iter()
                        .filter(|r| !matches!(r.outcome, Outcome::Rejected { .. }))
                        .filter(|r| {
                            ops.iter()
                                .any(|o| o.op_id() == r.client_op_id && o.kind() == "submit")
                        })
                        .count() as u64;
                    let late = results
                        .iter()
                        .filter(|r| matches!(r.outcome, Outcome::Applied { late: true }))
                        .count();
                    let mut acked = 0;
                    app.outbox.update(|o| acked = o.acknowledge(&results));
                    // An op the server did not answer is retried later, in order.
                    let unanswered: Vec<_> = ops
                        .iter()
                        .filter(|o| !results.iter().any(|r| r.client_op_id == o.op_id()))
                        .cloned()
                        .collect();
                    if !unanswered.is_empty() {
                        app.outbox
                            .update(|o| o.delivery_failed(&unanswered, offline::now()));
                    }
                    app.synced.update(|n| *n += labels);
                    let refused = app.outbox.with_untracked(|o| o.refused_for(user).count());
                    let mut note = format!("synced {}", crate::words::plural(acked, "change"));
                    if late > 0 {
                        note.push_str(&format!(
                            ", {late} after the lease ended (kept, flagged late)"
                        ));
                    }
                    if refused > 0 {
                        note.push_str(&format!(", {refused} refused"));
                    }
                    app.sync_note.set(Some(note));
                }
                Err(e) => {
                    app.outbox
                        .update(|o| o.delivery_failed(&ops, offline::now()));
                    if let Error::Api { status: 401, .. } = e {
                        app.sync_note.set(Some(
                            "sync paused: sign in again to send queued labels".into(),
                        ));
                    } else {
                        app.sync_note.set(Some(format!("sync will retry: {e}")));
                    }
                }
            }
            app.persist_outbox();
            in_flight.set(false);
        });
    };
    Interval::new(1000, tick).forget();
}
