//! Managers' "Reservations": the project's live leases grouped by holder, with the time left,
//! and releasing one lease or all of a user's (their seats go back to the queue at once).

use crate::api::Reservation;
use crate::components::ask::ask;
use crate::components::fmt::{left, plural, when};
use crate::route::Route;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;
use quorum_core::ids::TaskId;

/// The reservations screen.
#[component]
pub fn Reservations() -> impl IntoView {
    let app = App::get();
    let list = RwSignal::new(None::<Result<Vec<Reservation>, String>>);
    let note = RwSignal::new(None::<String>);
    let reload = RwSignal::new(0u32);
    Effect::new(move |_| {
        reload.get();
        let (Some(project), Some(client)) = (app.project(), app.client()) else {
            return;
        };
        spawn_local(async move {
            list.set(Some(
                client
                    .reservations(project)
                    .await
                    .map_err(|e| e.to_string()),
            ));
        });
    });
    let release = move |lease: Option<i64>, user: i64| {
        let Some(client) = app.client() else { return };
        spawn_local(async move {
            let r = match lease {
                Some(l) => client.release_lease(l).await,
                None => client.release_user(user).await,
            };
            note.set(Some(match (r, lease) {
                (Ok(_), Some(l)) => format!("lease {l} released"),
                (Ok(_), None) => format!("every lease of user {user} released"),
                (Err(e), _) => format!("release failed: {e}"),
            }));
            reload.update(|n| *n += 1);
        });
    };
    let groups = move |all: Vec<Reservation>| {
        let mut users: Vec<(i64, String)> = Vec::new();
        for r in &all {
            if !users.iter().any(|(u, _)| *u == r.worker_id) {
                users.push((
                    r.worker_id,
                    r.name
                        .clone()
                        .unwrap_or_else(|| format!("user {}", r.worker_id)),
                ));
            }
        }
        users
            .into_iter()
            .map(|(user, name)| {
                let mine: Vec<Reservation> = all.iter().filter(|r| r.worker_id == user).cloned().collect();
                let seats: u64 = mine.iter().map(|r| r.items).sum();
                let rows = mine
                    .into_iter()
                    .map(|r| {
                        let lease = r.lease_id;
                        let task = TaskId(r.task_id);
                        let expires = r.expires_at;
                        view! {
                            <tr data-testid="reservation" data-lease=lease.to_string()>
                                <td>{lease}</td>
                                <td><a href=Route::TaskPage(task).path() data-go>{r.task_name}</a></td>
                                <td>{r.items}</td>
                                <td>{when(r.issued_at)}</td>
                                <td>{left(expires.0 - app.now.get_untracked().0)}</td>
                                <td><button data-testid="release-lease" on:click=move |_| release(Some(lease), user)>"Release"</button></td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <div class="group" data-testid="reservation-user" data-user=user.to_string()>
                        <h2>
                            {format!("{name} · {} held", plural(seats as usize, "item"))}
                            <button data-testid="release-user" on:click={
                                let q = format!("Release all {} {name} holds?", plural(seats as usize, "item"));
                                move |_| if ask(&q) { release(None, user) }
                            }>"Release all"</button>
                        </h2>
                        <table class="list">
                            <thead><tr><th>"Lease"</th><th>"Task"</th><th>"Items"</th><th>"Since"</th><th>"Left"</th><th></th></tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }
            })
            .collect_view()
    };
    view! {
        <section class="page">
            <header class="bar-head">
                <h1>"Reservations"</h1>
                <button class="link" on:click=move |_| reload.update(|n| *n += 1)>"refresh"</button>
            </header>
            <p class="note" data-testid="reservations-note">{move || note.get()}</p>
            {move || match list.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(v)) if v.is_empty() => view! { <p data-testid="empty">"Nobody holds any items right now: items are held while an annotator works on a batch."</p> }.into_any(),
                Some(Ok(v)) => groups(v).into_any(),
            }}
        </section>
    }
}
