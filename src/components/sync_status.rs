//! The online/offline indicator with the number of labels waiting to sync and the ops the server
//! refused, each with its message and a dismiss button.

use crate::state::App;
use leptos::prelude::*;
use quorum_core::sync::Queued;

/// Indicator for the sidebar.
#[component]
pub fn SyncStatus() -> impl IntoView {
    let app = App::get();
    let waiting = move || app.waiting();
    let refused = move || match app.user.get() {
        Some(u) => app
            .outbox
            .with(|o| o.refused_for(u).cloned().collect::<Vec<_>>()),
        None => Vec::new(),
    };
    view! {
        <div class="sync" data-testid="sync">
            <div
                class="conn"
                class:online=move || app.online.get()
                data-testid="connectivity"
            >
                {move || if app.online.get() { "● online" } else { "○ offline" }}
            </div>
            <div data-testid="pending" aria-live="polite">{move || format!("{} waiting to sync", waiting())}</div>
            <div class="note" data-testid="sync-note" aria-live="polite">{move || app.sync_note.get()}</div>
            <For
                each=refused
                key=|r| r.op.op_id().to_string()
                children=move |r| {
                    let id = r.op.op_id().to_string();
                    let what = r.op.describe();
                    view! {
                        <div class="refused" data-testid="refused">
                            <b>{what}</b> " refused: " {r.message.clone()}
                            <button class="link" on:click=move |_| {
                                app.outbox.update(|o| o.dismiss(&id));
                                app.persist_outbox();
                            }>"dismiss"</button>
                        </div>
                    }
                }
            />
        </div>
    }
}
