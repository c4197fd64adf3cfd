//! The online/offline indicator with the number of labels waiting to sync and the ops the server
//! refused, each with its message and a dismiss button.

use crate::state::App;
use leptos::prelude::*;
use quorum_core::sync::Action;

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
                key=|r| r.op.client_op_id.clone()
                children=move |r| {
                    let id = r.op.client_op_id.clone();
                    let what = match &r.op.action {
                        Action::Submit { item_id, .. } => format!("label for item {}", item_id.0),
                        Action::Revise { item_id, .. } => format!("change of the label for item {}", item_id.0),
                        Action::Skip { item_id, .. } => format!("skip of item {}", item_id.0),
                        Action::Review { item_id, .. } => format!("review of item {}", item_id.0),
                        Action::Release { lease_id } => format!("release of lease {}", lease_id.0),
                    };
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
