//! Managers' "Uploads": a form that sends a data file (CSV, JSON, NDJSON, Label Studio) or
//! images and videos from the browser into one of the project's datasets, following a big
//! upload's job to its end, then showing the per-row errors; below it the project's upload
//! history with counts, and each upload's per-row errors (row number and the reason).

use crate::api::{Dataset, Upload};
use crate::components::fmt::{plural, when};
use crate::state::App;
use crate::upload_pick::{self, FORMATS};
use crate::words::format_name;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

/// `[{row, message}]` as `(row, message)` pairs ("–" for an error about no one row).
fn row_errors(errors: &Value) -> Vec<(String, String)> {
    errors
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let row = e
                        .get("row")
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "–".into());
                    let msg = e
                        .get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                        .unwrap_or_else(|| e.to_string());
                    (row, msg)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn summary_line(v: &Value) -> String {
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    format!(
        "{} new · {} updated · {} unchanged · {} failed",
        n("inserted"),
        n("updated"),
        n("unchanged"),
        n("failed")
    )
}

/// The upload form; `done` runs once an upload has ended (the history reloads).
#[component]
fn UploadForm(datasets: Vec<Dataset>, done: impl Fn() + Copy + 'static) -> impl IntoView {
    let app = App::get();
    let dataset = RwSignal::new(datasets.first().map(|d| d.id).unwrap_or(0));
    let format = RwSignal::new(String::new());
    let files = NodeRef::<leptos::html::Input>::new();
    // What the last upload came to: a line for people, then its per-row errors.
    let outcome = RwSignal::new(None::<(String, Value)>);
    let busy = RwSignal::new(false);
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (Some(client), Some(list)) = (app.client(), files.get().and_then(|i| i.files())) else {
            return;
        };
        let names: Vec<String> = (0..list.length())
            .filter_map(|i| list.get(i).map(|f| f.name()))
            .collect();
        let kind = match upload_pick::pick(&format.get_untracked(), &names) {
            Ok(upload_pick::Upload::Items(f)) => f,
            Ok(upload_pick::Upload::Media) => "files",
            Err(e) => return outcome.set(Some((e, Value::Null))),
        };
        busy.set(true);
        outcome.set(Some((
            format!("Uploading {}…", names.join(", ")),
            Value::Null,
        )));
        let dataset = dataset.get_untracked();
        spawn_local(async move {
            let last = match client.upload(dataset, kind, &list).await {
                // A big file is stored by a job: followed here until it ends.
                Ok(v) => match v["job_id"].as_i64() {
                    Some(job) => loop {
                        gloo_timers::future::TimeoutFuture::new(1000).await;
                        let Ok(j) = client.job(job).await else {
                            continue;
                        };
                        let line = format!(
                            "Storing the rows as job {job}: {}, {}% done",
                            j.status.replace('_', " "),
                            (j.progress * 100.0) as u32
                        );
                        if matches!(j.status.as_str(), "in_progress" | "canceling") {
                            outcome.set(Some((line, j.errors)));
                        } else {
                            break (line, j.errors);
                        }
                    },
                    None => (summary_line(&v), v["errors"].clone()),
                },
                Err(e) => (format!("The upload failed: {e}"), Value::Null),
            };
            outcome.set(Some(last));
            busy.set(false);
            done();
        });
    };
    view! {
        <form class="upload-form" on:submit=send data-testid="upload-form">
            <label>"Dataset "
                <select prop:value=move || dataset.get().to_string()
                    on:change=move |ev| dataset.set(event_target_value(&ev).parse().unwrap_or(0))
                    data-testid="upload-dataset">
                    {datasets.into_iter().map(|d| view! {
                        <option value=d.id.to_string()>{format!("{} ({} items)", d.name, d.items)}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Format "
                <select on:change=move |ev| format.set(event_target_value(&ev)) data-testid="upload-format">
                    {FORMATS.iter().map(|(v, l)| view! { <option value=*v>{*l}</option> }).collect_view()}
                </select>
            </label>
            <label>"File (or images and videos) "
                <input type="file" multiple node_ref=files data-testid="upload-file"/>
            </label>
            <button type="submit" disabled=move || busy.get() data-testid="upload-send">"Upload"</button>
        </form>
        {move || outcome.get().map(|(line, errors)| view! {
            <div class="upload-outcome" data-testid="upload-outcome" aria-live="polite">
                <p>{line}</p>
                <ul>
                    {row_errors(&errors).into_iter().map(|(r, m)| view! { <li data-testid="upload-error"><b>{format!("row {r}: ")}</b>{m}</li> }).collect_view()}
                </ul>
            </div>
        })}
    }
}

/// The uploads screen.
#[component]
pub fn Uploads() -> impl IntoView {
    let app = App::get();
    let list = RwSignal::new(None::<Result<Vec<Upload>, String>>);
    let datasets = RwSignal::new(None::<Vec<Dataset>>);
    let reload = RwSignal::new(0u32);
    Effect::new(move |_| {
        reload.track();
        let (Some(project), Some(client)) = (app.project(), app.client()) else {
            return;
        };
        spawn_local(async move {
            list.set(Some(
                client.uploads(project).await.map_err(|e| e.to_string()),
            ));
            if datasets.with_untracked(Option::is_none) {
                datasets.set(client.datasets(project).await.ok());
            }
        });
    });
    let done = move || reload.update(|n| *n += 1);
    let row = move |u: Upload| {
        // The dataset's name once the list of datasets is known.
        let dataset = datasets.with(|d| {
            d.iter()
                .flatten()
                .find(|d| d.id == u.dataset_id)
                .map(|d| d.name.clone())
        });
        let errors = row_errors(&u.errors);
        let has_errors = !errors.is_empty();
        let details = has_errors.then(|| {
            view! {
                <tr class="row-errors">
                    <td colspan="8">
                        <details>
                            <summary>{plural(errors.len(), "row error")}</summary>
                            <ul>
                                {errors.into_iter().map(|(r, m)| view! { <li data-testid="row-error"><b>{format!("row {r}: ")}</b>{m}</li> }).collect_view()}
                            </ul>
                        </details>
                    </td>
                </tr>
            }
        });
        view! {
            <tr data-testid="upload" class:failed=has_errors>
                <td>{u.id}</td>
                <td>{when(u.created_at)}</td>
                <td>{u.user.unwrap_or_default()}</td>
                <td>{dataset.unwrap_or_else(|| u.dataset_id.to_string())}</td>
                <td>{format_name(&u.format)}</td>
                <td>{format!("{} new · {} updated · {} unchanged", u.inserted, u.updated, u.unchanged)}</td>
                <td>{u.failed}</td>
            </tr>
            {details}
        }
    };
    view! {
        <section class="page">
            <h1>"Uploads"</h1>
            {move || match datasets.get() {
                None => None,
                Some(d) if d.is_empty() => Some(view! {
                    <p data-testid="no-datasets">"This project has no dataset to upload into yet: create one through the API ("<code>"POST /api/v1/projects/{id}/datasets"</code>" with a name), then upload here."</p>
                }.into_any()),
                Some(d) => Some(view! { <UploadForm datasets=d done=done/> }.into_any()),
            }}
            <h2>"History"</h2>
            {move || match list.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(v)) if v.is_empty() => view! { <p data-testid="empty">"No uploads yet: upload a file above."</p> }.into_any(),
                Some(Ok(v)) => view! {
                    <table class="list">
                        <thead><tr><th>"Id"</th><th>"When"</th><th>"By"</th><th>"Dataset"</th><th>"Format"</th><th>"Rows"</th><th>"Failed"</th></tr></thead>
                        <tbody>{v.into_iter().map(row).collect_view()}</tbody>
                    </table>
                }.into_any(),
            }}
        </section>
    }
}
