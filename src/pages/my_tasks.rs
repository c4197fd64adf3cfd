//! "My tasks": the tasks the caller annotates or reviews, with their own progress.

use crate::api::Task;
use crate::route::Route;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The task list screen.
#[component]
pub fn MyTasks() -> impl IntoView {
    let app = App::get();
    let tasks = RwSignal::new(None::<Result<Vec<Task>, String>>);
    if let Some(client) = app.client() {
        spawn_local(async move {
            tasks.set(Some(client.my_tasks().await.map_err(|e| e.to_string())));
        });
    }
    let row = move |t: Task| {
        let p = t.my_progress.unwrap_or_default();
        let total = p.done + p.leased + p.available;
        let pct = (p.done * 100).checked_div(total).unwrap_or(0);
        let id = t.id;
        // Offline the roles are unknown: offer both and let the server decide.
        let roles = app.me.with_untracked(|m| {
            m.as_ref().map(|m| {
                m.projects
                    .iter()
                    .filter(|p| Some(p.id) == t.project_id)
                    .flat_map(|p| p.roles.clone())
                    .collect::<Vec<_>>()
            })
        });
        let has = |r: &str| {
            roles
                .as_ref()
                .is_none_or(|rs| rs.is_empty() || rs.iter().any(|x| x == r || x == "manager"))
        };
        let (label, review) = (has("annotator"), has("reviewer"));
        view! {
            <tr data-testid="task-row">
                <td>{t.name.clone()}</td>
                <td>{t.schema.annotation_type.to_string()}</td>
                <td>{t.status.clone()}</td>
                <td>
                    <div class="bar"><div class="fill" style=format!("width:{pct}%")></div></div>
                    {format!("{} done · {} leased · {} available", p.done, p.leased, p.available)}
                </td>
                <td>
                    <Show when=move || label>
                        <button on:click=move |_| app.go(Route::Annotate(id))>"Label"</button>
                    </Show>
                    <Show when=move || review>
                        <button on:click=move |_| app.go(Route::Review(id))>"Review"</button>
                    </Show>
                </td>
            </tr>
        }
    };
    view! {
        <section class="page">
            <h1>"My tasks"</h1>
            {move || match tasks.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => {
                    view! { <p>"No tasks for you yet."</p> }.into_any()
                }
                Some(Ok(list)) => view! {
                    <table class="list">
                        <thead>
                            <tr><th>"Task"</th><th>"Type"</th><th>"Status"</th><th>"My progress"</th><th></th></tr>
                        </thead>
                        <tbody>{list.into_iter().map(row).collect_view()}</tbody>
                    </table>
                }
                .into_any(),
            }}
        </section>
    }
}
