//! Managers' "Archive": the project's archives (when, by whom or by the automatic sweep, how
//! many tasks), each downloadable as the JSON that can recreate its tasks.

use crate::api::Archive as ArchiveRow;
use crate::components::fmt::when;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The archive screen.
#[component]
pub fn Archive() -> impl IntoView {
    let app = App::get();
    let list = RwSignal::new(None::<Result<Vec<ArchiveRow>, String>>);
    Effect::new(move |_| {
        let (Some(project), Some(client)) = (app.project(), app.client()) else {
            return;
        };
        spawn_local(async move {
            list.set(Some(
                client.archives(project).await.map_err(|e| e.to_string()),
            ));
        });
    });
    let row = move |a: ArchiveRow| {
        let id = a.id;
        view! {
            <tr data-testid="archive" data-archive=id.to_string()>
                <td>{id}</td>
                <td>{when(a.created_at)}</td>
                <td>{a.created_by.unwrap_or_else(|| "automatic (inactivity)".into())}</td>
                <td>{a.task_names.join(", ")}</td>
                // A plain link, as a job's file: the browser saves it to disk as it arrives.
                <td>{if a.ready {
                    view! { <a class="button" data-testid="download-archive" href=format!("/api/v1/archives/{id}/download") download=format!("quorum-archive-{id}.json")>"Download"</a> }.into_any()
                } else {
                    view! { <span class="note" data-testid="archive-writing">"Being written…"</span> }.into_any()
                }}</td>
            </tr>
        }
    };
    view! {
        <section class="page">
            <h1>"Archive"</h1>
            {move || match list.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(v)) if v.is_empty() => view! { <p data-testid="empty">"Nothing archived yet: archive finished tasks from All tasks or a task's page."</p> }.into_any(),
                Some(Ok(v)) => view! {
                    <table class="list">
                        <thead><tr><th>"Id"</th><th>"When"</th><th>"By"</th><th>"Tasks"</th><th></th></tr></thead>
                        <tbody>{v.into_iter().map(row).collect_view()}</tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}
