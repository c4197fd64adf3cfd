//! Managers' "Jobs": long operations (imports, exports, archives…) with status and progress,
//! refreshed every 2 s while any runs and every 5 s otherwise (jobs started elsewhere); cancel
//! a running one, download a finished one's result.

use crate::api::Job;
use crate::components::fmt::{plural, when};
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// How often the list refreshes while a job runs.
const POLL_MS: i64 = 2_000;
/// How often it refreshes otherwise, so jobs started elsewhere show up (hidden tabs too: a
/// visibility check did not fit the size budget).
const IDLE_MS: i64 = 5_000;

/// The jobs screen.
#[component]
pub fn Jobs() -> impl IntoView {
    let app = App::get();
    let status = RwSignal::new(String::new());
    let list = RwSignal::new(None::<Result<Vec<Job>, String>>);
    let note = RwSignal::new(None::<String>);
    let loaded_at = RwSignal::new(0i64);
    let load = move || {
        let Some(client) = app.client() else { return };
        let s = status.get_untracked();
        loaded_at.set(app.now.get_untracked().0);
        spawn_local(async move {
            list.set(Some(client.jobs(&s).await.map_err(|e| e.to_string())));
        });
    };
    Effect::new(move |_| {
        status.track();
        load();
    });
    Effect::new(move |_| {
        let now = app.now.get().0;
        let running = list.with_untracked(|l| {
            matches!(l, Some(Ok(v)) if v.iter().any(|j| matches!(j.status.as_str(), "in_progress" | "canceling")))
        });
        let every = if running { POLL_MS } else { IDLE_MS };
        if now - loaded_at.get_untracked() >= every {
            load();
        }
    });
    let cancel = move |id: i64| {
        let Some(client) = app.client() else { return };
        spawn_local(async move {
            note.set(Some(match client.cancel_job(id).await {
                Ok(j) => format!("job {id} is {}", j.status.replace('_', " ")),
                Err(e) => format!("cancel failed: {e}"),
            }));
            load();
        });
    };
    let row = move |j: Job| {
        let id = j.id;
        let pct = (j.progress * 100.0).round().clamp(0.0, 100.0);
        let errors = j.errors.as_array().map(|a| a.len()).unwrap_or(0);
        let first_error = j
            .errors
            .as_array()
            .and_then(|a| a.first())
            .map(|e| {
                e.get("message")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string())
            })
            .unwrap_or_default();
        let running = j.status == "in_progress";
        let file = j.file_name.clone();
        let status = j.status.clone();
        view! {
            <tr data-testid="job" data-job=id.to_string() data-status=status>
                <td>{id}</td>
                <td>{j.title}</td>
                <td>{when(j.created_at)}</td>
                <td data-testid="job-status">{crate::components::fmt::status(&j.status)}</td>
                <td>
                    <div class="bar"><div class="fill" style=format!("width:{pct}%")></div></div>
                    {format!("{pct}%")}
                </td>
                <td title=first_error.clone()>{(errors > 0).then(|| format!("{}: {first_error}", plural(errors, "error")))}</td>
                <td>
                    {running.then(|| view! { <button data-testid="cancel-job" on:click=move |_| cancel(id)>"Cancel"</button> })}
                    {j.has_result.then(|| view! {
                        // A plain link: the browser saves the file to disk as it arrives and can
                        // resume a broken download (the media cookie signs it in), where a fetch
                        // would hold a big export in the page's memory.
                        <a class="button" data-testid="download-job" href=format!("/api/v1/jobs/{id}/result") download=file.clone()>"Download"</a>
                    })}
                </td>
            </tr>
        }
    };
    view! {
        <section class="page">
            <header class="bar-head">
                <h1>"Jobs"</h1>
                <select aria-label="Status" prop:value=move || status.get() on:change=move |e| status.set(event_target_value(&e))>
                    <option value="">"any status"</option>
                    <option value="in_progress">"in progress"</option>
                    <option value="complete">"complete"</option>
                    <option value="canceling">"canceling"</option>
                    <option value="canceled">"canceled"</option>
                    <option value="failed">"failed"</option>
                </select>
                <button class="link" on:click=move |_| load()>"refresh"</button>
            </header>
            <p class="note" data-testid="jobs-note">{move || note.get()}</p>
            {move || match list.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(v)) if v.is_empty() => view! { <p data-testid="empty">"No jobs here: exports started from All tasks or a task's page, and big uploads, show up here."</p> }.into_any(),
                Some(Ok(v)) => view! {
                    <table class="list">
                        <thead><tr><th>"Id"</th><th>"Job"</th><th>"Started"</th><th>"Status"</th><th>"Progress"</th><th>"Errors"</th><th></th></tr></thead>
                        <tbody>{v.into_iter().map(row).collect_view()}</tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}
