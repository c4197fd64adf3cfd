//! Managers' "Uploads": the project's upload history with counts, and each upload's per-row
//! errors (row number and the reason the row was refused).

use crate::api::Upload;
use crate::components::fmt::when;
use crate::state::App;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The uploads screen.
#[component]
pub fn Uploads() -> impl IntoView {
    let app = App::get();
    let list = RwSignal::new(None::<Result<Vec<Upload>, String>>);
    Effect::new(move |_| {
        let (Some(project), Some(client)) = (app.project(), app.client()) else {
            return;
        };
        spawn_local(async move {
            list.set(Some(
                client.uploads(project).await.map_err(|e| e.to_string()),
            ));
        });
    });
    let row = |u: Upload| {
        let errors: Vec<(String, String)> = u
            .errors
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
            .unwrap_or_default();
        let has_errors = !errors.is_empty();
        let details = has_errors.then(|| {
            view! {
                <tr class="row-errors">
                    <td colspan="8">
                        <details>
                            <summary>{format!("{} row error(s)", errors.len())}</summary>
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
                <td>{u.dataset_id}</td>
                <td>{u.format}</td>
                <td>{format!("{} new · {} updated · {} unchanged", u.inserted, u.updated, u.unchanged)}</td>
                <td>{u.failed}</td>
            </tr>
            {details}
        }
    };
    view! {
        <section class="page">
            <h1>"Uploads"</h1>
            {move || match list.get() {
                None => view! { <p>"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
                Some(Ok(v)) if v.is_empty() => view! { <p data-testid="empty">"No uploads yet."</p> }.into_any(),
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
