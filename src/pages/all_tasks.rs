//! Managers' "All tasks": every task with status and kind filters, sort, order and cursor pages.

use crate::api::{Task, TaskPage, TaskQuery};
use crate::components::fmt;
use crate::route::Route;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;

const PAGE: u32 = 20;

/// The task list screen.
#[component]
pub fn AllTasks() -> impl IntoView {
    let app = App::get();
    let status = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let sort = RwSignal::new("created".to_string());
    let order = RwSignal::new("desc".to_string());
    // The cursors of the pages seen so far, so "previous" needs no server support.
    let cursors = RwSignal::new(vec![None::<String>]);
    let page = RwSignal::new(None::<Result<TaskPage, String>>);

    Effect::new(move |_| {
        let q = TaskQuery {
            status: status.get(),
            kind: kind.get(),
            sort: sort.get(),
            order: order.get(),
            cursor: cursors.with(|c| c.last().cloned().flatten()),
            limit: PAGE,
        };
        let Some(client) = app.client() else { return };
        spawn_local(async move {
            page.set(Some(client.tasks(&q).await.map_err(|e| e.to_string())));
        });
    });
    // A new filter or order starts again at the first page.
    let reset = move || cursors.set(vec![None]);

    let select = move |sig: RwSignal<String>, options: &'static [(&'static str, &'static str)]| {
        view! {
            <select
                prop:value=move || sig.get()
                on:change=move |e| {
                    sig.set(event_target_value(&e));
                    reset();
                }
            >
                {options
                    .iter()
                    .map(|(v, l)| view! { <option value=*v>{*l}</option> })
                    .collect_view()}
            </select>
        }
    };
    let row = move |t: Task| {
        let c = t.counts.unwrap_or_default();
        let id = t.id;
        let pct = (c.labeled * 100).checked_div(c.items).unwrap_or(0);
        view! {
            <tr data-testid="all-task-row">
                <td>{t.id.0}</td>
                <td>
                    <a href=Route::TaskPage(id).path() on:click=move |e| { e.prevent_default(); app.go(Route::TaskPage(id)); }>{t.name}</a>
                </td>
                <td>{t.kind.unwrap_or_default()}</td>
                <td>{fmt::annotation_type(t.schema.annotation_type)}</td>
                <td>{fmt::status(&t.status)}</td>
                <td>
                    <div class="bar"><div class="fill" style=format!("width:{pct}%")></div></div>
                    {format!("{}/{} labeled · {} approved · {} to review", c.labeled, c.items, c.approved, c.needs_review)}
                </td>
            </tr>
        }
    };
    view! {
        <section class="page">
            <header class="bar-head">
                <h1>"All tasks"</h1>
                <button data-testid="new-task" on:click=move |_| app.go(Route::NewTask)>"New task"</button>
            </header>
            <div class="filters">
                {select(status, &[("", "any status"), ("open", "open"), ("in_progress", "in progress"), ("completed", "completed"), ("archived", "archived")])}
                {select(kind, &[("", "any kind"), ("labeling", "labeling"), ("review", "review"), ("consensus", "consensus"), ("honeypot", "honeypot"), ("qualification", "qualification"), ("auto_annotation", "auto annotation")])}
                {select(sort, &[("created", "created"), ("last_submitted", "last submitted"), ("priority", "priority")])}
                {select(order, &[("desc", "descending"), ("asc", "ascending")])}
            </div>
            {move || match page.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(p)) => {
                    let next = p.next_cursor.clone();
                    view! {
                        <table class="list">
                            <thead>
                                <tr><th>"Id"</th><th>"Name"</th><th>"Kind"</th><th>"Type"</th><th>"Status"</th><th>"Progress"</th></tr>
                            </thead>
                            <tbody>{p.tasks.into_iter().map(row).collect_view()}</tbody>
                        </table>
                        <div class="actions">
                            <button
                                disabled=move || cursors.with(|c| c.len() <= 1)
                                on:click=move |_| cursors.update(|c| { c.pop(); })
                            >"Previous"</button>
                            <span>{move || format!("page {}", cursors.with(|c| c.len()))}</span>
                            <button
                                disabled=next.is_none()
                                on:click=move |_| {
                                    let n = next.clone();
                                    cursors.update(|c| c.push(n));
                                }
                            >"Next"</button>
                        </div>
                    }
                    .into_any()
                }
            }}
        </section>
    }
}
